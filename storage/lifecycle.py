"""Moving a ticket along its lifecycle (``domain.tickets.MOVES``), in one transaction: the
ticket, its event and the pushes that tell its reporters.

The caller (the staff API, the catalogue's dispatch) says who acts, which version of the
ticket it saw and what the move carries (a department, a date, a text); this module
checks the move against the table, applies it, writes the event with what the citizen
was told, and queues that text for the ticket's reporter and for the reporter of every
ticket merged into it (purpose ``ticket_status``), all or nothing. Working out a due date
or the citizen's wording is the caller's: storage only keeps them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from domain.messages import split_text
from domain.survey import SurveyKind
from domain.telling import NOTICES, Act, Tell
from domain.tickets import (
    ENDED,
    Action,
    Move,
    Pending,
    Status,
    TicketRecord,
    find_move,
)
from storage.models import Ticket, TicketEvent
from storage.notices import notify
from storage.outbox import add_push
from storage.survey_ask import ask
from storage.tickets import _ticket
from storage.watch import alert_once

PURPOSE = "ticket_status"


Also = Callable[[AsyncSession, Ticket], Awaitable[None]]
"""More for :meth:`TicketMoves.act` to write in its transaction, given the ticket's row."""


class TicketNotFound(LookupError):
    """No ticket with this id (or none the caller may see: the caller decides)."""


class VersionConflict(Exception):
    """The ticket changed since the caller read it: ``current`` is how it stands now."""

    def __init__(self, current: TicketRecord) -> None:
        super().__init__(f"ticket {current.number} is at version {current.version} now, "
                         f"status {current.status}")
        self.current = current


class AlreadyDone(Exception):
    """The move was asked for once only (``once``) and has been made before."""


class MoveIncomplete(ValueError):
    """The move lacks what it carries (a department to dispatch to, a reason …):
    ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


_NEEDS_NOTE = {Action.RETURN, Action.REJECT, Action.DENY_EXTENSION,
               Action.SEND_BACK_ANSWER, Action.WITHHOLD}
# the moves whose detail is the answer the citizen receives (and the board shows)
_ANSWERS = {Action.ANSWER, Action.APPROVE_ANSWER}


class TicketMoves:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def act(self, ticket_id: int, act: Act, tell: Tell, *,
                  now: datetime | None = None,
                  once: tuple[str, date] | None = None,
                  also: Also | None = None) -> TicketRecord:
        """Apply ``act`` to the ticket: :class:`TicketNotFound`, :class:`VersionConflict`,
        :class:`domain.tickets.MoveRefused`, :class:`MoveIncomplete`; else the ticket as it
        is after the move, its event and its pushes committed together.

        ``once``: an alert (kind, day) the move is, made at most once — :class:`AlreadyDone`
        when it was made before (the scheduler's 督办, once a day). ``also``: more to
        write in the same transaction, after the move (the survey's own row)."""
        now = now or datetime.now(UTC)
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(Ticket).where(Ticket.id == ticket_id).with_for_update())
            if row is None:
                raise TicketNotFound(ticket_id)
            if act.version is not None and row.version != act.version:
                raise VersionConflict(_ticket(row))
            before = Status(row.status)
            if once is not None and not await alert_once(
                    session, ticket_id=row.id, kind=once[0], day=once[1], now=now):
                raise AlreadyDone(f"{once[0]} of {once[1]}")
            move = find_move(act.action, before, Pending(row.pending), act.party,
                             review=act.review)
            detail = await self._apply(session, row, act, move)
            if act.action in _ANSWERS and detail is not None:
                row.answer, row.answered_at, row.answer_due_on = detail, now, row.due_on
            row.status = (move.target or before).value
            row.pending = move.pending_after(Pending(row.pending)).value
            try:
                await session.flush()  # the version check, and the version raised
            except StaleDataError:  # another move was committed since the read
                raise VersionConflict(await self._current(ticket_id)) from None
            after = _ticket(row)
            told = tell(after, move, act, detail)
            session.add(TicketEvent(
                ticket_id=row.id, actor=act.actor, at=now, from_status=before.value,
                to_status=row.status, note=act.note, action=act.action.value,
                party=act.party.value, staff_id=act.staff_id, due_on=row.due_on,
                citizen_text=("\n".join(told.texts) or None) if move.tells_citizen else None))
            notice = NOTICES.get(act.action)
            if notice is not None and (act.action is not Action.ANSWER
                                       or move.then is Pending.REVIEW):
                text = told.staff or notice.kind
                if notice.department:
                    await notify(session, ticket_id=row.id, kind=notice.kind, text=text,
                                 department=row.department, now=now)
                if notice.office:
                    await notify(session, ticket_id=row.id, kind=notice.kind, text=text,
                                 now=now)
            if also is not None:
                await also(session, row)
            if move.tells_citizen and told.texts:
                for account, openid in await self._reporters(session, row):
                    for text in told.texts:
                        for piece in split_text(text):
                            add_push(session, account=account, openid=openid,
                                     purpose=PURPOSE, text=piece, fields=told.fields)
            if told.survey is not None:  # 办结: then the reporter is asked how it went
                await ask(session, row, kind=SurveyKind.RATING, text=told.survey,
                          label=told.survey_label, now=now)
            return after

    async def _current(self, ticket_id: int) -> TicketRecord:
        async with self._sessions() as session:
            row = await session.get(Ticket, ticket_id)
            assert row is not None, "tickets are never deleted"
            return _ticket(row)

    @staticmethod
    async def _apply(session: AsyncSession, row: Ticket, act: Act, move: Move) -> str | None:
        """The move's own effect on the row; what it carries for the citizen (see
        :data:`Tell`)."""
        action = act.action
        if action in _NEEDS_NOTE and not act.note.strip():
            raise MoveIncomplete("note", "say why")
        if action in (Action.DISPATCH, Action.REDISPATCH):
            if not act.department:
                raise MoveIncomplete("department", "which department")
            row.department = act.department
            if act.due_on is not None:
                _due(row, act)
        elif action is Action.REQUEST_EXTENSION:
            if act.due_on is None or (row.due_on is not None and act.due_on <= row.due_on):
                raise MoveIncomplete("due_on", "a date after the one due now")
            if not (act.text or "").strip():
                raise MoveIncomplete("text", "the reason")
            row.pending_due_on, row.pending_text = act.due_on, act.text
        elif action is Action.REOPEN:  # 重办: the same department, a fresh deadline
            if act.due_on is not None:
                _due(row, act)
        elif action is Action.APPROVE_EXTENSION:
            row.due_on, row.due_provisional = row.pending_due_on, False
            row.pending_due_on = row.pending_text = None
        elif action in (Action.DENY_EXTENSION, Action.SEND_BACK_ANSWER):
            row.pending_due_on = row.pending_text = None
        elif action is Action.ANSWER:
            if not (act.text or "").strip():
                raise MoveIncomplete("text", "the answer the citizen receives")
            if move.then is Pending.REVIEW:
                row.pending_text = act.text
                return None
            return act.text
        elif action is Action.WITHHOLD:
            row.withheld = act.note.strip()
        elif action is Action.UNPUBLISH:
            row.public = False
        elif action is Action.APPROVE_ANSWER:
            answer, row.pending_text = row.pending_text, None
            return answer
        elif action is Action.MERGE:
            if act.into is None or act.into == row.id:
                raise MoveIncomplete("into", "the earlier ticket it duplicates")
            target = await session.scalar(
                select(Ticket).where(Ticket.id == act.into).with_for_update())
            if target is None or Status(target.status) in ENDED or target.id > row.id:
                raise MoveIncomplete("into", "an earlier ticket still running")
            row.merged_into = target.id
            # what was merged into this one joins the target too: every reporter is one
            # step from the ticket that is worked on, and hears of it
            await session.execute(
                update(Ticket).where(Ticket.merged_into == row.id)
                .values(merged_into=target.id, version=Ticket.version + 1)
                .execution_options(synchronize_session=False))
            return target.number
        return None

    @staticmethod
    async def _reporters(session: AsyncSession, row: Ticket) -> list[tuple[str, str]]:
        """Who hears of the ticket: its reporter, and the reporter of every ticket merged
        into it (each once)."""
        merged = (await session.execute(
            select(Ticket.account, Ticket.openid).where(Ticket.merged_into == row.id)
            .order_by(Ticket.id))).all()
        found: list[tuple[str, str]] = []
        for account, openid in [(row.account, row.openid), *merged]:
            if (account, openid) not in found:
                found.append((account, openid))
        return found


def _due(row: Ticket, act: Act) -> None:
    """The move's due date on the row, with where its count started (see Act)."""
    row.due_on, row.due_provisional = act.due_on, act.due_provisional
    if act.due_count is not None:
        row.due_from, row.due_workdays = act.due_count
