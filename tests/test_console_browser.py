"""The web console and the public board in a real browser (Chromium from the distribution,
Playwright's client), against the real bot and the dev platform: issue 14's "Done when"
and the refusals a browser can meet."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from bot.app import create_app, default_handler
from domain.staff import Role
from storage import db
from storage.staff import StaffAccounts
from tests.browser import (
    DESKTOP,
    PHONE,
    browser,
    overflows,
    page_of,
    shot,
    sign_in,
    unlabelled,
)
from tests.citizens import FAST_HASH, Citizen, Today, fresh_staff, fresh_tickets
from tests.conftest import SettingsFactory
from tests.test_consultation_e2e import MONDAY_10, QUESTION, bound_lawyer
from tests.test_consultations_store import fresh_consultations
from tests.test_devplatform import Stack, stack
from tests.test_staff_api import Client

PASSWORD = "correct horse battery"
# a description with a phone number and a house number in it: the board hides both
DESCRIPTION = ("小区门口的路灯坏了一个星期，晚上很黑，物业电话138 0013 8000一直没人接，"
               "我住3栋2单元501室")
STAFF = (("office", Role.SUPERVISOR, None), ("zhang", Role.HANDLER, "zjj"),
         ("liu", Role.HANDLER, "sthj"), ("root", Role.ADMIN, None))


@dataclass
class World:
    stack: Stack
    base: str  # the bot (console, board)
    browser: Browser
    seen: int = 0

    async def say(self, content: str) -> str:
        async with self.stack.session.post(f"{self.stack.platform}/dev/chat/citizen/send",
                                           json={"kind": "text", "content": content}) as r:
            reply: dict[str, Any] = await r.json()
        return str((reply.get("reply") or {}).get("text", ""))

    async def pushed(self, count: int = 1) -> list[str]:
        """The next ``count`` pushes in the citizen's chat."""
        found: list[str] = []
        for _ in range(50):
            async with self.stack.session.get(
                    f"{self.stack.platform}/dev/chat/citizen/inbox",
                    params={"after": str(self.seen), "wait": "1"}) as r:
                inbox = await r.json()
            found += [m["text"]["content"] for m in inbox["messages"] if "text" in m]
            self.seen = inbox["next"]
            if len(found) >= count:
                return found
        raise AssertionError(f"only {found} arrived")

    async def file(self, description: str = DESCRIPTION, public: str = "1") -> str:
        """A complaint filed in the chat (路灯, 东城街道); its number."""
        for answer in ("我要反映", "1", "1", "2"):
            await self.say(answer)
        if "电话号码或身份证号" in await self.say(description):  # a number: kept as written
            await self.say("2")
        for answer in ("跳过", "13800138000", public):
            await self.say(answer)
        receipt = await self.say("确认")
        found = re.search(r"LX\d{8}-\d{6}", receipt)
        assert found, receipt
        return found.group(0)

    async def page(self, login: str | None = None,
                   viewport: dict[str, int] | None = None) -> Page:
        page = await page_of(self.browser, viewport)
        if login is not None:
            await sign_in(page, self.base, login, PASSWORD)
            await expect(page.get_by_role("button", name="退出登录")).to_be_visible()
        return page

    async def open_ticket(self, page: Page, number: str) -> None:
        await page.goto(f"{self.base}/console/queue")
        await page.get_by_role("link", name=number).first.click()
        await expect(page.get_by_role("heading", name=f"留言{number}")).to_be_visible()


@asynccontextmanager
async def world(database_url: str) -> AsyncIterator[World]:
    engine = db.make_engine(database_url)
    try:
        await fresh_tickets(engine)
        await fresh_staff(engine, STAFF)
        accounts = StaffAccounts(engine, hasher=FAST_HASH)
        for login, _, _ in STAFF:
            await accounts.set_password(login, PASSWORD)
    finally:
        await engine.dispose()
    async with stack(database_url) as s, browser() as launched:
        yield World(s, s.bot.removesuffix("/wechat"), launched)


async def act(page: Page, action: str, **fields: str) -> None:
    """Fill the action's form on the ticket page and send it."""
    form = page.locator(f"#act-{action}")
    for name, value in fields.items():
        control = form.locator(f"[name={name}]")
        if await control.evaluate("e => e.tagName") == "SELECT":
            await control.select_option(value)
        else:
            await control.fill(value)
    await form.get_by_role("button").click()
    await page.wait_for_load_state()


async def test_a_ticket_worked_in_the_browser_reaches_the_citizen_and_the_board(
    database_url: str,
) -> None:
    """Issue 14's "Done when": filed in the chat, worked to 办结 in the console with a push
    at each step, rated in the chat, counted in the dashboard's 满意率, and on the board
    with the phone and house numbers hidden."""
    async with world(database_url) as w:
        number = await w.file()
        page = await w.page("zhang")
        await expect(page.locator("#counts")).to_contain_text("待办共1件")
        await shot(page, "queue")
        await w.open_ticket(page, number)
        await expect(page.locator("#status")).to_have_text("已转办")
        await expect(page.locator("#description")).to_contain_text("138 0013 8000")
        assert await page.locator("#act-sign").count() == 1
        assert await page.locator("#act-close").count() == 0  # not from 已转办
        await shot(page, "ticket")

        await act(page, "sign")
        await expect(page.get_by_role("status")).to_have_text("已完成：签收。")
        await expect(page.locator("#status")).to_have_text("办理中")
        assert "已签收您的留言" in (await w.pushed())[0]

        await act(page, "answer", text="路灯线路已更换，现已恢复照明。")
        await expect(page.locator("#status")).to_have_text("已答复")
        assert "路灯线路已更换" in (await w.pushed())[0]
        await expect(page.locator("#timeline")).to_contain_text("zhang（zhang）")

        await act(page, "close")
        await expect(page.locator("#status")).to_have_text("已办结")
        pushes = await w.pushed(2)  # 已办结, then the survey
        assert "已办结" in pushes[0]
        await w.say("5")  # the citizen rates it: 非常满意

        await page.goto(f"{w.base}/console/dashboard")
        await expect(page.locator("#dashboard")).to_have_attribute("data-ready", "true")
        rates = await page.evaluate("""() => {
            const chart = Chart.getChart(document.getElementById('chart-rates'));
            return {labels: chart.data.labels,
                    sets: chart.data.datasets.map(d => [d.label, d.data])}; }""")
        assert rates["labels"] == ["县住房和城乡建设局"]
        assert dict(rates["sets"])["满意率"] == [100]
        volume = await page.evaluate("""() => Chart.getChart(
            document.getElementById('chart-volume')).data.datasets[0].data""")
        assert sum(volume) == 1 and volume[-1] == 1  # filed today, the last day shown
        await shot(page, "dashboard")

        board = await w.page()
        await board.goto(f"{w.base}/board")
        await expect(board.locator("#total")).to_have_text("共1条")
        await board.get_by_role("link", name=re.compile("投诉")).click()
        description = await board.locator("#description").inner_text()
        assert "138" not in description and "8000" not in description
        assert "【电话】" in description and "501" not in description
        await expect(board.locator("#answer")).to_have_text("路灯线路已更换，现已恢复照明。")
        await expect(board.get_by_text("按期答复")).to_be_visible()
        await shot(board, "board_entry")
        await board.goto(f"{w.base}/board")
        await shot(board, "board")


async def test_the_office_dispatches_approves_and_withholds(sqlite_url: str) -> None:
    """The supervisor's side: a returned ticket re-dispatched, an extension approved, an
    answer under review … and a ticket kept off the board with a reason the citizen
    hears; the citizen's own 撤回公开 takes another off."""
    async with world(sqlite_url) as w:
        number = await w.file()
        zhang = await w.page("zhang")
        await w.open_ticket(zhang, number)
        await act(zhang, "return", note="不属于本部门职责")
        await expect(zhang.get_by_role("status")).to_contain_text("退单")

        office = await w.page("office")
        await expect(office.locator("#counts")).to_contain_text("待办共1件")
        await w.open_ticket(office, number)
        await act(office, "redispatch", department="")  # no department chosen
        await expect(office.locator("#redispatch-department-err")).to_be_visible()
        await act(office, "redispatch", note="请环保局办理")
        await office.locator("#act-redispatch select").select_option("sthj")
        await act(office, "redispatch")
        await expect(office.locator("#status")).to_have_text("已转办")
        assert "改派" in (await w.pushed())[0]

        li = await w.page("liu")
        await w.open_ticket(li, number)
        await act(li, "sign")
        await w.pushed()
        await act(li, "answer", text="已处理。")
        await expect(li.locator("#status")).to_have_text("已答复")
        await w.pushed()

        await office.reload()
        await act(office, "withhold", note="涉及第三方隐私")
        await expect(office.get_by_role("status")).to_have_text("已完成：不予公开。")
        assert "不在公开留言板展示：涉及第三方隐私" in (await w.pushed())[0]
        await expect(office.locator("#timeline")).to_contain_text("涉及第三方隐私")
        board = await w.page()
        await board.goto(f"{w.base}/board/{number}")
        await expect(board.get_by_role("heading", name="没有找到")).to_be_visible()

        second = await w.file()
        zhang2 = await w.page("zhang")
        await w.open_ticket(zhang2, second)
        await act(zhang2, "sign")
        await act(zhang2, "answer", text="已修复。")
        await w.pushed(2)
        await board.goto(f"{w.base}/board/{second}")
        await expect(board.locator("#answer")).to_have_text("已修复。")
        assert "不会在公开留言板展示" in await w.say(f"撤回公开 {second}")
        await board.reload()
        await expect(board.get_by_role("heading", name="没有找到")).to_be_visible()


async def test_refusals_a_browser_meets(sqlite_url: str) -> None:
    """A wrong password, too many of them, a form without its CSRF token, another
    department's ticket by URL, and a move someone else made first."""
    async with world(sqlite_url) as w:
        number = await w.file()
        page = await w.page()
        await sign_in(page, w.base, "root", "not the password")
        await expect(page.locator("#login-error")).to_have_text("登录名或密码不正确。")
        await shot(page, "login")
        for _ in range(4):
            await sign_in(page, w.base, "root", "still not it")
        await sign_in(page, w.base, "root", PASSWORD)  # right, but locked out by now
        await expect(page.locator("#login-error")).to_contain_text("登录失败次数过多")
        assert "/console/login" in page.url
        # the same address, another login: a shared office address is not locked out by
        # one member's mistakes (it would be at four times as many)

        zhang = await w.page("liu")  # another department: 环保局
        found = await zhang.goto(f"{w.base}/console/queue?q={number}")
        assert found is not None
        await expect(zhang.get_by_text("没有符合条件的留言。")).to_be_visible()
        ids = await _ticket_ids(w)
        response = await zhang.goto(f"{w.base}/console/tickets/{ids[number]}")
        assert response is not None and response.status == 404
        await expect(zhang.get_by_role("alert")).to_have_text("没有这个工单，或不属于您的部门")
        assert "13800138000" not in await zhang.content()

        owner = await w.page("zhang")
        await w.open_ticket(owner, number)
        forged = await owner.request.post(
            f"{w.base}/console/tickets/{ids[number]}/sign",
            form={"csrf": "forged", "version": "1"})
        assert forged.status == 403 and "页面已过期" in await forged.text()

        other = await w.page("zhang")  # the same member in a second window signs first
        await w.open_ticket(other, number)
        await act(other, "sign")
        await act(owner, "sign")  # the first window still shows 已转办
        await expect(owner.get_by_role("status")).to_contain_text("刚被其他人处理过")
        await expect(owner.locator("#status")).to_have_text("办理中")
        await act(owner, "answer", text="")
        await expect(owner.locator("#answer-text-err")).to_have_text(
            "请填写内容（不超过20000字）。")


async def _ticket_ids(w: World) -> dict[str, int]:
    """Ticket ids by number, as the office's list links them."""
    page = await w.page("office")
    listed = await page.request.get(f"{w.base}/console/queue?status=dispatched")
    ids = {m.group(2): int(m.group(1)) for m in re.finditer(
        r'href="/console/tickets/(\d+)">(LX\d{8}-\d{6})<', await listed.text())}
    await page.context.close()
    return ids


async def test_accounts_and_layout(sqlite_url: str) -> None:
    """An admin's accounts page, and every page usable on a phone and at 1366×768: no
    sideways scrolling, a label for every control, forms sent from the keyboard."""
    async with world(sqlite_url) as w:
        number = await w.file()
        admin = await w.page("root")
        await expect(admin.get_by_role("heading", name="账号管理")).to_be_visible()
        await admin.locator("form[action$='/staff/zhang/bind-code'] button").click()
        await expect(admin.get_by_role("status")).to_contain_text("绑定 ")
        await admin.get_by_label("登录名（小写字母开头，3–32位）").fill("wang")
        await admin.get_by_label("姓名", exact=True).first.fill("王五")
        await admin.get_by_label("角色").select_option("supervisor")
        await admin.get_by_label("初始密码（至少10位）").fill("short")
        await admin.get_by_role("button", name="新增工作人员").click()
        await expect(admin.locator("#s-password-err")).to_have_text("密码至少10位。")
        await shot(admin, "accounts")
        refused = await admin.goto(f"{w.base}/console/queue")
        assert refused is not None and refused.status == 403

        for viewport in (DESKTOP, PHONE):
            page = await w.page(viewport=viewport)
            await page.goto(f"{w.base}/console/login")
            assert await unlabelled(page) == []
            # the login name has the focus; typed, then Tab to the password, Enter sends
            assert await page.evaluate("document.activeElement.id") == "login"
            await page.keyboard.type("zhang")
            await page.keyboard.press("Tab")
            await page.keyboard.type(PASSWORD)
            await page.keyboard.press("Enter")
            await expect(page.get_by_role("button", name="退出登录")).to_be_visible()
            for path in ("/console/queue", "/console/dashboard"):
                await page.goto(w.base + path)
                assert await overflows(page) <= 0, (path, viewport)
                assert await unlabelled(page) == [], (path, viewport)
            await w.open_ticket(page, number)
            assert await overflows(page) <= 0, viewport
            assert await unlabelled(page) == []
            if viewport is PHONE:
                await shot(page, "ticket_phone")
            await page.goto(f"{w.base}/board")
            assert await overflows(page) <= 0
            assert await unlabelled(page) == []


@pytest.mark.parametrize("path", ["/console/queue", "/console/tickets/1",
                                  "/console/dashboard", "/console/accounts"])
async def test_pages_ask_for_sign_in(sqlite_url: str, path: str) -> None:
    async with world(sqlite_url) as w:
        page = await w.page()
        await page.goto(w.base + path)
        await expect(page.get_by_role("heading", name="工作人员登录")).to_be_visible()
        await page.get_by_label("登录名").fill("zhang")
        await page.get_by_label("密码").fill(PASSWORD)
        await page.get_by_role("button", name="登录", exact=True).click()
        assert page.url.endswith(path)


async def test_a_duty_lawyer_signs_in_with_a_code_and_reads_the_queue(
    aiohttp_client: Callable[..., Awaitable[Client]], make_settings: SettingsFactory,
    sqlite_url: str,
) -> None:
    """网页登录 in WeChat gives a one-time code; the lawyer's page shows the queue of their
    areas and what they hold, the citizen and phone numbers masked; nothing else of the
    console opens to them."""
    engine = db.make_engine(sqlite_url)
    try:
        await fresh_tickets(engine)
        await fresh_consultations(engine)
        app = create_app(make_settings(database_url=sqlite_url, catalogue_ttl=0),
                         handler_factory=lambda app: default_handler(app,
                                                                     now=Today(MONDAY_10)))
        client = await aiohttp_client(app)
        base = str(client.make_url("")).rstrip("/")
        phone, _ = await bound_lawyer(client, engine, "oLawyer", "A1234567890")
        said = await phone.say("网页登录")
        code = re.search(r"登录码：(\d{8})", said)
        assert code, said
        alice = Citizen(client, "oAlice")
        await alice.says("法律咨询", "1", QUESTION, "跳过", "张三", "确认")
        async with browser() as launched:
            page = await page_of(launched)
            await page.goto(f"{base}/console/login")
            await page.get_by_label("登录码").fill(code.group(1))
            await page.get_by_role("button", name="律师登录").click()
            await expect(page.get_by_role("heading", name="我的咨询")).to_be_visible()
            await expect(page.locator("#queue tbody tr").first).to_contain_text("劳动争议")
            await expect(page.locator("#queue tbody tr").first).to_contain_text("1")
            await phone.says("上线", "接单")
            await page.reload()
            held = page.locator("#held")
            await expect(held).to_contain_text("张*")
            await expect(held).to_contain_text("138****8000")
            assert "13800138000" not in await page.content()
            await shot(page, "lawyer")
            refused = await page.goto(f"{base}/console/queue")
            assert refused is not None and refused.status == 403
            again = await page_of(launched)  # the code was used up
            await again.goto(f"{base}/console/login")
            await again.get_by_label("登录码").fill(code.group(1))
            await again.get_by_role("button", name="律师登录").click()
            await expect(again.locator("#lawyer-error")).to_contain_text("登录码不正确或已失效")
    finally:
        await engine.dispose()
