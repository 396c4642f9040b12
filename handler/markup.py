"""Markup read as text: markdown, SSML and HTML become the words they wrap, before the speech rules.

Language models answer in markdown and some callers send SSML or HTML. The model would speak the
asterisks, hashes and pipes (they are in its vocabulary) or trip on the angle brackets, so each
construct is replaced by what a person reading it aloud would say:

- emphasis, strike-through, code spans and links lose their marks (`[text](url)` is its text,
  `![alt](src)` its alt text, `<https://x.org>` its address, read later by the link rules);
- headings, list items, table rows and code lines are lines of their own: each ends as a
  sentence (a period, or 。 after Chinese) so that, once the lines are folded into one, the
  listener still hears where one ended; numbered items keep their number ("1. Install.");
- a table is read row by row, each cell with its column's name: "Plan: Basic, Price: $5.";
- block quotes, horizontal rules, fences, reference definitions and citation marks ("[1]") go;
- SSML and HTML tags go and their text stays; `<break>` becomes a pause (a comma, or a sentence
  end for a strong or long one), a block tag (`<p>`, `<br>`, `<li>`, ...) ends a sentence,
  `<sub alias="...">` is read as its alias and `<say-as interpret-as="characters">` letter by letter;
  `<script>`, `<style>` and comments go with their content;
- HTML entities are decoded (`&amp;` is `&`, `&nbsp;` a space), also when encoded twice.

Each rule is (name, family, pattern, replacement), as in handler.text_normalize, which applies them
with the same per-match safety net and lets a caller switch the families ("markdown", "tags") off.
Line rules need the text's newlines: normalise before folding whitespace.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_CJK_CHAR = re.compile(rf"[{_CJK}\u3000-\u303f\uff01-\uff0f\uff1a-\uff20]")
_ENDS_SENTENCE = set(".!?:;,…。！？：；，、")
_CLOSERS = set("\"')]}”’»」』）")


def _is_cjk(ch: str) -> bool:
    return bool(_CJK_CHAR.match(ch))


def end_sentence(text: str) -> str:
    """`text`, stripped, ending as a sentence: '.' (or '。' after Chinese) unless it already ends with
    punctuation (also inside a closing quote or bracket: 'He said "go."')."""
    text = text.strip()
    core = text.rstrip("*_~`")  # "**Done!**": the marks go later, the "!" ends the sentence
    if not core:
        return text
    last = core[-1]
    if last in _ENDS_SENTENCE or (last in _CLOSERS and len(core) > 1 and core[-2] in _ENDS_SENTENCE):
        return text
    return text + ("。" if _is_cjk(last) else ".")


# the text before a position, without the tags and spaces just before it (bounded: no quadratic look-back)
_TRAILING_TAGS = re.compile(r"(?:\s|<[^<>]{0,200}>)*\Z")


def _last_visible(s: str, pos: int) -> str:
    before = s[max(0, pos - 400):pos]
    cut = _TRAILING_TAGS.search(before)
    before = before[:cut.start()] if cut else before
    return before[-1:] if before else ""


def _pause(m: re.Match, strong: bool) -> str:
    """A sentence end (strong) or a comma where a break or a block tag was, unless the text before it
    already ends with punctuation or nothing came before; a space keeps the next word apart."""
    last = _last_visible(m.string, m.start())
    if not last:
        return ""
    if last in _ENDS_SENTENCE or last in _CLOSERS:
        return " "
    if _is_cjk(last):
        return ("。" if strong else "，") + " "
    return ("." if strong else ",") + " "


# --- tags: SSML, HTML and entities --------------------------------------------------------------
_ENTITY = re.compile(r"&(?:amp;)*(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_INVISIBLE = {"\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}


def _entity(m: re.Match) -> str:
    written = f"&{m[1]};"
    char = html.unescape(written)
    if char == written:  # not an entity html knows: "&amp;foo;" is the text "&foo;"
        return written
    if char in _INVISIBLE:
        return ""
    return " " if char.isspace() else char


_BREAK_TIME = re.compile(r"""time\s*=\s*["']?\s*([0-9]*\.?[0-9]+)\s*(ms|s)\b""", re.IGNORECASE)
_BREAK_STRENGTH = re.compile(r"""strength\s*=\s*["']?\s*([a-z-]+)""", re.IGNORECASE)


def _break(m: re.Match) -> str:
    """<break time="1s"/>: 0 or strength none is no pause; 400 ms or more, strong or x-strong, a
    sentence end; anything else (the default is medium) a comma."""
    time = _BREAK_TIME.search(m[0])
    strength = _BREAK_STRENGTH.search(m[0])
    level = strength[1].lower() if strength else "medium"
    if time:
        ms = float(time[1]) * (1 if time[2].lower() == "ms" else 1000)
        if ms == 0:
            return " "
        return _pause(m, ms >= 400)
    if level == "none":
        return " "
    return _pause(m, level in ("strong", "x-strong"))


def _spell(m: re.Match) -> str:
    return " ".join(ch for ch in m[1] if not ch.isspace())


_BLOCK_TAGS = ("p|div|br|li|h[1-6]|tr|s|blockquote|section|article|header|footer|ul|ol|table|title|dt|dd|"
               "figcaption|hr|pre|paragraph|sentence")
_INLINE_TAGS = ("speak|emphasis|prosody|voice|lang|phoneme|audio|mark|w|say-as|sub|amazon:[a-z-]+|"
                "b|i|u|em|strong|span|a|code|small|big|sup|font|center|img|label|q|cite|abbr|del|ins|"
                "strike|tt|kbd|samp|var|dl|figure|html|head|body|meta|link|summary|details|main|nav|"
                "td|th|thead|tbody|tfoot|caption|time|data|bdi|bdo|wbr|ruby|rt|rp|source|picture|"
                "video|input|button|option|select|textarea|form|iframe|noscript|template|desc|"
                "par|seq|media|lexicon|metadata")
_ATTRS = r"""(?:\s+[^<>"'\s=/]+(?:\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'<>]+))?)*\s*/?"""
_PAUSE_TAG = re.compile(rf"</?(?:{_BLOCK_TAGS}|break)(?![\w:-]){_ATTRS}>", re.IGNORECASE)


def _block(m: re.Match) -> str:
    """A block tag ends a sentence, once: in "</li><li>" or "</h2>\n<p>" the first tag made the pause."""
    before = m.string[max(0, m.start() - 400):m.start()].rstrip()
    if before.endswith(">") and _PAUSE_TAG.fullmatch(before[before.rfind("<"):]):
        return " " if _last_visible(m.string, m.start()) else ""
    return _pause(m, True)


_TAG_RULES: list[tuple[str, str, re.Pattern, str | Callable[[re.Match], str]]] = [
    ("tag_entity", "tags", _ENTITY, _entity),
    ("tag_comment", "tags", re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL), ""),
    ("tag_script", "tags", re.compile(r"<(script|style)\b[^>]*>.*?(?:</\1\s*>|\Z)", re.DOTALL | re.IGNORECASE), ""),
    ("tag_sub_alias", "tags",
     re.compile(r"""<sub\b[^<>]*?\balias\s*=\s*(["'])([^"'<>]*)\1[^<>]*>[^<]*</sub\s*>""", re.IGNORECASE),
     lambda m: m[2]),
    ("tag_say_as_characters", "tags",
     re.compile(r"""<say-as\b[^<>]*?interpret-as\s*=\s*["'](?:characters|spell-out|letters|verbatim)["']"""
                r"""[^<>]*>([^<]*)</say-as\s*>""", re.IGNORECASE), _spell),
    ("tag_break", "tags", re.compile(rf"(?<![ \t])[ \t]*<break\b{_ATTRS}>(?:\s*</break\s*>)?", re.IGNORECASE), _break),
    ("tag_block", "tags", re.compile(rf"(?<![ \t])[ \t]*</?(?:{_BLOCK_TAGS})(?![\w:-]){_ATTRS}>[ \t]*", re.IGNORECASE),
     _block),
    ("tag_inline", "tags", re.compile(rf"</?(?:{_INLINE_TAGS})(?![\w:-]){_ATTRS}>", re.IGNORECASE), ""),
]


# --- markdown -----------------------------------------------------------------------------------
def _code_block(m: re.Match) -> str:
    lines = [end_sentence(line) for line in m[2].split("\n") if line.strip()]
    return "\n".join(lines)


_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _cells(row: str) -> list[str]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return [cell.strip().replace("\\|", "|").rstrip(".,;:").strip() for cell in _CELL_SPLIT.split(row)]


def _table(m: re.Match) -> str:
    """Each body row as a sentence, each cell after its column's name: 'Plan: Basic, Price: $5.'."""
    header = [h.rstrip(":").strip() for h in _cells(m[1])]
    rows = [line for line in m[3].split("\n") if line.strip()]
    spoken = []
    for line in rows or [m[1]]:
        cells = _cells(line)
        pairs = []
        for i, cell in enumerate(cells):
            if not cell:
                continue
            name = header[i] if i < len(header) and rows else ""
            pairs.append(f"{name}: {cell}" if name and name != cell else cell)
        if pairs:
            cjk = any(_is_cjk(ch) for ch in "".join(pairs))
            spoken.append(end_sentence(("，" if cjk else ", ").join(pairs)))
    return "\n".join(spoken) + ("\n" if m[0].endswith("\n") else "")


def _list_item(m: re.Match) -> str:
    text = end_sentence(m[2])
    if not m[1]:
        return text
    # the first letter decides, not the first character: "3个苹果" is a Chinese item
    first_letter = next((ch for ch in text if ch.isalpha()), "")
    return f"{m[1]}{'、' if _is_cjk(first_letter) else '. '}{text}"


_EMPHASIS = re.compile(
    r"(?<![\w*\\])(\*{1,3})(?=\S)(.{1,300}?)(?<=[^\s*\\])\1(?![\w*])"
    r"|(?<![\w_\\])(_{1,3})(?=\S)(.{1,300}?)(?<=[^\s_\\])\3(?![\w_])"
    r"|(?<![~\\])(~~)(?=[^\s~])(.{1,300}?)(?<=[^\s~\\])~~(?!~)"
)


# an emphasis spans at most 300 characters of one line: an unclosed mark costs a bounded look ahead
def _emphasis(m: re.Match) -> str:
    inner = m[2] if m[2] is not None else m[4] if m[4] is not None else m[6]
    return _EMPHASIS.sub(_emphasis, inner)  # "***a* b**": the marks inside go in the same pass


_LINK_TARGET = r"""\((?:[^()\s]|\([^()\s]*\))*(?:\s+(?:"[^"\n]*"|'[^'\n]*'))?\s*\)"""

_MARKDOWN_RULES: list[tuple[str, str, re.Pattern, str | Callable[[re.Match], str]]] = [
    ("md_code_block", "markdown",
     re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[^\n]*\n(.*?)(?:\n[ \t]{0,3}\1[`~]*[ \t]*$|\Z)", re.MULTILINE | re.DOTALL),
     _code_block),
    ("md_fence", "markdown", re.compile(r"^[ \t]{0,3}(?:`{3,}|~{3,})[^\n`]*$", re.MULTILINE), ""),
    ("md_table", "markdown",
     re.compile(r"^([^\n]*\|[^\n]*)\n([ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*)(?:\n|\Z)"
                r"((?:[^\n]*\|[^\n]*(?:\n|\Z))*)", re.MULTILINE), _table),
    ("md_setext_heading", "markdown",
     re.compile(r"^(?![ \t]*(?:[-*+>#|]|[0-9]{1,3}[.)])[ \t])([^\n]*[^\s=-])[ \t]*\n[ \t]{0,3}(?:=+|-{2,})[ \t]*$",
                re.MULTILINE), lambda m: end_sentence(m[1])),
    ("md_rule", "markdown", re.compile(r"^[ \t]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE), ""),
    ("md_heading", "markdown", re.compile(r"^[ \t]{0,3}#{1,6}(?:[ \t]+([^\n]*?))?(?:[ \t]+#+)?[ \t]*$", re.MULTILINE),
     lambda m: end_sentence(m[1] or "")),
    ("md_quote", "markdown", re.compile(r"^[ \t]{0,3}>(?:[ \t]?>)*[ \t]?", re.MULTILINE), ""),
    ("md_list_item", "markdown",
     re.compile(r"^[ \t]*(?:[-*+•‣◦▪●]|([0-9]{1,3})[.)])[ \t]+(?:\[[ xX]\][ \t]+)?(\S[^\n]*)$", re.MULTILINE),
     _list_item),
    ("md_reference", "markdown",
     re.compile(r"""^[ \t]{0,3}\[[^\]\n]+\]:[ \t]+\S+(?:[ \t]+(?:"[^"\n]*"|'[^'\n]*'|\([^)\n]*\)))?[ \t]*$""",
                re.MULTILINE), ""),
    ("md_footnote", "markdown", re.compile(r"^[ \t]{0,3}\[\^[^\]\n]+\]:[ \t]*|\[\^[^\]\s]+\]", re.MULTILINE), ""),
    ("md_image", "markdown", re.compile(rf"!\[([^\]\n]*)\]{_LINK_TARGET}"), lambda m: m[1]),
    ("md_link", "markdown", re.compile(rf"\[([^\]\n]+)\](?:{_LINK_TARGET}|\[[^\]\n]*\])"), lambda m: m[1]),
    ("md_citation", "markdown", re.compile(r"(?<=\S)[ \t]?\[[0-9]{1,3}(?:,[ \t]?[0-9]{1,3})*\]"), ""),
    ("md_autolink", "markdown",
     re.compile(r"<(?:mailto:)?((?:https?|ftp)://[^\s<>]+|[^\s<>@]+@[^\s<>@]+\.[A-Za-z]{2,})>"), lambda m: m[1]),
    ("md_code_span", "markdown", re.compile(r"(?<!`)(`+)(?!`)([^\n]*?[^`\n])\1(?!`)"), lambda m: m[2].strip()),
    ("md_emphasis", "markdown", _EMPHASIS, _emphasis),
    ("md_escape", "markdown", re.compile(r"\\([!-/:-@\[-`{-~])"), lambda m: m[1]),
]

# entities first: "&lt;b&gt;" is a tag once decoded, and an encoded "&#42;" a mark
RULES = _TAG_RULES + _MARKDOWN_RULES
