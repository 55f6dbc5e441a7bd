"""Surveys in SQL: asked in the transaction that closes a ticket (or by the recheck job),
answered step by step, expired by the scheduler. The rules and the steps are
:mod:`domain.survey`; a step changes only from the step it was read in, so a repeated
answer (WeChat retries, a double tap) changes nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from domain.consultation import Action as ConsultationAction
from domain.survey import OPEN, Step, SurveyKind
from domain.telling import Act, Tell
from domain.tickets import Status, TicketRecord
from storage.lifecycle import TicketMoves
from storage.models import Consultation, ConsultationEvent, Survey, Ticket
from storage.survey_ask import ask


@dataclass(frozen=True, slots=True)
class SurveyRecord:
    id: int
    ticket_id: int | None  # None: a lawyer's rating (consultation_id)
    number: str  # the ticket's, or the consultation's
    kind: SurveyKind
    round: int
    step: Step
    asked_at: datetime
    rating: int | None
    comment: str | None
    department: str  # the ticket's, now ("" for a consultation)
    kind_of_ticket: str  # 投诉, 求助 …: its answer deadline ("" for a consultation)
    consultation_id: int | None = None


def _with_ticket() -> Select[Survey, str, str, str]:
    """Surveys with what a :class:`SurveyRecord` shows of their ticket (or consultation)."""
    return (select(Survey, func.coalesce(Ticket.number, Consultation.number),
                   func.coalesce(Ticket.department, ""), func.coalesce(Ticket.kind, ""))
            .outerjoin(Ticket, Ticket.id == Survey.ticket_id)
            .outerjoin(Consultation, Consultation.id == Survey.consultation_id))


class Surveys:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._moves = TicketMoves(engine)

    async def open_of(self, account: str, openid: str) -> list[SurveyRecord]:
        """The citizen's surveys awaiting an answer, newest first."""
        query = (_with_ticket()
                 .where(Survey.account == account, Survey.openid == openid,
                        Survey.step.in_(sorted(s.value for s in OPEN)))
                 .order_by(Survey.id.desc()))
        async with self._sessions() as session:
            return [_record(*found) for found in (await session.execute(query)).all()]

    async def get(self, survey_id: int) -> SurveyRecord | None:
        async with self._sessions() as session:
            found = (await session.execute(
                _with_ticket().where(Survey.id == survey_id))).first()
        return None if found is None else _record(*found)

    async def move(self, survey_id: int, current: Step, step: Step,
                   **values: Any) -> bool:
        """Move the survey from step ``current`` (and no other) to ``step``, with
        ``values``; whether it was in ``current``."""
        async with self._sessions.begin() as session:
            return await moved(session, survey_id, current, step, **values)

    async def answer_with_move(self, survey: SurveyRecord, current: Step, step: Step,
                               act: Act, tell: Tell, *, now: datetime,
                               **values: Any) -> TicketRecord:
        """Move the survey (as :meth:`move`) together with the ticket's move ``act`` (the
        rating, 重办), in one transaction: :class:`SurveyMoved` when the survey is no
        longer in ``current``, and what :meth:`TicketMoves.act` raises."""

        async def also(session: AsyncSession, row: Ticket) -> None:
            if not await moved(session, survey.id, current, step, **values):
                raise SurveyMoved(survey.id)

        assert survey.ticket_id is not None  # a ticket's survey (a lawyer's has no moves)
        return await self._moves.act(survey.ticket_id, act, tell, now=now, also=also)

    async def rate_consultation(self, survey: SurveyRecord, step: Step, rating: int, *,
                                now: datetime) -> bool:
        """The citizen's rating of a consultation's lawyer: the survey moves from
        ``RATING`` to ``step`` and the consultation's timeline has it, in one transaction;
        whether the survey still asked for it."""
        async with self._sessions.begin() as session:
            if not await moved(session, survey.id, Step.RATING, step, rating=rating,
                               answered_at=now):
                return False
            lawyer_id = await session.scalar(select(Consultation.lawyer_id).where(
                Consultation.id == survey.consultation_id))
            session.add(ConsultationEvent(consultation_id=survey.consultation_id,
                                          action=ConsultationAction.RATED.value,
                                          lawyer_id=lawyer_id, note=str(rating), at=now))
        return True

    async def expire(self, before: datetime) -> int:
        """Close every survey asked before ``before`` and still open: a rating not given
        leaves the ticket unrated, an offer of 重办 not taken lapses; how many."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Survey).where(Survey.step.in_(sorted(s.value for s in OPEN)),
                                     Survey.asked_at < before)
                .values(step=Step.EXPIRED.value)
                .execution_options(synchronize_session=False))
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def due_rechecks(self, before: datetime) -> list[int]:
        """Tickets to ask 问题是否仍已解决: closed (rated or not) by a rating survey asked
        before ``before`` that is over (answered or expired, without 重办), with no
        recheck of that round yet; their ids, oldest first."""
        recheck, latest = aliased(Survey), aliased(Survey)
        query = (select(Survey.ticket_id)
                 .join(Ticket, Ticket.id == Survey.ticket_id)
                 .where(Survey.kind == SurveyKind.RATING.value,
                        Survey.step.in_([Step.DONE.value, Step.EXPIRED.value]),
                        Survey.asked_at < before,
                        Ticket.status.in_([Status.CLOSED.value, Status.RATED.value]),
                        ~exists().where(and_(recheck.ticket_id == Survey.ticket_id,
                                             recheck.kind == SurveyKind.RECHECK.value,
                                             recheck.round == Survey.round)),
                        # the ticket's last closing: a reopened one is asked again later
                        Survey.round == select(func.max(latest.round)).where(
                            latest.ticket_id == Survey.ticket_id).scalar_subquery())
                 .order_by(Survey.ticket_id))
        async with self._sessions() as session:
            return [t for t in (await session.scalars(query)).all() if t is not None]

    async def recheck(self, ticket_id: int, question: Callable[[str], str], label: str,
                      now: datetime | None = None) -> bool:
        """Ask the recheck of the ticket's last closing (``question`` of its number);
        whether it was asked now."""
        now = now or datetime.now(UTC)
        async with self._sessions.begin() as session:
            ticket = await session.scalar(
                select(Ticket).where(Ticket.id == ticket_id).with_for_update())
            if ticket is None:
                return False
            last = await session.scalar(select(func.max(Survey.round)).where(
                Survey.ticket_id == ticket_id))
            done = await session.scalar(select(Survey.id).where(
                Survey.ticket_id == ticket_id, Survey.kind == SurveyKind.RECHECK.value,
                Survey.round == (last or 1)))
            if done is not None:
                return False
            await ask(session, ticket, kind=SurveyKind.RECHECK, text=question(ticket.number),
                      label=label, now=now)
            return True


async def moved(session: AsyncSession, survey_id: int, current: Step, step: Step,
                **values: Any) -> bool:
    """:meth:`Surveys.move` in the caller's transaction."""
    found = await session.scalar(
        update(Survey).where(Survey.id == survey_id, Survey.step == current.value)
        .values(step=step.value, **values).returning(Survey.id))
    return found is not None


class SurveyMoved(Exception):
    """The survey was answered meanwhile (another message, another worker)."""


def _record(row: Survey, number: str, department: str, kind: str) -> SurveyRecord:
    asked = row.asked_at if row.asked_at.tzinfo else row.asked_at.replace(tzinfo=UTC)
    return SurveyRecord(row.id, row.ticket_id, number, SurveyKind(row.kind), row.round,
                        Step(row.step), asked, row.rating, row.comment, department, kind,
                        row.consultation_id)
