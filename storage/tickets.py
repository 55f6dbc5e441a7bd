"""Tickets in SQL: numbers unique under concurrency, idempotent creation, events, the
citizen's own view and withdrawal.

The rules — the number's format, the statuses, which status may follow which — are
:mod:`domain.tickets`; every status change written here is one its table allows. What
leaves this module is domain records (:class:`~domain.tickets.TicketRecord` …), never
rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from domain.tickets import (
    ENDED,
    MAX_ATTACHMENTS,
    Action,
    AttachmentRecord,
    Party,
    Pending,
    Status,
    TicketEventRecord,
    TicketRecord,
    can_move,
    check_transition,
    format_number,
)
from domain.workdays import Calendar, deadline, local_day
from storage.models import Attachment, ConsultationCounter, Ticket, TicketCounter, TicketEvent
from storage.notices import notify


class WithdrawOutcome(StrEnum):
    WITHDRAWN = "withdrawn"  # this call withdrew it
    NOT_FOUND = "not_found"  # no such number, or not this citizen's
    TOO_LATE = "too_late"  # a department has signed for it (or it is further on)
    ALREADY = "already"  # withdrawn before


async def next_number(session: AsyncSession, day: date) -> str:
    """The next ticket number of ``day`` (``LX20261122-000123``), in the caller's transaction."""
    return format_number(day, await next_serial(session, TicketCounter, day))


async def next_serial(session: AsyncSession,
                      counter: type[TicketCounter] | type[ConsultationCounter],
                      day: date) -> int:
    """The next serial of ``day`` on ``counter`` (a table of the last serial per day), in
    the caller's transaction. The counter row is locked by the update until the
    transaction ends, so two concurrent records never share a number (and a rolled-back
    one gives its number back)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(counter).values(day=day, last=0).on_conflict_do_nothing(index_elements=["day"])
    )
    last = await session.scalar(
        update(counter).where(counter.day == day)
        .values(last=counter.last + 1).returning(counter.last)
    )
    assert last is not None
    return int(last)


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
    due_on: date | None  # None: no date could be counted (not since provisional dates)
    phone: str | None = None
    public: bool = False
    latitude: float | None = None
    longitude: float | None = None
    place: str | None = None
    photos: tuple[tuple[str, str], ...] = ()  # (media_id, url), at most 9
    due_provisional: bool = False  # counted through a year whose calendar is unknown
    due_workdays: int | None = None  # the count, to redo when the year is known
    # what the department's staff are told of it; its first "{number}" becomes the number
    staff_notice: str | None = None


class Tickets:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def create(self, new: NewTicket, *, now: datetime | None = None,
                     day: date | None = None) -> tuple[TicketRecord, bool]:
        """The ticket for ``new`` and whether this call created it (``False``: it existed)."""
        if len(new.photos) > MAX_ATTACHMENTS:
            raise ValueError(f"at most {MAX_ATTACHMENTS} photos, not {len(new.photos)}")
        now = now or datetime.now(UTC)
        existing = await self.by_key(new.idempotency_key)
        if existing is not None:
            return existing, False
        # a new ticket is received, then sent to the department the router chose
        check_transition(None, Status.SUBMITTED)
        check_transition(Status.SUBMITTED, Status.DISPATCHED)
        try:
            async with self._sessions.begin() as session:
                number = await next_number(session, day or now.date())
                ticket = Ticket(
                    number=number, idempotency_key=new.idempotency_key, account=new.account,
                    openid=new.openid, kind=new.kind, category=new.category,
                    region=new.region, department=new.department,
                    description=new.description, phone=new.phone, public=new.public,
                    latitude=new.latitude, longitude=new.longitude, place=new.place,
                    status=Status.DISPATCHED, due_on=new.due_on, created_at=now,
                    due_provisional=new.due_provisional, due_workdays=new.due_workdays,
                    due_from=day or local_day(now),
                )
                session.add(ticket)
                await session.flush()
                session.add_all([
                    TicketEvent(ticket_id=ticket.id, actor="citizen", at=now,
                                from_status=None, to_status=Status.SUBMITTED, note="",
                                due_on=new.due_on),
                    TicketEvent(ticket_id=ticket.id, actor="router", at=now,
                                from_status=Status.SUBMITTED, to_status=Status.DISPATCHED,
                                note=new.department, due_on=new.due_on),
                    *(Attachment(ticket_id=ticket.id, media_id=m, url=u)
                      for m, u in new.photos),
                ])
                if new.staff_notice is not None:  # sent on: its department hears of it
                    await notify(session, ticket_id=ticket.id, kind="dispatched",
                                 text=new.staff_notice.replace("{number}", number, 1),
                                 department=new.department, now=now)
        except IntegrityError:  # the same confirm, twice at once: the other one won
            raced = await self.by_key(new.idempotency_key)
            if raced is None:
                raise
            return raced, False
        return _ticket(ticket), True

    async def by_key(self, idempotency_key: str) -> TicketRecord | None:
        async with self._sessions() as session:
            return _ticket_or_none(await session.scalar(
                select(Ticket).where(Ticket.idempotency_key == idempotency_key)))

    async def get(self, ticket_id: int) -> TicketRecord | None:
        async with self._sessions() as session:
            return _ticket_or_none(await session.get(Ticket, ticket_id))

    async def search(self, *, departments: frozenset[str] | None = None,
                     statuses: frozenset[Status] | None = None, kind: str | None = None,
                     category: str | None = None, region: str | None = None,
                     due_before: date | None = None, running: bool = False,
                     text: str | None = None, created_from: datetime | None = None,
                     created_before: datetime | None = None, before_id: int | None = None,
                     limit: int = 50) -> list[TicketRecord]:
        """Tickets newest first, at most ``limit``: of ``departments`` (``None``: all), in
        ``statuses``, of a kind, category or region, due before ``due_before``, still
        running (the clock not stopped), whose number or description holds ``text``,
        made in [``created_from``, ``created_before``), older than ticket ``before_id``
        (the cursor)."""
        query = select(Ticket).order_by(Ticket.id.desc()).limit(limit)
        if departments is not None:
            query = query.where(Ticket.department.in_(sorted(departments)))
        if statuses is not None:
            query = query.where(Ticket.status.in_(sorted(s.value for s in statuses)))
        for column, value in ((Ticket.kind, kind), (Ticket.category, category),
                              (Ticket.region, region)):
            if value is not None:
                query = query.where(column == value)
        if due_before is not None:
            query = query.where(Ticket.due_on < due_before)
        if running:
            query = query.where(Ticket.status.not_in(sorted(s.value for s in ENDED)))
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace(
                "_", "\\_") + "%"
            query = query.where(or_(Ticket.description.like(pattern, escape="\\"),
                                    Ticket.number.like(pattern, escape="\\")))
        if created_from is not None:
            query = query.where(Ticket.created_at >= created_from)
        if created_before is not None:
            query = query.where(Ticket.created_at < created_before)
        if before_id is not None:
            query = query.where(Ticket.id < before_id)
        async with self._sessions() as session:
            return [_ticket(row) for row in (await session.scalars(query)).all()]

    async def todo(self, department: str | None, *,
                   limit: int = 10) -> tuple[int, list[TicketRecord]]:
        """What awaits staff, most urgent first (due date, then age), and how many: for a
        department's handlers (``department``), its tickets to sign for or to answer; for
        the office (``None``), tickets to dispatch or re-dispatch and requests awaiting
        approval."""
        if department is not None:
            where = [Ticket.department == department,
                     Ticket.status.in_([Status.DISPATCHED.value, Status.IN_PROGRESS.value,
                                        Status.REOPENED.value])]
        else:
            where = [or_(Ticket.status.in_([Status.SUBMITTED.value, Status.RETURNED.value]),
                         and_(Ticket.status.in_([Status.IN_PROGRESS.value,
                                                 Status.REOPENED.value]),
                              Ticket.pending != Pending.NOTHING.value))]
        async with self._sessions() as session:
            count = await session.scalar(select(func.count()).select_from(Ticket).where(*where))
            rows = (await session.scalars(
                select(Ticket).where(*where)
                .order_by(Ticket.due_on.is_(None), Ticket.due_on, Ticket.id)
                .limit(limit))).all()
        return int(count or 0), [_ticket(row) for row in rows]

    async def pending(self, ticket_id: int) -> tuple[str | None, date | None]:
        """What the office is asked to approve: the answer under review, or the reason and
        the date of an extension asked for."""
        async with self._sessions() as session:
            row = (await session.execute(select(Ticket.pending_text, Ticket.pending_due_on)
                                         .where(Ticket.id == ticket_id))).one_or_none()
        return (None, None) if row is None else (row[0], row[1])

    async def events(self, ticket_id: int) -> list[TicketEventRecord]:
        async with self._sessions() as session:
            return [_event(row) for row in (await session.scalars(
                select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                .order_by(TicketEvent.id))).all()]

    async def of_citizen(self, account: str, openid: str,
                         limit: int = 10) -> list[TicketRecord]:
        """A citizen's recent tickets, newest first (only the owner's)."""
        async with self._sessions() as session:
            return [_ticket(row) for row in (await session.scalars(
                select(Ticket).where(Ticket.account == account, Ticket.openid == openid)
                .order_by(Ticket.id.desc()).limit(limit))).all()]

    async def of_owner(self, number: str, account: str, openid: str) -> TicketRecord | None:
        """The ticket with this number if it is this citizen's; ``None`` otherwise, so one
        citizen never learns anything of another's ticket, not even that it exists."""
        async with self._sessions() as session:
            return _ticket_or_none(await session.scalar(select(Ticket).where(
                Ticket.number == number, Ticket.account == account, Ticket.openid == openid)))

    async def withdraw(self, number: str, account: str, openid: str, *,
                       now: datetime | None = None, note: str = "",
                       ) -> tuple[WithdrawOutcome, TicketRecord | None]:
        """Withdraw (撤回) the citizen's ticket while its status may move to ``withdrawn``
        (:data:`domain.tickets.WITHDRAWABLE`).

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
                previous = Status(ticket.status)
                if previous is Status.WITHDRAWN:
                    return WithdrawOutcome.ALREADY, _ticket(ticket)
                if not can_move(previous, Status.WITHDRAWN):
                    return WithdrawOutcome.TOO_LATE, _ticket(ticket)
                version = await session.scalar(
                    update(Ticket).where(Ticket.id == ticket.id, Ticket.status == previous)
                    .values(status=Status.WITHDRAWN, version=Ticket.version + 1)
                    .returning(Ticket.version)
                    .execution_options(synchronize_session=False))
                if version is None:  # SQLite: it changed since the read; read it again
                    continue
                set_committed_value(ticket, "status", Status.WITHDRAWN)
                set_committed_value(ticket, "version", version)  # staff see it changed
                session.add(TicketEvent(ticket_id=ticket.id, actor="citizen", at=now,
                                        from_status=previous, to_status=Status.WITHDRAWN,
                                        note=note, due_on=ticket.due_on))
            return WithdrawOutcome.WITHDRAWN, _ticket(ticket)
        raise RuntimeError(f"ticket {number}: status kept changing during withdrawal")

    async def unpublish(self, number: str, account: str, openid: str, *,
                        now: datetime | None = None, note: str = "") -> TicketRecord | None:
        """撤回公开: the citizen's ticket stays off the public board from now on (its
        consent to publish taken back), with an event in its timeline; ``None`` when no
        ticket of theirs has this number. Taking back a consent not given changes
        nothing."""
        now = now or datetime.now(UTC)
        for _ in range(_WITHDRAW_TRIES):
            try:
                async with self._sessions.begin() as session:
                    ticket = await session.scalar(
                        select(Ticket).where(Ticket.number == number,
                                             Ticket.account == account,
                                             Ticket.openid == openid).with_for_update())
                    if ticket is None:
                        return None
                    if not ticket.public:
                        return _ticket(ticket)
                    ticket.public = False
                    session.add(TicketEvent(
                        ticket_id=ticket.id, actor="citizen", at=now,
                        from_status=ticket.status, to_status=ticket.status, note=note,
                        action=Action.UNPUBLISH.value, party=Party.CITIZEN.value,
                        due_on=ticket.due_on))
                    await session.flush()
                return _ticket(ticket)
            except StaleDataError:  # a move was committed since the read: again
                continue
        raise RuntimeError(f"ticket {number}: kept changing while its consent was taken back")

    async def last_phone(self, account: str, openid: str) -> str | None:
        """The phone number of the citizen's most recent ticket that has one."""
        async with self._sessions() as session:
            return await session.scalar(
                select(Ticket.phone).where(Ticket.account == account, Ticket.openid == openid,
                                           Ticket.phone.is_not(None), Ticket.phone != "")
                .order_by(Ticket.id.desc()).limit(1))

    async def attachments(self, ticket_id: int) -> list[AttachmentRecord]:
        """The ticket's photos, in the order they were sent."""
        async with self._sessions() as session:
            return [AttachmentRecord(row.media_id, row.url) for row in (await session.scalars(
                select(Attachment).where(Attachment.ticket_id == ticket_id)
                .order_by(Attachment.id))).all()]

    async def redate(self, calendar: Calendar,
                     workdays_for: Callable[[str], int | None]) -> list[TicketRecord]:
        """Count again the due date of every ticket still running whose date is
        provisional, or missing (filed by an older version while its year was unknown),
        on ``calendar``: ``due_workdays`` working days after the China day its count
        started (``due_from``: filing, 转办, 改派 or 重办; the day it was filed for a ticket
        from before; ``workdays_for(kind)`` for a ticket that has no count). The timeline's
        events that carried the date counted before carry the new one (the reports read
        due dates from them). The tickets whose date
        or provisional mark changed, as they are now."""
        changed: list[TicketRecord] = []
        async with self._sessions.begin() as session:
            rows = (await session.scalars(
                select(Ticket).where(
                    or_(Ticket.due_provisional.is_(True), Ticket.due_on.is_(None)),
                    Ticket.status.not_in([s.value for s in ENDED]))
                .order_by(Ticket.id).with_for_update())).all()
            for row in rows:
                days = row.due_workdays if row.due_workdays is not None else workdays_for(
                    row.kind)
                if days is None:  # a kind the catalogue no longer has: left as it is
                    continue
                start = row.due_from or local_day(_utc(row.created_at))
                counted = deadline(start, days, calendar)
                if (counted.day, counted.provisional) != (row.due_on, row.due_provisional):
                    if row.due_on is not None:  # the timeline had the date counted before
                        await session.execute(
                            update(TicketEvent).where(TicketEvent.ticket_id == row.id,
                                                      TicketEvent.due_on == row.due_on)
                            .values(due_on=counted.day))
                    row.due_on, row.due_provisional = counted.day, counted.provisional
                    row.due_workdays = days
                    changed.append(_ticket(row))
        return changed


_WITHDRAW_TRIES = 10  # each retry means another transaction changed the status meanwhile


def _ticket(row: Ticket) -> TicketRecord:
    return TicketRecord(
        id=row.id, number=row.number, idempotency_key=row.idempotency_key,
        account=row.account, openid=row.openid, kind=row.kind, category=row.category,
        region=row.region, department=row.department, description=row.description,
        phone=row.phone, public=row.public, latitude=row.latitude, longitude=row.longitude,
        place=row.place, status=Status(row.status), due_on=row.due_on,
        due_provisional=row.due_provisional, version=row.version,
        pending=Pending(row.pending), merged_into=row.merged_into, withheld=row.withheld,
        created_at=_utc(row.created_at))


def _ticket_or_none(row: Ticket | None) -> TicketRecord | None:
    return None if row is None else _ticket(row)


def _event(row: TicketEvent) -> TicketEventRecord:
    return TicketEventRecord(
        actor=row.actor, at=_utc(row.at),
        from_status=None if row.from_status is None else Status(row.from_status),
        to_status=Status(row.to_status), note=row.note,
        action=None if row.action is None else Action(row.action),
        party=None if row.party is None else Party(row.party),
        citizen_text=row.citizen_text)


def _utc(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; every time stored is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
