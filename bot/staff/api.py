"""The staff HTTP API under ``/api/v1`` (work in progress: tickets, their detail and the
lifecycle's actions; the OpenAPI document, filters and notifications follow).

Every request but ``/api/v1/openapi.json`` carries ``Authorization: Bearer <token>`` (a
token from ``lianxin staff token create``). A handler sees its own department's tickets
only: another department's ticket is 404, as one that does not exist. An error is JSON,
``{"error": {"code", "message": {"zh", "en"}, "field"?}}``: 401 no or bad token, 403 the
role may not, 404 not found or not yours, 409 the ticket's state does not allow it or
someone acted first (with the ticket as it is now), 422 a bad body naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, timedelta

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.reports import build
from bot.staff.models import (
    ActionBody,
    Attachment,
    BindCode,
    CatalogueOut,
    CategoryOut,
    DepartmentOut,
    Done,
    ErrorBody,
    ErrorOut,
    EventOut,
    Location,
    Me,
    Message,
    NoticeList,
    NoticeOut,
    OpenApi,
    RegionOut,
    ReportOut,
    ReportRow,
    TicketAfter,
    TicketDetail,
    TicketOut,
    TicketPage,
)
from bot.staff.openapi import Parameter, Route, document
from domain.catalogue import Catalogue
from domain.display import department_name
from domain.metrics import Grouping, Rules
from domain.staff import Role, StaffRecord
from domain.telling import Act, teller
from domain.texts import Texts
from domain.tickets import (
    MOVES,
    Action,
    MoveRefused,
    Party,
    Status,
    TicketEventRecord,
    TicketRecord,
)
from domain.workdays import Calendar, china_midnight, end_of_china_day, today_in_china
from storage.catalogue_cache import CatalogueCache
from storage.consultations import Consultations
from storage.lawyers import Lawyers
from storage.lifecycle import MoveIncomplete, TicketMoves, VersionConflict
from storage.notices import Notices
from storage.reports import Reports
from storage.staff import StaffAccounts
from storage.tickets import Tickets


class Services:
    """What the API works with, bound once the database engine exists (at start-up, after
    the routes are fixed)."""

    staff: StaffAccounts
    tickets: Tickets
    notices: Notices
    moves: TicketMoves
    texts: Texts
    catalogues: CatalogueCache
    calendar: Calendar
    keeps_due_date: bool  # re-dispatch keeps the citizen's date (docs/LIFECYCLE.md)
    reports: Reports
    lawyers: Lawyers
    consultations: Consultations
    sign_workdays: int  # 签收 within this many working days (docs/METRICS.md)
    now: Callable[[], datetime]  # the time the moves are made at (a test moves it)

    def bind(self, engine: AsyncEngine, texts: Texts, catalogues: CatalogueCache,
             calendar: Calendar, *, keeps_due_date: bool = False,
             sign_workdays: int = 1,
             now: Callable[[], datetime] = lambda: datetime.now(UTC),
             consultations: Consultations | None = None) -> None:
        self.staff, self.tickets = StaffAccounts(engine), Tickets(engine)
        self.notices, self.reports = Notices(engine), Reports(engine)
        self.lawyers = Lawyers(engine)
        self.consultations = consultations or Consultations(engine)
        self.moves, self.texts, self.catalogues = TicketMoves(engine), texts, catalogues
        self.calendar, self.keeps_due_date = calendar, keeps_due_date
        self.sign_workdays, self.now = sign_workdays, now


SERVICES = web.AppKey("staff_services", Services)
STAFF = web.RequestKey("staff", StaffRecord)  # who the token belongs to

_PARTY = {Role.HANDLER: Party.HANDLER, Role.SUPERVISOR: Party.SUPERVISOR}
# the citizen's own moves (受理, 撤回, 评价, 重办): made in WeChat, never through the API
CITIZENS_ONLY = frozenset(m.action for m in MOVES if m.parties == {Party.CITIZEN})


def _answer(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(text=model.model_dump_json(by_alias=True, exclude_none=False),
                        status=status, content_type="application/json")


class ApiError(web.HTTPException):
    """An error answered as JSON (:class:`ErrorOut`): its code, the message in both
    languages, the field at fault (422) and the ticket as it stands now (409)."""

    def __init__(self, status: int, code: str, texts: Texts, *, field: str | None = None,
                 ticket: TicketOut | None = None) -> None:
        self.status_code = status
        body = ErrorOut(error=ErrorBody(
            code=code, message=Message(zh=texts(f"api_error_{code}"),
                                       en=texts(f"api_error_{code}_en")), field=field),
            ticket=ticket)
        shown = body.model_dump(mode="json", by_alias=True)
        if shown["ticket"] is None:
            del shown["ticket"]
        if shown["error"]["field"] is None:
            del shown["error"]["field"]
        super().__init__(text=json.dumps(shown, ensure_ascii=False),
                         content_type="application/json")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own refusals (no such route, a method the route lacks, a body too
    large) in the API's error shape."""
    try:
        return await handler(request)
    except ApiError:
        raise
    except web.HTTPException as exc:
        if exc.status_code < 400:
            raise
        code = {404: "not_found", 405: "method", 413: "too_large"}.get(exc.status_code,
                                                                        "bad_request")
        raise ApiError(exc.status_code, code, request.app[SERVICES].texts) from None


async def bearer(request: web.Request, accounts: StaffAccounts) -> StaffRecord | None:
    """The staff member whose API token the request bears (``Authorization: Bearer …``)."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return await accounts.authenticate(secret.strip()) if scheme.lower() == "bearer" else None


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.route.handler is openapi:
        return await handler(request)  # the document is public
    texts = request.app[SERVICES].texts
    staff = await bearer(request, request.app[SERVICES].staff)
    if staff is None:
        raise ApiError(401, "unauthorized", texts)
    request[STAFF] = staff
    return await handler(request)


def _staff(request: web.Request) -> StaffRecord:
    return request[STAFF]


def _visible(request: web.Request, ticket: TicketRecord | None) -> TicketRecord:
    """The ticket if the caller may see it; 404 as for none at all (an admin: 403, no
    ticket is an admin's)."""
    staff = _staff(request)
    if staff.role is Role.ADMIN:
        raise ApiError(403, "role", request.app[SERVICES].texts)
    if ticket is None or not staff.sees_department(ticket.department):
        raise ApiError(404, "not_found", request.app[SERVICES].texts)
    return ticket


def _ticket_json(ticket: TicketRecord, catalogue: Catalogue) -> TicketOut:
    return TicketOut(
        id=ticket.id, number=ticket.number, kind=ticket.kind, category=ticket.category,
        region=ticket.region, department=ticket.department,
        department_name=department_name(catalogue, ticket.department),
        description=ticket.description, phone=ticket.phone, public=ticket.public,
        location=(None if ticket.latitude is None or ticket.longitude is None else Location(
            latitude=ticket.latitude, longitude=ticket.longitude, place=ticket.place)),
        status=ticket.status.value, pending=ticket.pending.value or None,
        due_on=ticket.due_on, due_provisional=ticket.due_provisional,
        version=ticket.version, merged_into=ticket.merged_into,
        created_at=ticket.created_at)


def _event_json(event: TicketEventRecord) -> EventOut:
    return EventOut.model_validate({
        "at": event.at, "actor": event.actor,
        "action": None if event.action is None else event.action.value,
        "from": None if event.from_status is None else event.from_status.value,
        "to": event.to_status.value, "note": event.note,
        "citizen_text": event.citizen_text})


async def me(request: web.Request) -> web.Response:
    staff = _staff(request)
    return _answer(Me(login=staff.login, display_name=staff.display_name,
                      role=staff.role.value, department=staff.department))


async def list_tickets(request: web.Request) -> web.Response:
    """``GET /tickets``: newest first, ``limit`` (1–200, default 50) at a time, the next
    page from ``cursor``; filters ``status`` (comma-separated), ``department`` (the office
    only: a handler's list is its department's), ``kind``, ``category``, ``region``,
    ``overdue=true`` (running and past its due date, China's today), ``due_before``,
    ``q`` (in the number or the description), ``created_from`` / ``created_to`` (China
    days, both included)."""
    staff, texts = _staff(request), request.app[SERVICES].texts
    if staff.role is Role.ADMIN:
        raise ApiError(403, "role", texts)
    query = request.query

    def bad(field: str) -> ApiError:
        return ApiError(422, "bad_query", texts, field=field)

    for name, value in query.items():
        if "\x00" in value:  # no text of ours holds one (PostgreSQL refuses them)
            raise bad(name)

    try:
        limit = int(query.get("limit", "50"))
    except ValueError:
        raise bad("limit") from None
    if not 1 <= limit <= 200:
        raise bad("limit")
    cursor = query.get("cursor")
    if cursor and not (cursor.isascii() and cursor.isdecimal() and 0 < int(cursor) <= ID_MAX):
        raise bad("cursor")
    statuses = None
    if query.get("status"):
        try:
            statuses = frozenset(Status(v) for v in query["status"].split(","))
        except ValueError:
            raise bad("status") from None
        if not all(s.known for s in statuses):
            raise bad("status")
    departments = (frozenset({staff.department}) if staff.role is Role.HANDLER
                   and staff.department else None)
    if query.get("department"):
        if departments is not None and query["department"] not in departments:
            raise ApiError(404, "not_found", texts)  # another department's: not yours
        departments = frozenset({query["department"]})
    overdue = query.get("overdue", "") in ("true", "1")
    due_before = _query_day(query, "due_before", texts)
    today = today_in_china(request.app[SERVICES].now())
    if overdue:
        due_before = today if due_before is None else min(due_before, today)
    created_from = _query_day(query, "created_from", texts)
    created_to = _query_day(query, "created_to", texts)
    found = await request.app[SERVICES].tickets.search(
        departments=departments, statuses=statuses, kind=query.get("kind") or None,
        category=query.get("category") or None, region=query.get("region") or None,
        due_before=due_before, running=overdue, text=(query.get("q") or "").strip() or None,
        created_from=None if created_from is None else china_midnight(created_from),
        created_before=(None if created_to is None
                        else china_midnight(created_to + timedelta(days=1))),
        before_id=int(cursor) if cursor else None, limit=limit)
    catalogue = await _catalogue(request)
    return _answer(TicketPage(
        tickets=[_ticket_json(t, catalogue) for t in found],
        next_cursor=str(found[-1].id) if len(found) == limit else None))


def _query_day(query: Mapping[str, str], field: str, texts: Texts, *,
               required: bool = False) -> date | None:
    """The China day in the query's ``field`` (``YYYY-MM-DD``); ``None`` when it is not
    given and not ``required``; a 422 naming the field when it is no such day."""
    value = query.get(field, "")
    if not value and not required:
        return None
    try:
        found = date.fromisoformat(value)
    except ValueError:
        raise ApiError(422, "bad_query", texts, field=field) from None
    if found.year not in YEARS:
        raise ApiError(422, "bad_query", texts, field=field)
    return found


def report_period(request: web.Request) -> tuple[date, date, datetime]:
    """A report's ``from`` and ``to`` (China days, both included, at most 366 days apart)
    and the moment it is made as of (the end of ``as_of``, a China day; default now);
    a 422 naming the field at fault."""
    services = request.app[SERVICES]
    query, texts = request.query, services.texts
    first = _query_day(query, "from", texts, required=True)
    last = _query_day(query, "to", texts, required=True)
    as_of_day = _query_day(query, "as_of", texts)
    assert first is not None and last is not None
    if last < first or (last - first).days > 366:
        raise ApiError(422, "bad_query", texts, field="to")
    return first, last, (end_of_china_day(as_of_day) if as_of_day is not None
                         else services.now())


async def reports(request: web.Request) -> web.Response:
    """``GET /reports``: the figures of the tickets filed from ``from`` to ``to`` (China
    days, both included, at most 366 days), grouped ``by`` department, category, region,
    kind or month (or not), as at the end of ``as_of`` (a China day; default now). The
    office sees every department; a handler its own."""
    staff, services = _staff(request), request.app[SERVICES]
    texts, query = services.texts, request.query
    if staff.role is Role.ADMIN:
        raise ApiError(403, "role", texts)

    first, last, as_of = report_period(request)
    try:
        grouping = Grouping(query["by"]) if query.get("by") else None
    except ValueError:
        raise ApiError(422, "bad_query", texts, field="by") from None
    departments = (frozenset({staff.department}) if staff.role is Role.HANDLER
                   and staff.department else None)
    facts = await services.reports.facts(first, last, departments=departments)
    made = build(facts, Rules(services.calendar, services.sign_workdays, as_of), [grouping],
                 await services.catalogues.get(), texts, first, last)
    return _answer(ReportOut.model_validate({"from": first, "to": last, "as_of": as_of,
        "by": None if grouping is None else grouping.value,
        "rows": [ReportRow.model_validate(row.row()) for row in made.sheets[0][1]]}))


async def ticket_detail(request: web.Request) -> web.Response:
    tickets = request.app[SERVICES].tickets
    ticket = _visible(request, await tickets.get(_ticket_id(request)))
    return _answer(TicketDetail(
        ticket=_ticket_json(ticket, await _catalogue(request)),
        timeline=[_event_json(e) for e in await tickets.events(ticket.id)],
        attachments=[Attachment(media_id=a.media_id, url=a.url)
                     for a in await tickets.attachments(ticket.id)]))


async def _catalogue(request: web.Request) -> Catalogue:
    """The routing catalogue (names, departments to dispatch to); without one loaded the
    office has nothing to work with: 409, saying so."""
    found = await request.app[SERVICES].catalogues.get()
    if found is None:
        raise ApiError(409, "no_catalogue", request.app[SERVICES].texts)
    return found


ID_MAX = 2**63 - 1  # ids are signed 64-bit in the database
YEARS = range(2000, 2101)  # the dates a query or body may name


def _ticket_id(request: web.Request) -> int:
    raw = request.match_info["ticket_id"]
    if not (raw.isascii() and raw.isdecimal()) or not 0 < int(raw) <= ID_MAX:
        raise ApiError(404, "not_found", request.app[SERVICES].texts)
    return int(raw)


async def act(request: web.Request) -> web.Response:
    staff, texts = _staff(request), request.app[SERVICES].texts
    try:
        action = Action(request.match_info["action"])
    except ValueError:
        raise ApiError(404, "not_found", texts) from None
    party = _PARTY.get(staff.role)
    if party is None or action in CITIZENS_ONLY:
        raise ApiError(403, "role", texts)
    ticket = _visible(request, await request.app[SERVICES].tickets.get(_ticket_id(request)))
    body = await _body(request)
    catalogue = await _catalogue(request)
    if (body.department is not None
            and body.department not in {d.id for d in catalogue.departments}):
        raise ApiError(422, "bad_body", texts, field="department")
    reviewed = any(d.id == ticket.department and d.reviews_answers
                   for d in catalogue.departments)
    services = request.app[SERVICES]
    if action is Action.REDISPATCH and body.department == ticket.department:
        raise ApiError(422, "bad_body", texts, field="department")  # it is there already
    today = today_in_china(request.app[SERVICES].now())
    if action is Action.REQUEST_EXTENSION and ticket.due_on is not None \
            and today > ticket.due_on:  # asked before the deadline, not after it
        raise ApiError(422, "bad_body", texts, field="due_on")
    # a date from the body only where the action asks for one: 申请延期
    move = Act(action, party, staff.login, staff_id=staff.id, version=body.version,
               review=reviewed, note=body.note, department=body.department,
               due_on=body.due_on if action is Action.REQUEST_EXTENSION else None,
               text=body.text, into=body.into)
    if action is Action.DISPATCH or (action is Action.REDISPATCH
                                     and not services.keeps_due_date):
        # the new department's time runs from the day after it gets the ticket
        move = move.due_after(today, catalogue.deadlines.get(ticket.kind), services.calendar)
    try:
        after = await services.moves.act(ticket.id, move, teller(texts, catalogue),
                                         now=services.now())
    except VersionConflict as exc:
        raise ApiError(409, "conflict", texts,
                       ticket=_shown(staff, exc.current, catalogue, texts)) from None
    except MoveRefused as exc:
        code = "role" if exc.reason == "party" else "state"
        current = await request.app[SERVICES].tickets.get(ticket.id)
        assert current is not None
        raise ApiError(403 if code == "role" else 409, code, texts,
                       ticket=_shown(staff, current, catalogue, texts)) from None
    except MoveIncomplete as exc:
        raise ApiError(422, "bad_body", texts, field=exc.field) from None
    return _answer(TicketAfter(ticket=_ticket_json(after, catalogue)))


def _shown(staff: StaffRecord, ticket: TicketRecord, catalogue: Catalogue,
           texts: Texts) -> TicketOut:
    """The ticket as it stands now, for a 409; 404 instead when it has meanwhile gone to
    a department the caller does not see (the office re-dispatched it)."""
    if not staff.sees_department(ticket.department):
        raise ApiError(404, "not_found", texts)
    return _ticket_json(ticket, catalogue)


async def _body(request: web.Request) -> ActionBody:
    """The action's body, validated by :class:`ActionBody`; 422 naming the first field
    that is wrong (``body`` when it is no JSON object)."""
    raw = await request.read()
    try:
        return ActionBody.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "body"
        if first["type"] in ("json_invalid", "model_type"):
            field = "body"
        raise ApiError(422, "bad_body", request.app[SERVICES].texts, field=field) from None


async def catalogue_(request: web.Request) -> web.Response:
    """``GET /catalogue``: departments, categories and regions, read-only."""
    found = await _catalogue(request)
    return _answer(CatalogueOut(
        county=found.county, deadlines=dict(found.deadlines),
        departments=[DepartmentOut(id=d.id, name=d.name, short_name=d.short_name,
                                   fallback=d.fallback, reviews_answers=d.reviews_answers)
                     for d in found.departments],
        categories=[CategoryOut(id=c.id, name=c.name, order=c.order)
                    for c in found.categories],
        regions=[RegionOut(id=r.id, name=r.name, parent=r.parent) for r in found.regions]))


async def bind_code(request: web.Request) -> web.Response:
    """``POST /me/bind-code``: a one-time code that binds the WeChat user who sends it."""
    code, expires = await request.app[SERVICES].staff.bind_code(_staff(request).login)
    return _answer(BindCode(code=code, expires_at=expires))


async def notifications(request: web.Request) -> web.Response:
    """``GET /notifications``: the caller's notices, newest first (``unread=true``: the
    unread ones only)."""
    staff, notices = _staff(request), request.app[SERVICES].notices
    unread_only = request.query.get("unread", "") in ("true", "1")
    found = await notices.of_staff(staff.id, unread_only=unread_only)
    unread = await notices.unread(staff.id)
    return _answer(NoticeList(notifications=[
        NoticeOut(id=n.id, ticket_id=n.ticket_id, kind=n.kind, text=n.text,
                  created_at=n.created_at, read=n.read) for n in found], unread=unread))


async def read_notification(request: web.Request) -> web.Response:
    """``POST /notifications/{notice_id}/read``."""
    raw = request.match_info["notice_id"]
    notice_id = int(raw) if raw.isascii() and raw.isdecimal() else 0
    if not 0 < notice_id <= ID_MAX or not await request.app[SERVICES].notices.mark_read(
            _staff(request).id, notice_id):
        raise ApiError(404, "not_found", request.app[SERVICES].texts)
    return _answer(Done(ok=True))


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[DOCUMENT])


DOCUMENT = web.AppKey("staff_openapi", dict)
_ID = Parameter("ticket_id", "path", "the ticket's id", {"type": "integer"})
_QUERY = [Parameter(name, "query", what) for name, what in (
    ("status", "statuses, comma-separated"), ("department", "a department id (the office)"),
    ("kind", "投诉, 求助, 咨询, 建议 or 表扬"), ("category", "a category id"),
    ("region", "a region id"), ("overdue", "true: running and past its due date"),
    ("due_before", "YYYY-MM-DD"), ("q", "text in the number or the description"),
    ("created_from", "YYYY-MM-DD, China's day, included"),
    ("created_to", "YYYY-MM-DD, China's day, included"), ("cursor", "the next page"),
    ("limit", "1-200, default 50"))]
_ACTIONS = [a.value for a in Action if a not in CITIZENS_ONLY]

# The API: each route once, with its handler; the OpenAPI document is made from it.
ROUTES: list[tuple[Route, Handler]] = [
    (Route("GET", "/me", "the caller's account", Me), me),
    (Route("GET", "/tickets", "tickets the caller may see, newest first", TicketPage,
           parameters=_QUERY, errors=(401, 403, 404, 409, 422)), list_tickets),
    (Route("GET", "/tickets/{ticket_id}", "a ticket with its timeline and photos",
           TicketDetail, parameters=[_ID], errors=(401, 404, 409)), ticket_detail),
    (Route("POST", "/me/bind-code", "a one-time code to bind a WeChat user (10 minutes)",
           BindCode), bind_code),
    (Route("GET", "/notifications", "the caller's notices, newest first", NoticeList,
           parameters=[Parameter("unread", "query", "true: unread only")]), notifications),
    (Route("POST", "/notifications/{notice_id}/read", "mark a notice read", Done,
           parameters=[Parameter("notice_id", "path", "the notice's id",
                                 {"type": "integer"})], errors=(401, 404)),
     read_notification),
    (Route("GET", "/catalogue", "departments, categories and regions", CatalogueOut,
           errors=(401, 409)), catalogue_),
    (Route("GET", "/reports", "the office's figures for a period (docs/METRICS.md)",
           ReportOut, parameters=[Parameter(name, "query", what) for name, what in (
               ("from", "YYYY-MM-DD, the first China day whose tickets count"),
               ("to", "YYYY-MM-DD, the last, included"),
               ("by", "department, category, region, kind or month"),
               ("as_of", "YYYY-MM-DD: as at the end of that China day (default now)"))],
           errors=(401, 403, 422)), reports),
    (Route("POST", "/tickets/{ticket_id}/{action}", "move the ticket (docs/LIFECYCLE.md)",
           TicketAfter, body=ActionBody,
           parameters=[_ID, Parameter("action", "path", "the lifecycle's action",
                                      {"type": "string", "enum": _ACTIONS})],
           errors=(401, 403, 404, 409, 422)), act),
]


def staff_api(services: Services, version: str = "1") -> web.Application:
    """The API as an application to mount at ``/api/v1`` (``services`` bound before the
    first request), ``/api/v1/openapi.json`` served without a token."""
    from bot.staff.legal import ROUTES as LEGAL  # its handlers use this module's pieces

    routes = [*ROUTES, *LEGAL]
    api = web.Application(middlewares=[json_errors, authenticate])
    api[SERVICES] = services
    table = [route for route, _ in routes]
    table.append(Route("GET", "/openapi.json", "this document", OpenApi, errors=(),
                       public=True))
    api[DOCUMENT] = document(table, version)
    for route, handler in routes:
        api.router.add_route(route.method, route.path, handler)
    api.router.add_get("/openapi.json", openapi)
    return api
