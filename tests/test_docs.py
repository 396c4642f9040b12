"""The docs against the code: where a page repeats a fact (a setting, a default, a module, a limit,
the format list), the code is the source and these checks hold the page to it; and every link goes
somewhere. A stale page fails here, not in a user's hands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT

from handler.audio_codec import OUTPUT_FORMATS
from handler.batching import DEFAULTS
from handler.config import VARIABLES
from handler.platform_limits import RESULT_BYTES, STREAM_MESSAGE_BYTES
from handler.storage import BUCKET_VARIABLES

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
GPU, CPU = DEFAULTS["cuda"], DEFAULTS["cpu"]


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def table_rows(page: Path, first_column: str) -> dict[str, list[str]]:
    """Rows of the markdown table(s) whose first cell is backticked and matches `first_column`."""
    rows = {}
    for line in text(page).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.match(rf"`({first_column})`", cells[0]) if line.startswith("|") else None
        if match:
            rows[match.group(1)] = cells[1:]
    return rows


def shown(value) -> str:
    """A default as the configuration page writes it."""
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def test_the_configuration_page_lists_every_variable_with_its_default():
    rows = table_rows(ROOT / "docs" / "configuration.md", r"[A-Z][A-Z0-9_]+")
    expected = {v.name: shown(v.default) for v in VARIABLES} | {k: shown(d) for k, d in BUCKET_VARIABLES.items()}
    assert set(rows) == set(expected), (set(rows) ^ set(expected))
    documented = {name: cells[0].strip("`") for name, cells in rows.items()}
    assert documented == expected


def test_the_module_map_lists_every_module_once():
    rows = table_rows(ROOT / "docs" / "architecture.md", r"handler/[\w/]+\.py")
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "handler").rglob("*.py")}
    assert set(rows) == modules, (set(rows) ^ modules)
    assert all(cells and cells[0] for cells in rows.values())


def test_the_batching_defaults_where_pages_and_the_hub_repeat_them():
    hub = json.loads(text(ROOT / ".runpod" / "hub.json"))
    described = {env["key"]: env["input"]["description"] for env in hub["config"]["env"]}
    config = table_rows(ROOT / "docs" / "configuration.md", r"[A-Z][A-Z0-9_]+")
    percent = f"{GPU.memory_fraction:.0%}"
    for source in (described, {k: v[1] for k, v in config.items()}):
        assert f"{GPU.concurrency} on a GPU, {CPU.concurrency} on a CPU" in source["F5_CONCURRENCY"]
        assert f"{GPU.max_items} on a GPU, {CPU.max_items} on a CPU" in source["F5_MAX_BATCH"]
        assert percent in source["F5_BATCH_MEMORY_GB"].replace(" %", "%")
    readme = re.search(r"GPU\s+defaults\s+\((\d+)\s+jobs\s+at\s+once,\s+(\d+)\s+chunks\s+per\s+model\s+call\)", text(README))
    assert readme and readme.groups() == (str(GPU.concurrency), str(GPU.max_items))
    architecture = re.search(r"GPU defaults \((\d+) jobs,\s+(\d+) chunks, (\d+) % of free memory\)",
                             text(ROOT / "docs" / "architecture.md"))
    assert architecture and architecture.groups() == (str(GPU.concurrency), str(GPU.max_items), percent[:-1])
    for page in [*PAGES, ROOT / ".runpod" / "hub.json"]:  # any "N on a GPU" anywhere is one of these
        for number in re.findall(r"\b(\d+) on a GPU", text(page)):
            assert int(number) in (GPU.concurrency, GPU.max_items), (page.name, number)


def test_the_platform_limits_where_the_api_page_repeats_them():
    api = text(ROOT / "docs" / "api.md")
    assert re.findall(r"(\d+) MB for `/run`", api) == [str(RESULT_BYTES // 1_000_000)]
    assert re.findall(r"stream\s+message at (\d+) MB", api) == [str(STREAM_MESSAGE_BYTES // 1_000_000)]
    for limit in re.findall(r"(\d+) MB stream (?:message )?limit", api):
        assert int(limit) == STREAM_MESSAGE_BYTES // 1_000_000


def test_the_output_formats_where_pages_list_them():
    request = table_rows(ROOT / "docs" / "api.md", r"format")
    assert set(re.findall(r"`(\w+)`", request["format"][2])) == set(OUTPUT_FORMATS)
    readme = re.search(r"extension of `-o`: ([a-z0-9, ]+)\)", text(README))
    assert readme and set(readme.group(1).split(", ")) == set(OUTPUT_FORMATS)


def test_the_readme_stays_a_front_door():
    assert len(README.read_bytes()) <= 15_000
    assert "bash scripts/test.sh" in text(README) and "bash scripts/test.sh" in text(ROOT / ".ci" / "run")


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    found, counts, in_code = set(), {}, False
    for line in text(page).splitlines():
        if line.startswith("```"):
            in_code = not in_code
        heading = re.match(r"^#{1,6}\s+(.*)", line) if not in_code else None
        if heading:
            slug = _slug(heading.group(1))
            found.add(slug if slug not in counts else f"{slug}-{counts[slug]}")
            counts[slug] = counts.get(slug, 0) + 1
    return found


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_link_and_anchor_resolves(page):
    in_code, broken = False, []
    for number, line in enumerate(text(page).splitlines(), 1):
        if line.startswith("```"):
            in_code = not in_code
        if in_code:
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"`[^`]*`", "", line)):
            if re.match(r"https?:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists() or (anchor and anchor not in _anchors(resolved)):
                broken.append(f"{page.name}:{number}: {target}")
    assert broken == []


def test_the_text_pages_before_and_after_table_is_what_the_worker_speaks(service):
    from handler.script import normalized, speakable_text

    rows = table_rows(ROOT / "docs" / "text.md", r"[^`]+")
    examples = {written: cells[-1] for written, cells in rows.items() if len(cells) == 2}
    assert len(examples) >= 12
    for written, now in examples.items():
        spoken, _ = speakable_text(service.backend, normalized(written.replace("\\n", "\n")))
        assert spoken == now, written


def test_the_text_page_names_every_rule_family():
    from handler.text_normalize import FAMILIES

    rows = table_rows(ROOT / "docs" / "text.md", r"[a-z]+")
    assert [name for name, cells in rows.items() if len(cells) == 1] == list(FAMILIES)
