"""The routing catalogue's file: TOML text in, a checked :class:`Catalogue` out.

:func:`parse_catalogue` reads the TOML text of ``config/catalogue.toml`` and checks all of
it; every fault raises :class:`CatalogueError`, whose message names the file and the line
of the offending entry (``config/catalogue.toml:42: rule: unknown department 'xyz'``).
Pure: the caller reads the file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Container, Iterator
from typing import Any, TypeVar

from domain.catalogue import (
    ANY_REGION,
    KINDS,
    Catalogue,
    Category,
    Department,
    Region,
    Rule,
)
from domain.consultation import WEEKDAYS, LegalArea, ServiceHours, parse_spans

_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_TOP_KEYS = frozenset({"county", "deadlines", "intake", "department", "category", "region",
                       "rule", "legal", "legal_area"})
_DOC_LINE = re.compile(r"\(at line (\d+), column (\d+)\)$")


class CatalogueError(ValueError):
    """The catalogue is wrong; ``str()`` is one line: ``<source>:<line>: <problem>``."""

    def __init__(self, source: str, line: int, problem: str) -> None:
        super().__init__(f"{source}:{line}: {problem}")
        self.source = source
        self.line = line
        self.problem = problem


# ---------------------------------------------------------------------- line finding
_HEADER = re.compile(r"^\s*\[")


def _spellings(key: str) -> str:
    """A TOML key as written: bare, "quoted" or 'quoted'."""
    bare = re.escape(key)
    return rf"(?:{bare}|\"{bare}\"|'{bare}')"


def _key_pattern(key: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*{_spellings(key)}\s*=")


def entry_line(
    text: str, table: str, index: int | None = None, key: str | None = None,
    ident: str | None = None,
) -> int:
    """The 1-based line of an entry in TOML ``text``.

    ``index`` ``None`` means the table ``[table]``; otherwise the ``index``-th (0-based)
    ``[[table]]``. With ``key``, the line of that key inside the entry (the header's line if
    the key is not there). If the header is not found (an inline table, say), the line of
    ``id = "<ident>"``, else line 1.
    """
    lines = text.splitlines()
    name = _spellings(table)
    header = re.compile(rf"^\s*\[\[\s*{name}\s*\]\]" if index is not None
                        else rf"^\s*\[\s*{name}\s*\]")
    seen = -1
    start: int | None = None
    for number, line in enumerate(lines):
        if header.match(line):
            seen += 1
            if index is None or seen == index:
                start = number
                break
    if start is None:
        if ident is not None:
            # on a line of its own, or in an inline table: { id = "x", … }
            id_line = re.compile(rf"(?:^|[{{,])\s*id\s*=\s*[\"']{re.escape(ident)}[\"']")
            for number, line in enumerate(lines):
                if id_line.search(line):
                    return number + 1
        return 1
    if key is not None:
        pattern = _key_pattern(key)
        for number in range(start + 1, len(lines)):
            if _HEADER.match(lines[number]):
                break
            if pattern.match(lines[number]):
                return number + 1
    return start + 1


def _top_key_line(text: str, key: str) -> int:
    """The line where top-level ``key`` is set or its table starts (1 if not found)."""
    pattern = _key_pattern(key)
    header = re.compile(rf"^\s*\[\[?\s*{_spellings(key)}\s*\]")
    in_table = False
    for number, line in enumerate(text.splitlines()):
        if header.match(line):
            return number + 1
        if _HEADER.match(line):
            in_table = True
        elif not in_table and pattern.match(line):
            return number + 1
    return 1


# ---------------------------------------------------------------------- parsing
class _Checker:
    """Holds the text and source, so every fault can name its line."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source

    def fail(self, line: int, problem: str) -> CatalogueError:
        return CatalogueError(self.source, line, problem)

    def entries(self, data: dict[str, Any], table: str) -> Iterator[tuple[int, dict[str, Any]]]:
        value = data.get(table, [])
        if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
            raise self.fail(_top_key_line(self.text, table),
                            f"{table} must be [[{table}]] tables")
        yield from enumerate(value)

    def check_keys(self, table: str, index: int, entry: dict[str, Any],
                   required: tuple[str, ...], optional: tuple[str, ...]) -> None:
        for key in entry:
            if key not in required and key not in optional:
                raise self.fail(entry_line(self.text, table, index, key),
                                f"{table}: unknown key {key!r} (allowed: "
                                f"{', '.join((*required, *optional))})")
        for key in required:
            if key not in entry:
                raise self.fail(entry_line(self.text, table, index, ident=entry.get("id")),
                                f"{table}: {key} is missing")

    def string(self, table: str, index: int, entry: dict[str, Any], key: str,
               *, is_id: bool = False) -> str:
        value = entry[key]
        line = entry_line(self.text, table, index, key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(line, f"{table}: {key} must be a non-empty string")
        if is_id and not _ID.match(value):
            raise self.fail(line, f"{table}: {key} {value!r} must be lower-case letters, "
                                  "digits or _, starting with a letter")
        return value.strip()

    def identity(self, table: str, index: int, entry: dict[str, Any], ids: Container[str],
                 names: set[str]) -> tuple[str, str]:
        """The entry's id and name, each unique in its table; the name is remembered."""
        ident = self.string(table, index, entry, "id", is_id=True)
        name = self.string(table, index, entry, "name")
        if ident in ids:
            raise self.fail(entry_line(self.text, table, index, "id"),
                            f"{table}: duplicate id {ident!r}")
        if name in names:
            raise self.fail(entry_line(self.text, table, index, "name"),
                            f"{table}: duplicate name {name!r}")
        names.add(name)
        return ident, name


def _decode_error(exc: tomllib.TOMLDecodeError, text: str, source: str) -> CatalogueError:
    message = str(exc)
    found = _DOC_LINE.search(message)
    if found:
        problem = f"{message[:found.start()].rstrip()} (column {found.group(2)})"
        return CatalogueError(source, int(found.group(1)), problem)
    line = max(1, len(text.splitlines()))
    return CatalogueError(source, line, message.replace(" (at end of document)", "")
                          + " (at end of file)")


def parse_catalogue(text: str, source: str) -> Catalogue:
    """Parse and check a catalogue; :class:`CatalogueError` naming ``source`` and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _decode_error(exc, text, source) from None
    check = _Checker(text, source)

    for key in data:
        if key not in _TOP_KEYS:
            raise check.fail(_top_key_line(text, key),
                             f"unknown key {key!r} (allowed: {', '.join(sorted(_TOP_KEYS))})")

    county = data.get("county")
    if not isinstance(county, dict):
        raise check.fail(_top_key_line(text, "county"), "needs a [county] table with a name")
    for key in county:
        if key != "name":
            raise check.fail(entry_line(text, "county", None, key),
                             f"county: unknown key {key!r} (allowed: name)")
    county_name = county.get("name")
    if not isinstance(county_name, str) or not county_name.strip():
        raise check.fail(entry_line(text, "county", None, "name"),
                         "county: name must be a non-empty string")

    deadlines = _deadlines(check, data)
    anonymous_kinds = _intake(check, data)
    departments = _departments(check, data)
    categories = _categories(check, data)
    regions = _regions(check, data)
    rules = _rules(check, data, departments, categories, regions)
    legal_areas = _legal_areas(check, data)
    legal_hours = _legal(check, data, bool(legal_areas))
    return Catalogue(
        county=county_name.strip(),
        departments=tuple(departments.values()),
        categories=tuple(categories.values()),
        regions=tuple(regions.values()),
        rules=tuple(rules),
        deadlines=deadlines,
        anonymous_kinds=anonymous_kinds,
        legal_areas=tuple(legal_areas.values()),
        legal_hours=legal_hours,
    )


def _deadlines(check: _Checker, data: dict[str, Any]) -> dict[str, int]:
    table = data.get("deadlines")
    if not isinstance(table, dict):
        raise check.fail(_top_key_line(check.text, "deadlines"),
                         "needs a [deadlines] table: working days per ticket kind "
                         f"({', '.join(KINDS)})")
    deadlines: dict[str, int] = {}
    for kind, days in table.items():
        line = entry_line(check.text, "deadlines", None, kind)
        if kind not in KINDS:
            raise check.fail(line, f"deadlines: unknown ticket kind {kind!r} "
                                   f"(kinds: {', '.join(KINDS)})")
        if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
            raise check.fail(line, f"deadlines: {kind} must be a whole number of working "
                                   f"days above 0, not {days!r}")
        deadlines[kind] = days
    missing = [kind for kind in KINDS if kind not in deadlines]
    if missing:
        raise check.fail(_top_key_line(check.text, "deadlines"),
                         f"deadlines: no deadline for {', '.join(missing)}")
    return {kind: deadlines[kind] for kind in KINDS}


def _legal(check: _Checker, data: dict[str, Any], has_areas: bool) -> ServiceHours | None:
    """The ``[legal]`` table: the consultation's service hours per weekday (``[legal.hours]``,
    China time, ``"09:00-12:00, 14:00-17:30"``; a day left out or ``""``: closed) and
    ``closed_on_holidays`` (default true). Needed with ``[[legal_area]]`` tables, and only
    with them: areas without hours, or hours without areas, is a half-configured
    service."""
    if "legal" not in data:
        if has_areas:
            raise check.fail(_top_key_line(check.text, "legal_area"),
                             "legal_area: the consultation needs a [legal] table with its "
                             "hours ([legal.hours])")
        return None
    table = data["legal"]
    line = _top_key_line(check.text, "legal")
    if not isinstance(table, dict):
        raise check.fail(line, "legal must be a [legal] table")
    if not has_areas:
        raise check.fail(line, "legal: the consultation needs [[legal_area]] tables")
    for key in table:
        if key not in ("hours", "closed_on_holidays"):
            raise check.fail(entry_line(check.text, "legal", None, key),
                             f"legal: unknown key {key!r} (allowed: closed_on_holidays, hours)")
    closed = table.get("closed_on_holidays", True)
    if not isinstance(closed, bool):
        raise check.fail(entry_line(check.text, "legal", None, "closed_on_holidays"),
                         "legal: closed_on_holidays must be true or false")
    hours = table.get("hours")
    hours_line = entry_line(check.text, "legal.hours", None) if isinstance(hours, dict) else line
    if not isinstance(hours, dict):
        raise check.fail(hours_line, "legal: needs a [legal.hours] table: spans per weekday "
                                     f"({', '.join(WEEKDAYS)})")
    days = {}
    for key, value in hours.items():
        key_line = entry_line(check.text, "legal.hours", None, key)
        if key not in WEEKDAYS:
            raise check.fail(key_line, f"legal.hours: unknown day {key!r} "
                                       f"(days: {', '.join(WEEKDAYS)})")
        if not isinstance(value, str):
            raise check.fail(key_line, f"legal.hours: {key} must be a string like "
                                       "\"09:00-12:00, 14:00-17:30\" (\"\": closed)")
        try:
            days[key] = parse_spans(value)
        except ValueError as exc:
            raise check.fail(key_line, f"legal.hours: {key}: {exc}") from None
    if not any(days.values()):
        raise check.fail(hours_line, "legal.hours: the service is open on no day")
    return ServiceHours(days, closed_on_holidays=closed)


def _intake(check: _Checker, data: dict[str, Any]) -> frozenset[str]:
    """The optional ``[intake]`` table: ``anonymous_kinds``, the kinds that need no phone."""
    if "intake" not in data:
        return frozenset()
    table = data["intake"]
    if not isinstance(table, dict):
        raise check.fail(_top_key_line(check.text, "intake"),
                         "intake must be an [intake] table")
    for key in table:
        if key != "anonymous_kinds":
            raise check.fail(entry_line(check.text, "intake", None, key),
                             f"intake: unknown key {key!r} (allowed: anonymous_kinds)")
    kinds = table.get("anonymous_kinds", [])
    line = entry_line(check.text, "intake", None, "anonymous_kinds")
    if not isinstance(kinds, list):
        raise check.fail(line, "intake: anonymous_kinds must be a list of ticket kinds "
                               f"({', '.join(KINDS)})")
    seen: set[str] = set()
    for kind in kinds:
        if kind not in KINDS:
            raise check.fail(line, f"intake: anonymous_kinds: unknown ticket kind {kind!r} "
                                   f"(kinds: {', '.join(KINDS)})")
        if kind in seen:
            raise check.fail(line, f"intake: anonymous_kinds: {kind} is listed twice")
        seen.add(kind)
    return frozenset(seen)


def _departments(check: _Checker, data: dict[str, Any]) -> dict[str, Department]:
    found: dict[str, Department] = {}
    names: set[str] = set()
    fallback: str | None = None
    for index, entry in check.entries(data, "department"):
        check.check_keys("department", index, entry, ("id", "name"),
                         ("short_name", "fallback", "review_answers"))
        ident, name = check.identity("department", index, entry, found, names)
        short = (check.string("department", index, entry, "short_name")
                 if "short_name" in entry else name)
        is_fallback = entry.get("fallback", False)
        if not isinstance(is_fallback, bool):
            raise check.fail(entry_line(check.text, "department", index, "fallback"),
                             "department: fallback must be true or false")
        if is_fallback and fallback is not None:
            raise check.fail(entry_line(check.text, "department", index, "fallback"),
                             f"department {ident!r}: a second fallback department "
                             f"({fallback!r} is one already)")
        if is_fallback:
            fallback = ident
        review = entry.get("review_answers", False)
        if not isinstance(review, bool):
            raise check.fail(entry_line(check.text, "department", index, "review_answers"),
                             "department: review_answers must be true or false")
        found[ident] = Department(ident, name, short, is_fallback, review)
    if not found:
        raise check.fail(_top_key_line(check.text, "department"),
                         "needs [[department]] tables")
    if fallback is None:
        raise check.fail(_top_key_line(check.text, "department"),
                         "no fallback department: mark one (兜底) with fallback = true")
    return found


def _categories(check: _Checker, data: dict[str, Any]) -> dict[str, Category]:
    found = _numbered(check, data, "category", Category)
    if not found:
        raise check.fail(_top_key_line(check.text, "category"), "needs [[category]] tables")
    return found


def _legal_areas(check: _Checker, data: dict[str, Any]) -> dict[str, LegalArea]:
    """The optional ``[[legal_area]]`` tables: the areas of the legal consultation."""
    return _numbered(check, data, "legal_area", LegalArea)


_Numbered = TypeVar("_Numbered", Category, LegalArea)


def _numbered(check: _Checker, data: dict[str, Any], table: str,
              make: Callable[[str, str, int, tuple[str, ...]], _Numbered],
              ) -> dict[str, _Numbered]:
    """Entries of ``table`` with an id, a name, the number the citizen picks them by
    (``order``) and the words that name them (``keywords``, each one entry's)."""
    found: dict[str, _Numbered] = {}
    orders: dict[int, str] = {}
    owners: dict[str, str] = {}
    names: set[str] = set()
    for index, entry in check.entries(data, table):
        check.check_keys(table, index, entry, ("id", "name", "order"), ("keywords",))
        ident, name = check.identity(table, index, entry, found, names)
        order = entry["order"]
        order_line = entry_line(check.text, table, index, "order")
        if isinstance(order, bool) or not isinstance(order, int) or order <= 0:
            raise check.fail(order_line, f"{table} {ident!r}: order must be a whole "
                                         f"number above 0, not {order!r}")
        if order in orders:
            raise check.fail(order_line, f"{table} {ident!r}: order {order} is taken by "
                                         f"{orders[order]!r}")
        keywords = entry.get("keywords", [])
        keyword_line = entry_line(check.text, table, index, "keywords")
        if not isinstance(keywords, list) or not all(
            isinstance(k, str) and k.strip() for k in keywords
        ):
            raise check.fail(keyword_line, f"{table} {ident!r}: keywords must be a list of "
                                           "non-empty strings")
        for word in keywords:
            owner = owners.get(word.strip())
            if owner is not None:
                raise check.fail(keyword_line, f"{table} {ident!r}: keyword {word!r} is "
                                               f"already {owner!r}'s")
            owners[word.strip()] = ident
        found[ident] = make(ident, name, order, tuple(k.strip() for k in keywords))
        orders[order] = ident
    return found


def _regions(check: _Checker, data: dict[str, Any]) -> dict[str, Region]:
    found: dict[str, Region] = {}
    index_of: dict[str, int] = {}
    names: set[str] = set()
    owners: dict[str, str] = {}  # place → the region it is listed under
    for index, entry in check.entries(data, "region"):
        check.check_keys("region", index, entry, ("id", "name"), ("parent", "places"))
        ident, name = check.identity("region", index, entry, found, names)
        parent = (check.string("region", index, entry, "parent")
                  if "parent" in entry else None)
        places = _places(check, index, entry, ident, owners)
        found[ident] = Region(ident, name, parent, places)
        index_of[ident] = index
    if not found:
        raise check.fail(_top_key_line(check.text, "region"), "needs [[region]] tables")
    for place, owner in owners.items():  # a region named later in the file is known now
        named = next((r for r in found.values() if r.name == place), None)
        if named is not None:
            raise check.fail(entry_line(check.text, "region", index_of[owner], "places"),
                             f"region {owner!r}: place {place!r} is the name of region "
                             f"{named.id!r}")
    for region in found.values():
        if region.parent is not None and region.parent not in found:
            raise check.fail(entry_line(check.text, "region", index_of[region.id], "parent"),
                             f"region {region.id!r}: unknown parent {region.parent!r}")
    for region in found.values():
        path = [region.id]
        current = region.parent
        while current is not None:
            if current == region.id:
                raise check.fail(
                    entry_line(check.text, "region", index_of[region.id], "parent"),
                    f"region {region.id!r}: parents go round in a cycle "
                    f"({' → '.join([*path, current])})")
            if current in path:  # a cycle further up; reported from one of its members
                break
            path.append(current)
            current = found[current].parent
    return found


def _places(check: _Checker, index: int, entry: dict[str, Any], ident: str,
            owners: dict[str, str]) -> tuple[str, ...]:
    """A region's ``places``: the villages, communities and landmarks a citizen may name
    for it, each listed once and under one region only (``owners`` remembers them)."""
    places = entry.get("places", [])
    line = entry_line(check.text, "region", index, "places")
    if not isinstance(places, list) or not all(
        isinstance(p, str) and p.strip() for p in places
    ):
        raise check.fail(line, f"region {ident!r}: places must be a list of non-empty strings")
    kept: list[str] = []
    for place in (p.strip() for p in places):
        owner = owners.get(place)
        if owner == ident:
            raise check.fail(line, f"region {ident!r}: place {place!r} is listed twice")
        if owner is not None:
            raise check.fail(line, f"region {ident!r}: place {place!r} is already listed "
                                   f"under region {owner!r}")
        owners[place] = ident
        kept.append(place)
    return tuple(kept)


def _rules(check: _Checker, data: dict[str, Any], departments: dict[str, Department],
           categories: dict[str, Category], regions: dict[str, Region]) -> list[Rule]:
    rules: list[Rule] = []
    seen: dict[tuple[str, str], int] = {}
    for index, entry in check.entries(data, "rule"):
        check.check_keys("rule", index, entry, ("category", "region", "department"), ())
        category = check.string("rule", index, entry, "category")
        region = check.string("rule", index, entry, "region")
        department = check.string("rule", index, entry, "department")
        if category not in categories:
            raise check.fail(entry_line(check.text, "rule", index, "category"),
                             f"rule: unknown category {category!r}")
        if region != ANY_REGION and region not in regions:
            raise check.fail(entry_line(check.text, "rule", index, "region"),
                             f"rule: unknown region {region!r} (a region id or \"*\")")
        if department not in departments:
            raise check.fail(entry_line(check.text, "rule", index, "department"),
                             f"rule: unknown department {department!r}")
        pair = (category, region)
        if pair in seen:
            raise check.fail(entry_line(check.text, "rule", index),
                             f"rule: {category} × {region} is already routed by the rule "
                             f"on line {entry_line(check.text, 'rule', seen[pair])}")
        seen[pair] = index
        rules.append(Rule(category, region, department))
    return rules
