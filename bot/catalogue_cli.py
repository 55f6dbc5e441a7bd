"""``lianxin config check|load [FILE]``: the routing catalogue (``config/catalogue.toml``).

``check`` validates the file and prints a summary, with the category × region pairs that
no rule covers (the fallback department takes those). ``load`` validates and prints what
it would load; loading into the database comes with the tickets tables, so for now it
loads nothing. On any fault both print one line, ``lianxin: <file>:<line>: <problem>``,
and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import REPO_ROOT
from domain.catalogue import Catalogue, CatalogueError, parse_catalogue

DEFAULT_CATALOGUE = REPO_ROOT / "config" / "catalogue.toml"


class CatalogueFileError(Exception):
    """The file cannot be read; the message is one line naming it."""


def load_catalogue(path: Path = DEFAULT_CATALOGUE) -> Catalogue:
    """Read and check ``path``; :class:`CatalogueError` (with the line) or
    :class:`CatalogueFileError` (unreadable file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogueFileError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueFileError(f"{path}: cannot read: {exc}") from None
    return parse_catalogue(text, str(path))


def _fail(message: str) -> int:
    print(f"lianxin: {message}", file=sys.stderr)
    return 2


def _load(args: argparse.Namespace) -> Catalogue | int:
    try:
        return load_catalogue(args.file)
    except (CatalogueError, CatalogueFileError) as exc:
        return _fail(str(exc))


def summary(catalogue: Catalogue) -> list[str]:
    """The lines ``config check`` prints: counts, deadlines, pairs left to the fallback."""
    fallback = catalogue.fallback
    lines = [
        f"{catalogue.county}: {len(catalogue.departments)} departments, "
        f"{len(catalogue.categories)} categories, {len(catalogue.regions)} regions, "
        f"{len(catalogue.rules)} rules",
        "deadlines (working days): " + ", ".join(
            f"{kind} {days}" for kind, days in catalogue.deadlines.items()),
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


def cmd_check(args: argparse.Namespace) -> int:
    catalogue = _load(args)
    if isinstance(catalogue, int):
        return catalogue
    print(f"lianxin config check: {args.file} is valid")
    for line in summary(catalogue):
        print(line)
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    catalogue = _load(args)
    if isinstance(catalogue, int):
        return catalogue
    print(f"lianxin config load: {args.file} is valid; it would load:")
    print("  departments: " + ", ".join(
        f"{d.id} {d.name}" + (" (fallback)" if d.fallback else "")
        for d in catalogue.departments))
    print("  categories: " + ", ".join(
        f"{c.order}. {c.name}" for c in catalogue.categories_in_order()))
    print("  regions: " + ", ".join(
        r.name + (f" ({catalogue.region(r.parent).name})" if r.parent else "")
        for r in catalogue.regions))
    print(f"  rules: {len(catalogue.rules)}")
    print("  deadlines: " + ", ".join(f"{k} {v}" for k, v in catalogue.deadlines.items()))
    print("lianxin config load: nothing loaded: loading into the database comes with the "
          "tickets tables")
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
        "load", help="validate and show what would be loaded (does NOT load yet)",
        description="Validates the catalogue and prints what it would load. It does not "
                    "load anything yet: loading into the database comes with the tickets "
                    "tables. A fault is one line, <file>:<line>: <problem>, and exit "
                    "status 2.")
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
