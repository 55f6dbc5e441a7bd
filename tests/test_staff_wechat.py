"""Staff in WeChat: a one-time code binds a WeChat user to a staff account; a bound member
is answered by the staff router (待办, the staff help), never by the citizen desk; notices
of tickets sent to their department, returned or awaiting approval are listed in the API
and pushed to bound members through the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Push
from storage.staff import StaffAccounts
from tests.citizens import Citizen, file_complaint, ticket_number_in
from tests.test_staff_api import Client, bearer, world  # noqa: F401 - the fixture


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
    assert todo.startswith("待处理 1 件") and number in todo and "已转办" in todo


async def test_notices_are_listed_and_pushed_to_bound_staff(
    world: tuple[Client, AsyncEngine, dict[str, str]],  # noqa: F811
) -> None:
    client, engine, tokens = world
    code = (await (await client.post("/api/v1/me/bind-code",
                                     headers=bearer(tokens["zhang"]))).json())["code"]
    await Citizen(client, "oZhangPhone").say(f"绑定 {code}")
    number = ticket_number_in(await file_complaint(Citizen(client, "oCitizen")))
    [(openid, text)] = await staff_pushes(engine)  # zhang is zjj's bound handler
    assert openid == "oZhangPhone" and text.startswith(f"新工单 {number} 转至")
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
    assert await staff.bound("default", "oLate") is None
    with pytest.raises(Exception, match="disabled"):
        await staff.bind_code("zhang")
