"""What the reports count, read from SQL: the tickets filed in a period with their
timelines (a rating is its 评价 event's), as :class:`domain.metrics.TicketFacts` (the counting is
``domain/metrics.py``'s)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from domain.consult_metrics import ConsultEvent, ConsultFacts
from domain.metrics import EventFact, TicketFacts
from domain.tickets import Status
from domain.workdays import china_midnight
from storage.models import Consultation, ConsultationEvent, Lawyer, Ticket, TicketEvent
from storage.tickets import _utc


class Reports:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def facts(self, first: date, last: date, *,
                    departments: frozenset[str] | None = None) -> list[TicketFacts]:
        """The tickets filed from ``first`` to ``last`` (China days, both included), of
        ``departments`` (``None``: all), oldest first."""
        where = [Ticket.created_at >= china_midnight(first),
                 Ticket.created_at < china_midnight(last + timedelta(days=1))]
        if departments is not None:
            where.append(Ticket.department.in_(sorted(departments)))
        async with self._sessions() as session:
            tickets = (await session.scalars(
                select(Ticket).where(*where).order_by(Ticket.id))).all()
            events: dict[int, list[EventFact]] = defaultdict(list)
            for row in (await session.scalars(
                    select(TicketEvent).join(Ticket, Ticket.id == TicketEvent.ticket_id)
                    .where(*where).order_by(TicketEvent.id))).all():
                events[row.ticket_id].append(
                    EventFact(row.action, row.to_status, _utc(row.at), row.due_on, row.note))
        return [TicketFacts(
            number=t.number, kind=t.kind, category=t.category, region=t.region,
            department=t.department, status=Status(t.status), created_at=_utc(t.created_at),
            due_on=t.due_on, events=tuple(events[t.id]))
            for t in tickets]

    async def consultation_facts(self, first: date, last: date) -> list[ConsultFacts]:
        """The consultations asked from ``first`` to ``last`` (China days, both
        included), with their timelines, oldest first."""
        where = [Consultation.created_at >= china_midnight(first),
                 Consultation.created_at < china_midnight(last + timedelta(days=1))]
        async with self._sessions() as session:
            rows = (await session.scalars(
                select(Consultation).where(*where).order_by(Consultation.id))).all()
            events: dict[int, list[ConsultEvent]] = defaultdict(list)
            for row in (await session.scalars(
                    select(ConsultationEvent)
                    .join(Consultation, Consultation.id == ConsultationEvent.consultation_id)
                    .where(*where).order_by(ConsultationEvent.id))).all():
                events[row.consultation_id].append(
                    ConsultEvent(row.action, row.at, row.lawyer_id, row.note))
        return [ConsultFacts(number=c.number, area=c.area, created_at=c.created_at,
                             left_message=c.left_message, first_answer_at=c.first_answer_at,
                             events=tuple(events[c.id])) for c in rows]

    async def lawyer_names(self) -> dict[int, str]:
        """Every lawyer's name by id (a report names its rows by them)."""
        async with self._sessions() as session:
            return {row.id: row.name for row in (await session.execute(
                select(Lawyer.id, Lawyer.name))).all()}
