import hashlib
import logging
import re
import string
from collections import OrderedDict

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from handler import text_normalize
from handler.text_normalize import _normalize, normalize_for_speech

ENGLISH = [
    ("I have 3 apples.", "I have three apples."),
    ("She came 1st, he came 22nd.", "She came first, he came twenty-second."),
    ("I was born in 1990.", "I was born in nineteen ninety."),
    ("The 1990s were loud.", "The nineteen nineties were loud."),
    ("It grew 3.5 times.", "It grew three point five times."),
    ("It costs $5.", "It costs five dollars."),
    ("It costs $5.50 today.", "It costs five dollars and fifty cents today."),
    ("Only $1.01 left", "Only one dollar and one cent left"),
    ("A coffee is $0.99", "A coffee is ninety-nine cents"),
    ("€3 or £2", "three euros or two pounds"),
    ("They raised $2.5 million.", "They raised two point five million dollars."),
    ("Prices rose 3.5%.", "Prices rose three point five percent."),
    ("It is -4 outside.", "It is minus four outside."),
    ("Population: 1,234,567.", "Population: one million two hundred and thirty-four thousand five hundred and sixty-seven."),
    ("Due 2026-11-25.", "Due November twenty-fifth, twenty twenty-six."),
    ("Meet at 10:30.", "Meet at ten thirty."),
    ("Meet at 9:05 pm.", "Meet at nine oh five P M."),
    ("Doors open at 10:00", "Doors open at ten o'clock"),
    ("Dr. Smith met Mr. Jones and Mrs. Brown.", "Doctor Smith met Mister Jones and Missus Brown."),
    ("St. Louis is on Main St.", "Saint Louis is on Main Street."),
    ("cats vs. dogs", "cats versus dogs"),
    ("fruit, e.g. apples, etc. Then more.", "fruit, for example apples, et cetera. Then more."),
    ("R&D and Q & A", "R and D and Q and A"),
    ("It was 20°C today.", "It was twenty degrees Celsius today."),
    ("It fell to -5°C.", "It fell to minus five degrees Celsius."),
    ("The score is +5 now", "The score is plus five now"),
    ("1+1=2", "one plus one equals two"),
    ("A 5km walk on an A4 map", "A five km walk on an A four map"),
    ("Install version 1.2.3", "Install version one point two point three"),
    ("She is No. 5 and #1", "She is number five and number one"),
    ("Born November 25, 2026", "Born November twenty-fifth, twenty twenty-six"),
    ("On 4 July 1776 they met", "On the fourth of July seventeen seventy-six they met"),
    ("2026 people came", "two thousand and twenty-six people came"),
    ("from 1990 to 2005", "from nineteen ninety to two thousand and five"),
    ("Agent 007", "Agent zero zero seven"),
    ("Add 1/2 cup", "Add one half cup"),
    ("Save $5k now", "Save five thousand dollars now"),
    # two numbers joined by a dash are a span or a score: said "to"
    ("They won 4-3.", "They won four to three."),
    ("Wait 3-5 days", "Wait three to five days"),
    ("pages 4–10", "pages four to ten"),
    ("It rose 4-5% in 1990-95", "It rose four to five percent in nineteen ninety to ninety-five"),
    ("It ran 1990-2005.", "It ran nineteen ninety to two thousand and five."),
    ("Expect 3-5°C", "Expect three to five degrees Celsius"),
    ("a 5-10km run", "a five to ten km run"),
    ("a 16:9 screen won 3:2", "a sixteen to nine screen won three to two"),  # not a time: a ratio
    ("Call 555-123-4567", "Call five five five one two three four five six seven"),
    # what no rule places is still read, never left as digits
    ("..9", "..nine"),
    ("3..25", "three..twenty-five"),
    ("Wait.5.3", "Wait point five point three"),
    ("3rd-4th", "third-fourth"),
    ("+-5", "+minus five"),
    ("1e5 and 0x1F", "one e five and zero x one F"),
    ("9/11", "nine/eleven"),
    ("2026-11", "twenty twenty-six-eleven"),  # a year and a month, not a span
    ("$5abc", "five dollars abc"),
    ("the 123456789012345th", "the one hundred and twenty-three trillion four hundred and fifty-six billion seven "
     "hundred and eighty-nine million twelve thousand three hundred and forty-fifth"),  # no commas
]

CHINESE = [
    ("我有3个苹果", "我有三个苹果"),
    ("我有2个苹果", "我有两个苹果"),
    ("他是第2个", "他是第二个"),
    ("2026年11月25日", "二零二六年十一月二十五日"),
    ("日期是2026-11-25。", "日期是二零二六年十一月二十五日。"),
    ("增长了50%", "增长了百分之五十"),
    ("下降了3.5%", "下降了百分之三点五"),
    ("气温-3.5℃", "气温零下三点五摄氏度"),
    ("今天25°C", "今天二十五摄氏度"),
    ("价格是12.5元", "价格是十二点五元"),
    ("共1,234人", "共一千二百三十四人"),
    ("来了2000人", "来了两千人"),
    ("电话13800138000", "电话一三八零零一三八零零零"),
    ("今天10:30开会", "今天十点三十分开会"),
    ("下午2:00见", "下午两点见"),
    ("等3-5天", "等三到五天"),
    ("花了$5.50", "花了五点五美元"),
    ("一半是1/2", "一半是二分之一"),
    ("他坐第1排", "他坐第一排"),
    # cn2an fails on ".5" and drops decimals after the 16th: read here instead
    ("涨了.5%", "涨了百分之零点五"),
    ("π是3.14159265358979323846", "π是三点一四一五九二六五三五八九七九三二三八四六"),
    ("版本.5.3", "版本零点五点三"),  # read at once: a second pass must find nothing to do
]

MIXED = [  # auto: Chinese rules beside CJK, English rules elsewhere
    ("Hello 我有3个 and 4 cats", "Hello 我有三个 and four cats"),
    ("Dr. 王 paid $5 for 2本书", "Doctor 王 paid five dollars for 两本书"),
]


@pytest.mark.parametrize(("text", "spoken"), ENGLISH)
def test_english(text, spoken):
    assert normalize_for_speech(text, "en") == spoken
    assert normalize_for_speech(text) == spoken  # no CJK: auto is English


@pytest.mark.parametrize(("text", "spoken"), CHINESE)
def test_chinese(text, spoken):
    assert normalize_for_speech(text, "zh") == spoken
    assert normalize_for_speech(text) == spoken  # CJK present: auto is Chinese


@pytest.mark.parametrize(("text", "spoken"), MIXED)
def test_mixed_text_in_auto(text, spoken):
    assert normalize_for_speech(text) == spoken


def test_explicit_chinese_applies_without_cjk():
    assert normalize_for_speech("-5", "zh") == "负五"
    assert normalize_for_speech("-5", "en") == "minus five"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Hello there.  How are you?\n\tFine!",
        "  spaces   everywhere  ",
        "你好，世界！  这是一个测试。",
        "C++ #hashtag? no, not numbers: x-y, a.b, ...",
        "&amp; stays an entity",
        "Mr Smith without a period",
        "١٢٣ and ५ are not ASCII digits",
    ],
)
def test_text_without_anything_to_normalise_is_unchanged(text):
    for language in ("auto", "en", "zh"):
        assert normalize_for_speech(text, language) == text


def test_unknown_language_counts_as_auto():
    assert normalize_for_speech("3个", "fr") == "三个"
    assert normalize_for_speech("3 cats", "fr") == "three cats"


@pytest.mark.parametrize("normalize", [normalize_for_speech, _normalize])  # the core too: no safety net
def test_odd_numbers_are_read_as_numbers_and_never_raise(normalize):
    assert normalize("2026-13-45", "auto") == "twenty twenty-six-thirteen-forty-five"  # no 13th month
    assert normalize("2026-00-10", "en") == "twenty twenty-six-zero zero-ten"
    assert normalize("2026-02-30", "zh") == "两千零二十六-零二-三十"  # no February 30th
    assert normalize("9" * 40, "zh") == "九" * 40  # beyond cn2an's 16 digits: digit by digit
    assert normalize("9" * 40, "en") == " ".join(["nine"] * 40)


# --- properties of the core (`_normalize`: no safety net, so a rule that raises fails them) ------
LANGUAGES = st.sampled_from(["auto", "en", "zh"])
_DIGIT_RUNS = st.one_of(  # any run, or a value at some rule's edge (zero, an hour, a minute, a year)
    st.text(alphabet="0123456789", min_size=1, max_size=20),
    st.sampled_from(["0", "00", "000", "1", "2", "9", "10", "12", "13", "23", "24", "31", "59", "60", "99", "100",
                     "1000", "1099", "1990", "2026", "2100", "999999999999999", "1000000000000000"]),
)
# two numbers and what joins them: a decimal, a thousands group, a time, a ratio, a fraction, a span
_JOINED = st.builds(lambda a, sep, b: a + sep + b, _DIGIT_RUNS,
                    st.sampled_from([*".,:/-–~+=", " - ", "..", ":0", "-0", "/0", ".0"]), _DIGIT_RUNS)
# a date, real or not: 2026-11-25, 2026/2/30, 1990.13.45, 0000-00-00
_DATE_LIKE = st.builds(lambda y, sep, m, d: y + sep + m + sep + d, st.sampled_from(["0000", "1990", "2026", "2100"]),
                       st.sampled_from("-/."), st.integers(0, 99).map(str), st.integers(0, 99).map("{:02d}".format))
_SYMBOLS = st.sampled_from([*".,:;-/+%$€£¥°#&", "–", "−", "=", "'", "’", "(", ")", "~", "℃", "..", "--", ".5"])
_SPACES = st.sampled_from([" ", " ", "  ", "\n", "\t"])
_EN_WORDS = st.sampled_from([
    "Mr.", "Mrs.", "Dr.", "St.", "No.", "Prof.", "Jr.", "e.g.", "i.e.", "etc.", "vs.", "approx.", "Mt.", "Jan.",
    "Sept.", "am", "pm", "a.m.", "P.M.", "km", "st", "nd", "rd", "th", "k", "bn", "million", "C", "F", "x", "e",
    "in", "to", "from", "was", "BC", "November", "May", "Smith", "Main", "the", "s", "A", "and", "&amp;", "&#1;",
])
_LETTERS = st.text(alphabet=string.ascii_letters, min_size=1, max_size=3)
_EN_TOKENS = st.one_of(_DIGIT_RUNS, _JOINED, _DATE_LIKE, _SYMBOLS, _SPACES, _EN_WORDS, _LETTERS)
# number-heavy English: tokens glued or spaced at random, or a soup of single characters
NUMBER_HEAVY_EN = st.one_of(
    st.lists(_EN_TOKENS, max_size=16).map("".join),
    st.text(alphabet="0123456789.,:;-/+%$€£¥°#& –aemkstdhxAMPCF", max_size=40),
)
_ZH_TOKENS = st.one_of(
    _DIGIT_RUNS, _JOINED, _DATE_LIKE, _SYMBOLS, st.sampled_from([*"：％‰～￥，。年月日号个两第天人元本我有是的", "小时", "公里"]),
)
NUMBER_HEAVY_ZH = st.lists(_ZH_TOKENS, max_size=16).map("".join)
NUMBER_HEAVY_MIXED = st.lists(st.one_of(_EN_TOKENS, _ZH_TOKENS, _SPACES), max_size=16).map("".join)
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=3000, deadline=None)
@given(NUMBER_HEAVY_EN, st.sampled_from(["en", "auto"]))  # no CJK in it: auto is English
def test_no_ascii_digit_survives_in_english(text, language):
    spoken = _normalize(text, language)
    assert not re.search("[0-9]", spoken), (text, spoken)


@settings(max_examples=500, deadline=None)
@given(ANY_TEXT, LANGUAGES)
def test_any_text_normalises_without_raising(text, language):
    spoken = _normalize(text, language)
    assert isinstance(spoken, str)
    if language == "en":
        assert not re.search("[0-9]", spoken), (text, spoken)


@settings(max_examples=2500, deadline=None)
@example(("Dr.Prof.", "en"))  # a title's expansion makes a word start before the next abbreviation
@example(("7 Novemberetc.", "en"))  # a date glued to a word must not put a space before "etc."
@example(("版本.5.3", "zh"))  # a number right after a number the same pass read
@given(st.one_of(NUMBER_HEAVY_EN.map(lambda t: (t, "en")), NUMBER_HEAVY_ZH.map(lambda t: (t, "zh")),
                 NUMBER_HEAVY_MIXED.map(lambda t: (t, "auto"))))
def test_normalising_twice_changes_nothing(case):
    text, language = case
    once = _normalize(text, language)
    assert _normalize(once, language) == once, (text, once)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(NUMBER_HEAVY_EN, NUMBER_HEAVY_ZH, NUMBER_HEAVY_MIXED, ANY_TEXT), LANGUAGES)
def test_output_grows_at_most_linearly(text, language):
    # the widest readings: a 15-digit cardinal (13 characters a digit), "7℉" (24 characters for 2)
    assert len(_normalize(text, language)) <= 15 * len(text) + 20


# Nothing outside a rule's reach: no ASCII digit, no "&", no abbreviation's period. The rest
# (symbols that need a number, other scripts' digits, near-miss words) must come back as is.
_UNTOUCHABLE = st.characters(blacklist_categories=("Cs",), blacklist_characters="0123456789&")
_NEAR_MISSES = st.sampled_from([
    "Mr", "Dr", "St ", "No.", "No. x", "Jan.", "etc", "e.g", "am", "pm", "°", "°C", "℃", "%", "‰", "$", "€", "¥",
    "#", "+", "=", "-", "–", "/", ":", "'s", "١٢٣", "५", "１２", "²", "½", "Ⅻ", "我", "个", "年", " ", ".", "\n",
])
_ABBREVIATION = re.compile(r"(?:Mrs?|Ms|Prof|Mt|Dr|St|Jr|Sr|vs|e\.g|i\.e|etc|approx)\.")


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.one_of(st.text(_UNTOUCHABLE, max_size=8), _NEAR_MISSES), max_size=12).map("".join), LANGUAGES)
def test_text_no_rule_touches_comes_back_byte_for_byte(text, language):
    assume(not _ABBREVIATION.search(text))
    assert _normalize(text, language) == text


# --- the public entry's fallback: a failing rule costs its own span, and is logged once -----------
def _break_rule(monkeypatch, rules, name, fails_on):
    """Make rule `name` of list `rules` raise (with the input in the message) on the matches
    `fails_on` accepts."""
    (index,) = (i for i, rule in enumerate(getattr(text_normalize, rules)) if rule.name == name)
    broken = list(getattr(text_normalize, rules))
    rule = broken[index]

    def repl(m):
        if fails_on(m):
            raise ValueError(f"cannot read {m.string!r}")
        return rule.repl(m)

    broken[index] = rule._replace(repl=repl)
    monkeypatch.setattr(text_normalize, rules, broken)


@pytest.fixture
def fresh_log_memory(monkeypatch):
    monkeypatch.setattr(text_normalize, "_LOGGED", OrderedDict())


def _warnings(caplog):
    return [r for r in caplog.records if r.name == "handler.text_normalize" and r.levelno == logging.WARNING]


def test_a_failing_rule_leaves_its_span_only_and_is_logged_once_by_hash(monkeypatch, caplog, fresh_log_memory):
    caplog.set_level(logging.WARNING, logger="handler.text_normalize")
    _break_rule(monkeypatch, "_EN_RULES", "en_doctor_drive",
                lambda m: m.string[m.end():].lstrip().startswith("J"))
    text = "Dr. Jones, Dr. Smith and Dr. Jekyll paid $5 for 3 books & a pen."
    with pytest.raises(ValueError):  # the core has no safety net
        _normalize(text, "en")

    spoken = normalize_for_speech(text, "en")

    # the two matches that fail stay as written; the rule's other match and every other rule apply
    assert spoken == "Dr. Jones, Doctor Smith and Dr. Jekyll paid five dollars for three books and a pen."
    (record,) = _warnings(caplog)  # two failing matches, one warning
    message = record.getMessage()
    assert "en_doctor_drive" in message and "ValueError" in message
    assert hashlib.sha256(text.encode()).hexdigest()[:12] in message
    assert "Jones" not in message and "Smith" not in message and "books" not in message  # never the text

    assert normalize_for_speech(text, "en") == spoken
    assert len(_warnings(caplog)) == 1  # once per (rule, input), not once per call
    normalize_for_speech("Dr. Jekyll", "en")
    assert len(_warnings(caplog)) == 2  # another input: its own warning


def test_a_failure_outside_the_rules_returns_the_input(monkeypatch, caplog, fresh_log_memory):
    caplog.set_level(logging.WARNING, logger="handler.text_normalize")

    def broken(text):
        raise RuntimeError(text)

    monkeypatch.setattr(text_normalize, "_segments", broken)
    text = "我有3个 and 4 cats"
    assert normalize_for_speech(text) == text
    (record,) = _warnings(caplog)
    assert hashlib.sha256(text.encode()).hexdigest()[:12] in record.getMessage()
    assert "cats" not in record.getMessage()
