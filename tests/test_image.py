"""Image tier: build the real Dockerfile with podman against a local stand-in for the hub, then run
the container with its network off. Needs root (podman); scripts/podman-setup.sh installs it.

The CUDA 13 variant (TORCH_VERSION=2.11.0, published as -cu13) is built and run too: one more venv
build (the whole tier took 22 minutes here with both); F5_IMAGE_CU13=0 leaves it out."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import subprocess
import time
import uuid

import pytest
import soundfile as sf
from conftest import ROOT, speechlike, wav_bytes
from test_deferred_imports import SERVE_AND_LIST_IMPORTS, check_served_without_deferred_modules
from test_facts import DEFAULT_VARIANT, variant_with

from support.fake_hub import WHISPER_REPO, FakeHub, repos_from_model_dir, whisper_repo
from support.random_model import write_tiny_whisper

pytestmark = pytest.mark.image
TOKEN = "hf_test_token_" + uuid.uuid4().hex
PODMAN = ["podman", "--runtime", "runc"]
TINY_MODEL_ARGS = [
    "--build-arg", "F5_MODEL=custom",
    "--build-arg", "CUSTOM_REPO=test-org/tiny-f5",
    "--build-arg", "CUSTOM_CHECKPOINT=model.safetensors",
    "--build-arg", "CUSTOM_CONFIG=config.yaml",
]


def sh(*args, timeout=1800, check=False, **kwargs):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=check, **kwargs)


def build(tag, hub, *extra, token_file=None):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
    if token_file:
        env["HF_TOKEN_FILE"] = str(token_file)
    return sh("bash", str(ROOT / "scripts" / "build-image.sh"), tag, "--build-arg", f"HF_ENDPOINT={hub.url}",
              *TINY_MODEL_ARGS, *extra, cwd=ROOT, env=env)


@contextlib.contextmanager
def built_image(label, hub, *extra, token_file=None):
    """An image built for one module's tests, and removed (with its dangling layers) after them."""
    tag = f"localhost/f5-tts-test:{label}{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    result = build(tag, hub, *extra, token_file=token_file)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    print(f"{label or 'default '}image built in {time.monotonic() - started:.0f} s")
    try:
        yield tag
    finally:
        sh(*PODMAN, "rmi", "-f", tag)
        sh(*PODMAN, "image", "prune", "-f")


@pytest.fixture(scope="module")
def hub(tiny_model_dir, tmp_path_factory):
    repos = repos_from_model_dir(tiny_model_dir)
    # a tiny random Whisper where BAKE_ASR=1 looks for it, in that repo's real layout
    repos[WHISPER_REPO] = whisper_repo(write_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper")))
    server = FakeHub(repos)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def podman_ready():
    for script in ("podman-setup.sh", "base-image.sh"):
        done = sh("bash", str(ROOT / "scripts" / script), timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def image(podman_ready, hub, tmp_path_factory):
    token_file = tmp_path_factory.mktemp("secret") / "hf_token"
    token_file.write_text(TOKEN)
    with built_image("", hub, token_file=token_file) as tag:
        yield tag


def run(image, *args, entrypoint=None, user=None, env=(), volumes=(), timeout=300):
    command = [*PODMAN, "run", "--rm", "--network", "none"]
    if entrypoint:
        command += ["--entrypoint", entrypoint]
    if user:
        command += ["--user", user]
    for item in env:
        command += ["-e", item]
    for item in volumes:
        command += ["-v", item]
    return sh(*command, image, *args, timeout=timeout)


def test_smoke_script_passes_offline(image):
    result = sh("bash", str(ROOT / "scripts" / "smoke-image.sh"), image, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "[check] ok" in result.stdout and "smoke ok" in result.stdout
    assert_variant(result.stdout, DEFAULT_VARIANT)


def assert_variant(smoke_output: str, variant: dict) -> None:
    """The smoke script's import line names the variant's torch, CUDA and torchaudio (build/variants.json)."""
    for part in (f"torch {variant['torch']}", f"cuda {variant['cuda']}", f"torchaudio {variant['torchaudio']}"):
        assert part in smoke_output, (part, smoke_output[-2000:])


def test_triton_is_left_out_by_default(image):
    result = run(image, "-c", "import importlib.util, torch; print(importlib.util.find_spec('triton') is None)",
                 entrypoint="/opt/venv/bin/python")
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr


def test_the_venv_carries_no_headers_static_libraries_or_cmake_files_and_its_code_is_compiled(image):
    """Pruned at build time (nothing the worker opens: bench/venv_trace.py), with the packages it never
    imports; the other image tests, the ASR image's included, show that everything the worker needs
    is still there. The handler's bytecode is baked (the worker cannot write /app)."""
    names = ("sklearn", "networkx", "librosa", "numba", "llvmlite")
    gone = run(image, "-c", f"import importlib.util as u; print([n for n in {names!r} if u.find_spec(n)])",
               entrypoint="/opt/venv/bin/python")
    assert gone.returncode == 0 and gone.stdout.strip() == "[]", gone.stdout + gone.stderr
    script = (
        "find /opt/venv/lib \\( -name '*.h' -o -name '*.hpp' -o -name '*.cuh' -o -name '*.a' \\) -type f | wc -l; "
        "find /opt/venv/lib -type d \\( -name include -o -path '*/share/cmake' \\) | wc -l; "
        "ls /app/handler/__pycache__ | grep -c 'cpython-311.pyc'"
    )
    result = run(image, "-c", script, entrypoint="sh")
    headers, folders, compiled = (int(line) for line in result.stdout.split())
    assert (headers, folders) == (0, 0), result.stdout
    assert compiled >= 20, result.stdout


def check_a_flac_job(image, tmp_path, text):
    """One job through the SDK's --test_input inside the image, on the CPU: a valid FLAC comes out."""
    tmp_path.chmod(0o777)
    job = {"input": {"text": text, "format": "flac", "seed": 2}}
    result = run(image, "--test_input", json.dumps(job), "--save_audio", "/out/job.flac",
                 env=["F5_REQUIRE_GPU=0"], volumes=[f"{tmp_path}:/out"])
    assert result.returncode == 0, result.stderr[-4000:]
    audio, rate = sf.read(tmp_path / "job.flac")
    assert rate == 24000 and len(audio) > 0.3 * rate


def test_a_job_inside_the_image_returns_valid_audio(image, tmp_path):
    check_a_flac_job(image, tmp_path, "Inside the container.")


HTTP_CLIENT = """
import json, os, subprocess, sys, time, urllib.request
store = dict(F5_VOICE_STORE="/tmp/voices", F5_VOICE_CONSENT="0")
server = subprocess.Popen(["/opt/venv/bin/python", "-m", "handler"], env=dict(os.environ, F5_MODE="http", PORT="8000", **store))
deadline = time.time() + 600
while True:
    try:
        if urllib.request.urlopen("http://127.0.0.1:8000/ping", timeout=2).status == 200:
            break
    except OSError:
        pass
    if time.time() > deadline or server.poll() is not None:
        sys.exit("the HTTP server did not become ready")
    time.sleep(0.5)
# the web page and its script are in the image, and the metrics answer
page = urllib.request.urlopen("http://127.0.0.1:8000/", timeout=30).read().decode()
script = urllib.request.urlopen("http://127.0.0.1:8000/web/app.js", timeout=30).read()
metrics = urllib.request.urlopen("http://127.0.0.1:8000/metrics", timeout=30).read().decode()
print("page", "/web/app.js" in page, len(script) > 1000, "f5_http_requests_total" in metrics)
# a stored voice, made from a multipart upload (the voices API), then spoken
clip = open("/out/clip.wav", "rb").read()
CRLF = bytes((13, 10))
def part(disposition, body, kind=b""):
    return b"--x" + CRLF + b"Content-Disposition: form-data; " + disposition + CRLF + kind + CRLF + body + CRLF
form = (part(b'name="name"', b"Mine") + part(b'name="ref_text"', b"Some words.")
        + part(b'name="audio_sample"; filename="clip.wav"', clip, b"Content-Type: audio/wav" + CRLF) + b"--x--" + CRLF)
created = urllib.request.Request("http://127.0.0.1:8000/v1/audio/voices", data=form,
                                 headers={"Content-Type": "multipart/form-data; boundary=x"})
voice = json.load(urllib.request.urlopen(created, timeout=600))
print("voice", voice["object"], voice["id"][:6])
body = {"model": "f5-tts", "input": "Inside the container, over HTTP.", "voice": {"id": voice["id"]},
        "response_format": "wav", "seed": 3}
request = urllib.request.Request("http://127.0.0.1:8000/v1/audio/speech", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=600) as response:
    open("/out/http.wav", "wb").write(response.read())
    print("seed", response.headers["X-Seed"])
server.terminate()
sys.exit(server.wait(120))
"""


def test_the_image_starts_and_serves_without_the_modules_inference_never_calls(image):
    # librosa, einx, scipy.integrate and what they bring stay out of the worker (handler/f5/deferred_imports.py)
    result = run(image, "-c", SERVE_AND_LIST_IMPORTS, entrypoint="/opt/venv/bin/python",
                 env=["F5_REQUIRE_GPU=0", "F5_WARMUP=1"])
    assert result.returncode == 0, result.stderr[-4000:]
    check_served_without_deferred_modules(result.stdout)


def test_the_image_serves_http_with_no_network(image, tmp_path):
    """F5_MODE=http: the same image as a load-balancing worker; a client inside the container (the
    network is off, loopback is not) gets the web page and the metrics, stores a voice from a multipart
    upload and asks for speech in it, then SIGTERM drains it and it exits 0."""
    tmp_path.chmod(0o777)
    (tmp_path / "clip.wav").write_bytes(wav_bytes(speechlike(3.0), 24000))
    result = run(image, "-c", HTTP_CLIENT, entrypoint="/opt/venv/bin/python", env=["F5_REQUIRE_GPU=0"],
                 volumes=[f"{tmp_path}:/out"], timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "voice audio.voice voice_" in result.stdout and "seed 3" in result.stdout
    assert "page True True True" in result.stdout  # the web page, its script and /metrics
    audio, rate = sf.read(tmp_path / "http.wav")
    assert rate == 24000 and len(audio) > 0.3 * rate


def test_a_missing_model_file_stops_the_worker_with_one_line(image):
    started = time.monotonic()
    result = run(image, "-c", "rm /models/f5/model.fp16.safetensors && exec /opt/venv/bin/python -m handler",
                 entrypoint="sh", user="root", env=["F5_REQUIRE_GPU=0"])
    assert result.returncode == 1
    failed = [line for line in result.stderr.splitlines() if line.startswith("[startup] FAILED")]
    assert failed == ["[startup] FAILED: manifest: model file missing: /models/f5/model.fp16.safetensors (listed in manifest.json)"]
    assert time.monotonic() - started < 60


CHECK_BAKED = """
import hashlib, json
from safetensors import safe_open
manifest = json.load(open("/models/manifest.json"))
[entry] = [e for e in manifest["files"] if e["path"] == manifest["model"]["checkpoint"]]
with safe_open("/models/" + entry["path"], "pt") as f:
    dtypes = sorted({str(f.get_tensor(k).dtype) for k in f.keys()})
    source_sha256 = f.metadata()["source_sha256"]
print(json.dumps({"entry": entry, "dtypes": dtypes, "source_sha256": source_sha256,
                  "f5": sorted(__import__("os").listdir("/models/f5"))}))
"""


def test_the_checkpoint_is_baked_in_float16_with_its_source_hash(image, hub):
    result = run(image, "-c", CHECK_BAKED, entrypoint="/opt/venv/bin/python")
    assert result.returncode == 0, result.stderr
    baked = json.loads(result.stdout)
    published = hub.repos["test-org/tiny-f5"].files["model.safetensors"]
    assert baked["dtypes"] == ["torch.float16"]
    assert baked["f5"] == ["config.yaml", "model.fp16.safetensors", "vocab.txt"]  # the float32 download is not in the image
    assert baked["entry"]["dtype"] == "float16" and baked["entry"]["path"] == "f5/model.fp16.safetensors"
    assert baked["entry"]["source"]["sha256"] == baked["source_sha256"] == hashlib.sha256(published).hexdigest()
    assert baked["entry"]["size"] < 0.6 * len(published)


def test_keep_fp32_bakes_the_checkpoint_as_published(podman_ready, hub, image):
    tag = f"localhost/f5-tts-test:fp32-{uuid.uuid4().hex[:6]}"
    try:
        result = build(tag, hub, "--build-arg", "KEEP_FP32=1")  # every layer but the last two is cached
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        listed = run(tag, "-c", "ls /models/f5; sha256sum /models/f5/model.safetensors", entrypoint="sh")
        published = hub.repos["test-org/tiny-f5"].files["model.safetensors"]
        assert listed.stdout.split()[:4] == ["config.yaml", "model.safetensors", "vocab.txt", hashlib.sha256(published).hexdigest()]
        check = run(tag, "--check")
        assert check.returncode == 0 and "[check] ok" in check.stdout, check.stderr[-3000:]
        assert "checkpoint=as-published" in check.stderr
    finally:
        sh(*PODMAN, "rmi", "-f", tag)


def test_no_gpu_means_no_worker(image):
    result = run(image)  # the image requires a GPU by default (F5_REQUIRE_GPU=1)
    assert result.returncode == 1
    assert "[startup] FAILED: versions: F5_REQUIRE_GPU=1 but no CUDA GPU is visible" in result.stderr


def test_runtime_stage_is_slim_and_unprivileged(image):
    result = run(image, "-c", "id -u; for t in gcc cc g++ make pip pip3 apt-get; do command -v $t || true; done",
                 entrypoint="sh")
    lines = result.stdout.split()
    assert lines[0] == "10001"  # the non-root user
    assert lines[1:] == ["/usr/bin/apt-get"]  # no compilers, no pip; apt stays with the Debian base


def test_configuration_labels_and_layer_order(image):
    info = json.loads(sh(*PODMAN, "image", "inspect", image, check=True).stdout)[0]
    env = dict(item.split("=", 1) for item in info["Config"]["Env"])
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    assert info["Config"]["Entrypoint"] == ["/opt/venv/bin/python", "-m", "handler"]
    assert "org.opencontainers.image.source" in info["Config"]["Labels"]
    history = sh(*PODMAN, "history", "--no-trunc", "--format", "{{.CreatedBy}}", image, check=True).stdout
    steps = history.splitlines()[::-1]  # oldest first
    order = [next(i for i, s in enumerate(steps) if needle in s) for needle in ("/opt/venv", "/models", "/app/handler/")]
    assert order == sorted(order), steps  # venv, then weights, then code: a code change reuses the weight layers


def test_the_token_reached_the_hub_only_as_a_secret(image, hub):
    assert f"Bearer {TOKEN}" in hub.authorizations
    history = sh(*PODMAN, "history", "--no-trunc", image, check=True).stdout
    inspect = sh(*PODMAN, "image", "inspect", image, check=True).stdout
    assert TOKEN not in history and TOKEN not in inspect
    found = run(image, "-c", f"grep -rl {TOKEN} /models /app /home /etc /opt/venv/bin 2>/dev/null; ls /run/secrets 2>/dev/null; echo DONE",
                entrypoint="sh")
    assert found.returncode == 0 and found.stdout.strip() == "DONE", found.stdout + found.stderr  # the search ran, found nothing


def test_a_hub_file_with_the_wrong_hash_fails_the_build(image, hub):
    repo = hub.repos["charactr/vocos-mel-24khz"]
    repo.lie_about = {"pytorch_model.bin"}
    try:
        # another revision name busts the cached weights layer; the fake hub resolves any name
        result = build(f"localhost/f5-tts-test:bad-{uuid.uuid4().hex[:6]}", hub, "--target", "weights",
                       "--build-arg", "VOCODER_REVISION=refs/pr/1")
    finally:
        repo.lie_about = set()
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "[fetch] FAILED: charactr/vocos-mel-24khz: pytorch_model.bin has sha256" in output


@pytest.fixture(scope="module")
def asr_image(podman_ready, hub):
    """The image with BAKE_ASR=1 (its own venv with transformers, Whisper in /models/whisper): built
    only by the tests that ask for it, and removed after them."""
    with built_image("asr-", hub, "--build-arg", "BAKE_ASR=1") as tag:
        yield tag


def test_asr_image_transcribes_a_reference_sent_without_ref_text_offline(asr_image, hub, tmp_path):
    assert f"/api/models/{WHISPER_REPO}/revision/41f01f3fe87f28c78e2fbf8b568835947dd65ed9" in hub.paths  # the pin
    tmp_path.chmod(0o777)
    reference = base64.b64encode(wav_bytes(speechlike(2.0, rate=16_000), 16_000)).decode()
    job = {"input": {"text": "A voice nobody transcribed.", "ref_audio": reference, "format": "wav", "nfe_step": 4, "seed": 3}}
    result = run(asr_image, "--test_input", json.dumps(job), "--save_audio", "/out/job.wav",
                 env=["F5_REQUIRE_GPU=0"], volumes=[f"{tmp_path}:/out"])
    assert result.returncode == 0, result.stderr[-4000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("[startup]")]
    assert any(line.startswith("[startup] asr ok in ") and "dir=whisper" in line for line in lines), lines
    assert any(line.startswith("[startup] voices ok") and "asr=True" in line for line in lines), lines
    audio, rate = sf.read(tmp_path / "job.wav")
    assert rate == 24000 and len(audio) > 0.3 * rate


CU13 = os.environ.get("F5_IMAGE_CU13", "1") != "0"
CU13_VARIANT = variant_with(suffix="-cu13")


@pytest.fixture(scope="module")
def cu13_image(podman_ready, hub):
    """The CUDA 13 variant (build/variants.json's -cu13 entry, locked in requirements/lock/):
    left out with F5_IMAGE_CU13=0, and removed after its tests."""
    if not CU13:
        pytest.skip("F5_IMAGE_CU13=0: the CUDA 13 image is left out")
    with built_image("cu13-", hub, "--build-arg", f"TORCH_VERSION={CU13_VARIANT['torch']}") as tag:
        yield tag


def test_cu13_image_smoke_script_passes_offline(cu13_image):
    result = sh("bash", str(ROOT / "scripts" / "smoke-image.sh"), cu13_image, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "[check] ok" in result.stdout and "smoke ok" in result.stdout
    assert_variant(result.stdout, CU13_VARIANT)


def test_cu13_image_has_float16_weights_no_triton_and_runs_a_job(cu13_image, tmp_path):
    baked = run(cu13_image, "-c", CHECK_BAKED, entrypoint="/opt/venv/bin/python")
    assert baked.returncode == 0 and json.loads(baked.stdout)["dtypes"] == ["torch.float16"], baked.stderr
    triton = run(cu13_image, "-c", "import importlib.util; print(importlib.util.find_spec('triton') is None)",
                 entrypoint="/opt/venv/bin/python")
    assert triton.stdout.strip() == "True", triton.stderr
    check_a_flac_job(cu13_image, tmp_path, "Inside the CUDA 13 container.")
