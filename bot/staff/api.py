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
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.staff import office
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
from bot.staff.office import CITIZENS_ONLY, ID_MAX, Refused
from bot.staff.openapi import Parameter, Route, document
from bot.staff.services import Services
from domain.catalogue import Catalogue
from domain.display import department_name
from domain.staff import StaffRecord
from domain.texts import Texts
from domain.tickets import Action, TicketEventRecord, TicketRecord
from storage.staff import StaffAccounts

__all__ = ["SERVICES", "ApiError", "Services", "staff_api"]


SERVICES = web.AppKey("staff_services", Services)
STAFF = web.RequestKey("staff", StaffRecord)  # who the token belongs to

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

    @classmethod
    def of(cls, refused: Refused, texts: Texts,
           catalogue: Catalogue | None = None) -> ApiError:
        """The office's refusal as JSON (the ticket as it stands, given a catalogue)."""
        shown = (None if refused.ticket is None or catalogue is None
                 else _ticket_json(refused.ticket, catalogue))
        return cls(refused.status, refused.code, texts, field=refused.field, ticket=shown)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own refusals (no such route, a method the route lacks, a body too
    large) in the API's error shape."""
    try:
        return await handler(request)
    except ApiError:
        raise
    except Refused as refused:  # the office's rules (bot/staff/office.py)
        services = request.app[SERVICES]
        catalogue = (await services.catalogues.get() if refused.ticket is not None
                     else None)
        raise ApiError.of(refused, services.texts, catalogue) from None
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
    """``GET /tickets``: :func:`bot.staff.office.search`'s filters and pages."""
    page = await office.search(request.app[SERVICES], _staff(request), request.query)
    catalogue = await _catalogue(request)
    return _answer(TicketPage(tickets=[_ticket_json(t, catalogue) for t in page.tickets],
                              next_cursor=page.next_cursor))


async def reports(request: web.Request) -> web.Response:
    """``GET /reports``: the figures of the tickets filed from ``from`` to ``to`` (China
    days, both included, at most 366 days), grouped ``by`` department, category, region,
    kind, month or day (or not), as at the end of ``as_of`` (a China day; default now). The
    office sees every department; a handler its own."""
    when, made = await office.report(request.app[SERVICES], _staff(request), request.query)
    by = request.query.get("by") or None
    return _answer(ReportOut.model_validate({"from": when.first, "to": when.last,
        "as_of": when.as_of, "by": by,
        "rows": [ReportRow.model_validate(row.row()) for row in made.sheets[0][1]]}))

async def ticket_detail(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    ticket = await office.ticket(services, _staff(request), request.match_info["ticket_id"])
    return _answer(TicketDetail(
        ticket=_ticket_json(ticket, await _catalogue(request)),
        timeline=[_event_json(e) for e in await services.tickets.events(ticket.id)],
        attachments=[Attachment(media_id=a.media_id, url=a.url)
                     for a in await services.tickets.attachments(ticket.id)]))


async def _catalogue(request: web.Request) -> Catalogue:
    return await office.catalogue(request.app[SERVICES])


async def act(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    staff = _staff(request)
    asking = await office.asked(services, staff, request.match_info["ticket_id"],
                                request.match_info["action"])  # 404/403 before the body
    body = await _body(request)
    after = await office.make(services, staff, asking,
                              office.Move(version=body.version, note=body.note,
                                          department=body.department, due_on=body.due_on,
                                          text=body.text, into=body.into))
    return _answer(TicketAfter(ticket=_ticket_json(after, await _catalogue(request))))

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
               ("by", "department, category, region, kind, month or day"),
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
