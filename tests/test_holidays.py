"""The operator's calendar (config/holidays.toml, domain/holidays_file.py) and deadlines
through a year nobody knows yet (domain/workdays.py: provisional, weekdays only)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from aiohttp import web

from bot.app import create_app
from domain.holidays_file import HolidaysError, parse_holidays
from domain.workdays import (
    STATUTORY,
    Calendar,
    CalendarNotPublished,
    Deadline,
    YearArrangement,
    add_workdays,
    deadline,
    due_deadline,
)
from storage import db
from storage.tickets import NewTicket, Tickets
from tests.cli import cli_env, lianxin
from tests.test_devplatform import SAFE, bot_settings

FILE = Path(__file__).resolve().parents[1] / "config" / "holidays.toml"


def days_off(year: int) -> str:
    """A year's holidays as the file writes them: the 13 statutory days, no more."""
    return (f"holidays = ['{year}-01-01', '{year}-02-10..{year}-02-13', '{year}-04-05', "
            f"'{year}-05-01..{year}-05-02', '{year}-06-10', '{year}-09-15', "
            f"'{year}-10-01..{year}-10-03']\n")


MIN_2026 = days_off(2026).replace("holidays = [", "holidays = ['2026-01-02', ")
ONLY_2026 = Calendar({2026}, lambda day: bool(chinese_calendar.is_workday(day)))


def test_the_shipped_2026_agrees_with_the_package_day_by_day() -> None:
    arrangements = parse_holidays(FILE.read_text(encoding="utf-8"), str(FILE))
    assert set(arrangements) == {2026}
    mine = arrangements[2026]
    assert "2025年11月4日" in mine.source
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert mine.is_workday(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


def test_the_operators_year_takes_precedence_and_the_others_stay() -> None:
    # a made-up 2026 where 23 November is a holiday and 22 November (Sunday) is worked
    odd = YearArrangement(2026, frozenset({date(2026, 11, 23)}),
                          frozenset({date(2026, 11, 22)}), "test")
    calendar = ONLY_2026.with_arrangements({2026: odd})
    assert calendar.is_workday(date(2026, 11, 22)) and not calendar.is_workday(
        date(2026, 11, 23))
    assert calendar.is_workday(date(2026, 10, 1)) is True  # only the file is read for 2026
    year_2027 = YearArrangement(2027, frozenset({date(2027, 1, 1)}), frozenset(), "test")
    both = STATUTORY.with_arrangements({2027: year_2027})
    assert not both.is_workday(date(2027, 1, 1)) and both.is_workday(date(2027, 1, 4))
    assert not both.is_workday(date(2026, 10, 1))  # the package's National Day
    assert STATUTORY.with_arrangements({}) is STATUTORY


def test_a_deadline_through_an_unknown_year_is_provisional_on_weekdays() -> None:
    # 10 working days from Tuesday 22 December 2026: 23, 24, 25, 28, 29, 30, 31 December
    # (known), then 1, 4, 5 January 2027 counted as weekdays (New Year's Day unknown)
    assert deadline(date(2026, 12, 22), 10, ONLY_2026) == Deadline(date(2027, 1, 5), True)
    with pytest.raises(CalendarNotPublished):
        add_workdays(date(2026, 12, 22), 10, ONLY_2026)  # the strict count still refuses
    # inside the known year nothing is provisional, holidays and make-up days included
    assert deadline(date(2026, 9, 30), 1, ONLY_2026) == Deadline(date(2026, 10, 8), False)
    assert deadline(date(2026, 9, 18), 2, ONLY_2026) == Deadline(date(2026, 9, 21), False)
    # once the year is known (here from the operator's file) the same count is firm
    year_2027 = YearArrangement(2027, frozenset({date(2027, 1, 1)}), frozenset(), "t")
    known = ONLY_2026.with_arrangements({2027: year_2027})
    assert deadline(date(2026, 12, 22), 10, known) == Deadline(date(2027, 1, 6), False)
    assert due_deadline(datetime(2026, 12, 21, 16, 30, tzinfo=UTC), 10, ONLY_2026) == \
        Deadline(date(2027, 1, 5), True)  # 00:30 on the 22nd in China


@pytest.mark.parametrize(("text", "error"), [
    ("[2026\n", "f: "),
    ("[26]\nsource='s'", "f: [26] is not a year (2000–2100)"),
    ("x = 1", "f: [x] is not a year (2000–2100)"),
    ("2026 = 1", "f: 2026 must be a table, [2026]"),
    ("[2026]\nholidays=[]", "f: [2026] source: say where the arrangement was published"),
    ("[2026]\nsource='s'\nholiday=[]", "f: [2026] holiday: unknown key"),
    ("[2026]\nsource='s'\nholidays='2026-01-01'", "f: [2026] holidays: a list of days"),
    ("[2026]\nsource='s'\nholidays=['2026-02-30']", "is not a day (YYYY-MM-DD)"),
    ("[2026]\nsource='s'\nholidays=[20260101]", "f: [2026] holidays: 20260101 is not a day"),
    ("[2026]\nsource='s'\nholidays=['2026-01-03..2026-01-01']", "ends before it begins"),
    ("[2026]\nsource='s'\nholidays=['2025-12-31..2026-01-01']", "is not in 2026"),
    ("[2026]\nsource='s'\nholidays=['2026-01-01']",
     "f: [2026] holidays: the whole year's days off, at least the 13 statutory ones "
     "(1 January, 1 May and 1–3 October among them)"),
    ("[2026]\nsource='s'\n" + days_off(2026).replace("'2026-06-10', ", ""),
     "at least the 13 statutory ones"),  # 12 days
    ("[2026]\nsource='s'\n" + days_off(2026).replace("2026-05-01..2026-05-02",
                                                       "2026-05-02..2026-05-03"),
     "at least the 13 statutory ones"),  # 13 days, but not 1 May
    ("['２０２６']\nsource='s'", "is not a year"),
    ("['²']\nsource='s'", "is not a year"),
    ("[02026]\nsource='s'", "is not a year"),
    ("[2026]\nsource='s'\nholidays=['2026-01-01..']", "is not a day (YYYY-MM-DD)"),
    ("[2026]\nsource='s'\nholidays=['20260101']", "is not a day (YYYY-MM-DD)"),
    ("[2026]\nsource='s'\n" + MIN_2026 + "workdays=['2026-01-05']",
     "f: [2026] workdays: 2026-01-05 is a weekday; a make-up working day is a Saturday or "
     "Sunday"),
    ("[2026]\nsource='s'\n" + days_off(2026).replace("['", "['2026-01-04', '")
     + "workdays=['2026-01-04']",
     "f: [2026] workdays: 2026-01-04 is a holiday too"),
])
def test_a_bad_file_is_refused_naming_the_year_and_the_fault(text: str, error: str) -> None:
    with pytest.raises(HolidaysError) as refused:
        parse_holidays(text, "f")
    assert error in str(refused.value)


def test_runs_and_single_days() -> None:
    year = parse_holidays("[2026]\nsource = ' s '\n" + days_off(2026), "f")[2026]
    assert len(year.holidays) == 13
    assert {date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3), date(2026, 2, 13),
            date(2026, 6, 10)} <= year.holidays
    assert (year.workdays, year.source) == (frozenset(), "s")


# -- the commands --------------------------------------------------------------------------

@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path)


async def test_check_names_where_each_year_comes_from(env: dict[str, str]) -> None:
    code, out, err = await lianxin("calendar", "check", env=env)
    assert (code, err) == (0, "")
    this_year = datetime.now(UTC).year
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert set(lines) == {str(this_year - 1), str(this_year), str(this_year + 1)}
    for year, where in lines.items():
        if int(year) == 2026:
            assert where.startswith(f"{FILE} (国务院办公厅关于2026年")
        elif STATUTORY.knows(int(year)):
            assert where == "chinesecalendar"
        else:
            assert where == "not known: due dates in it are provisional (weekdays only)"


async def test_a_bad_calendar_file_stops_the_checks(env: dict[str, str],
                                                    tmp_path: Path) -> None:
    bad = tmp_path / "holidays.toml"
    bad.write_text("[2026]\nsource = 's'\n" + MIN_2026 + "workdays = ['2026-01-05']\n",
                   encoding="utf-8")
    env["LIANXIN_HOLIDAYS_FILE"] = str(bad)
    fault = (f"lianxin: LIANXIN_HOLIDAYS_FILE {bad}: [2026] workdays: 2026-01-05 is a "
             "weekday; a make-up working day is a Saturday or Sunday")
    for command in (("calendar", "check"), ("calendar", "refresh"), ("config", "check")):
        code, out, err = await lianxin(*command, env=env)
        assert (code, out, err.strip()) == (2, "", fault), command
    env["LIANXIN_HOLIDAYS_FILE"] = str(tmp_path / "missing.toml")
    code, _, err = await lianxin("config", "check", env=env)
    assert (code, err.strip()) == (
        2, f"lianxin: LIANXIN_HOLIDAYS_FILE {tmp_path / 'missing.toml'}: file not found")


async def test_refresh_counts_provisional_dates_again(env: dict[str, str],
                                                      tmp_path: Path) -> None:
    engine = db.make_engine(env["LIANXIN_DATABASE_URL"])
    tickets = Tickets(engine)
    last = max(chinese_calendar.holidays).year
    filed = datetime(last, 12, 22, 2, 0, tzinfo=UTC)
    counted = deadline(date(last, 12, 22), 10)
    assert counted.provisional
    ticket, _ = await tickets.create(NewTicket(
        idempotency_key="k", account="default", openid="oA", kind="建议", category="c",
        region=None, department="d", description="x" * 12, due_on=counted.day,
        due_provisional=True, due_workdays=10), now=filed)
    withdrawn, _ = await tickets.create(NewTicket(
        idempotency_key="w", account="default", openid="oW", kind="建议", category="c",
        region=None, department="d", description="x" * 12, due_on=counted.day,
        due_provisional=True, due_workdays=10), now=filed)
    await tickets.withdraw(withdrawn.number, "default", "oW")  # its clock has stopped
    code, out, _ = await lianxin("calendar", "refresh", env=env)
    assert (code, out.strip()) == (0, "counted again: 0 ticket(s); 0 no longer provisional, "
                                      "0 still provisional")  # nothing new is known
    known = tmp_path / "holidays.toml"
    known.write_text(f"[{last + 1}]\nsource = 'test'\n" + days_off(last + 1),
                     encoding="utf-8")
    env["LIANXIN_HOLIDAYS_FILE"] = str(known)
    code, out, _ = await lianxin("calendar", "refresh", env=env)
    assert (code, out.strip()) == (0, "counted again: 1 ticket(s); 1 no longer provisional, "
                                      "0 still provisional")
    now = await tickets.by_key("k")
    assert now is not None and not now.due_provisional
    assert now.due_on == deadline(date(last, 12, 22), 10, STATUTORY.with_arrangements(
        parse_holidays(known.read_text(encoding="utf-8"), "f"))).day
    assert ticket.id == now.id
    stopped = await tickets.by_key("w")
    assert stopped is not None and stopped.due_provisional  # left as it was
    await engine.dispose()


async def test_serve_counts_provisional_dates_again_at_start(env: dict[str, str],
                                                             tmp_path: Path) -> None:
    """`lianxin serve` started after the next year's arrangement was added to the file:
    the provisional dates are firm before the first message."""
    url = env["LIANXIN_DATABASE_URL"]
    engine = db.make_engine(url)
    tickets = Tickets(engine)
    last = max(chinese_calendar.holidays).year
    counted = deadline(date(last, 12, 22), 10)
    await tickets.create(NewTicket(
        idempotency_key="k", account="default", openid="oA", kind="建议", category="c",
        region=None, department="d", description="x" * 12, due_on=counted.day,
        due_provisional=True, due_workdays=10), now=datetime(last, 12, 22, 2, tzinfo=UTC))
    known = tmp_path / "holidays.toml"
    known.write_text(f"[{last + 1}]\nsource = 'test'\n" + days_off(last + 1),
                     encoding="utf-8")
    settings = bot_settings(url, "http://127.0.0.1:9").model_copy(
        update={"holidays_file": known})
    runner = web.AppRunner(create_app(settings, accounts=[SAFE]))
    await runner.setup()
    try:
        now = await tickets.by_key("k")
        assert now is not None and not now.due_provisional
        assert now.due_on == deadline(date(last, 12, 22), 10, STATUTORY.with_arrangements(
            parse_holidays(known.read_text(encoding="utf-8"), "f"))).day
    finally:
        await runner.cleanup()
        await engine.dispose()
