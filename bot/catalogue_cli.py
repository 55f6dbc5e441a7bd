"""``lianxin config check|load [FILE]``: the routing catalogue (``config/catalogue.toml``).

``check`` validates the file and prints a summary, with the category × region pairs that
no rule covers (the fallback department takes those); it checks the working-day calendar
file too (``LIANXIN_HOLIDAYS_FILE``, default ``config/holidays.toml``). ``load``
validates it and writes it into the database at ``LIANXIN_DATABASE_URL``, replacing the
catalogue there in one transaction (the bot reads routing from the database, not from the
file). On any fault
both print one line, ``lianxin: <file>:<line>: <problem>`` (or what is wrong with the
database), and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import REPO_ROOT, ConfigError, holidays_path, load_calendar, load_settings
from domain.catalogue import Catalogue
from domain.catalogue_file import CatalogueError, parse_catalogue

DEFAULT_CATALOGUE = REPO_ROOT / "config" / "catalogue.toml"


class CatalogueFileError(Exception):
    """The file cannot be read; the message is one line naming it."""


class DatabaseError(Exception):
    """The catalogue cannot be written to the database; the message is one line."""


def read_catalogue(path: Path = DEFAULT_CATALOGUE) -> tuple[Catalogue, str]:
    """Read and check ``path``: the catalogue and the sha256 (hex) of the file's bytes, so
    it matches ``sha256sum FILE``. :class:`CatalogueError` (with the line) or
    :class:`CatalogueFileError` (unreadable file)."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise CatalogueFileError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueFileError(f"{path}: cannot read: {exc}") from None
    return parse_catalogue(text, str(path)), hashlib.sha256(raw).hexdigest()


def load_catalogue(path: Path = DEFAULT_CATALOGUE) -> Catalogue:
    """Read and check ``path``; :class:`CatalogueError` (with the line) or
    :class:`CatalogueFileError` (unreadable file)."""
    return read_catalogue(path)[0]


def _fail(message: str) -> int:
    print(f"lianxin: {message}", file=sys.stderr)
    return 2


def _read(args: argparse.Namespace) -> tuple[Catalogue, str] | int:
    try:
        return read_catalogue(args.file)
    except (CatalogueError, CatalogueFileError) as exc:
        return _fail(str(exc))


def save_to_database(url: str, catalogue: Catalogue, *, source: str, digest: str) -> None:
    """Replace the catalogue in the database at ``url`` (blocking); :class:`DatabaseError`
    (one line) if it cannot be reached or is not migrated to this lianxin's revision (the
    check ``lianxin serve`` and ``lianxin scheduler`` make at start-up)."""
    from storage import db

    try:
        db.refuse_missing_file(url)
    except db.NotReady as exc:
        raise DatabaseError(str(exc)) from None
    asyncio.run(_save(url, catalogue, source=source, digest=digest))


async def _save(url: str, catalogue: Catalogue, *, source: str, digest: str) -> None:
    from storage import db
    from storage.catalogue import CatalogueRepository

    engine = db.make_engine(url)
    try:
        try:
            await db.require_head(engine)
        except db.NotReady as exc:
            raise DatabaseError(str(exc)) from None
        try:
            await CatalogueRepository(engine).save(catalogue, source=source, digest=digest)
        except Exception as exc:
            raise DatabaseError(f"loading into the database failed: {db.one_line(exc)}") \
                from None
    finally:
        await engine.dispose()


def summary(catalogue: Catalogue) -> list[str]:
    """The lines ``config check`` prints: counts, deadlines, pairs left to the fallback."""
    fallback = catalogue.fallback
    places = sum(len(r.places) for r in catalogue.regions)
    lines = [
        f"{catalogue.county}: {len(catalogue.departments)} departments, "
        f"{len(catalogue.categories)} categories, {len(catalogue.regions)} regions "
        f"({places} places), {len(catalogue.rules)} rules",
        "deadlines (working days): " + ", ".join(
            f"{kind} {days}" for kind, days in catalogue.deadlines.items()),
        _anonymous(catalogue),
    ]
    pairs = catalogue.fallback_pairs()
    if not pairs:
        lines.append(f"every category × region has a rule; fallback {fallback.name} "
                     f"({fallback.id}) takes only tickets without a region")
        return lines
    lines.append(f"left to the fallback {fallback.name} ({fallback.id}): {len(pairs)} "
                 "category × region pairs")
    for category in catalogue.categories:
        regions = [r for c, r in pairs if c is category]
        if not regions:
            continue
        where = ("every region" if len(regions) == len(catalogue.regions)
                 else "、".join(r.name for r in regions))
        lines.append(f"  {category.name} × {where}")
    return lines


def _anonymous(catalogue: Catalogue) -> str:
    kinds = [kind for kind in catalogue.deadlines if catalogue.allows_anonymous(kind)]
    if not kinds:
        return "anonymous tickets: none (every kind needs a phone number)"
    return "anonymous tickets (no phone number needed): " + ", ".join(kinds)


def cmd_check(args: argparse.Namespace) -> int:
    read = _read(args)
    if isinstance(read, int):
        return read
    catalogue, _ = read
    holidays = holidays_path()
    try:
        load_calendar(holidays)  # deadlines are counted on it: checked with the catalogue
    except ConfigError as exc:
        return _fail(str(exc))
    print(f"lianxin config check: {args.file} is valid")
    for line in summary(catalogue):
        print(line)
    print(f"working-day calendar: {holidays} is valid (`lianxin calendar check` for the years)")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    read = _read(args)
    if isinstance(read, int):
        return read
    catalogue, digest = read
    try:
        settings = load_settings()
    except ConfigError as exc:
        return _fail(str(exc))
    source = str(args.file.resolve())
    try:
        save_to_database(settings.database_url, catalogue, source=source, digest=digest)
    except DatabaseError as exc:
        return _fail(str(exc))
    print(f"lianxin config load: {args.file} is valid")
    print(f"  {summary(catalogue)[0]}")
    print("  departments: " + ", ".join(
        f"{d.id} {d.name}" + (" (fallback)" if d.fallback else "")
        for d in catalogue.departments))
    print("  categories: " + ", ".join(
        f"{c.order}. {c.name}" for c in catalogue.categories_in_order()))
    print("  regions: " + ", ".join(
        r.name + (f" ({catalogue.region(r.parent).name})" if r.parent else "")
        for r in catalogue.regions))
    print("  deadlines: " + ", ".join(f"{k} {v}" for k, v in catalogue.deadlines.items()))
    print(f"  {_anonymous(catalogue)}")
    print(f"lianxin config load: {args.file} (sha256 {digest[:12]}) loaded")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lianxin config check`` and ``lianxin config load``."""
    config = sub.add_parser("config", help="the routing catalogue (config/catalogue.toml)")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    file_help = f"the catalogue file (default {DEFAULT_CATALOGUE.relative_to(REPO_ROOT)})"

    check = config_sub.add_parser(
        "check", help="validate the catalogue and summarise it",
        description="Validates the routing catalogue and prints counts, deadlines and the "
                    "category × region pairs left to the fallback department. A fault is "
                    "one line, <file>:<line>: <problem>, and exit status 2.")
    check.add_argument("file", nargs="?", type=Path, default=DEFAULT_CATALOGUE,
                       metavar="FILE", help=file_help)
    check.set_defaults(func=cmd_check)

    load = config_sub.add_parser(
        "load", help="validate the catalogue and load it into the database",
        description="Validates the catalogue and loads it into the database at "
                    "LIANXIN_DATABASE_URL, replacing the one there in one transaction; the "
                    "bot routes tickets by the catalogue in the database. Run `lianxin db "
                    "upgrade` first. A fault is one line, <file>:<line>: <problem> (or what "
                    "is wrong with the database), and exit status 2.")
    load.add_argument("file", nargs="?", type=Path, default=DEFAULT_CATALOGUE,
                      metavar="FILE", help=file_help)
    load.set_defaults(func=cmd_load)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bot.catalogue_cli check|load [FILE]``: the commands outside ``lianxin``."""
    parser = argparse.ArgumentParser(prog="lianxin")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["config", *(sys.argv[1:] if argv is None else argv)])
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
