"""Split long text into chunks the model can speak, without losing a character.

Sentences (split after . ! ? ; : , and their CJK forms) are packed into chunks of at most
`max_bytes` UTF-8 bytes, exactly as f5-tts's `chunk_text` does. Two deliberate differences:
- a single sentence longer than the limit is split further, at spaces, and as a last resort between
  characters, so no chunk overflows (upstream lets it overflow);
- a stream may ask for a short first chunk (`first_max_bytes`): the first sentences or clauses that
  fit, so its first audio comes after a small part of the work, unless what would follow is shorter
  than `min_rest_bytes`; and for chunks that then grow, the limit of each `growth` times the one
  before (cut as the first one is: whole clauses while they fit, else a long clause at spaces) up to
  `max_bytes`, so that each chunk is made while the ones before it play, even when many streams
  share the model. The other chunks follow upstream's rule.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[;:,.!?])\s+|(?<=[；：，。！？])")  # upstream's split
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
            while cut > 1 and _byte_len(word[:cut]) > max_bytes:
                cut -= 1  # never below one character: a limit under one character's bytes must not hang
            parts.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        parts.append(current)
    return parts


def _pieces(text: str, max_bytes: int) -> list[str]:
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        if not sentence:
            continue
        if _byte_len(sentence) > max_bytes:
            pieces.extend(_split_oversized(sentence, max_bytes))
        else:
            pieces.append(sentence)
    return pieces


def _joined(current: str, piece: str) -> str:
    # ASCII-ending pieces were separated by a space; CJK punctuation needs none
    return current + (" " if current and _byte_len(current[-1]) == 1 else "") + piece


def _all_joined(pieces: list[str]) -> str:
    text = ""
    for piece in pieces:
        text = _joined(text, piece)
    return text


def _take_first(pieces: list[str], first_max_bytes: int, min_rest_bytes: int = 0) -> tuple[str, list[str]]:
    """A stream's short chunk: whole pieces while they fit, else the head of the first piece. A first
    piece under `min_rest_bytes` (the tail of a piece cut before: a word or two alone is spoken
    oddly) goes with the piece after it."""
    if len(pieces) > 1 and _byte_len(pieces[0]) < min_rest_bytes:
        pieces = [_joined(pieces[0], pieces[1]), *pieces[2:]]
    head = pieces[0]
    if _byte_len(head) > first_max_bytes:
        part = _split_oversized(head, first_max_bytes)[0]
        rest = head[len(part) :].strip()
        return part, [rest, *pieces[1:]] if rest else pieces[1:]
    taken = 1
    while taken < len(pieces) and _byte_len(_joined(head, pieces[taken])) <= first_max_bytes:
        head = _joined(head, pieces[taken])
        taken += 1
    return head, pieces[taken:]


def grown(limit: int, growth: float) -> int:
    """The next growing chunk's limit."""
    return max(limit + 1, int(limit * growth))


def chunk_text(text: str, max_bytes: int, first_max_bytes: int | None = None, min_rest_bytes: int = 0,
               growth: float | None = None) -> list[str]:
    """Chunks of at most `max_bytes` bytes each (the first at most `first_max_bytes`, when given, and
    with `growth` the limit of each next one that many times the limit before it);
    joining them with spaces gives the text back. A short chunk is cut only where what follows it is at
    least `min_rest_bytes` long: a model may speak a tiny last chunk differently (F5-TTS speaks text
    under 10 bytes slowly), and a stream must not cost its text that."""
    if max_bytes < 1 or (first_max_bytes is not None and first_max_bytes < 1):
        raise ValueError("max_bytes must be positive")
    if growth is not None and growth <= 1:
        raise ValueError("growth must be above 1")
    text = normalize_text(text)
    pieces = _pieces(text, max_bytes)
    chunks: list[str] = []
    limit = first_max_bytes
    while limit is not None and pieces and limit < max_bytes:
        head, rest = _take_first(pieces, limit, min_rest_bytes)
        if rest and _byte_len(_all_joined(rest)) < min_rest_bytes:  # as the chunks will join it
            break
        chunks.append(head)
        pieces = rest
        limit = grown(limit, growth) if growth else None
    current = ""
    for piece in pieces:
        candidate = _joined(current, piece)
        if current and _byte_len(candidate) > max_bytes:
            chunks.append(current)
            current = piece
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks
