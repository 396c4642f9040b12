"""Split long text into chunks the model can speak, without losing a character.

Sentences (split after . ! ? ; : , and their CJK forms) are packed into chunks of at most
`max_bytes` UTF-8 bytes, as f5-tts does. Unlike upstream, a single sentence longer than the limit
is split further, at spaces, and as a last resort between characters, so no chunk overflows.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[;:,.!?])\s+|(?<=[；：，。！？、])")
_WHITESPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Collapse runs of whitespace (newlines, tabs) to single spaces and strip the ends."""
    return _WHITESPACE.sub(" ", text).strip()


def _byte_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _split_oversized(piece: str, max_bytes: int) -> list[str]:
    """Split one too-long sentence at spaces; split a too-long word between characters."""
    parts: list[str] = []
    current = ""
    for word in piece.split(" "):
        candidate = f"{current} {word}" if current else word
        if _byte_len(candidate) <= max_bytes:
            current = candidate
            continue
        if current:
            parts.append(current)
        current = ""
        while _byte_len(word) > max_bytes:
            cut = len(word)
            while _byte_len(word[:cut]) > max_bytes:
                cut -= 1
            parts.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        parts.append(current)
    return parts


def chunk_text(text: str, max_bytes: int) -> list[str]:
    """Chunks of at most `max_bytes` bytes each; joining them with spaces gives the text back."""
    if max_bytes < 1:
        raise ValueError("max_bytes must be positive")
    text = normalize_text(text)
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        if not sentence:
            continue
        if _byte_len(sentence) > max_bytes:
            pieces.extend(_split_oversized(sentence, max_bytes))
        else:
            pieces.append(sentence)

    chunks: list[str] = []
    current = ""
    for piece in pieces:
        # ASCII-ending pieces were separated by a space; CJK punctuation needs none
        joiner = " " if current and _byte_len(current[-1]) == 1 else ""
        candidate = current + joiner + piece
        if current and _byte_len(candidate) > max_bytes:
            chunks.append(current)
            current = piece
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks
