"""The RunPod Hub files describe the real worker: its settings, its defaults and valid requests."""

import json

import pytest
from conftest import ROOT, answer
from test_facts import DEFAULT_VARIANT

from handler.config import Settings
from handler.errors import StartupError
from handler.schema import parse_request

HUB = json.loads((ROOT / ".runpod" / "hub.json").read_text())
TESTS = json.loads((ROOT / ".runpod" / "tests.json").read_text())
CONFIG_SOURCE = (ROOT / "handler" / "config.py").read_text() + (ROOT / "handler" / "storage.py").read_text()
DEFAULTS = Settings.from_env({})
SETTING_OF = {  # hub env key → the Settings field it feeds
    "F5_DEFAULT_VOICE": "default_voice", "F5_MAX_TEXT_CHARS": "max_text_chars", "F5_MAX_BATCH": "max_batch",
    "F5_CONCURRENCY": "concurrency", "F5_DTYPE": "dtype", "F5_VERIFY_HASHES": "verify_hashes",
    "F5_INLINE_MAX_BYTES": "inline_max_bytes", "F5_REF_MAX_SECONDS": "ref_max_seconds", "F5_URL_TIMEOUT": "url_timeout_s",
    "F5_HANDLER": "handler_mode", "F5_BATCH_MEMORY_GB": "batch_memory_gb",
}


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


@pytest.mark.parametrize("item", HUB["config"]["env"], ids=lambda item: item["key"])
def test_every_env_var_is_read_by_the_worker(item):
    key = item["key"]
    assert f'"{key}"' in CONFIG_SOURCE, f"{key} is not read by handler/config.py or handler/storage.py"
    assert item["input"]["name"] and item["input"]["description"]
    if key in SETTING_OF:
        default = item["input"]["default"]
        assert default == getattr(DEFAULTS, SETTING_OF[key]), f"{key}: hub default {default!r} differs from the worker's"
        for option in item["input"].get("options", []):  # every option is a value the worker accepts
            Settings.from_env({key: str(option["value"])})


def test_presets_set_real_values():
    for preset in HUB["config"]["presets"]:
        Settings.from_env({k: str(v) for k, v in preset["defaults"].items()})


def test_every_hub_test_input_is_valid():
    for test in TESTS["tests"]:
        parse_request(test["input"], DEFAULTS.max_text_chars)


def test_every_hub_test_input_runs(service):
    for test in TESTS["tests"]:
        messages = answer(service, test["input"], "hub-test")
        assert messages and not any("error" in m for m in messages), (test["name"], messages)
        assert messages[-1].get("audio_base64") or messages[-1].get("done")


def test_the_hub_handler_entry_point_runs_the_worker():
    text = (ROOT / ".runpod" / "handler.py").read_text()
    assert "from handler.__main__ import main" in text


def test_the_handler_setting_offers_exactly_the_two_shapes():
    [item] = [e for e in HUB["config"]["env"] if e["key"] == "F5_HANDLER"]
    assert {o["value"] for o in item["input"]["options"]} == {"stream", "plain"}
    assert DEFAULTS.handler_mode == "stream"  # the default keeps stream: true working
    assert Settings.from_env({"F5_HANDLER": " Plain "}).handler_mode == "plain"
    with pytest.raises(StartupError, match="F5_HANDLER='generator' is not one of stream, plain"):
        Settings.from_env({"F5_HANDLER": "generator"})
