"""The web console over plain HTTP (no browser): the session cookie's attributes, CSRF
before anything else, where sign-in may send you, a disabled account signed out, the
dashboard's figures and downloads per role, no 5xx for odd input, and the urgency rule of
待办. The browser tests (tests/test_console_browser.py) walk the pages themselves."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import STAFF_APP, create_app
from domain.deadlines import Urgency, urgency
from domain.staff import Role
from domain.workdays import STATUTORY
from storage import db
from storage.staff import StaffAccounts
from storage.tickets import Tickets
from tests.citizens import FAST_HASH, fresh_staff, fresh_tickets
from tests.conftest import SettingsFactory
from tests.test_tickets_store import new

Client = TestClient[Any, Any]
PASSWORD = "correct horse battery"


@pytest.fixture
async def world(aiohttp_client: Callable[..., Awaitable[Client]],
                make_settings: SettingsFactory,
                sqlite_url: str) -> AsyncIterator[tuple[Client, AsyncEngine]]:
    engine = db.make_engine(sqlite_url)
    try:
        await fresh_tickets(engine)
        await fresh_staff(engine, (("zhang", Role.HANDLER, "zjj"), ("lisi", Role.HANDLER, "gaj"),
                                   ("wang", Role.SUPERVISOR, None)))
        accounts = StaffAccounts(engine, hasher=FAST_HASH)
        for login in ("zhang", "lisi", "wang"):
            await accounts.set_password(login, PASSWORD)
        app = create_app(make_settings(catalogue_ttl=0))
        yield await aiohttp_client(app), engine
    finally:
        await engine.dispose()


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


async def sign_in(client: Client, login: str, *, next_page: str = "/console/") -> Any:
    page = await (await client.get("/console/login")).text()
    return await client.post("/console/login", data={
        "csrf": csrf_of(page), "login": login, "password": PASSWORD, "next": next_page},
        allow_redirects=False)


async def test_the_session_cookie_and_the_pages_headers(
    world: tuple[Client, AsyncEngine], aiohttp_client: Callable[..., Awaitable[Client]],
    make_settings: SettingsFactory,
) -> None:
    client, _ = world
    signed = await sign_in(client, "zhang")
    assert (signed.status, signed.headers["Location"]) == (303, "/console/")
    cookie = signed.headers["Set-Cookie"]
    assert cookie.startswith("lianxin_console=")
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/console", "Max-Age=28800"):
        assert attribute.lower() in cookie.lower(), attribute
    assert "secure" not in cookie.lower()  # served over plain HTTP here
    behind_https = await aiohttp_client(create_app(make_settings(console_https=True)))
    page = await behind_https.get("/console/login")
    assert "; secure" in page.headers["Set-Cookie"].lower()
    queue = await client.get("/console/queue")
    assert queue.status == 200
    assert "script-src 'self'" in queue.headers["Content-Security-Policy"]
    assert queue.headers["X-Frame-Options"] == "DENY"
    assert queue.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/console/",
                                    "/console/\\\\evil", "/api/v1/me", "javascript:alert(1)"])
async def test_sign_in_sends_you_only_to_a_console_page(
    world: tuple[Client, AsyncEngine], target: str,
) -> None:
    client, _ = world
    signed = await sign_in(client, "zhang", next_page=target)
    assert signed.headers["Location"] == "/console/"
    kept = await sign_in(client, "zhang", next_page="/console/dashboard?from=2026-11-01")
    assert kept.headers["Location"] == "/console/dashboard?from=2026-11-01"


async def test_csrf_is_checked_before_anything_is_read_or_changed(
    world: tuple[Client, AsyncEngine],
) -> None:
    client, engine = world
    ticket, _ = await Tickets(engine).create(new("k1"))
    # no session yet: sign-in itself is refused without the page's token
    refused = await client.post("/console/login", data={"login": "zhang",
                                                        "password": PASSWORD})
    assert refused.status == 403 and "页面已过期" in await refused.text()
    await sign_in(client, "zhang")
    page = await (await client.get(f"/console/tickets/{ticket.id}")).text()
    for token in ("", "x", csrf_of(page) + "x"):
        answer = await client.post(f"/console/tickets/{ticket.id}/sign",
                                   data={"csrf": token, "version": "1"})
        assert answer.status == 403
    assert (await Tickets(engine).get(ticket.id)).status == "dispatched"  # type: ignore[union-attr]
    done = await client.post(f"/console/tickets/{ticket.id}/sign",
                             data={"csrf": csrf_of(page), "version": "1"})
    assert done.status == 200 and "已完成：签收。" in await done.text()
    assert (await Tickets(engine).get(ticket.id)).status == "in_progress"  # type: ignore[union-attr]


async def test_a_disabled_account_is_signed_out_at_its_next_click(
    world: tuple[Client, AsyncEngine],
) -> None:
    client, engine = world
    await sign_in(client, "zhang")
    assert (await client.get("/console/queue")).status == 200
    await StaffAccounts(engine).set_active("zhang", False)
    gone = await client.get("/console/queue", allow_redirects=False)
    assert (gone.status, gone.headers["Location"]) == (
        303, "/console/login?next=/console/queue")


async def test_the_dashboards_figures_are_the_members_own_departments(
    world: tuple[Client, AsyncEngine],
) -> None:
    client, engine = world
    await Tickets(engine).create(new("k1"))  # 住建局
    await Tickets(engine).create(new("k2"))
    await Tickets(engine).create(new("k3", department="gaj", category="zfjs"))
    period = {"from": "2026-11-01", "to": "2026-12-31"}
    await sign_in(client, "zhang")
    mine = await (await client.get("/console/dashboard/data", params=period)).json()
    assert mine["departments"] == ["县住房和城乡建设局"] and mine["total"]["volume"] == 2
    assert len(mine["days"]) == 61 and sum(mine["volume"]) == 2
    download = await client.get("/console/dashboard/download",
                                params={**period, "format": "csv"})
    assert download.headers["Content-Disposition"] == (
        'attachment; filename="lianxin-20261101-20261231.csv"')
    rows = list(csv.reader(io.StringIO((await download.text()).lstrip("\ufeff"))))
    assert rows[0][:2] == ["按日期", "受理量"]
    workbook = await client.get("/console/dashboard/download",
                                params={**period, "format": "xlsx"})
    book = load_workbook(io.BytesIO(await workbook.read()), read_only=True)
    try:
        assert book.sheetnames[:4] == ["按日期", "按部门", "按月份", "全部"]
    finally:
        book.close()
    await client.post("/console/logout", data={"csrf": csrf_of(
        await (await client.get("/console/queue")).text())})
    await sign_in(client, "wang")
    office = await (await client.get("/console/dashboard/data", params=period)).json()
    assert office["total"]["volume"] == 3 and len(office["departments"]) == 2
    bad = await client.get("/console/dashboard", params={"from": "2026-12-31",
                                                         "to": "2026-01-01"})
    assert bad.status == 422 and "请选择有效的日期范围" in await bad.text()
    refused = await client.get("/console/dashboard/data", params={"from": "x", "to": "y"})
    assert refused.status == 422


async def test_no_input_makes_a_server_error(world: tuple[Client, AsyncEngine]) -> None:
    client, engine = world
    ticket, _ = await Tickets(engine).create(new("k1"))
    await sign_in(client, "wang")
    token = csrf_of(await (await client.get("/console/queue")).text())
    for path in ("/console/tickets/0", "/console/tickets/-1", "/console/tickets/%00",
                 "/console/tickets/99999999999999999999999", "/console/tickets/１",
                 "/console/queue?q=%00", "/console/queue?created_from=2026-13-01",
                 "/console/queue?limit=abc", "/console/queue?status=nope",
                 "/console/queue?cursor=" + "9" * 40, "/console/queue?department=nope",
                 "/console/dashboard?from=%00&to=%ff", "/console/nothing/here",
                 "/console/static/../../etc/passwd", "/console/dashboard/download?format=pdf"):
        answer = await client.get(path)
        assert answer.status < 500, (path, answer.status)
    for action, form in (("sign", {"version": "x"}), ("sign", {"version": "9" * 40}),
                         ("nope", {"version": "1"}), ("answer", {"version": "1",
                                                                 "text": "a\x00b"}),
                         ("request_extension", {"version": "1", "due_on": "2026-02-30"}),
                         ("merge", {"version": "1", "into": "LX20990101-000001"}),
                         ("redispatch", {"version": "1", "department": "x" * 500}),
                         ("close", {"version": "1", "note": "x" * 50_000})):
        answer = await client.post(f"/console/tickets/{ticket.id}/{action}",
                                   data={"csrf": token, **form})
        assert answer.status < 500, (action, form, answer.status)


def test_urgency_counts_working_days() -> None:
    friday = date(2026, 11, 27)
    assert urgency(None, friday, STATUTORY) is Urgency.UNDATED
    assert urgency(date(2026, 11, 26), friday, STATUTORY) is Urgency.OVERDUE
    assert urgency(friday, friday, STATUTORY) is Urgency.TODAY
    # two working days after Friday: Monday and Tuesday (the weekend does not count)
    assert urgency(date(2026, 12, 1), friday, STATUTORY) is Urgency.SOON
    assert urgency(date(2026, 12, 2), friday, STATUTORY) is Urgency.LATER


async def test_tries_sent_at_once_cannot_pass_the_sign_in_count(
    world: tuple[Client, AsyncEngine],
) -> None:
    client, _ = world
    page = await (await client.get("/console/login")).text()
    token = csrf_of(page)

    async def wrong() -> int:
        answer = await client.post("/console/login", data={
            "csrf": token, "login": "zhang", "password": "wrong password!"},
            allow_redirects=False)
        return answer.status

    statuses = await asyncio.gather(*(wrong() for _ in range(40)))
    assert statuses.count(401) == 5 and statuses.count(429) == 35
    locked = await client.post("/console/login", data={
        "csrf": token, "login": "zhang", "password": PASSWORD}, allow_redirects=False)
    assert locked.status == 429  # the right password too, until the window has passed


async def test_behind_the_https_proxy_the_forwarded_address_counts(
    aiohttp_client: Callable[..., Awaitable[Client]], make_settings: SettingsFactory,
    world: tuple[Client, AsyncEngine],
) -> None:
    client = await aiohttp_client(create_app(make_settings(catalogue_ttl=0,
                                                           console_https=True)))
    page = await client.get("/console/login")
    token = csrf_of(await page.text())
    # the cookie is Secure: this plain-HTTP client sends it by hand, as the proxy would
    cookie = page.headers["Set-Cookie"].split(";")[0]

    async def wrong(login: str, address: str) -> int:
        answer = await client.post("/console/login", data={
            "csrf": token, "login": login, "password": "wrong password!"},
            headers={"X-Forwarded-For": f"203.0.113.9, {address}", "Cookie": cookie},
            allow_redirects=False)
        return answer.status

    # one address trying many names is stopped at four times a login's allowance …
    assert [await wrong(f"user{n}", "198.51.100.7") for n in range(21)][-2:] == [401, 429]
    # … while another member behind the same proxy still signs in
    assert await wrong("zhang", "198.51.100.8") == 401


async def test_forms_the_console_did_not_send_are_refused_cleanly(
    world: tuple[Client, AsyncEngine],
) -> None:
    client, _ = world
    await sign_in(client, "wang")
    token = csrf_of(await (await client.get("/console/queue")).text())
    for body, kind in ((b"login=\xff", "application/x-www-form-urlencoded"),
                       (b"login=a", "application/x-www-form-urlencoded; charset=bogus")):
        answer = await client.post("/console/login", data=body,
                                   headers={"Content-Type": kind})
        assert answer.status == 400 and "提交的内容无法识别" in await answer.text()
    for path, form in (("/console/accounts/staff", {"login": "wangwu",
                                                    "display_name": "a\x00b"}),
                       ("/console/tickets/1/sign", {"version": "1", "note": "\x00"})):
        answer = await client.post(path, data={"csrf": token, **form})
        assert answer.status == 400, path
    for path in ("/console/tickets/" + "9" * 5000, "/console/queue?cursor=" + "9" * 5000,
                 "/console/accounts/staff/a%00b/bind-code"):
        answer = await client.get(path)
        assert answer.status in (200, 404, 405, 422), (path, answer.status)
    api = await client.get("/api/v1/tickets/" + "9" * 5000)
    assert api.status in (401, 404)


async def test_the_queue_counts_the_deadline_that_runs_now(
    world: tuple[Client, AsyncEngine],
) -> None:
    """A ticket not signed for past its 签收 deadline is overdue in the department's 待办
    and in the office's list, whatever its answer date; an answered one is in neither."""
    client, engine = world
    unsigned, _ = await Tickets(engine).create(new("k1", due_on=date(2099, 1, 1)),
                                               now=datetime(2026, 11, 2, 2, tzinfo=UTC))
    await sign_in(client, "zhang")
    page = await (await client.get("/console/queue")).text()
    overdue = page.split('id="g-overdue"')[1].split("</section>")[0]
    assert unsigned.number in overdue and "签收：2026-11-03" in overdue
    await client.post("/console/logout", data={"csrf": csrf_of(page)})
    await sign_in(client, "wang")
    office = await (await client.get("/console/queue")).text()
    assert unsigned.number in office.split('id="overdue"')[1].split("</section>")[0]


async def test_the_console_is_on_the_staff_listener_and_the_board_on_the_public_one(
    make_settings: SettingsFactory, aiohttp_client: Callable[..., Awaitable[Client]],
    world: tuple[Client, AsyncEngine],
) -> None:
    app = create_app(make_settings(catalogue_ttl=0, staff_port=18081))
    public = await aiohttp_client(app)
    assert (await public.get("/console/login")).status == 404
    assert (await public.get("/board")).status == 200
    staff = await aiohttp_client(app[STAFF_APP])
    assert (await staff.get("/console/login")).status == 200
    assert (await staff.get("/board")).status == 404
