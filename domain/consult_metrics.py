"""The legal consultation's figures (接通率, 满意率 …), computed from consultations and
their timelines: pure, like ``domain/metrics.py`` for tickets; ``docs/METRICS.md`` states
each rule in words.

A consultation belongs to a report by the China day it was asked, to a day by it too, to
an area by its legal area, and to a lawyer by the last lawyer who took it (as at
``as_of``; one never taken is under no lawyer). Figures are as they stood at ``as_of``:
events after it are not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.consultation import Action
from domain.metrics import mean, p90, ratio
from domain.survey import SATISFIED
from domain.workdays import local_day


class ConsultGrouping(StrEnum):
    LAWYER = "lawyer"
    AREA = "area"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class ConsultEvent:
    action: str  # domain.consultation.Action
    at: datetime  # aware
    lawyer_id: int | None = None
    note: str = ""  # a rating's value


@dataclass(frozen=True, slots=True)
class ConsultFacts:
    """A consultation as the reports see it: when it was asked, its area, its timeline,
    and when a lawyer first answered it."""

    number: str
    area: str
    created_at: datetime  # aware
    left_message: bool
    first_answer_at: datetime | None
    events: tuple[ConsultEvent, ...]

    def key(self, grouping: ConsultGrouping, as_of: datetime) -> str:
        if grouping is ConsultGrouping.DAY:
            return f"{local_day(self.created_at):%Y-%m-%d}"
        if grouping is ConsultGrouping.AREA:
            return self.area
        taken = [e.lawyer_id for e in self.events
                 if e.action == Action.TAKEN.value and e.at <= as_of]
        return "" if not taken or taken[-1] is None else f"{taken[-1]:08d}"


def _minutes(start: datetime, end: datetime) -> int:
    """Whole minutes from ``start`` to ``end``, rounded half up (90 s is 2 minutes)."""
    return int((end - start).total_seconds() // 60
               + ((end - start).total_seconds() % 60 >= 30))


@dataclass(slots=True)
class ConsultFigures:
    """One row of the consultation report."""

    group: str
    requested: int = 0  # asked (messages left out of hours too)
    left_messages: int = 0  # of them left out of hours or with nobody on duty
    taken: int = 0  # taken by a lawyer (接通)
    abandoned: int = 0  # left the queue (取消) before a lawyer took them
    ended: int = 0
    returned: int = 0  # given back to the queue (转回, or the lawyer's silence)
    rated: int = 0
    satisfied: int = 0  # rated 4 or 5
    waits: list[int] = field(default_factory=list)  # minutes from asking to taken
    first_answers: list[int] = field(default_factory=list)  # minutes to the first answer
    durations: list[int] = field(default_factory=list)  # minutes from taken to ended

    @property
    def connection_rate(self) -> float | None:  # 接通率
        return ratio(self.taken, self.requested)

    @property
    def abandonment_rate(self) -> float | None:  # 放弃率
        return ratio(self.abandoned, self.requested)

    @property
    def satisfaction(self) -> float | None:  # 满意率
        return ratio(self.satisfied, self.rated)

    def row(self) -> dict[str, object]:
        return {
            "group": self.group, "requested": self.requested,
            "left_messages": self.left_messages, "taken": self.taken,
            "connection_rate": self.connection_rate, "abandoned": self.abandoned,
            "abandonment_rate": self.abandonment_rate, "given_back": self.returned,
            "ended": self.ended, "rated": self.rated, "satisfied": self.satisfied,
            "consult_satisfaction": self.satisfaction,
            "wait_minutes_mean": mean(self.waits), "wait_minutes_p90": p90(self.waits),
            "first_answer_minutes_mean": mean(self.first_answers),
            "first_answer_minutes_p90": p90(self.first_answers),
            "duration_minutes_mean": mean(self.durations),
            "duration_minutes_p90": p90(self.durations),
        }


CONSULT_COLUMNS = tuple(ConsultFigures("").row())
CONSULT_RATES = frozenset({"connection_rate", "abandonment_rate", "consult_satisfaction"})
_ENDS = frozenset({Action.ENDED.value, Action.SILENT.value})


def add(figures: ConsultFigures, consultation: ConsultFacts, as_of: datetime) -> None:
    """Count ``consultation`` into ``figures`` (the rules of docs/METRICS.md)."""
    events = [e for e in consultation.events if e.at <= as_of]
    if consultation.created_at > as_of:
        return
    figures.requested += 1
    figures.left_messages += consultation.left_message
    actions = [e.action for e in events]
    taken = [e for e in events if e.action == Action.TAKEN.value]
    if taken:
        figures.taken += 1
        figures.waits.append(_minutes(consultation.created_at, taken[0].at))
    if Action.ABANDONED.value in actions:
        figures.abandoned += 1
    figures.returned += actions.count(Action.RETURNED.value) + actions.count(
        Action.TIMED_OUT.value)
    answered = consultation.first_answer_at
    if answered is not None and answered <= as_of:
        figures.first_answers.append(_minutes(consultation.created_at, answered))
    end = next((e for e in reversed(events) if e.action in _ENDS), None)
    if end is not None:
        figures.ended += 1
        last_taken = [e for e in taken if e.at <= end.at]
        if last_taken:
            figures.durations.append(_minutes(last_taken[-1].at, end.at))
    ratings = [e.note for e in events if e.action == Action.RATED.value and e.note.isdigit()]
    if ratings:
        figures.rated += 1
        figures.satisfied += int(ratings[-1]) >= SATISFIED


def report(consultations: Iterable[ConsultFacts], as_of: datetime,
           grouping: ConsultGrouping | None, *, label: Callable[[str], str] = str,
           total: str = "*") -> list[ConsultFigures]:
    """The figures per group (``None``: one row for all), in the order of the groups'
    keys, then a row for all named ``total``."""
    rows: dict[str, ConsultFigures] = {}
    whole = ConsultFigures(total)
    for consultation in consultations:
        if grouping is not None:
            key = consultation.key(grouping, as_of)
            add(rows.setdefault(key, ConsultFigures(label(key))), consultation, as_of)
        add(whole, consultation, as_of)
    return [rows[key] for key in sorted(rows)] + [whole]
