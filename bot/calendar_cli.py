"""``lianxin calendar check|refresh``: the working-day calendar deadlines are counted on.

``check`` reads ``LIANXIN_HOLIDAYS_FILE`` (default ``config/holidays.toml``) and says
which years are known and from where (the file, the ``chinesecalendar`` package), and
which coming year is not (its deadlines are provisional). ``refresh`` counts again the due
date of every running ticket whose date is provisional or missing; ``lianxin serve`` does
the same once at start-up. A fault prints one line, ``lianxin: <what is wrong>``, and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import ConfigError, holidays_path, load_calendar, load_database_settings
from domain.holidays_file import parse_holidays
from domain.tickets import TicketRecord
from domain.workdays import STATUTORY, Calendar
from storage import db
from storage.catalogue import CatalogueRepository
from storage.tickets import Tickets

log = logging.getLogger(__name__)


async def redate(engine: AsyncEngine, calendar: Calendar) -> list[TicketRecord]:
    """Count again every provisional or missing due date on ``calendar`` (a ticket
    without a count takes its kind's deadline from the catalogue in the database)."""
    catalogue = await CatalogueRepository(engine).load()

    def workdays_for(kind: str) -> int | None:
        return None if catalogue is None else catalogue.deadlines.get(kind)

    changed = await Tickets(engine).redate(calendar, workdays_for)
    if changed:
        firm = sum(not t.due_provisional for t in changed)
        log.info("due dates counted again: %d ticket(s), %d of them no longer provisional",
                 len(changed), firm)
    return changed


def _fail(message: str) -> int:
    print(f"lianxin: {message}", file=sys.stderr)
    return 2


def cmd_check(args: argparse.Namespace) -> int:
    path = holidays_path()
    try:
        load_calendar(path)
        arrangements = parse_holidays(path.read_text(encoding="utf-8"), str(path))
    except ConfigError as exc:
        return _fail(str(exc))
    this_year = datetime.now(UTC).year
    for year in range(this_year - 1, this_year + 2):
        if year in arrangements:
            print(f"{year}: {path} ({arrangements[year].source})")
        elif STATUTORY.knows(year):
            print(f"{year}: chinesecalendar")
        else:
            print(f"{year}: not known: due dates in it are provisional (weekdays only)")
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    try:
        settings = load_database_settings()
        calendar = load_calendar(holidays_path())
    except ConfigError as exc:
        return _fail(str(exc))

    async def run() -> list[TicketRecord]:
        engine = db.make_engine(settings.database_url)
        try:
            return await redate(engine, calendar)
        finally:
            await engine.dispose()

    try:
        changed = asyncio.run(run())
    except Exception as exc:  # the database: one line, not a traceback
        return _fail(f"calendar refresh: {type(exc).__name__}: {exc}")
    firm = sum(not t.due_provisional for t in changed)
    print(f"counted again: {len(changed)} ticket(s); {firm} no longer provisional, "
          f"{len(changed) - firm} still provisional")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lianxin calendar check|refresh``."""
    calendar = sub.add_parser("calendar", help="the working-day calendar (config/holidays.toml)")
    calendar_sub = calendar.add_subparsers(dest="calendar_command", required=True)
    check = calendar_sub.add_parser("check", help="which years are known, and from where")
    check.set_defaults(func=cmd_check)
    refresh = calendar_sub.add_parser(
        "refresh", help="count provisional due dates again (lianxin serve does at start)")
    refresh.set_defaults(func=cmd_refresh)
