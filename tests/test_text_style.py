"""The style of config/texts.toml (issue 15, the style pass): what a native reader of
12345 texts marked as wrong, checked over every entry so it does not come back.

- no half-width space between a Chinese character and a number or a {placeholder}, in
  either order ("已收到第{count}张照片", "12345热线"), except where the text shows what
  to type: a command word and its argument ("修改 2", "查询 {number}") or a short
  number and its answer ("{short} 已解决");
- 办理中 is a ticket's status: only the status itself and texts about a ticket that
  really is being handled say it (the form being filled in is 填写过程中);
- no nested full-width brackets, also once a date ("2026年11月30日（周一）") is put in;
- no half-width comma, colon, semicolon, question or exclamation mark or bracket next to
  a Chinese character;
- none of the phrases the reviewer marked as translationese.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

TEXTS_FILE = Path(__file__).resolve().parents[1] / "config" / "texts.toml"

REWRITTEN_ELSEWHERE: frozenset[str] = frozenset()  # issue 15's rewrite has landed

# a Chinese character: Han, CJK punctuation, full-width forms
CJK = "[\u3400-\u9fff\u3000-\u303f\uff01-\uff5e]"
NUMBER = r"(?:\d|\{[a-z_]+\})"
SPACE_THEN_NUMBER = re.compile(rf"{CJK} (?={NUMBER})")
NUMBER_THEN_SPACE = re.compile(rf"{NUMBER} (?={CJK})")
HALF_WIDTH = re.compile(r"[\u3400-\u9fff][,;:!?()]|[,;:!?()][\u3400-\u9fff]")
# what a citizen (or staff member) types as a word, a space and an argument: the space
# shows where one ends and the other begins
COMMANDS = ("修改", "查询", "撤回", "撤回公开", "重办", "不用", "切换", "绑定")
# what a citizen types after the last six digits of a number (survey_recheck_question,
# survey_which_recheck)
ANSWERS = ("已解决", "未解决")

# 办理中 is status_in_progress; these also say it, of a ticket being handled
BEING_HANDLED = {
    "status_in_progress": "the status itself",
    "ticket_status_other": "a status this version does not know is shown as 办理中: "
                           "the ticket is with the office or a department",
    "console_field_error_into": "a ticket is merged into one still being handled",
}

# translationese: "这一步好像遇到了困难"; "您的留言是否同意公开", "是否同意在公开留言板展示"
# (a 12345 operator asks "可以……吗")
PHRASES = ("这一步好像", "是否同意")


def _entries() -> dict[str, str]:
    data = tomllib.loads(TEXTS_FILE.read_text(encoding="utf-8"))
    return {key: value for key, value in data.items() if isinstance(value, str)}


def _checked() -> dict[str, str]:
    return {k: v for k, v in _entries().items() if k not in REWRITTEN_ELSEWHERE}


def spaces(text: str) -> list[str]:
    """The half-width spaces between a Chinese character and a number, each with a few
    characters around it."""
    found = []
    for match in SPACE_THEN_NUMBER.finditer(text):
        if not text[:match.start() + 1].endswith(COMMANDS):
            found.append(text[max(0, match.start() - 4):match.end() + 4])
    for match in NUMBER_THEN_SPACE.finditer(text):
        after = text[match.end():]
        if not (match.group().startswith("{") and after.startswith(ANSWERS)):
            found.append(text[max(0, match.start() - 4):match.end() + 4])
    return found


def depth(text: str) -> int:
    """How deep full-width brackets nest in ``text`` (1: none inside another)."""
    level = deepest = 0
    for char in text:
        if char == "（":
            level += 1
            deepest = max(deepest, level)
        elif char == "）":
            level -= 1
    return deepest


def with_a_day(text: str, entries: dict[str, str]) -> str:
    """``text`` with a day put in as the code puts it (domain.display.format_day)."""
    day = entries["date_format"].format(year="2026", month="11", day="30", weekday="一")
    return text.replace("{date}", day).replace("{day}", day)


@pytest.mark.parametrize(("text", "flagged"), [
    ("已收到第 {count} 张照片", 2), ("请 10 分钟后再试", 2), ("拨打 12345 热线", 2),
    ("例如“修改 2”", 0), ("回复“查询 {number}”", 0), ("“撤回公开 {number}”", 0),
    ("回复“修改”加上 1 到 {count}", 3), ("如“{short} 已解决”", 0), ("{short} 5", 0),
    ("留言 {number} 已撤回", 2), ("1. 投诉", 0), ("5 满意", 1),
])
def test_the_space_rule_reads_as_meant(text: str, flagged: int) -> None:
    assert len(spaces(text)) == flagged


def test_the_bracket_rule_reads_as_meant() -> None:
    entries = _entries()
    assert depth("{date}前答复") == 0
    assert depth(with_a_day("{date}前答复", entries)) == 1
    assert depth(with_a_day("5个工作日内答复（{date}前）", entries)) == 2


@pytest.mark.parametrize(("text", "flagged"), [
    ("请稍后再试,或拨打12345热线", True), ("(未填写)", True), ("留言:", True),
    ("请稍后再试，或拨打12345热线", False), ("（lianxin config load）", False),
    ("1. 投诉", False),
])
def test_the_punctuation_rule_reads_as_meant(text: str, flagged: bool) -> None:
    assert bool(HALF_WIDTH.search(text)) is flagged


def test_no_space_between_a_chinese_character_and_a_number() -> None:
    found = {key: hits for key, value in _checked().items() if (hits := spaces(value))}
    assert found == {}


def test_chinese_punctuation_is_full_width() -> None:
    found = {key: HALF_WIDTH.findall(value) for key, value in _checked().items()
             if HALF_WIDTH.search(value)}
    assert found == {}


def test_banli_zhong_is_said_only_of_a_ticket_being_handled() -> None:
    entries = _entries()
    assert entries["status_in_progress"] == "办理中"
    found = [key for key, value in _checked().items()
             if "办理中" in value and key not in BEING_HANDLED]
    assert found == []


def test_no_brackets_inside_brackets() -> None:
    entries = _entries()
    found = [key for key, value in _checked().items()
             if depth(with_a_day(value, entries)) > 1]
    assert found == []


def test_none_of_the_marked_phrases() -> None:
    found = [(key, phrase) for key, value in _checked().items() for phrase in PHRASES
             if phrase in value]
    assert found == []


def test_the_lists_name_keys_of_the_catalogue() -> None:
    entries = _entries()
    assert entries.keys() >= REWRITTEN_ELSEWHERE
    assert entries.keys() >= BEING_HANDLED.keys()
    assert all("办理中" in entries[key] for key in BEING_HANDLED)
