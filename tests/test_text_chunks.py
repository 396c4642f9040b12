from hypothesis import example, given, settings
from hypothesis import strategies as st

from handler.text_chunks import chunk_text, normalize_text


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def test_short_text_is_one_chunk():
    assert chunk_text("Hello there. How are you?", 100) == ["Hello there. How are you?"]


def test_sentences_are_packed_up_to_the_limit():
    text = "One two three. Four five six. Seven eight nine. Ten eleven twelve."
    chunks = chunk_text(text, 32)
    assert chunks == ["One two three. Four five six.", "Seven eight nine.", "Ten eleven twelve."]


def test_a_sentence_longer_than_the_limit_is_split_at_spaces():
    text = "word " * 40
    chunks = chunk_text(text, 30)
    assert all(_bytes(c) <= 30 for c in chunks)
    assert " ".join(chunks) == normalize_text(text)


def test_a_word_longer_than_the_limit_is_split_between_characters():
    chunks = chunk_text("a" * 25 + " b", 10)
    assert chunks == ["a" * 10, "a" * 10, "a" * 5 + " b"]


def test_chinese_splits_after_full_width_punctuation_without_spaces():
    text = "对，这就是我，万人敬仰的太乙真人。我今天很高兴。"
    chunks = chunk_text(text, 24)
    assert all(_bytes(c) <= 24 for c in chunks)
    assert "".join(chunks) == text


def test_multibyte_characters_never_split_inside_a_character():
    chunks = chunk_text("é" * 15, 7)  # 2 bytes each
    assert all(_bytes(c) <= 7 for c in chunks)
    assert "".join(chunks) == "é" * 15


def test_whitespace_is_normalised():
    assert chunk_text("  Hello\n\tworld.  ", 100) == ["Hello world."]


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=400), st.integers(min_value=4, max_value=200))
def test_no_chunk_overflows_and_no_character_is_lost(text, limit):
    chunks = chunk_text(text, limit)
    assert all(0 < _bytes(c) <= limit for c in chunks)
    # every non-space character survives, in order
    assert "".join("".join(chunks).split()) == "".join(normalize_text(text).split())


def test_a_streams_short_first_chunk_never_leaves_a_tiny_rest():
    """F5-TTS speaks text under 10 bytes at speed 0.3: a cut for a stream's short first chunk must not
    leave such a tail alone (it made "Hello from a stored voice." three times longer as a stream)."""
    text = "Hello from a stored voice."
    assert chunk_text(text, 200, first_max_bytes=20) == ["Hello from a stored", "voice."]  # without the rule
    assert chunk_text(text, 200, first_max_bytes=20, min_rest_bytes=10) == [text]
    long = "Hello from a stored voice, and then a good deal more to say."
    assert chunk_text(long, 200, first_max_bytes=20, min_rest_bytes=10)[0] == "Hello from a stored"


@settings(max_examples=300, deadline=None)
@example("00000\u08000？\u0800", 8, 8)  # the rest is measured as its chunks join it: no space after "？"
@given(st.text(min_size=1, max_size=300), st.integers(min_value=4, max_value=40), st.integers(min_value=0, max_value=20))
def test_with_a_first_chunk_nothing_is_lost_and_no_rest_is_too_short(text, first, min_rest):
    chunks = chunk_text(text, 120, first_max_bytes=first, min_rest_bytes=min_rest)
    assert "".join("".join(chunks).split()) == "".join(normalize_text(text).split())
    assert all(0 < _bytes(c) <= 120 for c in chunks)
    if len(chunks) > 1 and _bytes(chunks[0]) <= first:  # a first chunk was cut: what follows is long enough
        assert _bytes(" ".join(chunks[1:])) >= min_rest


TEXT_OF_A_STREAM = ("The first sentence is short. The second one follows it, and it is somewhat longer than the first one "
                    "was. The third sentence goes on for a while, with clauses, commas, and a few more words to fill it. "
                    "The fourth and last sentence closes it, and a listener should hear every word.")


def test_a_streams_chunks_grow_from_the_short_first_one_up_to_the_limit():
    chunks = chunk_text(TEXT_OF_A_STREAM, 174, first_max_bytes=30, min_rest_bytes=10, growth=1.5)
    assert [_bytes(c) for c in chunks] == [28, 26, 49, 94, 78]  # limits 30, 45, 67, 100, then upstream's 174
    assert " ".join(chunks) == TEXT_OF_A_STREAM
    assert all(c.endswith((".", ",")) for c in chunks)  # here every cut falls at a clause end
    # without growth only the first is short, the rest is packed by upstream's rule
    assert [_bytes(c) for c in chunk_text(TEXT_OF_A_STREAM, 174, first_max_bytes=30, min_rest_bytes=10)] == [28, 171, 78]
    # a long clause beyond a chunk's limit is cut at spaces, so a short chunk is never followed by a long one
    short_then_long = "Hello there, friend. " + "A sentence with no commas that goes on and on for quite a while " * 2
    sizes = [_bytes(c) for c in chunk_text(short_then_long, 300, first_max_bytes=45, min_rest_bytes=10, growth=1.5)]
    assert sizes[0] == 20 and sizes[1] <= 67  # its limit, 45 * 1.5; the whole sentence (128) before


@settings(max_examples=400, deadline=None)
@given(st.text(min_size=1, max_size=400), st.integers(min_value=4, max_value=40), st.sampled_from([1.5, 2.0, 3.0]),
       st.integers(min_value=0, max_value=20))
def test_growing_chunks_lose_nothing_and_stay_within_their_growing_limits(text, first, growth, min_rest):
    chunks = chunk_text(text, 120, first_max_bytes=first, min_rest_bytes=min_rest, growth=growth)
    assert "".join("".join(chunks).split()) == "".join(normalize_text(text).split())
    assert all(0 < _bytes(c) <= 120 for c in chunks)
    limit = first
    for chunk in chunks:
        # within its limit, or (a cut refused because the rest would be under min_rest) with that rest
        assert _bytes(chunk) <= limit + min_rest, (chunks, limit)
        limit = max(limit + 1, int(limit * growth))
