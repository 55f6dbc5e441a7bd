"""The operator's calendar file (``config/holidays.toml``): each year's published
arrangement, read and checked. No I/O: the caller reads the file.

    [2026]
    source = "国务院办公厅关于2026年部分节假日安排的通知，2025年11月4日，…"
    holidays = ["2026-01-01..2026-01-03", "2026-02-15..2026-02-23", …]
    workdays = ["2026-01-04", "2026-02-14", "2026-02-28", …]

A day is ``YYYY-MM-DD``, a run of days ``FIRST..LAST``. Checked: the year is a table named
by a year (four ASCII digits); ``source`` says where the arrangement was published; every
day lies in its year; the holidays hold at least the 13 statutory days off of
《全国年节及纪念日放假办法》 (as revised in 2024), 1 January, 1 May and 1–3 October among
them, so a year written half is not taken as known; a make-up working day (``workdays``)
is a Saturday or Sunday and no holiday. A fault raises :class:`HolidaysError` naming the
year and what is wrong.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, timedelta
from typing import Any

from domain.workdays import YearArrangement

FIRST_YEAR, LAST_YEAR = 2000, 2100
STATUTORY_DAYS_OFF = 13  # 元旦 1, 春节 4, 清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆 3 (2024)
_YEAR = re.compile(r"[0-9]{4}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class HolidaysError(ValueError):
    """What is wrong with the file, in one line (``<file>: [year] field: problem``)."""


def parse_holidays(text: str, where: str) -> dict[int, YearArrangement]:
    """The arrangements of ``text`` (the file's content; ``where`` names it in errors)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HolidaysError(f"{where}: {exc}") from None
    found: dict[int, YearArrangement] = {}
    for key, table in raw.items():
        if not (_YEAR.fullmatch(key) and FIRST_YEAR <= int(key) <= LAST_YEAR):
            raise HolidaysError(f"{where}: [{key}] is not a year ({FIRST_YEAR}–{LAST_YEAR})")
        year = int(key)
        if not isinstance(table, dict):
            raise HolidaysError(f"{where}: {key} must be a table, [{key}]")
        found[year] = _year(year, table, f"{where}: [{key}]")
    return found


def _year(year: int, table: dict[str, Any], where: str) -> YearArrangement:
    unknown = set(table) - {"source", "holidays", "workdays"}
    if unknown:
        raise HolidaysError(f"{where} {sorted(unknown)[0]}: unknown key "
                            "(source, holidays, workdays)")
    source = table.get("source")
    if not isinstance(source, str) or not source.strip():
        raise HolidaysError(f"{where} source: say where the arrangement was published")
    holidays = _days(year, table.get("holidays", []), f"{where} holidays")
    workdays = _days(year, table.get("workdays", []), f"{where} workdays")
    fixed = {date(year, 1, 1), date(year, 5, 1), *(date(year, 10, d) for d in (1, 2, 3))}
    if not fixed <= holidays or len(holidays) < STATUTORY_DAYS_OFF:
        raise HolidaysError(f"{where} holidays: the whole year's days off, at least the "
                            f"{STATUTORY_DAYS_OFF} statutory ones (1 January, 1 May and 1–3 "
                            "October among them)")
    for day in sorted(workdays):
        if day.weekday() < 5:
            raise HolidaysError(f"{where} workdays: {day} is a weekday; a make-up working "
                                "day is a Saturday or Sunday")
        if day in holidays:
            raise HolidaysError(f"{where} workdays: {day} is a holiday too")
    return YearArrangement(year, frozenset(holidays), frozenset(workdays), source.strip())


def _days(year: int, items: object, where: str) -> set[date]:
    if not isinstance(items, list):
        raise HolidaysError(f"{where}: a list of days (\"2026-10-01\" or "
                            "\"2026-10-01..2026-10-07\")")
    days: set[date] = set()
    for item in items:
        if not isinstance(item, str):
            raise HolidaysError(f"{where}: {item!r} is not a day")
        first_text, dots, last_text = item.partition("..")
        first = _day(first_text, item, where)
        last = _day(last_text, item, where) if dots else first
        if last < first:
            raise HolidaysError(f"{where}: {item!r} ends before it begins")
        if first.year != year or last.year != year:
            raise HolidaysError(f"{where}: {item!r} is not in {year}")
        day = first
        while day <= last:
            days.add(day)
            day += timedelta(days=1)
    return days


def _day(text: str, item: str, where: str) -> date:
    try:
        if not _DAY.fullmatch(text.strip()):
            raise ValueError(text)
        return date.fromisoformat(text.strip())
    except ValueError:
        raise HolidaysError(f"{where}: {item!r} is not a day (YYYY-MM-DD)") from None
