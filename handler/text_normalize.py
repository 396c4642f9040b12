"""Spoken forms for numbers, symbols, dates and abbreviations, before F5-TTS reads a text.

F5-TTS speaks the characters it is given: "$5", "3.5%", "2026-11-25" or "Dr." come out skipped
or garbled. `normalize_for_speech` rewrites them as words: num2words for English, cn2an for
Chinese numerals. Only what a rule recognises changes; every other character, whitespace and
punctuation included, comes back byte for byte. In English output no ASCII digit is left: what
no other rule reads, a last rule reads as a number.

Each rule is a named regular expression and a replacement, applied in order. `_normalize` applies
them with no safety net, so the tests see a rule that raises. `normalize_for_speech` never raises:
a rule that raises on one match leaves that match as it found it (the rules after it still run,
and the rest of the text is normalised as usual), and the failure is logged as one warning per
rule and input, naming the rule, the exception's type and a short sha256 of the input, never the
text.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

import cn2an
from num2words import num2words

log = logging.getLogger("handler.text_normalize")

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


class _Rule(NamedTuple):
    name: str  # what a failure is logged as
    pattern: re.Pattern
    repl: str | _Sub


def _keeps_period(m: re.Match) -> bool:
    """An abbreviation's period that also ends a sentence must survive its expansion."""
    return _SENTENCE_GOES_ON.match(m.string, m.end()) is not None


def _apart(m: re.Match, words: str) -> str:
    """'5km' -> 'five km', 'A4' -> 'A four': keep the words apart from adjoining letters."""
    before = m.string[m.start() - 1:m.start()] if m.start() else ""
    after = m.string[m.end():m.end() + 1]
    return (" " if before.isalpha() else "") + words + (" " if after.isalpha() else "")


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
_YEARLIKE = re.compile(r"1[1-9][0-9]{2}|20[0-9]{2}")
_FRACTIONS = {"1/2": "one half", "1/3": "one third", "2/3": "two thirds", "1/4": "one quarter",
              "3/4": "three quarters"}
_MAX_CARDINAL_DIGITS = 15  # longer runs are codes or IDs, read digit by digit


def _cardinal(n: int) -> str:
    # num2words puts commas in big numbers; the chunker splits sentences at commas.
    return num2words(n).replace(",", "")


def _digits_en(s: str) -> str:
    return " ".join(_DIGITS_EN[int(c)] for c in s)


def _int_en(s: str) -> str:
    s = s.replace(",", "")
    if (len(s) > 1 and s.startswith("0")) or len(s) > _MAX_CARDINAL_DIGITS:  # codes and IDs
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


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:  # 2026-13-45, 2026-02-30, year 0: not a date, read as numbers later
        return False
    return True


def _en_iso_date(m: re.Match) -> str:
    if not _is_date(int(m[1]), int(m[2]), int(m[3])):
        return m[0]
    return _apart(m, f"{_MONTHS[int(m[2]) - 1]} {_ordinal_day(m[3])}, {_year_en(int(m[1]))}")


def _en_month_day(m: re.Match) -> str:  # "November 25, 2026"
    if not 1 <= int(m[2]) <= 31:
        return m[0]
    year = f"{m[3]}{_year_en(int(m[4]))}" if m[4] else ""
    return _apart(m, f"{m[1]} {_ordinal_day(m[2])}{year}")


def _en_day_month(m: re.Match) -> str:  # "25 November 2026"
    if not 1 <= int(m[1]) <= 31:
        return m[0]
    year = f" {_year_en(int(m[3]))}" if m[3] else ""
    return _apart(m, f"the {_ordinal_day(m[1])} of {m[2]}{year}")


def _meridiem(m: re.Match, letter: str | None, period: str | None) -> str:
    if not letter:
        return ""
    end = "." if period and _keeps_period(m) else ""
    return f" {letter.upper()} M{end}"


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
    return _apart(m, words + _meridiem(m, m[4], m[5]))


def _en_hour_meridiem(m: re.Match) -> str:  # "10am", "3 p.m."
    return _apart(m, _cardinal(int(m[1])) + _meridiem(m, m[2], m[3]))


def _en_ratio(m: re.Match) -> str:
    """'3:2', '16:9', '1:100' (not a time: that rule came first) are said 'three to two'."""
    return _apart(m, f"{_int_en(m[1])} to {_int_en(m[2])}")


def _en_phone(m: re.Match) -> str:  # "555-123-4567": digit by digit, a pause-free group each
    return _apart(m, " ".join(_digits_en(g) for g in m.groups()))


def _en_range(m: re.Match) -> str:
    """Two numbers joined by a hyphen or an en dash are a range or a score: '4-10 days', 'won
    4-3', '1990-2005'. A speaker says 'to' for both ('four to ten days', 'won four to three'),
    not 'minus' and not a pause; a span of years is read as years ('nineteen ninety to two
    thousand and five'). Three numbers or more ('2026-13-45') are not a span."""
    left, right = m[1], m[3]
    if _YEARLIKE.fullmatch(left) and not m[4]:
        if len(right) == 2:  # "1990-95"; but "2026-11" is a year and a month: numbers, later
            return _apart(m, f"{_year_en(int(left))} to {_cardinal(int(right))}") \
                if int(right) > int(left[2:]) else m[0]
        if _YEARLIKE.fullmatch(right) and int(right) > int(left):
            return _apart(m, f"{_year_en(int(left))} to {_year_en(int(right))}")
    if m[4]:  # "4-5%", "3-5°C": the unit rule reads the second number with its unit
        return _apart(m, f"{_number_en(left)} to ") + right
    return _apart(m, f"{_number_en(left)} to {_number_en(right)}")


def _en_currency(m: re.Match) -> str:
    minus = "minus " if m[1] else ""
    unit, units, sub, subs = _CURRENCY_EN[m[2]]
    whole, frac, scale = m[3].replace(",", ""), m[4] or "", m[5]
    if scale:  # "$2.5 million" -> "two point five million dollars"
        scale_word = _SCALES.get(scale.lower(), scale.lower())
        return _apart(m, f"{minus}{_number_en(m[3] + ('.' + frac if frac else ''))} {scale_word} {units}")
    if frac and (sub is None or len(frac) > 2):
        return _apart(m, f"{minus}{_number_en(whole + '.' + frac)} {units}")
    cents = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if int(whole) or not cents:
        parts.append(f"{_int_en(whole)} {unit if int(whole) == 1 else units}")
    if cents:
        parts.append(f"{_cardinal(cents)} {sub if cents == 1 else subs}")
    return _apart(m, minus + " and ".join(parts))


def _en_percent(m: re.Match) -> str:
    sign = {"-": "minus ", "−": "minus ", "+": "plus "}.get(m[1], "")
    return _apart(m, f"{sign}{_number_en(m[2])} percent")


def _en_temperature(m: re.Match) -> str:
    value = _number_en(m[2])
    unit = {"C": " Celsius", "F": " Fahrenheit", "℃": " Celsius", "℉": " Fahrenheit"}.get(
        (m[3] or "").upper() or m[4] or "", "")
    degrees = "degree" if m[2] == "1" else "degrees"
    return _apart(m, f"{'minus ' if m[1] else ''}{value} {degrees}{unit}")


def _en_decade(m: re.Match) -> str:
    if m[1]:
        return _plural(_year_en(int(m[1])))
    return _plural(_cardinal(int(m[2])))


def _en_ordinal(m: re.Match) -> str:
    n = m[1].replace(",", "")
    if len(n) > _MAX_CARDINAL_DIGITS:
        return m[0]  # a code with a suffix: read digit by digit later
    return num2words(int(n), to="ordinal").replace(",", "")  # no commas: see _cardinal


def _looks_like_year(m: re.Match) -> bool:
    """A bare 1100-2099 is read as a year when its context says so ('in 1990', '1990 was')."""
    before, after = m.string[max(0, m.start() - 40):m.start()], m.string[m.end():m.end() + 40]
    prev = re.search(r"([A-Za-z]+)\W*$", before)
    if prev and (prev[1].lower() in _YEAR_CUES or prev[1] in _MONTHS):
        return True
    return not re.match(r"\s*[A-Za-z0-9]", after) or _YEAR_VERBS.match(after) is not None


def _en_number(m: re.Match) -> str:
    sign, num = m[1], m[2]
    if m[3]:  # version-like 1.2.3, or .5.3 (a dot each, none to skip: a second pass would read it)
        words = " point ".join(_int_en(p) if p else "" for p in num.split(".")).strip()
    elif not sign and _YEARLIKE.fullmatch(num) and _looks_like_year(m):
        words = _year_en(int(num))
    else:
        words = _number_en(num)
    if sign:
        words = "minus " + words
    return _apart(m, words)


def _en_leftover_digits(m: re.Match) -> str:
    """The backstop: digits no rule above could place ('..9', '3..25') read as a number."""
    return _apart(m, _int_en(m[0]))


def _en_ampersand(m: re.Match) -> str:
    left = m[1] or (" " if m.start() > 0 else "")
    right = m[2] or (" " if m.end() < len(m.string) else "")
    return f"{left}and{right}"


def _title(word: str) -> _Sub:
    """'Mr.Smith' -> 'Mister Smith': the period was the only thing between the two words."""
    return lambda m: word + (" " if m.string[m.end():m.end() + 1].isalpha() else "")


def _abbreviation(word: str) -> _Sub:
    """'etc.' at the end of a sentence becomes 'et cetera.': the sentence still ends there."""
    return lambda m: word + ("." if _keeps_period(m) else "")


def _st(m: re.Match) -> str:
    saint = _NAME_FOLLOWS.match(m.string, m.end()) and not re.search(
        r"[A-Z][a-z]+\s+$", m.string[max(0, m.start() - 40):m.start()])
    if saint:
        return "Saint"  # only before a capitalised name, so never glued to a word
    return "Street" + ("." if _keeps_period(m) else "")


def _dr(m: re.Match) -> str:
    if not _NAME_FOLLOWS.match(m.string, m.end()) and re.search(
            r"[A-Z][a-z]+\s+$", m.string[max(0, m.start() - 40):m.start()]):
        return "Drive" + ("." if _keeps_period(m) else "")
    return _title("Doctor")(m)


def _month_abbreviation(m: re.Match) -> str:
    return next(x for x in _MONTHS if x.startswith(m[1][:3]))


# An abbreviation starts a word, or follows a title glued to it ("Dr.Prof."): the title's
# expansion puts a space there ("Doctor Prof."), and a second pass must not find more to do.
_A = r"(?:(?<![A-Za-z.])|(?<=Mr\.)|(?<=Mrs\.)|(?<=Ms\.)|(?<=Prof\.)|(?<=Dr\.))"
# a number that starts a span: no digit, letter, sign, decimal point or separator just before it
_SPAN_START = r"(?<![0-9A-Za-z.,:/+\-−–$€£¥])"
_SPAN_END = r"(?![0-9]|[.,:/][0-9]|\s?[-−–]\s?[0-9])"
_OPERAND = r"(?:0|[1-9][0-9]{0,2}(?:,[0-9]{3})+|[1-9][0-9]*)"  # no leading zero: "05" is a code
_EN_RULES: list[_Rule] = [
    _Rule("en_mister", re.compile(rf"{_A}Mr\."), _title("Mister")),
    _Rule("en_missus", re.compile(rf"{_A}Mrs\."), _title("Missus")),
    _Rule("en_miz", re.compile(rf"{_A}Ms\."), _title("Miz")),
    _Rule("en_professor", re.compile(rf"{_A}Prof\."), _title("Professor")),
    _Rule("en_mount", re.compile(rf"{_A}Mt\.(?=\s+[A-Z])"), "Mount"),
    _Rule("en_doctor_drive", re.compile(rf"{_A}Dr\."), _dr),
    _Rule("en_saint_street", re.compile(rf"{_A}St\."), _st),
    _Rule("en_junior", re.compile(rf"{_A}Jr\."), _abbreviation("Junior")),
    _Rule("en_senior", re.compile(rf"{_A}Sr\."), _abbreviation("Senior")),
    _Rule("en_versus", re.compile(rf"{_A}vs\."), "versus"),
    _Rule("en_for_example", re.compile(rf"{_A}e\.g\."), "for example"),
    _Rule("en_that_is", re.compile(rf"{_A}i\.e\."), "that is"),
    _Rule("en_et_cetera", re.compile(rf"{_A}etc\."), _abbreviation("et cetera")),
    _Rule("en_approximately", re.compile(rf"{_A}approx\."), _abbreviation("approximately")),
    _Rule("en_number_abbreviation", re.compile(rf"{_A}No\.(?=\s?[0-9])"), "number"),
    _Rule("en_number_sign", re.compile(r"#(?=[0-9])"), "number "),
    _Rule("en_month_abbreviation",
          re.compile(rf"{_A}(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.(?=\s[0-9])"),
          _month_abbreviation),
    _Rule("en_iso_date", re.compile(r"(?<![0-9-])([0-9]{4})-([0-9]{2})-([0-9]{2})(?![0-9])"), _en_iso_date),
    _Rule("en_month_day",
          re.compile(rf"\b({_MONTH})\s+([0-9]{{1,2}})(?![0-9,.]?[0-9]|st|nd|rd|th)"
                     r"(?:(,?\s+)([0-9]{4})(?![0-9]))?"), _en_month_day),
    _Rule("en_day_month",
          re.compile(rf"(?<![0-9.])([0-9]{{1,2}})\s+({_MONTH})(?![A-Za-z])(?:,?\s+([0-9]{{4}})(?![0-9]))?"),
          _en_day_month),
    _Rule("en_time",
          re.compile(r"(?<![0-9:.])([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?(?![0-9:])"
                     r"(?:\s?([AaPp])\.?[Mm](\.)?(?![A-Za-z]))?"), _en_time),
    _Rule("en_hour_meridiem",
          re.compile(r"(?<![0-9:.])(1[0-2]|0?[1-9])\s?([AaPp])\.?[Mm](\.)?(?![A-Za-z])"), _en_hour_meridiem),
    _Rule("en_ratio", re.compile(rf"{_SPAN_START}(0|[1-9][0-9]*):(0|[1-9][0-9]*)(?![0-9]|[.,:/][0-9])"),
          _en_ratio),
    _Rule("en_phone", re.compile(rf"{_SPAN_START}([0-9]{{3}})-([0-9]{{3}})-([0-9]{{4}}){_SPAN_END}"), _en_phone),
    _Rule("en_range",
          re.compile(rf"{_SPAN_START}({_OPERAND}(?:\.[0-9]+)?)(-|\s?–\s?)({_OPERAND}(?:\.[0-9]+)?)"
                     rf"{_SPAN_END}(?!(?:st|nd|rd|th)\b)(?=(\s?[%°℃℉])?)"), _en_range),
    _Rule("en_currency",
          re.compile(rf"(?<![0-9A-Za-z])([-−])?([$€£¥])\s?({_INT})(?:\.([0-9]+))?"
                     r"(?:\s?(thousand|million|billion|trillion|[kKmMbB]n?)(?![A-Za-z]))?"), _en_currency),
    _Rule("en_percent", re.compile(rf"(?<![0-9A-Za-z.,])([-−+]?)({_NUM})\s?%"), _en_percent),
    _Rule("en_temperature",
          re.compile(rf"(?<![0-9A-Za-z.,])([-−])?({_NUM})\s?(?:°\s?([CFcf])(?![A-Za-z])|(℃|℉)|°)"),
          _en_temperature),
    _Rule("en_decade",
          re.compile(r"(?<![0-9A-Za-z])(?:(1[1-9][0-9]0|20[0-9]0)|['’]([1-9]0))['’]?s\b"), _en_decade),
    _Rule("en_ordinal", re.compile(rf"(?<![0-9A-Za-z.,])({_INT})(?:st|nd|rd|th)\b", re.IGNORECASE),
          _en_ordinal),
    _Rule("en_fraction", re.compile(r"(?<![0-9/])([1-3]/[234])(?![0-9/])"),
          lambda m: _FRACTIONS.get(m[1], m[0])),
    _Rule("en_plus", re.compile(r"(?<=[0-9])\s*\+\s*(?=[0-9])"), " plus "),
    _Rule("en_plus_sign", re.compile(r"(?<![0-9A-Za-z+])\+(?=[0-9])"), "plus "),
    _Rule("en_equals", re.compile(r"(?<=[0-9])\s*=\s*(?=[-−]?[0-9])"), " equals "),
    _Rule("en_number",
          re.compile(rf"((?<![0-9A-Za-z.,)\]])[-−])?((?<![0-9.])(?:(?:{_INT})?(\.[0-9]+){{2,}}|"
                     rf"{_NUM}))(?![0-9])"), _en_number),
    _Rule("en_leftover_digits", re.compile(r"[0-9]+"), _en_leftover_digits),
    _Rule("en_ampersand", re.compile(r"(\s*)&(?![A-Za-z]+;|#[0-9]+;)(\s*)"), _en_ampersand),
]


# --- Chinese ----------------------------------------------------------------------------------
_MEASURE = ("个|只|条|张|块|瓶|杯|份|本|辆|台|匹|头|位|名|件|次|种|双|对|岁|年|天|周|月|小时|"
            "分钟|秒|斤|克|千克|公斤|吨|米|厘米|毫米|公里|升|毫升|元|角|人|家|间|层|页|倍")
_MEASURE_WORD = re.compile(_MEASURE)
_CURRENCY_ZH = {"$": "美元", "€": "欧元", "£": "英镑", "¥": "元", "￥": "元"}
_DIGITS_ZH = "零一二三四五六七八九"


def _zh(s: str, mode: str = "low") -> str:
    s = s.replace(",", "")
    sign, whole, frac = ("-" if s.startswith("-") else ""), *s.lstrip("-").partition(".")[::2]
    if mode == "low" and ((len(whole) > 1 and whole.startswith("0")) or len(whole) > 10):
        mode = "direct"  # phone numbers, IDs, codes: digit by digit
    # cn2an fails on ".5" and cuts decimals after 16 digits: the decimals are read here instead,
    # digit by digit, as cn2an reads them
    words = cn2an.an2cn(sign + (whole or "0"), mode)
    if frac:
        words += "点" + "".join(_DIGITS_ZH[int(c)] for c in frac)
    # people say 两千, 两万, 两亿 (and 两个, below), not 二千
    return re.sub(r"^(负?)二(?=[千万亿])", r"\1两", words)


def _zh_date(m: re.Match) -> str:
    if not _is_date(int(m[1]), int(m[2]), int(m[3])):
        return m[0]  # not a real date: left as written, read as numbers later
    return f"{_zh(m[1], 'direct')}年{_zh(m[2])}月{_zh(m[3])}日"


def _zh_time(m: re.Match) -> str:
    hour, minute = int(m[1]), int(m[2])
    words = ("两" if hour == 2 else _zh(str(hour))) + "点"
    if minute:
        words += ("零" if minute < 10 else "") + _zh(str(minute)) + "分"
    if m[3] and int(m[3]):
        words += _zh(str(int(m[3]))) + "秒"
    return words


def _zh_currency(m: re.Match) -> str:
    amount = m[3].replace(",", "")
    if "." in amount:
        amount = amount.rstrip("0").rstrip(".")  # 5.50美元 is said 五点五美元
    return f"{'负' if m[1] else ''}{_zh(amount)}{m[4] or ''}{_CURRENCY_ZH[m[2]]}"


def _zh_percent(m: re.Match) -> str:
    sign = {"-": "负", "−": "负", "+": "正"}.get(m[1], "")
    return f"{sign}{'千分之' if m[3] == '‰' else '百分之'}{_zh(m[2])}"


def _zh_temperature(m: re.Match) -> str:
    unit = "华氏度" if (m[3] or "").upper() == "F" or m[4] == "℉" else (
        "摄氏度" if m[3] or m[4] else "度")
    return f"{'零下' if m[1] else ''}{_zh(m[2])}{unit}"


def _zh_fraction(m: re.Match) -> str:
    if int(m[2]) == 0:
        return m[0]
    return f"{_zh(m[2])}分之{_zh(m[1])}"


def _zh_number(m: re.Match) -> str:
    sign, num = m[1], m[2]
    if m[3]:  # version-like 1.2.3, or .5.3 (read whole: a second pass would read what is left)
        return "点".join(_zh(p or "0") for p in num.split("."))
    if num == "2" and not sign and _MEASURE_WORD.match(m.string, m.end()) and \
            m.string[m.start() - 1:m.start()] != "第":
        return "两"
    return _zh(("-" if sign else "") + num)


_ZH_RULES: list[_Rule] = [
    _Rule("zh_date", re.compile(r"(?<![0-9])([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})(?![0-9])"), _zh_date),
    _Rule("zh_year", re.compile(r"(?<![0-9])([0-9]{4})(?=\s?年)"), lambda m: _zh(m[1], "direct")),
    _Rule("zh_time",
          re.compile(r"(?<![0-9:.])([01]?[0-9]|2[0-3])[:：]([0-5][0-9])(?:[:：]([0-5][0-9]))?(?![0-9])"),
          _zh_time),
    _Rule("zh_currency", re.compile(rf"(?<![0-9A-Za-z])([-−])?([$€£¥￥])\s?({_NUM})(?:\s?([千万亿]))?"),
          _zh_currency),
    _Rule("zh_percent", re.compile(rf"(?<![0-9.,])([-−+]?)({_NUM})\s?([%％‰])"), _zh_percent),
    _Rule("zh_temperature",
          re.compile(rf"(?<![0-9.,])([-−])?({_NUM})\s?(?:°\s?([CFcf])(?![A-Za-z])|(℃|℉)|°)"),
          _zh_temperature),
    _Rule("zh_range",
          re.compile(rf"(?<![0-9.])({_NUM})\s?(?:[~～]|-(?=\s?{_NUM}\s?(?:{_MEASURE})))\s?(?={_NUM})"),
          lambda m: _zh(m[1]) + "到"),
    _Rule("zh_fraction", re.compile(r"(?<![0-9/])([0-9]{1,4})/([0-9]{1,4})(?![0-9/])"), _zh_fraction),
    _Rule("zh_plus", re.compile(r"(?<=[0-9])\s*\+\s*(?=[0-9])"), "加"),
    _Rule("zh_equals", re.compile(r"(?<=[0-9])\s*=\s*(?=[-−]?[0-9])"), "等于"),
    _Rule("zh_number",
          re.compile(rf"((?<![0-9A-Za-z.,)\]])[-−])?((?<![0-9.])(?:(?:{_INT})?(\.[0-9]+){{2,}}|"
                     rf"{_NUM}))(?![0-9])"), _zh_number),
    _Rule("zh_ampersand", re.compile(r"\s*&(?![A-Za-z]+;|#[0-9]+;)\s*"), "和"),
]


# --- language split ---------------------------------------------------------------------------
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


# --- the core, and the public entry with its fallback -----------------------------------------
_Failures = dict[str, str]  # rule name -> the type of the first exception it raised


def _guarded(rule: _Rule, failures: _Failures) -> _Sub:
    """The rule's replacement, except that a match it raises on is left as written."""
    repl = rule.repl

    def sub(m: re.Match) -> str:
        try:
            return repl(m)
        except Exception as exc:  # noqa: BLE001 - num2words, cn2an and datetime raise many types
            failures.setdefault(rule.name, type(exc).__name__)
            return m[0]

    return sub


def _apply(rules: list[_Rule], text: str, failures: _Failures | None) -> str:
    for rule in rules:
        repl = rule.repl if failures is None or isinstance(rule.repl, str) else _guarded(rule, failures)
        text = rule.pattern.sub(repl, text)
    return text


def _normalize(text: str, language: str = "auto", failures: _Failures | None = None) -> str:
    """The rules themselves. With `failures` None (the tests) an exception in a rule propagates;
    with a dict, a match whose rule raises is left as written and the rule is recorded there."""
    lang = str(language).lower()
    if lang.startswith("en") or (not lang.startswith("zh") and not _CJK_TEXT.search(text)):
        return _apply(_EN_RULES, text, failures)
    if lang.startswith("zh"):
        return _apply(_ZH_RULES, text, failures)
    return "".join(_apply(_ZH_RULES if kind == "zh" else _EN_RULES, chunk, failures)
                   for kind, chunk in _segments(text))


_LOGGED: OrderedDict[tuple[str, str], None] = OrderedDict()  # recent (rule, input hash) warnings
_LOGGED_MAX = 4096
_LOGGED_LOCK = threading.Lock()


def _input_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _log_failures(text: str, failures: _Failures) -> None:
    """One warning per failing rule and input: the rule, the exception's type and the input's
    hash. Never the text, nor the exception's message (which may quote it)."""
    digest = _input_hash(text)
    for rule, error in failures.items():
        with _LOGGED_LOCK:
            if (rule, digest) in _LOGGED:
                continue
            _LOGGED[(rule, digest)] = None
            if len(_LOGGED) > _LOGGED_MAX:
                _LOGGED.popitem(last=False)
        log.warning("text normalisation rule %s raised %s on input sha256:%s; its matches were "
                    "left as written", rule, error, digest)


def normalize_for_speech(text: str, language: str = "auto") -> str:
    """Rewrite numbers, currency, percentages, dates, times, symbols and common abbreviations
    as the words a speaker would say. `language` is "en", "zh" or "auto" (anything else counts
    as auto): auto uses the Chinese rules for the parts of a text next to CJK ideographs and the
    English rules elsewhere. Unrecognised text is returned unchanged. This never raises: where a
    rule fails, the span it matched is left as it was and the failure is logged by the input's
    hash (see the module docstring)."""
    if not isinstance(text, str) or not text:
        return text
    failures: _Failures = {}
    try:
        result = _normalize(text, language, failures)
    except Exception as exc:  # noqa: BLE001 - a bug outside the rules must not cost a request its audio
        failures.setdefault("language_split", type(exc).__name__)
        result = text
    if failures:
        _log_failures(text, failures)
    return result
