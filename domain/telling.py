"""What a ticket's move says, and to whom: the citizen's push and the staff notice.

A move (:class:`Act`) is applied by ``storage/lifecycle.py``; what it tells is worked out
here, from the text catalogue, the same way whoever moved it: the staff API, the
scheduler's automatic dispatch and 督办.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from domain.catalogue import Catalogue
from domain.display import department_name, format_day
from domain.messages import excerpt
from domain.survey import Step, question
from domain.texts import Wording as Texts
from domain.tickets import Action, Move, Party, TicketRecord
from domain.workdays import Calendar, deadline


@dataclass(frozen=True, slots=True)
class Act:
    """One move as the caller asks for it."""

    action: Action
    party: Party
    actor: str  # who, for the timeline: a staff login, "router", "scheduler", "citizen"
    staff_id: int | None = None
    version: int | None = None  # the version the caller saw; None: no check (the system)
    review: bool = False  # the department's answers go to the office first
    note: str = ""  # for staff: a reason, a comment
    department: str | None = None  # dispatch, re-dispatch
    due_on: date | None = None  # the new due date (dispatch, re-dispatch, extension asked)
    due_provisional: bool = False  # … counted through a year not known yet
    # … counted as this many working days after that China day (to count it again once
    # a provisional year is known)
    due_count: tuple[date, int] | None = None
    text: str | None = None  # the answer; an extension's reason
    into: int | None = None  # merge: the earlier ticket's id

    def due_after(self, today: date, days: int | None, calendar: Calendar) -> Act:
        """This move with a fresh due date: ``days`` working days after ``today`` (its
        kind's time, counted anew at 转办, 改派, 重办); unchanged without ``days``."""
        if days is None:
            return self
        due = deadline(today, days, calendar)
        return replace(self, due_on=due.day, due_provisional=due.provisional,
                       due_count=(today, days))


@dataclass(frozen=True, slots=True)
class Told:
    """What the citizen is told of a move: the texts (long ones are split into several
    pushes) and the fields a template fills outside the customer-service window
    (``config/delivery.toml``, purpose ``ticket_status``: ticket_no, department, status,
    time)."""

    texts: Sequence[str]
    fields: dict[str, str]
    staff: str | None = None  # the staff notice, for a move that makes one (NOTICES)
    survey: str | None = None  # the survey's question, for a move that asks one (办结)
    survey_label: str = ""  # … in a few words, for the template


Tell = Callable[[TicketRecord, Move, Act, str | None], Told]
"""What to tell the citizen of a move (used when it tells them), and the staff notice of
one that makes one; the last argument is what the move carries for them: the answer's
text when it goes out (答复, 审核通过), the number of the ticket it was merged into (并单)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A staff notice a move makes: its kind (``staff_notice_{kind}`` in the text
    catalogue), and who gets it: the handlers of the ticket's department, the office's
    supervisors, or both."""

    kind: str
    department: bool
    office: bool


NOTICE_REASON = 200  # characters of a reason a staff notice shows

NOTICES = {
    Action.DISPATCH: Notice("dispatched", department=True, office=False),
    Action.REDISPATCH: Notice("dispatched", department=True, office=False),
    Action.RETURN: Notice("returned", department=False, office=True),
    Action.REQUEST_EXTENSION: Notice("extension", department=False, office=True),
    Action.ANSWER: Notice("review", department=False, office=True),  # to review only
    Action.SUPERVISE: Notice("supervise", department=True, office=True),
    Action.REOPEN: Notice("reopened", department=True, office=True),
}


def teller(texts: Texts, catalogue: Catalogue) -> Tell:
    """What a move tells, worded by ``texts``: the citizen's push is
    ``ticket_push_{action}``, the staff notice ``staff_notice_{kind}``; ``act.note`` is
    the reason either may name."""

    def tell(ticket: TicketRecord, move: Move, act: Act, detail: str | None) -> Told:
        due = "" if ticket.due_on is None else format_day(texts, ticket.due_on)
        if ticket.due_provisional:
            due = texts("date_provisional", date=due)
        department = department_name(catalogue, ticket.department)
        said = ([texts(f"ticket_push_{act.action.value}", number=ticket.number,
                       department=department, date=due, answer=detail or "",
                       into=detail or "", reason=act.note)]
                if move.tells_citizen else [])
        notice = NOTICES.get(act.action)
        # a notice names the reason, not all of it (a comment, a note may run long): the
        # timeline and the API keep it whole
        staff = (texts(f"staff_notice_{notice.kind}", number=ticket.number,
                       department=department, date=due,
                       summary=excerpt(ticket.description, 40),
                       reason=excerpt(act.note, NOTICE_REASON))
                 if notice is not None else None)
        status = texts(ticket.status.label_key)
        survey = (question(texts, Step.RATING, ticket.number)
                  if act.action is Action.CLOSE else None)
        return Told(said, {"ticket_no": ticket.number, "status": status,
                           "department": department, "time": ticket.created_at.isoformat()},
                    staff=staff, survey=survey,
                    survey_label=texts("survey_template_rating") if survey else "")

    return tell
