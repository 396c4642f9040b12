"""Spoken forms for numbers, symbols, dates and abbreviations, before F5-TTS reads a text.

F5-TTS speaks the characters it is given: "$5", "3.5%", "2026-11-25" or "Dr." come out skipped
or garbled. `normalize_for_speech` rewrites them as words: num2words for English, cn2an for
Chinese numerals. Only what a rule recognises changes; every other character, whitespace and
punctuation included, comes back byte for byte, and no input makes it raise.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

import cn2an
from num2words import num2words

# --- shared pieces ----------------------------------------------------------------------------
# ASCII digits only: `\d` would also match Devanagari or Arabic-Indic digits, which we leave alone.
_INT = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)"  # 1,234,567 or 1234567
_NUM = rf"(?:{_INT}(?:\.[0-9]+)?|\.[0-9]+)"
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_CJK_TEXT = re.compile(rf"[{_CJK}]")
_CJK_SCRIPT = re.compile(rf"[{_CJK}\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]")

_Sub = Callable[[re.Match], str]
# matched at a position, not on a slice: a slice per match would make long texts quadratic
_SENTENCE_GOES_ON = re.compile(r"\s*$|\s+[A-Z]")
_NAME_FOLLOWS = re.compile(r"\s+[A-Z]")


def _safe(fn: _Sub) -> _Sub:
    """A rule that fails on some odd match leaves that match as written, instead of raising."""

    def wrapped(m: re.Match) -> str:
        try:
            return fn(m)
        except Exception:  # noqa: BLE001 - num2words, cn2an and datetime raise many types
            return m.group(0)

    return wrapped


def _keeps_period(m: re.Match) -> bool:
    """An abbreviation's period that also ends a sentence must survive its expansion."""
    return _SENTENCE_GOES_ON.match(m.string, m.end()) is not None


# --- English ----------------------------------------------------------------------------------
_DIGITS_EN = "zero one two three four five six seven eight nine".split()
_MONTHS = ("January February March April May June July August September October November "
           "December").split()
_MONTH = "|".join(_MONTHS)
_CURRENCY_EN = {  # symbol: (unit, units, subunit, subunits); yen has no subunit in speech
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", None, None),
}
_SCALES = {"k": "thousand", "m": "million", "b": "billion", "bn": "billion"}
_YEAR_CUES = {"in", "since", "from", "until", "till", "by", "before", "after", "during", "of",
              "year", "circa", "around", "between", "and", "to", "early", "late", "mid"}
_YEAR_VERBS = re.compile(r"\s+(?:was|is|will|saw|had|has|brought)\b|\s*(?:BC|AD|BCE|CE)\b")
_FRACTIONS = {"1/2": "one half", "1/3": "one third", "2/3": "two thirds", "1/4": "one quarter",
              "3/4": "three quarters"}


def _cardinal(n: int) -> str:
    # num2words puts commas in big numbers; the chunker splits sentences at commas.
    return num2words(n).replace(",", "")


def _digits_en(s: str) -> str:
    return " ".join(_DIGITS_EN[int(c)] for c in s)


def _int_en(s: str) -> str:
    s = s.replace(",", "")
    if (len(s) > 1 and s.startswith("0")) or len(s) > 15:  # codes and IDs are read digit by digit
        return _digits_en(s)
    return _cardinal(int(s))


def _number_en(s: str) -> str:
    """'1,234.5' -> 'one thousand two hundred and thirty-four point five'."""
    whole, _, frac = s.partition(".")
    words = _int_en(whole) if whole else ""
    if frac:
        words = f"{words} point {_digits_en(frac)}".strip()
    return words


def _year_en(n: int) -> str:
    return num2words(n, to="year")


def _plural(words: str) -> str:
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _ordinal_day(day: str) -> str:
    return num2words(int(day), to="ordinal")


@_safe
def _en_iso_date(m: re.Match) -> str:
    date = datetime.date(int(m[1]), int(m[2]), int(m[3]))
    return f"{_MONTHS[date.month - 1]} {_ordinal_day(m[3])}, {_year_en(date.year)}"


@_safe
def _en_month_day(m: re.Match) -> str:  # "November 25, 2026"
    if not 1 <= int(m[2]) <= 31:
        return m[0]
    year = f"{m[3]}{_year_en(int(m[4]))}" if m[4] else ""
    return f"{m[1]} {_ordinal_day(m[2])}{year}"


@_safe
def _en_day_month(m: re.Match) -> str:  # "25 November 2026"
    if not 1 <= int(m[1]) <= 31:
        return m[0]
    year = f" {_year_en(int(m[3]))}" if m[3] else ""
    return f"the {_ordinal_day(m[1])} of {m[2]}{year}"


def _meridiem(m: re.Match, letter: str | None, period: str | None) -> str:
    if not letter:
        return ""
    end = "." if period and _keeps_period(m) else ""
    return f" {letter.upper()} M{end}"


@_safe
def _en_time(m: re.Match) -> str:
    hour, minute, second = int(m[1]), int(m[2]), m[3]
    words = _cardinal(hour)
    if minute == 0 and not second:
        words += "" if m[4] else " o'clock"
    elif minute < 10:
        words += f" oh {_cardinal(minute)}"
    else:
        words += f" {_cardinal(minute)}"
    if second:
        words += f" and {_cardinal(int(second))} second{'s' if int(second) != 1 else ''}"
    return words + _meridiem(m, m[4], m[5])


@_safe
def _en_hour_meridiem(m: re.Match) -> str:  # "10am", "3 p.m."
    return _cardinal(int(m[1])) + _meridiem(m, m[2], m[3])


@_safe
def _en_currency(m: re.Match) -> str:
    minus = "minus " if m[1] else ""
    unit, units, sub, subs = _CURRENCY_EN[m[2]]
    whole, frac, scale = m[3].replace(",", ""), m[4] or "", m[5]
    if scale:  # "$2.5 million" -> "two point five million dollars"
        scale_word = _SCALES.get(scale.lower(), scale.lower())
        return f"{minus}{_number_en(m[3] + ('.' + frac if frac else ''))} {scale_word} {units}"
    if frac and (sub is None or len(frac) > 2):
        return f"{minus}{_number_en(whole + '.' + frac)} {units}"
    cents = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if int(whole) or not cents:
        parts.append(f"{_int_en(whole)} {unit if int(whole) == 1 else units}")
    if cents:
        parts.append(f"{_cardinal(cents)} {sub if cents == 1 else subs}")
    return minus + " and ".join(parts)


@_safe
def _en_percent(m: re.Match) -> str:
    sign = {"-": "minus ", "−": "minus ", "+": "plus "}.get(m[1], "")
    return f"{sign}{_number_en(m[2])} percent"


@_safe
def _en_temperature(m: re.Match) -> str:
    value = _number_en(m[2])
    unit = {"C": " Celsius", "F": " Fahrenheit", "℃": " Celsius", "℉": " Fahrenheit"}.get(
        (m[3] or "").upper() or m[4] or "", "")
    degrees = "degree" if m[2] == "1" else "degrees"
    return f"{'minus ' if m[1] else ''}{value} {degrees}{unit}"


@_safe
def _en_decade(m: re.Match) -> str:
    if m[1]:
        return _plural(_year_en(int(m[1])))
    return _plural(_cardinal(int(m[2])))


@_safe
def _en_ordinal(m: re.Match) -> str:
    return num2words(int(m[1].replace(",", "")), to="ordinal")


def _looks_like_year(m: re.Match) -> bool:
    """A bare 1100-2099 is read as a year when its context says so ('in 1990', '1990 was')."""
    before, after = m.string[max(0, m.start() - 40):m.start()], m.string[m.end():m.end() + 40]
    prev = re.search(r"([A-Za-z]+)\W*$", before)
    if prev and (prev[1].lower() in _YEAR_CUES or prev[1] in _MONTHS):
        return True
    return not re.match(r"\s*[A-Za-z0-9]", after) or _YEAR_VERBS.match(after) is not None


@_safe
def _en_number(m: re.Match) -> str:
    sign, num = m[1], m[2]
    if m[3]:  # version-like 1.2.3
        words = " point ".join(_int_en(p) for p in num.split("."))
    elif not sign and re.fullmatch(r"1[1-9][0-9]{2}|20[0-9]{2}", num) and _looks_like_year(m):
        words = _year_en(int(num))
    else:
        words = _number_en(num)
    if sign:
        words = "minus " + words
    # "5km" -> "five km", "A4" -> "A four": keep the words apart from adjoining letters
    before = m.string[m.start() - 1:m.start()]
    after = m.string[m.end():m.end() + 1]
    return (" " if before.isalpha() else "") + words + (" " if after.isalpha() else "")


@_safe
def _en_ampersand(m: re.Match) -> str:
    left = m[1] or (" " if m.start() > 0 else "")
    right = m[2] or (" " if m.end() < len(m.string) else "")
    return f"{left}and{right}"


def _title(word: str) -> _Sub:
    """'Mr.Smith' -> 'Mister Smith': the period was the only thing between the two words."""
    return _safe(lambda m: word + (" " if m.string[m.end():m.end() + 1].isalpha() else ""))


def _abbreviation(word: str) -> _Sub:
    """'etc.' at the end of a sentence becomes 'et cetera.': the sentence still ends there."""
    return _safe(lambda m: word + ("." if _keeps_period(m) else ""))


@_safe
def _st(m: re.Match) -> str:
    saint = _NAME_FOLLOWS.match(m.string, m.end()) and not re.search(
        r"[A-Z][a-z]+\s+$", m.string[max(0, m.start() - 40):m.start()])
    if saint:
        return "Saint"  # only before a capitalised name, so never glued to a word
    return "Street" + ("." if _keeps_period(m) else "")


@_safe
def _dr(m: re.Match) -> str:
    if not _NAME_FOLLOWS.match(m.string, m.end()) and re.search(
            r"[A-Z][a-z]+\s+$", m.string[max(0, m.start() - 40):m.start()]):
        return "Drive" + ("." if _keeps_period(m) else "")
    return _title("Doctor")(m)


_A = r"(?<![A-Za-z.])"  # an abbreviation starts a word
_EN_RULES: list[tuple[re.Pattern, str | _Sub]] = [
    (re.compile(rf"{_A}Mr\."), _title("Mister")),
    (re.compile(rf"{_A}Mrs\."), _title("Missus")),
    (re.compile(rf"{_A}Ms\."), _title("Miz")),
    (re.compile(rf"{_A}Prof\."), _title("Professor")),
    (re.compile(rf"{_A}Mt\.(?=\s+[A-Z])"), "Mount"),
    (re.compile(rf"{_A}Dr\."), _dr),
    (re.compile(rf"{_A}St\."), _st),
    (re.compile(rf"{_A}Jr\."), _abbreviation("Junior")),
    (re.compile(rf"{_A}Sr\."), _abbreviation("Senior")),
    (re.compile(rf"{_A}vs\."), "versus"),
    (re.compile(rf"{_A}e\.g\."), "for example"),
    (re.compile(rf"{_A}i\.e\."), "that is"),
    (re.compile(rf"{_A}etc\."), _abbreviation("et cetera")),
    (re.compile(rf"{_A}approx\."), _abbreviation("approximately")),
    (re.compile(rf"{_A}No\.(?=\s?[0-9])"), "number"),
    (re.compile(r"#(?=[0-9])"), "number "),
    (re.compile(rf"{_A}(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.(?=\s[0-9])"),
     _safe(lambda m: next(x for x in _MONTHS if x.startswith(m[1][:3])))),
    (re.compile(r"(?<![0-9-])([0-9]{4})-([0-9]{2})-([0-9]{2})(?![0-9])"), _en_iso_date),
    (re.compile(rf"\b({_MONTH})\s+([0-9]{{1,2}})(?![0-9,.]?[0-9]|st|nd|rd|th)(?:(,?\s+)([0-9]{{4}})(?![0-9]))?"),
     _en_month_day),
    (re.compile(rf"(?<![0-9.])([0-9]{{1,2}})\s+({_MONTH})(?:,?\s+([0-9]{{4}})(?![0-9]))?"),
     _en_day_month),
    (re.compile(r"(?<![0-9:.])([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?(?![0-9:])"
                r"(?:\s?([AaPp])\.?[Mm](\.)?(?![A-Za-z]))?"), _en_time),
    (re.compile(r"(?<![0-9:.])(1[0-2]|0?[1-9])\s?([AaPp])\.?[Mm](\.)?(?![A-Za-z])"), _en_hour_meridiem),
    (re.compile(rf"(?<![0-9A-Za-z])([-−])?([$€£¥])\s?({_INT})(?:\.([0-9]+))?"
                r"(?:\s?(thousand|million|billion|trillion|[kKmMbB]n?)(?![A-Za-z]))?"), _en_currency),
    (re.compile(rf"(?<![0-9A-Za-z.,])([-−+]?)({_NUM})\s?%"), _en_percent),
    (re.compile(rf"(?<![0-9A-Za-z.,])([-−])?({_NUM})\s?(?:°\s?([CFcf])(?![A-Za-z])|(℃|℉)|°)"),
     _en_temperature),
    (re.compile(r"(?<![0-9A-Za-z])(?:(1[1-9][0-9]0|20[0-9]0)|['’]([1-9]0))['’]?s\b"), _en_decade),
    (re.compile(rf"(?<![0-9A-Za-z.,])({_INT})(?:st|nd|rd|th)\b", re.IGNORECASE), _en_ordinal),
    (re.compile(r"(?<![0-9/])([1-3]/[234])(?![0-9/])"),
     _safe(lambda m: _FRACTIONS.get(m[1], m[0]))),
    (re.compile(r"(?<=[0-9])\s*\+\s*(?=[0-9])"), " plus "),
    (re.compile(r"(?<![0-9A-Za-z+])\+(?=[0-9])"), "plus "),
    (re.compile(r"(?<=[0-9])\s*=\s*(?=[-−]?[0-9])"), " equals "),
    (re.compile(r"((?<![0-9A-Za-z.,)\]])[-−])?((?<![0-9.])(?:[0-9]+(\.[0-9]+){2,}|"
                rf"{_NUM}))(?![0-9])"), _en_number),
    (re.compile(r"(\s*)&(?![A-Za-z]+;|#[0-9]+;)(\s*)"), _en_ampersand),
]


# --- Chinese ----------------------------------------------------------------------------------
_MEASURE = ("个|只|条|张|块|瓶|杯|份|本|辆|台|匹|头|位|名|件|次|种|双|对|岁|年|天|周|月|小时|"
            "分钟|秒|斤|克|千克|公斤|吨|米|厘米|毫米|公里|升|毫升|元|角|人|家|间|层|页|倍")
_MEASURE_WORD = re.compile(_MEASURE)
_CURRENCY_ZH = {"$": "美元", "€": "欧元", "£": "英镑", "¥": "元", "￥": "元"}


def _zh(s: str, mode: str = "low") -> str:
    s = s.replace(",", "")
    whole = s.lstrip("-").partition(".")[0]
    if mode == "low" and ((len(whole) > 1 and whole.startswith("0")) or len(whole) > 10):
        mode = "direct"  # phone numbers, IDs, codes: digit by digit
    words = cn2an.an2cn(s, mode)
    # people say 两千, 两万, 两亿 (and 两个, below), not 二千
    return re.sub(r"^(负?)二(?=[千万亿])", r"\1两", words)


@_safe
def _zh_date(m: re.Match) -> str:
    datetime.date(int(m[1]), int(m[2]), int(m[3]))  # not a real date: left as written
    return f"{_zh(m[1], 'direct')}年{_zh(m[2])}月{_zh(m[3])}日"


@_safe
def _zh_time(m: re.Match) -> str:
    hour, minute = int(m[1]), int(m[2])
    words = ("两" if hour == 2 else _zh(str(hour))) + "点"
    if minute:
        words += ("零" if minute < 10 else "") + _zh(str(minute)) + "分"
    if m[3] and int(m[3]):
        words += _zh(str(int(m[3]))) + "秒"
    return words


@_safe
def _zh_currency(m: re.Match) -> str:
    amount = m[3].replace(",", "")
    if "." in amount:
        amount = amount.rstrip("0").rstrip(".")  # 5.50美元 is said 五点五美元
    return f"{'负' if m[1] else ''}{_zh(amount)}{m[4] or ''}{_CURRENCY_ZH[m[2]]}"


@_safe
def _zh_percent(m: re.Match) -> str:
    sign = {"-": "负", "−": "负", "+": "正"}.get(m[1], "")
    return f"{sign}{'千分之' if m[3] == '‰' else '百分之'}{_zh(m[2])}"


@_safe
def _zh_temperature(m: re.Match) -> str:
    unit = "华氏度" if (m[3] or "").upper() == "F" or m[4] == "℉" else (
        "摄氏度" if m[3] or m[4] else "度")
    return f"{'零下' if m[1] else ''}{_zh(m[2])}{unit}"


@_safe
def _zh_fraction(m: re.Match) -> str:
    if int(m[2]) == 0:
        return m[0]
    return f"{_zh(m[2])}分之{_zh(m[1])}"


@_safe
def _zh_number(m: re.Match) -> str:
    sign, num = m[1], m[2]
    if m[3]:  # version-like 1.2.3
        return "点".join(_zh(p) for p in num.split("."))
    if num == "2" and not sign and _MEASURE_WORD.match(m.string, m.end()) and \
            m.string[m.start() - 1:m.start()] != "第":
        return "两"
    return _zh(("-" if sign else "") + num)


_ZH_RULES: list[tuple[re.Pattern, str | _Sub]] = [
    (re.compile(r"(?<![0-9])([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})(?![0-9])"), _zh_date),
    (re.compile(r"(?<![0-9])([0-9]{4})(?=\s?年)"), _safe(lambda m: _zh(m[1], "direct"))),
    (re.compile(r"(?<![0-9:.])([01]?[0-9]|2[0-3])[:：]([0-5][0-9])(?:[:：]([0-5][0-9]))?(?![0-9])"),
     _zh_time),
    (re.compile(rf"(?<![0-9A-Za-z])([-−])?([$€£¥￥])\s?({_NUM})(?:\s?([千万亿]))?"), _zh_currency),
    (re.compile(rf"(?<![0-9.,])([-−+]?)({_NUM})\s?([%％‰])"), _zh_percent),
    (re.compile(rf"(?<![0-9.,])([-−])?({_NUM})\s?(?:°\s?([CFcf])(?![A-Za-z])|(℃|℉)|°)"),
     _zh_temperature),
    (re.compile(rf"(?<![0-9.])({_NUM})\s?(?:[~～]|-(?=\s?{_NUM}\s?(?:{_MEASURE})))\s?(?={_NUM})"),
     _safe(lambda m: _zh_number(re.match(r"()(.*)()", m[1])) + "到")),
    (re.compile(r"(?<![0-9/])([0-9]{1,4})/([0-9]{1,4})(?![0-9/])"), _zh_fraction),
    (re.compile(r"(?<=[0-9])\s*\+\s*(?=[0-9])"), "加"),
    (re.compile(r"(?<=[0-9])\s*=\s*(?=[-−]?[0-9])"), "等于"),
    (re.compile(r"((?<![0-9A-Za-z.,)\]])[-−])?((?<![0-9.])(?:[0-9]+(\.[0-9]+){2,}|"
                rf"{_NUM}))(?![0-9])"), _zh_number),
    (re.compile(r"\s*&(?![A-Za-z]+;|#[0-9]+;)\s*"), "和"),
]


# --- language split ---------------------------------------------------------------------------
def _apply(rules: list[tuple[re.Pattern, str | _Sub]], text: str) -> str:
    for pattern, repl in rules:
        text = pattern.sub(repl, text)
    return text


def _script(ch: str) -> str | None:
    if _CJK_SCRIPT.match(ch):
        return "zh"
    return "en" if ch.isalpha() else None


def _segments(text: str) -> list[tuple[str, str]]:
    """Cut mixed text into (language, piece): letters decide; digits, spaces and symbols join
    a neighbour. Between English and Chinese, what touches the left word stays with it and the
    rest goes right ('3个' is Chinese, 'version 3 is' English)."""
    runs: list[list] = []
    for i, ch in enumerate(text):
        # the C of "25°C" is part of the number, not an English word
        kind = None if ch in "CFcf" and text[i - 1:i] == "°" else _script(ch)
        if runs and runs[-1][0] == kind:
            runs[-1][1] += ch
        else:
            runs.append([kind, ch])
    pieces: list[tuple[str, str]] = []
    for i, (kind, chunk) in enumerate(runs):
        if kind is not None:
            pieces.append((kind, chunk))
            continue
        left = runs[i - 1][0] if i > 0 else None
        right = runs[i + 1][0] if i + 1 < len(runs) else None
        if left == right or right is None or left is None:
            pieces.append((left or right or "en", chunk))
            continue
        cut = re.search(r"\s", chunk)
        if cut is None:
            pieces.append((right, chunk))
        else:
            pieces += [(left, chunk[:cut.start()]), (right, chunk[cut.start():])]
    merged: list[tuple[str, str]] = []
    for kind, chunk in pieces:
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + chunk)
        elif chunk:
            merged.append((kind, chunk))
    return merged


def normalize_for_speech(text: str, language: str = "auto") -> str:
    """Rewrite numbers, currency, percentages, dates, times, symbols and common abbreviations
    as the words a speaker would say. `language` is "en", "zh" or "auto" (anything else counts
    as auto): auto uses the Chinese rules for the parts of a text next to CJK ideographs and the
    English rules elsewhere. Unrecognised text is returned unchanged; this never raises."""
    try:
        if not isinstance(text, str) or not text:
            return text
        lang = str(language).lower()
        if lang.startswith("en"):
            return _apply(_EN_RULES, text)
        if lang.startswith("zh"):
            return _apply(_ZH_RULES, text)
        if not _CJK_TEXT.search(text):
            return _apply(_EN_RULES, text)
        return "".join(_apply(_ZH_RULES if kind == "zh" else _EN_RULES, chunk)
                       for kind, chunk in _segments(text))
    except Exception:  # noqa: BLE001 - a bug in a rule must never cost a request its audio
        return text
