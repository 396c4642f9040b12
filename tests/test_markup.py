"""Markup read as text (handler.markup through handler.text_normalize): markdown, SSML, HTML and
entities become the words they wrap; block elements end as sentences; nothing else changes."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handler.text_normalize import FAMILIES, _normalize, normalize_for_speech

# only the markup families on: what these tests expect is the markup's doing alone
MARKUP_ONLY = frozenset(FAMILIES) - {"markdown", "tags"}


def fold(text: str) -> str:
    """Whitespace folded as the service folds it before chunking."""
    return re.sub(r"\s+", " ", text).strip()


MARKDOWN = [
    ("**Important:** read the _docs_ first.", "Important: read the docs first."),
    ("*emphasis*, __strong__, ***both***, ~~gone~~", "emphasis, strong, both, gone"),
    ("***a* b**", "a b"),  # nested marks go in one pass
    ("# Title", "Title."),
    ("## Why it matters?", "Why it matters?"),
    ("### Heading ###", "Heading."),
    ("# Title\n- item one", "Title. item one."),
    ("- apples\n- pears\n* plums\n+ figs\n• dates", "apples. pears. plums. figs. dates."),
    ("1. Install it\n2) Run it", "1. Install it. 2. Run it."),
    ("3. **Done!**", "3. Done!"),  # the sentence already ends inside the marks
    ("- [x] Buy milk\n- [ ] Call mom", "Buy milk. Call mom."),
    ("  - nested item", "nested item."),
    ("See [the docs](https://example.com/docs \"Docs\") now.", "See the docs now."),
    ("A [reference link][docs] here.\n\n[docs]: https://example.com", "A reference link here."),
    ("![Chart of sales](chart.png)", "Chart of sales"),
    ("Open <https://example.com> or <me@example.com>.", "Open https://example.com or me@example.com."),
    ("Run `pip install x` or ``a `b` c``.", "Run pip install x or a b c."),  # a mark inside goes too
    ("> **Note:** quoted\n> twice", "Note: quoted twice"),
    (">> nested quote", "nested quote"),
    ("Above\n\n---\n\nBelow", "Above Below"),
    ("* * *", ""),
    ("Title\n=====\nText.", "Title. Text."),
    ("Subtitle\n--------", "Subtitle."),
    ("```python\ndef f():\n    return 1\n```", "def f(): return 1."),
    ("```\nunclosed fence\nstill code", "unclosed fence. still code."),
    ("| Plan | Price |\n|------|------:|\n| Basic | $5 |\n| Pro | $12 |", "Plan: Basic, Price: $5. Plan: Pro, Price: $12."),
    ("Name | Age\n--- | ---\nAnn | 30", "Name: Ann, Age: 30."),
    ("| a | b |\n|---|---|\n|  | x |", "b: x."),  # an empty cell is skipped
    ("| 名称 | 价格 |\n|---|---|\n| 苹果 | 5元 |", "名称: 苹果，价格: 5元。"),
    ("The study[1] found it.[2]", "The study found it."),
    ("A claim[^1].\n\n[^1]: The source.", "A claim. The source."),
    ("\\*not emphasis\\*", "not emphasis"),  # escapes are read as the character, and a mark is not spoken
    ("- 苹果\n- 香蕉", "苹果。 香蕉。"),
    ("1. 第一步", "1、第一步。"),
    ("1. 3个苹果", "1、3个苹果。"),  # the first letter decides, not the first character
    ("snake_case_name and 2*3*4 and a * b", "snake_case_name and 2*3*4 and a * b"),  # not emphasis
    ("*args, **kwargs", "*args, **kwargs"),
    ("#hashtag and #1", "#hashtag and #1"),  # not headings
]

TAGS = [
    ("<speak>Hello <break time='1s'/></speak>", "Hello."),
    ("<speak>Hello <break time=\"200ms\"/> world</speak>", "Hello, world"),
    ("Wait<break strength='strong'/>now", "Wait. now"),
    ("Wait<break strength='none'/>now", "Wait now"),
    ("Done.<break time='2s'/>Next", "Done. Next"),
    ("<break/>Start", "Start"),
    ("你好<break time='1s'/>世界", "你好。 世界"),
    ("<p>Hello&nbsp;world &amp; friends.</p><p>Second<br>line</p>", "Hello world & friends. Second. line."),
    ("<b>bold</b> <i>it</i> <a href=\"https://x.org\">link</a>", "bold it link"),
    ("<sub alias=\"World Wide Web\">WWW</sub>", "World Wide Web"),
    ("<say-as interpret-as=\"characters\">ABC</say-as>", "A B C"),
    ("<emphasis level=\"strong\">Acme</emphasis> <prosody rate=\"slow\">slowly</prosody>", "Acme slowly"),
    ("<script>alert(1)</script>Safe<style>p{}</style> <!-- hidden -->text", "Safe text"),
    ("&lt;b&gt;bold&lt;/b&gt;", "bold"),  # encoded tags are read once decoded, in one call
    ("&amp;amp; &#38; &#x26; &hellip;", "& & & …"),
    ("&unknown; &amp;unknown;", "&unknown; &unknown;"),
    ("x<y and y>z, 3 < 5 > 2, <3, <foo>", "x<y and y>z, 3 < 5 > 2, <3, <foo>"),  # not tags
    ("a&shy;b&#8203;c", "abc"),
    # one pause where block tags meet, not one per tag ("Fast shipping. . Free returns. ." before)
    ("<ul><li>Fast shipping</li><li>Free returns</li></ul>", "Fast shipping. Free returns."),
    ("<h2>Summary</h2>\n<p>Sales rose.</p>", "Summary. Sales rose."),
]


@pytest.mark.parametrize(("text", "spoken"), MARKDOWN)
def test_markdown_is_read_as_its_text(text, spoken):
    assert fold(normalize_for_speech(text, off=MARKUP_ONLY)) == spoken


@pytest.mark.parametrize(("text", "spoken"), TAGS)
def test_tags_and_entities_are_read_as_their_text(text, spoken):
    assert fold(normalize_for_speech(text, off=MARKUP_ONLY)) == spoken


def test_markdown_and_tags_switch_off_apart():
    text = "**bold** &amp; <b>tag</b>"
    assert normalize_for_speech(text, off=MARKUP_ONLY | {"tags"}) == "bold &amp; <b>tag</b>"
    assert normalize_for_speech(text, off=MARKUP_ONLY | {"markdown"}) == "**bold** & tag"
    assert normalize_for_speech(text, off=frozenset(FAMILIES)) == text


# --- properties: a generated document reads as its words, in order, with no mark left -------------
WORDS = st.sampled_from(["alpha", "beta", "gamma", "delta", "omega", "Kappa", "sigma", "theta"])
PHRASE = st.lists(WORDS, min_size=1, max_size=4)
EMPHASIS = st.sampled_from(["*", "**", "***", "_", "__", "~~"])
# markup's own characters: none may be left once the document is read
MARKS = re.compile(r"[*_`#|<>\[\]~\\]|&[a-z]+;|&#[0-9]+;")


@st.composite
def inline(draw):
    """(markdown, its words): plain words, emphasis, code, a link, an image, a tag, an entity-joined pair."""
    words = draw(PHRASE)
    kind = draw(st.sampled_from(["plain", "emphasis", "code", "link", "image", "tag", "autolink", "escape"]))
    text = " ".join(words)
    if kind == "emphasis":
        mark = draw(EMPHASIS)
        return f"{mark}{text}{mark}", words
    if kind == "code":
        return f"`{text}`", words
    if kind == "link":
        return f"[{text}](https://example.com/{words[0]})", words
    if kind == "image":
        return f"![{text}](img/{words[0]}.png)", words
    if kind == "tag":
        tag = draw(st.sampled_from(["b", "i", "em", "strong", "span", "emphasis", "prosody"]))
        return f"<{tag}>{text}</{tag}>", words
    if kind == "autolink":
        return f"<https://{words[0].lower()}.org>", None  # read by the link rules later, not here
    if kind == "escape":
        return f"\\*{text}\\*", words
    return text, words


@st.composite
def block(draw):
    """(markdown, its words) for one block: a paragraph, heading, list, quote, table, code block or rule."""
    parts = draw(st.lists(inline(), min_size=1, max_size=3))
    parts = [(t, w) for t, w in parts if w is not None] or [("plain", ["plain"])]
    line = " ".join(t for t, _ in parts)
    words = [w for _, ws in parts for w in ws]
    kind = draw(st.sampled_from(["paragraph", "heading", "bullets", "numbered", "quote", "table", "code", "rule",
                                 "setext", "html", "ssml"]))
    if kind == "heading":
        return f"{'#' * draw(st.integers(1, 6))} {line}", words
    if kind == "bullets":
        items = draw(st.lists(PHRASE, min_size=1, max_size=3))
        marker = draw(st.sampled_from(["-", "*", "+", "•"]))
        return "\n".join(f"{marker} {' '.join(i)}" for i in items), [w for i in items for w in i]
    if kind == "numbered":
        items = draw(st.lists(PHRASE, min_size=1, max_size=3))
        return "\n".join(f"{n}. {' '.join(i)}" for n, i in enumerate(items, 1)), None
    if kind == "quote":
        return "\n".join(f"> {t}" for t, _ in parts), words
    if kind == "table":
        header = draw(st.lists(WORDS, min_size=2, max_size=3, unique=True))
        rows = draw(st.lists(st.lists(WORDS, min_size=len(header), max_size=len(header)), min_size=1, max_size=3))
        text = "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                         + ["| " + " | ".join(r) + " |" for r in rows])
        expected = [w for r in rows for h, c in zip(header, r, strict=True) for w in ((c,) if h == c else (h, c))]
        return text, expected
    if kind == "code":
        return "```text\n" + "\n".join(" ".join(w) for w in [words]) + "\n```", words
    if kind == "rule":
        return draw(st.sampled_from(["---", "***", "___", "* * *"])), []
    if kind == "setext":
        return f"{' '.join(words)}\n{draw(st.sampled_from(['===', '---']))}", words
    if kind == "html":
        return f"<p>{line}</p>", words
    if kind == "ssml":
        return f"<speak>{line}<break time='{draw(st.integers(0, 2000))}ms'/></speak>", words
    return line, words


DOCUMENTS = st.lists(block(), min_size=1, max_size=5)


@settings(max_examples=600, deadline=None)
@given(DOCUMENTS, st.sampled_from(["\n\n", "\n"]))
def test_a_markdown_document_reads_as_its_words_in_order(blocks, gap):
    text = gap.join(t for t, _ in blocks)
    spoken = normalize_for_speech(text, "en", off=MARKUP_ONLY)
    assert not MARKS.search(spoken), (text, spoken)
    if all(w is not None for _, w in blocks) and gap == "\n\n":
        expected = [w for _, ws in blocks for w in ws]
        assert re.findall(r"[A-Za-z]+", spoken) == expected, (text, spoken)


@settings(max_examples=600, deadline=None)
@given(DOCUMENTS)
def test_each_block_ends_as_a_sentence(blocks):
    """Headings, list items, table rows and code lines end with punctuation: folded into one line,
    they are still heard apart."""
    for text, words in blocks:
        if not words or not re.match(r"#{1,6} |[-*+•] |[0-9]+\. |\||```", text):
            continue
        spoken = fold(normalize_for_speech(text, "en", off=MARKUP_ONLY))
        assert spoken[-1:] in ".!?:", (text, spoken)


@settings(max_examples=400, deadline=None)
@given(DOCUMENTS.map(lambda bs: "\n\n".join(t for t, _ in bs)), st.sampled_from(["en", "auto", "zh"]))
def test_markup_is_read_at_once(text, language):
    once = _normalize(text, language)
    assert _normalize(once, language) == once, (text, once)
