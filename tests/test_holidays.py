"""The operator's calendar (config/holidays.toml, domain/holidays_file.py) and deadlines
through a year nobody knows yet (domain/workdays.py: provisional, weekdays only)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import chinese_calendar
import pytest

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

FILE = Path(__file__).resolve().parents[1] / "config" / "holidays.toml"
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
    ("[2026]\nsource='s'\nworkdays=['2026-01-05']",
     "f: [2026] workdays: 2026-01-05 is a weekday; a make-up working day is a Saturday or "
     "Sunday"),
    ("[2026]\nsource='s'\nholidays=['2026-01-04']\nworkdays=['2026-01-04']",
     "f: [2026] workdays: 2026-01-04 is a holiday too"),
])
def test_a_bad_file_is_refused_naming_the_year_and_the_fault(text: str, error: str) -> None:
    with pytest.raises(HolidaysError) as refused:
        parse_holidays(text, "f")
    assert error in str(refused.value)


def test_runs_and_single_days() -> None:
    year = parse_holidays("[2026]\nsource = ' s '\nholidays = ['2026-10-01..2026-10-03', "
                          "'2026-12-25']\n", "f")[2026]
    assert year.holidays == {date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3),
                             date(2026, 12, 25)}
    assert (year.workdays, year.source) == (frozenset(), "s")
