"""Issue 20's corpus (tests/data/normalize_corpus.tsv): real-world-style text, in English and
Chinese, and what a speaker says for it. Each line is its own test, named by its line number, and
compares normalize_for_speech's output, whitespace folded as the service folds it, with the line's
expectation. The file's header says the format."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pytest

from handler.text_normalize import normalize_for_speech

CORPUS = Path(__file__).resolve().parent / "data" / "normalize_corpus.tsv"
LANGUAGES = {"en", "zh", "auto"}


class Case(NamedTuple):
    line: int
    language: str
    text: str
    expected: str


def load(path: Path = CORPUS) -> list[Case]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        assert len(fields) == 3, f"line {number}: want language<TAB>input<TAB>expected, got {len(fields)} fields"
        language, text, expected = fields
        assert language in LANGUAGES, f"line {number}: unknown language {language!r}"
        cases.append(Case(number, language, text.replace("\\n", "\n"), expected))
    return cases


CASES = load()


def fold(text: str) -> str:
    """Whitespace folded as the service folds it after normalising."""
    return " ".join(text.split())


def test_the_corpus_is_large_and_covers_both_languages():
    assert len(CASES) >= 300
    languages = {case.language for case in CASES}
    assert {"en", "zh"} <= languages
    assert sum(case.language == "zh" for case in CASES) >= 50
    assert len({(case.language, case.text) for case in CASES}) == len(CASES), "a case is listed twice"
    assert any("\n" in case.text for case in CASES)  # multi-line markdown is in it


@pytest.mark.parametrize("case", CASES, ids=[f"line{case.line}" for case in CASES])
def test_corpus_case(case: Case):
    spoken = fold(normalize_for_speech(case.text, case.language))
    assert spoken == case.expected
    if case.language == "en":
        assert not re.search("[0-9]", spoken), "an English reading keeps an ASCII digit"
