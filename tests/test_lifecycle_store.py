"""Moving tickets along the lifecycle in storage (storage/lifecycle.py) on SQLite and
PostgreSQL: each move with its event and its pushes in one transaction, versions that
make one of two simultaneous moves win, merged tickets' reporters told too. The table of
moves itself: tests/test_tickets.py."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.telling import Act, Told
from domain.tickets import Action, Move, MoveRefused, Party, Pending, Status, TicketRecord
from storage.lifecycle import (
    MoveIncomplete,
    TicketMoves,
    TicketNotFound,
    VersionConflict,
)
from storage.models import Push, TicketEvent
from storage.tickets import Tickets
from tests.test_tickets_store import new


def handler(action: Action, **carries: Any) -> Act:
    """A move by zhang, handler of the ticket's department."""
    return Act(action, Party.HANDLER, "zhang", **carries)


def office(action: Action, **carries: Any) -> Act:
    """A move by wang, of the 12345 office."""
    return Act(action, Party.SUPERVISOR, "wang", **carries)


def tell(ticket: TicketRecord, move: Move, act: Act, answer: str | None) -> Told:
    said = f"{ticket.number} {act.action}" + (f": {answer}" if answer else "")
    return Told([said], {"ticket_no": ticket.number, "status": ticket.status.value})


async def pushes(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        return [(r.openid, r.text) for r in (await conn.execute(
            select(Push.openid, Push.text).order_by(Push.id))).all()]


async def events(engine: AsyncEngine, ticket_id: int) -> list[tuple[str | None, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(
            select(TicketEvent.action, TicketEvent.party, TicketEvent.actor,
                   TicketEvent.from_status, TicketEvent.to_status, TicketEvent.citizen_text)
            .where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id))).all()]


async def test_sign_extend_answer_close_each_told_with_its_event(
    tickets: Tickets, engine: AsyncEngine,
) -> None:
    ticket, _ = await tickets.create(new("k1"))
    moves = TicketMoves(engine)
    signed = await moves.act(ticket.id, handler(Action.SIGN, version=1), tell)
    assert (signed.status, signed.version) == (Status.IN_PROGRESS, 2)
    asked = await moves.act(ticket.id, handler(Action.REQUEST_EXTENSION, version=2,
                                           due_on=date(2026, 12, 15), text="需现场勘查"), tell)
    assert asked.pending is Pending.EXTENSION and asked.due_on == date(2026, 11, 30)
    approved = await moves.act(ticket.id, office(Action.APPROVE_EXTENSION, version=3), tell)
    assert (approved.pending, approved.due_on) == (Pending.NOTHING, date(2026, 12, 15))
    answered = await moves.act(ticket.id, handler(Action.ANSWER, version=4, text="路灯已修好"),
                               tell)
    assert answered.status is Status.REPLIED
    closed = await moves.act(ticket.id, office(Action.CLOSE, version=5), tell)
    assert (closed.status, closed.version) == (Status.CLOSED, 6)
    n = ticket.number
    assert await pushes(engine) == [
        ("oA", f"{n} sign"), ("oA", f"{n} approve_extension"),
        ("oA", f"{n} answer: 路灯已修好"), ("oA", f"{n} close")]
    assert (await events(engine, ticket.id))[2:] == [
        ("sign", "handler", "zhang", "dispatched", "in_progress", f"{n} sign"),
        ("request_extension", "handler", "zhang", "in_progress", "in_progress", None),
        ("approve_extension", "supervisor", "wang", "in_progress", "in_progress",
         f"{n} approve_extension"),
        ("answer", "handler", "zhang", "in_progress", "replied", f"{n} answer: 路灯已修好"),
        ("close", "supervisor", "wang", "replied", "closed", f"{n} close"),
    ]


async def test_an_answer_under_review_goes_out_only_when_approved(
    tickets: Tickets, engine: AsyncEngine,
) -> None:
    ticket, _ = await tickets.create(new("k1"))
    moves = TicketMoves(engine)
    await moves.act(ticket.id, handler(Action.SIGN), tell)
    held = await moves.act(ticket.id, handler(Action.ANSWER, review=True, text="初稿"), tell)
    assert (held.status, held.pending) == (Status.IN_PROGRESS, Pending.REVIEW)
    await moves.act(ticket.id, office(Action.SEND_BACK_ANSWER, note="请写明维修时间"), tell)
    await moves.act(ticket.id, handler(Action.ANSWER, review=True, text="已于周一修复"), tell)
    approved = await moves.act(ticket.id, office(Action.APPROVE_ANSWER), tell)
    assert approved.status is Status.REPLIED
    assert [text for _, text in await pushes(engine)] == [
        f"{ticket.number} sign", f"{ticket.number} approve_answer: 已于周一修复"]


async def test_a_stale_version_is_a_conflict_naming_the_state_now(
    tickets: Tickets, engine: AsyncEngine,
) -> None:
    ticket, _ = await tickets.create(new("k1"))
    moves = TicketMoves(engine)
    await moves.act(ticket.id, handler(Action.SIGN, version=1), tell)
    with pytest.raises(VersionConflict) as conflict:
        await moves.act(ticket.id, handler(Action.RETURN, version=1, note="不归我们"), tell)
    assert (conflict.value.current.status, conflict.value.current.version) == (
        Status.IN_PROGRESS, 2)
    with pytest.raises(TicketNotFound):
        await moves.act(ticket.id + 1000, handler(Action.SIGN), tell)


async def test_refused_and_incomplete_moves_change_nothing(
    tickets: Tickets, engine: AsyncEngine,
) -> None:
    ticket, _ = await tickets.create(new("k1"))
    moves = TicketMoves(engine)
    with pytest.raises(MoveRefused, match="handler may not redispatch"):
        await moves.act(ticket.id, handler(Action.REDISPATCH, department="gaj"), tell)
    with pytest.raises(MoveIncomplete, match="note: say why"):
        await moves.act(ticket.id, handler(Action.RETURN, note=" "), tell)
    with pytest.raises(MoveIncomplete, match="department"):
        await moves.act(ticket.id, office(Action.REDISPATCH), tell)

    def broken(*_: object) -> Told:
        raise RuntimeError("the texts are broken")

    with pytest.raises(RuntimeError):  # a failure telling the citizen undoes the move
        await moves.act(ticket.id, handler(Action.SIGN), broken)
    await moves.act(ticket.id, handler(Action.SIGN), tell)
    with pytest.raises(MoveRefused, match="no sign from in_progress"):
        await moves.act(ticket.id, handler(Action.SIGN), tell)
    with pytest.raises(MoveIncomplete, match="due_on: a date after"):
        await moves.act(ticket.id, handler(Action.REQUEST_EXTENSION, due_on=date(2026, 11, 30),
                                       text="原因"), tell)
    stored = await tickets.by_key("k1")
    assert stored is not None and (stored.status, stored.version) == (Status.IN_PROGRESS, 2)
    assert len(await pushes(engine)) == 1  # the one sign that went through
    assert len(await events(engine, ticket.id)) == 3


async def test_every_reporter_of_a_merged_ticket_hears_of_the_one_it_joined(
    tickets: Tickets, engine: AsyncEngine,
) -> None:
    first, _ = await tickets.create(new("k1", openid="oA"))
    second, _ = await tickets.create(new("k2", openid="oB"))
    third, _ = await tickets.create(new("k3", openid="oA"))  # the same citizen twice
    moves = TicketMoves(engine)
    with pytest.raises(MoveIncomplete, match="into"):
        await moves.act(first.id, office(Action.MERGE, into=second.id), tell)
    for later in (second, third):
        merged = await moves.act(later.id, office(Action.MERGE, into=first.id), tell)
        assert (merged.status, merged.merged_into) == (Status.MERGED, first.id)
    assert (await pushes(engine))[-1] == ("oA", f"{third.number} merge: {first.number}")
    before = len(await pushes(engine))
    await moves.act(first.id, handler(Action.SIGN), tell)
    # oA once, though two of the tickets are theirs
    assert sorted(who for who, _ in (await pushes(engine))[before:]) == ["oA", "oB"]


async def test_of_two_staff_acting_at_once_one_wins(tickets: Tickets,
                                                    engine: AsyncEngine) -> None:
    ticket, _ = await tickets.create(new("k1"))
    moves = TicketMoves(engine)
    results = await asyncio.gather(
        moves.act(ticket.id, handler(Action.SIGN, version=1), tell),
        moves.act(ticket.id, handler(Action.RETURN, version=1, note="不归我们"), tell),
        moves.act(ticket.id, office(Action.REDISPATCH, version=1, department="gaj"),
                  tell),
        return_exceptions=True)
    won = [r for r in results if isinstance(r, TicketRecord)]
    assert len(won) == 1
    assert all(isinstance(r, (VersionConflict, MoveRefused)) for r in results if r not in won)
    assert len(await events(engine, ticket.id)) == 3  # filed, dispatched, and the winner


async def test_a_citizens_withdrawal_is_a_change_staff_see_as_a_conflict(
    tickets: Tickets, engine: AsyncEngine,
) -> None:
    ticket, _ = await tickets.create(new("k1", openid="oA"))
    await tickets.withdraw(ticket.number, "default", "oA")
    with pytest.raises(VersionConflict) as conflict:
        await TicketMoves(engine).act(ticket.id, handler(Action.SIGN, version=1), tell)
    assert (conflict.value.current.status, conflict.value.current.version) == (
        Status.WITHDRAWN, 2)
