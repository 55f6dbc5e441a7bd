"""我的留言 through the HTTP edge: the list, one ticket's timeline, withdrawal; owners only."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import insert, select, update

from bot.app import create_app, default_handler
from domain.tickets import Status
from handlers.commands import Service, service_of
from storage import db
from storage.models import Ticket, TicketEvent
from tests.citizens import Citizen, Clock, Today, file_complaint, fresh_tickets, ticket_number_in
from tests.conftest import SettingsFactory

TEXTS_FILE = tomllib.loads(
    (Path(__file__).resolve().parents[1] / "config" / "texts.toml").read_text(encoding="utf-8"))


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    make_settings: SettingsFactory, database_url: str,
) -> TestClient[Any, Any]:
    engine = db.make_engine(database_url)
    await fresh_tickets(engine)
    await engine.dispose()
    settings = make_settings(database_url=database_url, catalogue_ttl=0)
    app = create_app(settings, handler_factory=lambda app: default_handler(
        app, now=Today(), clock=Clock()))
    return await aiohttp_client(app)


async def test_no_tickets_yet_says_how_to_file_one(client: TestClient[Any, Any]) -> None:
    assert "还没有提交过留言" in await Citizen(client, "oNew").click("MY_TICKETS")


async def test_the_list_shows_status_and_due_date_newest_first(
    client: TestClient[Any, Any],
) -> None:
    amy = Citizen(client, "oAmy")
    first = ticket_number_in(await file_complaint(amy))
    second = ticket_number_in(await file_complaint(
        amy, category="6", description="公司拖欠三个月工资不发，老板电话也不接"))
    listing = await amy.say("我的留言")
    assert "最近的2条留言" in listing
    assert listing.index(second) < listing.index(first)
    assert "【已转办】" in listing and "投诉·劳动社保" in listing
    assert "2026年11月30日（周一）前答复" in listing
    assert "回复序号查看详情" in listing  # "1" after it means the first
    assert listing == await amy.say("查询")


async def test_one_ticket_shows_its_timeline_only_to_its_owner(
    client: TestClient[Any, Any],
) -> None:
    amy, ben = Citizen(client, "oAmy2"), Citizen(client, "oBen2")
    number = ticket_number_in(await file_complaint(amy))
    detail = await amy.say(f"查询 {number}")
    assert f"编号：{number}" in detail and "承办部门：县住房和城乡建设局" in detail
    assert "已受理" in detail and "已转办（县住房和城乡建设局）" in detail
    assert f"\n\n如问题已解决，可回复“撤回 {number}”" in detail
    assert detail == await amy.say(number.lower())  # a bare number, any case
    full_width = number.replace("LX", "ＬＸ").replace("-", "－")
    assert detail == await amy.say(f"查询{full_width}")
    refused = await ben.say(f"查询 {number}")
    assert "没有找到编号为" in refused and "小区门口" not in refused
    refused = await ben.say(f"撤回 {number}")
    assert "没有找到编号为" in refused and "只能撤回您本人提交的留言" in refused
    assert "只能查询" not in refused  # the verb of what was asked


async def test_withdrawal_before_sign_for(client: TestClient[Any, Any],
                                          database_url: str) -> None:
    cat = Citizen(client, "oCat")
    number = ticket_number_in(await file_complaint(cat))
    assert "请回复“撤回”加上留言编号" in await cat.say("撤回")
    asked = await cat.say(f"撤回 {number}")  # what it means, and 是/否 first
    assert "确定撤回" in asked and "不再办理" in asked and "已撤回" not in asked
    assert "没有撤回" in await cat.say("否")
    assert "状态：已转办" in await cat.say(f"查询 {number}")
    await cat.say(f"撤回 {number}")
    assert "已撤回" in await cat.say("是")
    assert "已经撤回过了" in await cat.say(f"撤回 {number}")
    detail = await cat.say(f"查询 {number}")
    assert "状态：已撤回" in detail and "市民撤回" in detail and "撤回 LX" not in detail
    assert "办理时限：已停止计时" in detail and "前答复" not in detail  # no clock runs
    assert "已停止计时" in await cat.say("我的留言")

    later = ticket_number_in(await file_complaint(cat))
    engine = db.make_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(update(Ticket).where(Ticket.number == later)
                           .values(status="in_progress"))
    assert "不能撤回" in await cat.say(f"撤回 {later}")
    async with engine.connect() as conn:
        statuses = (await conn.execute(select(Ticket.number, Ticket.status)
                                       .where(Ticket.openid == "oCat"))).all()
        withdrawals = (await conn.execute(select(TicketEvent.id)
                                          .where(TicketEvent.to_status == "withdrawn"))).all()
    await engine.dispose()
    assert dict(statuses) == {number: "withdrawn", later: "in_progress"}
    assert len(withdrawals) == 1


@pytest.mark.parametrize(("status", "reply"), [
    ("returned", "已撤回"),  # sent back by the wrong department: nobody has signed for it
    ("closed", "办理已经结束，无需撤回"),
    ("rejected", "办理已经结束，无需撤回"),
    ("merged", "合并办理，不能单独撤回"),
    ("replied", "承办部门已经签收办理，不能撤回"),
])
async def test_what_withdrawal_says_in_each_status(
    client: TestClient[Any, Any], database_url: str, status: str, reply: str,
) -> None:
    eli = Citizen(client, f"oEli{status}")
    number = ticket_number_in(await file_complaint(eli))
    engine = db.make_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(update(Ticket).where(Ticket.number == number).values(status=status))
    await engine.dispose()
    answer = await eli.say(f"撤回 {number}")
    if status == "returned":  # nobody has signed for it: withdrawable, so asked first
        assert "确定撤回" in answer
        answer = await eli.say("是")
    assert reply in answer


async def test_a_status_this_version_does_not_know_reads_neutrally_and_stays(
    client: TestClient[Any, Any], database_url: str,
) -> None:
    """A status written by a newer version (or by hand) fails no citizen's answer: it is
    shown as 办理中, its timeline too, and it cannot be withdrawn from."""
    fay = Citizen(client, "oFayNew")
    number = ticket_number_in(await file_complaint(fay))
    engine = db.make_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(update(Ticket).where(Ticket.number == number)
                           .values(status="signed_off"))
        ticket_id = await conn.scalar(select(Ticket.id).where(Ticket.number == number))
        await conn.execute(insert(TicketEvent).values(
            ticket_id=ticket_id, actor="staff", at=Today()(), from_status="dispatched",
            to_status="signed_off", note=""))
    await engine.dispose()
    listing = await fay.say("我的留言")
    assert f"{number}【办理中】" in listing and "signed_off" not in listing
    detail = await fay.say(f"查询 {number}")
    assert "办理中" in detail and "signed_off" not in detail
    assert "承办部门已经签收办理，不能撤回" in await fay.say(f"撤回 {number}")
    assert fay.last_status == 200
    engine = db.make_engine(database_url)
    async with engine.connect() as conn:
        kept = await conn.scalar(select(Ticket.status).where(Ticket.number == number))
    await engine.dispose()
    assert kept == "signed_off"


async def test_two_withdrawals_at_once_withdraw_once(client: TestClient[Any, Any]) -> None:
    dee = Citizen(client, "oDee")
    number = ticket_number_in(await file_complaint(dee))
    await dee.say(f"撤回 {number}")
    replies = await asyncio.gather(dee.say("是"), dee.say("是"))
    assert sorted("已撤回" in r for r in replies) == [False, True]


@pytest.mark.parametrize(("text", "service"), [
    ("我的留言", Service.MY_TICKETS), ("查询", Service.MY_TICKETS),
    ("查询 LX20261123-000001", Service.TICKET), ("lx20261123-000001", Service.TICKET),
    ("撤回 LX20261123-000001", Service.WITHDRAW), ("撤回", Service.WITHDRAW),
    ("投诉", Service.COMPLAINT), ("法律咨询", Service.LEGAL), ("HELP", Service.HELP),
    ("我想查询一下 LX20261123-000001 的情况，谢谢", None), ("LX2026", None), ("你好", None),
    ("查询 000001", Service.TICKET), ("撤回０００００１", Service.WITHDRAW), ("000001", None),
    ("查询 0000012", None), ("撤回 00001", None),
])
def test_which_service_a_message_asks_for(text: str, service: Service | None) -> None:
    assert service_of(text) == service


def test_every_status_has_its_chinese_name_in_the_catalogue_and_nothing_else_does() -> None:
    named = {key for key in TEXTS_FILE if key.startswith("status_")}
    assert named == {status.label_key for status in Status}
    assert all(TEXTS_FILE[status.label_key].strip() for status in Status)
    assert TEXTS_FILE[Status.IN_PROGRESS.label_key] == "办理中"
    assert TEXTS_FILE[Status.WITHDRAWN.label_key] == "已撤回"


def test_a_number_with_a_digit_too_many_asks_for_no_ticket() -> None:
    # how numbers are read: tests/test_tickets.py
    assert service_of("查询 LX20261123-0000071") is None
    assert service_of("撤回 LX20261123-0000071") is None
    assert service_of("查询 ＬＸ２０２６１１２３－０００００７") is Service.TICKET


async def test_a_short_number_finds_the_citizens_own_ticket(
    client: TestClient[Any, Any], database_url: str,
) -> None:
    """"查询 000001": the last six digits, looked for among the asker's own tickets only."""
    fay, gus = Citizen(client, "oFay"), Citizen(client, "oGus")
    number = ticket_number_in(await file_complaint(fay))
    short = number[-6:]
    assert await fay.say(f"查询 {short}") == await fay.say(f"查询 {number}")
    refused = await gus.say(f"查询 {short}")  # another citizen's: as if there were none
    assert f"没有编号以{short}结尾" in refused and number not in refused
    assert "小区门口" not in refused
    assert f"没有编号以{short}结尾" in await gus.say(f"撤回 {short}")
    await fay.say(f"撤回 {short}")
    assert "已撤回" in await fay.say("是")
    engine = db.make_engine(database_url)
    async with engine.connect() as conn:
        status = await conn.scalar(select(Ticket.status).where(Ticket.number == number))
    await engine.dispose()
    assert status == "withdrawn"


async def test_a_short_number_several_tickets_end_in_asks_which(
    client: TestClient[Any, Any], database_url: str,
) -> None:
    hal = Citizen(client, "oHal")
    first = ticket_number_in(await file_complaint(hal))
    second = ticket_number_in(await file_complaint(
        hal, category="6", description="公司拖欠三个月工资不发，老板电话也不接"))
    next_day = first.replace("20261123", "20261124")  # the same counter on another day
    engine = db.make_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(update(Ticket).where(Ticket.number == second)
                           .values(number=next_day))
    await engine.dispose()
    asked = await hal.say(f"查询 {first[-6:]}")
    assert "2条留言的编号以000001结尾" in asked
    assert first in asked and next_day in asked and "例如“查询 " in asked
    asked = await hal.say(f"撤回 {first[-6:]}")
    assert first in asked and next_day in asked and "例如“撤回 " in asked
    assert "已转办" in await hal.say(f"查询 {next_day}")  # nothing was withdrawn
