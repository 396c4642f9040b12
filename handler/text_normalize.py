"""Text as people and language models write it, rewritten as the words a speaker would say.

F5-TTS speaks the characters it is given: "**Note:**", "$5k/yr", "example.com/docs", "+1 (555)
010-9999", "5 km" or "Dr." come out skipped, spelled or garbled. `normalize_for_speech` rewrites
them as words: markup is read as its text (handler.markup), links, e-mail addresses and phone
numbers as people say them, numbers with num2words in English and cn2an in Chinese. Only what a
rule recognises changes; every other character, whitespace and punctuation included, comes back
byte for byte (emoji too: the service leaves out what the model cannot speak). In English output
no ASCII digit is left while the "numbers" family is on: what no other rule reads, a last rule
reads as a number.

Every rule belongs to one family of `FAMILIES`, and a caller can switch families off (`off`):

- markdown: emphasis, headings, lists, links, code, tables, quotes and rules read as text;
- tags: SSML and HTML tags (a <break> is a pause) and HTML entities;
- urls: web addresses ("example dot com slash docs");
- emails: e-mail addresses ("john dot doe at example dot org");
- phones: phone numbers, digit by digit in the groups they were written in;
- units: measures after a number ("5 km" is "five kilometers"), temperatures, magnitudes ("5k",
  "7B"), multipliers ("3x"), rates ("/yr");
- numbers: cardinals, decimals, money, percentages, dates, times, ranges, scores, ratios,
  ordinals, years, decades, fractions, Roman numerals after a name, house numbers and post codes;
- abbreviations: titles, street types, Latin abbreviations, months, weekdays, US states before
  a ZIP code, dotted initialisms;
- symbols: "&", "%", "@", "~", "#" before a number, "±", "×", "÷", "≤", "≥", "≈" as words.

A family switched off leaves its spans as written; a family on reads its whole span, digits
included (a phone number is read by "phones" even with "numbers" off).

The markup families run first, on the whole text (again until nothing changes, so that nested or
encoded markup is read at once), then links and phone numbers (read in Chinese where the text
around them is Chinese), then the English and Chinese rules, each on its own part of a mixed text.
`_normalize` applies the rules with no safety net, so the tests see a rule that raises.
`normalize_for_speech` never raises on text: a rule that raises on one match leaves that match as
it found it (the rules after it still run, and the rest of the text is normalised as usual), and
the failure is logged as one warning per rule and input, naming the rule, the exception's type
and a short sha256 of the input, never the text.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import NamedTuple
from urllib.parse import unquote

import cn2an
from num2words import num2words

from handler import markup

log = logging.getLogger("handler.text_normalize")

FAMILIES: tuple[str, ...] = (
    "markdown", "tags", "urls", "emails", "phones", "units", "numbers", "abbreviations", "symbols",
)

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
    family: str  # one of FAMILIES: what `off` names to leave the rule's spans as written
    needs: re.Pattern | None = None  # a quick test: a text this does not find has nothing for the rule


def _keeps_period(m: re.Match) -> bool:
    """An abbreviation's period that also ends a sentence must survive its expansion."""
    return _SENTENCE_GOES_ON.match(m.string, m.end()) is not None


def _letter(ch: str) -> bool:
    """A letter that needs a space before the next word: not a Chinese character (no spaces there)."""
    return ch.isalpha() and not _CJK_SCRIPT.match(ch)


def _apart(m: re.Match, words: str) -> str:
    """'5km' -> 'five km', 'A4' -> 'A four': keep the words apart from adjoining letters."""
    before = m.string[m.start() - 1:m.start()] if m.start() else ""
    after = m.string[m.end():m.end() + 1]
    return (" " if _letter(before) else "") + words + (" " if _letter(after) else "")


def _word_before(m: re.Match, start: int | None = None) -> str:
    """The word just before the match (or before `start`), looked for in the 40 characters before it."""
    start = m.start() if start is None else start
    found = re.search(r"([A-Za-z]+)[^A-Za-z0-9]{0,2}$", m.string[max(0, start - 40):start])
    return found[1] if found else ""


# --- English ----------------------------------------------------------------------------------
_DIGITS_EN = "zero one two three four five six seven eight nine".split()
_MONTHS = ("January February March April May June July August September October November "
           "December").split()
_MONTH = "|".join(_MONTHS)
_CURRENCY_EN = {  # symbol: (unit, units, subunit, subunits); no subunit where speech has none
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", None, None),
    "₹": ("rupee", "rupees", None, None),
    "₩": ("won", "won", None, None),
    "₽": ("ruble", "rubles", None, None),
}
_CURRENCY_CODES = {  # ISO code, before or after the amount
    "USD": ("US dollar", "US dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "GBP": ("pound", "pounds", "penny", "pence"),
    "JPY": ("yen", "yen", None, None),
    "CNY": ("yuan", "yuan", None, None),
    "RMB": ("yuan", "yuan", None, None),
    "INR": ("rupee", "rupees", None, None),
    "CAD": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "AUD": ("Australian dollar", "Australian dollars", "cent", "cents"),
    "CHF": ("Swiss franc", "Swiss francs", None, None),
}
_SCALES = {"k": "thousand", "m": "million", "b": "billion", "bn": "billion", "t": "trillion", "tn": "trillion"}
_SCALE = r"(?:\s?(thousand|million|billion|trillion|[kKmMbBtT]n?)(?![A-Za-z]))"
_YEAR_CUES = {"in", "since", "from", "until", "till", "by", "before", "after", "during", "of",
              "year", "circa", "around", "between", "and", "to", "early", "late", "mid"}
_YEAR_DETERMINERS = {"the", "a", "its", "their", "his", "her", "our", "this", "last", "next"}
_QUARTER_BEFORE = re.compile(r"(?:\b[QH][1-4]|\bFY|\bfiscal)\s*$")
_YEAR_VERBS = re.compile(r"\s+(?:was|is|will|saw|had|has|brought)\b|\s*(?:BC|AD|BCE|CE)\b")
_YEARLIKE = re.compile(r"1[1-9][0-9]{2}|20[0-9]{2}")
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


def _ordinal_en(n: int) -> str:
    return num2words(n, to="ordinal").replace(",", "")


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


def _short_year_en(s: str) -> str:
    return f"oh {_DIGITS_EN[int(s[1])]}" if s.startswith("0") else _cardinal(int(s))


def _en_numeric_date(m: re.Match) -> str:
    """12/25/2026 (month first, as in the US, unless the first number cannot be a month) and
    25.12.2026 (day first, as in Europe): a date, said with the month's name."""
    dotted = m[4] is not None
    a, b, year = int(m[1]), int(m[4] if dotted else m[2]), m[5] if dotted else m[3]
    day_first = dotted or a > 12
    day, month = (a, b) if day_first else (b, a)
    if not _is_date(int(year) if len(year) == 4 else 2000 + int(year), month, day):
        return m[0]
    year_words = _year_en(int(year)) if len(year) == 4 else _short_year_en(year)
    if day_first:
        return _apart(m, f"the {_ordinal_day(str(day))} of {_MONTHS[month - 1]} {year_words}")
    return _apart(m, f"{_MONTHS[month - 1]} {_ordinal_day(str(day))}, {year_words}")


# a time zone after "p.m." goes on with the time: "8 p.m. Eastern" is no sentence's end
_TIME_ZONE_FOLLOWS = re.compile(r"[ \t]+(?:Eastern|Central|Mountain|Pacific|Atlantic|Greenwich|ET|CT|MT|PT|"
                                r"[ECMP][SD]T|GMT|UTC|BST|CET|CEST|IST|JST|AEST|AEDT)\b")


def _meridiem(m: re.Match, letter: str | None, period: str | None) -> str:
    if not letter:
        return ""
    end = "." if period and _keeps_period(m) and not _TIME_ZONE_FOLLOWS.match(m.string, m.end()) else ""
    return f" {letter.upper()} M{end}"


_RATIO_FOLLOWS = re.compile(r"\s+(?:ratio|scale|mix|dilution)\b")


def _en_time(m: re.Match) -> str:
    hour, minute, second = int(m[1]), int(m[2]), m[3]
    if not second and not m[4] and _RATIO_FOLLOWS.match(m.string, m.end()):
        return _apart(m, f"{_int_en(m[1])} to {_int_en(m[2])}")  # "a 1:10 ratio" is no time
    words = _cardinal(hour)
    if minute == 0 and not second:
        if m[4]:
            pass
        elif hour == 0:
            words = "midnight"
        else:  # 17:00 is "seventeen hundred", 10:00 "ten o'clock"
            words += " hundred" if hour > 12 else " o'clock"
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


def _en_range(m: re.Match) -> str:
    """Two numbers joined by a hyphen or an en dash are a range or a score: '4-10 days', 'won
    4-3', '1990-2005'. A speaker says 'to' for both ('four to ten days', 'won four to three'),
    not 'minus' and not a pause; a span of years is read as years ('nineteen ninety to two
    thousand and five'). Three numbers or more ('2026-13-45') are not a span."""
    left, right = m[1], m[3]
    unit = _EN_UNIT.match(m.string, m.start())
    if unit and unit.end() > m.end() and _en_unit(unit) != unit[0]:
        return m[0]  # "5-10 km": the unit rule reads the range with its unit
    if _YEARLIKE.fullmatch(left) and not m[4]:
        if len(right) == 2:  # "1990-95"; but "2026-11" is a year and a month: numbers, later
            return _apart(m, f"{_year_en(int(left))} to {_cardinal(int(right))}") \
                if int(right) > int(left[2:]) else m[0]
        if _YEARLIKE.fullmatch(right) and int(right) > int(left):
            return _apart(m, f"{_year_en(int(left))} to {_year_en(int(right))}")
    if m[4]:  # "4-5%", "3-5°C", "5-10k": the next rule reads the second number with its unit
        return (" " if m.string[m.start() - 1:m.start()].isalpha() else "") + f"{_number_en(left)} to {right}"
    return _apart(m, f"{_number_en(left)} to {_number_en(right)}")


def _money_en(minus: bool, amount: str, scale: str | None, names: tuple) -> str:
    """'5.50' dollars -> 'five dollars and fifty cents'; '2.5' with 'm' -> 'two point five million dollars'."""
    unit, units, sub, subs = names
    sign = "minus " if minus else ""
    amount = amount.replace(",", "")
    whole, _, frac = amount.partition(".")
    whole = whole or "0"
    if scale:
        scale_word = _SCALES.get(scale.lower(), scale.lower())
        return f"{sign}{_number_en(amount)} {scale_word} {units}"
    if frac and (sub is None or len(frac) > 2):
        return f"{sign}{_number_en(whole + '.' + frac)} {units}"
    cents = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if int(whole) or not cents:
        parts.append(f"{_int_en(whole)} {unit if whole == '1' else units}")
    if cents:
        parts.append(f"{_cardinal(cents)} {sub if cents == 1 else subs}")
    return sign + " and ".join(parts)


def _en_currency(m: re.Match) -> str:
    """'$5' -> 'five dollars'; a range '$5-10k' -> 'five to ten thousand dollars', '$5.50-$7' ->
    'five dollars and fifty cents to seven dollars': the currency is said once, at the end, unless
    the first amount needs its own (cents, or another scale)."""
    names = _CURRENCY_EN[m[2]]
    amount = m[3] + ("." + m[4] if m[4] else "")
    if not m[6]:
        return _apart(m, _money_en(bool(m[1]), amount, m[5], names))
    right_scale = m[7] or m[5]
    if m[5] and m[5].lower() != right_scale.lower():
        left = f"{_number_en(amount)} {_SCALES.get(m[5].lower(), m[5].lower())}"
    elif m[4] and not m[5]:
        left = _money_en(False, amount, None, names)
    else:
        left = _number_en(amount)
    return _apart(m, f"{'minus ' if m[1] else ''}{left} to {_money_en(False, m[6], right_scale, names)}")


def _en_currency_code(m: re.Match) -> str:  # "USD 5", "5 EUR", "1.2M USD"
    code, amount, scale = (m[1], m[2], m[3]) if m[1] else (m[6], m[4], m[5])
    return _apart(m, _money_en(False, amount, scale, _CURRENCY_CODES[code]))


def _en_cents(m: re.Match) -> str:  # "99¢"
    return _apart(m, f"{_number_en(m[1])} {'cent' if m[1] == '1' else 'cents'}")


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
    if m[2]:
        return _plural(_cardinal(int(m[2])))
    return f"{m[3]}{m[4]}{_plural(_cardinal(int(m[5])))}"  # "in their 20s", "mid-30s"


def _en_ordinal(m: re.Match) -> str:
    n = m[1].replace(",", "")
    if len(n) > _MAX_CARDINAL_DIGITS:
        return m[0]  # a code with a suffix: read digit by digit later
    return _ordinal_en(int(n))


_DENOMINATORS = {2: ("half", "halves"), 4: ("quarter", "quarters")}
_FRACTION_DENOMINATORS = {2, 3, 4, 5, 6, 8, 10, 12, 16, 32, 64, 100}


def _fraction_words(num: int, den: int) -> str | None:
    if not (0 < num < den and den in _FRACTION_DENOMINATORS):
        return None
    one, many = _DENOMINATORS.get(den, (_ordinal_en(den), _plural(_ordinal_en(den)) if den > 2 else ""))
    return f"{_cardinal(num)} {one if num == 1 else many}"


def _en_fraction(m: re.Match) -> str:
    words = _fraction_words(int(m[1]), int(m[2]))
    return _apart(m, words) if words else m[0]


def _mixed(whole: str, num: int, den: int) -> str | None:
    part = {(1, 2): "a half", (1, 4): "a quarter"}.get((num, den)) or _fraction_words(num, den)
    return f"{_int_en(whole)} and {part}" if part else None


def _en_mixed_fraction(m: re.Match) -> str:  # "2 1/2 cups"
    words = _mixed(m[1], int(m[2]), int(m[3]))
    return _apart(m, words) if words else m[0]


_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅖": (2, 5),
           "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8),
           "⅞": (7, 8)}


def _en_vulgar_fraction(m: re.Match) -> str:  # "1½", "¾"
    num, den = _VULGAR[m[2]]
    words = _mixed(m[1], num, den) if m[1] else _fraction_words(num, den)
    return _apart(m, words or m[0])


def _looks_like_year(m: re.Match) -> bool:
    """A bare 1100-2099 is read as a year when its context says so ('in 1990', '1990 was')."""
    before, after = m.string[max(0, m.start() - 40):m.start()], m.string[m.end():m.end() + 40]
    prev = re.search(r"([A-Za-z]+)\W*$", before)
    if prev and (prev[1].lower() in _YEAR_CUES or prev[1] in _MONTHS):
        return True
    if _QUARTER_BEFORE.search(before):  # "Q3 2025", "FY 2024"
        return True
    if prev and prev[1].lower() in _YEAR_DETERMINERS and m[0][:2] in ("19", "20"):
        return True  # "the 2024 election", "a 2019 study"
    return not re.match(r"\s*[A-Za-z0-9]", after) or _YEAR_VERBS.match(after) is not None


_EARLY_YEAR_CUES = {"in", "since", "until", "till", "by", "before", "after", "during", "circa", "year", "around"}
_EARLY_YEAR_AFTER = re.compile(r"\s*(?:$|[^\sA-Za-z0-9]|(?:the|when|AD|CE)\b|[A-Z])")


def _early_year(m: re.Match, num: str) -> bool:
    """1010-1099 is a year ('in 1066, the Normans' is 'ten sixty-six') only after a cue word and
    before no noun it would count ('in 1024 bytes' is a number)."""
    return (re.fullmatch("10[1-9][0-9]", num) is not None and _word_before(m).lower() in _EARLY_YEAR_CUES
            and _EARLY_YEAR_AFTER.match(m.string, m.end()) is not None)


def _en_number(m: re.Match) -> str:
    sign, num = m[1], m[2]
    if m[3]:  # version-like 1.2.3, or .5.3 (a dot each, none to skip: a second pass would read it)
        words = " point ".join(_int_en(p) if p else "" for p in num.split(".")).strip()
    elif not sign and ((_YEARLIKE.fullmatch(num) and _looks_like_year(m)) or _early_year(m, num)):
        words = _year_en(int(num))
    else:
        words = _number_en(num)
    if sign:
        words = "minus " + words
    return _apart(m, words)


def _en_leftover_digits(m: re.Match) -> str:
    """The backstop: digits no rule above could place ('..9', '3..25') read as a number."""
    return _apart(m, _int_en(m[0]))


_MARKS = set("#*+-•‣◦▪●>=_~`|")


def _spaced_symbol(word: str | dict[str, str]) -> _Sub:
    """'R&D' -> 'R and D', 'what % of' -> 'what percent of': the word (or the word for the symbol in
    group 2, then the spaces are groups 1 and 3), apart from its neighbours."""
    def sub(m: re.Match) -> str:
        left, right = (m[1], m[3]) if isinstance(word, dict) else (m[1], m[2])
        # no space after a mark ("#&" stays "#and"): "# and" would be a heading on a second call
        before = m.string[m.start() - 1:m.start()]
        left = left or (" " if before and before not in _MARKS and not before.isspace() else "")
        right = right or (" " if m.end() < len(m.string) else "")
        return f"{left}{word[m[2]] if isinstance(word, dict) else word}{right}"

    return sub


def _en_ampersand(m: re.Match) -> str:
    return _spaced_symbol("and")(m)


def _title(word: str) -> _Sub:
    """'Mr.Smith' -> 'Mister Smith': the period was the only thing between the two words."""
    return lambda m: word + (" " if m.string[m.end():m.end() + 1].isalpha() else "")


def _abbreviation(word: str) -> _Sub:
    """'etc.' at the end of a sentence becomes 'et cetera.': the sentence still ends there."""
    return lambda m: word + ("." if m[0].endswith(".") and _keeps_period(m) else "")


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


def _month_name(abbreviation: str) -> str:
    return next(x for x in _MONTHS if x.startswith(abbreviation[:3]))


def _month_abbreviation(m: re.Match) -> str:
    """'Jan. 5' and 'Jan 5' -> 'January 5'; '5 Jan.' -> '5 January', its period kept where it ends a sentence."""
    return _month_name(m[1] or m[2] or m[3]) + ("." if m[3] and m[0].endswith(".") and _keeps_period(m) else "")


_WEEKDAYS = {"Mon": "Monday", "Tue": "Tuesday", "Tues": "Tuesday", "Wed": "Wednesday", "Thu": "Thursday",
             "Thur": "Thursday", "Thurs": "Thursday", "Fri": "Friday", "Sat": "Saturday", "Sun": "Sunday"}
_WEEKDAY = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))


def _en_weekday_range(m: re.Match) -> str:  # "Mon–Fri"
    return f"{_WEEKDAYS[m[1]]} to {_WEEKDAYS[m[2]]}" + ("." if m[3] and _keeps_period(m) else "")


def _initialism(m: re.Match) -> str:  # "U.S." -> "U S", "J.R.R." -> "J R R"
    letters = " ".join(m[1].replace(".", ""))
    if m[1] == "P.O." and re.match(r"\s+Box\b", m.string[m.end():m.end() + 5]):
        return letters  # "P.O. Box 12": the address goes on
    return letters + ("." if _keeps_period(m) else "")


_STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California", "CO": "Colorado",
    "CT": "Connecticut", "DE": "Delaware", "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho",
    "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York", "NC": "North Carolina",
    "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas",
    "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington", "WV": "West Virginia",
    "WI": "Wisconsin", "WY": "Wyoming", "DC": "D C",
}
_STATE = "|".join(_STATES)
_STATE_NAMES = "|".join(sorted({v for v in _STATES.values() if v != "D C"}, key=len, reverse=True))

_STREET_TYPES = {"Ave": "Avenue", "Blvd": "Boulevard", "Rd": "Road", "Ln": "Lane", "Pkwy": "Parkway",
                 "Hwy": "Highway", "Ct": "Court", "Sq": "Square", "Ter": "Terrace", "Cir": "Circle",
                 "Pl": "Place", "St": "Street"}  # "St." is _st's (a saint or a street)
_UNIT_WORDS = {"Apt": "Apartment", "Ste": "Suite", "Bldg": "Building", "Rm": "Room", "Fl": "Floor"}
_STREET_WORDS = ("Street|Avenue|Road|Boulevard|Lane|Drive|Way|Court|Place|Parkway|Highway|Terrace|Circle|"
                 "Square|Trail|Row|Close|Crescent|Alley|Plaza|Broadway")


def _en_street_type(m: re.Match) -> str:  # "5th Ave", "Abbey Rd.", "Market St," ("St." is _st's)
    if m[2] == "St" and _NAME_FOLLOWS_WORD.match(m.string, m.end()):
        return m[0]  # "Visit St Ives": a saint's name, not a street
    return f"{m[1]} {_STREET_TYPES[m[2]]}" + ("." if m[3] and _keeps_period(m) else "")


_QUADRANTS = {"NW": "Northwest", "NE": "Northeast", "SW": "Southwest", "SE": "Southeast"}
_COMPASS = {"N": "North", "S": "South", "E": "East", "W": "West"}
_NAME_FOLLOWS_WORD = re.compile(r"\s+[A-Z][a-z]")


def _two_digits_house(s: str) -> str:
    if s == "00":
        return "hundred"
    return f"oh {_DIGITS_EN[int(s[1])]}" if s.startswith("0") else _cardinal(int(s))


def _house_number(s: str) -> str:
    """House numbers are said in pairs: 123 'one twenty-three', 1600 'sixteen hundred', 405 'four oh five'."""
    if len(s) <= 2 or s.startswith("0"):
        return _int_en(s)
    if len(s) == 3:
        if s.endswith("00"):
            return _cardinal(int(s))
        return f"{_DIGITS_EN[int(s[0])]} {_two_digits_house(s[1:])}"
    if len(s) == 4:
        if s.endswith("000"):
            return _cardinal(int(s))
        return f"{_cardinal(int(s[:2]))} {_two_digits_house(s[2:])}"
    return _digits_en(s)


def _en_house_number(m: re.Match) -> str:  # "221B Baker Street", "55 W 46th Street"
    return _house_number(m[1]) + (f" {m[2]}" if m[2] else "") + (f" {_COMPASS[m[3]]}" if m[3] else "")


def _en_zip(m: re.Match) -> str:  # "IL 62704-1234": digit by digit
    plus = f", {_digits_en(m[3])}" if m[3] else ""
    return f"{m[1]}{_digits_en(m[2])}{plus}"


def _spell_code(code: str) -> str:
    return " ".join(_DIGITS_EN[int(c)] if c.isdigit() else c for c in code)


def _en_postcode(m: re.Match) -> str:  # "SW1A 1AA" -> "S W one A, one A A"
    return f"{_spell_code(m[1])}, {_spell_code(m[2])}"


_REGNAL = set("""Henry Edward George William Richard Charles James Elizabeth Mary Louis Philip Frederick John
Paul Pius Benedict Leo Gregory Innocent Clement Alexander Peter Nicholas Ivan Catherine Victor Emmanuel
Ferdinand Carlos Juan Alfonso Olaf Harald Gustav Christian Napoleon Ramesses Rameses Thutmose Amenhotep
Ptolemy Constantine Justinian Otto Wilhelm Friedrich Francis Franz Joseph Leopold Rudolf Sigismund Casimir
David Robert Stephen Anne Victoria Harold Edmund Kamehameha Rama Mohammed Mehmed Murad Selim Suleiman
Ahmed Urban Sixtus Julius Adrian Boniface Celestine Honorius Martin Eugene Felix Sergius Lothair Baldwin Pedro
Manuel Afonso Jaime Fernando Felipe Enrique Isabella Frederik Haakon Magnus Erik Eric Christina Margaret
Willem Wilhelmina Juliana Beatrix Albert Baudouin Umberto Vittorio Mohammad Hussein Abdullah Faisal Farouk
Fuad Tewodros Menelik Cyrus Darius Xerxes Artaxerxes Antiochus Seleucus Herod Tutankhamun Akhenaten Sobekhotep
Sancho Ludwig Maximilian Karl Gustavus Sobieski Vladimir Yaroslav Dmitri Basil Michael Andronikos Alexios
Manuel Theodore Ramses Cleopatra Hadrian""".split())
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}
_ROMAN = r"X{0,3}(?:IX|IV|V?I{0,3})"


def _roman_value(s: str) -> int:
    total = 0
    for i, ch in enumerate(s):
        value = _ROMAN_VALUES[ch]
        total += -value if i + 1 < len(s) and _ROMAN_VALUES[s[i + 1]] > value else value
    return total


# Names a version number follows: "Python 3.12" is "three point twelve", not "three point one two"
_VERSIONED = ("version|Version|release|Release|Python|Node|Node\\.js|Java|Ruby|Rails|PHP|Perl|Rust|Swift|"
              "Kotlin|Scala|Julia|Elixir|iOS|iPadOS|macOS|watchOS|Android|Windows|Ubuntu|Debian|Fedora|Kubernetes|"
              "Docker|PostgreSQL|Postgres|MySQL|Redis|CUDA|PyTorch|TensorFlow|Django|Flask|React|Angular|Vue|"
              "Llama|GPT|Claude|Gemini|Mistral|Qwen|Firefox|Chrome|Bluetooth|Unreal|Blender")


def _en_version(m: re.Match) -> str:  # "Python 3.12" -> "Python three point twelve"
    parts = m[2].split(".")
    return f"{m[1]} " + " point ".join(_digits_en(p) if len(p) > 1 and p.startswith("0") else _cardinal(int(p))
                                       for p in parts)


def _en_v_version(m: re.Match) -> str:  # "v2.3.0" -> "version 2.3.0", read by the rule above
    return f"version {m[1]}"


# Roman numerals with L and C ("Super Bowl LVIII", "Chapter XL") only after the words that number
# parts of things: anywhere else "CL", "LCD" or "CV" are letters
_ROMAN_WIDE = r"C{0,3}(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
_PART_WORDS = r"Chapter|Part|Volume|Book|Act|Article|Section|Episode|Bowl|Canto|Psalm"


def _en_roman_wide(m: re.Match) -> str:
    numeral = m[2]
    if len(numeral) < 2 or not set(numeral) & {"L", "C"}:
        return m[0]  # "Appendix C" is a letter; the numerals without L or C are en_roman's
    return f"{m[1]} {_cardinal(_roman_value(numeral))}"


def _en_roman(m: re.Match) -> str:
    """'Henry VIII' -> 'Henry the Eighth' after a ruler's name; 'World War II' -> 'World War two'
    after any other capitalised word. Never 'I' (the pronoun), and a lone 'V' or 'X' only after a
    ruler's name ('Malcolm X', 'Vitamin C' and 'Model X' stay)."""
    name, numeral = m[1], m[2]
    if not numeral or numeral == "I":
        return m[0]
    regnal = name in _REGNAL
    if len(numeral) == 1 and not regnal:
        return m[0]
    value = _roman_value(numeral)
    words = f"the {_ordinal_en(value).title()}" if regnal else _cardinal(value)
    return f"{name} {words}"


# --- units -----------------------------------------------------------------------------------
def _u(singular: str, plural: str | None = None) -> tuple[str, str]:
    return singular, plural or singular + "s"


_UNITS_EN: dict[str, tuple[str, str]] = {
    "km": _u("kilometer"), "m": _u("meter"), "cm": _u("centimeter"), "mm": _u("millimeter"),
    "µm": _u("micrometer"), "μm": _u("micrometer"), "nm": _u("nanometer"), "mi": _u("mile"),
    "ft": _u("foot", "feet"), "in": _u("inch", "inches"), "yd": _u("yard"),
    "kg": _u("kilogram"), "g": _u("gram"), "mg": _u("milligram"), "µg": _u("microgram"), "mcg": _u("microgram"),
    "lb": _u("pound"), "lbs": _u("pound"), "oz": _u("ounce"), "fl oz": _u("fluid ounce"),
    "L": _u("liter"), "l": _u("liter"), "ml": _u("milliliter"), "mL": _u("milliliter"), "cl": _u("centiliter"),
    "gal": _u("gallon"), "qt": _u("quart"), "tbsp": _u("tablespoon"), "tsp": _u("teaspoon"),
    "mph": _u("mile per hour", "miles per hour"), "kph": _u("kilometer per hour", "kilometers per hour"),
    "km/h": _u("kilometer per hour", "kilometers per hour"), "kmh": _u("kilometer per hour", "kilometers per hour"),
    "m/s": _u("meter per second", "meters per second"),
    "ms": _u("millisecond"), "µs": _u("microsecond"), "μs": _u("microsecond"), "ns": _u("nanosecond"),
    "s": _u("second"), "sec": _u("second"), "secs": _u("second"), "min": _u("minute"), "mins": _u("minute"),
    "h": _u("hour"), "hr": _u("hour"), "hrs": _u("hour"), "wk": _u("week"), "wks": _u("week"),
    "mo": _u("month"), "mos": _u("month"), "yr": _u("year"), "yrs": _u("year"),
    "KB": _u("kilobyte"), "kB": _u("kilobyte"), "MB": _u("megabyte"), "GB": _u("gigabyte"), "TB": _u("terabyte"),
    "PB": _u("petabyte"), "KiB": _u("kibibyte"), "MiB": _u("mebibyte"), "GiB": _u("gibibyte"), "TiB": _u("tebibyte"),
    "Kb": _u("kilobit"), "kb": _u("kilobit"), "Mb": _u("megabit"), "Gb": _u("gigabit"),
    "kbps": _u("kilobit per second", "kilobits per second"), "Kbps": _u("kilobit per second", "kilobits per second"),
    "Mbps": _u("megabit per second", "megabits per second"), "Gbps": _u("gigabit per second", "gigabits per second"),
    "Hz": _u("hertz", "hertz"), "kHz": _u("kilohertz", "kilohertz"), "MHz": _u("megahertz", "megahertz"),
    "GHz": _u("gigahertz", "gigahertz"),
    "W": _u("watt"), "kW": _u("kilowatt"), "MW": _u("megawatt"), "GW": _u("gigawatt"), "Wh": _u("watt-hour"),
    "kWh": _u("kilowatt-hour"), "MWh": _u("megawatt-hour"), "GWh": _u("gigawatt-hour"),
    "V": _u("volt"), "mV": _u("millivolt"), "kV": _u("kilovolt"), "mA": _u("milliamp"), "mAh": _u("milliamp-hour"),
    "kJ": _u("kilojoule"), "cal": _u("calorie"), "kcal": _u("kilocalorie"),
    "dB": _u("decibel"), "psi": _u("psi", "psi"), "bpm": _u("beat per minute", "beats per minute"),
    "rpm": _u("R P M", "R P M"), "fps": _u("frame per second", "frames per second"), "px": _u("pixel"),
    "ha": _u("hectare"), "sq ft": _u("square foot", "square feet"), "sqft": _u("square foot", "square feet"),
    "sq m": _u("square meter"), "sq mi": _u("square mile"), "cu ft": _u("cubic foot", "cubic feet"),
    "cu in": _u("cubic inch", "cubic inches"),
}
# an ambiguous word is a unit only when nothing but punctuation or the end follows it ("5 in." but "5 in the")
_UNIT_ONLY_AT_END = {"in"}
_SQUARED = {"m", "km", "cm", "mm", "ft", "mi", "in", "yd"}  # "m²", "m2": square meters; "m³": cubic
_MAGNITUDES = {"k": "thousand", "K": "thousand", "M": "million", "B": "billion", "bn": "billion",
               "T": "trillion", "tn": "trillion"}
_K_AS_LETTER = re.compile(r"\s*(?:run|race|walk|resolution|video|display|monitor|TV|screen|HDR|UHD|stream)\b",
                          re.IGNORECASE)
_PER_WORDS = {  # what follows a "/" and is said "per ..."
    **{k: v[0] for k, v in _UNITS_EN.items() if "/" not in k and " " not in k},
    "year": "year", "month": "month", "week": "week", "day": "day", "hour": "hour", "night": "night",
    "person": "person", "pp": "person", "head": "head", "user": "user", "seat": "seat", "unit": "unit",
    "item": "item", "piece": "piece", "page": "page", "word": "word", "serving": "serving", "d": "day",
    "sq ft": "square foot", "m²": "square meter", "m2": "square meter",
}
_PER = "|".join(re.escape(k) for k in sorted(_PER_WORDS, key=len, reverse=True))
_UNIT_KEYS = "|".join(re.escape(k) for k in sorted(_UNITS_EN, key=len, reverse=True))
_ARTICLE_BEFORE = re.compile(r"(?:^|[^A-Za-z])[Aa]n?\s+$")
_THE_BEFORE = re.compile(r"(?:^|[^A-Za-z])(?:[Aa]|[Tt]he)\s+$")
_LABELS = {"apartment", "apt", "suite", "unit", "room", "floor", "building", "flat", "gate", "platform", "seat",
           "row", "terminal", "level", "bay", "lot", "block"}


def _en_unit(m: re.Match) -> str:
    """'5 km' -> 'five kilometers', '1 km' -> 'one kilometer', 'a 5 km walk' -> 'a five kilometer
    walk' (a measure before its noun is singular), '3-5 kg' -> 'three to five kilograms',
    '20 km/h' or '10 GB/s' -> '... per hour', '50 m²' -> 'fifty square meters'."""
    sign, num, num2, sep, unit, power, per = m[1], m[2], m[3], m[4], m[5], m[6], m[7]
    after = m.string[m.end():m.end() + 12]
    if unit in _UNIT_ONLY_AT_END and sep is not None and not m[8] and not re.match(
            r"\s*(?:[.,;:)!?]|$|x\b|×|by\b)", after):
        return m[0]
    if power and unit not in _SQUARED:
        return m[0]
    if "/" in num:  # "1/2 tsp" is 'one half teaspoon', "1 1/2 tsp" 'one and a half teaspoons'
        whole, _, fraction = num.rpartition(" ")
        top, bottom = (int(x) for x in fraction.split("/"))
        words = _mixed(whole, top, bottom) if whole else _fraction_words(top, bottom)
        if not words or sign or num2 or per or power:
            return m[0]
        return _apart(m, f"{words} {_UNITS_EN[unit][1 if whole else 0]}")
    words = ("minus " if sign else "") + _number_en(num)
    if num2:
        words += f" to {_number_en(num2)}"
    attributive = sep == "-" or _ARTICLE_BEFORE.search(m.string[max(0, m.start() - 4):m.start()]) is not None
    singular, plural = _UNITS_EN[unit]
    name = singular if attributive or (num == "1" and not num2) else plural
    if power:
        name = ("square " if power in "²2" else "cubic ") + name
    if per:
        name += f" per {_PER_WORDS[per]}"
    return _apart(m, f"{words} {name}")


def _en_magnitude(m: re.Match) -> str:  # "5k", "7B parameters", "1.5M users", "$5k" is money
    sign, num, scale, per = m[1], m[2], m[3].strip(), m[4]
    if not sign and not per and len(scale) == 1 and _word_before(m).lower() in _LABELS:
        return _apart(m, f"{_number_en(num)} {scale}")  # "Apartment 4B", "Gate 12B": a letter
    if scale in ("k", "K") and not per and (_K_AS_LETTER.match(m.string, m.end()) or (
            scale == "K" and _THE_BEFORE.search(m.string, max(0, m.start() - 5), m.start()))):
        return _apart(m, f"{_number_en(num)} K")  # "a 5K run", "4K video", "ran a 5K in"
    words = f"{'minus ' if sign else ''}{_number_en(num)} {_MAGNITUDES[scale]}"
    if per:
        words += f" per {_PER_WORDS[per]}"
    return _apart(m, words)


def _en_multiplier(m: re.Match) -> str:  # "3x faster", "2×"
    return _apart(m, f"{_number_en(m[1])} times")


def _dimension_en(s: str) -> str:
    """1920 is said 'nineteen twenty' in '1920x1080', as in a house number; other numbers as numbers."""
    return _house_number(s) if len(s) == 4 and "." not in s and "," not in s else _number_en(s)


def _en_dimensions(m: re.Match) -> str:  # "1920x1080", "10 x 20 cm": said "by"
    sizes = re.findall(_NUM, m[1])
    words = " by ".join(_dimension_en(size) for size in sizes)
    if m[2]:
        words += " " + _UNITS_EN[m[2]][1]
    return _apart(m, words)


_PER_HEADS = {"dollar", "dollars", "cent", "cents", "euro", "euros", "pound", "pounds", "pence", "penny", "yen",
              "yuan", "rupee", "rupees", "won", "ruble", "rubles", "franc", "francs", "thousand", "million",
              "billion", "trillion", "percent"} | {w for pair in _UNITS_EN.values() for w in pair}


def _en_per(m: re.Match) -> str:  # "five dollars/mo" -> "five dollars per month"
    if m[1] not in _PER_HEADS:
        return m[0]
    return f"{m[1]} per {_PER_WORDS[m[2]]}"


# An abbreviation starts a word, or follows a title glued to it ("Dr.Prof."): the title's
# expansion puts a space there ("Doctor Prof."), and a second pass must not find more to do.
_A = r"(?:(?<![A-Za-z.])|(?<=Mr\.)|(?<=Mrs\.)|(?<=Ms\.)|(?<=Prof\.)|(?<=Dr\.))"
# a number that starts a span: no digit, letter, sign, decimal point or separator just before it
_SPAN_START = r"(?<![0-9A-Za-z.,:/+\-−–$€£¥])"
_SPAN_END = r"(?![0-9]|[.,:/][0-9]|\s?[-−–]\s?[0-9])"
_OPERAND = r"(?:0|[1-9][0-9]{0,2}(?:,[0-9]{3})+|[1-9][0-9]*)"  # no leading zero: "05" is a code
_DAY_NUMBER = r"[0-9]{1,2}(?:st|nd|rd|th)?(?![0-9]|:)"
_MONTH_ABBREVIATION = r"(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)"
_TITLES = {"Gov": "Governor", "Sen": "Senator", "Rep": "Representative", "Gen": "General", "Capt": "Captain",
           "Lt": "Lieutenant", "Sgt": "Sergeant", "Col": "Colonel", "Rev": "Reverend", "Hon": "Honorable",
           "Pres": "President", "Supt": "Superintendent", "Cmdr": "Commander", "Adm": "Admiral"}
_BEFORE_NUMBER = {"p": "page", "pp": "pages", "vol": "volume", "Vol": "Volume", "ch": "chapter", "Ch": "Chapter",
                  "fig": "figure", "Fig": "Figure", "eq": "equation", "ext": "extension", "Ext": "extension",
                  "no": "number", "nos": "numbers", "Nos": "numbers", "min": "minimum", "max": "maximum",
                  "Min": "minimum", "Max": "maximum", "approx": "approximately", "Approx": "approximately",
                  "est": "established", "Est": "Established", "art": "article", "Art": "Article",
                  "sec": "section", "Sec": "Section", "para": "paragraph"}
_LATIN = {"incl": "including", "excl": "excluding", "avg": "average", "Avg": "Average", "dept": "department",
          "Dept": "Department", "govt": "government", "Govt": "Government", "Corp": "Corporation",
          "Ltd": "Limited", "Bros": "Brothers", "misc": "miscellaneous", "Misc": "Miscellaneous",
          "esp": "especially", "ca": "circa", "cf": "compare", "viz": "namely"}


def _words(table: dict[str, str]) -> str:
    return "|".join(sorted((re.escape(k) for k in table), key=len, reverse=True))


_ABBREVIATION_RULES: list[_Rule] = [
    _Rule("en_mister", re.compile(rf"{_A}Mr\."), _title("Mister"), "abbreviations"),
    _Rule("en_missus", re.compile(rf"{_A}Mrs\."), _title("Missus"), "abbreviations"),
    _Rule("en_miz", re.compile(rf"{_A}Ms\."), _title("Miz"), "abbreviations"),
    _Rule("en_professor", re.compile(rf"{_A}Prof\."), _title("Professor"), "abbreviations"),
    _Rule("en_mount", re.compile(rf"{_A}Mt\.?(?=\s+[A-Z])"), "Mount", "abbreviations"),
    _Rule("en_doctor_drive", re.compile(rf"{_A}Dr\."), _dr, "abbreviations"),
    _Rule("en_saint_street", re.compile(rf"{_A}St\."), _st, "abbreviations"),
    _Rule("en_junior", re.compile(rf"{_A}Jr\."), _abbreviation("Junior"), "abbreviations"),
    _Rule("en_senior", re.compile(rf"{_A}Sr\."), _abbreviation("Senior"), "abbreviations"),
    _Rule("en_title", re.compile(rf"{_A}({_words(_TITLES)})\.(?=\s+[A-Z])"), lambda m: _TITLES[m[1]],
          "abbreviations"),
    _Rule("en_versus", re.compile(rf"{_A}vs\.|(?<![A-Za-z.])vs(?=\s)"), "versus", "abbreviations"),
    _Rule("en_for_example", re.compile(rf"{_A}e\.g\."), "for example", "abbreviations"),
    _Rule("en_that_is", re.compile(rf"{_A}i\.e\."), "that is", "abbreviations"),
    _Rule("en_et_cetera", re.compile(rf"{_A}etc\."), _abbreviation("et cetera"), "abbreviations"),
    _Rule("en_also_known_as", re.compile(r"(?<![A-Za-z.])(?:a\.k\.a\.|aka(?![A-Za-z.]))"), "also known as",
          "abbreviations"),
    _Rule("en_with_without", re.compile(r"(?<![A-Za-z/])(?:w/o|b/c|w/)(?![A-Za-z/])|(?<![A-Za-z/])w/(?=[A-Za-z])"),
          lambda m: {"w/o": "without", "b/c": "because", "w/": "with"}[m[0]]
          + (" " if m[0] == "w/" and m.string[m.end():m.end() + 1].isalpha() else ""), "abbreviations"),
    _Rule("en_before_number",
          re.compile(rf"{_A}({_words(_BEFORE_NUMBER)})\.(?=\s?[0-9])"), lambda m: _BEFORE_NUMBER[m[1]],
          "abbreviations"),
    _Rule("en_latin", re.compile(rf"{_A}({_words(_LATIN)})\.(?![A-Za-z])"),
          lambda m: _LATIN[m[1]] + ("." if _keeps_period(m) else ""), "abbreviations"),
    _Rule("en_street_type",
          re.compile(rf"((?<![^\W\d_])[A-Z][a-z]+|(?<![0-9A-Za-z])[0-9]{{1,4}}(?:st|nd|rd|th))\s({_words(_STREET_TYPES)})(\.)?(?![A-Za-z])"),
          _en_street_type, "abbreviations"),
    # "Pennsylvania Avenue NW": the quadrant of a street, after its type (and its period) is read
    _Rule("en_quadrant", re.compile(rf"\b({_STREET_WORDS})\.?\s(NW|NE|SW|SE)(?![A-Za-z0-9])"),
          lambda m: f"{m[1]} {_QUADRANTS[m[2]]}", "abbreviations"),
    _Rule("en_unit_word", re.compile(rf"{_A}({_words(_UNIT_WORDS)})\.?(?=\s?#?\s?[0-9])"),
          lambda m: _UNIT_WORDS[m[1]], "abbreviations"),
    _Rule("en_weekday_range", re.compile(rf"(?<![^\W\d_])({_WEEKDAY})\.?\s?[-–—]\s?({_WEEKDAY})(?![^\W\d_])(\.)?"),
          _en_weekday_range, "abbreviations"),
    # a weekday before a date: "Mon., Jan. 5", "Fri, 12th" (before a bare number only with its
    # period or a comma: "the Sun 5 times brighter" is no Sunday)
    _Rule("en_weekday", re.compile(rf"(?<![^\W\d_])({_WEEKDAY})(?:\.?(?=,?\s+(?:{_MONTH_ABBREVIATION}|{_MONTH}|May)"
                                   rf"(?![a-z]))|\.(?=,?\s+{_DAY_NUMBER})|(?=,\s+{_DAY_NUMBER}))"),
          lambda m: _WEEKDAYS[m[1]], "abbreviations"),
    _Rule("en_number_abbreviation", re.compile(rf"{_A}No\.(?=\s?[0-9])"), "number", "abbreviations"),
    _Rule("en_month_abbreviation",
          re.compile(rf"{_A}{_MONTH_ABBREVIATION}\.(?=\s[0-9])|\b{_MONTH_ABBREVIATION}(?=\s[0-9]{{1,2}}(?![0-9]))"
                     rf"|(?<=[0-9] ){_MONTH_ABBREVIATION}\.?(?![A-Za-z])"), _month_abbreviation, "abbreviations"),
    _Rule("en_initialism", re.compile(r"(?<![A-Za-z.])((?:[A-Z]\.){2,})(?![A-Za-z])(?<!A\.M\.)(?<!P\.M\.)"),
          _initialism, "abbreviations"),
    _Rule("en_state", re.compile(rf"(?<=, )({_STATE})(?=\s+[0-9]{{5}}(?:-[0-9]{{4}})?(?![0-9]))"),
          lambda m: _STATES[m[1]], "abbreviations"),
]

_EN_UNIT = re.compile(
    rf"(?<![0-9A-Za-z.,/])([-−])?((?:[0-9]{{1,3}} )?[0-9]{{1,2}}/[0-9]{{1,3}}|{_NUM})"
    rf"(?:(?:\s?[-–]\s?|\s+to\s+)({_NUM}))?(\s|-)?({_UNIT_KEYS})"
    rf"([²³]|2(?![0-9]))?(?:\s?/\s?({_PER}))?(?![A-Za-z0-9])(\.(?=\s+[a-z]))?")
_NUMBER_RULES_EARLY: list[_Rule] = [
    _Rule("en_number_sign", re.compile(r"#(?=[0-9])"), "number ", "symbols"),
    _Rule("en_approximately", re.compile(r"(?<![\w~≈])[~≈]\s?(?=[-−]?[$€£¥₹₩₽]?[0-9.])"), "about ", "symbols"),
    _Rule("en_iso_date", re.compile(r"(?<![0-9-])([0-9]{4})-([0-9]{2})-([0-9]{2})(?![0-9])"), _en_iso_date,
          "numbers"),
    _Rule("en_month_day",
          re.compile(rf"\b({_MONTH})\s+([0-9]{{1,2}})(?![0-9,.]?[0-9]|st|nd|rd|th)"
                     r"(?:(,?\s+)([0-9]{4})(?![0-9]))?"), _en_month_day, "numbers"),
    _Rule("en_day_month",
          re.compile(rf"(?<![0-9.])([0-9]{{1,2}})\s+({_MONTH})(?![A-Za-z])(?:,?\s+([0-9]{{4}})(?![0-9]))?"),
          _en_day_month, "numbers"),
    _Rule("en_numeric_date",
          re.compile(r"(?<![0-9/.,:-])([0-9]{1,2})(?:/([0-9]{1,2})/([0-9]{4}|[0-9]{2})|\.([0-9]{1,2})\.([0-9]{4}))"
                     r"(?![0-9]|[/.][0-9])"), _en_numeric_date, "numbers"),
    _Rule("en_time_range",
          re.compile(r"(?<![0-9:.])([0-9]{1,2}(?::[0-9]{2})?(?:\s?[AaPp]\.?[Mm]\.?)?)\s?[-–—]\s?"
                     r"(?=[0-9]{1,2}(?::[0-9]{2})?\s?[AaPp]\.?[Mm](?![A-Za-z])|[0-9]{1,2}:[0-9]{2}(?![0-9:]))"),
          lambda m: f"{m[1]} to " if (":" in m[1] or re.search("[AaPp]", m[1]) or
                                       re.match(r"[0-9]{1,2}(?::[0-9]{2})?\s?[AaPp]", m.string[m.end():m.end() + 8]))
          else m[0], "numbers"),
    _Rule("en_time",
          re.compile(r"(?<![0-9:.])([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?(?![0-9:])"
                     r"(?:\s?([AaPp])\.?[Mm](\.)?(?![A-Za-z]))?"), _en_time, "numbers"),
    _Rule("en_hour_meridiem",
          re.compile(r"(?<![0-9:.])(1[0-2]|0?[1-9])\s?([AaPp])\.?[Mm](\.)?(?![A-Za-z])"), _en_hour_meridiem,
          "numbers"),
    _Rule("en_ratio", re.compile(rf"{_SPAN_START}(0|[1-9][0-9]*):(0|[1-9][0-9]*)(?![0-9]|[.,:/][0-9])"),
          _en_ratio, "numbers"),
    _Rule("en_decade",
          re.compile(r"(?<![0-9A-Za-z])(?:(1[1-9][0-9]0|20[0-9]0)|['’]([1-9]0))['’]?s\b"
                     r"|\b(their|his|her|my|your|our|its|the|early|mid|late)(\s+|-)([1-9]0)['’]?s\b"),
          _en_decade, "numbers"),
    _Rule("en_zip",
          re.compile(rf"\b((?:{_STATE}|{_STATE_NAMES}|D C)\s+)([0-9]{{5}})(?:-([0-9]{{4}}))?(?![0-9]|[.,-][0-9])"),
          _en_zip, "numbers"),
    _Rule("en_postcode", re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?) ([0-9][A-Z]{2})\b"), _en_postcode, "numbers"),
    _Rule("en_house_number",
          re.compile(rf"(?<![0-9A-Za-z.,#$/-])([0-9]{{1,5}})([A-Z])?(?:\s+([NSEW])\.?)?"
                     rf"(?=\s+(?:(?:North|South|East|West)\s+)?"
                     rf"(?:[A-Z][a-z]+|[0-9]{{1,3}}(?:st|nd|rd|th))(?:\s+[A-Z][a-z]+){{0,2}}\s+(?:{_STREET_WORDS})\b)"),
          _en_house_number, "numbers"),
    _Rule("en_range",
          re.compile(rf"{_SPAN_START}({_OPERAND}(?:\.[0-9]+)?)(-|\s?–\s?)({_OPERAND}(?:\.[0-9]+)?)"
                     rf"{_SPAN_END}(?!(?:st|nd|rd|th)\b)(?=(\s?[%°℃℉]|(?:bn|tn|[kKMBT])(?![A-Za-z0-9]))?)"),
          _en_range, "numbers"),
    _Rule("en_currency",
          re.compile(rf"(?<![0-9A-Za-z])([-−])?([$€£¥₹₩₽])\s?({_INT})(?:\.([0-9]+))?{_SCALE}?"
                     rf"(?:(?:\s?[-–]\s?|\s+to\s+)\2?({_INT}(?:\.[0-9]+)?){_SCALE}?(?![0-9]|[.,][0-9]))?"),
          _en_currency, "numbers"),
    _Rule("en_currency_code",
          re.compile(rf"(?<![A-Za-z])({'|'.join(_CURRENCY_CODES)})\s?({_NUM}){_SCALE}?(?![0-9])"
                     rf"|(?<![0-9A-Za-z.,])({_NUM}){_SCALE}?\s?({'|'.join(_CURRENCY_CODES)})(?![A-Za-z])"),
          _en_currency_code, "numbers"),
    _Rule("en_cents", re.compile(rf"(?<![0-9A-Za-z.,])({_NUM})\s?¢"), _en_cents, "numbers"),
    _Rule("en_percent", re.compile(rf"(?<![0-9A-Za-z.,])([-−+]?)({_NUM})\s?%"), _en_percent, "numbers"),
    _Rule("en_temperature",
          re.compile(rf"(?<![0-9A-Za-z.,])([-−])?({_NUM})\s?(?:°\s?([CFcf])(?![A-Za-z])|(℃|℉)|°)"),
          _en_temperature, "units"),
    _Rule("en_by", re.compile(rf"(?<![0-9A-Za-z.,])({_NUM}\s?(?:{_UNIT_KEYS}))(?:\s[x×]\s|\s?×\s?)"
                              rf"(?={_NUM}\s?(?:{_UNIT_KEYS})(?![A-Za-z0-9]))"),
          lambda m: f"{m[1]} by ", "units"),  # "12 ft x 14 ft": twelve feet by fourteen feet
    _Rule("en_dimensions",
          re.compile(rf"(?<![0-9A-Za-z.,])(?!0x)({_NUM}(?:\s?[x×]\s?{_NUM})+)(?:\s?({_UNIT_KEYS}))?(?![A-Za-z0-9])"),
          _en_dimensions, "units"),
    _Rule("en_unit", _EN_UNIT, _en_unit, "units"),
    _Rule("en_magnitude",
          re.compile(rf"(?<![0-9A-Za-z.,])([-−])?({_NUM})(\s?(?:bn|tn)|[kKMBT])(?:/({_PER}))?(?![A-Za-z0-9])"),
          _en_magnitude, "units"),
    _Rule("en_multiplier", re.compile(rf"(?<![0-9A-Za-z.,])({_NUM})[x×](?![A-Za-z0-9])"), _en_multiplier, "units"),
]


_EN_RULES: list[_Rule] = [
    *_ABBREVIATION_RULES,
    *_NUMBER_RULES_EARLY,
    _Rule("en_ordinal", re.compile(rf"(?<![0-9A-Za-z.,])({_INT})(?:st|nd|rd|th)\b", re.IGNORECASE),
          _en_ordinal, "numbers"),
    _Rule("en_all_week", re.compile(r"(?<![0-9/.])24/7(?![0-9/])"), "twenty-four seven", "numbers"),
    _Rule("en_mixed_fraction", re.compile(r"(?<![0-9/.,])([0-9]+)\s+([0-9]{1,2})/([0-9]{1,3})(?![0-9/])"),
          _en_mixed_fraction, "numbers"),
    _Rule("en_vulgar_fraction", re.compile(rf"(?:(?<![0-9.,])([0-9]+)\s?)?([{''.join(_VULGAR)}])"), _en_vulgar_fraction,
          "numbers"),
    _Rule("en_fraction", re.compile(r"(?<![0-9/.])([0-9]{1,2})/([0-9]{1,3})(?![0-9/])"), _en_fraction, "numbers"),
    _Rule("en_roman_wide", re.compile(rf"(?<![^\W\d_])({_PART_WORDS})\s+({_ROMAN_WIDE})(?![A-Za-z0-9])(?!\.[A-Za-z])"),
          _en_roman_wide, "numbers"),
    # "Article XII.3": the numeral is read before its sub-part (else "point three" would unblock it later)
    _Rule("en_roman", re.compile(rf"(?<![^\W\d_])([A-Z][a-z]+)\s+({_ROMAN})(?![A-Za-z0-9])(?!\.[A-Za-z])"), _en_roman,
          "numbers"),
    _Rule("en_plus", re.compile(r"(?<=[0-9])\s*\+\s*(?=[0-9])"), " plus ", "numbers"),
    _Rule("en_plus_after", re.compile(r"(?<=[0-9])\+(?=\s|$|[.,;:!?)])"), " plus", "numbers"),  # "40+ countries"
    _Rule("en_plus_sign", re.compile(r"(?<![0-9A-Za-z+])\+(?=[0-9])"), "plus ", "numbers"),
    _Rule("en_equals", re.compile(r"(?<=[0-9])\s*=\s*(?=[-−]?[0-9])"), " equals ", "numbers"),
    _Rule("en_times", re.compile(r"(?<=[0-9])\s*\*\s*(?=[0-9])|(?<=[0-9])\s+×\s+(?=[0-9])"), " times ", "numbers"),
    _Rule("en_v_version", re.compile(r"(?<![0-9A-Za-z.])v([0-9]{1,3}(?:\.[0-9]{1,4})+)(?![0-9A-Za-z]|\.[0-9])"),
          _en_v_version, "numbers"),
    _Rule("en_version", re.compile(rf"\b({_VERSIONED})\s+([0-9]{{1,3}}(?:\.[0-9]{{1,4}})+)(?![0-9A-Za-z]|\.[0-9])"),
          _en_version, "numbers"),
    _Rule("en_number",
          re.compile(rf"((?<![0-9A-Za-z.,)\]])[-−])?((?<![0-9.])(?:(?:{_INT})?(\.[0-9]+){{2,}}|"
                     rf"{_NUM}))(?![0-9])"), _en_number, "numbers"),
    _Rule("en_leftover_digits", re.compile(r"[0-9]+"), _en_leftover_digits, "numbers"),
    _Rule("en_ampersand", re.compile(r"(?:(?<!\s)(\s*))?&(?![A-Za-z]+;|#[0-9]+;)(\s*)"), _en_ampersand, "symbols"),
    _Rule("en_percent_sign", re.compile(r"(?:(?<!\s)(\s*))?%(\s*)"), _spaced_symbol("percent"), "symbols"),
    _Rule("en_plus_minus", re.compile(r"(?:(?<!\s)(\s*))?(?:±|\+/-)(\s*)"), _spaced_symbol("plus or minus"),
          "symbols"),
    _Rule("en_math_sign", re.compile(r"(?:(?<!\s)(\s*))?([×÷≤≥≠≈])(\s*)"),
          _spaced_symbol({"×": "times", "÷": "divided by", "≤": "at most", "≥": "at least", "≠": "is not",
                          "≈": "about"}), "symbols"),
    # after the other symbols: one read next to it ("@±") puts the space that makes "@" a word
    _Rule("en_at_sign", re.compile(r"(?:(?<=\s)|^)@(?=\s|[A-Za-z_])"),
          lambda m: "at" + ("" if m.string[m.end():m.end() + 1].isspace() else " "), "symbols"),
    # last: a rate after any reading that ends in a currency, a unit or 'percent' ('%/d' too)
    _Rule("en_per", re.compile(rf"(?<![^\W\d_])([a-z]+)\s?/\s?({_PER})(?![A-Za-z])"), _en_per, "units"),
]



# --- Chinese ----------------------------------------------------------------------------------
_MEASURE = ("个|只|条|张|块|瓶|杯|份|本|辆|台|匹|头|位|名|件|次|种|双|对|岁|年|天|周|月|小时|"
            "分钟|秒|斤|克|千克|公斤|吨|米|厘米|毫米|公里|升|毫升|元|角|人|家|间|层|页|倍")
# 两个, 两万, 两亿; but 2月 is February (二月: two months are 两个月)
_BEFORE_TWO_IS_LIANG = re.compile(rf"(?!月)(?:{_MEASURE}|[千万亿])")
_CURRENCY_ZH = {"$": "美元", "€": "欧元", "£": "英镑", "¥": "元", "￥": "元"}
_DIGITS_ZH = "零一二三四五六七八九"
_UNITS_ZH = {
    "km": "公里", "m": "米", "cm": "厘米", "mm": "毫米", "kg": "千克", "g": "克", "mg": "毫克", "t": "吨",
    "L": "升", "l": "升", "ml": "毫升", "mL": "毫升", "km/h": "公里每小时", "kmh": "公里每小时", "m/s": "米每秒",
    "h": "小时", "min": "分钟", "s": "秒", "ms": "毫秒", "kWh": "千瓦时", "W": "瓦", "kW": "千瓦", "Hz": "赫兹",
    "kHz": "千赫兹", "MHz": "兆赫兹", "GHz": "吉赫兹", "mAh": "毫安时", "V": "伏", "mi": "英里", "ft": "英尺",
    "in": "英寸", "lb": "磅", "lbs": "磅", "oz": "盎司", "mph": "英里每小时", "GB": "GB", "MB": "MB", "TB": "TB",
    "KB": "KB",
}
_UNIT_KEYS_ZH = "|".join(re.escape(k) for k in sorted(_UNITS_ZH, key=len, reverse=True))


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


def _digits_zh(s: str) -> str:
    return "".join(_DIGITS_ZH[int(c)] for c in s)


def _zh_date(m: re.Match) -> str:
    if not _is_date(int(m[1]), int(m[2]), int(m[3])):
        return m[0]  # not a real date: left as written, read as numbers later
    return f"{_zh(m[1], 'direct')}年{_zh(str(int(m[2])))}月{_zh(str(int(m[3])))}日"


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
    unit = _CURRENCY_ZH[m[2]]
    if m.string.startswith(unit, m.end()):  # "¥1,200元": the writer named the unit already
        unit = ""
    return f"{'负' if m[1] else ''}{_zh(amount)}{m[4] or ''}{unit}"


def _zh_percent(m: re.Match) -> str:
    sign = {"-": "负", "−": "负", "+": "正"}.get(m[1], "")
    return f"{sign}{'千分之' if m[3] == '‰' else '百分之'}{_zh(m[2])}"


def _zh_percent_range(m: re.Match) -> str:  # "5%-10%", "5%～10%": 百分之五到百分之十
    return f"百分之{_zh(m[1])}到百分之{_zh(m[2])}"


def _zh_temperature(m: re.Match) -> str:
    unit = "华氏度" if (m[3] or "").upper() == "F" or m[4] == "℉" else (
        "摄氏度" if m[3] or m[4] else "度")
    return f"{'零下' if m[1] else ''}{_zh(m[2])}{unit}"


def _zh_count(num: str) -> str:
    """A number before a measure word: 2 is 两 ('两公里', '两个')."""
    return "两" if num == "2" else _zh(num)


def _zh_unit(m: re.Match) -> str:  # "3kg" -> 三千克, "5-10km" -> 五到十公里, "50m²" -> 五十平方米
    sign, num, num2, unit, power = m[1], m[2], m[3], m[4], m[5]
    words = ("负" if sign else "") + (_zh(num) + "到" + _zh_count(num2) if num2 else _zh_count(num))
    prefix = {"²": "平方", "2": "平方", "³": "立方"}.get(power or "", "")
    if power and unit not in ("m", "km", "cm", "mm"):
        return m[0]
    return words + prefix + _UNITS_ZH[unit]


def _zh_fraction(m: re.Match) -> str:
    if int(m[2]) == 0:
        return m[0]
    return f"{_zh(m[2])}分之{_zh(m[1])}"


def _zh_number(m: re.Match) -> str:
    sign, num = m[1], m[2]
    if m[3]:  # version-like 1.2.3, or .5.3 (read whole: a second pass would read what is left)
        return "点".join(_zh(p or "0") for p in num.split("."))
    if num == "2" and not sign and _BEFORE_TWO_IS_LIANG.match(m.string, m.end()) and \
            m.string[m.start() - 1:m.start()] != "第":
        return "两"
    return _zh(("-" if sign else "") + num)


_ZH_RULES: list[_Rule] = [
    # a number dialled ("拨打110", "致电12345"): digit by digit
    _Rule("zh_dial", re.compile(r"((?:拨打|致电|呼叫|拨|电话|热线)[：:]?\s?)([0-9]{3,})(?![0-9.])"),
          lambda m: m[1] + _digits_zh(m[2]), "phones"),
    _Rule("zh_date", re.compile(r"(?<![0-9])([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})(?![0-9])"), _zh_date,
          "numbers"),
    _Rule("zh_year", re.compile(r"(?<![0-9])([0-9]{4})(?=\s?年)"), lambda m: _zh(m[1], "direct"), "numbers"),
    _Rule("zh_time",
          re.compile(r"(?<![0-9:.])([01]?[0-9]|2[0-3])[:：]([0-5][0-9])(?:[:：]([0-5][0-9]))?(?![0-9])"),
          _zh_time, "numbers"),
    # not a time (that rule came first): a score or a ratio, "3:2" 三比二
    _Rule("zh_ratio", re.compile(r"(?<![0-9:：.])([0-9]+)[:：]([0-9]+)(?![0-9:：]|\.[0-9])"),
          lambda m: f"{_zh(m[1])}比{_zh(m[2])}", "numbers"),
    _Rule("zh_currency", re.compile(rf"(?<![0-9A-Za-z])([-−])?([$€£¥￥])\s?({_NUM})(?:\s?([千万亿]))?"),
          _zh_currency, "numbers"),
    _Rule("zh_percent_range",
          re.compile(rf"(?<![0-9.,])({_NUM})\s?[%％]\s?(?:[-~～–—]|到|至)\s?({_NUM})\s?[%％]"), _zh_percent_range,
          "numbers"),
    _Rule("zh_percent", re.compile(rf"(?<![0-9.,])([-−+]?)({_NUM})\s?([%％‰])"), _zh_percent, "numbers"),
    # before the temperature and unit rules: "18~25℃" is 十八到二十五摄氏度
    _Rule("zh_range",
          re.compile(rf"(?<![0-9.])({_NUM})\s?(?:[~～]|-(?=\s?{_NUM}\s?(?:{_MEASURE})))\s?(?={_NUM})"),
          lambda m: _zh(m[1]) + "到", "numbers"),
    _Rule("zh_temperature",
          re.compile(rf"(?<![0-9.,])([-−])?({_NUM})\s?(?:°\s?([CFcf])(?![A-Za-z])|(℃|℉)|°)"),
          _zh_temperature, "units"),
    _Rule("zh_unit",
          re.compile(rf"(?<![0-9A-Za-z.,])([-−])?({_NUM})(?:\s?[-~～]\s?({_NUM}))?\s?({_UNIT_KEYS_ZH})"
                     rf"([²³]|2(?![0-9]))?(?![A-Za-z0-9])"), _zh_unit, "units"),
    _Rule("zh_fraction", re.compile(r"(?<![0-9/])([0-9]{1,4})/([0-9]{1,4})(?![0-9/])"), _zh_fraction, "numbers"),
    _Rule("zh_plus", re.compile(r"(?<=[0-9])\s*\+\s*(?=[0-9])"), "加", "numbers"),
    _Rule("zh_equals", re.compile(r"(?<=[0-9])\s*=\s*(?=[-−]?[0-9])"), "等于", "numbers"),
    _Rule("zh_number",
          re.compile(rf"((?<![0-9A-Za-z.,)\]])[-−])?((?<![0-9.])(?:(?:{_INT})?(\.[0-9]+){{2,}}|"
                     rf"{_NUM}))(?![0-9])"), _zh_number, "numbers"),
    _Rule("zh_ampersand", re.compile(r"(?:(?<!\s)\s*)?&(?![A-Za-z]+;|#[0-9]+;)\s*"), "和", "symbols"),
]


# --- links, e-mail addresses and phone numbers: before the language split, in the language around them
_TLDS = ("com|org|net|edu|gov|mil|int|io|ai|dev|app|co|uk|us|de|fr|es|nl|ch|se|dk|fi|pl|ru|cn|jp|kr|ca|au|nz|br|"
         "mx|eu|tv|ly|gg|fm|info|biz|xyz|tech|cloud|online|site|store|shop|blog|news|art|museum|pro|travel|ie|za|"
         "sg|hk|tw|wiki|club|design|email|live|life|today|media|studio|agency|digital|network|systems|page|link")
_TLD_WORDS = {"io": "I O", "ai": "A I", "xyz": "X Y Z", "edu": "E D U", "co": "co", "me": "me"}
_URL_SYMBOLS = {
    "en": {".": "dot", "/": "slash", "-": "dash", "_": "underscore", "?": "question mark", "=": "equals",
           "&": "and", "#": "hash", ":": "colon", "~": "tilde", "%": "percent", "+": "plus", "@": "at",
           "!": "bang", ",": "comma", ";": "semicolon", "*": "star", "$": "dollar", "|": "pipe",
           "(": "", ")": "", "'": "", "[": "", "]": "", '"': ""},
    "zh": {".": "点", "/": "斜杠", "-": "杠", "_": "下划线", "?": "问号", "=": "等于", "&": "和", "#": "井号",
           ":": "冒号", "~": "波浪号", "%": "百分号", "+": "加", "@": "艾特", "!": "感叹号", ",": "逗号",
           ";": "分号", "*": "星号", "$": "美元符号", "|": "竖线", "(": "", ")": "", "'": "", "[": "", "]": "",
           '"': ""},
}
_LINK_TOKEN = re.compile(r"[^\W\d_]+|[0-9]+|\S")
_VOWELS = set("aeiouy")
_TRAILING = set(".,;:!?'\")]")


def _split_trailing(written: str) -> tuple[str, str]:
    """'example.com/docs).' -> ('example.com/docs', ').'): punctuation after an address is the sentence's."""
    core = written
    while core and core[-1] in _TRAILING:
        if core[-1] == ")" and core.count("(") >= core.count(")"):
            break
        core = core[:-1]
    return core, written[len(core):]


def _link_digits(s: str, zh: bool) -> str:
    if zh:
        return _zh(s) if len(s) <= 2 and not (len(s) == 2 and s.startswith("0")) else _digits_zh(s)
    if len(s) <= 2 and not (len(s) == 2 and s.startswith("0")):
        return _cardinal(int(s))
    return _year_en(int(s)) if _YEARLIKE.fullmatch(s) else _digits_en(s)


def _link_word(word: str, tld: bool = False) -> str:
    lower = word.lower()
    if tld and lower in _TLD_WORDS:
        return _TLD_WORDS[lower]
    if len(word) == 1 or (tld and len(word) == 2) or lower == "www" or (
            word.islower() and len(word) <= 4 and not _VOWELS & set(lower)):
        return " ".join(word.upper())  # "www", "bbc", "uk", "f": letters
    return word


def _say_link_text(text: str, lang: str, tld_last: bool = False) -> str:
    words = []
    tokens = _LINK_TOKEN.findall(text)
    symbols = _URL_SYMBOLS[lang]
    for i, tok in enumerate(tokens):
        if "0" <= tok[0] <= "9":
            words.append(_link_digits(tok, lang == "zh"))
        elif tok[0].isalpha():
            words.append(_link_word(tok, tld=tld_last and i == len(tokens) - 1))
        else:
            words.append(symbols.get(tok, tok))
    return " ".join(w for w in words if w)


def _say_host(host: str, lang: str) -> str:
    labels = host.split(".")
    dot = _URL_SYMBOLS[lang]["."]
    spoken = [_say_link_text(label, lang) for label in labels[:-1]]
    spoken.append(_say_link_text(labels[-1], lang, tld_last=True))
    return f" {dot} ".join(s for s in spoken if s)


def _say_url(url: str, lang: str) -> str:
    body = re.sub(r"^(?:https?|ftp)://", "", url, flags=re.IGNORECASE)
    body = unquote(body).rstrip("/")
    host, _, rest = re.match(r"([^/?#]*)(([/?#].*)?)", body, re.DOTALL).group(1, 2, 3)
    port = ""
    if ":" in host:
        host, _, port = host.partition(":")
    words = [_say_host(host, lang)]
    if port:
        words.append(f"{_URL_SYMBOLS[lang][':']} {_say_link_text(port, lang)}")
    if rest:
        words.append(_say_link_text(rest, lang))
    return " ".join(w for w in words if w)


def _context_lang(m: re.Match, mode: str) -> str:
    """'zh' where the text around the match is Chinese (auto), or as the caller said."""
    if mode != "auto":
        return mode
    around = m.string[max(0, m.start() - 12):m.start()] + m.string[m.end():m.end() + 12]
    return "zh" if _CJK_TEXT.search(around) else "en"


def _url(mode: str) -> _Sub:
    def sub(m: re.Match) -> str:
        core, trailing = (m[0][1:-1], "") if m[1] else _split_trailing(m[0])
        before = " " if _letter(m.string[m.start() - 1:m.start()]) else ""
        after = " " if _letter(m.string[m.end():m.end() + 1]) else ""
        return before + _say_url(core, _context_lang(m, mode)) + trailing + after
    return sub


def _email(mode: str) -> _Sub:
    def sub(m: re.Match) -> str:
        lang = _context_lang(m, mode)
        return f"{_say_link_text(m[2], lang)} {_URL_SYMBOLS[lang]['@']} {_say_host(m[3], lang)}"
    return sub


def _ip(mode: str) -> _Sub:
    def sub(m: re.Match) -> str:
        lang = _context_lang(m, mode)
        if any(int(part) > 255 for part in m.groups()):
            return m[0]
        digits = _digits_zh if lang == "zh" else _digits_en
        return f" {_URL_SYMBOLS[lang]['.']} ".join(digits(part) for part in m.groups())
    return sub


_EXTENSION = re.compile(r"\s?(?:ext\.?|x)\s?([0-9]{1,5})$")


def _say_phone(written: str, lang: str) -> str:
    """Digit by digit, a pause (a comma) between the groups as written; a toll-free 800 area code
    is said 'eight hundred'."""
    ext = _EXTENSION.search(written)
    core = written[:ext.start()] if ext else written
    groups = re.findall(r"[0-9]+", core)
    zh = lang == "zh"
    spoken = []
    for i, group in enumerate(groups):
        area = (i == 0 and len(groups) >= 3) or (i == 1 and groups[0] == "1")
        if group == "800" and area and not zh:
            spoken.append("eight hundred")
        else:
            spoken.append(_digits_zh(group) if zh else _digits_en(group))
    words = ("，" if zh else ", ").join(spoken)
    if core.lstrip().startswith("+"):
        words = ("加" if zh else "plus ") + words
    if ext:
        words += ("，分机" if zh else ", extension ") + (_digits_zh(ext[1]) if zh else _digits_en(ext[1]))
    return words


def _phone(mode: str, min_digits: int = 7, max_digits: int = 15) -> _Sub:
    def sub(m: re.Match) -> str:
        written = m[0]
        trailing = ""
        if written.endswith(")") and written.count(")") > written.count("("):
            written, trailing = written[:-1], ")"
        ext = _EXTENSION.search(written)
        count = len(re.sub(r"[^0-9]", "", written[:ext.start()] if ext else written))
        if not min_digits <= count <= max_digits:
            return m[0]
        return _apart(m, _say_phone(written, _context_lang(m, mode))) + trailing
    return sub


def _phone_after_cue(mode: str) -> _Sub:
    def sub(m: re.Match) -> str:
        return m[1] + _say_phone(m[2], _context_lang(m, mode))
    return sub


def _vanity(mode: str) -> _Sub:  # "1-800-FLOWERS": said "one, eight hundred, flowers"
    def sub(m: re.Match) -> str:
        if _context_lang(m, mode) == "zh":
            return f"一，{_digits_zh(m[1])}，{m[2]}"
        area = "eight hundred" if m[1] == "800" else _digits_en(m[1])
        return f"one, {area}, {m[2].lower()}"
    return sub


# an address ends where Chinese text or punctuation starts ("访问example.com了解")
_URL_BODY = rf"""[^\s<>"'\[\]{{}}|\\^`{_CJK}\u3000-\u303f\uff01-\uff65]"""
_NOT_BEFORE = "A-Za-z0-9_"  # ASCII word characters: CJK text may touch a link or a phone number
_PHONE_END = r"(?![0-9]|[.,:/-][0-9])"
_EXT = r"(?:\s?(?:ext\.?|x)\s?[0-9]{1,5})?"


def _link_rules(mode: str) -> list[_Rule]:
    return [
        # an address in angle brackets ("<me@example.com>", markdown's autolink) is read without them
        _Rule("email", re.compile(rf"(<)?(?(1)|(?<![{_NOT_BEFORE}.+-]))([A-Za-z0-9._%+-]*[A-Za-z0-9])@"
                                  rf"((?:[A-Za-z0-9-]+\.)+[A-Za-z]{{2,}})(?(1)>|(?![{_NOT_BEFORE}-]))"), _email(mode),
              "emails"),
        _Rule("url",
              re.compile(rf"(<)?(?(1)|(?<![{_NOT_BEFORE}@.\-/]))(?:(?:(?:https?|ftp)://|www\.){_URL_BODY}+"
                         rf"|(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+(?:{_TLDS})"
                         rf"(?![{_NOT_BEFORE}-]|\.[A-Za-z0-9])(?::[0-9]{{2,5}})?(?:/{_URL_BODY}*)?"
                         rf"|localhost:[0-9]{{2,5}}(?![0-9])(?:/{_URL_BODY}*)?)(?(1)>)"), _url(mode), "urls"),
        _Rule("ip_address",
              re.compile(r"(?<![\w.])([1-9][0-9]{1,2})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})(?![\w]|\.[0-9])"),
              _ip(mode), "urls"),
        _Rule("phone_vanity", re.compile(rf"(?<![{_NOT_BEFORE}+-])1-(8[0-9]{{2}})-([A-Z]{{3,10}})(?![A-Za-z0-9])"),
              _vanity(mode), "phones"),
        _Rule("phone_international",
              re.compile(rf"(?<![{_NOT_BEFORE}+])\+[0-9]{{1,3}}(?:[ .\-]?\(?[0-9]{{1,5}}\)?){{1,6}}{_EXT}{_PHONE_END}"),
              _phone(mode, 8), "phones"),
        _Rule("phone_north_american",
              re.compile(rf"(?<![{_NOT_BEFORE}+.,:/-])(?:1[ .-]?)?"
                         rf"(?:\([0-9]{{3}}\)\s?[0-9]{{3}}[ .-]|[0-9]{{3}}-[0-9]{{3}}-|"
                         rf"[0-9]{{3}}\.[0-9]{{3}}\.|[0-9]{{3}} [0-9]{{3}} )[0-9]{{4}}{_EXT}{_PHONE_END}"),
              _phone(mode), "phones"),
        _Rule("phone_national",
              # grouped as written; also a UK mobile "07700 900123" and a Chinese landline "010-12345678"
              re.compile(rf"(?<![{_NOT_BEFORE}+.,:/-])0(?:[0-9]{{1,4}}(?:[ -][0-9]{{2,4}}){{2,3}}"
                         rf"|[0-9]{{4}}[ -][0-9]{{6}}|[0-9]{{2,3}}-[0-9]{{7,8}}){_EXT}{_PHONE_END}"),
              _phone(mode, 9, 12), "phones"),
        _Rule("phone_chinese_mobile",
              re.compile(rf"(?<![{_NOT_BEFORE}+.,:/-])1[3-9][0-9][ -][0-9]{{4}}[ -][0-9]{{4}}{_PHONE_END}"),
              _phone(mode), "phones"),
        _Rule("phone_after_cue",
              re.compile(rf"(?<![^\W\d_])((?:[Cc]all|[Pp]hone|[Tt]el|[Dd]ial|[Tt]ext|[Ff]ax|[Rr]ing)(?:\s+(?:us|me|them|him|her))?"
                         rf"(?:\s+(?:at|on))?[:.]?\s+)([0-9]{{3}}-[0-9]{{4}}|911|999|112|000){_PHONE_END}"),
              _phone_after_cue(mode), "phones"),
    ]


_LINK_RULES: dict[str, list[_Rule]] = {mode: _link_rules(mode) for mode in ("en", "zh", "auto")}
_MARKUP_RULES: list[_Rule] = [_Rule(name, pattern, repl, family) for name, family, pattern, repl in markup.RULES]
# A Chinese list item is numbered "1、": the markup rule decides that from the item's first letter,
# and this rule, after the others, for an item that had none ("1. 0℃" is "一、零摄氏度."), so that
# a second call finds nothing to change.
_AFTER_ALL_RULES: list[_Rule] = [
    _Rule("cjk_list_number", re.compile(rf"^([ \t]*(?:[0-9]{{1,3}}|[〇零一二两三四五六七八九十百]{{1,6}}))\.[ \t]+(?=[{_CJK}])", re.M),
          r"\1、", "markdown"),
]
_MARKUP_PASSES = 8  # nested or encoded markup ("&lt;b&gt;", "`**x**`") is read in one call


# What each rule cannot match without (a necessary condition, not a sufficient one): most texts
# lack most triggers, and one quick search skips the rule's own, slower, pattern.
_VULGAR_CHARS = "".join(_VULGAR)
_NEEDS: dict[str, str] = {
    "en_mister": r"Mr\.", "en_missus": r"Mrs\.", "en_miz": r"Ms\.", "en_professor": r"Prof\.", "en_mount": r"Mt",
    "en_doctor_drive": r"Dr\.", "en_saint_street": r"St\.", "en_junior": r"Jr\.", "en_senior": r"Sr\.",
    "en_title": r"[A-Z][a-z]{1,3}\.", "en_versus": "vs", "en_for_example": r"e\.g\.", "en_that_is": r"i\.e\.",
    "en_et_cetera": r"etc\.", "en_also_known_as": r"a\.?k\.?a", "en_with_without": "/",
    "en_before_number": r"\.\s?[0-9]", "en_latin": r"[a-z]\.", "en_street_type": rf"\s(?:{_words(_STREET_TYPES)})",
    "en_quadrant": r"\s(?:NW|NE|SW|SE)\b",
    "en_unit_word": _words(_UNIT_WORDS), "en_weekday_range": r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\.?\s?[-–—]",
    "en_weekday": r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]{0,2}\.?,?\s",
    "en_number_abbreviation": r"No\.", "en_month_abbreviation": r"(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec)",
    "en_initialism": r"[A-Z]\.[A-Z]\.", "en_state": r", [A-Z]{2}\s", "en_number_sign": "#[0-9]",
    "en_approximately": "[~≈]", "en_iso_date": "[0-9]-[0-9]", "en_month_day": "[0-9]", "en_day_month": "[0-9]",
    "en_numeric_date": "[0-9][/.][0-9]", "en_time": "[0-9]:",
    "en_time_range": r"[0-9]\s?(?:[AaPp]\.?[Mm]\.?\s?)?[-–—]",  # "10am–6pm" too
    "en_hour_meridiem": r"[0-9]\s?[AaPp]", "en_ratio": "[0-9]:[0-9]", "en_decade": "[0-9]['’]?s",
    "en_zip": "[0-9]{5}", "en_postcode": "[0-9][A-Z]{2}", "en_house_number": "[0-9]", "en_range": "[0-9]\\s?[-–]",
    "en_currency": "[$€£¥₹₩₽]", "en_currency_code": "|".join(_CURRENCY_CODES), "en_cents": "¢", "en_percent": "%",
    "en_temperature": "[°℃℉]", "en_dimensions": r"[0-9]\s?[x×]",
    "en_by": r"\s[x×]\s|×", "en_unit": "[0-9]", "en_magnitude": "[0-9]",
    "en_multiplier": "[0-9][x×]", "en_per": "/", "en_ordinal": "[0-9](?:st|nd|rd|th|ST|ND|RD|TH|St|Nd|Rd|Th|sT|nD|rD|tH)",
    "en_all_week": "24/7", "en_mixed_fraction": "[0-9]/[0-9]", "en_vulgar_fraction": f"[{_VULGAR_CHARS}]",
    "en_fraction": "[0-9]/[0-9]", "en_roman": r"\s[IVX]{2}|\s[VX]", "en_roman_wide": r"\s[LC]|\s[IVX]+[LC]",
    "en_v_version": r"v[0-9]", "en_version": r"[A-Za-z]\s+[0-9]{1,3}\.[0-9]", "en_plus": r"\+",
    "en_plus_after": r"[0-9]\+", "en_plus_sign": r"\+",
    "en_equals": "=", "en_times": "[*×]", "en_number": "[0-9]", "en_leftover_digits": "[0-9]", "en_ampersand": "&",
    "en_percent_sign": "%", "en_at_sign": "@", "en_plus_minus": r"±|\+/-", "en_math_sign": "[×÷≤≥≠≈]",
    "zh_date": "[0-9]", "zh_year": "年", "zh_time": "[:：]", "zh_ratio": "[0-9][:：][0-9]",
    "zh_dial": "拨|致电|呼叫|电话|热线", "zh_currency": "[$€£¥￥]", "zh_percent_range": "[%％]",
    "zh_percent": "[%％‰]", "zh_temperature": "[°℃℉]", "zh_unit": "[0-9]", "zh_range": "[0-9]", "zh_fraction": "/",
    "zh_plus": r"\+", "zh_equals": "=", "zh_number": "[0-9]", "zh_ampersand": "&",
    "url": r"\.|://|localhost:",
    "email": "@", "ip_address": r"[0-9]\.[0-9]", "phone_vanity": "1-8", "phone_international": r"\+",
    "phone_north_american": "[0-9]{3}", "phone_national": "0[0-9]", "phone_chinese_mobile": "1[3-9][0-9][ -]",
    "phone_after_cue": "[0-9]{3}",
    "tag_entity": "&", "tag_comment": "<!--", "tag_script": "<", "tag_sub_alias": "<", "tag_say_as_characters": "<",
    "tag_break": "<", "tag_block": "<", "tag_inline": "<", "md_code_block": "```|~~~", "md_fence": "```|~~~",
    "md_table": r"\|", "md_setext_heading": r"\n[ \t]{0,3}(?:=|--)", "md_rule": r"[-*_][ \t]*[-*_][ \t]*[-*_]",
    "md_heading": "#", "md_quote": ">", "md_list_item": r"(?:^|\n)[ \t]*(?:[-*+•‣◦▪●]|[0-9]{1,3}[.)])[ \t]",
    "md_reference": r"\]:", "md_footnote": r"\[\^", "md_image": r"!\[", "md_link": r"\]", "md_citation": r"\[[0-9]",
    "md_autolink": "<", "md_code_span": "`", "md_emphasis": "[*_~]", "md_escape": r"\\",
}


def _with_needs(rules: list[_Rule]) -> list[_Rule]:
    return [rule._replace(needs=re.compile(_NEEDS[rule.name])) if rule.name in _NEEDS else rule for rule in rules]


_EN_RULES = _with_needs(_EN_RULES)
_ZH_RULES = _with_needs(_ZH_RULES)
_MARKUP_RULES = _with_needs(_MARKUP_RULES)
_LINK_RULES = {mode: _with_needs(rules) for mode, rules in _LINK_RULES.items()}


# --- language split ---------------------------------------------------------------------------
def _script(ch: str) -> str | None:
    if _CJK_SCRIPT.match(ch):
        return "zh"
    return "en" if ch.isalpha() else None


_SENTENCE_END = re.compile(r"[.!?;:,]['\")\]]*(?=\s)")


def _segments(text: str) -> list[tuple[str, str]]:
    """Cut mixed text into (language, piece): letters decide; digits, spaces and symbols join
    a neighbour. Between English and Chinese, what touches the left word stays with it and the
    rest goes right ('3个' is Chinese, 'version 3 is' English). A unit written in Latin letters
    right after a number ('3kg', '5km/h') is part of the number, not an English word."""
    runs: list[list] = []
    for i, ch in enumerate(text):
        # the C of "25°C" is part of the number, not an English word
        kind = None if ch in "CFcf" and text[i - 1:i] == "°" else _script(ch)
        if runs and runs[-1][0] == kind:
            runs[-1][1] += ch
        else:
            runs.append([kind, ch])
    for i, run in enumerate(runs):
        if run[0] == "en" and i > 0 and runs[i - 1][0] is None and runs[i - 1][1][-1:] in "0123456789/" \
                and run[1] in _UNITS_ZH:
            run[0] = None
    folded: list[list] = []
    for run in runs:
        if folded and folded[-1][0] == run[0]:
            folded[-1][1] += run[1]
        else:
            folded.append(list(run))
    runs = folded
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
        # a sentence that ends in the chunk takes what is before its end ("grew 5.2%. 报告"); else
        # what touches the left word stays with it
        ends = [end.end() for end in _SENTENCE_END.finditer(chunk)]
        cut = ends[-1] if ends else next((i for i, ch in enumerate(chunk) if ch.isspace()), None)
        if cut is None:
            pieces.append((right, chunk))
        else:
            pieces += [(left, chunk[:cut]), (right, chunk[cut:])]
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


def _apply(rules: Iterable[_Rule], text: str, failures: _Failures | None, off: frozenset[str] = frozenset()) -> str:
    for rule in rules:
        if rule.family in off or (rule.needs is not None and rule.needs.search(text) is None):
            continue
        repl = rule.repl if failures is None or isinstance(rule.repl, str) else _guarded(rule, failures)
        text = rule.pattern.sub(repl, text)
    return text


def _markup(text: str, failures: _Failures | None, off: frozenset[str]) -> str:
    """The markup rules, again until nothing changes: '&lt;b&gt;' is a tag once decoded."""
    if "markdown" in off and "tags" in off:
        return text
    for _ in range(_MARKUP_PASSES):
        again = _apply(_MARKUP_RULES, text, failures, off)
        if again == text:
            break
        text = again
    return text


def _normalize(text: str, language: str = "auto", failures: _Failures | None = None,
               off: frozenset[str] = frozenset()) -> str:
    """The rules themselves. With `failures` None (the tests) an exception in a rule propagates;
    with a dict, a match whose rule raises is left as written and the rule is recorded there.
    `off`: the families (FAMILIES) whose rules are skipped."""
    text = _markup(text, failures, off)
    lang = str(language).lower()
    if lang.startswith("en") or (not lang.startswith("zh") and not _CJK_TEXT.search(text)):
        mode, text = "en", _apply(_EN_RULES, _apply(_LINK_RULES["en"], text, failures, off), failures, off)
    elif lang.startswith("zh"):
        mode, text = "zh", _apply(_ZH_RULES, _apply(_LINK_RULES["zh"], text, failures, off), failures, off)
    else:
        text = _apply(_LINK_RULES["auto"], text, failures, off)
        mode, text = "auto", "".join(_apply(_ZH_RULES if kind == "zh" else _EN_RULES, chunk, failures, off)
                                     for kind, chunk in _segments(text))
    # a link the rules made ("0°.com" is "zero degrees.com") is read too, so that a second call finds none
    text = _apply(_LINK_RULES[mode], text, failures, off)
    return _apply(_AFTER_ALL_RULES, text, failures, off)


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


def check_families(off: Iterable[str]) -> frozenset[str]:
    """`off` as a frozenset of family names; ValueError naming any that is not in FAMILIES."""
    off = frozenset(off)
    unknown = sorted(off - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown normalisation families: {', '.join(unknown)} (known: {', '.join(FAMILIES)})")
    return off


def _guarded_entry(text: str, off: frozenset[str], run: Callable[[_Failures, frozenset[str]], str],
                   outside: str) -> str:
    """The public entries' safety net: `run(failures, off)` on the text; a bug outside the rules
    (recorded as `outside`) gives the text back as written; failures logged by the input's hash."""
    off = check_families(off)
    if not isinstance(text, str) or not text:
        return text
    failures: _Failures = {}
    try:
        result = run(failures, off)
    except Exception as exc:  # noqa: BLE001 - a bug outside the rules must not cost a request its audio
        failures.setdefault(outside, type(exc).__name__)
        result = text
    if failures:
        _log_failures(text, failures)
    return result


def read_markup(text: str, off: frozenset[str] = frozenset()) -> str:
    """Only the markup families ("markdown", "tags", unless in `off`): the text a caller's sentences
    are cut from when the request asks for timestamps (its lines still apart, marks gone). Never
    raises on text, as normalize_for_speech."""
    return _guarded_entry(text, off, lambda failures, off: _markup(text, failures, off), "markup")


def normalize_for_speech(text: str, language: str = "auto", off: frozenset[str] = frozenset()) -> str:
    """Rewrite markup, links, addresses, phone numbers, units, numbers, currency, percentages,
    dates, times, symbols and common abbreviations as the words a speaker would say. `language`
    is "en", "zh" or "auto" (anything else counts as auto): auto uses the Chinese rules for the
    parts of a text next to CJK ideographs and the English rules elsewhere. `off` names families
    (FAMILIES) to leave as written; an unknown name is a ValueError. Unrecognised text is
    returned unchanged. Otherwise this never raises: where a rule fails, the span it matched is
    left as it was and the failure is logged by the input's hash (see the module docstring)."""
    return _guarded_entry(text, off, lambda failures, off: _normalize(text, language, failures, off),
                          "language_split")
