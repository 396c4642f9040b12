"""A request's text as the model will speak it: normalised, soundless characters left out, cut into
chunks. With timestamps, the text is cut into its sentences first (as the caller wrote them), each
sentence normalised and chunked on its own (never packed with the next one), so every sentence's
audio starts and ends where its chunks join their neighbours: exact by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from handler import speakable
from handler.batching import STREAM_CHUNK_GROWTH
from handler.errors import InputError
from handler.text_chunks import chunk_text, grown, normalize_text
from handler.text_normalize import normalize_for_speech, read_markup

# a sentence ends at . ! ? … (then a space) or a full-width stop; not after these abbreviations
_SENTENCE_END = re.compile(r"(?<=[.!?…])(?P<close>[\"'”’)\]]*)\s+|(?<=[。！？])(?P<full_width>)")
_NOT_AN_END = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|St|Mt|Jr|Sr|vs|etc|approx|No|e\.g|i\.e)|\b[A-Z])\.[\"'”’)\]]*$")
# an item's number in a list ("1. Open the box."): it starts the sentence that follows, never one of its own
_LIST_NUMBER = re.compile(r"(?:^|\s)[0-9]{1,3}[.)]$")


@dataclass(frozen=True)
class Sentence:
    written: str  # as the caller wrote it
    spoken: str  # as it is spoken
    first_chunk: int
    last_chunk: int


@dataclass(frozen=True)
class Script:
    text: str  # all of it, as spoken
    dropped: tuple[str, ...]  # characters left out: soundless, and not in the model's vocabulary
    chunks: list[str]
    sentences: tuple[Sentence, ...] = ()  # with timestamps only


def split_sentences(text: str) -> list[str]:
    """The caller's sentences, whitespace folded, each as written (joined with spaces they give the
    text back, less its spacing)."""
    text = normalize_text(text)
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end("close") if match.group("close") is not None else match.end("full_width")
        candidate = text[start:end]  # closing quotes and brackets stay with their sentence
        if _NOT_AN_END.search(candidate) or _LIST_NUMBER.search(candidate.strip()) or not candidate.strip():
            continue
        sentences.append(candidate.strip())
        start = match.end()
    if text[start:].strip():
        sentences.append(text[start:].strip())
    return sentences


def normalized(text: str, off: frozenset[str] | None = frozenset()) -> str:
    """The text as it will be spoken: markup, links, numbers and symbols as words, except the families
    in `off` (None: no rule at all), then whitespace folded. Folded after, not before: the markdown
    rules read lines (a heading, a list item) and need the caller's newlines."""
    return normalize_text(text if off is None else normalize_for_speech(text, off=off))


def speakable_text(backend, text: str) -> tuple[str, tuple[str, ...]]:
    """The text without the soundless characters the model cannot speak (emoji, ...), and those
    characters; InputError naming them when letters or digits of another script remain."""
    unknown = backend.unknown_characters(text)
    refused = [token for token in unknown if not speakable.soundless(token)]
    if refused:
        raise InputError(f"text contains characters the model cannot speak: {speakable.describe(refused)}; "
                         "remove or spell them out", field="text")
    dropped = tuple(sorted(set(unknown)))
    return (speakable.without(text, set(dropped)) if dropped else text), dropped


def prepare_script(backend, voice, text: str, *, speed: float, off: frozenset[str] | None, first_chunk_s: float | None,
                   timestamps: bool) -> Script:
    """`off`: the normaliser's families switched off (None: no normalisation). `first_chunk_s`: a
    stream's short first chunk (None: the model's chunks from the start)."""
    budget = backend.text_budget(voice, speed)
    first = backend.text_budget(voice, speed, first_chunk_s) if first_chunk_s else None
    if not timestamps:
        spoken, dropped = speakable_text(backend, normalized(text, off))
        _require_words(spoken, dropped)
        chunks = chunk_text(spoken, budget, first_max_bytes=first, min_rest_bytes=backend.shortest_chunk_bytes,
                            growth=STREAM_CHUNK_GROWTH if first else None)
        return Script(spoken, dropped, chunks)
    chunks, sentences, dropped = [], [], set()
    limit = first  # a stream's chunks grow across its sentences as within one text
    # markup read first, on the whole text: its lines (headings, list items) end as sentences, and the
    # subtitles show the words, not the asterisks
    for written in split_sentences(text if off is None else read_markup(text, off)):
        spoken, left_out = speakable_text(backend, normalized(written, off))
        dropped.update(left_out)
        if not _has_words(spoken):
            continue  # nothing to say here (an emoji and its full stop): no sentence, no time
        own = chunk_text(spoken, budget, first_max_bytes=limit, min_rest_bytes=backend.shortest_chunk_bytes,
                         growth=STREAM_CHUNK_GROWTH if limit else None)
        sentences.append(Sentence(written, spoken, len(chunks), len(chunks) + len(own) - 1))
        chunks += own
        for _ in own if limit else ():
            limit = grown(limit, STREAM_CHUNK_GROWTH)
        if limit and limit >= budget:
            limit = None
    spoken = " ".join(sentence.spoken for sentence in sentences)
    _require_words(spoken, tuple(sorted(dropped)))
    return Script(spoken, tuple(sorted(dropped)), chunks, tuple(sentences))


def _has_words(text: str) -> bool:
    return any(c.isalnum() for c in text)


def _require_words(spoken: str, dropped: tuple[str, ...]) -> None:
    if not _has_words(spoken):
        left_out = f" once {speakable.describe(list(dropped))} are left out" if dropped else ""
        raise InputError(f"text has nothing the model can speak{left_out}; send words", field="text")
