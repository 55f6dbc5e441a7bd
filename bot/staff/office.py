"""What the office may do, and the checks that say who may do it: one set of functions
that the staff API (JSON, ``bot/staff/api.py``) and the web console (HTML,
``bot/console/``) both call, so a page can never see or do what the API would refuse.

A refusal is :class:`Refused`: the HTTP status, a code (the text catalogue's
``api_error_<code>``), the field at fault and, for a conflict, the ticket as it stands
now. Each caller renders it in its own form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.reports import Report, build, build_consultations
from bot.staff.services import Services
from domain.catalogue import Catalogue
from domain.consult_metrics import ConsultGrouping
from domain.consultation import LawyerRecord
from domain.metrics import Grouping, Rules
from domain.staff import Role, StaffRecord
from domain.telling import Act, teller
from domain.tickets import MOVES, Action, MoveRefused, Party, Status, TicketRecord
from domain.tickets import allowed as allowed_actions
from domain.workdays import china_midnight, end_of_china_day, today_in_china
from storage.lawyers import UnknownLawyer
from storage.lifecycle import MoveIncomplete, VersionConflict

ID_MAX = 2**63 - 1  # ids are signed 64-bit in the database
YEARS = range(2000, 2101)  # the dates a query or body may name
PAGE_MAX = 200

_PARTY = {Role.HANDLER: Party.HANDLER, Role.SUPERVISOR: Party.SUPERVISOR}
# the citizen's own moves (受理, 撤回, 评价, 重办): made in WeChat, never by staff
CITIZENS_ONLY = frozenset(m.action for m in MOVES if m.parties == {Party.CITIZEN})


class Refused(Exception):
    """The office may not do this: ``status`` (HTTP), ``code`` (``api_error_<code>`` in
    the text catalogue), the ``field`` at fault, the ``ticket`` as it stands now."""

    def __init__(self, status: int, code: str, *, field: str | None = None,
                 ticket: TicketRecord | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.field, self.ticket = status, code, field, ticket


def only(staff: StaffRecord, *roles: Role) -> None:
    if staff.role not in roles:
        raise Refused(403, "role")


def own_departments(staff: StaffRecord) -> frozenset[str] | None:
    """The departments whose tickets ``staff`` works: a handler's own; ``None``, all, for
    the office."""
    return (frozenset({staff.department}) if staff.role is Role.HANDLER and staff.department
            else None)


def visible(staff: StaffRecord, ticket: TicketRecord | None) -> TicketRecord:
    """The ticket if ``staff`` may see it; 404 as for none at all (an admin: 403, no
    ticket is an admin's)."""
    if staff.role is Role.ADMIN:
        raise Refused(403, "role")
    if ticket is None or not staff.sees_department(ticket.department):
        raise Refused(404, "not_found")
    return ticket


def ticket_id(raw: str) -> int:
    """A ticket id from a path; 404 for anything that cannot be one."""
    if not (raw.isascii() and raw.isdecimal() and len(raw) <= 19) or not 0 < int(raw) <= ID_MAX:
        raise Refused(404, "not_found")
    return int(raw)


async def catalogue(services: Services) -> Catalogue:
    """The routing catalogue; without one loaded the office has nothing to work with."""
    found = await services.catalogues.get()
    if found is None:
        raise Refused(409, "no_catalogue")
    return found


async def ticket(services: Services, staff: StaffRecord, raw_id: str) -> TicketRecord:
    """The ticket at ``raw_id`` (a path segment) if ``staff`` may see it."""
    return visible(staff, await services.tickets.get(ticket_id(raw_id)))


def query_day(query: Mapping[str, str], field: str, *, required: bool = False) -> date | None:
    """The China day in the query's ``field`` (``YYYY-MM-DD``); ``None`` when it is not
    given and not ``required``; 422 naming the field when it is no such day."""
    value = query.get(field, "")
    if not value and not required:
        return None
    try:
        found = date.fromisoformat(value)
    except ValueError:
        raise Refused(422, "bad_query", field=field) from None
    if found.year not in YEARS:
        raise Refused(422, "bad_query", field=field)
    return found


@dataclass(frozen=True, slots=True)
class Page:
    tickets: list[TicketRecord]
    next_cursor: str | None


async def search(services: Services, staff: StaffRecord, query: Mapping[str, str]) -> Page:
    """Tickets ``staff`` may see, newest first, ``limit`` (1–200, default 50) at a time,
    the next page from ``cursor``; filters ``status`` (comma-separated), ``department``
    (the office only: a handler's list is its department's), ``kind``, ``category``,
    ``region``, ``overdue=true`` (running and past its due date, China's today),
    ``due_before``, ``q`` (in the number or the description), ``created_from`` /
    ``created_to`` (China days, both included)."""
    if staff.role is Role.ADMIN:
        raise Refused(403, "role")

    def bad(field: str) -> Refused:
        return Refused(422, "bad_query", field=field)

    for name, value in query.items():
        if "\x00" in value:  # no text of ours holds one (PostgreSQL refuses them)
            raise bad(name)
    raw_limit = query.get("limit", "50")
    if not (raw_limit.isascii() and raw_limit.isdecimal() and len(raw_limit) <= 4):
        raise bad("limit")
    limit = int(raw_limit)
    if not 1 <= limit <= PAGE_MAX:
        raise bad("limit")
    cursor = query.get("cursor")
    if cursor and not (cursor.isascii() and cursor.isdecimal() and len(cursor) <= 19
                       and 0 < int(cursor) <= ID_MAX):
        raise bad("cursor")
    statuses = None
    if query.get("status"):
        try:
            statuses = frozenset(Status(v) for v in query["status"].split(","))
        except ValueError:
            raise bad("status") from None
        if not all(s.known for s in statuses):
            raise bad("status")
    departments = own_departments(staff)
    if query.get("department"):
        if departments is not None and query["department"] not in departments:
            raise Refused(404, "not_found")  # another department's: not yours
        departments = frozenset({query["department"]})
    overdue = query.get("overdue", "") in ("true", "1")
    due_before = query_day(query, "due_before")
    today = today_in_china(services.now())
    if overdue:
        due_before = today if due_before is None else min(due_before, today)
    created_from = query_day(query, "created_from")
    created_to = query_day(query, "created_to")
    found = await services.tickets.search(
        departments=departments, statuses=statuses, kind=query.get("kind") or None,
        category=query.get("category") or None, region=query.get("region") or None,
        due_before=due_before, running=overdue, text=(query.get("q") or "").strip() or None,
        created_from=None if created_from is None else china_midnight(created_from),
        created_before=(None if created_to is None
                        else china_midnight(created_to + timedelta(days=1))),
        before_id=int(cursor) if cursor else None, limit=limit)
    return Page(found, str(found[-1].id) if len(found) == limit else None)


@dataclass(frozen=True, slots=True)
class Period:
    first: date
    last: date
    as_of: datetime


def period(services: Services, query: Mapping[str, str]) -> Period:
    """A report's ``from`` and ``to`` (China days, both included, at most 366 days apart)
    and the moment it is made as of (the end of ``as_of``, a China day; default now)."""
    first = query_day(query, "from", required=True)
    last = query_day(query, "to", required=True)
    as_of_day = query_day(query, "as_of")
    assert first is not None and last is not None
    if last < first or (last - first).days > 366:
        raise Refused(422, "bad_query", field="to")
    return Period(first, last, end_of_china_day(as_of_day) if as_of_day is not None
                  else services.now())


async def report(services: Services, staff: StaffRecord, query: Mapping[str, str],
                 groupings: list[Grouping | None] | None = None) -> tuple[Period, Report]:
    """The ticket figures of the period in ``query``, grouped ``by`` (or as
    ``groupings``): every department for the office, a handler's own."""
    if staff.role is Role.ADMIN:
        raise Refused(403, "role")
    when = period(services, query)
    if groupings is None:
        try:
            groupings = [Grouping(query["by"]) if query.get("by") else None]
        except ValueError:
            raise Refused(422, "bad_query", field="by") from None
    facts = await services.reports.facts(when.first, when.last,
                                         departments=own_departments(staff))
    made = build(facts, Rules(services.calendar, services.sign_workdays, when.as_of),
                 groupings, await services.catalogues.get(), services.texts, when.first,
                 when.last)
    return when, made


async def consultation_report(services: Services, staff: StaffRecord,
                              query: Mapping[str, str]) -> tuple[Period, Report]:
    """The legal consultation's figures (the office and admins)."""
    only(staff, Role.SUPERVISOR, Role.ADMIN)
    when = period(services, query)
    try:
        grouping = ConsultGrouping(query["by"]) if query.get("by") else None
    except ValueError:
        raise Refused(422, "bad_query", field="by") from None
    made = build_consultations(
        await services.reports.consultation_facts(when.first, when.last), when.as_of,
        [grouping], await services.catalogues.get(), await services.reports.lawyer_names(),
        services.texts, when.first, when.last)
    return when, made


@dataclass(frozen=True, slots=True)
class Move:
    """What a member of staff asks of a ticket (the API's body, the console's form)."""

    version: int
    note: str = ""
    department: str | None = None
    due_on: date | None = None
    text: str | None = None
    into: int | None = None


def allowed(staff: StaffRecord, ticket: TicketRecord, reviewed: bool) -> list[Action]:
    """The actions ``staff`` may take on ``ticket`` as it stands (the console's buttons);
    the lifecycle decides again when one is taken."""
    party = _PARTY.get(staff.role)
    if party is None or not staff.sees_department(ticket.department):
        return []
    return [a for a in allowed_actions(ticket.status, ticket.pending, party, review=reviewed)
            if a not in CITIZENS_ONLY
            and (a is not Action.WITHHOLD or (ticket.public and ticket.withheld is None))]


def reviewed(catalogue: Catalogue, department: str) -> bool:
    """Does the office review this department's answers before they reach the citizen?"""
    return any(d.id == department and d.reviews_answers for d in catalogue.departments)


@dataclass(frozen=True, slots=True)
class Asked:
    """A move ``staff`` may ask for (:func:`asked`): the action, their party, the ticket."""

    action: Action
    party: Party
    ticket: TicketRecord


async def asked(services: Services, staff: StaffRecord, raw_id: str,
                action_name: str) -> Asked:
    """The action named and the ticket at ``raw_id`` if ``staff`` may ask for it at all:
    404 for no such action or ticket (or another department's), 403 for a role that
    never may. What the move carries is checked by :func:`make`."""
    try:
        action = Action(action_name)
    except ValueError:
        raise Refused(404, "not_found") from None
    party = _PARTY.get(staff.role)
    if party is None or action in CITIZENS_ONLY:
        raise Refused(403, "role")
    return Asked(action, party, await ticket(services, staff, raw_id))


async def act(services: Services, staff: StaffRecord, raw_id: str, action_name: str,
              move: Move) -> TicketRecord:
    """Move the ticket at ``raw_id`` by ``action_name`` for ``staff`` (docs/LIFECYCLE.md);
    the ticket after the move."""
    return await make(services, staff, await asked(services, staff, raw_id, action_name),
                      move)


async def make(services: Services, staff: StaffRecord, asking: Asked,
               move: Move) -> TicketRecord:
    """Make the move asked for; the ticket after it. 409 with the ticket as it is now when
    its state does not allow it or someone acted first."""
    action, party, found = asking.action, asking.party, asking.ticket
    known = await catalogue(services)
    if move.department is not None and move.department not in {
            d.id for d in known.departments}:
        raise Refused(422, "bad_body", field="department")
    if action is Action.REDISPATCH and move.department == found.department:
        raise Refused(422, "bad_body", field="department")  # it is there already
    if action is Action.WITHHOLD and (not found.public or found.withheld is not None):
        raise Refused(409, "not_on_board", ticket=found)  # nothing to keep off the board
    today = today_in_china(services.now())
    if action is Action.REQUEST_EXTENSION and found.due_on is not None \
            and today > found.due_on:  # asked before the deadline, not after it
        raise Refused(422, "bad_body", field="due_on")
    # a date only where the action asks for one: 申请延期
    step = Act(action, party, staff.login, staff_id=staff.id, version=move.version,
               review=reviewed(known, found.department), note=move.note,
               department=move.department,
               due_on=move.due_on if action is Action.REQUEST_EXTENSION else None,
               text=move.text, into=move.into)
    if action is Action.DISPATCH or (action is Action.REDISPATCH
                                     and not services.keeps_due_date):
        # the new department's time runs from the day after it gets the ticket
        step = step.due_after(today, known.deadlines.get(found.kind), services.calendar)
    try:
        return await services.moves.act(found.id, step, teller(services.texts, known),
                                         now=services.now())
    except VersionConflict as exc:
        raise Refused(409, "conflict", ticket=_shown(staff, exc.current)) from None
    except MoveRefused as exc:
        code = "role" if exc.reason == "party" else "state"
        current = await services.tickets.get(found.id)
        assert current is not None
        raise Refused(403 if code == "role" else 409, code,
                      ticket=_shown(staff, current)) from None
    except MoveIncomplete as exc:
        raise Refused(422, "bad_body", field=exc.field) from None


def _shown(staff: StaffRecord, ticket: TicketRecord) -> TicketRecord:
    """The ticket as it stands now, for a 409; 404 instead when it has meanwhile gone to
    a department the caller does not see (the office re-dispatched it)."""
    if not staff.sees_department(ticket.department):
        raise Refused(404, "not_found")
    return ticket


# -- duty lawyers (admins) ----------------------------------------------------------------

LAWYER_ID_MAX = 2**31 - 1


def lawyer_id(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) \
            or not 0 < int(raw) <= LAWYER_ID_MAX:
        raise Refused(404, "lawyer_not_found")
    return int(raw)


async def invite_lawyer(services: Services, staff: StaffRecord,
                        raw_id: str) -> tuple[LawyerRecord, str, datetime]:
    """A new invite code for the lawyer (a lost or expired one)."""
    only(staff, Role.ADMIN)
    lawyer = await services.lawyers.get(lawyer_id(raw_id))
    if lawyer is None:
        raise Refused(404, "lawyer_not_found")
    if not lawyer.active:
        raise Refused(409, "lawyer_disabled")
    code, expires = await services.lawyers.invite(lawyer.id)
    return lawyer, code, expires


async def set_lawyer_active(services: Services, staff: StaffRecord, raw_id: str,
                            active: bool) -> None:
    """Disable a lawyer (what they held goes back to the queue, each citizen told) or
    enable them again."""
    only(staff, Role.ADMIN)
    texts = services.texts
    try:
        await services.lawyers.set_active(lawyer_id(raw_id), active)
    except UnknownLawyer:
        raise Refused(404, "lawyer_not_found") from None
    if not active:  # what they held goes back (else the scheduler's job does it)
        await services.consultations.give_back_inactive(services.now(), lambda c: texts(
            "consult_reassigned_citizen", number=c.number))
