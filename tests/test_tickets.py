"""Tickets on SQLite and PostgreSQL: numbers unique under concurrency, idempotent creation."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tickets import NewTicket, Tickets


def new(key: str, openid: str = "oA", **extra: object) -> NewTicket:
    values: dict[str, object] = {
        "idempotency_key": key, "account": "default", "openid": openid, "kind": "投诉",
        "category": "zfjs", "region": "cgz", "department": "zjj",
        "description": "小区门口路灯坏了一周", "due_on": date(2026, 11, 30),
    }
    values.update(extra)
    return NewTicket(**values)  # type: ignore[arg-type]


@pytest.fixture
async def tickets(engine: AsyncEngine) -> Tickets:
    async with engine.begin() as conn:
        for table in ("attachments", "ticket_events", "tickets", "ticket_counters"):
            await conn.execute(text(f"DELETE FROM {table}"))
    return Tickets(engine)


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
