"""The scheduler's ticket jobs (scheduler/jobs.py) under a clock the test moves, on SQLite
and PostgreSQL: reminders the working day before a deadline, 督办 each working day past
it (across a weekend, Spring Festival and National Day with their make-up days, and in a
year whose calendar is not known yet), the automatic dispatch of what a rule now routes,
provisional dates counted again when the calendar file learns their year, and the
clean-up. Exactly one scheduler among several: tests/test_scheduler_lease.py."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import DEFAULT_HOLIDAYS, DEFAULT_TEXTS, CalendarFile, load_calendar
from domain.catalogue import Catalogue
from domain.staff import Role
from domain.telling import Act, teller
from domain.texts import Texts
from domain.tickets import Action, Party, Status, TicketRecord
from domain.workdays import CHINA, Calendar
from scheduler import jobs
from scheduler.jobs import Policy, Tools
from storage.lifecycle import TicketMoves
from storage.models import Push, StaffBindCode, StaffNotice, Ticket, TicketEvent
from storage.outbox import Outbox
from storage.staff import StaffAccounts
from storage.tickets import Tickets
from storage.watch import Watch, Watched
from tests.citizens import demo_catalogue, fresh_tickets
from tests.test_tickets_store import new

TEXTS = Texts.load(DEFAULT_TEXTS)
CALENDAR = load_calendar(DEFAULT_HOLIDAYS)  # 2026 from the file; 2027 not known yet


def china(year: int, month: int, day: int, hour: int = 9) -> datetime:
    """A moment in China's time (what the office's days and hours are)."""
    return datetime(year, month, day, hour, tzinfo=CHINA)


@pytest.fixture
async def world(engine: AsyncEngine) -> AsyncEngine:
    """No tickets, the demo catalogue, zhang (handler of 住建局, bound in WeChat as
    ``o-zhang``) and wang (the office)."""
    await fresh_tickets(engine)
    async with engine.begin() as conn:
        for table in ("scheduler_runs", "scheduler_leases", "staff_bind_codes",
                      "staff_tokens", "staff"):
            await conn.execute(text(f"DELETE FROM {table}"))
    staff = StaffAccounts(engine)
    await staff.add("zhang", "张三", Role.HANDLER, "zjj")
    await staff.add("wang", "王五", Role.SUPERVISOR, None)
    code, _ = await staff.bind_code("zhang")
    assert await staff.bind(code, "default", "o-zhang") is not None
    return engine


def tools(engine: AsyncEngine, *, calendar: Calendar = CALENDAR,
          catalogue: Catalogue | None = None, **policy: object) -> Tools:
    shown = catalogue or demo_catalogue()

    async def current() -> Catalogue:
        return shown

    return Tools(engine, TEXTS, current, lambda: calendar, Policy(**policy))  # type: ignore[arg-type]


async def filed(engine: AsyncEngine, key: str, arrived: datetime, *,
                due_on: date = date(2026, 11, 30),
                signed: datetime | None = None) -> TicketRecord:
    """A ticket that reached 住建局 at ``arrived``, due ``due_on``; signed for at
    ``signed`` (in progress) or not (dispatched)."""
    ticket, _ = await Tickets(engine).create(new(key, due_on=due_on), now=arrived)
    if signed is not None:
        ticket = await TicketMoves(engine).act(
            ticket.id, Act(Action.SIGN, Party.HANDLER, "zhang"),
            teller(TEXTS, demo_catalogue()), now=signed)
    return ticket


async def timeline(engine: AsyncEngine, ticket_id: int) -> list[tuple[str | None, str, str]]:
    async with engine.connect() as conn:
        return [(r.action, r.actor, r.note) for r in (await conn.execute(
            select(TicketEvent.action, TicketEvent.actor, TicketEvent.note)
            .where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id))).all()]


async def supervised_on(engine: AsyncEngine, ticket_id: int) -> list[date]:
    async with engine.connect() as conn:
        return [r.at.replace(tzinfo=UTC).astimezone(CHINA).date() for r in (await conn.execute(
            select(TicketEvent.at).where(TicketEvent.ticket_id == ticket_id,
                                         TicketEvent.action == Action.SUPERVISE.value)
            .order_by(TicketEvent.id))).all()]


async def notices(engine: AsyncEngine, kind: str | None = None) -> list[tuple[str, str]]:
    """(login, text) of the staff notices, oldest first."""
    query = text("SELECT s.login, n.text FROM staff_notices n JOIN staff s ON s.id = "
                 "n.staff_id" + (" WHERE n.kind = :kind" if kind else "") + " ORDER BY n.id")
    async with engine.connect() as conn:
        return [(r[0], r[1]) for r in (await conn.execute(query, {"kind": kind})).all()]


async def pushes_to(engine: AsyncEngine, openid: str) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.scalars(
            select(Push.text).where(Push.openid == openid).order_by(Push.id))).all())


async def run_days(job: jobs.Job, toolset: Tools, first: date, last: date,
                   hours: tuple[int, ...] = (9, 15)) -> None:
    """``job`` at each of ``hours`` (China time) of every day from ``first`` to ``last``."""
    day = first
    while day <= last:
        for hour in hours:
            await job(china(day.year, day.month, day.day, hour), toolset)
        day += timedelta(days=1)


# -- 督办 -------------------------------------------------------------------------------------


async def test_an_unsigned_ticket_is_pressed_each_working_day_from_the_day_after_its_deadline(
    world: AsyncEngine,
) -> None:
    # reached 住建局 on Friday 27 November: to be signed for by Monday 30 November
    ticket = await filed(world, "k1", china(2026, 11, 27, 10))
    await run_days(jobs.supervise, tools(world), date(2026, 11, 27), date(2026, 12, 8))
    # Tuesday to Friday, then Monday and Tuesday: not the weekend, once a day
    assert await supervised_on(world, ticket.id) == [
        date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3), date(2026, 12, 4),
        date(2026, 12, 7), date(2026, 12, 8)]
    first = (await timeline(world, ticket.id))[-6]
    assert first == ("supervise", "scheduler", "签收超期，应于2026年11月30日（周一）前签收")
    said = (f"【督办】工单{ticket.number}（县住房和城乡建设局）"
            "签收超期，应于2026年11月30日（周一）前签收，请尽快办理。")
    # the department and the office each get a notice a day; the bound handler a push
    assert (await notices(world, "supervise"))[:2] == [("zhang", said), ("wang", said)]
    assert len(await notices(world, "supervise")) == 12
    assert (await pushes_to(world, "o-zhang"))[-6] == said
    # the citizen is not told of 督办, and the ticket stays where it was
    assert not [p for p in await pushes_to(world, "oA") if "督办" in p]
    after = await Tickets(world).get(ticket.id)
    assert after is not None and after.status is Status.DISPATCHED


async def test_no_press_before_office_hours_nor_once_it_is_signed(world: AsyncEngine) -> None:
    ticket = await filed(world, "k1", china(2026, 11, 27, 10))
    toolset = tools(world, alerts_hour=8)
    assert await jobs.supervise(china(2026, 12, 1, 7), toolset) == 0  # 07:00: too early
    assert await jobs.supervise(china(2026, 12, 1, 8), toolset) == 1
    await TicketMoves(world).act(ticket.id, Act(Action.SIGN, Party.HANDLER, "zhang"),
                                 teller(TEXTS, demo_catalogue()), now=china(2026, 12, 1, 10))
    # signed on Tuesday: the answer is due on 30 November still, so it is pressed for that
    assert await jobs.supervise(china(2026, 12, 2, 9), toolset) == 1
    assert (await timeline(world, ticket.id))[-1][2] == (
        "答复超期，应于2026年11月30日（周一）前答复")
    await TicketMoves(world).act(ticket.id, Act(Action.ANSWER, Party.HANDLER, "zhang",
                                                text="路灯已修复"),
                                 teller(TEXTS, demo_catalogue()), now=china(2026, 12, 2, 11))
    assert await jobs.supervise(china(2026, 12, 3, 9), toolset) == 0  # answered: no more


async def test_a_ticket_signed_while_the_job_looked_is_not_pressed_for_signing(
    world: AsyncEngine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The job acts on the ticket as it read it: signed in between, it is looked at
    again at the next tick (then for its answer) instead of pressed for a signature."""
    ticket = await filed(world, "k1", china(2026, 11, 27, 10))
    running = Watch.running

    async def then_signed(self: Watch, statuses: frozenset[Status]) -> list[Watched]:
        found = await running(self, statuses)
        await TicketMoves(world).act(ticket.id, Act(Action.SIGN, Party.HANDLER, "zhang"),
                                     teller(TEXTS, demo_catalogue()), now=china(2026, 12, 1))
        return found

    monkeypatch.setattr(Watch, "running", then_signed)
    assert await jobs.supervise(china(2026, 12, 1, 9), tools(world)) == 0
    assert await supervised_on(world, ticket.id) == []
    monkeypatch.undo()
    assert await jobs.supervise(china(2026, 12, 1, 10), tools(world)) == 1
    assert (await timeline(world, ticket.id))[-1][2] == (
        "答复超期，应于2026年11月30日（周一）前答复")


async def test_spring_festival_and_its_make_up_days(world: AsyncEngine) -> None:
    # due Friday 13 February 2026; Saturday 14th is a make-up working day, 15th–23rd the
    # festival, 28th (a Saturday) another make-up day
    ticket = await filed(world, "k1", china(2026, 2, 2), due_on=date(2026, 2, 13),
                         signed=china(2026, 2, 2, 11))
    await run_days(jobs.supervise, tools(world), date(2026, 2, 12), date(2026, 3, 1))
    assert await supervised_on(world, ticket.id) == [
        date(2026, 2, 14), *(date(2026, 2, d) for d in range(24, 29))]


async def test_national_day_and_its_make_up_day(world: AsyncEngine) -> None:
    # due Wednesday 30 September 2026; 1–7 October are the holiday, Saturday 10th is worked
    ticket = await filed(world, "k1", china(2026, 9, 21), due_on=date(2026, 9, 30),
                         signed=china(2026, 9, 21, 11))
    await run_days(jobs.supervise, tools(world), date(2026, 9, 30), date(2026, 10, 12))
    assert await supervised_on(world, ticket.id) == [
        date(2026, 10, 8), date(2026, 10, 9), date(2026, 10, 10), date(2026, 10, 12)]


async def test_a_deadline_in_a_year_the_calendar_does_not_know_counts_weekdays(
    world: AsyncEngine,
) -> None:
    ticket = await filed(world, "k1", china(2026, 12, 21), due_on=date(2027, 1, 1),
                         signed=china(2026, 12, 21, 11))
    await run_days(jobs.supervise, tools(world), date(2026, 12, 31), date(2027, 1, 5))
    # 2027 is not known: Saturday and Sunday rest, the rest (1 January too) are worked
    assert await supervised_on(world, ticket.id) == [date(2027, 1, 4), date(2027, 1, 5)]


async def test_two_schedulers_pressing_at_once_press_once(world: AsyncEngine) -> None:
    ticket = await filed(world, "k1", china(2026, 11, 27, 10))
    toolset, at = tools(world), china(2026, 12, 1)
    done = await asyncio.gather(*(jobs.supervise(at, toolset) for _ in range(4)))
    assert sorted(done) == [0, 0, 0, 1]
    assert await supervised_on(world, ticket.id) == [date(2026, 12, 1)]
    assert len(await notices(world, "supervise")) == 2


async def test_the_office_may_press_by_hand_and_the_department_hears_of_it(
    world: AsyncEngine,
) -> None:
    ticket = await filed(world, "k1", china(2026, 11, 27, 10))
    await TicketMoves(world).act(ticket.id, Act(Action.SUPERVISE, Party.SUPERVISOR, "wang",
                                                note="群众多次来电"),
                                 teller(TEXTS, demo_catalogue()), now=china(2026, 11, 30))
    assert [login for login, _ in await notices(world, "supervise")] == ["zhang", "wang"]
    assert "群众多次来电" in (await notices(world, "supervise"))[0][1]


# -- reminders --------------------------------------------------------------------------------


async def test_the_department_is_reminded_the_working_day_before_a_deadline(
    world: AsyncEngine,
) -> None:
    # signed for at once, due Monday 7 December: reminded on Friday 4th, once
    answer = await filed(world, "k1", china(2026, 11, 23), due_on=date(2026, 12, 7),
                         signed=china(2026, 11, 23, 11))
    # reached 住建局 on Friday 27th with two working days to sign: by Tuesday 1 December,
    # reminded on Monday 30th (not over the weekend)
    sign = await filed(world, "k2", china(2026, 11, 27, 10))
    await run_days(jobs.remind, tools(world, sign_workdays=2), date(2026, 11, 23),
                   date(2026, 12, 8))
    reminders = await notices(world, "reminder")
    assert reminders == [
        ("zhang", f"提醒：工单{sign.number}（小区门口路灯坏了一周）"
                  "请于2026年12月1日（周二）前签收。"),
        ("zhang", f"提醒：工单{answer.number}（小区门口路灯坏了一周）"
                  "请于2026年12月7日（周一）前答复。"),
    ]
    assert [p for p in await pushes_to(world, "o-zhang") if p.startswith("提醒")] == [
        text for _, text in reminders]
    async with world.connect() as conn:
        at = (await conn.scalars(select(StaffNotice.created_at).where(
            StaffNotice.kind == "reminder").order_by(StaffNotice.id))).all()
    assert [moment.replace(tzinfo=UTC).astimezone(CHINA).date() for moment in at] == [
        date(2026, 11, 30), date(2026, 12, 4)]


async def test_no_reminder_on_the_day_a_ticket_arrives_and_a_new_deadline_gets_its_own(
    world: AsyncEngine,
) -> None:
    # one working day to sign (the default): its arrival notice is its reminder
    await filed(world, "k1", china(2026, 11, 30, 10))
    # due Friday 4 December, reminded on Thursday 3rd; extended to Wednesday 9th: reminded
    # again on Tuesday 8th
    ticket = await filed(world, "k2", china(2026, 11, 23), due_on=date(2026, 12, 4),
                         signed=china(2026, 11, 23, 11))
    toolset = tools(world)
    await run_days(jobs.remind, toolset, date(2026, 11, 30), date(2026, 12, 3))
    async with world.begin() as conn:
        await conn.execute(update(Ticket).where(Ticket.id == ticket.id)
                           .values(due_on=date(2026, 12, 9)))
    await run_days(jobs.remind, toolset, date(2026, 12, 4), date(2026, 12, 9))
    assert [t.rsplit("请于", 1)[1] for _, t in await notices(world, "reminder")] == [
        "2026年12月4日（周五）前答复。", "2026年12月9日（周三）前答复。"]


# -- automatic dispatch -----------------------------------------------------------------------


async def set_status(engine: AsyncEngine, ticket_id: int, status: Status) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(Ticket).where(Ticket.id == ticket_id)
                           .values(status=status.value))


async def test_a_received_ticket_a_rule_routes_is_dispatched_and_the_citizen_told(
    world: AsyncEngine,
) -> None:
    routed, _ = await Tickets(world).create(new("k1", region="chengguan"),
                                            now=china(2026, 11, 30))
    unrouted, _ = await Tickets(world).create(new("k2", category="qt", region="chengguan"),
                                              now=china(2026, 11, 30))
    for ticket in (routed, unrouted):
        await set_status(world, ticket.id, Status.SUBMITTED)
    assert await jobs.dispatch_waiting(china(2026, 12, 1, 10), tools(world)) == 1
    after = await Tickets(world).get(routed.id)
    assert after is not None and after.status is Status.DISPATCHED
    assert after.department == "zjj" and after.due_on == date(2026, 12, 8)  # 投诉: 5 days
    assert (await timeline(world, routed.id))[-1][:2] == ("dispatch", "scheduler")
    assert (await pushes_to(world, "oA"))[-1] == (
        f"您的留言{routed.number}已转交县住房和城乡建设局办理，预计2026年12月8日（周二）前答复。")
    assert (await notices(world, "dispatched"))[-1][0] == "zhang"
    # 其他 has no rule: the office dispatches it by hand
    left = await Tickets(world).get(unrouted.id)
    assert left is not None and left.status is Status.SUBMITTED
    assert await jobs.dispatch_waiting(china(2026, 12, 1, 10), tools(world)) == 0


async def test_a_category_a_new_catalogue_routes_is_dispatched_then(world: AsyncEngine) -> None:
    ticket, _ = await Tickets(world).create(new("k1", category="qt", region="chengguan"),
                                            now=china(2026, 11, 30))
    await set_status(world, ticket.id, Status.SUBMITTED)
    catalogue = demo_catalogue()
    assert await jobs.dispatch_waiting(china(2026, 12, 1), tools(world)) == 0
    rule = replace(catalogue.rules[0], category="qt", region="*", department="zjj")
    changed = replace(catalogue, rules=(*catalogue.rules, rule))
    assert await jobs.dispatch_waiting(china(2026, 12, 1), tools(world, catalogue=changed)) == 1


# -- provisional dates ------------------------------------------------------------------------

HOLIDAYS_2027 = """
[2027]
source = "a test's arrangement (not the State Council's)"
holidays = ["2027-01-01..2027-01-03", "2027-02-06..2027-02-13", "2027-04-05",
            "2027-05-01..2027-05-05", "2027-06-09", "2027-09-15", "2027-10-01..2027-10-07"]
workdays = []
"""


async def test_provisional_dates_are_counted_again_when_the_file_learns_their_year(
    world: AsyncEngine, tmp_path: Path,
) -> None:
    path = tmp_path / "holidays.toml"
    path.write_text(DEFAULT_HOLIDAYS.read_text(encoding="utf-8"), encoding="utf-8")
    calendar = CalendarFile(path)
    # filed on Wednesday 23 December 2026: 10 working days run into 2027, weekdays only
    ticket, _ = await Tickets(world).create(
        new("k1", due_on=date(2027, 1, 6), due_provisional=True, due_workdays=10),
        now=china(2026, 12, 23))
    toolset = replace(tools(world), calendar=calendar)
    assert await jobs.redate(china(2026, 12, 24), toolset) == 0  # nothing known yet
    path.write_text(path.read_text(encoding="utf-8") + HOLIDAYS_2027, encoding="utf-8")
    assert await jobs.redate(china(2026, 12, 24), toolset) == 1
    after = await Tickets(world).get(ticket.id)
    assert after is not None and not after.due_provisional
    assert after.due_on == date(2027, 1, 7)  # 1 January is a holiday after all


# -- clean-up ---------------------------------------------------------------------------------


async def test_cleanup_drops_what_outlived_its_retention_and_nothing_else(
    world: AsyncEngine,
) -> None:
    now = datetime(2026, 12, 1, 2, tzinfo=UTC)
    outbox = Outbox(world)
    old = now - timedelta(days=31)
    ids = []
    for said, status, made in (("old sent", "sent", old), ("old queued", "queued", old),
                               ("new sent", "sent", now), ("old dead", "dead", old)):
        push_id = await outbox.add(account="default", openid="oA", purpose="reply",
                                   text=said)
        async with world.begin() as conn:
            await conn.execute(update(Push).where(Push.id == push_id)
                               .values(status=status, created_at=made))
        ids.append(push_id)
    async with world.begin() as conn:
        await conn.execute(update(StaffBindCode).values(expires_at=now - timedelta(days=2)))
    assert await jobs.cleanup(now, tools(world)) == 2
    async with world.connect() as conn:
        left = (await conn.scalars(select(Push.text).where(Push.id.in_(ids))
                                   .order_by(Push.id))).all()
        codes = await conn.scalar(select(StaffBindCode.id))
    assert left == ["old queued", "new sent", "old dead"]
    assert codes is None


async def test_a_ticket_waiting_for_the_office_is_neither_reminded_nor_pressed(
    world: AsyncEngine,
) -> None:
    # answered on time, the answer under review: the office has it, not the department
    ticket = await filed(world, "k1", china(2026, 11, 23), due_on=date(2026, 12, 1),
                         signed=china(2026, 11, 23, 11))
    await TicketMoves(world).act(ticket.id, Act(Action.ANSWER, Party.HANDLER, "zhang",
                                                review=True, text="已修复"),
                                 teller(TEXTS, demo_catalogue()), now=china(2026, 11, 27))
    await run_days(jobs.remind, tools(world), date(2026, 11, 27), date(2026, 12, 4))
    await run_days(jobs.supervise, tools(world), date(2026, 11, 27), date(2026, 12, 4))
    assert await notices(world, "reminder") == []
    assert await supervised_on(world, ticket.id) == []


async def test_a_long_note_on_a_press_by_hand_is_cut_in_the_notice_not_refused(
    world: AsyncEngine,
) -> None:
    ticket = await filed(world, "k1", china(2026, 11, 27, 10))
    note = "群众反映强烈" * 300  # 1800 characters, 5400 bytes
    await TicketMoves(world).act(ticket.id, Act(Action.SUPERVISE, Party.SUPERVISOR, "wang",
                                                note=note),
                                 teller(TEXTS, demo_catalogue()), now=china(2026, 11, 30))
    said = await pushes_to(world, "o-zhang")
    assert len(said) == 1 and len(said[0].encode()) <= 2048 and said[0].endswith("…，请尽快办理。")
    assert (await timeline(world, ticket.id))[-1][2] == note  # the timeline keeps it whole


async def test_a_report_day_is_chinas_on_every_database(world: AsyncEngine) -> None:
    from storage.reports import Reports

    # filed at 03:00 on 1 October in China: 30 September 19:00 UTC
    await Tickets(world).create(new("k1"), now=china(2026, 10, 1, 3))
    reports = Reports(world)
    assert [t.created_at for t in await reports.facts(date(2026, 10, 1), date(2026, 10, 1))] \
        == [datetime(2026, 9, 30, 19, tzinfo=UTC)]
    assert await reports.facts(date(2026, 9, 30), date(2026, 9, 30)) == []


async def test_a_notice_longer_than_a_message_is_pushed_in_pieces(world: AsyncEngine) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from storage.notices import notify

    ticket = await filed(world, "k1", china(2026, 11, 27, 10))
    async with async_sessionmaker(world).begin() as session:
        await notify(session, ticket_id=ticket.id, kind="reminder", text="提醒" * 1000,
                     department="zjj")
    said = [p for p in await pushes_to(world, "o-zhang") if p.startswith("提醒提醒")]
    assert "".join(said) == "提醒" * 1000 and len(said) == 3  # 6,000 bytes
    assert all(len(piece.encode()) <= 2048 for piece in said)


async def test_a_redos_provisional_date_is_counted_again_from_the_day_of_the_redo(
    world: AsyncEngine, tmp_path: Path,
) -> None:
    ticket = await filed(world, "k1", china(2026, 11, 23), due_on=date(2026, 11, 30),
                         signed=china(2026, 11, 23, 11))
    tell, moves = teller(TEXTS, demo_catalogue()), TicketMoves(world)
    await moves.act(ticket.id, Act(Action.ANSWER, Party.HANDLER, "zhang", text="已修复"),
                    tell, now=china(2026, 11, 27))
    await moves.act(ticket.id, Act(Action.CLOSE, Party.HANDLER, "zhang"), tell,
                    now=china(2026, 11, 27))
    # 不满意重办 on Monday 28 December: 5 working days into a 2027 not known yet
    await moves.act(ticket.id, Act(Action.REOPEN, Party.CITIZEN, "citizen", note="没修好",
                                   due_on=date(2027, 1, 4), due_provisional=True,
                                   due_count=(date(2026, 12, 28), 5)),
                    tell, now=china(2026, 12, 28))
    path = tmp_path / "holidays.toml"
    path.write_text(DEFAULT_HOLIDAYS.read_text(encoding="utf-8") + HOLIDAYS_2027,
                    encoding="utf-8")
    assert await jobs.redate(china(2026, 12, 29), replace(tools(world),
                                                          calendar=CalendarFile(path))) == 1
    after = await Tickets(world).get(ticket.id)
    assert after is not None and (after.due_on, after.due_provisional) == (
        date(2027, 1, 5), False)  # 29, 30, 31 December, then 4 and 5 January
    async with world.connect() as conn:
        told = (await conn.scalars(select(TicketEvent.due_on).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.action == "reopen"))).all()
    assert told == [date(2027, 1, 5)]  # the timeline carries the firm date too
