"""What becomes of characters the model cannot speak (those not in its vocabulary).

Symbols, punctuation and marks (emoji and their joiners and variation selectors, pictographs, dingbats,
unusual quotes and dashes, private-use characters) carry no sound: they are dropped from the text and
reported, so one emoji never costs a reply its audio. Letters and digits of a script the model cannot
speak (Arabic or Devanagari with the English/Chinese base model, say) are a reason to refuse: leaving
them out would change what is said. The text normaliser runs first and names what has a usual word
(`&`, `%`, units, ...), so only what has none reaches this rule.
"""

from __future__ import annotations

import re
import unicodedata

_SOUNDLESS = ("S", "P", "Z", "C", "M")  # symbol, punctuation, separator, other (format, private use), mark
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_STOP = re.compile(r"\s+([.,!?;:。，！？；：])")


def soundless(token: str) -> bool:
    """A single character of no sound of its own (the model's tokens may be longer: pinyin syllables)."""
    return len(token) == 1 and unicodedata.category(token)[0] in _SOUNDLESS


def describe(characters: list[str], most: int = 10) -> str:
    """`'😀' (U+1F600), ...`: what a caller can find in their text."""
    return ", ".join(f"{c!r} (U+{ord(c[0]):04X})" if len(c) == 1 else repr(c) for c in characters[:most])


def without(text: str, characters: set[str]) -> str:
    """The text with these characters removed, spaces folded again (none left before a stop where an
    emoji stood: "soon 👋." becomes "soon.")."""
    kept = "".join(c for c in text if c not in characters)
    return _SPACE_BEFORE_STOP.sub(r"\1", _SPACES.sub(" ", kept)).strip()
