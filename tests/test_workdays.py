"""Working days on the statutory calendar, make-up days included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import pytest

from domain.workdays import (
    CHINA,
    STATUTORY,
    Calendar,
    CalendarNotPublished,
    add_workdays,
    due_date,
    is_workday,
    local_day,
    today_in_china,
    workdays_between,
)


def test_holidays_and_make_up_days_of_2026() -> None:
    assert not is_workday(date(2026, 10, 1))  # National Day, a Thursday
    assert not is_workday(date(2026, 2, 17))  # Spring Festival, a Tuesday
    assert is_workday(date(2026, 2, 14))  # a Saturday worked in lieu (调休)
    assert is_workday(date(2026, 2, 28))  # another make-up Saturday
    assert not is_workday(date(2026, 11, 22))  # an ordinary Sunday
    assert is_workday(date(2026, 11, 23))  # an ordinary Monday


# 2026 published, and within it a lookup that would answer any day (weekdays work): so
# only the published years can refuse a day
ONLY_2026 = Calendar({2026}, lambda day: day.weekday() < 5)


def test_an_unpublished_year_is_refused_not_guessed() -> None:
    with pytest.raises(CalendarNotPublished, match="2027 is not published"):
        is_workday(date(2027, 3, 1), ONLY_2026)
    with pytest.raises(CalendarNotPublished, match="2025 is not published"):
        add_workdays(date(2025, 12, 31), 0, ONLY_2026)
    with pytest.raises(CalendarNotPublished):
        add_workdays(date(2026, 12, 30), 5, ONLY_2026)  # runs into 2027
    with pytest.raises(CalendarNotPublished):
        workdays_between(date(2026, 12, 30), date(2027, 1, 4), ONLY_2026)
    with pytest.raises(CalendarNotPublished):
        due_date(datetime(2026, 12, 22, 2, 0, tzinfo=UTC), 10, ONLY_2026)
    # within the year the given calendar answers (it has no National Day holiday)
    assert add_workdays(date(2026, 9, 30), 1, ONLY_2026) == date(2026, 10, 1)
    assert due_date(datetime(2026, 12, 22, 2, 0, tzinfo=UTC), 3, ONLY_2026) == date(2026, 12, 25)


def test_the_statutory_calendar_refuses_the_year_after_the_packages_last() -> None:
    """Whichever chinesecalendar release is installed: the year after the last one it
    carries is refused, and a due date running into it is not guessed."""
    following = max(chinese_calendar.holidays).year + 1
    with pytest.raises(CalendarNotPublished, match=f"{following} is not published"):
        is_workday(date(following, 3, 1))
    with pytest.raises(CalendarNotPublished):  # 22 Dec + 10 working days is in January
        due_date(datetime(following - 1, 12, 22, 2, 0, tzinfo=UTC), 10)
    last = date(following - 1, 12, 22)  # the last year it carries is answered, as it says
    assert is_workday(last) == STATUTORY.is_workday(last) == chinese_calendar.is_workday(last)


def test_adding_working_days_skips_weekends_and_holidays() -> None:
    assert add_workdays(date(2026, 11, 20), 1) == date(2026, 11, 23)  # Friday → Monday
    assert add_workdays(date(2026, 11, 23), 5) == date(2026, 11, 30)
    assert add_workdays(date(2026, 9, 30), 1) == date(2026, 10, 8)  # over the holiday
    assert add_workdays(date(2026, 11, 22), 0) == date(2026, 11, 23)  # same working day
    assert add_workdays(date(2026, 11, 23), 0) == date(2026, 11, 23)
    with pytest.raises(ValueError, match="0 or more"):
        add_workdays(date(2026, 11, 23), -1)


def test_the_national_day_week_counts_its_make_up_days() -> None:
    assert is_workday(date(2026, 9, 20))  # a Sunday worked in lieu
    assert is_workday(date(2026, 10, 10))  # a Saturday worked in lieu
    assert all(not is_workday(date(2026, 10, d)) for d in range(1, 8))
    # Fri 18 Sep + 2: Sun 20 Sep (make-up) and Mon 21 Sep
    assert add_workdays(date(2026, 9, 18), 2) == date(2026, 9, 21)
    # Wed 30 Sep + 3: Thu 8, Fri 9 and Sat 10 Oct (make-up)
    assert add_workdays(date(2026, 9, 30), 3) == date(2026, 10, 10)


def test_due_dates_count_chinas_days() -> None:
    # 23:30 UTC on Sunday 22 Nov is 07:30 Monday 23 Nov in China
    received = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert local_day(received) == date(2026, 11, 23)
    assert due_date(received, 3) == date(2026, 11, 26)
    with pytest.raises(ValueError, match="naive"):
        local_day(datetime(2026, 11, 22, 23, 30))


def test_between_is_the_inverse_of_add() -> None:
    start = date(2026, 1, 1)
    for count in range(1, 40, 7):
        end = add_workdays(start, count)
        assert workdays_between(start, end) == count
    assert workdays_between(date(2026, 5, 1), date(2026, 5, 1) - timedelta(days=3)) == 0


def test_an_unpublished_year_tells_the_operator_what_to_do() -> None:
    refused = CalendarNotPublished(date(2031, 2, 3))
    assert refused.year == 2031
    assert str(refused) == ("the working-day calendar for 2031 is not published yet; "
                            "update chinesecalendar once the State Council publishes it")


def test_today_is_the_day_in_china() -> None:
    # 16:30 UTC on Monday 23 Nov is already Tuesday 24 Nov in China
    assert today_in_china(datetime(2026, 11, 23, 16, 30, tzinfo=UTC)) == date(2026, 11, 24)
    assert today_in_china(datetime(2026, 11, 23, 15, 59, tzinfo=UTC)) == date(2026, 11, 23)
    before = datetime.now(CHINA).date()
    today = today_in_china()
    assert before <= today <= datetime.now(CHINA).date()
