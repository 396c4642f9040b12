"""Facts that stand in more than one place are held to their one source.

Sources:
- build/variants.json: the image's torch/CUDA variants (the first is the default) and the CPU
  development pair. Shell scripts read it through scripts/variants.sh; other tests import
  VARIANTS, DEFAULT_VARIANT and variant_with() from here.
- build/fetch_models.py: the default model, vocoder and ASR repositories and their pinned commits
  (DEFAULT_MODEL, PRESETS, VOCODER_REPO, ASR_REPO, PINNED_REVISIONS, PINNED_SHA256).
- requirements/*.txt: one pin per package (worker.txt, asr.txt, fetch.txt, dev.txt, bench.txt);
  scripts/lock.sh derives requirements/lock/ from them.

Copies held to them here: the Dockerfile's ARG defaults, the workflow's image matrix, the lock
inputs and locks, and every mention in README.md and docs/**/*.md (and in the comments of the
Dockerfile, the workflow, scripts/*.sh and requirements/README.md) of a torch or CUDA version, a
driver minimum, a `-cuNN` tag suffix, a default repository, a pinned commit or a
`package==version` pin. The prose checks look for the numbers, not for sentences: rewording
passes, a stale number fails (see the last tests). Elsewhere: .runpod/hub.json and tests.json (tests/test_runpod_hub.py), bench/gpu_wheels.sh's pins
(tests/test_gpu_wheels.py), the stand-in hub's repos (tests/test_fetch_models.py).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from packaging.utils import canonicalize_name

VARIANTS_FILE = ROOT / "build" / "variants.json"


def load_variants() -> dict:
    """build/variants.json as a dict: {"variants": [...], "cpu_dev": {...}}; no imports beyond json."""
    return json.loads(VARIANTS_FILE.read_text(encoding="utf-8"))


VARIANTS: list[dict] = load_variants()["variants"]
DEFAULT_VARIANT: dict = VARIANTS[0]  # the default image: the Dockerfile's TORCH_VERSION, no tag suffix
CPU_DEV: dict = load_variants()["cpu_dev"]


def variant_with(**fields) -> dict:
    """The one variant whose fields have these values, e.g. variant_with(suffix="-cu13")."""
    [found] = [v for v in VARIANTS if all(v[key] == value for key, value in fields.items())]
    return found


_spec = importlib.util.spec_from_file_location("fetch_models", ROOT / "build" / "fetch_models.py")
fetch_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fetch_models)
KNOWN_REPOS = {repo for repo, _ in fetch_models.PRESETS.values()} | {fetch_models.VOCODER_REPO, fetch_models.ASR_REPO}

REQUIREMENTS = ["worker.txt", "asr.txt", "fetch.txt", "dev.txt", "bench.txt"]
PIN_LINE = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def requirement_pins(name: str) -> dict[str, str]:
    """The name==version lines of one requirements file (not following -r: each pin counted once)."""
    found = {}
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        if match := PIN_LINE.match(line.split("#")[0].strip()):
            found[canonicalize_name(match[1])] = match[2]
    return found


def lock_pins(path: Path) -> dict[str, str]:
    return {canonicalize_name(m[1]): m[2] for m in map(PIN_LINE.match, path.read_text().splitlines()) if m}


PINS: dict[str, str] = {}
for _name in REQUIREMENTS:
    PINS.update(requirement_pins(_name))


def dockerfile_args() -> dict[str, str]:
    args: dict[str, str] = {}
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if match := re.match(r"ARG (\w+)(?:=(.*))?$", line.strip()):
            name, value = match[1], match[2] or ""
            assert args.setdefault(name, value) == value, f"ARG {name} has two defaults in the Dockerfile"
    return args


# ---- the sources themselves --------------------------------------------------------------------


def test_the_variants_file_is_consistent_and_each_variant_has_its_locks():
    assert DEFAULT_VARIANT["suffix"] == "", "the first variant is the default image: no tag suffix"
    for key in ("name", "torch", "suffix"):
        values = [v[key] for v in VARIANTS]
        assert len(set(values)) == len(values), f"two variants share a {key}"
    for v in VARIANTS:
        assert re.fullmatch(r"\d+\.\d+\.\d+", v["torch"]) and re.fullmatch(r"\d+\.\d+\.\d+", v["torchaudio"])
        assert re.fullmatch(r"\d+\.\d", v["cuda"]) and isinstance(v["driver"], int)
        assert v["cuda"] in v["runpod_cuda"], f"{v['name']}: its own CUDA is not among the RunPod versions"
        assert all(tuple(map(int, c.split("."))) >= tuple(map(int, v["cuda"].split("."))) for c in v["runpod_cuda"])
        for lock in (f"image-torch{v['torch']}.txt", f"image-torch{v['torch']}-asr.txt"):
            pins = lock_pins(ROOT / "requirements" / "lock" / lock)
            assert pins["torch"] == v["torch"] and pins["torchaudio"] == v["torchaudio"], lock
            # the CUDA the lock's wheels carry is the variant's
            [runtime] = [version for name, version in pins.items() if name.startswith("nvidia-cuda-runtime")]
            assert runtime.startswith(v["cuda"] + "."), f"{lock}: nvidia-cuda-runtime {runtime}, variant says CUDA {v['cuda']}"


def test_the_shell_reader_gives_the_files_values():
    def read(*args):
        return subprocess.run(["bash", str(ROOT / "scripts" / "variants.sh"), *args], capture_output=True, text=True,
                              check=True, timeout=30, env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}).stdout

    assert read("torch") == DEFAULT_VARIANT["torch"] + "\n"
    assert read("torch", "all").split() == [v["torch"] for v in VARIANTS]
    assert read("suffix", "all").split("\n")[:-1] == [v["suffix"] for v in VARIANTS]
    other = VARIANTS[-1]
    assert read("driver", other["torch"]) == f"{other['driver']}\n"
    assert read("cpu_dev.torchaudio") == CPU_DEV["torchaudio"] + "\n"


# ---- copies of the variants --------------------------------------------------------------------


def test_the_dockerfile_default_torch_is_the_default_variant():
    assert dockerfile_args()["TORCH_VERSION"] == DEFAULT_VARIANT["torch"]


def workflow() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())


def test_the_workflow_matrix_is_the_variants_file():
    matrix = workflow()["jobs"]["image"]["strategy"]["matrix"]["include"]
    expected = [{"variant": v["name"], "torch": v["torch"], "suffix": v["suffix"]} for v in VARIANTS]
    assert matrix == expected


def test_the_workflow_repeats_no_torch_version_outside_its_matrix():
    """The test job takes its torch pair from scripts/variants.sh; only the matrix is a copy."""
    jobs = workflow()["jobs"]
    text = json.dumps({name: job for name, job in jobs.items() if name != "image"}) + json.dumps(
        {k: v for k, v in jobs["image"].items() if k != "strategy"})
    versions = {v[key] for v in [*VARIANTS, CPU_DEV] for key in ("torch", "torchaudio")}
    assert not [version for version in versions if re.search(rf"(?<![\d.]){re.escape(version)}(?![\d.])", text)]


# ---- copies of the model defaults --------------------------------------------------------------


def test_the_dockerfile_model_defaults_are_fetch_models_defaults():
    args = dockerfile_args()
    assert args["F5_MODEL"] == fetch_models.DEFAULT_MODEL
    assert args["CUSTOM_CONFIG"] == fetch_models.DEFAULT_MODEL
    assert args["VOCODER_REPO"] == fetch_models.VOCODER_REPO
    assert args["ASR_REPO"] == fetch_models.ASR_REPO
    # empty revisions: fetch_models.py's pins apply
    assert args["F5_REVISION"] == args["VOCODER_REVISION"] == args["ASR_REVISION"] == ""
    parsed = fetch_models.parse_args(["--out", "x"])
    assert (parsed.model, parsed.custom_config, parsed.vocoder_repo, parsed.asr_repo) == (
        fetch_models.DEFAULT_MODEL, fetch_models.DEFAULT_MODEL, fetch_models.VOCODER_REPO, fetch_models.ASR_REPO)
    assert set(fetch_models.PINNED_REVISIONS) <= KNOWN_REPOS
    assert fetch_models.PRESETS[fetch_models.DEFAULT_MODEL][0] in fetch_models.PINNED_REVISIONS


# ---- dependency pins ---------------------------------------------------------------------------


def test_each_package_is_pinned_in_one_requirements_file():
    seen: dict[str, str] = {}
    for name in REQUIREMENTS:
        for package in requirement_pins(name):
            assert package not in seen, f"{package} is pinned in requirements/{seen[package]} and requirements/{name}"
            seen[package] = name
    assert "torch" not in seen and "torchaudio" not in seen  # the pair comes from build/variants.json


def test_the_lock_inputs_are_derived_from_the_requirements_and_the_default_variant():
    """What scripts/lock.sh writes to requirements/lock/in/ (the default variant is locked last)."""
    folder = ROOT / "requirements" / "lock" / "in"

    def lines(name):
        return [line for line in (ROOT / "requirements" / name).read_text().splitlines() if line and not line.startswith("#")]

    worker = [line for line in lines("worker.txt") if not line.startswith("f5-tts==")]
    pair = [f"torch=={DEFAULT_VARIANT['torch']}", f"torchaudio=={DEFAULT_VARIANT['torchaudio']}"]
    assert (folder / "worker.in").read_text().splitlines() == worker + pair
    assert (folder / "asr.in").read_text().splitlines() == worker + pair + lines("asr.txt")
    assert (folder / "f5.in").read_text().splitlines() == [line for line in lines("worker.txt") if line.startswith("f5-tts==")]
    pyyaml = [line for line in lines("worker.txt") if line.startswith("pyyaml==")]
    assert (folder / "fetch.in").read_text().splitlines() == lines("fetch.txt") + pyyaml


def test_every_lock_holds_the_requirements_pins():
    lock = ROOT / "requirements" / "lock"
    worker = {k: v for k, v in requirement_pins("worker.txt").items() if k != "f5-tts"}
    for v in VARIANTS:
        for name, wanted in ((f"image-torch{v['torch']}.txt", worker),
                             (f"image-torch{v['torch']}-asr.txt", {**worker, **requirement_pins("asr.txt")})):
            pins = lock_pins(lock / name)
            assert {k: pins.get(k) for k in wanted} == wanted, name
    assert lock_pins(lock / "f5-tts.txt") == {"f5-tts": requirement_pins("worker.txt")["f5-tts"]}
    fetch = {**requirement_pins("fetch.txt"), "pyyaml": requirement_pins("worker.txt")["pyyaml"]}
    pins = lock_pins(lock / "fetch.txt")
    assert {k: pins.get(k) for k in fetch} == fetch


# ---- the prose: README.md, docs/**/*.md, and the comments of the files that repeat a fact -------


def prose_files() -> list[Path]:
    """Globbed at test time: the docs are moving out of README.md into docs/."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
    files += [ROOT / "Dockerfile", ROOT / ".github" / "workflows" / "ci.yml", ROOT / "requirements" / "README.md"]
    return files + sorted((ROOT / "scripts").glob("*.sh"))


VERSION = r"(\d+\.\d+(?:\.\d+)?)"
NOT_NUM = r"(?![\d.]\d)"  # a version ends here ("2.8." at a sentence end is fine)
TORCH_MENTION = re.compile(rf"\b(torch(?:audio)?)(?: ?==? ?| v?){VERSION}{NOT_NUM}", re.I)
CUDA_MENTION = re.compile(rf"\bcuda[ -]?v?(\d{{2}}(?:\.\d+)?){NOT_NUM}", re.I)
DRIVER_MENTION = re.compile(r"\bdrivers?\b[^\d.;|]{0,25}?(?<![\d.,])(\d{3})(?![\d.,]\d)", re.I)
SUFFIX_MENTION = re.compile(r"(?<![\w-])(?:[\w.:]*)(-cu\d+)\b")
LOCK_MENTION = re.compile(rf"image-torch{VERSION}(?:-asr)?\.txt")
BUILD_ARG_TORCH = re.compile(rf"TORCH_VERSION={VERSION}{NOT_NUM}")
LOCK_SH = re.compile(rf"lock\.sh {VERSION}{NOT_NUM}")
# "torch 2.8 / CUDA 12.8", "torch 2.8.0, CUDA 12.8", "`2.11.0` (CUDA 13": a torch version and its CUDA
TORCH_CUDA_PAIR = re.compile(rf"(?<![\d.])(\d\.\d+(?:\.\d+)?)(?:\+\w+)?`?\s*[/,(]\s*CUDA[ -]?(\d{{2}}(?:\.\d)?){NOT_NUM}")
# "CUDA 12.8: NVIDIA driver 570+", "CUDA 13, hosts with driver 580+"
CUDA_DRIVER_PAIR = re.compile(r"\bCUDA[ -]?(\d{2}(?:\.\d)?)(?![\d.]\d)[^.;()|]{0,30}?\bdriver\b[^\d.;()|]{0,12}(\d{3})\b")
HEX = re.compile(r"(?<![\w-])([0-9a-f]{7,40}|[0-9a-f]{64})(?![\w-])")
DEP_PIN = re.compile(r"(?<![\w.-])([A-Za-z][A-Za-z0-9._-]*)==(\d[\w.+!-]*\w)")


def same_version(mention: str, full: str) -> bool:
    """'2.8' is '2.8.0' (and '13' is '13.0'); '2.1' is not '2.11.0'."""
    parts, whole = mention.split("."), full.split(".")
    return whole[: len(parts)] == parts or (len(parts) > len(whole) and parts[: len(whole)] == whole and set(parts[len(whole):]) == {"0"})


def any_version(mention: str, values) -> bool:
    return any(same_version(mention, value) for value in values)


def line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def variant_facts() -> dict:
    torches = {v["torch"] for v in VARIANTS}
    return {
        "torch": torches | {CPU_DEV["torch"]},
        "torchaudio": {v["torchaudio"] for v in VARIANTS} | {CPU_DEV["torchaudio"]},
        "cuda": {v["cuda"] for v in VARIANTS} | {c for v in VARIANTS for c in v["runpod_cuda"]},
        "driver": {str(v["driver"]) for v in VARIANTS},
        "suffix": {v["suffix"] for v in VARIANTS if v["suffix"]},
    }


def check_variant_mentions(text: str) -> list[str]:
    """Every torch/torchaudio version, CUDA version, driver minimum and -cuNN suffix is the source's;
    a torch version next to a CUDA version, or a CUDA version next to a driver, is one variant's."""
    facts, problems = variant_facts(), []
    flat = re.sub(r"\s+", " ", text)  # mentions wrap across lines
    for match in TORCH_MENTION.finditer(text):
        if not any_version(match[2], facts[match[1].lower()]):
            problems.append(f"line {line_of(text, match.start())}: {match[0]!r}: {match[1].lower()} {match[2]} is no variant's")
    for match in CUDA_MENTION.finditer(text):
        if not any_version(match[1], facts["cuda"]):
            problems.append(f"line {line_of(text, match.start())}: {match[0]!r}: CUDA {match[1]} is no variant's")
    for match in DRIVER_MENTION.finditer(flat):
        if match[1] not in facts["driver"]:
            problems.append(f"{match[0]!r}: driver {match[1]} is no variant's minimum ({', '.join(sorted(facts['driver']))})")
    for match in SUFFIX_MENTION.finditer(text):
        if match[1] not in facts["suffix"] and not match[0].lower().startswith("nvidia-"):
            problems.append(f"line {line_of(text, match.start())}: {match[0]!r}: suffix {match[1]} is no variant's")
    for match in LOCK_MENTION.finditer(text):
        if not any(v["torch"] == match[1] for v in VARIANTS):
            problems.append(f"line {line_of(text, match.start())}: {match[0]!r}: no variant locks torch {match[1]}")
    # TORCH_VERSION=X: a variant's torch, or a pair the same text first locks with scripts/lock.sh X
    locked_here = {m[1] for m in LOCK_SH.finditer(text)}
    for match in BUILD_ARG_TORCH.finditer(text):
        if not any(v["torch"] == match[1] for v in VARIANTS) and match[1] not in locked_here:
            problems.append(f"line {line_of(text, match.start())}: {match[0]!r}: not a variant (nor locked with lock.sh first)")
    for match in TORCH_CUDA_PAIR.finditer(flat):
        if not any(same_version(match[1], v["torch"]) and same_version(match[2], v["cuda"]) for v in VARIANTS):
            problems.append(f"{match[0]!r}: torch {match[1]} with CUDA {match[2]} is no variant")
    for match in CUDA_DRIVER_PAIR.finditer(flat):
        if not any(same_version(match[1], v["cuda"]) and match[2] == str(v["driver"]) for v in VARIANTS):
            problems.append(f"{match[0]!r}: CUDA {match[1]} with driver {match[2]} is no variant")
    problems += check_variant_table_rows(text)
    return problems


def check_variant_table_rows(text: str) -> list[str]:
    """A table row that names one variant's torch version: its CUDA versions, driver minimums and
    -cuNN suffixes are that variant's, whatever the columns are called or in which order (a column
    whose header says 'allowed' or 'RunPod' may list any CUDA version the variant's endpoint allows)."""
    problems, header = [], None
    for number, row in enumerate(text.splitlines(), 1):
        if not row.lstrip().startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if header is None:
            header = [cell.lower() for cell in cells]
            continue
        named = [v for v in VARIANTS if re.search(rf"(?<![\d.]){re.escape(v['torch'])}(?![\d.]\d)", row)]
        if len(named) != 1:
            continue
        [v] = named
        for column, cell in enumerate(cells):
            title = header[column] if column < len(header) else ""
            allowed = {v["cuda"], *v["runpod_cuda"]} if ("allowed" in title or "runpod" in title) else {v["cuda"]}
            cudas = re.findall(r"(?<![\d.])(\d{2}\.\d)(?![\d.]\d)", cell)
            drivers = re.findall(r"(?<![\d.,])(\d{3})(?:\*\*)?(?:\+| or newer| or later)", cell)
            suffixes = re.findall(r"-cu\d+\b", cell)
            if any(c not in allowed for c in cudas):
                problems.append(f"line {number}: torch {v['torch']}'s row has CUDA {cudas}, the variant {v['cuda']}")
            if any(d != str(v["driver"]) for d in drivers):
                problems.append(f"line {number}: torch {v['torch']}'s row has driver {drivers}, the variant {v['driver']}+")
            if any(s != v["suffix"] for s in suffixes):
                problems.append(f"line {number}: torch {v['torch']}'s row has tag suffix {suffixes}, the variant {v['suffix']!r}")
    return problems


def repo_family(repo: str) -> str:
    owner, name = repo.lower().split("/")
    return f"{owner}/{re.split(r'[-_.]', name)[0]}"


def check_model_mentions(text: str) -> list[str]:
    """A repo of a default's family (SWivid/F5…, charactr/vocos…, openai/whisper…) is the default
    repo; a commit-like hex string is a pinned commit (its start), of the model named just before it."""
    problems = []
    families = {repo_family(repo) for repo in KNOWN_REPOS}
    for match in re.finditer(r"(?<![\w.-])([\w.-]+/[\w.-]*\w)", text):
        if repo_family(match[1]) in families and match[1] not in KNOWN_REPOS and "/" in match[1]:
            problems.append(f"line {line_of(text, match.start())}: {match[1]}: not the default repo ({', '.join(sorted(KNOWN_REPOS))})")
    labels = {repo: repo_family(repo).split("/")[1] for repo in fetch_models.PINNED_REVISIONS}  # f5, vocos, whisper
    pinned_sha256 = {sha for files in fetch_models.PINNED_SHA256.values() for sha in files.values()}
    for match in HEX.finditer(text):
        token = match[1]
        if not (re.search(r"\d", token) and re.search(r"[a-f]", token)) or text[max(0, match.start() - 4):match.start()] == "sha-":
            continue  # a plain number or word, or an image tag's sha-<commit> placeholder
        where = f"line {line_of(text, match.start())}: {token}"
        at = re.search(r"([\w.-]+/[\w.-]+)@$", text[max(0, match.start() - 120):match.start()])
        if at and repo_family(at[1]) not in {repo_family(repo) for repo in KNOWN_REPOS}:
            continue  # another repository's commit: owner/action@<sha>
        if len(token) == 64:
            if token not in pinned_sha256:
                problems.append(f"{where}: a sha256 that build/fetch_models.py does not pin")
            continue
        repos = [repo for repo, commit in fetch_models.PINNED_REVISIONS.items() if commit.startswith(token)]
        if not repos:
            problems.append(f"{where}: no pinned revision in build/fetch_models.py starts so")
            continue
        before = text[max(0, match.start() - 30):match.start()].lower()
        named = max(labels.items(), key=lambda item: before.rfind(item[1]))
        if before.rfind(named[1]) >= 0 and named[0] not in repos:
            problems.append(f"{where}: follows {named[1]!r}, but is the pin of {repos[0]}")
    return problems


def check_pin_mentions(text: str) -> list[str]:
    """package==version: the requirements/ pin of that package (torch/torchaudio: a variant's or the dev pair)."""
    problems, facts = [], variant_facts()
    for match in DEP_PIN.finditer(text):
        name, version = canonicalize_name(match[1]), match[2]
        if name in ("torch", "torchaudio"):
            ok = any_version(version.split("+")[0], facts[name])
        else:
            ok = name not in PINS or PINS[name] == version
        if not ok:
            problems.append(f"line {line_of(text, match.start())}: {match[0]}: the project pins {PINS.get(name, 'other versions')}")
    return problems


DOCKERFILE_ARGS = dockerfile_args()


def check_build_arg_tables(text: str) -> tuple[int, list[str]]:
    """Tables whose header has 'arg' then 'default': each default cell's `values` are the Dockerfile's
    defaults of the row's `ARGS`. Returns (rows checked, problems)."""
    rows, problems, columns = 0, [], None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.lstrip().startswith("|"):
            columns = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if columns is None:
            lower = [cell.lower() for cell in cells]
            columns = (0, lower.index("default")) if "arg" in lower[0] and "default" in lower else ()
            continue
        if not columns or set(line) <= set("|-: "):
            continue
        args = [a for a in re.findall(r"`(\w+)`", cells[columns[0]]) if a in DOCKERFILE_ARGS]
        if not args or len(cells) <= columns[1]:
            continue
        rows += 1
        for value in re.findall(r"`([^`]+)`", cells[columns[1]]):
            if value not in {DOCKERFILE_ARGS[a] for a in args}:
                problems.append(f"line {number}: {', '.join(args)}: documented default {value!r}, the Dockerfile's "
                                f"{', '.join(repr(DOCKERFILE_ARGS[a]) for a in args)}")
    return rows, problems


def all_problems(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return check_variant_mentions(text) + check_model_mentions(text) + check_pin_mentions(text) + check_build_arg_tables(text)[1]


@pytest.mark.parametrize("path", prose_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_docs_state_the_sources_values(path):
    problems = all_problems(path)
    assert not problems, f"{path.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_the_docs_have_a_build_arg_table_to_check():
    """The build-arg check above must not pass for want of a table (README.md or docs/)."""
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
    rows = sum(check_build_arg_tables(path.read_text(encoding="utf-8"))[0] for path in docs)
    assert rows >= 5, "no build-arg table found (a header with 'arg' ... 'default'): update check_build_arg_tables"


def test_the_docs_name_both_variants():
    """Each variant's torch, CUDA and driver minimum is stated somewhere in the docs."""
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
    text = re.sub(r"\s+", " ", " ".join(path.read_text(encoding="utf-8") for path in docs))
    for v in VARIANTS:
        assert re.search(rf"(?<![\d.]){re.escape(v['torch'])}(?![\d.]\d)", text), v["torch"]
        assert re.search(rf"\b{v['driver']}\b", text), v["driver"]
        assert re.search(rf"CUDA {re.escape(v['cuda'])}", text), v["cuda"]


# ---- the checks fail on a stale number and pass a rewording ------------------------------------
# Each case edits a copy (in a temp dir) of the first of README.md and docs/**/*.md that has what it
# edits, and always a sample written from the sources (so the checks are exercised whatever the docs
# say today). Each case is built from the sources' values, not from today's numbers.

DEFAULT, OTHER = VARIANTS[0], VARIANTS[-1]
PIN = fetch_models.PINNED_REVISIONS
F5_REPO = fetch_models.PRESETS[fetch_models.DEFAULT_MODEL][0]


def short(version: str) -> str:
    return ".".join(version.split(".")[:2])


SAMPLE = f"""
Allow CUDA {DEFAULT["cuda"]} or newer for the default image (torch {short(DEFAULT["torch"])} / CUDA {DEFAULT["cuda"]}), or only
CUDA {OTHER["cuda"]} and newer for the `{OTHER["suffix"]}` image (torch {short(OTHER["torch"])} / CUDA {OTHER["cuda"].split(".")[0]}, hosts with
driver {OTHER["driver"]}+). The host needs an NVIDIA driver of {DEFAULT["driver"]} or newer for the default image.

| build arg | default | meaning |
| --- | --- | --- |
| `VOCODER_REPO`, `VOCODER_REVISION` | `{fetch_models.VOCODER_REPO}`, pinned | the Vocos vocoder |
| `TORCH_VERSION` | `{DEFAULT["torch"]}` | the torch/torchaudio pair |

| image tag | `TORCH_VERSION` | CUDA in the wheels | NVIDIA driver on the host | RunPod: allowed CUDA versions |
| --- | --- | --- | --- | --- |
| `latest` (default) | {DEFAULT["torch"]} | {DEFAULT["cuda"]} | {DEFAULT["driver"]} or newer | {DEFAULT["cuda"]} and newer |
| `latest{OTHER["suffix"]}` | {OTHER["torch"]} | {OTHER["cuda"]} | **{OTHER["driver"]}** or newer | {OTHER["cuda"]} and newer only |

The default revisions pinned in `build/fetch_models.py` (F5-TTS `{PIN[F5_REPO][:7]}`, Vocos
`{PIN[fetch_models.VOCODER_REPO][:7]}`, Whisper `{PIN[fetch_models.ASR_REPO][:7]}`).

    .venv/bin/pip install huggingface-hub=={PINS["huggingface-hub"]}
"""


def sub(pattern: str, replacement: str):
    """An edit: the first match of pattern replaced, or None where the text has no match."""
    def edit(text: str) -> str | None:
        new = re.sub(pattern, replacement, text, count=1)
        return new if new != text else None
    return edit


def in_row(torch: str, old: str, new: str):
    """An edit of the table row that names this torch version: old replaced by new in it."""
    def edit(text: str) -> str | None:
        for line in text.splitlines(keepends=True):
            if line.lstrip().startswith("|") and re.search(rf"(?<![\d.]){re.escape(torch)}(?![\d.]\d)", line):
                changed = re.sub(rf"(?<![\d.]){re.escape(old)}(?![\d.]\d)", new, line, count=1)
                if changed != line:
                    return text.replace(line, changed, 1)
        return None
    return edit


def flip(commit: str) -> str:
    return commit[:6] + ("0" if commit[6] != "0" else "1")


E = re.escape
STALE = {
    "driver minimum": sub(rf"(driver of ){DEFAULT['driver']}\b", rf"\g<1>{DEFAULT['driver'] - 10}"),
    "driver of a pair": sub(rf"(CUDA {E(OTHER['cuda'].split('.')[0])}[^.;()|]{{0,20}}driver ){OTHER['driver']}", rf"\g<1>{OTHER['driver'] - 10}"),
    "driver in the variants table": in_row(OTHER["torch"], str(OTHER["driver"]), str(OTHER["driver"] - 5)),
    "CUDA in the variants table": in_row(DEFAULT["torch"], DEFAULT["cuda"], "12.6"),
    "torch of a pair": sub(rf"torch {E(short(OTHER['torch']))}( / CUDA)", r"torch 2.10\1"),
    "CUDA of a pair": sub(rf"(torch {E(short(DEFAULT['torch']))} / CUDA) {E(DEFAULT['cuda'])}", r"\1 12.6"),
    "CUDA swapped between variants": sub(rf"(torch {E(short(OTHER['torch']))} / CUDA) [\d.]+", rf"\1 {DEFAULT['cuda']}"),
    "tag suffix": sub(rf"`{E(OTHER['suffix'])}`", "`-cu12`"),
    "TORCH_VERSION default": sub(rf"(\| `TORCH_VERSION` \| `){E(DEFAULT['torch'])}`", r"\g<1>2.9.0`"),
    "vocoder repo": sub(E(fetch_models.VOCODER_REPO), fetch_models.VOCODER_REPO + "-v2"),
    "revision": sub(E(PIN[fetch_models.VOCODER_REPO][:7]), flip(PIN[fetch_models.VOCODER_REPO])),
    "revision of another model": sub(rf"(Vocos\s+`){E(PIN[fetch_models.VOCODER_REPO][:7])}", rf"\g<1>{PIN[F5_REPO][:7]}"),
    "dependency pin": sub(rf"huggingface-hub=={E(PINS['huggingface-hub'])}", "huggingface-hub==0.0.1"),
}
REWORDED = {  # true statements in other words: no finding
    "driver": sub(rf"driver of {DEFAULT['driver']} or newer", f"NVIDIA driver version {DEFAULT['driver']}+"),
    "pair": sub(rf"torch {E(short(DEFAULT['torch']))} / CUDA {E(DEFAULT['cuda'])}", f"torch {DEFAULT['torch']}, CUDA {DEFAULT['cuda']}"),
    "wrapped": sub(rf"torch {E(short(OTHER['torch']))} / CUDA {E(OTHER['cuda'].split('.')[0])}", f"torch\n{OTHER['torch']} /\nCUDA {OTHER['cuda']}"),
}


def docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def findings(path: Path) -> set[str]:
    """all_problems without line numbers (an edit may move lines)."""
    return {re.sub(r"^line \d+: ", "", problem) for problem in all_problems(path)}


def edited_copies(edit, tmp_path: Path) -> list[tuple[Path, Path]]:
    """(original, edited copy) for the sample and for the first doc the edit applies to; in tmp_path."""
    pairs = []
    sources = [("sample.md", SAMPLE), *((str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")) for path in docs())]
    for name, text in sources:
        new = edit(text)
        assert new is not None or name != "sample.md", "the edit does not apply to the sample"
        if new is not None:
            original, copy = tmp_path / "original" / name, tmp_path / "edited" / name
            for path, content in ((original, text), (copy, new)):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content, encoding="utf-8")
            pairs.append((original, copy))
            if len(pairs) == 2:
                break
    return pairs


def test_the_sample_passes(tmp_path):
    (tmp_path / "sample.md").write_text(SAMPLE, encoding="utf-8")
    assert not all_problems(tmp_path / "sample.md")


@pytest.mark.parametrize("case", STALE, ids=str)
def test_a_stale_number_in_a_copy_of_the_docs_is_caught(case, tmp_path):
    for original, copy in edited_copies(STALE[case], tmp_path):
        assert findings(copy) - findings(original), f"{case}: the edit of {copy.name} went unnoticed"


@pytest.mark.parametrize("case", REWORDED, ids=str)
def test_a_true_rewording_in_a_copy_of_the_docs_passes(case, tmp_path):
    for original, copy in edited_copies(REWORDED[case], tmp_path):
        assert not findings(copy) - findings(original), f"{case}: {copy.name}: {findings(copy) - findings(original)}"
