"""Survey answers: the citizen's rating of a closed ticket, the comment after it, 不满意重办,
and the answer to 问题是否仍已解决 — taken even days later and in the middle of a form,
as long as the message clearly is one (``domain/survey.py`` says when).

The router goes ahead of 我的留言 and the complaint form (``handlers/registry.py``). Its
filters cost nothing for most messages: a text is looked at for the shape of an answer
first, and only one that has it asks the database for the citizen's open surveys. After
a rating the bot asks for a comment, and after a low rating (or a "no" to the recheck)
offers 重办: the next message answers that question when it is no command, for a few
minutes (a mark in the conversation, gone with the next form).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from domain.display import department_name, format_day
from domain.messages import Outbound
from domain.survey import (
    UNHAPPY,
    Answer,
    Step,
    SurveyKind,
    is_skip,
    names,
    parse_rating,
    parse_recheck,
    parse_redo,
    question,
)
from domain.telling import Act, teller
from domain.texts import Texts
from domain.tickets import Action, MoveRefused, Party, short_of
from domain.workdays import STATUTORY, Calendar, local_day
from handlers.dispatcher import Kind, MenuKey, Router, Update
from storage.catalogue_cache import CatalogueCache
from storage.lifecycle import VersionConflict
from storage.surveys import SurveyMoved, SurveyRecord, Surveys

log = logging.getLogger(__name__)

MARK = "survey"  # the conversation's data key: the question just asked
MARK_TTL = 600.0  # seconds the next message may answer it
COMMENT_MAX = 500  # characters of a comment kept
RATING_KEYS = {f"SURVEY_{n}": n for n in range(1, 6)}  # a menu laid out with ratings
SHOWN = 5  # open surveys listed at most


class SurveyDesk:
    def __init__(self, texts: Texts, surveys: Surveys, catalogue: CatalogueCache, *,
                 calendar: Calendar = STATUTORY,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 clock: Callable[[], float] = time.time) -> None:
        self._texts = texts
        self._surveys = surveys
        self._catalogue = catalogue
        self._calendar = calendar
        self._now = now
        self._clock = clock

    def router(self) -> Router:
        router = Router("survey")
        router.add(self._list, MenuKey("SURVEY"))
        router.add(self._menu_rating, MenuKey(*RATING_KEYS))
        router.add(self._answer, Kind("text"), _shaped, self._has_open)
        router.add(self._follow_up, Kind("text"), self._asked_just_now)
        return router

    # -- filters ----------------------------------------------------------------------------

    async def _has_open(self, update: Update) -> bool:
        """An answer the citizen has a survey for: a clear one anywhere, a bare one from a
        citizen in no form. A clear one without a survey is the survey's too outside a
        form (it is told there is none); in a form it is the form's ("000123 5" may be
        an answer to it)."""
        answer = _parse(update.text)
        if answer is None:
            return False
        in_form = update.flow is not None
        if in_form and not answer.clear:  # a bare "5" in a form answers the form
            return False
        if not answer.clear and self._asked_just_now(update):  # "没有" to the comment
            return False  # question just asked is that question's, not another survey's
        if answer.clear and not in_form:
            return True
        return bool(_candidates(answer, await self._open(update)))

    def _asked_just_now(self, update: Update) -> bool:
        """The citizen in no form answers the question the bot just asked (the mark)."""
        if update.command is not None or update.flow is not None:
            return False
        mark = update.conversation.data.get(MARK)
        if not isinstance(mark, dict) or not self._clock() < mark.get("until", 0):
            return False
        if mark.get("step") == Step.REDO.value:
            return parse_redo(update.text) is not None
        return mark.get("step") == Step.COMMENT.value

    # -- answers ----------------------------------------------------------------------------

    async def _open(self, update: Update) -> list[SurveyRecord]:
        inbound = update.inbound
        return await self._surveys.open_of(inbound.account, inbound.user)

    async def _list(self, update: Update) -> list[Outbound]:
        """The survey menu: the open questions asked again."""
        found = await self._open(update)
        if not found:
            return [Outbound.of_text(self._texts("survey_none"))]
        asked = (question(self._texts, s.step, s.number, s.kind) for s in found[:SHOWN])
        return [Outbound.of_text("\n\n".join(asked))]

    async def _menu_rating(self, update: Update) -> list[Outbound]:
        rating = RATING_KEYS[update.inbound.event_key.upper()]
        return await self._take(update, Answer("rating", rating))

    async def _answer(self, update: Update) -> list[Outbound]:
        answer = _parse(update.text)
        assert answer is not None
        return await self._take(update, answer)

    async def _take(self, update: Update, answer: Answer) -> list[Outbound]:
        if update.flow is None:  # a question the bot asked just now is answered, or passed
            update.conversation.data.pop(MARK, None)
        found = _candidates(answer, await self._open(update))
        if not found:
            return self._with_reminder(update, self._texts("survey_none"))
        if len(found) > 1:
            which = ("rating" if answer.what == "rating" else
                     "recheck" if answer.what in ("solved", "unsolved") else "redo")
            return self._with_reminder(update, self._texts(
                f"survey_which_{which}", numbers="\n".join(s.number for s in found[:SHOWN]),
                short=short_of(found[0].number)))
        survey = found[0]
        if answer.what == "rating":
            assert answer.rating is not None
            return await self._rate(update, survey, answer.rating)
        if answer.what in ("solved", "unsolved"):
            return await self._recheck(update, survey, solved=answer.what == "solved")
        return await self._redo(update, survey, wanted=answer.what == "yes")

    async def _follow_up(self, update: Update) -> list[Outbound]:
        mark = update.conversation.data.pop(MARK)
        survey = await self._surveys.get(int(mark.get("id", 0)))
        if survey is None or survey.step.value != mark.get("step"):
            return [Outbound.of_text(self._texts("survey_none"))]
        if survey.step is Step.REDO:
            answer = parse_redo(update.text)
            assert answer is not None
            return await self._redo(update, survey, wanted=answer.what == "yes")
        comment = None if is_skip(update.text) else update.text.strip()[:COMMENT_MAX]
        unhappy = (survey.rating is not None and survey.rating <= UNHAPPY
                   and survey.kind is not SurveyKind.LAWYER)  # a lawyer's: no 重办
        if not await self._surveys.move(survey.id, Step.COMMENT,
                                        Step.REDO if unhappy else Step.DONE, comment=comment):
            return [Outbound.of_text(self._texts("survey_none"))]
        said = [] if comment is None else [self._texts("survey_comment_thanks")]
        if unhappy:
            self._mark(update, survey.id, Step.REDO)
            said.append(self._question(survey.number, Step.REDO))
        return [Outbound.of_text("\n".join(said or [self._texts("survey_skip_thanks")]))]

    async def _rate(self, update: Update, survey: SurveyRecord, rating: int) -> list[Outbound]:
        if survey.kind is SurveyKind.LAWYER:
            return await self._rate_lawyer(update, survey, rating)
        now, idle = self._now(), update.flow is None
        unhappy = rating <= UNHAPPY
        # a citizen in a form is not asked for a comment: the form goes on
        step = Step.COMMENT if idle else (Step.REDO if unhappy else Step.DONE)
        catalogue = await self._catalogue.get()
        if catalogue is None:  # nothing to name the department by: not now
            return self._with_reminder(update, self._texts("survey_unavailable"))
        act = Act(Action.RATE, Party.CITIZEN, "citizen", note=str(rating))
        try:
            await self._surveys.answer_with_move(
                survey, Step.RATING, step, act, teller(self._texts, catalogue), now=now,
                rating=rating, answered_at=now)
        except (MoveRefused, VersionConflict, SurveyMoved):
            return self._with_reminder(update, self._texts("survey_gone",
                                                           number=survey.number))
        label = self._texts(f"survey_rating_{rating}")
        if idle:
            self._mark(update, survey.id, Step.COMMENT)
            key = "survey_thanks_ask_why" if unhappy else "survey_thanks_ask_comment"
            return [Outbound.of_text(self._texts(key, number=survey.number, rating=label,
                                                 short=short_of(survey.number)))]
        said = [self._texts("survey_thanks", number=survey.number, rating=label)]
        if unhappy:  # in a form a bare 不用 is the form's: the offer names the ticket
            said.append(self._texts("survey_redo_offer_in_form", short=short_of(survey.number)))
        return self._with_reminder(update, "\n".join(said))

    async def _rate_lawyer(self, update: Update, survey: SurveyRecord,
                           rating: int) -> list[Outbound]:
        """A rating of a consultation's lawyer: kept with the consultation; a comment may
        follow (no 重办: a new question is a new consultation)."""
        idle = update.flow is None
        if not await self._surveys.rate_consultation(
                survey, Step.COMMENT if idle else Step.DONE, rating, now=self._now()):
            return self._with_reminder(update, self._texts("survey_lawyer_gone",
                                                           number=survey.number))
        label = self._texts(f"survey_rating_{rating}")
        if idle:
            self._mark(update, survey.id, Step.COMMENT)
            return [Outbound.of_text(self._texts("survey_lawyer_thanks_ask_comment",
                                                 number=survey.number, rating=label))]
        return self._with_reminder(update, self._texts("survey_lawyer_thanks",
                                                       number=survey.number, rating=label))

    async def _recheck(self, update: Update, survey: SurveyRecord,
                       solved: bool) -> list[Outbound]:
        now = self._now()
        step = Step.DONE if solved else Step.REDO
        if not await self._surveys.move(survey.id, Step.RECHECK, step, resolved=solved,
                                        answered_at=now):
            return self._with_reminder(update, self._texts("survey_none"))
        if solved:
            return self._with_reminder(update, self._texts("survey_solved_thanks"))
        if update.flow is None:
            self._mark(update, survey.id, Step.REDO)
            return [Outbound.of_text(self._question(survey.number, Step.REDO))]
        return self._with_reminder(update, self._texts("survey_redo_offer_in_form",
                                                       short=short_of(survey.number)))

    async def _redo(self, update: Update, survey: SurveyRecord,
                    wanted: bool) -> list[Outbound]:
        if not wanted:
            if not await self._surveys.move(survey.id, survey.step, Step.DONE, redo=False):
                return self._with_reminder(update, self._texts("survey_none"))
            return self._with_reminder(update, self._texts("survey_redo_declined",
                                                           number=survey.number))
        catalogue = await self._catalogue.get()
        if catalogue is None:  # no deadline can be counted: not now
            return self._with_reminder(update, self._texts("survey_unavailable"))
        now = self._now()
        act = Act(Action.REOPEN, Party.CITIZEN, "citizen",
                  note=survey.comment or self._texts("survey_no_comment")).due_after(
            local_day(now), catalogue.deadlines.get(survey.kind_of_ticket), self._calendar)
        try:
            after = await self._surveys.answer_with_move(
                survey, survey.step, Step.DONE, act, teller(self._texts, catalogue),
                now=now, redo=True)
        except (MoveRefused, VersionConflict, SurveyMoved):
            return self._with_reminder(update, self._texts("survey_gone",
                                                           number=survey.number))
        date = "" if after.due_on is None else format_day(self._texts, after.due_on)
        return self._with_reminder(update, self._texts(
            "survey_redo_done", number=survey.number, date=date,
            department=department_name(catalogue, after.department)))

    # -- helpers ----------------------------------------------------------------------------

    def _question(self, number: str, step: Step) -> str:
        return question(self._texts, step, number)

    def _mark(self, update: Update, survey_id: int, step: Step) -> None:
        update.conversation.data[MARK] = {"id": survey_id, "step": step.value,
                                          "until": self._clock() + MARK_TTL}

    @staticmethod
    def _with_reminder(update: Update, text: str) -> list[Outbound]:
        reminder = update.reminder()
        return [Outbound.of_text(text), *([reminder] if reminder is not None else [])]


def _parse(text: str) -> Answer | None:
    return parse_rating(text) or _clear_redo(text) or parse_recheck(text)


def _clear_redo(text: str) -> Answer | None:
    answer = parse_redo(text)
    return answer if answer is not None and answer.clear else None


def _shaped(update: Update) -> bool:
    """Cheap: a short text (an answer is a few characters, a number at most)."""
    return len(update.text) <= 40 and _parse(update.text) is not None


def _candidates(answer: Answer, surveys: list[SurveyRecord]) -> list[SurveyRecord]:
    """The open surveys ``answer`` may answer: a rating those asking for one, 重办 those
    offering it, 已解决/未解决 those asking it; of the ticket it names, if it names one."""
    if answer.what == "rating":
        steps = {Step.RATING}
    elif answer.what in ("solved", "unsolved"):
        steps = {Step.RECHECK}
    else:  # 重办 or not: offered, or (重办) rated low and a comment not yet given
        return [s for s in surveys if names(answer.ref, s.number)
                and s.kind is not SurveyKind.LAWYER and (
            s.step is Step.REDO or (answer.what == "yes" and s.step is Step.COMMENT
                                    and s.rating is not None and s.rating <= UNHAPPY))]
    return [s for s in surveys if s.step in steps and names(answer.ref, s.number)]
