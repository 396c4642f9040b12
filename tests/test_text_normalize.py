import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handler.text_normalize import normalize_for_speech

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


def test_odd_numbers_are_read_as_numbers_and_never_raise():
    assert normalize_for_speech("2026-13-45") == "twenty twenty-six-thirteen-forty-five"  # no 13th month
    assert normalize_for_speech("9" * 40, "zh") == "九" * 40  # beyond cn2an's 16 digits: digit by digit
    assert normalize_for_speech("9" * 40, "en") == " ".join(["nine"] * 40)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80), st.sampled_from(["auto", "en", "zh"]))
def test_random_text_never_raises(text, language):
    assert isinstance(normalize_for_speech(text, language), str)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789.,:-+/%$€£¥°C年月日个 abcNo&", max_size=40), st.sampled_from(["auto", "en", "zh"]))
def test_number_heavy_text_never_raises(text, language):
    assert isinstance(normalize_for_speech(text, language), str)
