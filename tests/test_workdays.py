"""Working days on the statutory calendar, make-up days included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.workdays import (
    CHINA,
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


def test_an_unpublished_year_is_refused_not_guessed() -> None:
    with pytest.raises(CalendarNotPublished, match="2027 is not published"):
        is_workday(date(2027, 3, 1))
    with pytest.raises(CalendarNotPublished):
        add_workdays(date(2026, 12, 30), 5)  # runs into 2027


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
