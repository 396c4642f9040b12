"""How long text normalisation takes: handler.text_normalize.normalize_for_speech, in milliseconds
per 1,000 characters of input, on four kinds of text.

    python bench/normalize_bench.py                          # 30 timed calls per text
    python bench/normalize_bench.py --repeats 100 --out bench/normalize_cpu.json
    python bench/normalize_bench.py --quick                  # 3 timed calls per text: a smoke run

The texts: (a) every input of issue 20's corpus (tests/data/normalize_corpus.tsv) joined into one
text, language "auto" (English and Chinese lines, so the language split runs too); (b) a long
language-model reply in markdown (headings, lists, a table, links, code, emphasis, numbers);
(c) number-heavy English (money, dates, times, units, phone numbers, scores); (d) Chinese text
with numbers, dates, percentages, units and money. Each text is normalised once untimed (the
rules' quick tests and regular expressions are compiled at import, but the first call also warms
caches), then `--repeats` times, each call timed alone; the table gives the median and the 95th
percentile per 1,000 characters, and the median of one call. Only the standard library and the
normaliser are imported: no model, no torch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from harness import ROOT, percentile, table, utc_stamp, write_json

CORPUS = ROOT / "tests" / "data" / "normalize_corpus.tsv"


def corpus_text() -> str:
    """The corpus's inputs, newlines restored, one paragraph each."""
    inputs = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            inputs.append(line.split("\t")[1].replace("\\n", "\n"))
    return "\n\n".join(inputs)


def markdown_reply() -> str:
    """A long answer as a language model writes one: about 9,000 characters of markdown."""
    section = """## {n}. Choosing a plan for **{name}**

Great question! 😊 Here's what I'd recommend for a team of {team} people, based on the numbers you shared:

- **Budget:** about ${budget}k a year, or roughly ${monthly}/mo per seat
- **Storage:** {storage} GB today, growing ~{growth}% per quarter
- *Latency* matters most: keep p95 under {latency} ms
- See the [pricing page](https://example.com/pricing?plan={n}) or email sales@example.com

| Plan | Price | Storage | Support |
|------|-------|---------|---------|
| Basic | $5/mo | 50 GB | e-mail |
| Pro | $12/mo | 1 TB | 24/7 phone |
| Enterprise | $1.2M/yr | unlimited | dedicated |

> **Note:** prices changed on Jan. 1, 2026; the old rates ended 2025-12-31.

1. Run `pip install acme-cli` (version 2.4.1 or later).
2. Call `acme login` and paste your API key.
3. Expect the first sync to take 10-15 minutes for ~{storage} GB.

In short: the Pro plan is about 3x cheaper than Enterprise, and ~~Basic~~ won't fit {team} users.
"""
    names = ["Acme Robotics", "Northwind", "Globex", "Initech", "Umbrella Labs", "Hooli", "Stark Industries",
             "Wayne Enterprises", "Cyberdyne", "Soylent"]
    parts = ["# Your options, compared\n\nHere is a detailed breakdown of each option.\n"]
    for i, name in enumerate(names, 1):
        parts.append(section.format(n=i, name=name, team=5 * i + 3, budget=12 * i, monthly=8 + i,
                                    storage=250 * i, growth=3 + i % 4, latency=100 + 20 * i))
    parts.append("---\n\nLet me know if you'd like me to compare any of these in more detail! 🚀\n")
    return "\n".join(parts)


def number_heavy() -> str:
    """English where nearly every word is a number of some kind: about 8,000 characters."""
    rows = []
    for i in range(1, 41):
        rows.append(
            f"On {(i % 12) + 1}/{(i % 27) + 1}/20{10 + i % 16} at {(i % 12) + 1}:{(7 * i) % 60:02d} p.m., "
            f"store #{i} sold {i * 37:,} units for ${i * 1234.5:,.2f} (up {i % 9}.{i % 10}% on Q{i % 4 + 1} "
            f"{1990 + i}), shipped {i * 3} kg over {i * 12} km at {40 + i} mph; call +1 (555) 01{i:02d}-{1000 + i}, "
            f"score {i % 7}-{i % 5}, ratio {i % 9 + 1}:{i % 4 + 1}, {i}th of {i * 10}, €{i}.{i % 10}M.")
    return "\n".join(rows)


def chinese() -> str:
    """Chinese with numbers, dates, percentages, units and money: about 4,000 characters."""
    rows = []
    for i in range(1, 41):
        rows.append(
            f"{2000 + i}年{(i % 12) + 1}月{(i % 28) + 1}日{(i % 24)}:{(7 * i) % 60:02d}，第{i}家门店售出{i * 37}件商品，"
            f"收入¥{i * 1234.5:.1f}，同比增长{i % 9}.{i % 10}%，运输{i * 3}kg，距离{i * 12}km，"
            f"气温{i % 30}℃，请拨打138{i:04d}{5000 + i}联系我们，比分{i % 7}:{i % 5}，有{i % 9 + 1}/{i % 9 + 2}的人同意。")
    return "\n".join(rows)


def measure(text: str, language: str, repeats: int) -> list[float]:
    from handler.text_normalize import normalize_for_speech

    normalize_for_speech(text, language)  # untimed warm-up
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        normalize_for_speech(text, language)
        seconds.append(time.perf_counter() - began)
    return seconds


def this_machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per text (default 30)")
    parser.add_argument("--quick", action="store_true", help="3 timed calls per text: checks the script runs")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    texts = {
        "corpus (joined, auto)": (corpus_text(), "auto"),
        "LLM markdown reply (en)": (markdown_reply(), "en"),
        "number-heavy (en)": (number_heavy(), "en"),
        "Chinese (zh)": (chinese(), "zh"),
    }
    results = []
    for name, (text, language) in texts.items():
        seconds = measure(text, language, repeats)
        per_1k = [s / len(text) * 1e6 for s in seconds]  # ms per 1,000 characters
        results.append({
            "text": name, "language": language, "chars": len(text), "repeats": repeats,
            "call_ms_p50": round(statistics.median(seconds) * 1e3, 3),
            "ms_per_1k_chars_p50": round(statistics.median(per_1k), 3),
            "ms_per_1k_chars_p95": round(percentile(per_1k, 95), 3),
            "chars_per_s_p50": round(len(text) / statistics.median(seconds)),
        })
    report = {
        "date": utc_stamp(),
        "machine": this_machine(),
        "command": "python bench/normalize_bench.py " + " ".join(sys.argv[1:]),
        "results": results,
    }
    print(table(["text", "chars", "calls", "one call, ms (p50)", "ms / 1k chars (p50)", "ms / 1k chars (p95)"],
                [[r["text"], r["chars"], r["repeats"], r["call_ms_p50"], r["ms_per_1k_chars_p50"],
                  r["ms_per_1k_chars_p95"]] for r in results]))
    print(json.dumps({k: report[k] for k in ("date", "machine", "command")}, indent=2))
    write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
