"""The office's figures end to end, in one scripted run on PostgreSQL and Redis: thirty
tickets filed in chat around National Day 2026 (1–7 October off, Saturday 10 October
worked), worked through the staff API on the days a moving clock says — some late, one
sent back and on to another department, one withdrawn, one rejected — the overdue ones
pressed (督办) by the scheduler's job, citizens rating in chat, a 2 leading to a redo that
is answered and rated again; then ``lianxin report --format xlsx`` in a child process,
and every figure of its department sheet compared with the one worked out by hand below
(docs/METRICS.md states the rules)."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app, default_handler
from domain.metrics import COLUMNS
from domain.staff import Role
from scheduler import jobs
from storage import db
from tests.citizens import Citizen, fresh_staff, fresh_tickets, ticket_number_in
from tests.conftest import SettingsFactory
from tests.test_jobs import TEXTS, china, tools
from tests.test_staff_api import Client, bearer

ROOT = Path(__file__).resolve().parents[1]
CATEGORY = {"zjj": "1", "sthj": "2", "scjg": "3"}  # the chat's numbers for 住建, 环境, 市场
NAMES = {"zjj": "县住房和城乡建设局", "sthj": "市生态环境局示范县分局", "scjg": "县市场监督管理局"}


class Clock:
    """What time it is for the bot, the staff API and the jobs: moved by the script."""

    def __init__(self) -> None:
        self.moment = china(2026, 9, 28, 10)

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
async def office(aiohttp_client: Callable[..., Awaitable[Client]], make_settings: SettingsFactory,
                 postgres_url: str, redis_url: str,
                 ) -> AsyncIterator[tuple[Client, AsyncEngine, dict[str, str], Clock]]:
    engine = db.make_engine(postgres_url)
    try:
        await fresh_tickets(engine)
        tokens = await fresh_staff(engine, (("zjj", Role.HANDLER, "zjj"),
                                            ("sthj", Role.HANDLER, "sthj"),
                                            ("scjg", Role.HANDLER, "scjg"),
                                            ("wang", Role.SUPERVISOR, None)))
        clock = Clock()
        app = create_app(make_settings(database_url=postgres_url, redis_url=redis_url,
                                       catalogue_ttl=0),
                         handler_factory=partial(default_handler, now=clock), now=clock)
        yield await aiohttp_client(app), engine, tokens, clock
    finally:
        await engine.dispose()


class Script:
    """The office's day: citizens in chat, staff through the API, all at the clock's time."""

    def __init__(self, client: Client, tokens: dict[str, str], clock: Clock) -> None:
        self.client, self.tokens, self.clock = client, tokens, clock
        self.run = uuid.uuid4().hex[:8]  # Redis outlives tests: openids of this run
        self.citizens: dict[str, Citizen] = {}
        self.ids: dict[str, int] = {}
        self.numbers: dict[str, str] = {}

    def at(self, month: int, day: int, hour: int = 10) -> None:
        self.clock.moment = china(2026, month, day, hour)

    async def file(self, name: str, department: str) -> None:
        citizen = Citizen(self.client, f"o{self.run}{name}")
        self.citizens[name] = citizen
        answers = ["我要反映", "1", CATEGORY[department], "2",  # 东城街道
                   f"{NAMES[department]}请处理：{name}号问题已经很久了", "跳过", "13800138000",
                   "2"]
        summary = await citizen.says(*answers)
        assert "请核对" in summary, summary
        number = ticket_number_in(await citizen.say("确认"))
        self.numbers[name] = number
        found = await (await self.client.get(f"/api/v1/tickets?q={number}",
                                             headers=bearer(self.tokens["wang"]))).json()
        self.ids[name] = found["tickets"][0]["id"]

    async def act(self, who: str, name: str, action: str, **body: Any) -> None:
        headers = bearer(self.tokens[who])
        ticket_id = self.ids[name]
        ticket = (await (await self.client.get(f"/api/v1/tickets/{ticket_id}",
                                               headers=bearer(self.tokens["wang"]))).json())
        done = await self.client.post(f"/api/v1/tickets/{ticket_id}/{action}", json={
            "version": ticket["ticket"]["version"], **body}, headers=headers)
        assert done.status == 200, (name, action, await done.text())

    async def answer_and_close(self, who: str, name: str) -> None:
        await self.act(who, name, "answer", text="已处理完毕，特此答复。")
        await self.act(who, name, "close")

    async def rate(self, name: str, rating: str) -> None:
        said = await self.citizens[name].say(rating)
        assert said.startswith("感谢您对留言"), said
        await self.citizens[name].say("跳过")


# Who files what: the archetypes of the hand computation (see EXPECTED), per department.
TICKETS = {"zjj": "A1 A2 B1 C1 D1 E1 F1 K1 H1 J1 G1",
           "sthj": "A3 B3 B4 C3 E3 E4 I3 H3",
           "scjg": "A5 B5 C5 C6 D5 E5 F5 I5 J5 K5 H5"}


async def run_the_office(script: Script, engine: AsyncEngine) -> None:
    def of(*kinds: str) -> list[tuple[str, str]]:
        return [(name, department) for department, names in TICKETS.items()
                for name in names.split() if name[0] in kinds]

    # Monday 28 September: filed; F withdrawn, K rejected; A, D, E signed the same day
    script.at(9, 28)
    for name, department in of("A", "B", "C", "D", "E", "F", "K", "G"):
        await script.file(name, department)
    script.at(9, 28, 11)
    for name, _ in of("F"):
        asked = await script.citizens[name].say(f"撤回 {script.numbers[name]}")
        assert "确定撤回" in asked, asked
        said = await script.citizens[name].say("是")
        assert "已撤回" in said, said
    for name, _ in of("K"):
        await script.act("wang", name, "reject", note="不属于本热线受理范围")
    script.at(9, 28, 15)
    for name, department in of("A", "D", "E"):
        await script.act(department, name, "sign")
    # Tuesday 29th: B signed (on time), E answered and closed (never rated); G sent back
    # by 住建局 and sent on by the office to 生态环境局
    script.at(9, 29)
    for name, department in of("B"):
        await script.act(department, name, "sign")
    for name, department in of("E"):
        await script.answer_and_close(department, name)
    await script.act("zjj", "G1", "return", note="属环保职责")
    script.at(9, 29, 11)
    await script.act("wang", "G1", "redispatch", department="sthj")
    # Wednesday 30th: C signed a day late, G signed by 生态环境局; A answered, rated 5
    script.at(9, 30)
    for name, department in of("C"):
        await script.act(department, name, "sign")
    await script.act("sthj", "G1", "sign")
    for name, department in of("A"):
        await script.answer_and_close(department, name)
        await script.rate(name, "5")
    # 1–7 October: National Day. Thursday 8th: B answered, rated 4
    script.at(10, 8)
    for name, department in of("B"):
        await script.answer_and_close(department, name)
        await script.rate(name, "基本满意")
    # Friday 9th: C answered (due Saturday 10th, a working day), rated 3; I filed
    script.at(10, 9)
    for name, department in of("C"):
        await script.answer_and_close(department, name)
        await script.rate(name, "3")
    for name, department in of("I"):
        await script.file(name, department)
    # Monday 12th, 09:00: the scheduler presses what is overdue: D (due the 10th), I
    # (to be signed by the 10th); G is due today, not overdue
    script.at(10, 12, 9)
    assert await jobs.supervise(script.clock(), tools(engine)) == 4
    # 10:00: D answered two days late, rated 2, and the citizen asks for it to be redone
    script.at(10, 12)
    for name, department in of("D"):
        await script.answer_and_close(department, name)
        assert "不满意" in await script.citizens[name].say("2")
        assert "需要重新办理吗" in await script.citizens[name].say("路灯还是不亮")
        assert "已为您申请重新办理" in await script.citizens[name].say("是")
    # Tuesday 13th: the redo answered and closed, rated 4
    script.at(10, 13)
    for name, department in of("D"):
        await script.answer_and_close(department, name)
        await script.rate(name, "4")
    # Monday 19th: H filed and signed; Tuesday 20th: J filed
    script.at(10, 19)
    for name, department in of("H"):
        await script.file(name, department)
    script.at(10, 19, 15)
    for name, department in of("H"):
        await script.act(department, name, "sign")
    script.at(10, 20)
    for name, department in of("J"):
        await script.file(name, department)


# Worked out by hand from the script, as at the end of 20 October (docs/METRICS.md). Per
# archetype — working days after the day filed (or arrived) up to the day of the act:
#   A signed day 0, answered 30 Sep (2 wd: 29, 30), rated 5
#   B signed 29 Sep (1 wd, on time), answered 8 Oct (3 wd: 29, 30, 8), rated 4
#   C signed 30 Sep (2 wd, late: due 29 Sep), answered 9 Oct (4 wd, due 10 Oct), rated 3
#   D signed day 0, answered 12 Oct (6 wd: 29, 30, 8, 9, 10, 12; late), 督办 12 Oct, rated
#     2, redone, rated 4 (the latest rating counts: satisfied)
#   E signed day 0, answered 29 Sep (1 wd), closed, never rated
#   F withdrawn, K rejected: volume only
#   G filed to 住建局, returned, sent on to 生态环境局 on 29 Sep, signed 30 Sep (1 wd after
#     it arrived: on time), due 12 Oct and not answered: late, overdue now (生态环境局's)
#   H filed and signed 19 Oct (0 wd), due 26 Oct: nothing due yet
#   I filed 9 Oct, never signed: sign due 10 Oct (late), answer due 15 Oct (late), overdue
#     now, 督办 12 Oct
#   J filed 20 Oct: nothing due yet
def row(group: str, **figures: object) -> dict[str, object]:
    return {"group": group, **figures}


EXPECTED = [
    row("县住房和城乡建设局",  # A A B C D E F K H J
        volume=10, set_aside=2, sign_due=7, signed_on_time=6, sign_rate=0.8571,
        answer_due=6, answered_on_time=5, answer_rate=0.8333, closed=6, rated=5,
        satisfied=4, satisfaction=0.8, participation=0.8333, reopened=1, redo_rate=0.1667,
        reached=8, returned=0, return_rate=0.0, sign_days_mean=0.43, sign_days_p90=2,
        answer_days_mean=3.0, answer_days_p90=6, overdue_now=0, supervised=1),
    row("市生态环境局示范县分局",  # A B B C E E I H, and G
        volume=9, set_aside=0, sign_due=9, signed_on_time=7, sign_rate=0.7778,
        answer_due=8, answered_on_time=6, answer_rate=0.75, closed=6, rated=4,
        satisfied=3, satisfaction=0.75, participation=0.6667, reopened=0, redo_rate=0.0,
        reached=9, returned=1, return_rate=0.1111, sign_days_mean=0.63, sign_days_p90=2,
        answer_days_mean=2.33, answer_days_p90=4, overdue_now=2, supervised=1),
    row("县市场监督管理局",  # A B C C D E F I J K H
        volume=11, set_aside=2, sign_due=8, signed_on_time=5, sign_rate=0.625,
        answer_due=7, answered_on_time=5, answer_rate=0.7143, closed=6, rated=5,
        satisfied=3, satisfaction=0.6, participation=0.8333, reopened=1, redo_rate=0.1667,
        reached=9, returned=0, return_rate=0.0, sign_days_mean=0.71, sign_days_p90=2,
        answer_days_mean=3.33, answer_days_p90=6, overdue_now=1, supervised=2),
    row("合计",
        volume=30, set_aside=4, sign_due=24, signed_on_time=18, sign_rate=0.75,
        answer_due=21, answered_on_time=16, answer_rate=0.7619, closed=18, rated=14,
        satisfied=10, satisfaction=0.7143, participation=0.7778, reopened=2,
        redo_rate=0.1111, reached=26, returned=1, return_rate=0.0385, sign_days_mean=0.59,
        sign_days_p90=2, answer_days_mean=2.89, answer_days_p90=6, overdue_now=3,
        supervised=4),
]


def sheet_rows(path: Path, title: str) -> list[dict[str, object]]:
    """The sheet's rows by column key (its header is the catalogue's column names)."""
    book = load_workbook(path, read_only=True)  # read-only keeps the file open: close it
    try:
        header, *rows = [list(r) for r in book[title].iter_rows(values_only=True)]
    finally:
        book.close()
    names = {TEXTS(f"report_col_{c}"): c for c in COLUMNS[1:]}
    keys = ["group", *(names[h] for h in header[1:])]
    return [dict(zip(keys, r, strict=True)) for r in rows]


async def test_a_month_of_the_office_gives_the_figures_worked_out_by_hand(
    office: tuple[Client, AsyncEngine, dict[str, str], Clock], postgres_url: str,
    tmp_path: Path,
) -> None:
    client, engine, tokens, clock = office
    script = Script(client, tokens, clock)
    await run_the_office(script, engine)
    out = await lianxin_report(postgres_url, tmp_path / "report.xlsx")
    by_department = sheet_rows(out, "按部门")
    assert by_department[-1] == EXPECTED[-1]  # the whole, last
    assert {r["group"]: r for r in by_department} == {r["group"]: r for r in EXPECTED}
    assert sheet_rows(out, "全部") == [EXPECTED[-1]]
    by_month = sheet_rows(out, "按月份")
    assert [(r["group"], r["volume"]) for r in by_month] == [
        ("2026-09", 23), ("2026-10", 7), ("合计", 30)]
    # the API gives the same figures; a handler sees only their department's
    answer = await client.get("/api/v1/reports?from=2026-09-01&to=2026-10-31&by=department"
                              "&as_of=2026-10-20", headers=bearer(tokens["wang"]))
    assert answer.status == 200
    assert (await answer.json())["rows"] == by_department
    mine = await (await client.get("/api/v1/reports?from=2026-09-01&to=2026-10-31"
                                   "&as_of=2026-10-20",
                                   headers=bearer(tokens["sthj"]))).json()
    assert mine["rows"] == [{**EXPECTED[1], "group": "合计"}]

    # the next day the office works on; the report as at the 20th stays what it was
    script.at(10, 21)
    for name, department in (("I3", "sthj"), ("I5", "scjg")):
        await script.act(department, name, "sign")
    await script.answer_and_close("sthj", "G1")
    await script.rate("G1", "5")
    again = await lianxin_report(postgres_url, tmp_path / "again.xlsx")
    assert sheet_rows(again, "按部门") == by_department


async def lianxin_report(database_url: str, out: Path) -> Path:
    """``lianxin report`` of September and October as at 20 October, as xlsx."""
    env = {"PATH": "/usr/bin:/bin", "LIANXIN_DATABASE_URL": database_url}
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "report", "--from", "2026-09-01", "--to",
        "2026-10-31", "--as-of", "2026-10-20", "--format", "xlsx", "--out", str(out),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(done.communicate(), 60)
    assert done.returncode == 0, err.decode()
    return out
