"""Mainland mobile numbers as citizens type them."""

from __future__ import annotations

import pytest

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
