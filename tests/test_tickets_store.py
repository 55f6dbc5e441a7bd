"""The ticket repository (storage/tickets.py) on SQLite and PostgreSQL: numbers unique
under concurrency, idempotent creation, the owner's view, withdrawal under concurrency,
records out, the domain's transitions enforced. The rules themselves: tests/test_tickets.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.tickets import (
    TRANSITIONS,
    AttachmentRecord,
    Status,
    TicketEventRecord,
    TicketRecord,
    TransitionRefused,
)
from storage.tickets import NewTicket, Tickets, WithdrawOutcome


def new(key: str, openid: str = "oA", **extra: object) -> NewTicket:
    values: dict[str, object] = {
        "idempotency_key": key, "account": "default", "openid": openid, "kind": "投诉",
        "category": "zfjs", "region": "cgz", "department": "zjj",
        "description": "小区门口路灯坏了一周", "due_on": date(2026, 11, 30),
    }
    values.update(extra)
    return NewTicket(**values)  # type: ignore[arg-type]


async def test_a_ticket_has_a_number_events_and_photos(tickets: Tickets) -> None:
    now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    ticket, created = await tickets.create(
        new("k1", photos=(("m1", "http://p/1"), ("m2", "http://p/2"))), now=now)
    assert created
    assert ticket.number == "LX20261122-000001"
    assert [(e.from_status, e.to_status) for e in await tickets.events(ticket.id)] == [
        (None, "submitted"), ("submitted", "dispatched")]
    second, _ = await tickets.create(new("k2"), now=now)
    assert second.number == "LX20261122-000002"
    next_day, _ = await tickets.create(new("k3"), now=datetime(2026, 11, 23, tzinfo=UTC))
    assert next_day.number == "LX20261123-000001"
    with pytest.raises(ValueError, match="at most 9 photos"):
        await tickets.create(new("k4", photos=tuple((f"m{i}", "u") for i in range(10))))


async def test_a_repeated_confirm_makes_one_ticket(tickets: Tickets) -> None:
    results = await asyncio.gather(*(tickets.create(new("same")) for _ in range(5)))
    assert len({t.number for t, _ in results}) == 1
    assert sum(created for _, created in results) == 1


async def test_hundred_users_at_once_get_distinct_numbers(tickets: Tickets) -> None:
    results = await asyncio.gather(*(
        tickets.create(new(f"key{i}", openid=f"o{i}")) for i in range(100)))
    numbers = {t.number for t, _ in results}
    assert len(numbers) == 100
    assert all(created for _, created in results)


async def test_only_the_owner_sees_their_tickets(tickets: Tickets) -> None:
    await tickets.create(new("a1", openid="oOwner"))
    await tickets.create(new("a2", openid="oOwner"))
    await tickets.create(new("b1", openid="oOther"))
    mine = await tickets.of_citizen("default", "oOwner")
    assert [t.idempotency_key for t in mine] == ["a2", "a1"]


# ---------------------------------------------------------------- unknown region and due date
async def test_region_and_due_date_may_be_unknown(tickets: Tickets) -> None:
    ticket, _ = await tickets.create(new("nowhere", region=None, due_on=None))
    assert (ticket.region, ticket.due_on) == (None, None)
    again = await tickets.of_owner(ticket.number, "default", "oA")
    assert again is not None
    assert (again.region, again.due_on) == (None, None)


# ---------------------------------------------------------------- the owner's view
async def test_of_owner_shows_only_the_owners_ticket(tickets: Tickets) -> None:
    ticket, _ = await tickets.create(new("mine", openid="oOwner"))
    found = await tickets.of_owner(ticket.number, "default", "oOwner")
    assert found is not None
    assert found.id == ticket.id
    assert await tickets.of_owner(ticket.number, "default", "oOther") is None
    assert await tickets.of_owner(ticket.number, "other", "oOwner") is None
    assert await tickets.of_owner("LX20000101-000001", "default", "oOwner") is None


async def test_attachments_in_the_order_sent(tickets: Tickets) -> None:
    photos = (("m2", "http://p/2"), ("m1", "http://p/1"), ("m3", ""))
    ticket, _ = await tickets.create(new("photos", photos=photos))
    bare, _ = await tickets.create(new("bare"))
    assert [(a.media_id, a.url) for a in await tickets.attachments(ticket.id)] == list(photos)
    assert await tickets.attachments(bare.id) == []


async def test_last_phone_is_the_latest_ticket_that_has_one(tickets: Tickets) -> None:
    assert await tickets.last_phone("default", "oA") is None
    await tickets.create(new("p1", phone="13800000001"))
    await tickets.create(new("p2", phone="13800000002"))
    await tickets.create(new("p3", phone=None, kind="建议"))
    await tickets.create(new("other", openid="oB", phone="13900000009"))
    assert await tickets.last_phone("default", "oA") == "13800000002"
    assert await tickets.last_phone("other", "oA") is None


# ---------------------------------------------------------------- withdrawal
async def set_status(engine: AsyncEngine, ticket_id: int, status: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE tickets SET status = :s WHERE id = :i"),
                           {"s": status, "i": ticket_id})


async def test_the_owner_withdraws_a_dispatched_ticket(tickets: Tickets) -> None:
    ticket, _ = await tickets.create(new("w1"))
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    outcome, withdrawn = await tickets.withdraw(ticket.number, "default", "oA", now=at,
                                                note="已自行解决")
    assert outcome is WithdrawOutcome.WITHDRAWN
    assert withdrawn is not None
    assert withdrawn.status == "withdrawn"
    stored = await tickets.of_owner(ticket.number, "default", "oA")
    assert stored is not None
    assert stored.status == "withdrawn"
    last = (await tickets.events(ticket.id))[-1]
    assert (last.actor, last.from_status, last.to_status, last.note) == (
        "citizen", "dispatched", "withdrawn", "已自行解决")
    # a second time: already withdrawn, no second event
    outcome, again = await tickets.withdraw(ticket.number, "default", "oA")
    assert outcome is WithdrawOutcome.ALREADY
    assert again is not None
    assert again.id == ticket.id
    assert len(await tickets.events(ticket.id)) == 3


async def test_a_submitted_ticket_is_withdrawn_from_submitted(
    tickets: Tickets, engine: AsyncEngine,
) -> None:
    ticket, _ = await tickets.create(new("w-sub"))
    await set_status(engine, ticket.id, "submitted")
    outcome, _ = await tickets.withdraw(ticket.number, "default", "oA")
    assert outcome is WithdrawOutcome.WITHDRAWN
    assert (await tickets.events(ticket.id))[-1].from_status == "submitted"


async def test_another_citizen_cannot_withdraw_or_learn_of_it(tickets: Tickets) -> None:
    ticket, _ = await tickets.create(new("w2", openid="oOwner"))
    assert await tickets.withdraw(ticket.number, "default", "oOther") == (
        WithdrawOutcome.NOT_FOUND, None)
    assert await tickets.withdraw(ticket.number, "elsewhere", "oOwner") == (
        WithdrawOutcome.NOT_FOUND, None)
    assert await tickets.withdraw("LX20000101-000009", "default", "oOwner") == (
        WithdrawOutcome.NOT_FOUND, None)
    stored = await tickets.of_owner(ticket.number, "default", "oOwner")
    assert stored is not None
    assert stored.status == "dispatched"
    assert len(await tickets.events(ticket.id)) == 2


@pytest.mark.parametrize("status", ["in_progress", "replied", "closed", "archived"])
async def test_too_late_once_a_department_has_signed_for_it(
    tickets: Tickets, engine: AsyncEngine, status: str,
) -> None:
    ticket, _ = await tickets.create(new(f"w-{status}"))
    await set_status(engine, ticket.id, status)
    outcome, found = await tickets.withdraw(ticket.number, "default", "oA")
    assert outcome is WithdrawOutcome.TOO_LATE
    assert found is not None
    assert found.status == status  # the caller can say where it stands
    assert len(await tickets.events(ticket.id)) == 2


async def test_ten_withdrawals_at_once_withdraw_once(tickets: Tickets) -> None:
    ticket, _ = await tickets.create(new("race"))
    results = await asyncio.gather(*(
        tickets.withdraw(ticket.number, "default", "oA", note=f"try {n}") for n in range(10)))
    outcomes = [outcome for outcome, _ in results]
    assert outcomes.count(WithdrawOutcome.WITHDRAWN) == 1
    assert outcomes.count(WithdrawOutcome.ALREADY) == 9
    withdrawals = [e for e in await tickets.events(ticket.id) if e.to_status == "withdrawn"]
    assert len(withdrawals) == 1
    assert withdrawals[0].from_status == "dispatched"


async def test_a_withdrawal_racing_a_sign_for_keeps_the_true_history(
    tickets: Tickets, engine: AsyncEngine,
) -> None:
    """A department signs for the ticket (a plain conditional update, as a staff API
    would) while the citizen withdraws it: whichever wins, the event names the status
    the ticket really left."""
    for n in range(10):
        ticket, _ = await tickets.create(new(f"sign{n}"))

        async def sign_for(ticket_id: int = ticket.id) -> bool:
            async with engine.begin() as conn:
                done = await conn.execute(text(
                    "UPDATE tickets SET status = 'in_progress' "
                    "WHERE id = :i AND status = 'dispatched'"), {"i": ticket_id})
                return done.rowcount == 1

        (outcome, _), signed = await asyncio.gather(
            tickets.withdraw(ticket.number, "default", "oA"), sign_for())
        stored = await tickets.of_owner(ticket.number, "default", "oA")
        assert stored is not None
        if outcome is WithdrawOutcome.WITHDRAWN:
            assert not signed
            assert stored.status == "withdrawn"
            assert (await tickets.events(ticket.id))[-1].from_status == "dispatched"
        else:
            assert outcome is WithdrawOutcome.TOO_LATE
            assert signed
            assert stored.status == "in_progress"


# ---------------------------------------------------------------- the transitions table
async def test_a_move_the_domain_table_does_not_allow_is_never_written(
    tickets: Tickets, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Storage asks domain.tickets before every status it writes: take a move out of the
    table and the ticket is not filed, or not withdrawn."""
    filed, _ = await tickets.create(new("before"))
    monkeypatch.setitem(TRANSITIONS, Status.DISPATCHED, frozenset())
    outcome, found = await tickets.withdraw(filed.number, "default", "oA")
    assert outcome is WithdrawOutcome.TOO_LATE
    assert found is not None
    assert found.status is Status.DISPATCHED
    monkeypatch.setitem(TRANSITIONS, Status.SUBMITTED, frozenset({Status.WITHDRAWN}))
    with pytest.raises(TransitionRefused, match="from submitted to dispatched"):
        await tickets.create(new("after"))
    assert await tickets.by_key("after") is None
    assert len(await tickets.events(filed.id)) == 2


async def test_the_repository_hands_out_records_not_rows(tickets: Tickets) -> None:
    ticket, _ = await tickets.create(new("record", photos=(("m1", "u1"),)),
                                     now=datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    found = await tickets.of_owner(ticket.number, "default", "oA")
    listed = await tickets.of_citizen("default", "oA")
    assert isinstance(ticket, TicketRecord) and found == ticket and listed == [ticket]
    assert ticket.status is Status.DISPATCHED
    assert ticket.created_at == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # aware, on SQLite too
    assert found.created_at.tzinfo is not None
    events = await tickets.events(ticket.id)
    assert all(isinstance(e, TicketEventRecord) for e in events)
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, Status.SUBMITTED), (Status.SUBMITTED, Status.DISPATCHED)]
    assert all(e.at == datetime(2026, 11, 23, 9, 0, tzinfo=UTC) for e in events)
    assert await tickets.attachments(ticket.id) == [AttachmentRecord("m1", "u1")]
