"""The satisfaction survey: its questions, its steps, and what counts as an answer.

When a ticket is closed (办结) its reporter is asked to rate it (1–5: 满意 5, 基本满意 4,
一般 3, 不满意 2, 很不满意 1); then a comment may follow; a rating of 2 or less offers
不满意重办. Days later a second question asks whether the problem is still solved
(问题是否仍已解决), and a "no" offers 重办 too. A rating not given within the survey's
time closes the ticket's survey as unrated.

An answer is taken whenever it is clearly one (the parsers below say how clearly): a
rating or a 重办 that names the ticket (its number, or the last six digits of it) or
starts with 评价 / is the word 重办 is clear anywhere, even in the middle of a form; a
bare rating ("5", "满意") only from a citizen in no form, and only while one survey
awaits a rating (several: the bot asks which).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from domain.consultation import NUMBER as CONSULTATION_NUMBER
from domain.texts import Wording
from domain.tickets import NUMBER, SHORT_NUMBER, ends_with_short, narrow, short_of


class SurveyKind(StrEnum):
    RATING = "rating"  # 评价, after each closing
    RECHECK = "recheck"  # 问题是否仍已解决, days later
    LAWYER = "lawyer"  # the lawyer of a legal consultation, after it ended (no 重办)


class Step(StrEnum):
    RATING = "rating"  # asked for a rating
    RECHECK = "recheck"  # asked whether it is still solved
    COMMENT = "comment"  # rated: a comment may follow
    REDO = "redo"  # offered 不满意重办
    DONE = "done"
    EXPIRED = "expired"  # not answered in time (a rating: the ticket stays unrated)


OPEN = frozenset({Step.RATING, Step.RECHECK, Step.COMMENT, Step.REDO})
SATISFIED = 4  # a rating of 4 or 5 is satisfied (满意率, docs/METRICS.md)
UNHAPPY = 2  # a rating of 2 or 1 offers 不满意重办
SCALE = (5, 4, 3, 2, 1)  # the ratings, best first; their names: survey_rating_{n}

# the words a rating is said in, longest first (很不满意 before 不满意 before 满意)
_RATING_WORDS = {"非常满意": 5, "很满意": 5, "满意": 5, "基本满意": 4, "比较满意": 4,
                 "一般": 3, "还行": 3, "不满意": 2, "很不满意": 1, "非常不满意": 1}
_WORDS = "|".join(sorted(_RATING_WORDS, key=len, reverse=True))
# a ticket's (or a consultation's) number, or its last six digits and no more ("6543213"
# names none)
_REF = (rf"(?P<ref>{NUMBER.pattern}|{CONSULTATION_NUMBER.pattern}"
        rf"|{SHORT_NUMBER.pattern}(?![0-9]))")
_RATING = re.compile(
    rf"(?P<lead>评价)?\s*(?:{_REF})?\s*[:：,，、]?\s*(?:(?P<digit>[1-5])\s*分?|(?P<word>{_WORDS}))",
    re.IGNORECASE)
_REDO = re.compile(rf"(?:申请|需要|要)?(?:重办|重新办理)\s*(?:{_REF})?", re.IGNORECASE)
_NO_REDO = re.compile(rf"(?:不用|不需要|不要)(?:重办)?\s*{_REF}", re.IGNORECASE)
_TRAILING = re.compile(r"[\s!！。.,，~～…]+$")
YES = frozenset({"是", "是的", "需要", "要", "好", "好的", "可以", "嗯"})
NO = frozenset({"否", "不", "不用", "不用了", "不需要", "不要", "算了", "没有", "没有了", "不必"})
SOLVED = frozenset({"已解决", "解决了", "已经解决", "已经解决了", "是", "是的", "解决"})
UNSOLVED = frozenset({"未解决", "没解决", "没有解决", "还没解决", "还没有解决", "否",
                      "没有", "又出现了", "又坏了"})
_RECHECK = re.compile(
    rf"(?:{_REF})?\s*[:：,，、]?\s*(?P<word>"
    + "|".join(sorted(SOLVED | UNSOLVED, key=len, reverse=True)) + ")", re.IGNORECASE)
SKIP = frozenset({"跳过", "没有", "没有了", "无", "不用", "不用了", "算了", "不了"})


@dataclass(frozen=True, slots=True)
class Answer:
    """What a message answers: a ``rating`` (1–5), ``yes``/``no`` to 重办, or
    ``solved``/``unsolved`` to the recheck; ``ref``: the ticket it names (a full number,
    or its last six digits); ``clear``: it says it is a survey answer (a number, 评价,
    重办), so it is one even from a citizen in the middle of a form."""

    what: str  # rating; yes, no (to 重办); solved, unsolved (to the recheck)
    rating: int | None = None
    ref: str | None = None
    clear: bool = False


def plain(text: str) -> str:
    return _TRAILING.sub("", narrow(text).strip())


def parse_rating(text: str) -> Answer | None:
    """"5", "满意", "评价 4", "000123 很不满意", "LX20261201-000123：3分"."""
    found = _RATING.fullmatch(plain(text))
    if found is None:
        return None
    rating = (int(found["digit"]) if found["digit"] is not None
              else _RATING_WORDS[found["word"]])
    ref = found["ref"].upper() if found["ref"] is not None else None
    return Answer("rating", rating, ref, clear=bool(found["lead"] or ref))


def parse_redo(text: str) -> Answer | None:
    """"重办", "申请重办 000123": clear; a bare 是 / 不用: not (an answer only right after
    the bot offered 重办)."""
    said = plain(text)
    found = _REDO.fullmatch(said)
    if found is not None:
        ref = found["ref"].upper() if found["ref"] is not None else None
        return Answer("yes", ref=ref, clear=True)
    if said in YES:
        return Answer("yes")
    if said in NO:
        return Answer("no")
    found = _NO_REDO.fullmatch(said)
    if found is not None:  # "不用 000123": no, for that ticket
        return Answer("no", ref=found["ref"].upper(), clear=True)
    return None


def parse_recheck(text: str) -> Answer | None:
    """Whether the problem is still solved: "已解决" (``solved``) or "没解决"
    (``unsolved``); clear when it names the ticket ("000123 未解决")."""
    found = _RECHECK.fullmatch(plain(text))
    if found is None:
        return None
    ref = found["ref"].upper() if found["ref"] is not None else None
    return Answer("solved" if found["word"] in SOLVED else "unsolved", ref=ref,
                  clear=ref is not None)


def clear_answer(text: str) -> bool:
    """Whether ``text`` says it is a survey answer (it names a number, starts with 评价, or
    is the word 重办): taken as one even from a citizen talking to a lawyer."""
    return any(answer is not None and answer.clear
               for answer in (parse_rating(text), parse_redo(text), parse_recheck(text)))


def is_skip(text: str) -> bool:
    """"跳过", "没有": no comment."""
    return plain(text) in SKIP


def names(ref: str | None, number: str) -> bool:
    """Whether ``ref`` (a full number, or its last six digits) names ticket ``number``."""
    if ref is None:
        return True
    return ref == number if "-" in ref else ends_with_short(number, ref)


_QUESTIONS = {Step.RATING: "survey_question", Step.RECHECK: "survey_recheck_question",
              Step.REDO: "survey_redo_offer", Step.COMMENT: "survey_comment_ask"}


def lawyer_rating(texts: Wording, number: str) -> tuple[str, str]:
    """The question that asks a citizen to rate the lawyer of consultation ``number``,
    and its label for the template."""
    return (question(texts, Step.RATING, number, SurveyKind.LAWYER),
            texts("survey_lawyer_template"))


def question(texts: Wording, step: Step, number: str,
             kind: SurveyKind = SurveyKind.RATING) -> str:
    """What the citizen is asked at ``step`` of the survey of ``number`` (a ticket's, or
    for a lawyer's rating a consultation's)."""
    key = _QUESTIONS[step]
    if kind is SurveyKind.LAWYER:
        key = key.replace("survey_", "survey_lawyer_", 1)
    return texts(key, number=number, short=short_of(number))
