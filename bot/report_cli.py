"""``lianxin report``: the office's figures (docs/METRICS.md) for the tickets filed in a
period, by department, category, region, kind, month or day, or (``--of consultations``) for
the legal consultations asked in it, by lawyer, area or day; as a table, CSV or xlsx.

    lianxin report --from 2026-11-01 --to 2026-11-30 --by department
    lianxin report --from 2026-11-01 --to 2026-11-30 --format xlsx --out 2026-11.xlsx
    lianxin report --of consultations --from 2026-11-01 --to 2026-11-30 --by lawyer

``--as-of DATE`` counts as at the end of that China day (events after it are not seen;
"overdue now" is at it): a report made again later gives the same figures. A fault prints
one line, ``lianxin: <what is wrong>``, and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from bot.config import ConfigError, load_calendar, load_office_settings
from bot.reports import FORMATS, as_csv, as_table, as_xlsx, build, build_consultations
from domain.consult_metrics import ConsultGrouping
from domain.metrics import Grouping, Rules
from domain.texts import CatalogueError, Texts
from domain.workdays import end_of_china_day
from storage import db
from storage.catalogue import CatalogueRepository
from storage.reports import Reports


def _fail(message: str) -> int:
    print(f"lianxin: {message}", file=sys.stderr)
    return 2


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def cmd_report(args: argparse.Namespace) -> int:
    if args.last < args.first:
        return _fail("--to is before --from")
    if args.format == "xlsx" and args.out is None:
        return _fail("--format xlsx needs --out FILE (a workbook is not for the terminal)")
    try:
        settings = load_office_settings()
        calendar = load_calendar(settings.holidays_file)
        texts = Texts.load(settings.texts_file)
        db.require_migrated(settings.database_url)  # a missing or old database: one line
    except (ConfigError, CatalogueError, db.NotReady) as exc:
        return _fail(str(exc))
    as_of = (end_of_china_day(args.as_of) if args.as_of is not None
             else datetime.now(UTC))
    kinds: type[Grouping] | type[ConsultGrouping] = (
        ConsultGrouping if args.of == "consultations" else Grouping)
    wrong = [g for g in args.by if g not in {k.value for k in kinds}]
    if wrong:
        return _fail(f"--by {wrong[0]}: a report of {args.of} is by "
                     f"{', '.join(k.value for k in kinds)}")
    groupings: list[Grouping | ConsultGrouping | None] = [kinds(g) for g in args.by] or (
        [*kinds, None] if args.format == "xlsx" else [None])

    async def run() -> bytes | str:
        engine = db.make_engine(settings.database_url)
        try:
            reports, catalogue = Reports(engine), await CatalogueRepository(engine).load()
            if args.of == "consultations":
                made = build_consultations(
                    await reports.consultation_facts(args.first, args.last), as_of,
                    [g for g in groupings if not isinstance(g, Grouping)], catalogue,
                    await reports.lawyer_names(), texts, args.first, args.last)
            else:
                made = build(await reports.facts(args.first, args.last),
                             Rules(calendar, settings.sign_workdays, as_of),
                             [g for g in groupings if not isinstance(g, ConsultGrouping)],
                             catalogue, texts, args.first, args.last)
        finally:
            await engine.dispose()
        if args.format == "xlsx":
            return as_xlsx(made, texts)
        return as_csv(made, texts) if args.format == "csv" else as_table(made, texts)

    try:
        output = asyncio.run(run())
    except Exception as exc:  # the database: one line, not a traceback
        return _fail(f"report: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    if args.out is not None:
        try:
            data = output if isinstance(output, bytes) else output.encode("utf-8")
            Path(args.out).write_bytes(data)
        except OSError as exc:
            return _fail(f"cannot write {args.out}: {exc.strerror or exc}")
        print(f"report written to {args.out}")
    else:
        assert isinstance(output, str)
        sys.stdout.write(output)
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lianxin report``."""
    made = sub.add_parser("report", help="the office's figures for a period (docs/METRICS.md)")
    made.add_argument("--from", dest="first", type=_day, required=True,
                      help="the first China day whose tickets count (YYYY-MM-DD)")
    made.add_argument("--to", dest="last", type=_day, required=True,
                      help="the last China day whose tickets count, included")
    made.add_argument("--of", choices=("tickets", "consultations"), default="tickets",
                      help="the tickets' figures, or the legal consultation's")
    made.add_argument("--by", action="append", default=[],
                      choices=[g.value for g in (*Grouping, *ConsultGrouping)],
                      help="group by this (again for more; xlsx: a sheet each, default all): "
                           "tickets by department, category, region, kind, month or day; "
                           "consultations by lawyer, area or day")
    made.add_argument("--format", choices=FORMATS, default="table")
    made.add_argument("--out", help="write to this file instead of the terminal")
    made.add_argument("--as-of", dest="as_of", type=_day,
                      help="count as at the end of this China day (default: now)")
    made.set_defaults(func=cmd_report)
