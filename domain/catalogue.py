"""The routing catalogue: departments, categories, regions, rules, answer deadlines, and
the ticket kinds a citizen may file without a phone number (``[intake]``).

A ticket's category × region picks its department (派单): the rule for the exact region
wins, then a rule for its parent region (and the parent's parent …), then a rule for
region ``"*"``; a pair no rule covers goes to the one fallback (兜底) department.

A region may list its places (村, 社区, landmarks such as 县人民医院): a citizen who names
one names the region. The citizen picks from the regions with no region inside them
(:meth:`Catalogue.regions_offered`); a parent's name is still an answer.

This module is the checked model and its routing. Reading ``config/catalogue.toml`` and
naming the line of each fault is :mod:`domain.catalogue_file`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from domain.consultation import LegalArea, ServiceHours

TicketKind = Literal["投诉", "求助", "咨询", "建议", "表扬"]
KINDS: Final[tuple[str, ...]] = get_args(TicketKind)
ANY_REGION: Final = "*"


@dataclass(frozen=True, slots=True)
class Department:
    id: str
    name: str
    short_name: str
    fallback: bool = False
    # its answers go to the 12345 office for approval before the citizen gets them
    reviews_answers: bool = False


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    name: str
    order: int  # the number shown to the citizen
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Region:
    id: str
    name: str
    parent: str | None = None
    # villages (村), communities (社区) and landmarks (县人民医院, 火车站) inside the region:
    # a citizen who names one names the region
    places: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    category: str
    region: str  # a region id or ANY_REGION
    department: str


@dataclass(frozen=True, slots=True)
class Catalogue:
    """A checked catalogue; build it with
    :func:`domain.catalogue_file.parse_catalogue`. Entries keep file order."""

    county: str
    departments: tuple[Department, ...]
    categories: tuple[Category, ...]
    regions: tuple[Region, ...]
    rules: tuple[Rule, ...]
    deadlines: Mapping[str, int]
    anonymous_kinds: frozenset[str] = frozenset()  # kinds a citizen may file without a phone
    # the legal consultation: its areas and hours (none: the service is not offered)
    legal_areas: tuple[LegalArea, ...] = ()
    legal_hours: ServiceHours | None = None
    _departments: dict[str, Department] = field(init=False, repr=False, compare=False)
    _categories: dict[str, Category] = field(init=False, repr=False, compare=False)
    _regions: dict[str, Region] = field(init=False, repr=False, compare=False)
    _rules: dict[tuple[str, str], Rule] = field(init=False, repr=False, compare=False)
    # every keyword and category name by its first character: a message is scanned once
    # rather than once per keyword
    _by_first: dict[str, tuple[tuple[str, Category], ...]] = field(
        init=False, repr=False, compare=False)
    # every region name and place as (word, rank, region) by the word's first character:
    # one scan of a text, as for keywords; rank orders names first, each in file order
    _places_by_first: dict[str, tuple[tuple[str, int, Region], ...]] = field(
        init=False, repr=False, compare=False)
    _offered: tuple[Region, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_departments", {d.id: d for d in self.departments})
        object.__setattr__(self, "_categories", {c.id: c for c in self.categories})
        object.__setattr__(self, "_regions", {r.id: r for r in self.regions})
        object.__setattr__(self, "_rules", {(r.category, r.region): r for r in self.rules})
        grouped: dict[str, list[tuple[str, Category]]] = {}
        for category in self.categories:
            for word in (*category.keywords, category.name):
                if word:
                    grouped.setdefault(word[0], []).append((word, category))
        object.__setattr__(self, "_by_first", {c: tuple(w) for c, w in grouped.items()})
        places: dict[str, list[tuple[str, int, Region]]] = {}
        words = [(r.name, r) for r in self.regions]
        words += [(place, r) for r in self.regions for place in r.places]
        for rank, (word, region) in enumerate(words):
            if word:
                places.setdefault(word[0], []).append((word, rank, region))
        object.__setattr__(self, "_places_by_first", {c: tuple(w) for c, w in places.items()})
        parents = {r.parent for r in self.regions}
        object.__setattr__(self, "_offered",
                           tuple(r for r in self.regions if r.id not in parents))

    # ------------------------------------------------------------------ lookups
    @property
    def fallback(self) -> Department:
        """The 兜底 department: takes every pair no rule covers."""
        return next(d for d in self.departments if d.fallback)

    def department(self, department_id: str) -> Department:
        """The department with this id; :class:`KeyError` if none."""
        return self._departments[department_id]

    def category(self, category_id: str) -> Category:
        return self._categories[category_id]

    def region(self, region_id: str) -> Region:
        return self._regions[region_id]

    def categories_in_order(self) -> list[Category]:
        """The categories as the citizen sees them, by their display number."""
        return sorted(self.categories, key=lambda c: c.order)

    def category_numbered(self, number: int) -> Category | None:
        """The category shown as ``number`` (from 1) in :meth:`categories_in_order` —
        not the one whose ``order`` is ``number``: orders may have gaps."""
        shown = self.categories_in_order()
        return shown[number - 1] if 1 <= number <= len(shown) else None

    def category_by_name(self, name: str) -> Category | None:
        name = name.strip()
        return next((c for c in self.categories if c.name == name), None)

    def region_by_name(self, name: str) -> Region | None:
        name = name.strip()
        return next((r for r in self.regions if r.name == name), None)

    def category_for_text(self, text: str) -> Category | None:
        """The category whose longest keyword occurs in ``text`` (ties: lower display
        number), or whose name does; ``None`` if nothing matches."""
        best: tuple[int, int, Category] | None = None
        by_first = self._by_first
        for i, char in enumerate(text):  # only the words that can start here
            for word, category in by_first.get(char, ()):
                if text.startswith(word, i):
                    candidate = (-len(word), category.order, category)
                    if best is None or candidate[:2] < best[:2]:
                        best = candidate
        return None if best is None else best[2]

    def regions_offered(self) -> tuple[Region, ...]:
        """The regions a citizen picks from, in file order: those with no region inside
        them. A parent (县城区 over its 街道) would overlap its children; it is still a
        region a citizen may name, and rules for it cover its children."""
        return self._offered

    def region_numbered(self, number: int) -> Region | None:
        """The region shown as ``number`` (from 1) in :meth:`regions_offered`."""
        shown = self._offered
        return shown[number - 1] if 1 <= number <= len(shown) else None

    def region_for_text(self, text: str) -> Region | None:
        """The region whose name or one of whose places occurs in ``text``: the longest
        such word wins ("某乡中心小学" over "中心小学"); at equal length a region's name
        wins over a place, then the one earlier in the file. ``None`` if nothing matches."""
        best: tuple[int, int, Region] | None = None
        by_first = self._places_by_first
        for i, char in enumerate(text):  # only the words that can start here
            for word, rank, region in by_first.get(char, ()):
                if text.startswith(word, i):
                    candidate = (-len(word), rank, region)
                    if best is None or candidate[:2] < best[:2]:
                        best = candidate
        return None if best is None else best[2]

    def legal_areas_in_order(self) -> list[LegalArea]:
        """The legal areas as the citizen sees them, by their display number."""
        return sorted(self.legal_areas, key=lambda a: a.order)

    def legal_area(self, area_id: str) -> LegalArea | None:
        return next((a for a in self.legal_areas if a.id == area_id), None)

    def deadline_days(self, kind: str) -> int:
        """Working days to answer a ticket of this kind; :class:`KeyError` for a bad kind."""
        return self.deadlines[kind]

    def allows_anonymous(self, kind: str) -> bool:
        """Whether a ticket of this kind may be filed without a phone number."""
        return kind in self.anonymous_kinds

    # ------------------------------------------------------------------ routing
    def region_chain(self, region_id: str | None) -> list[str]:
        """The region, its parent, …, then ``"*"``: the order rules are tried in."""
        chain: list[str] = []
        current = region_id
        while current is not None:
            chain.append(current)
            current = self._regions[current].parent
        chain.append(ANY_REGION)
        return chain

    def rule_for(self, category_id: str, region_id: str | None) -> Rule | None:
        """The most specific rule for the pair, or ``None`` (the fallback takes it).

        ``region_id`` ``None`` (the citizen did not say where) tries only ``"*"`` rules.
        Unknown ids raise :class:`KeyError`.
        """
        if category_id not in self._categories:
            raise KeyError(f"unknown category {category_id!r}")
        for region in self.region_chain(region_id):
            rule = self._rules.get((category_id, region))
            if rule is not None:
                return rule
        return None

    def route(self, category_id: str, region_id: str | None) -> Department:
        """The department that handles this category in this region (see :meth:`rule_for`)."""
        rule = self.rule_for(category_id, region_id)
        return self.fallback if rule is None else self._departments[rule.department]

    def fallback_pairs(self) -> list[tuple[Category, Region]]:
        """Every category × region pair no rule covers, in file order."""
        return [
            (category, region)
            for category in self.categories
            for region in self.regions
            if self.rule_for(category.id, region.id) is None
        ]
