"""What counts as an answer to the survey (domain/survey.py): ratings by digit or word,
with or without the ticket's number, and 重办 / 是 / 不用 / 已解决 / 没解决."""

from __future__ import annotations

import pytest

from domain.survey import Answer, is_skip, names, parse_rating, parse_recheck, parse_redo

NUMBER = "LX20261201-000123"


@pytest.mark.parametrize(("text", "expected"), [
    ("5", Answer("rating", 5)),
    ("５", Answer("rating", 5)),
    ("1分", Answer("rating", 1)),
    ("满意", Answer("rating", 5)),
    ("非常满意！", Answer("rating", 5)),
    ("基本满意", Answer("rating", 4)),
    ("一般", Answer("rating", 3)),
    ("不满意", Answer("rating", 2)),
    ("很不满意。", Answer("rating", 1)),
    ("评价 4", Answer("rating", 4, clear=True)),
    ("000123 5", Answer("rating", 5, "000123", clear=True)),
    ("000123，不满意", Answer("rating", 2, "000123", clear=True)),
    ("lx20261201-000123：3分", Answer("rating", 3, NUMBER, clear=True)),
    ("评价000123很不满意", Answer("rating", 1, "000123", clear=True)),
])
def test_ratings(text: str, expected: Answer) -> None:
    assert parse_rating(text) == expected


@pytest.mark.parametrize("text", ["6", "0", "55", "12345 5", "满意吗", "我不满意你们的处理",
                                  "路灯坏了", "", "5 5", "6543213", "0001235",
                                  "13800138000"])
def test_not_ratings(text: str) -> None:
    assert parse_rating(text) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("重办", Answer("yes", clear=True)),
    ("申请重办 000123", Answer("yes", ref="000123", clear=True)),
    ("重办000123", Answer("yes", ref="000123", clear=True)),
    ("重新办理", Answer("yes", clear=True)),
    ("是", Answer("yes")),
    ("需要", Answer("yes")),
    ("不用了", Answer("no")),
    ("算了。", Answer("no")),
    ("不用 000123", Answer("no", ref="000123", clear=True)),
])
def test_redo_answers(text: str, expected: Answer) -> None:
    assert parse_redo(text) == expected


def test_recheck_answers_and_skips() -> None:
    assert parse_recheck("已解决") == Answer("solved")
    assert parse_recheck("还没解决！") == Answer("unsolved")
    assert parse_recheck("000123 未解决") == Answer("unsolved", ref="000123", clear=True)
    assert parse_recheck("000123已解决") == Answer("solved", ref="000123", clear=True)
    assert parse_recheck("路灯又坏了") is None
    assert is_skip("跳过") and is_skip("没有。") and not is_skip("没有人来修")


def test_a_reference_names_a_ticket_by_its_number_or_last_six_digits() -> None:
    assert names(None, NUMBER) and names("000123", NUMBER) and names(NUMBER, NUMBER)
    assert not names("000124", NUMBER) and not names("LX20261201-000124", NUMBER)
