"""Working days on China's statutory calendar, make-up working days (调休) included.

Deadlines in the 12345 practice run in working days: dispatch the same working day, sign
for within 1, answer within N by kind. The calendar comes from ``chinesecalendar``, which
carries the State Council's published arrangements, and from the operator's own file
(``config/holidays.toml``, :class:`YearArrangement`, :meth:`Calendar.with_arrangements`),
which takes precedence year by year. :func:`add_workdays` refuses a year neither knows
(:class:`CalendarNotPublished`); :func:`deadline` counts such a year's weekdays and says
that the date is **provisional**, to be counted again once the year is known.

Every function takes the calendar as ``calendar``, by default :data:`STATUTORY` (the
installed package's); tests give another to say which years are published.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
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

    def knows(self, year: int) -> bool:
        return year in self.years

    def with_arrangements(self, arrangements: Mapping[int, YearArrangement]) -> Calendar:
        """This calendar with the operator's arrangements in front: a year they give is
        read from them alone; the others as before."""
        if not arrangements:
            return self
        base = self

        def lookup(day: date) -> bool:
            arrangement = arrangements.get(day.year)
            if arrangement is None:
                return base.is_workday(day)
            return arrangement.is_workday(day)

        return Calendar(_Years(self.years, frozenset(arrangements)), lookup)


class _Years:
    """The years two sources know, together (a ``range`` and a set, say)."""

    __slots__ = ("_first", "_second")

    def __init__(self, first: Container[int], second: Container[int]) -> None:
        self._first, self._second = first, second

    def __contains__(self, year: object) -> bool:
        return year in self._second or year in self._first


@dataclass(frozen=True, slots=True)
class YearArrangement:
    """One year's published arrangement (the State Council's 放假调休 notice): the days
    off (holidays, weekends among them as the notice lists them) and the weekend days
    worked instead (调休上班); every other day is a working day from Monday to Friday.
    ``source``: where it was published, for whoever checks it."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str

    def is_workday(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5


@dataclass(frozen=True, slots=True)
class Deadline:
    """A due date; ``provisional``: counted through a year whose arrangement is not known
    yet (on its weekdays), to be counted again when it is."""

    day: date
    provisional: bool = False


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
    return _add(start, count, calendar.is_workday)


def _add(start: date, count: int, is_workday: Callable[[date], bool]) -> date:
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


def deadline(start: date, count: int, calendar: Calendar = STATUTORY) -> Deadline:
    """As :func:`add_workdays`, but through a year the calendar does not know it counts
    Monday to Friday, and the answer says it is provisional."""
    unknown: set[int] = set()

    def is_workday(day: date) -> bool:
        known = _known_workday(day, calendar)
        if known is None:
            unknown.add(day.year)
            return day.weekday() < 5
        return known

    return Deadline(_add(start, count, is_workday), provisional=bool(unknown))


def _known_workday(day: date, calendar: Calendar) -> bool | None:
    """Whether the calendar has ``day`` as a working day; ``None``: it does not know."""
    if calendar.knows(day.year):
        try:
            return calendar.is_workday(day)
        except CalendarNotPublished:  # a source that claimed the year and lacks it
            pass
    return None


def working(day: date, calendar: Calendar) -> bool:
    """Whether ``day`` is a working day; in a year the calendar does not know, a weekday
    (as provisional deadlines are counted)."""
    known = _known_workday(day, calendar)
    return day.weekday() < 5 if known is None else known


def workdays_between(start: date, end: date, calendar: Calendar = STATUTORY, *,
                     provisional: bool = False) -> int:
    """Working days after ``start`` up to and including ``end`` (0 if ``end`` ≤ ``start``);
    ``provisional``: in a year the calendar does not know, weekdays (else it raises)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if working(day, calendar) if provisional else calendar.is_workday(day):
            count += 1
    return count


def due_date(received: datetime, workdays: int, calendar: Calendar = STATUTORY) -> date:
    """When something received at ``received`` (aware) is due, ``workdays`` working days on."""
    return add_workdays(local_day(received), workdays, calendar)


def due_deadline(received: datetime, workdays: int,
                 calendar: Calendar = STATUTORY) -> Deadline:
    """:func:`due_date`, provisional through a year the calendar does not know."""
    return deadline(local_day(received), workdays, calendar)


def china_midnight(day: date) -> datetime:
    """The moment ``day`` begins in China (aware)."""
    return datetime(day.year, day.month, day.day, tzinfo=CHINA)


def end_of_china_day(day: date) -> datetime:
    """The last moment of ``day`` in China (aware): a report "as of" that day sees it all."""
    return china_midnight(day + timedelta(days=1)) - timedelta(microseconds=1)


def today_in_china(now: datetime | None = None) -> date:
    return local_day(now or datetime.now(UTC))
