"""The CPU benchmark runs (short mode, no timing assertions), so it never rots."""

import json
import subprocess
import sys

from conftest import ROOT


def test_cpu_benchmark_quick_mode(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cpu_bench.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    cases = {row["case"]: row for row in report["cases"]}
    assert len(cases) == 4
    for row in cases.values():
        assert row["ours_s"] > 0 and row["upstream_s"] > 0 and row["ratio_upstream_over_ours"] > 0
    # both paths made the same amount of audio for the same text (durations within 5 %)
    long = cases["long multi-chunk text"]["audio_s"]
    assert abs(long["ours"] - long["upstream"]) / long["upstream"] < 0.05
    assert "| case | ours (s) |" in result.stdout
