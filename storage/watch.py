"""What the scheduler's deadline jobs read and write: the running tickets with the moment
each reached its department, the tickets still waiting for a department, and alerts sent
at most once (a reminder per deadline, a 督办 per day).

An alert is a row in ``ticket_alerts`` inserted in the same transaction as what it sends
(the staff notices and their pushes, the 督办 event): the unique row is what makes a job
that runs twice, or two schedulers at once, send it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.deadlines import ARRIVING
from domain.tickets import Status, TicketRecord
from storage.models import Ticket, TicketAlert, TicketEvent
from storage.notices import notify
from storage.tickets import _ticket, _utc


@dataclass(frozen=True, slots=True)
class Watched:
    """A ticket whose deadline runs, and when it reached the department it is with."""

    ticket: TicketRecord
    arrived_at: datetime  # timezone-aware (UTC)


async def alert_once(session: AsyncSession, *, ticket_id: int, kind: str, day: date,
                     now: datetime) -> bool:
    """Record the alert ``kind`` of ``day`` for the ticket in the caller's transaction;
    whether this call recorded it (``False``: it was sent before)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    found = await session.scalar(
        insert(TicketAlert).values(ticket_id=ticket_id, kind=kind, day=day, created_at=now)
        .on_conflict_do_nothing(index_elements=["ticket_id", "kind", "day"])
        .returning(TicketAlert.id))
    return found is not None


class Watch:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def running(self, statuses: frozenset[Status],
                      department: str | None = None) -> list[Watched]:
        """The tickets in ``statuses`` (those a deadline runs for), of ``department`` (or
        every one), oldest first, each with the moment of its last arrival at a
        department."""
        arrived = (select(TicketEvent.ticket_id, func.max(TicketEvent.at).label("at"))
                   .where(TicketEvent.to_status == Status.DISPATCHED.value,
                          # domain/deadlines.arrives, in SQL
                          or_(TicketEvent.action.is_(None),
                              TicketEvent.action.in_(ARRIVING)))
                   .group_by(TicketEvent.ticket_id).subquery())
        query = (select(Ticket, arrived.c.at)
                 .join(arrived, arrived.c.ticket_id == Ticket.id, isouter=True)
                 .where(Ticket.status.in_(sorted(s.value for s in statuses)))
                 .order_by(Ticket.id))
        if department is not None:
            query = query.where(Ticket.department == department)
        async with self._sessions() as session:
            return [Watched(_ticket(row), _utc(at) if at is not None else _utc(row.created_at))
                    for row, at in (await session.execute(query)).all()]

    async def waiting(self) -> list[TicketRecord]:
        """Tickets received (已受理) that no department has yet, oldest first."""
        async with self._sessions() as session:
            return [_ticket(row) for row in (await session.scalars(
                select(Ticket).where(Ticket.status == Status.SUBMITTED.value)
                .order_by(Ticket.id))).all()]

    async def remind(self, ticket: TicketRecord, *, kind: str, day: date, text: str,
                     now: datetime | None = None) -> bool:
        """Remind the handlers of the ticket's department (a notice each, and a push to
        the bound ones), once per ``kind`` and deadline ``day``; whether this call did."""
        now = now or datetime.now(UTC)
        async with self._sessions.begin() as session:
            if not await alert_once(session, ticket_id=ticket.id, kind=kind, day=day,
                                    now=now):
                return False
            await notify(session, ticket_id=ticket.id, kind="reminder", text=text,
                         department=ticket.department, now=now)
            return True

    async def forget_alerts(self, before: date) -> int:
        """Delete the alerts of days before ``before`` (a reminder's deadline, a 督办's
        day: neither is sent again for a day gone by); how many."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(TicketAlert).where(TicketAlert.day < before).returning(TicketAlert.id))
            return len(result.all())
