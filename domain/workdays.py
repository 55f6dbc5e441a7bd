"""Working days on China's statutory calendar, make-up working days (调休) included.

Deadlines in the 12345 practice run in working days: dispatch the same working day, sign
for within 1, answer within N by kind. The calendar comes from ``chinesecalendar``, which
carries the State Council's published arrangements; a year not yet published is refused
with :class:`CalendarNotPublished`, never guessed from weekends.

Every function takes the calendar as ``calendar``, by default :data:`STATUTORY` (the
installed package's); tests give another to say which years are published.
"""

from __future__ import annotations

from collections.abc import Callable, Container
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


class Calendar:
    """The years whose arrangements are published, and a day's lookup within them."""

    __slots__ = ("_lookup", "years")

    def __init__(self, years: Container[int], lookup: Callable[[date], bool]) -> None:
        self.years = years
        self._lookup = lookup

    def is_workday(self, day: date) -> bool:
        if day.year not in self.years:
            raise CalendarNotPublished(day)
        try:
            return self._lookup(day)
        except NotImplementedError:  # the package's own refusal of a year it lacks
            raise CalendarNotPublished(day) from None


def _statutory() -> Calendar:
    """The calendar as the installed ``chinesecalendar`` carries it: the years from its
    first holiday to its last (the range the package itself answers for)."""
    holidays = chinese_calendar.holidays
    return Calendar(range(min(holidays).year, max(holidays).year + 1),
                    lambda day: bool(chinese_calendar.is_workday(day)))


STATUTORY = _statutory()


def is_workday(day: date, calendar: Calendar = STATUTORY) -> bool:
    """True on a working day: a weekday that is not a holiday, or a make-up Saturday/Sunday."""
    return calendar.is_workday(day)


def local_day(moment: datetime) -> date:
    """The date in China of an aware ``moment`` (deadlines count China's days)."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no place on China's calendar")
    return moment.astimezone(CHINA).date()


def add_workdays(start: date, count: int, calendar: Calendar = STATUTORY) -> date:
    """The ``count``-th working day after ``start`` (``start`` itself never counts).

    ``count`` 0 is ``start`` if it is a working day, else the next working day: what "the
    same working day" means for something received on a holiday.
    """
    if count < 0:
        raise ValueError("count must be 0 or more")
    day = start
    if count == 0:
        while not calendar.is_workday(day):
            day += timedelta(days=1)
        return day
    while count:
        day += timedelta(days=1)
        if calendar.is_workday(day):
            count -= 1
    return day


def workdays_between(start: date, end: date, calendar: Calendar = STATUTORY) -> int:
    """Working days after ``start`` up to and including ``end`` (0 if ``end`` ≤ ``start``)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if calendar.is_workday(day):
            count += 1
    return count


def due_date(received: datetime, workdays: int, calendar: Calendar = STATUTORY) -> date:
    """When something received at ``received`` (aware) is due, ``workdays`` working days on."""
    return add_workdays(local_day(received), workdays, calendar)


def today_in_china(now: datetime | None = None) -> date:
    return local_day(now or datetime.now(UTC))
