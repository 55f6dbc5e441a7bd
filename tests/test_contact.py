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
