"""The RunPod Hub files describe the real worker: its settings, its defaults and valid requests."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, answer, worker_env
from test_facts import DEFAULT_VARIANT

from handler.config import VARIABLES, Settings, Variable
from handler.errors import StartupError
from handler.schema import parse_request
from handler.storage import BucketConfig

HUB = json.loads((ROOT / ".runpod" / "hub.json").read_text())
TESTS = json.loads((ROOT / ".runpod" / "tests.json").read_text())
DEFAULTS = Settings.from_env({})
VARIABLE = {variable.name: variable for variable in VARIABLES}  # the worker's settings: name → Variable
HUB_ENV = {item["key"]: item["input"] for item in HUB["config"]["env"]}
SETTING_OF = {  # what each hub variable is for: the Settings field it must set (what its hub description says)
    "F5_DEFAULT_VOICE": "default_voice", "F5_MAX_TEXT_CHARS": "max_text_chars", "F5_MAX_BATCH": "max_batch",
    "F5_CONCURRENCY": "concurrency", "F5_DTYPE": "dtype", "F5_VERIFY_HASHES": "verify_hashes",
    "F5_INLINE_MAX_BYTES": "inline_max_bytes", "F5_REF_MAX_SECONDS": "ref_max_seconds", "F5_URL_TIMEOUT": "url_timeout_s",
    "F5_HANDLER": "handler_mode", "F5_BATCH_MEMORY_GB": "batch_memory_gb", "F5_VOICE_STORE": "voice_store",
    "F5_VOICE_CONSENT": "voice_consent_required",
}
BUCKET_FIELD = {  # the bucket's variables (handler.storage) → the BucketConfig field each sets
    "BUCKET_ENDPOINT_URL": "endpoint", "BUCKET_ACCESS_KEY_ID": "access_key", "BUCKET_SECRET_ACCESS_KEY": "secret_key",
    "BUCKET_NAME": "bucket", "BUCKET_REGION": "region",
}


def other_value(variable: Variable) -> tuple[str, Any]:
    """A valid value other than the variable's default: as the environment gives it, and as parsed."""
    default = variable.default
    if variable.kind == "choice":
        value = next(choice for choice in variable.choices if choice != default)
        return value, value
    if variable.kind == "bool":
        return ("0", False) if default else ("1", True)
    if variable.kind in ("int", "float"):
        number = int if variable.kind == "int" else float
        value = number(default + 1) if default + 1 <= variable.high else number(variable.low)
        return str(value), value
    if variable.kind == "path":
        return "/somewhere/else", Path("/somewhere/else")
    return "something-else", "something-else"


def test_hub_json_shape():
    assert HUB["type"] == "serverless" and HUB["category"] == "audio"
    config = HUB["config"]
    assert config["runsOn"] == "GPU" and config["gpuCount"] == 1
    assert config["containerDiskInGb"] >= 15  # the image is about 8.7 GB: headroom for layers and /tmp


@pytest.mark.parametrize("hub_file", [HUB, TESTS], ids=["hub.json", "tests.json"])
def test_allowed_cuda_versions_are_the_default_variants(hub_file):
    """The hub lists the default image (build/variants.json's first variant): the CUDA versions its
    endpoint may allow, none older than the CUDA its torch was built for."""
    allowed = hub_file["config"]["allowedCudaVersions"]
    assert allowed == DEFAULT_VARIANT["runpod_cuda"]
    oldest = tuple(map(int, DEFAULT_VARIANT["cuda"].split(".")))
    assert all(tuple(map(int, v.split("."))) >= oldest for v in allowed)


@pytest.mark.parametrize("variable", VARIABLES, ids=lambda variable: variable.name)
def test_every_worker_variable_sets_its_field(variable):
    """Set to a valid value other than its default, each variable changes its Settings field (and only
    that one): the variable is read, under that name, into that field."""
    raw, parsed = other_value(variable)
    assert getattr(DEFAULTS, variable.attr) == variable.default
    settings = Settings.from_env({variable.name: raw})
    assert getattr(settings, variable.attr) == parsed != variable.default
    changed = {field for field in vars(DEFAULTS) if getattr(settings, field) != getattr(DEFAULTS, field)}
    assert changed == {variable.attr}


@pytest.mark.parametrize("key", HUB_ENV)
def test_every_hub_env_var_is_read_by_the_worker(key):
    item = HUB_ENV[key]
    assert item["name"] and item["description"]
    if key in BUCKET_FIELD:  # the bucket's variables: each lands in its field of the bucket's settings
        base = {"BUCKET_ENDPOINT_URL": "https://s3.example.com/bucket", "BUCKET_ACCESS_KEY_ID": "key-a",
                "BUCKET_SECRET_ACCESS_KEY": "secret-a"}
        other = {"BUCKET_ENDPOINT_URL": ("https://s3.other.example/bucket", "https://s3.other.example")}.get(key, ("value-b",) * 2)
        assert getattr(BucketConfig.from_env({**base, key: other[0]}), BUCKET_FIELD[key]) == other[1]
        assert getattr(BucketConfig.from_env(base), BUCKET_FIELD[key]) != other[1]
        return
    assert key in VARIABLE, f"{key} is not one of the worker's variables (handler.config.VARIABLES)"
    field = SETTING_OF[key]  # a new hub variable: say here which field it is for
    assert item["default"] == getattr(DEFAULTS, field), f"{key}: hub default {item['default']!r} differs from the worker's"
    raw, parsed = other_value(VARIABLE[key])
    settings = Settings.from_env({key: raw})
    assert getattr(settings, field) == parsed != getattr(DEFAULTS, field)  # read, into the field it is for
    assert [f for f in vars(DEFAULTS) if getattr(settings, f) != getattr(DEFAULTS, f)] == [field]  # and only there
    for option in item.get("options", []):  # every option is a value the worker takes, into that field
        assert getattr(Settings.from_env({key: str(option["value"])}), field) == option["value"]


def test_presets_set_real_values():
    for preset in HUB["config"]["presets"]:
        settings = Settings.from_env({k: str(v) for k, v in preset["defaults"].items()})
        for key, value in preset["defaults"].items():
            assert getattr(settings, SETTING_OF[key]) == value, (preset["name"], key)


def test_every_hub_test_input_is_valid():
    for test in TESTS["tests"]:
        parse_request(test["input"], DEFAULTS.max_text_chars)


def test_every_hub_test_input_runs(service):
    for test in TESTS["tests"]:
        messages = answer(service, test["input"], "hub-test")
        assert messages and not any("error" in m for m in messages), (test["name"], messages)
        assert messages[-1].get("audio_base64") or messages[-1].get("done")


def test_the_hub_handler_entry_point_runs_the_worker(tiny_model_dir, tmp_path):
    """`python .runpod/handler.py` is `python -m handler`: run from another folder, it finds the worker,
    passes its arguments on (a self-check on the tiny model) and exits with the worker's code."""
    def hub_entry(model_dir, *args):
        return subprocess.run([sys.executable, str(ROOT / ".runpod" / "handler.py"), *args], cwd=tmp_path,
                              env=worker_env(model_dir, F5_WARMUP="0"), capture_output=True, text=True, timeout=180, check=False)

    checked = hub_entry(tiny_model_dir, "--check")
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert "[check] ok" in checked.stdout
    failed = hub_entry(tmp_path / "no-model", "--check")
    assert failed.returncode == 1 and "[startup] FAILED" in failed.stderr, failed.stderr[-3000:]


def test_the_handler_setting_offers_exactly_the_two_shapes():
    [item] = [e for e in HUB["config"]["env"] if e["key"] == "F5_HANDLER"]
    assert {o["value"] for o in item["input"]["options"]} == {"stream", "plain"}
    assert DEFAULTS.handler_mode == "stream"  # the default keeps stream: true working
    assert Settings.from_env({"F5_HANDLER": " Plain "}).handler_mode == "plain"
    with pytest.raises(StartupError, match="F5_HANDLER='generator' is not one of stream, plain"):
        Settings.from_env({"F5_HANDLER": "generator"})
