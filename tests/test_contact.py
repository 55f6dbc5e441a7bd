"""Mainland mobile numbers as citizens type them."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.contact import mask_mobile, mobile_in, mobiles_in, normalise_mobile


@pytest.mark.parametrize("typed", ["13900139000", "139 0013 9000", "+86-139-0013-9000",
                                   "008613900139000", "１３９００１３９０００"])
def test_a_number_alone_in_any_common_spelling(typed: str) -> None:
    assert normalise_mobile(typed) == "13900139000"


@pytest.mark.parametrize("typed", ["12345", "23900139000", "1390013900", "139001390001", ""])
def test_what_is_no_mainland_mobile(typed: str) -> None:
    with pytest.raises(ValueError, match="not a mainland mobile number"):
        normalise_mobile(typed)


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
    assert mobile_in(text) == number


def test_masking_leaves_other_digits_alone() -> None:
    assert mask_mobile("用户13812345678的留言LX20261123-000001") == \
        "用户138****5678的留言LX20261123-000001"


def test_numbers_anywhere_in_a_sentence_however_written() -> None:
    assert mobiles_in("请打 139-0013-9000 或者１３８００１３８０００找我") == {"13900139000",
                                                                   "13800138000"}
    assert mobiles_in("LX20261123-000001，编号不是电话") == set()


# ---------------------------------------------------------------- one finder, every spelling
FULL_WIDTH = str.maketrans("0123456789+-() ", "０１２３４５６７８９＋－（）　")
NUMBERS = st.from_regex(r"\A1[3-9][0-9]{9}\Z")
SEPARATOR = st.sampled_from(["", " ", "-", "  ", " - ", "(", ")"])
PREFIX = st.sampled_from(["", "+86", "+86 ", "+86-", "0086", "0086 ", "86", "(+86) "])
# text around a number: anything but digits (a digit next to it makes a longer number)
AROUND = st.text(st.characters(blacklist_categories=("Nd", "No", "Cs")), max_size=12)


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
    assert mobiles_in(line) == {"13987654321"}
    assert mask_mobile(line) == f"用户留言：电话{masked}，请回电"


@settings(max_examples=300, deadline=None)
@given(spelled(), AROUND, AROUND)
def test_masking_covers_whatever_the_finder_finds(number_written: tuple[str, str],
                                                  before: str, after: str) -> None:
    number, written = number_written
    line = before + written + after
    assert number in mobiles_in(line)
    masked = mask_mobile(line)
    assert mobiles_in(masked) == set()
    digits = "".join(c for c in unicodedata.normalize("NFKC", masked) if c.isdigit())
    assert number not in digits
    assert f"{number[:3]}****{number[7:]}" in masked


@settings(max_examples=500, deadline=None)
@given(st.text(st.sampled_from("0123456789１３９ -()+8６。a电"), max_size=40))
def test_nothing_the_finder_would_call_a_number_survives_masking(text: str) -> None:
    assert mobiles_in(mask_mobile(text)) == set()


def test_a_number_containing_0086_is_still_a_number() -> None:
    # the old finder deleted every "0086" before looking, so 139-0086-1234 was not found
    assert mobiles_in("电话13900861234") == {"13900861234"}
    assert mask_mobile("电话13900861234") == "电话139****1234"


def test_the_answer_check_uses_the_same_finder() -> None:
    assert normalise_mobile("(139) 0013-9000") == "13900139000"
    assert normalise_mobile("①③⑨００１３９０００") == "13900139000"
    with pytest.raises(ValueError, match="not a mainland mobile number"):
        normalise_mobile("13900139000 13800138000")
    with pytest.raises(ValueError, match="not a mainland mobile number"):
        normalise_mobile("电话13900139000")


@pytest.mark.parametrize("typed", [
    "13900139000123",  # 14 digits: an order number, not a phone
    "86139001390001",
    "0013900139000",
    "+8623900139000",
    "139001390００1",
])
def test_longer_or_wrong_numbers_are_refused_not_cut_to_11_digits(typed: str) -> None:
    with pytest.raises(ValueError, match="not a mainland mobile number"):
        normalise_mobile(typed)


def test_the_refusal_never_quotes_what_was_typed() -> None:
    # the message may reach a log line: it gives the length, not the digits
    with pytest.raises(ValueError, match="not a mainland mobile number") as info:
        normalise_mobile("1390013900")
    assert "1390013900" not in str(info.value)
    assert str(info.value) == "not a mainland mobile number: 10 characters"


def test_separators_around_a_number_alone_are_no_other_words() -> None:
    assert normalise_mobile("  (13900139000)  ") == "13900139000"
    assert normalise_mobile("-139-0013-9000-") == "13900139000"
    assert normalise_mobile("\t13900139000\n") == "13900139000"


@pytest.mark.parametrize(("text", "number"), [
    ("电话0086 139 0013 9000", "13900139000"),
    ("电话：0086-13900139000。", "13900139000"),
    ("我的号码是008613900139000", "13900139000"),
    ("号码是０００８６１３９００１３９０００", None),  # 000 86…: a longer number
])
def test_a_0086_number_is_found_in_a_message(text: str, number: str | None) -> None:
    assert mobile_in(text) == number


def test_0086_numbers_are_found_and_masked_with_their_country_code() -> None:
    line = "回电0086 139 8765 4321或008613812345678"
    assert mobiles_in(line) == {"13987654321", "13812345678"}
    assert mask_mobile(line) == "回电139****4321或138****5678"


def test_the_same_number_twice_is_one_answer() -> None:
    assert mobile_in("13900139000，13900139000") == "13900139000"
    assert mobile_in("13900139000 或 13800138000") is None


def test_a_number_with_twelve_words_around_it_is_an_answer_and_thirteen_are_not() -> None:
    twelve = "我的手机号码是这个号码呀"
    assert len(twelve) == 12
    assert mobile_in(twelve + "13900139000") == "13900139000"
    assert mobile_in(twelve + "13900139000。") == "13900139000"  # the full stop is free
    assert mobile_in(twelve + "13900139000.") == "13900139000"
    assert mobile_in(twelve + "啊13900139000") is None
    assert mobile_in(twelve + "13900139000！") is None
    assert mobile_in("电话：139 0013 9000") == "13900139000"  # separators are no words


def test_masking_keeps_everything_around_each_number_in_place() -> None:
    line = "甲１３９８７６５４３２１乙13812345678丙"
    assert mask_mobile(line) == "甲139****4321乙138****5678丙"
    # one character that NFKC reads as two digits shifts nothing after it
    assert mask_mobile("㉑号13987654321。") == "㉑号139****4321。"
    assert mask_mobile("无号码") == "无号码"
