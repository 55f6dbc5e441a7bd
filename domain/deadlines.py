"""When a running ticket is due, and what the scheduler does about it on a given day.

Two deadlines run for a ticket (``docs/METRICS.md`` counts by them too):
- **签收** (sign for it): a ticket that reached a department — filed and routed, 转办, 改派 —
  is to be signed for within ``sign_workdays`` working days after the China day it
  arrived (the office's rule: ``LIANXIN_SIGN_WORKDAYS``, default 1);
- **答复** (answer it): the ticket's due date (``due_on``), counted when it was filed or
  dispatched, moved by an approved extension.

On a working day, the scheduler reminds the department once per deadline on the working
day before it (not on the day the ticket arrived: its notice has just gone), and, from
the working day after a deadline, presses it with a **督办** once a day while it stays
unmet. A ticket waiting for the office (an extension asked for, an answer under review)
gets neither: the office has it (its 待办, and the approval queue of ``/metrics``).
Weekends and holidays get neither; nor do the hours before ``alerts_hour`` China time
(the office's morning).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from domain.tickets import Action, Pending, Status, TicketRecord
from domain.workdays import CHINA, Calendar, add_workdays, deadline, local_day, working


class Due(StrEnum):
    SIGN = "sign"  # 签收
    ANSWER = "answer"  # 答复


# the statuses each deadline runs in
RUNS_IN = {Due.SIGN: frozenset({Status.DISPATCHED}),
           Due.ANSWER: frozenset({Status.IN_PROGRESS, Status.REOPENED})}
WATCHED = frozenset().union(*RUNS_IN.values())
# the moves by which a ticket reaches a department besides filing (whose routing records
# no action): 转办, 改派 — not a 督办, which leaves it where it is
ARRIVING = (Action.DISPATCH.value, Action.REDISPATCH.value)


def arrives(to_status: str, action: str | None) -> bool:
    """Whether a timeline event is the ticket reaching a department (its 签收 time runs
    from the China day of the last one)."""
    return to_status == Status.DISPATCHED.value and (action is None or action in ARRIVING)


@dataclass(frozen=True, slots=True)
class Deadline:
    due: Due
    day: date  # the last day it may be met on (China's date)
    arrived: date  # the China day the ticket reached its department


def deadline_of(ticket: TicketRecord, arrived_at: datetime, calendar: Calendar,
                sign_workdays: int) -> Deadline | None:
    """The deadline the department must meet now (``None``: none runs, its date is not
    known, or the ticket waits for the office — an extension asked for, an answer under
    review — and nothing is the department's to do until it decides)."""
    if ticket.pending is not Pending.NOTHING:
        return None
    return deadline_for(ticket.status, ticket.due_on, arrived_at, calendar, sign_workdays)


def deadline_for(status: Status, due_on: date | None, arrived_at: datetime,
                 calendar: Calendar, sign_workdays: int) -> Deadline | None:
    """:func:`deadline_of` a ticket in ``status``, due ``due_on``, that reached its
    department at ``arrived_at``."""
    arrived = local_day(arrived_at)
    if status in RUNS_IN[Due.SIGN]:
        return Deadline(Due.SIGN, deadline(arrived, sign_workdays, calendar).day, arrived)
    if status in RUNS_IN[Due.ANSWER] and due_on is not None:
        return Deadline(Due.ANSWER, due_on, arrived)
    return None


def remind_on(due: Deadline, today: date, calendar: Calendar) -> bool:
    """Whether today is the day to remind the department of ``due``: a working day before
    the deadline, with no working day between them, other than the day it arrived."""
    if not (due.arrived < today < due.day) or not working(today, calendar):
        return False
    return deadline(today, 1, calendar).day >= due.day


def overdue_on(due: Deadline, today: date, calendar: Calendar) -> bool:
    """Whether today is a working day after the deadline (a 督办 is due today)."""
    return today > due.day and working(today, calendar)


def office_hours(now: datetime, alerts_hour: int) -> bool:
    """Whether alerts may go at ``now``: from ``alerts_hour`` o'clock, China time."""
    return now.astimezone(CHINA).hour >= alerts_hour


class Urgency(StrEnum):
    """Where a running ticket stands against its due date (the console's 待办)."""

    OVERDUE = "overdue"  # past its due date
    TODAY = "today"  # due today
    SOON = "soon"  # due within SOON_WORKDAYS working days after today
    LATER = "later"
    UNDATED = "undated"  # no due date (waiting for the office, or an unknown year)


SOON_WORKDAYS = 2


def urgency(due_on: date | None, today: date, calendar: Calendar) -> Urgency:
    if due_on is None:
        return Urgency.UNDATED
    if due_on < today:
        return Urgency.OVERDUE
    if due_on == today:
        return Urgency.TODAY
    if due_on <= add_workdays(today, SOON_WORKDAYS, calendar):
        return Urgency.SOON
    return Urgency.LATER
