"""The public board (docs/BOARD.md) over HTTP, on SQLite and PostgreSQL: only answered
tickets whose citizen agreed and the office did not withhold; nothing personal on the page
or through its search; 不予公开 through the staff API; 撤回公开 in WeChat; no 5xx for any
query. The browser tests (tests/test_console_browser.py) read the same pages in Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from domain.staff import Role
from storage import db
from storage.models import Push, TicketEvent
from storage.tickets import Tickets
from tests.citizens import Citizen, file_complaint, fresh_staff, fresh_tickets, ticket_number_in
from tests.conftest import SettingsFactory
from tests.test_tickets_store import new

Client = TestClient[Any, Any]
PERSONAL = ("我叫张三丰，电话138-0013-8000，也可以打幺三八〇〇一三八〇〇〇，"
            "身份证430121199001011234，车牌湘A·12345，住幸福小区3栋2单元501室")


@pytest.fixture
async def world(aiohttp_client: Callable[..., Awaitable[Client]],
                make_settings: SettingsFactory,
                database_url: str) -> AsyncIterator[tuple[Client, AsyncEngine, dict[str, str]]]:
    engine = db.make_engine(database_url)
    try:
        await fresh_tickets(engine)
        tokens = await fresh_staff(engine, (("zhang", Role.HANDLER, "zjj"),
                                            ("wang", Role.SUPERVISOR, None)))
        app = create_app(make_settings(database_url=database_url, catalogue_ttl=0))
        yield await aiohttp_client(app), engine, tokens
    finally:
        await engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def move(client: Client, token: str, ticket_id: int, action: str,
               **body: Any) -> Any:
    detail = await (await client.get(f"/api/v1/tickets/{ticket_id}",
                                     headers=bearer(token))).json()
    answer = await client.post(f"/api/v1/tickets/{ticket_id}/{action}",
                               json={"version": detail["ticket"]["version"], **body},
                               headers=bearer(token))
    return answer


async def answered(client: Client, engine: AsyncEngine, tokens: dict[str, str], key: str,
                   *, public: bool = True, description: str = "小区门口路灯坏了一周",
                   answer: str = "已修复。") -> tuple[int, str]:
    """A ticket signed for and answered by 住建局; its id and number."""
    ticket, _ = await Tickets(engine).create(new(key, public=public, description=description))
    for action, body in (("sign", {}), ("answer", {"text": answer})):
        made = await move(client, tokens["zhang"], ticket.id, action, **body)
        assert made.status == 200, await made.text()
    return ticket.id, ticket.number


async def test_only_answered_consented_tickets_the_office_did_not_withhold(
    world: tuple[Client, AsyncEngine, dict[str, str]],
) -> None:
    client, engine, tokens = world
    _, shown = await answered(client, engine, tokens, "a", answer="路灯已更换。")
    _, private = await answered(client, engine, tokens, "b", public=False)
    waiting, _ = await Tickets(engine).create(new("c", public=True))  # not answered yet
    withheld_id, withheld = await answered(client, engine, tokens, "d")
    _, taken_back = await answered(client, engine, tokens, "e")

    # 不予公开: the office's, with a reason the citizen hears
    refused = await move(client, tokens["zhang"], withheld_id, "withhold", note="隐私")
    assert refused.status == 403
    empty = await move(client, tokens["wang"], withheld_id, "withhold")
    assert (empty.status, (await empty.json())["error"]["field"]) == (422, "note")
    made = await move(client, tokens["wang"], withheld_id, "withhold", note="涉及他人隐私")
    assert made.status == 200
    assert (await made.json())["ticket"]["status"] == "replied"  # nothing else changes
    async with engine.connect() as conn:
        last = (await conn.execute(select(Push.text).order_by(Push.id.desc()))).scalar()
        events = (await conn.execute(select(TicketEvent.action, TicketEvent.actor).where(
            TicketEvent.ticket_id == withheld_id).order_by(TicketEvent.id))).all()
    assert last == (f"您的留言{withheld}不在公开留言板展示：涉及他人隐私。"
                    "办理不受影响，结果仍会告知您。")
    assert events[-1] == ("withhold", "wang")
    again = await move(client, tokens["wang"], withheld_id, "withhold", note="再次")
    assert (again.status, (await again.json())["error"]["code"]) == (409, "not_on_board")
    private_id = (await Tickets(engine).search(text=private))[0].id
    never = await move(client, tokens["wang"], private_id, "withhold", note="隐私")
    assert never.status == 409  # no consent: nothing to keep off the board

    # 撤回公开: the citizen's (as the WeChat command does it)
    assert await Tickets(engine).unpublish(taken_back, "default", "someone else") is None
    assert (await Tickets(engine).unpublish(taken_back, "default", "oA")) is not None

    page = await (await client.get("/board")).text()
    assert "共1条" in page and shown in page
    for hidden in (private, waiting.number, withheld, taken_back):
        assert hidden not in page
        answer = await client.get(f"/board/{hidden}")
        assert answer.status == 404 and "没有这条公开留言" in await answer.text()
    entry = await (await client.get(f"/board/{shown}")).text()
    assert "路灯已更换。" in entry and "县住房和城乡建设局" in entry
    assert "超期答复" in entry  # due 2026-11-30 (tests' new()), answered after it


async def test_nothing_personal_on_the_page_or_through_the_search(
    world: tuple[Client, AsyncEngine, dict[str, str]],
) -> None:
    client, engine, tokens = world
    _, number = await answered(client, engine, tokens, "a", description=PERSONAL,
                               answer="已联系张三丰（13800138000）核实。")
    entry = await (await client.get(f"/board/{number}")).text()
    for secret in ("张三丰", "138", "8000", "幺三八", "430121", "湘A", "501", "2单元"):
        assert secret not in entry, secret
    for mark in ("张某", "【电话】", "【身份证号】", "【车牌】", "【门牌】"):
        assert mark in entry, mark
    for words, found in (("13800138000", False), ("张三丰", False), ("430121", False),
                         ("幸福小区", True), ("【电话】", True), (number, True)):
        page = await (await client.get("/board", params={"q": words})).text()
        assert (number in page) is found, words


async def test_no_query_or_path_makes_a_server_error(
    world: tuple[Client, AsyncEngine, dict[str, str]],
) -> None:
    client, engine, tokens = world
    await answered(client, engine, tokens, "a")
    for path in ("/board?q=%00", "/board?q=%ff%fe", "/board?page=-1", "/board?page=99999999999",
                 "/board?page=%EF%BC%91", "/board?kind=" + "x" * 5000, "/board?region=%00",
                 "/board?category=a&category=b", "/board/%00", "/board/LX20261130-999999",
                 "/board/lx20261130-000001", "/board/" + "9" * 300, "/board/static/../x",
                 "/board/..%2f..%2fetc%2fpasswd", "/board/static/board.css"):
        answer = await client.get(path)
        assert answer.status in (200, 404), (path, answer.status)


async def test_a_citizen_takes_back_the_consent_in_wechat(
    aiohttp_client: Callable[..., Awaitable[Client]], make_settings: SettingsFactory,
    sqlite_url: str,
) -> None:
    engine = db.make_engine(sqlite_url)
    try:
        await fresh_tickets(engine)
        client = await aiohttp_client(create_app(make_settings(catalogue_ttl=0)))
        alice = Citizen(client, "oAlice")
        number = ticket_number_in(await file_complaint(alice, public="1"))
        detail = await alice.say(f"查询 {number}")
        assert f"撤回公开 {number}" in detail
        assert "请回复“撤回公开”加上留言编号" in await alice.say("撤回公开")
        assert "没有找到编号为" in await Citizen(client, "oBob").say(f"撤回公开 {number}")
        said = await alice.say(f"撤回公开 {number}")
        assert said == f"留言{number}不会在公开留言板展示（已展示的即时撤下）。办理不受影响。"
        [ticket] = await Tickets(engine).of_citizen("default", "oAlice")
        assert not ticket.public
        events = await Tickets(engine).events(ticket.id)
        assert (events[-1].action, events[-1].actor, events[-1].note) == (
            "unpublish", "citizen", "市民撤回公开")
        assert f"撤回公开 {number}" not in await alice.say(f"查询 {number}")
        assert said == await alice.say(f"撤回公开 {number}")  # again: the same, no new event
        assert len(await Tickets(engine).events(ticket.id)) == len(events)
    finally:
        await engine.dispose()
