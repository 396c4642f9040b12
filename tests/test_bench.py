"""The CPU benchmark runs (short mode, no timing assertions), so it never rots."""

import json
import subprocess
import sys

from conftest import ROOT


def bench(script: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Runs bench/<script> with these arguments; its output, once it has exited 0."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args],
                            capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_cpu_benchmark_quick_mode(tmp_path):
    out = tmp_path / "bench.json"
    result = bench("cpu_bench.py", "--quick", "--out", str(out), timeout=600)
    report = json.loads(out.read_text())
    cases = {row["case"]: row for row in report["cases"]}
    assert len(cases) == 4
    for row in cases.values():
        assert row["ours_s"] > 0 and row["upstream_s"] > 0 and row["ratio_upstream_over_ours"] > 0
    # both paths made the same amount of audio for the same text (durations within 5 %)
    long = cases["long multi-chunk text"]["audio_s"]
    assert abs(long["ours"] - long["upstream"]) / long["upstream"] < 0.05
    assert "| case | ours (s) |" in result.stdout


def test_gpu_benchmark_quick_mode(tmp_path):
    """bench/gpu_bench.py --quick: the GPU benchmark's own code on CPU with the tiny model, every section."""
    bench("gpu_bench.py", "--quick", "--out", str(tmp_path))
    report = json.loads((tmp_path / "gpu_bench.json").read_text())
    for section in ("startup", "latency", "first_audio", "concurrency", "memory", "dtypes", "playback"):
        assert "error" not in report[section], (section, report[section])
    # the worker's own start-up lines were parsed, one figure per step
    assert {"versions", "manifest", "model", "voices", "warmup"} <= set(report["startup"]["worker_steps_s"])
    assert report["startup"]["upstream_load_s"] > 0
    # three text lengths, ours and upstream, the paragraph in several chunks
    rows = {row["text"]: row for row in report["latency"]}
    assert set(rows) == {"sentence", "about 150 chars", "paragraph"}
    assert rows["paragraph"]["ours"]["chunks"] > 1
    for row in rows.values():
        assert row["ours"]["p50_s"] > 0 and row["upstream"]["p50_s"] > 0 and row["ours"]["rtf"] > 0
        # the same text makes about as much audio on both sides
        assert abs(row["ours"]["audio_s"] - row["upstream"]["audio_s"]) / row["upstream"]["audio_s"] < 0.05
    first = report["first_audio"]
    assert 0 < first["ours"]["first_audio_s"] < first["ours"]["total_s"]
    assert 0 < first["upstream"]["first_audio_s"] <= first["upstream"]["total_s"]
    assert first["ours"]["chunks"] > 1
    # concurrency 1 and 2, batched (bound 2 in quick mode) and one at a time
    levels = report["concurrency"]["levels"]
    assert [row["concurrent"] for row in levels] == [1, 2]
    assert all(row["one_at_a_time"]["max_batched_with"] == 1 for row in levels)
    assert all(row["batched"]["requests"] == row["concurrent"] for row in levels)
    # the scheduler's memory estimate is reported per batch size (measured only on CUDA)
    assert [row["items"] for row in report["memory"]] == [1, 2]
    assert all(row["estimated_bytes"] > 0 for row in report["memory"])
    assert [row["dtype"] for row in report["dtypes"]] == ["float32"]
    # streams at once, with a player starting at each stream's first audio
    assert [row["at_once"] for row in report["playback"]] == [1, 2]
    assert all(0 < row["first_audio_p50_s"] and row["stalled_p95_s"] >= 0 and row["audio_s"] > 5
               for row in report["playback"])
    tables = (tmp_path / "gpu_bench.md").read_text()
    assert "| text | nfe |" in tables and "| concurrent | mode |" in tables and "not rendered" not in tables
    assert "| streams at once |" in tables


def test_playback_benchmark_quick_mode(tmp_path):
    """bench/playback_bench.py --quick: every path (queue /stream, HTTP raw, SSE) at both levels, and one
    stream beside a whole request."""
    out = tmp_path / "playback.json"
    bench("playback_bench.py", "--quick", "--out", str(out))
    report = json.loads(out.read_text())
    beside = report["beside_whole"]
    # the scenario's shape only; the order it measures is pinned in tests/test_concurrency.py
    assert beside["whole_requests"] == 1 and beside["audio_s"] > 5 and beside["first_audio_s"] > 0 < beside["whole_max_s"]
    paths = report["paths"]
    assert set(paths) == {"http_raw", "http_sse", "queue_stream"}
    for levels in paths.values():
        assert [row["concurrency"] for row in levels] == [1, 8] and [row["requests"] for row in levels] == [1, 2]
        assert all(row["audio_s"] > 5 and row["first_audio_p50_s"] > 0 for row in levels)


def test_normalize_benchmark_quick_mode(tmp_path):
    """bench/normalize_bench.py --quick: every text timed, per 1,000 characters."""
    out = tmp_path / "normalize.json"
    bench("normalize_bench.py", "--quick", "--out", str(out), timeout=300)
    rows = json.loads(out.read_text())["results"]
    assert [row["language"] for row in rows] == ["auto", "en", "en", "zh"]
    assert all(row["chars"] > 1000 and row["repeats"] == 3 and row["ms_per_1k_chars_p50"] > 0 for row in rows)


def test_startup_benchmark_compares_trees(tiny_model_dir, tmp_path):
    """bench/startup_bench.py on the host: this tree against a second tree (here the same one), one run each."""
    out = tmp_path / "startup.json"
    result = bench("startup_bench.py", "--model-dir", str(tiny_model_dir), "--runs", "1", "--tree", f"again={ROOT}",
                   "--out", str(out), timeout=600)
    report = json.loads(out.read_text())
    assert set(report["trees"]) == {"this tree", "again"}
    for tree in report["trees"].values():
        assert {"versions", "manifest", "model", "voices", "steps_total", "wall_s"} <= set(tree)
        assert tree["model"]["median"] > 0 and tree["wall_s"]["median"] >= tree["steps_total"]["median"]
    assert "| steps_total |" in result.stdout


def test_the_simulated_player_counts_only_the_time_it_has_nothing_to_play():
    sys.path.insert(0, str(ROOT / "bench"))
    from harness import playback

    # starts at 1.0 with 2 s of audio: plays to 3.0; at 2.5, 4 s in all: plays to 5.0; the rest comes at 7.0
    assert playback([(1.0, 2.0), (2.5, 4.0), (7.0, 6.0)]) == {"first_audio_s": 1.0, "stalled_s": 2.0, "stalls": 1,
                                                               "audio_s": 6.0}
    # audio always ahead of the player: never a stall
    assert playback([(0.5, 3.0), (2.0, 6.0), (4.0, 9.0)])["stalled_s"] == 0.0
