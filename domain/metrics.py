"""The figures the office publishes, computed from tickets and their timelines: pure, so
that a test can put a set of tickets in and compare every figure with one worked out by
hand. ``docs/METRICS.md`` states each rule in words; this module is that page in code.

A ticket belongs to a report by the China day it was filed (``--from``/``--to``,
inclusive), to a month by it too, and to the department it is with when the report is
made. Figures are as they stood at ``as_of``: events after it are not seen, and a
ticket's status, due date and rating are read from its timeline at ``as_of``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from domain.deadlines import arrives, deadline_for
from domain.survey import SATISFIED
from domain.tickets import Action, Status
from domain.workdays import Calendar, deadline, local_day, workdays_between

# not worked by a department, so outside every rate (they still count in the volume)
SET_ASIDE = frozenset({Status.WITHDRAWN, Status.MERGED, Status.REJECTED})


class Grouping(StrEnum):
    DEPARTMENT = "department"
    CATEGORY = "category"
    REGION = "region"
    KIND = "kind"
    MONTH = "month"
    DAY = "day"  # the China day it was filed (the console's volume per day)


@dataclass(frozen=True, slots=True)
class EventFact:
    action: str | None  # domain.tickets.Action, None for filing and routing
    to_status: str
    at: datetime  # aware
    due_on: date | None = None  # the due date after the move
    note: str = ""  # a rating's value (评价), a reason


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """A ticket as the reports see it: its timeline, and where it stands now (the
    figures read its status, due date and rating at ``as_of`` from the timeline; its
    department is the one it is with now)."""

    number: str
    kind: str
    category: str
    region: str | None
    department: str
    status: Status  # now (as the report is made)
    created_at: datetime  # aware
    due_on: date | None  # now
    events: tuple[EventFact, ...]

    def key(self, grouping: Grouping) -> str:
        if grouping is Grouping.MONTH:
            return f"{local_day(self.created_at):%Y-%m}"
        if grouping is Grouping.DAY:
            return f"{local_day(self.created_at):%Y-%m-%d}"
        value = getattr(self, grouping.value)
        return "" if value is None else str(value)


def _rounded(part: int, whole: int, places: int) -> float:
    """``part / whole`` to ``places`` decimal places, halves up (0.625 → 0.63), as one
    checks by hand; exact in decimal, then a float."""
    exact = Decimal(part) / Decimal(whole)
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def ratio(part: int, whole: int) -> float | None:
    """``part / whole`` to four places, ``None`` for nothing to divide by."""
    return None if whole == 0 else _rounded(part, whole, 4)


def p90(values: Sequence[int]) -> int | None:
    """The 90th percentile by nearest rank: the smallest value that at least 90 % of the
    values do not exceed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def mean(values: Sequence[int]) -> float | None:
    """The average to two places (halves up), ``None`` for no values."""
    return None if not values else _rounded(sum(values), len(values), 2)


@dataclass(slots=True)
class Figures:
    """One row of a report: the counts, and the rates and times made from them."""

    group: str
    volume: int = 0  # filed
    set_aside: int = 0  # withdrawn, merged or rejected (in the volume only)
    reached: int = 0  # reached a department
    returned: int = 0  # sent back at least once (退单)
    sign_due: int = 0  # signed for, or unsigned past the sign-for deadline
    signed_on_time: int = 0
    answer_due: int = 0  # answered, or unanswered past the due date
    answered_on_time: int = 0
    closed: int = 0  # closed at least once (办结)
    rated: int = 0
    satisfied: int = 0  # rated 4 or 5
    reopened: int = 0  # 不满意重办 at least once
    overdue_now: int = 0
    supervised: int = 0  # 督办 events
    sign_days: list[int] = field(default_factory=list)
    answer_days: list[int] = field(default_factory=list)

    @property
    def sign_rate(self) -> float | None:  # 按时签收率
        return ratio(self.signed_on_time, self.sign_due)

    @property
    def answer_rate(self) -> float | None:  # 按期办结率
        return ratio(self.answered_on_time, self.answer_due)

    @property
    def satisfaction(self) -> float | None:  # 满意率
        return ratio(self.satisfied, self.rated)

    @property
    def participation(self) -> float | None:  # 参评率
        return ratio(self.rated, self.closed)

    @property
    def redo_rate(self) -> float | None:  # 重办率
        return ratio(self.reopened, self.closed)

    @property
    def return_rate(self) -> float | None:  # 退单率
        return ratio(self.returned, self.reached)

    def row(self) -> dict[str, object]:
        """The figures by column name (:data:`COLUMNS`), in order."""
        return {
            "group": self.group, "volume": self.volume, "set_aside": self.set_aside,
            "sign_due": self.sign_due, "signed_on_time": self.signed_on_time,
            "sign_rate": self.sign_rate, "answer_due": self.answer_due,
            "answered_on_time": self.answered_on_time, "answer_rate": self.answer_rate,
            "closed": self.closed, "rated": self.rated, "satisfied": self.satisfied,
            "satisfaction": self.satisfaction, "participation": self.participation,
            "reopened": self.reopened, "redo_rate": self.redo_rate, "reached": self.reached,
            "returned": self.returned, "return_rate": self.return_rate,
            "sign_days_mean": mean(self.sign_days), "sign_days_p90": p90(self.sign_days),
            "answer_days_mean": mean(self.answer_days),
            "answer_days_p90": p90(self.answer_days),
            "overdue_now": self.overdue_now, "supervised": self.supervised,
        }


COLUMNS = tuple(Figures("").row())
RATES = frozenset({"sign_rate", "answer_rate", "satisfaction", "participation", "redo_rate",
                   "return_rate"})


@dataclass(frozen=True, slots=True)
class Rules:
    """What the figures are counted by."""

    calendar: Calendar
    sign_workdays: int
    as_of: datetime  # aware: events after it are not seen; "overdue now" is at it


def add(figures: Figures, ticket: TicketFacts, rules: Rules) -> None:
    """Count ``ticket`` into ``figures`` (the rules of docs/METRICS.md)."""
    events = [e for e in ticket.events if e.at <= rules.as_of]
    if not events:  # filed after as_of
        return
    # where it stood at as_of, from its timeline: a report made again later agrees
    status = Status(events[-1].to_status)
    due_on = next((e.due_on for e in reversed(events) if e.due_on is not None),
                  ticket.due_on)
    rated = [e.note for e in events if e.action == Action.RATE.value and e.note.isdigit()]
    rating = int(rated[-1]) if rated else None
    figures.volume += 1
    if status in SET_ASIDE:
        figures.set_aside += 1
        return
    today = local_day(rules.as_of)
    filed = local_day(ticket.created_at)
    arrivals = [e for e in events if arrives(e.to_status, e.action)]
    actions = [e.action for e in events]
    if arrivals:
        figures.reached += 1
    if Action.RETURN.value in actions:
        figures.returned += 1
    figures.supervised += actions.count(Action.SUPERVISE.value)

    # the deadline that runs for it at as_of (domain/deadlines.py), from its last arrival
    running = (deadline_for(status, due_on, arrivals[-1].at, rules.calendar,
                            rules.sign_workdays) if arrivals else None)

    # 签收: the first signing, against the deadline counted from the arrival before it
    sign = next((e for e in events if e.action == Action.SIGN.value), None)
    if sign is not None:
        arrived = local_day(max(a.at for a in arrivals if a.at <= sign.at))
        due = deadline(arrived, rules.sign_workdays, rules.calendar).day
        figures.sign_due += 1
        figures.signed_on_time += local_day(sign.at) <= due
        figures.sign_days.append(workdays_between(arrived, local_day(sign.at), rules.calendar,
                                                  provisional=True))
    elif status is Status.DISPATCHED and running is not None:
        figures.sign_due += today > running.day  # late whenever it is signed

    # 办结: the first answer that reached the citizen, against the due date then
    answer = next((e for e in events if e.to_status == Status.REPLIED.value), None)
    if answer is not None:
        due_then = answer.due_on or due_on
        figures.answer_due += 1
        figures.answered_on_time += due_then is None or local_day(answer.at) <= due_then
        figures.answer_days.append(workdays_between(filed, local_day(answer.at),
                                                    rules.calendar, provisional=True))
    elif due_on is not None and today > due_on and status in (
            Status.IN_PROGRESS, Status.DISPATCHED, Status.SUBMITTED, Status.RETURNED):
        figures.answer_due += 1
    if running is not None and today > running.day:  # overdue now
        figures.overdue_now += 1

    if Action.CLOSE.value in actions:
        figures.closed += 1
    if rating is not None:
        figures.rated += 1
        figures.satisfied += rating >= SATISFIED
    if Action.REOPEN.value in actions:
        figures.reopened += 1


def report(tickets: Iterable[TicketFacts], rules: Rules, grouping: Grouping | None, *,
           label: Callable[[str], str] = str, total: str = "*") -> list[Figures]:
    """The figures per group (``None``: one row for all), in the order of the groups'
    keys, then a row for all named ``total``; ``label`` names a group by its key."""
    rows: dict[str, Figures] = {}
    whole = Figures(total)
    for ticket in tickets:
        if grouping is not None:
            key = ticket.key(grouping)
            add(rows.setdefault(key, Figures(label(key))), ticket, rules)
        add(whole, ticket, rules)
    return [rows[key] for key in sorted(rows)] + [whole]
