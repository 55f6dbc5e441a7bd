"""Staff in WeChat: a one-time code binds a WeChat user to a staff account; a bound member
is answered by the staff router (待办, the staff help), never by the citizen desk; notices
of tickets sent to their department, returned or awaiting approval are listed in the API
and pushed to bound members through the outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.messages import Inbound
from domain.staff import Role, StaffRecord
from domain.telling import Act, Told
from domain.tickets import Action, Party
from handlers.staff import RETRY_AFTER_FAULT, StaffDesk
from storage.lifecycle import TicketMoves
from storage.models import Push
from storage.staff import StaffAccounts
from storage.tickets import Tickets
from tests.citizens import Citizen, file_complaint, ticket_number_in
from tests.test_dispatcher import TEXTS
from tests.test_staff_api import Client, bearer, world  # noqa: F401 - the fixture
from tests.test_tickets_store import new


async def staff_pushes(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        return [(r.openid, r.text) for r in await conn.execute(
            select(Push.openid, Push.text).where(Push.purpose == "staff_notice")
            .order_by(Push.id))]


async def test_a_code_binds_a_wechat_user_who_is_then_staff_not_a_citizen(
    world: tuple[Client, AsyncEngine, dict[str, str]],  # noqa: F811
) -> None:
    client, _, tokens = world
    made = await (await client.post("/api/v1/me/bind-code",
                                    headers=bearer(tokens["zhang"]))).json()
    code = made["code"]
    assert len(code) == 8 and code.isdigit()
    phone = Citizen(client, "oZhangPhone")
    assert "绑定码无效" in await phone.say("绑定 00000000")
    assert await phone.say(f"绑定 {code}") == (
        "已绑定：zhang（承办人员）。此后本微信号收到的是工作通知，不再作为市民留言。"
        "回复“待办”查看待处理的工单。")
    assert "绑定码无效" in await Citizen(client, "oOther").say(f"绑定 {code}")  # used once
    assert "这是工作账号" in await phone.say("我要反映")  # no complaint form for staff
    assert "目前没有待处理的工单" in await phone.say("待办")
    number = ticket_number_in(await file_complaint(Citizen(client, "oCitizen")))
    todo = await phone.say("待办")
    assert todo.startswith("待处理1件") and number in todo and "已转办" in todo


async def test_notices_are_listed_and_pushed_to_bound_staff(
    world: tuple[Client, AsyncEngine, dict[str, str]],  # noqa: F811
) -> None:
    client, engine, tokens = world
    code = (await (await client.post("/api/v1/me/bind-code",
                                     headers=bearer(tokens["zhang"]))).json())["code"]
    await Citizen(client, "oZhangPhone").say(f"绑定 {code}")
    number = ticket_number_in(await file_complaint(Citizen(client, "oCitizen")))
    [(openid, text)] = await staff_pushes(engine)  # zhang is zjj's bound handler
    assert openid == "oZhangPhone" and text.startswith(f"新工单{number}转至")
    mine = await (await client.get("/api/v1/notifications",
                                   headers=bearer(tokens["zhang"]))).json()
    assert mine["unread"] == 1 and mine["notifications"][0]["kind"] == "dispatched"
    notice_id = mine["notifications"][0]["id"]
    other = await client.post(f"/api/v1/notifications/{notice_id}/read",
                              headers=bearer(tokens["lisi"]))
    assert other.status == 404  # not lisi's
    done = await client.post(f"/api/v1/notifications/{notice_id}/read",
                             headers=bearer(tokens["zhang"]))
    assert done.status == 200
    after = await (await client.get("/api/v1/notifications?unread=true",
                                    headers=bearer(tokens["zhang"]))).json()
    assert (after["unread"], after["notifications"]) == (0, [])
    ticket = (await (await client.get(f"/api/v1/tickets?q={number}",
                                      headers=bearer(tokens["zhang"]))).json())["tickets"][0]
    await client.post(f"/api/v1/tickets/{ticket['id']}/return",
                      json={"version": ticket["version"], "note": "不属本局职责"},
                      headers=bearer(tokens["zhang"]))
    office = await (await client.get("/api/v1/notifications",
                                     headers=bearer(tokens["wang"]))).json()
    assert office["notifications"][0]["kind"] == "returned"
    assert "不属本局职责" in office["notifications"][0]["text"]
    assert len(await staff_pushes(engine)) == 1  # wang has no WeChat user bound


async def test_a_code_expires_after_ten_minutes_and_a_disabled_account_binds_nothing(
    world: tuple[Client, AsyncEngine, dict[str, str]],  # noqa: F811
) -> None:
    _, engine, _ = world
    now = [StaffAccounts(engine)._clock()]
    staff = StaffAccounts(engine, clock=lambda: now[0])
    code, expires = await staff.bind_code("zhang")
    now[0] = expires + timedelta(seconds=1)
    assert await staff.bind(code, "default", "oLate") is None
    now[0] = expires - timedelta(minutes=10)
    fresh, _ = await staff.bind_code("zhang")
    await staff.set_active("zhang", False)
    assert await staff.bind(fresh, "default", "oLate") is None
    await staff.set_active("zhang", True)
    assert await staff.bind(fresh, "default", "oLate") is None  # the code was used up
    await staff.set_active("zhang", False)
    with pytest.raises(Exception, match="disabled"):
        await staff.bind_code("zhang")


async def test_staff_clicks_unbinding_and_bind_tries(
    world: tuple[Client, AsyncEngine, dict[str, str]],  # noqa: F811
) -> None:
    client, _, tokens = world

    async def code() -> str:
        answer = await client.post("/api/v1/me/bind-code", headers=bearer(tokens["zhang"]))
        return str((await answer.json())["code"])

    phone = Citizen(client, "oZhangPhone")
    wide = (await code()).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert (await phone.say(f"绑定 {wide}")).startswith("已绑定：zhang")  # full-width
    assert "这是工作账号" in await phone.click("COMPLAINT")  # a click is staff's too
    assert "已解除绑定" in await phone.say("解除绑定")
    assert "请问是哪一类留言" in await phone.say("我要反映")  # a citizen again
    guesser = Citizen(client, "oGuesser")
    for _ in range(5):
        assert "绑定码无效" in await guesser.say("绑定 00000000")
    assert "请10分钟后再试" in await guesser.say(f"绑定 {await code()}")  # even a right one


async def test_todo_is_the_most_urgent_first_of_all_that_wait(
    world: tuple[Client, AsyncEngine, dict[str, str]],  # noqa: F811
) -> None:
    client, engine, tokens = world
    tickets = Tickets(engine)
    for n in range(12):  # the oldest is the most overdue
        await tickets.create(new(f"k{n}", due_on=date(2026, 11, 1) + timedelta(days=n)))
    returned, _ = await tickets.create(new("r", department="cgj", due_on=date(2026, 12, 1)))
    moves = TicketMoves(engine)
    await moves.act(returned.id, Act(Action.RETURN, Party.HANDLER, "li", note="x"),
                    lambda *_: Told((), {}))
    async with engine.begin() as conn:  # 200 newer tickets being worked on, nothing pending
        await conn.execute(text("UPDATE tickets SET status = 'in_progress' "
                                "WHERE idempotency_key LIKE 'k1%'"))
    for who, user in (("zhang", "oZhang"), ("wang", "oWang"), ("root", "oRoot")):
        made = await client.post("/api/v1/me/bind-code", headers=bearer(tokens[who]))
        await Citizen(client, user).say(f"绑定 {(await made.json())['code']}")
    handler = await Citizen(client, "oZhang").say("待办")
    assert handler.startswith("待处理12件") and "\n" in handler
    assert handler.splitlines()[1].endswith("11-01")  # the most overdue first
    office = await Citizen(client, "oWang").say("待办")
    assert office.startswith("待处理1件") and returned.number in office
    assert "这是工作账号" in await Citizen(client, "oRoot").say("待办")  # no tickets


async def test_the_staff_check_does_not_stop_citizens_when_the_database_cannot_be_asked(
) -> None:
    """Every message asks whether a bound member sent it; with the database down, the
    members last known stand and the citizen's message goes on."""
    calls: list[int] = []
    known = {("default", "oStaff"): StaffRecord(1, "zhang", "张三", Role.HANDLER, "zjj",
                                                True, datetime.now(UTC))}

    class Staff:
        async def all_bound(self) -> dict[tuple[str, str], StaffRecord]:
            calls.append(1)
            if len(calls) > 1:
                raise ConnectionRefusedError(111, "refused")
            return known

    now = [0.0]
    desk = StaffDesk(TEXTS, Staff(), None, ttl=30, clock=lambda: now[0])  # type: ignore[arg-type]

    async def is_staff(user: str) -> bool:
        update: Any = SimpleNamespace(inbound=Inbound("default", user, "text",
                                                      {"content": "1"}))
        verdict = desk._is_staff(update)  # a plain answer while the list is fresh
        return verdict if isinstance(verdict, bool) else await verdict

    assert await is_staff("oStaff")
    now[0] = 31.0  # the list is due again; the database is down
    assert not await is_staff("oCitizen")
    assert await is_staff("oStaff")  # still known
    assert len(calls) == 2  # asked once, not on every message
    now[0] = 31.0 + RETRY_AFTER_FAULT
    await is_staff("oCitizen")
    assert len(calls) == 3
