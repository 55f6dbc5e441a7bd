"""Tickets in SQL: numbers unique under concurrency, idempotent creation, events, the
citizen's own view and withdrawal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from storage.models import Attachment, Ticket, TicketCounter, TicketEvent

MAX_ATTACHMENTS = 9
# A citizen may withdraw (撤回) a ticket until a department signs for it (签收: accepted).
# before any department has signed for it: received, sent on, or sent back by the wrong
# department (退单) and waiting to be sent on again
WITHDRAWABLE = frozenset({"submitted", "dispatched", "returned"})


class WithdrawOutcome(StrEnum):
    WITHDRAWN = "withdrawn"  # this call withdrew it
    NOT_FOUND = "not_found"  # no such number, or not this citizen's
    TOO_LATE = "too_late"  # a department has signed for it (or it is further on)
    ALREADY = "already"  # withdrawn before


async def next_number(session: AsyncSession, day: date) -> str:
    """The next ticket number of ``day`` (``LX20261122-000123``), in the caller's transaction.

    The counter row is locked by the update until the transaction ends, so two concurrent
    tickets never share a number (and a rolled-back ticket gives its number back).
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(TicketCounter).values(day=day, last=0).on_conflict_do_nothing(
            index_elements=["day"])
    )
    last = await session.scalar(
        update(TicketCounter).where(TicketCounter.day == day)
        .values(last=TicketCounter.last + 1).returning(TicketCounter.last)
    )
    assert last is not None
    return f"LX{day:%Y%m%d}-{last:06d}"


@dataclass(frozen=True, slots=True)
class NewTicket:
    """What the complaint flow collected, routed and dated."""

    idempotency_key: str  # e.g. the confirming message's dedupe key: a retry makes no twin
    account: str
    openid: str
    kind: str
    category: str
    region: str | None  # None: the citizen did not say where
    department: str
    description: str
    due_on: date | None  # None: the due year's statutory calendar is not published yet
    phone: str | None = None
    public: bool = False
    latitude: float | None = None
    longitude: float | None = None
    place: str | None = None
    photos: tuple[tuple[str, str], ...] = ()  # (media_id, url), at most 9


class Tickets:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def create(self, new: NewTicket, *, now: datetime | None = None,
                     day: date | None = None) -> tuple[Ticket, bool]:
        """The ticket for ``new`` and whether this call created it (``False``: it existed)."""
        if len(new.photos) > MAX_ATTACHMENTS:
            raise ValueError(f"at most {MAX_ATTACHMENTS} photos, not {len(new.photos)}")
        now = now or datetime.now(UTC)
        existing = await self.by_key(new.idempotency_key)
        if existing is not None:
            return existing, False
        try:
            async with self._sessions.begin() as session:
                number = await next_number(session, day or now.date())
                ticket = Ticket(
                    number=number, idempotency_key=new.idempotency_key, account=new.account,
                    openid=new.openid, kind=new.kind, category=new.category,
                    region=new.region, department=new.department,
                    description=new.description, phone=new.phone, public=new.public,
                    latitude=new.latitude, longitude=new.longitude, place=new.place,
                    status="dispatched", due_on=new.due_on, created_at=now,
                )
                session.add(ticket)
                await session.flush()
                session.add_all([
                    TicketEvent(ticket_id=ticket.id, actor="citizen", at=now,
                                from_status=None, to_status="submitted", note=""),
                    TicketEvent(ticket_id=ticket.id, actor="router", at=now,
                                from_status="submitted", to_status="dispatched",
                                note=new.department),
                    *(Attachment(ticket_id=ticket.id, media_id=m, url=u)
                      for m, u in new.photos),
                ])
        except IntegrityError:  # the same confirm, twice at once: the other one won
            raced = await self.by_key(new.idempotency_key)
            if raced is None:
                raise
            return raced, False
        return ticket, True

    async def by_key(self, idempotency_key: str) -> Ticket | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Ticket).where(Ticket.idempotency_key == idempotency_key))

    async def events(self, ticket_id: int) -> list[TicketEvent]:
        async with self._sessions() as session:
            return list((await session.scalars(
                select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                .order_by(TicketEvent.id))).all())

    async def of_citizen(self, account: str, openid: str, limit: int = 10) -> list[Ticket]:
        """A citizen's recent tickets, newest first (only the owner's)."""
        async with self._sessions() as session:
            return list((await session.scalars(
                select(Ticket).where(Ticket.account == account, Ticket.openid == openid)
                .order_by(Ticket.id.desc()).limit(limit))).all())

    async def of_owner(self, number: str, account: str, openid: str) -> Ticket | None:
        """The ticket with this number if it is this citizen's; ``None`` otherwise, so one
        citizen never learns anything of another's ticket, not even that it exists."""
        async with self._sessions() as session:
            return await session.scalar(select(Ticket).where(
                Ticket.number == number, Ticket.account == account, Ticket.openid == openid))

    async def withdraw(self, number: str, account: str, openid: str, *,
                       now: datetime | None = None, note: str = "",
                       ) -> tuple[WithdrawOutcome, Ticket | None]:
        """Withdraw (撤回) the citizen's ticket while it is in :data:`WITHDRAWABLE`.

        The status change and its event (actor ``citizen``, from the status it really had)
        are one transaction. The change is conditional on the status just read (on
        PostgreSQL the read also locks the row), so of concurrent withdrawals exactly one
        succeeds; the others find it withdrawn. Returns the outcome and the ticket
        (``None`` only for :attr:`WithdrawOutcome.NOT_FOUND`).
        """
        now = now or datetime.now(UTC)
        for _ in range(_WITHDRAW_TRIES):
            async with self._sessions.begin() as session:
                ticket = await session.scalar(
                    select(Ticket).where(Ticket.number == number, Ticket.account == account,
                                         Ticket.openid == openid).with_for_update())
                if ticket is None:
                    return WithdrawOutcome.NOT_FOUND, None
                if ticket.status == "withdrawn":
                    return WithdrawOutcome.ALREADY, ticket
                if ticket.status not in WITHDRAWABLE:
                    return WithdrawOutcome.TOO_LATE, ticket
                previous = ticket.status
                changed = await session.scalar(
                    update(Ticket).where(Ticket.id == ticket.id, Ticket.status == previous)
                    .values(status="withdrawn").returning(Ticket.id)
                    .execution_options(synchronize_session=False))
                if changed is None:  # SQLite: it changed since the read; read it again
                    continue
                set_committed_value(ticket, "status", "withdrawn")
                session.add(TicketEvent(ticket_id=ticket.id, actor="citizen", at=now,
                                        from_status=previous, to_status="withdrawn",
                                        note=note))
            return WithdrawOutcome.WITHDRAWN, ticket
        raise RuntimeError(f"ticket {number}: status kept changing during withdrawal")

    async def last_phone(self, account: str, openid: str) -> str | None:
        """The phone number of the citizen's most recent ticket that has one."""
        async with self._sessions() as session:
            return await session.scalar(
                select(Ticket.phone).where(Ticket.account == account, Ticket.openid == openid,
                                           Ticket.phone.is_not(None), Ticket.phone != "")
                .order_by(Ticket.id.desc()).limit(1))

    async def attachments(self, ticket_id: int) -> list[Attachment]:
        """The ticket's photos, in the order they were sent."""
        async with self._sessions() as session:
            return list((await session.scalars(
                select(Attachment).where(Attachment.ticket_id == ticket_id)
                .order_by(Attachment.id))).all())


_WITHDRAW_TRIES = 10  # each retry means another transaction changed the status meanwhile
