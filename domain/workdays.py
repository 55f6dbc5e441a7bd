"""Working days on China's statutory calendar, make-up working days (调休) included.

Deadlines in the 12345 practice run in working days: dispatch the same working day, sign
for within 1, answer within N by kind. The calendar comes from ``chinesecalendar``, which
carries the State Council's published arrangements; a year not yet published is refused
with :class:`CalendarNotPublished`, never guessed from weekends.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

CHINA = ZoneInfo("Asia/Shanghai")


class CalendarNotPublished(Exception):
    """The statutory calendar for this year is not known yet (published each autumn)."""

    def __init__(self, day: date) -> None:
        super().__init__(f"the working-day calendar for {day.year} is not published yet; "
                         "update chinesecalendar once the State Council publishes it")
        self.year = day.year


def is_workday(day: date) -> bool:
    """True on a working day: a weekday that is not a holiday, or a make-up Saturday/Sunday."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        raise CalendarNotPublished(day) from None


def local_day(moment: datetime) -> date:
    """The date in China of an aware ``moment`` (deadlines count China's days)."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no place on China's calendar")
    return moment.astimezone(CHINA).date()


def add_workdays(start: date, count: int) -> date:
    """The ``count``-th working day after ``start`` (``start`` itself never counts).

    ``count`` 0 is ``start`` if it is a working day, else the next working day: what "the
    same working day" means for something received on a holiday.
    """
    if count < 0:
        raise ValueError("count must be 0 or more")
    day = start
    if count == 0:
        while not is_workday(day):
            day += timedelta(days=1)
        return day
    while count:
        day += timedelta(days=1)
        if is_workday(day):
            count -= 1
    return day


def workdays_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 if ``end`` ≤ ``start``)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_workday(day):
            count += 1
    return count


def due_date(received: datetime, workdays: int) -> date:
    """When something received at ``received`` (aware) is due, ``workdays`` working days on."""
    return add_workdays(local_day(received), workdays)


def today_in_china(now: datetime | None = None) -> date:
    return local_day(now or datetime.now(UTC))
