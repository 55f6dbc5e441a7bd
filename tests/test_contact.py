"""Phone numbers as citizens type them: mainland mobiles and landlines with an area code."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.contact import (
    NUMERALS,
    NotAPhone,
    mask_phones,
    masked,
    normalise_phone,
    phone_in,
    phones_in,
)


@pytest.mark.parametrize("typed", ["13900139000", "139 0013 9000", "+86-139-0013-9000",
                                   "008613900139000", "１３９００１３９０００"])
def test_a_number_alone_in_any_common_spelling(typed: str) -> None:
    assert normalise_phone(typed) == "13900139000"


@pytest.mark.parametrize("typed", ["12345", "23900139000", "1390013900", "139001390001", ""])
def test_what_is_no_mainland_mobile(typed: str) -> None:
    with pytest.raises(NotAPhone, match="not a phone number"):
        normalise_phone(typed)


@pytest.mark.parametrize(("text", "number"), [
    ("我的电话是13900139000", "13900139000"),
    ("手机：139-0013-9000。", "13900139000"),
    ("电话+86 139 0013 9000", "13900139000"),
    ("联系电话 １３９００１３９０００", "13900139000"),
    # two numbers, other digits, or a sentence around it: not an answer to "your phone?"
    ("我的电话是13900139000，备用13800138000", None),
    ("电话13900139000转8", None),
    ("请联系物业电话13912345678，他们一直不管这个事情", None),
    ("没有电话", None),
])
def test_a_number_given_with_a_few_words(text: str, number: str | None) -> None:
    assert phone_in(text) == number


def test_masking_leaves_other_digits_alone() -> None:
    assert mask_phones("用户13812345678的留言LX20261123-000001") == \
        "用户138****5678的留言LX20261123-000001"


def test_numbers_anywhere_in_a_sentence_however_written() -> None:
    assert phones_in("请打 139-0013-9000 或者１３８００１３８０００找我") == {"13900139000",
                                                                   "13800138000"}
    assert phones_in("LX20261123-000001，编号不是电话") == set()


# ---------------------------------------------------------------- one finder, every spelling
FULL_WIDTH = str.maketrans("0123456789+-() ", "０１２３４５６７８９＋－（）　")
NUMBERS = st.from_regex(r"\A1[3-9][0-9]{9}\Z")
SEPARATOR = st.sampled_from(["", " ", "-", "  ", " - ", "(", ")"])
PREFIX = st.sampled_from(["", "+86", "+86 ", "+86-", "0086", "0086 ", "86", "(+86) "])
# text around a number: anything but digits and the numerals a number may be written in
# (one next to it makes a longer number)
AROUND = st.text(st.characters(blacklist_categories=("Nd", "No", "Cs"),
                               blacklist_characters=[chr(c) for c in NUMERALS]), max_size=12)


@st.composite
def spelled(draw: st.DrawFn) -> tuple[str, str]:
    """A number and one way a citizen (or a log line quoting one) writes it."""
    number = draw(NUMBERS)
    groups = [number[:3], number[3:7], number[7:]]
    written = draw(SEPARATOR).join(groups)
    if draw(st.booleans()):  # a separator anywhere, even between two digits of a group
        at = draw(st.integers(1, len(written) - 1))
        written = written[:at] + draw(SEPARATOR) + written[at:]
    written = draw(PREFIX) + written
    if draw(st.booleans()):
        written = written.translate(FULL_WIDTH)
    return number, written


@pytest.mark.parametrize(("written", "masked"), [
    ("+8613987654321", "139****4321"),
    ("139-8765-4321", "139****4321"),
    ("139 8765 4321", "139****4321"),
    ("0086 139 8765 4321", "139****4321"),
    ("１３９８７６５４３２１", "139****4321"),
    ("（＋８６）１３９－８７６５－４３２１", "（139****4321"),
    ("86 13987654321", "139****4321"),
    ("①③⑨⑧⑦⑥⑤④③②①", "139****4321"),
])
def test_every_spelling_is_found_and_masked(written: str, masked: str) -> None:
    line = f"用户留言：电话{written}，请回电"
    assert phones_in(line) == {"13987654321"}
    assert mask_phones(line) == f"用户留言：电话{masked}，请回电"


@settings(max_examples=300, deadline=None)
@given(spelled(), AROUND, AROUND)
def test_masking_covers_whatever_the_finder_finds(number_written: tuple[str, str],
                                                  before: str, after: str) -> None:
    number, written = number_written
    line = before + written + after
    assert number in phones_in(line)
    masked = mask_phones(line)
    assert phones_in(masked) == set()
    digits = "".join(c for c in unicodedata.normalize("NFKC", masked) if c.isdigit())
    assert number not in digits
    assert f"{number[:3]}****{number[7:]}" in masked


@settings(max_examples=500, deadline=None)
@given(st.text(st.sampled_from("0123456789１３９ -()+8６。a电"), max_size=40))
def test_nothing_the_finder_would_call_a_number_survives_masking(text: str) -> None:
    assert phones_in(mask_phones(text)) == set()


def test_a_number_containing_0086_is_still_a_number() -> None:
    # the old finder deleted every "0086" before looking, so 139-0086-1234 was not found
    assert phones_in("电话13900861234") == {"13900861234"}
    assert mask_phones("电话13900861234") == "电话139****1234"


def test_the_answer_check_uses_the_same_finder() -> None:
    assert normalise_phone("(139) 0013-9000") == "13900139000"
    assert normalise_phone("①③⑨００１３９０００") == "13900139000"
    with pytest.raises(NotAPhone, match="not a phone number"):
        normalise_phone("13900139000 13800138000")
    with pytest.raises(NotAPhone, match="not a phone number"):
        normalise_phone("电话13900139000")


@pytest.mark.parametrize("typed", [
    "13900139000123",  # 14 digits: an order number, not a phone
    "86139001390001",
    "0013900139000",
    "+8623900139000",
    "139001390００1",
])
def test_longer_or_wrong_numbers_are_refused_not_cut_to_11_digits(typed: str) -> None:
    with pytest.raises(NotAPhone, match="not a phone number"):
        normalise_phone(typed)


def test_the_refusal_never_quotes_what_was_typed() -> None:
    # the message may reach a log line: it gives the length, not the digits
    with pytest.raises(NotAPhone, match="not a phone number") as info:
        normalise_phone("1390013900")
    assert "1390013900" not in str(info.value)
    assert str(info.value) == "not a phone number: 10 characters"


def test_separators_around_a_number_alone_are_no_other_words() -> None:
    assert normalise_phone("  (13900139000)  ") == "13900139000"
    assert normalise_phone("-139-0013-9000-") == "13900139000"
    assert normalise_phone("\t13900139000\n") == "13900139000"


@pytest.mark.parametrize(("text", "number"), [
    ("电话0086 139 0013 9000", "13900139000"),
    ("电话：0086-13900139000。", "13900139000"),
    ("我的号码是008613900139000", "13900139000"),
    ("号码是０００８６１３９００１３９０００", None),  # 000 86…: a longer number
])
def test_a_0086_number_is_found_in_a_message(text: str, number: str | None) -> None:
    assert phone_in(text) == number


def test_0086_numbers_are_found_and_masked_with_their_country_code() -> None:
    line = "回电0086 139 8765 4321或008613812345678"
    assert phones_in(line) == {"13987654321", "13812345678"}
    assert mask_phones(line) == "回电139****4321或138****5678"


def test_the_same_number_twice_is_one_answer() -> None:
    assert phone_in("13900139000，13900139000") == "13900139000"
    assert phone_in("13900139000 或 13800138000") is None


def test_a_number_with_twelve_words_around_it_is_an_answer_and_thirteen_are_not() -> None:
    twelve = "我的手机号码是这个号码呀"
    assert len(twelve) == 12
    assert phone_in(twelve + "13900139000") == "13900139000"
    assert phone_in(twelve + "13900139000。") == "13900139000"  # the full stop is free
    assert phone_in(twelve + "13900139000.") == "13900139000"
    assert phone_in(twelve + "啊13900139000") is None
    assert phone_in(twelve + "13900139000！") is None
    assert phone_in("电话：139 0013 9000") == "13900139000"  # separators are no words


def test_masking_keeps_everything_around_each_number_in_place() -> None:
    line = "甲１３９８７６５４３２１乙13812345678丙"
    assert mask_phones(line) == "甲139****4321乙138****5678丙"
    # one character that NFKC reads as two digits shifts nothing after it
    assert mask_phones("㉑号13987654321。") == "㉑号139****4321。"
    assert mask_phones("无号码") == "无号码"


# ---------------------------------------------------------------- as citizens write them
@pytest.mark.parametrize(("typed", "number"), [
    # mobiles: Chinese numerals alone or mixed with digits; 幺 = 1, 两 = 2, 〇/零/洞 = 0
    ("幺三八〇〇一三八〇〇〇", "13800138000"),
    ("一三八 〇〇一三 八〇〇〇", "13800138000"),
    ("138零零138零零零", "13800138000"),
    ("一三八洞洞一三八洞洞洞", "13800138000"),
    ("一三九 两两两两 〇〇〇〇", "13922220000"),
    ("幺三八－〇〇一三－八〇〇〇", "13800138000"),
    ("１３８　００１３　８０００", "13800138000"),
    ("+86 一三八 〇〇一三 八〇〇〇", "13800138000"),
    ("0086-138零零138零零零", "13800138000"),
    # landlines: area code 010 / 02x (three digits) or 0 and three digits, then 7–8 digits
    ("0731-84567890", "0731-84567890"),
    ("0731 8456 7890", "0731-84567890"),
    ("(0731)84567890", "0731-84567890"),
    ("（0731）8456-7890", "0731-84567890"),
    ("073184567890", "0731-84567890"),
    ("０７３１－８４５６７８９０", "0731-84567890"),
    ("〇七三一 八四五六七八九〇", "0731-84567890"),
    ("零七三一-八四五六七八九零", "0731-84567890"),
    ("0731-八四五六七八九〇", "0731-84567890"),
    ("010-62345678", "010-62345678"),
    ("洞幺洞 两三四五 六七八九", "010-23456789"),
    ("021 6234 5678", "021-62345678"),
    ("02162345678", "021-62345678"),
    ("0755-8888888", "0755-8888888"),  # a 7-digit local number
    ("07558888888", "0755-8888888"),
])
def test_every_writing_of_a_number_alone(typed: str, number: str) -> None:
    assert normalise_phone(typed) == number
    assert normalise_phone(number) == number  # what is stored reads back as itself


@pytest.mark.parametrize(("typed", "reason", "digits"), [
    ("2026年11月", "unread", 4),  # a date
    ("一万三千八百", "unread", 1),  # an amount
    ("三千八百元", "unread", 1),
    ("1390013900", "length", 10),
    ("139001390001", "length", 12),
    ("一三八〇〇一三八〇〇", "length", 10),
    ("12345", "length", 5),
    ("+86 138 0013", "length", 7),  # the country code is no digit of the number
    ("23900139000", "unread", 11),
    ("12345678901", "unread", 11),  # 11 digits, but no mobile: the length is not wrong
    ("84567890", "area_code", 8),  # a landline without its area code
    ("8456-7890", "area_code", 8),
    ("八四五六七八九〇", "area_code", 8),
    ("4567890", "area_code", 7),
    ("456789", "unread", 6),  # too short for a local number: no guess
    ("845678901", "unread", 9),
    ("0731-845678", "landline", 10),  # six digits after the area code
    ("0731-845678901", "landline", 13),
    ("0731-14567890", "landline", 12),  # a local number never starts with 1 …
    ("0731-04567890", "landline", 12),  # … nor with 0
    ("0131-84567890", "landline", 12),  # 01x is only 010
    ("011-84567890", "landline", 11),
    ("031-84567890", "landline", 11),  # an area code is written whole: no 0318 here
    ("电话号码", "unread", 0),
    ("1", "unread", 1),
    ("一", "unread", 1),
])
def test_what_is_no_phone_and_what_is_wrong_with_it(typed: str, reason: str,
                                                   digits: int) -> None:
    with pytest.raises(NotAPhone, match="not a phone number") as refusal:
        normalise_phone(typed)
    assert (refusal.value.reason, refusal.value.digits) == (reason, digits)
    assert phones_in(typed) == set()


@pytest.mark.parametrize("typed", ["13800138000 13900139000", "0731-84567890 转 8",
                                   "0731-84567890 13800138000"])
def test_a_number_and_more_is_refused_with_no_reason_but_the_examples(typed: str) -> None:
    with pytest.raises(NotAPhone) as refusal:
        normalise_phone(typed)
    assert refusal.value.reason == "unread"
    assert phones_in(typed)


@pytest.mark.parametrize(("text", "number"), [
    ("我的电话是幺三八〇〇一三八〇〇〇", "13800138000"),
    ("手机：138零零138零零零。", "13800138000"),
    ("座机：0731-84567890。", "0731-84567890"),
    ("家里电话〇七三一 八四五六七八九〇", "0731-84567890"),
    ("我的电话13800138000一直开机", "13800138000"),  # 一直 is a word, not a digit
    ("电话13900139000转八", None),  # an extension: a numeral that is a digit
    ("座机0731-84567890转8", None),
    ("座机84567890", None),  # no area code
    ("手机13800138000，座机0731-84567890", None),  # two numbers
])
def test_a_number_in_any_writing_with_a_few_words(text: str, number: str | None) -> None:
    assert phone_in(text) == number


@pytest.mark.parametrize(("text", "found"), [
    # a numeral after a number starts the next word when a Chinese character follows it …
    ("13800138000一直没人接", "13800138000"),
    ("幺三八〇〇一三八〇〇〇一直没人接", "13800138000"),
    ("打13800138000两次都没人接", "13800138000"),
    ("0731-8456789一直占线", "0731-8456789"),
    ("0731-8456789三天没人接", "0731-8456789"),
    ("〇七三一八四五六七八九〇谢谢", "0731-84567890"),  # in numerals, the next one is a digit
    ("〇七三一八四五六七八九三天没人接", "0731-84567893"),
    # … and is a digit of it otherwise: a longer number, or the eighth digit of a landline
    ("13800138000一二", None),
    ("13800138000一。", None),
    ("13800138000一", None),
    ("1380013800零", "13800138000"),
    ("0731-8456789零", "0731-84567890"),
    ("〇七三一八四五六七八九〇。", "0731-84567890"),
    ("138001380001", None),
    ("0731845678901", None),
    # a numeral before a number ends the word before when a Chinese character precedes it
    ("排第一13800138000", "13800138000"),
    ("一13800138000", None),
    ("三一三八〇〇一三八〇〇〇", None),
    ("号码：三一三八〇〇一三八〇〇〇", None),
    ("二三一三八〇〇一三八〇〇〇", None),
    ("1一三八〇〇一三八〇〇〇", None),
    ("2026年11月12日", None),
    ("一万三千八百元", None),
    ("LX20261123-000001", None),
    ("2026-01-05 10:20:30", None),
])
def test_where_a_number_written_in_numerals_starts_and_ends(text: str,
                                                            found: str | None) -> None:
    assert phones_in(text) == ({found} if found else set())


@pytest.mark.parametrize(("number", "shown"), [
    ("13812345678", "138****5678"),
    ("0731-84567890", "0731-****7890"),
    ("010-62345678", "010-****5678"),
    ("0755-8888888", "0755-***8888"),
])
def test_a_number_shown_masked(number: str, shown: str) -> None:
    assert masked(number) == shown
    assert mask_phones(number) == shown


def test_landlines_and_numerals_are_masked_where_they_stand() -> None:
    line = "家里座机（0731）8456 7890，手机一三八〇〇一三八〇〇〇一直开着，单号LX20261123-000001"
    assert mask_phones(line) == \
        "家里座机0731-****7890，手机138****8000一直开着，单号LX20261123-000001"
    assert phones_in(mask_phones(line)) == set()


AREA_CODES = st.sampled_from(["010", "020", "021", "029", "0731", "0755", "0851", "0991"])
LOCAL = st.from_regex(r"\A[2-9][0-9]{6,7}\Z")
NUMERAL_CHARACTERS = frozenset(chr(c) for c in NUMERALS)
DIGIT_AS_NUMERAL = {"0": "〇零洞", "1": "一幺", "2": "二两", **{
    str(d): "三四五六七八九"[d - 3] for d in range(3, 10)}}


@st.composite
def landline_spelled(draw: st.DrawFn) -> tuple[str, str]:
    """A landline and one way a citizen writes it: separators, brackets, numerals."""
    area, local = draw(AREA_CODES), draw(LOCAL)
    cut = draw(st.integers(1, len(local) - 1))
    between = draw(st.sampled_from(["", "-", " ", " - "]))
    local_written = local[:cut] + draw(st.sampled_from(["", " ", "-"])) + local[cut:]
    written = (f"({area}){local_written}" if draw(st.booleans())
               else area + between + local_written)
    written = "".join(draw(st.sampled_from(DIGIT_AS_NUMERAL[c])) if c.isdigit()
                      and draw(st.booleans()) else c for c in written)
    return f"{area}-{local}", written


@settings(max_examples=300, deadline=None)
@given(landline_spelled(), AROUND, AROUND)
def test_a_landline_in_any_writing_is_found_read_and_masked(
        number_written: tuple[str, str], before: str, after: str) -> None:
    number, written = number_written
    assert normalise_phone(written) == number
    # after seven digits, a numeral before a word is the word's: "0731-8456789三天"
    assume(not (written[-1] in NUMERAL_CHARACTERS and written[-2] not in NUMERAL_CHARACTERS
                and "\u4e00" <= after[:1] <= "\u9fff"))
    line = before + written + after
    assert number in phones_in(line)
    hidden = mask_phones(line)
    assert phones_in(hidden) == set()
    assert masked(number) in hidden
    assert number.replace("-", "") not in _digits(hidden)


def _digits(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", text).translate(NUMERALS)
                   if c.isdigit())


@settings(max_examples=500, deadline=None)
@given(st.text(st.sampled_from("0123456789７３一〇幺两 -()+8。a电直"), max_size=40))
def test_nothing_the_finder_reads_in_numerals_survives_masking(text: str) -> None:
    assert phones_in(mask_phones(text)) == set()
