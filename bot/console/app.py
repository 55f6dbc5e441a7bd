"""The console as an aiohttp application to mount at ``/console`` (``docs/CONSOLE.md``).

Every page that shows or changes a ticket asks ``bot/staff/office.py`` exactly as the
staff API does; a refusal (:class:`~bot.staff.office.Refused`) becomes a page in Chinese
with the same status. Forms post back with the session's CSRF token and answer with a
redirect (303) to the page that shows the result, or the form again with what is wrong.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import Session, get_session, new_session
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from pydantic import ValidationError

from bot.config import Settings
from bot.reports import Report, as_csv, as_xlsx
from bot.staff import office
from bot.staff.models import ActionBody
from bot.staff.office import Refused
from bot.staff.services import Services
from domain.catalogue import Catalogue
from domain.consultation import ConsultationRecord, LawyerRecord, ProfileError, mask_name
from domain.contact import mask_phones
from domain.deadlines import WATCHED, Deadline, Due, Urgency, deadline_of, urgency
from domain.display import department_name
from domain.messages import excerpt
from domain.metrics import Grouping
from domain.staff import LOGIN, AccountError, Role, StaffRecord
from domain.texts import Texts
from domain.tickets import Action, Status, TicketRecord
from domain.workdays import CHINA, today_in_china
from storage.base import Store
from storage.keys import KeyBuilder
from storage.staff import UnknownAccount

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
PREFIX = "/console"
COOKIE = "lianxin_console"
CSRF_FIELD = "csrf"

SERVICES = web.AppKey("console_services", Services)
STAFF = web.RequestKey("console_staff", StaffRecord)
LAWYER = web.RequestKey("console_lawyer", LawyerRecord)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Setup:
    settings: Settings
    store: Callable[[], Store]  # opened at start-up, after the routes are fixed
    keys: KeyBuilder


SETUP = web.AppKey("console_setup", Setup)


# -- sessions, CSRF, who is signed in -----------------------------------------------------


def session_key(settings: Settings) -> bytes:
    """The 32-byte key of the session cookie: ``LIANXIN_CONSOLE_SECRET``, or a fresh one
    (sessions end when the process does)."""
    if settings.console_secret is not None:
        return base64.urlsafe_b64decode(settings.console_secret.get_secret_value())
    log.info("console: LIANXIN_CONSOLE_SECRET not set, sessions end at restart")
    return secrets.token_bytes(32)


def csrf_token(session: Session) -> str:
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


PUBLIC = frozenset({"login", "login_post", "lawyer_login", "static"})
# what a duty lawyer signed in may open: their own page (read-only)
LAWYER_PAGES = frozenset({"legal", "logout", "home"})


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sign-in, CSRF and the pages' security headers; the office's refusals as pages."""
    texts = request.app[SERVICES].texts
    name = request.match_info.route.name
    try:
        if request.method == "POST":
            session = await get_session(request)
            try:
                form = await request.post()
            except (UnicodeDecodeError, LookupError, ValueError):  # not a form we sent
                return await _error(request, "console_refused_title",
                                    texts("console_bad_form"), 400)
            if any(isinstance(v, str) and "\x00" in v for v in form.values()):
                return await _error(request, "console_refused_title",
                                    texts("console_bad_form"), 400)
            sent = form.get(CSRF_FIELD)
            kept = session.get(CSRF_FIELD)
            if not (isinstance(sent, str) and isinstance(kept, str)
                    and secrets.compare_digest(sent.encode(), kept.encode())):
                return await _error(request, "console_csrf_title", texts("console_csrf"),
                                     403)
        if name not in PUBLIC:
            who = await _signed_in(request)
            if who is None:
                target = request.path_qs if request.method == "GET" else PREFIX + "/"
                raise web.HTTPSeeOther(f"{PREFIX}/login?" + urlencode({"next": target}))
            if isinstance(who, LawyerRecord):
                request[LAWYER] = who
                if name not in LAWYER_PAGES:
                    raise Refused(403, "role")
            else:
                request[STAFF] = who
                if name == "legal":
                    raise Refused(403, "role")
        response = await handler(request)
    except Refused as refused:
        response = await _error(request, "console_refused_title",
                                texts(f"api_error_{refused.code}"), refused.status)
    except web.HTTPNotFound:
        response = await _error(request, "console_refused_title", texts("console_no_page"),
                                404)
    except web.HTTPMethodNotAllowed:
        response = await _error(request, "console_refused_title", texts("api_error_method"),
                                405)
    _headers(response, static=name == "static")
    return response


async def _error(request: web.Request, title: str, message: str,
                 status: int) -> web.Response:
    texts = request.app[SERVICES].texts
    return _page(request, "error.html", await _context(
        request, title=texts(title), message=message), status=status)


def _headers(response: web.StreamResponse, *, static: bool) -> None:
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: http: https:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
    if not static:
        response.headers.setdefault("Cache-Control", "no-store")


async def _signed_in(request: web.Request) -> StaffRecord | LawyerRecord | None:
    """The active account of the session, a member of staff or a duty lawyer (a disabled
    one is signed out at once)."""
    session = await get_session(request)
    services = request.app[SERVICES]
    staff_id, lawyer_id = session.get("staff"), session.get("lawyer")
    who: StaffRecord | LawyerRecord | None = None
    if isinstance(staff_id, int):
        who = await services.staff.by_id(staff_id)
    elif isinstance(lawyer_id, int):
        who = await services.lawyers.get(lawyer_id)
    else:
        return None
    if who is None or not who.active:
        session.invalidate()
        return None
    return who


def _page(request: web.Request, template: str, context: dict[str, Any], *,
          status: int = 200) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, context, status=status)


async def _context(request: web.Request, **values: Any) -> dict[str, Any]:
    """What every page's template gets: the signed-in account, the CSRF token, the flash
    message (shown once)."""
    session = await get_session(request)
    flash = session.pop("flash", None)
    return {"me": request.get(STAFF), "lawyer": request.get(LAWYER),
            "csrf": csrf_token(session), "flash": flash, **values}


async def _flash(request: web.Request, message: str) -> None:
    (await get_session(request))["flash"] = message


# -- sign-in ------------------------------------------------------------------------------


def client_address(request: web.Request) -> str:
    """Who is signing in: behind the HTTPS proxy (``LIANXIN_CONSOLE_HTTPS``), the address
    the proxy saw (the last entry of ``X-Forwarded-For``, the one it added); else the
    peer's."""
    if request.app[SETUP].settings.console_https:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last[:64]
    return request.remote or ""


# an address may fail this many times a login's allowance: an office behind one address is
# not locked out by one member's typing, a guesser trying many logins is
ADDRESS_FACTOR = 4


def _safe_next(raw: str | None) -> str:
    """Where to go after signing in: a console page, never another site."""
    if raw and raw.startswith(PREFIX + "/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return PREFIX + "/"


async def login_page(request: web.Request) -> web.Response:
    return _page(request, "login.html", await _context(
        request, next=_safe_next(request.query.get("next")), login="", error=None,
        lawyer_error=None))


class Throttle:
    """Failed sign-ins counted in the store per login name (or code) and per address;
    past the allowance, sign-in is refused until the window has passed."""

    def __init__(self, request: web.Request, login: str | None) -> None:
        setup = request.app[SETUP]
        self.settings, self.store = setup.settings, setup.store()
        self.counters = [setup.keys.sign_in_failures("address", client_address(request))]
        self.limits = [self.settings.console_login_attempts * ADDRESS_FACTOR]
        if login is not None:
            self.counters.append(setup.keys.sign_in_failures("login", login.lower()))
            self.limits.append(self.settings.console_login_attempts)

    async def locked(self) -> bool:
        """Count this try before it is checked (so tries sent at once cannot all pass
        the count); whether it is one too many."""
        window = self.settings.console_lockout_minutes * 60
        counts = [await self.store.incr(counter, window) for counter in self.counters]
        return any(count > limit for count, limit in zip(counts, self.limits, strict=True))

    async def failed(self) -> None:
        """The try failed: it stays counted."""

    async def passed(self) -> None:
        """The try succeeded: it does not count against the address, and the login's
        failures are forgotten."""
        await self.store.incr(self.counters[0], self.settings.console_lockout_minutes * 60,
                              by=-1)
        if len(self.counters) > 1:
            await self.store.delete(self.counters[1])


async def _refused_sign_in(request: web.Request, throttle: Throttle, *, locked: bool,
                           target: str, name: str, lawyer: bool) -> web.Response:
    texts = request.app[SERVICES].texts
    if locked:
        log.warning("console sign-in refused: too many failures")
        error = texts("console_login_locked",
                      minutes=f"{throttle.settings.console_lockout_minutes:g}")
    else:
        await throttle.failed()
        log.info("console sign-in failed")
        error = texts("console_lawyer_code_failed" if lawyer else "console_login_failed")
    return _page(request, "login.html", await _context(
        request, next=target, login=name, error=None if lawyer else error,
        lawyer_error=error if lawyer else None), status=429 if locked else 401)


async def login(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    form = await request.post()
    name = str(form.get("login", "")).strip()[:64]
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    throttle = Throttle(request, name)
    if await throttle.locked():
        return await _refused_sign_in(request, throttle, locked=True, target=target,
                                      name=name, lawyer=False)
    staff = await services.staff.sign_in(name, password)
    if staff is None:
        return await _refused_sign_in(request, throttle, locked=False, target=target,
                                      name=name, lawyer=False)
    await throttle.passed()
    session = await new_session(request)  # a fresh session: no fixation
    session["staff"] = staff.id
    session["at"] = int(time.time())
    csrf_token(session)
    log.info("console: staff %d signed in", staff.id)
    raise web.HTTPSeeOther(target)


async def lawyer_login(request: web.Request) -> web.Response:
    """A duty lawyer signs in with the one-time code 网页登录 gave them in WeChat."""
    services = request.app[SERVICES]
    form = await request.post()
    code = str(form.get("code", "")).strip()[:16]
    throttle = Throttle(request, None)
    if await throttle.locked():
        return await _refused_sign_in(request, throttle, locked=True, target=PREFIX + "/",
                                      name="", lawyer=True)
    lawyer = await services.lawyers.sign_in(code)
    if lawyer is None:
        return await _refused_sign_in(request, throttle, locked=False, target=PREFIX + "/",
                                      name="", lawyer=True)
    session = await new_session(request)
    session["lawyer"] = lawyer.id
    session["at"] = int(time.time())
    csrf_token(session)
    log.info("console: lawyer %d signed in", lawyer.id)
    raise web.HTTPSeeOther(PREFIX + "/legal")


async def logout(request: web.Request) -> web.Response:
    (await get_session(request)).invalidate()
    raise web.HTTPSeeOther(PREFIX + "/login")


async def home(request: web.Request) -> web.Response:
    if LAWYER in request:
        raise web.HTTPSeeOther(PREFIX + "/legal")
    staff = request[STAFF]
    raise web.HTTPSeeOther(PREFIX + ("/accounts" if staff.role is Role.ADMIN else "/queue"))


# -- a duty lawyer's page (read-only) -----------------------------------------------------

RECENT = 30


async def legal(request: web.Request) -> web.Response:
    """What the lawyer holds and has answered, and the queue in their areas; the citizens
    masked, phone numbers in the questions masked, the conversation itself in WeChat."""
    services, lawyer = request.app[SERVICES], request[LAWYER]
    texts = services.texts
    catalogue = await services.catalogues.get()
    areas = {} if catalogue is None else {a.id: a.name for a in catalogue.legal_areas}
    now = services.now()

    def shown(c: ConsultationRecord) -> dict[str, Any]:
        return {"number": c.number, "area": areas.get(c.area, c.area),
                "citizen": mask_name(c.name), "question": excerpt(mask_phones(c.question), 80),
                "status": texts(c.status.label_key),
                "asked": c.created_at.astimezone(CHINA),
                "ended": None if c.ended_at is None else c.ended_at.astimezone(CHINA)}

    waiting = await services.consultations.waiting_by_area()
    queue = [{"area": areas.get(a, a), "count": waiting[a][0] if a in waiting else 0,
              "minutes": (int((now - waiting[a][1]).total_seconds() // 60)
                          if a in waiting else None)} for a in lawyer.areas]
    return _page(request, "legal.html", await _context(
        request, held=[shown(c) for c in await services.consultations.held_by(lawyer.id)],
        recent=[shown(c) for c in await services.consultations.latest(
            lawyer_id=lawyer.id, limit=RECENT)], queue=queue))


# -- 待办 and search ----------------------------------------------------------------------

TODO_MAX = 500
SEARCH_FIELDS = ("q", "status", "kind", "category", "region", "department", "created_from",
                 "created_to", "overdue", "cursor")


@dataclass(frozen=True, slots=True)
class Row:
    """A ticket as a line of a list."""

    ticket: TicketRecord
    status: str
    department: str
    category: str
    urgency: Urgency
    waits: str  # what the office is asked for (延期, 审核), or ""
    deadline: str  # the deadline that runs now (签收 or 答复, its day), or ""


def _rows(tickets: list[TicketRecord], catalogue: Catalogue, texts: Texts,
          services: Services, deadlines: Mapping[int, Deadline | None] | None = None,
          ) -> list[Row]:
    """The tickets as lines; ``deadlines``: the deadline each must meet now (the 待办's,
    by its arrival at the department); without them, the answer's date of a ticket being
    worked on (a search's lines)."""
    today = today_in_china(services.now())
    categories = {c.id: c.name for c in catalogue.categories}
    rows = []
    for t in tickets:
        if deadlines is not None:
            due = deadlines.get(t.id)
        else:
            due = (Deadline(Due.ANSWER, t.due_on, t.due_on)
                   if t.status in ANSWERING and t.due_on is not None
                   and not t.pending.value else None)
        rows.append(Row(
            t, _status(texts, t.status), department_name(catalogue, t.department),
            categories.get(t.category, t.category),
            urgency(None if due is None else due.day, today, services.calendar),
            texts(f"console_pending_{t.pending.value}") if t.pending.value else "",
            "" if due is None else texts(f"console_deadline_{due.due.value}",
                                         day=due.day.isoformat())))
    return rows


ANSWERING = frozenset({Status.IN_PROGRESS, Status.REOPENED})
ORDER = {u: n for n, u in enumerate(Urgency)}


async def _running(services: Services, department: str | None, catalogue: Catalogue,
                   texts: Texts) -> list[Row]:
    """The tickets a department is to sign for or answer, each by the deadline it must
    meet now (as the scheduler's reminders and 督办 count it), most urgent first."""
    watched = await services.watch.running(WATCHED, department)
    deadlines = {w.ticket.id: deadline_of(w.ticket, w.arrived_at, services.calendar,
                                          services.sign_workdays) for w in watched}
    rows = _rows([w.ticket for w in watched], catalogue, texts, services, deadlines)
    far = date.max
    return sorted(rows, key=lambda r: (ORDER[r.urgency],
                                       getattr(deadlines.get(r.ticket.id), "day", far),
                                       r.ticket.id))


def _status(texts: Texts, status: Status) -> str:
    return texts(status.label_key) if status.known else status.value


async def queue(request: web.Request) -> web.Response:
    """待办 by urgency, with counts; below it the search (the API's filters). A handler's
    待办 is their department's tickets to sign for or answer, by the deadline that runs
    now; the office's is what awaits it (to dispatch again, to approve), and every
    department's tickets past their deadline."""
    services, staff = request.app[SERVICES], request[STAFF]
    texts = services.texts
    office.only(staff, Role.HANDLER, Role.SUPERVISOR)
    catalogue = await office.catalogue(services)
    overdue: list[Row] = []
    if staff.role is Role.HANDLER:
        rows = await _running(services, staff.department, catalogue, texts)
        count = len(rows)
    else:
        count, waiting = await services.tickets.todo(None, limit=TODO_MAX)
        rows = _rows(waiting, catalogue, texts, services)
        overdue = [r for r in await _running(services, None, catalogue, texts)
                   if r.urgency is Urgency.OVERDUE]
    groups = [(u, [r for r in rows if r.urgency is u]) for u in Urgency]
    query = {k: v for k, v in request.query.items() if k in SEARCH_FIELDS and v}
    found: list[Row] | None = None
    next_cursor, error = None, None
    if query:
        try:
            page = await office.search(services, staff, query)
        except Refused as refused:
            if refused.status != 422:
                raise
            error = texts("console_bad_filter", field=texts(
                f"console_field_{refused.field}") if f"console_field_{refused.field}"
                in texts else str(refused.field))
        else:
            found = _rows(page.tickets, catalogue, texts, services)
            next_cursor = page.next_cursor
    return _page(request, "queue.html", await _context(
        request, count=count, shown=len(rows), groups=groups, overdue=overdue, found=found,
        query=query,
        next_query=(urlencode({**query, "cursor": next_cursor}) if next_cursor else None),
        error=error, catalogue=catalogue,
        statuses=[(s.value, _status(texts, s)) for s in Status],
        kinds=list(catalogue.deadlines)))


# -- a ticket -----------------------------------------------------------------------------

# what each action's form asks for (besides the version): the fields of ActionBody
FIELDS: Mapping[Action, tuple[str, ...]] = {
    Action.DISPATCH: ("department",), Action.REDISPATCH: ("department", "note"),
    Action.RETURN: ("note",), Action.REJECT: ("note",), Action.MERGE: ("into", "note"),
    Action.REQUEST_EXTENSION: ("due_on", "text"), Action.APPROVE_EXTENSION: ("note",),
    Action.DENY_EXTENSION: ("note",), Action.ANSWER: ("text",),
    Action.APPROVE_ANSWER: ("note",), Action.SEND_BACK_ANSWER: ("note",),
    Action.CLOSE: ("note",), Action.SIGN: (), Action.SUPERVISE: ("note",),
    Action.WITHHOLD: ("note",),
}


async def ticket_page(request: web.Request, *, errors: Mapping[str, str] | None = None,
                      typed: Mapping[str, str] | None = None, action: str | None = None,
                      status: int = 200) -> web.Response:
    services, staff = request.app[SERVICES], request[STAFF]
    texts = services.texts
    ticket = await office.ticket(services, staff, request.match_info["ticket_id"])
    catalogue = await office.catalogue(services)
    names = {s.login: s.display_name for s in await services.staff.all()}
    events = [{"at": e.at.astimezone(CHINA), "who": _actor(texts, e.actor, names),
               "what": texts(f"console_action_{e.action.value}") if e.action else texts(
                   "console_action_file" if e.to_status is Status.SUBMITTED
                   else "console_action_dispatch" if e.to_status is Status.DISPATCHED
                   else "console_action_none"),
               "to": _status(texts, e.to_status), "note": e.note,
               "told": e.citizen_text} for e in await services.tickets.events(ticket.id)]
    actions = office.allowed(staff, ticket, office.reviewed(catalogue, ticket.department))
    pending = await services.tickets.pending(ticket.id) if ticket.pending.value else None
    merged = (await services.tickets.get(ticket.merged_into)
              if ticket.merged_into is not None else None)
    return _page(request, "ticket.html", await _context(
        request, ticket=ticket, row=_rows([ticket], catalogue, texts, services)[0],
        events=events, attachments=await services.tickets.attachments(ticket.id),
        actions=[(a.value, texts(f"console_action_{a.value}"), FIELDS.get(a, ()))
                 for a in actions],
        departments=[(d.id, d.name) for d in catalogue.departments
                     if d.id != ticket.department or Action.DISPATCH in actions],
        region=next((r.name for r in catalogue.regions if r.id == ticket.region), None),
        errors=errors or {}, typed=typed or {}, failed=action, pending=pending,
        merged=merged, created=ticket.created_at.astimezone(CHINA)), status=status)


def _actor(texts: Texts, actor: str, names: Mapping[str, str]) -> str:
    """Who did it, by name: a member of staff's display name and login."""
    if actor in names:
        return f"{names[actor]}（{actor}）"
    key = f"console_actor_{actor}"
    return texts(key) if key in texts else actor


async def show_ticket(request: web.Request) -> web.Response:
    return await ticket_page(request)


async def act(request: web.Request) -> web.Response:
    """A form of the ticket page: the move through the office's rules; back to the page,
    saying what was done or what is wrong."""
    services, staff = request.app[SERVICES], request[STAFF]
    texts = services.texts
    raw_id, action = request.match_info["ticket_id"], request.match_info["action"]
    if action not in {a.value for a in Action}:
        raise Refused(404, "not_found")
    form = {k: str(v) for k, v in (await request.post()).items() if k != CSRF_FIELD}
    here = f"{PREFIX}/tickets/{raw_id}"
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    try:
        values["version"] = int(form.get("version", ""))
    except ValueError:
        errors["version"] = texts("console_field_error_version")
    for field in ("note", "text", "department"):
        if form.get(field, "").strip():
            values[field] = form[field].strip() if field == "department" else form[field]
    if form.get("due_on"):
        try:
            values["due_on"] = date.fromisoformat(form["due_on"])
        except ValueError:
            errors["due_on"] = texts("console_field_error_due_on")
    if form.get("into", "").strip():
        into = await _ticket_by_number(services, staff, form["into"].strip())
        if into is None:
            errors["into"] = texts("console_field_error_into")
        else:
            values["into"] = into
    if not errors:
        try:
            body = ActionBody.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else "note"
            errors[field] = texts(f"console_field_error_{field}")
    if errors:
        return await ticket_page(request, errors=errors, typed=form, action=action,
                                 status=422)
    try:
        await office.act(services, staff, raw_id, action, office.Move(
            version=body.version, note=body.note, department=body.department,
            due_on=body.due_on, text=body.text, into=body.into))
    except Refused as refused:
        if refused.code in ("conflict", "state"):  # someone acted first, or it moved on
            await _flash(request, texts(f"console_{refused.code}"))
            raise web.HTTPSeeOther(here) from None
        if refused.status == 422 and refused.field:
            return await ticket_page(request, errors={
                refused.field: texts(f"console_field_error_{refused.field}")},
                typed=form, action=action, status=422)
        raise
    await _flash(request, texts("console_done", action=texts(f"console_action_{action}")))
    raise web.HTTPSeeOther(here)


async def _ticket_by_number(services: Services, staff: StaffRecord,
                            typed: str) -> int | None:
    """并单's target, typed as its number (or its id)."""
    if typed.isascii() and typed.isdecimal() and len(typed) < 12:
        found = await services.tickets.get(int(typed))
        return found.id if found is not None and staff.sees_department(
            found.department) else None
    page = await office.search(services, staff, {"q": typed[:40], "limit": "5"})
    exact = [t for t in page.tickets if t.number == typed]
    return exact[0].id if exact else None


# -- 统计 ---------------------------------------------------------------------------------

DEFAULT_DAYS = 30
CHARTED = (Grouping.DAY, Grouping.DEPARTMENT, Grouping.MONTH, None)


def _period_query(request: web.Request) -> dict[str, str]:
    """The dashboard's period: ``from`` and ``to`` as given, else the last 30 days."""
    today = today_in_china(request.app[SERVICES].now())
    query = {"from": request.query.get("from") or
             (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
             "to": request.query.get("to") or today.isoformat()}
    return query


async def dashboard(request: web.Request) -> web.Response:
    services, staff = request.app[SERVICES], request[STAFF]
    office.only(staff, Role.HANDLER, Role.SUPERVISOR)
    query = _period_query(request)
    error = None
    try:
        office.period(services, query)
    except Refused as refused:
        error = services.texts("console_bad_period")
        if refused.status != 422:
            raise
    return _page(request, "dashboard.html", await _context(
        request, query=query, error=error, data_query=urlencode(query)),
        status=422 if error else 200)


async def _figures(request: web.Request) -> tuple[office.Period, Report]:
    services, staff = request.app[SERVICES], request[STAFF]
    return await office.report(services, staff, _period_query(request), list(CHARTED))


async def dashboard_data(request: web.Request) -> web.Response:
    """The charts' data as JSON: volume per day, the rates by department, the months, and
    what is overdue now."""
    when, made = await _figures(request)
    sheets = {name: [row.row() for row in rows] for name, rows in made.sheets}

    def series(name: str, column: str, *, total: bool = False) -> list[Any]:
        rows = sheets[name] if total else sheets[name][:-1]  # the last row: all together
        return [row[column] for row in rows]

    days = [when.first + timedelta(days=n) for n in range((when.last - when.first).days + 1)]
    per_day = dict(zip(series("day", "group"), series("day", "volume"), strict=True))
    whole = sheets[None][-1] if None in sheets else sheets["day"][-1]
    return web.json_response({
        "from": when.first.isoformat(), "to": when.last.isoformat(),
        "days": [d.isoformat() for d in days],
        "volume": [per_day.get(d.isoformat(), 0) for d in days],
        "departments": series("department", "group"),
        "sign_rate": series("department", "sign_rate"),
        "answer_rate": series("department", "answer_rate"),
        "satisfaction": series("department", "satisfaction"),
        "overdue_by_department": series("department", "overdue_now"),
        "months": series("month", "group"),
        "month_volume": series("month", "volume"),
        "month_answer_rate": series("month", "answer_rate"),
        "month_satisfaction": series("month", "satisfaction"),
        "total": {k: whole[k] for k in ("volume", "sign_rate", "answer_rate",
                                        "satisfaction", "overdue_now", "rated")},
    })


async def dashboard_download(request: web.Request) -> web.Response:
    """What the dashboard shows, as CSV (each grouping in turn) or an xlsx workbook."""
    texts = request.app[SERVICES].texts
    when, made = await _figures(request)
    name = f"lianxin-{when.first:%Y%m%d}-{when.last:%Y%m%d}"
    if request.query.get("format") == "xlsx":
        return web.Response(body=as_xlsx(made, texts), headers={
            "Content-Disposition": f'attachment; filename="{name}.xlsx"'},
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    parts = [as_csv(Report(made.first, made.last, made.as_of, (sheet,)), texts)
             for sheet in made.sheets]
    return web.Response(text="\ufeff" + "\n".join(parts), content_type="text/csv",
                        charset="utf-8", headers={
                            "Content-Disposition": f'attachment; filename="{name}.csv"'})


# -- accounts (admins) --------------------------------------------------------------------


async def accounts(request: web.Request, *, errors: Mapping[str, str] | None = None,
                   typed: Mapping[str, str] | None = None,
                   status: int = 200) -> web.Response:
    services, staff = request.app[SERVICES], request[STAFF]
    office.only(staff, Role.ADMIN)
    catalogue = await services.catalogues.get()
    lawyers = await services.lawyers.all()
    return _page(request, "accounts.html", await _context(
        request, staff_list=await services.staff.all(), lawyers=lawyers,
        departments=[] if catalogue is None else [(d.id, d.name)
                                                   for d in catalogue.departments],
        areas=[] if catalogue is None else [(a.id, a.name) for a in catalogue.legal_areas],
        roles=[r.value for r in Role], errors=errors or {}, typed=typed or {}),
        status=status)


async def show_accounts(request: web.Request) -> web.Response:
    return await accounts(request)


async def add_staff(request: web.Request) -> web.Response:
    services, staff = request.app[SERVICES], request[STAFF]
    texts = services.texts
    office.only(staff, Role.ADMIN)
    form = {k: str(v) for k, v in (await request.post()).items() if k != CSRF_FIELD}
    catalogue = await services.catalogues.get()
    department = form.get("department") or None
    if department is not None and (catalogue is None or department not in {
            d.id for d in catalogue.departments}):
        return await accounts(request, errors={"department": texts(
            "console_account_error_department")}, typed=form, status=422)
    try:
        role = Role(form.get("role", ""))
        made = await services.staff.add(form.get("login", "").strip(),
                                        form.get("display_name", ""), role,
                                        department if role is Role.HANDLER else None,
                                        password=form.get("password", ""))
    except ValueError as exc:
        field = exc.field if isinstance(exc, AccountError) else "role"
        form.pop("password", None)
        return await accounts(request, errors={field: texts(
            f"console_account_error_{field}")}, typed=form, status=422)
    await _flash(request, texts("console_staff_added", login=made.login))
    raise web.HTTPSeeOther(PREFIX + "/accounts")


async def staff_account(request: web.Request) -> web.Response:
    """disable, enable, or a bind code for a staff account."""
    services, staff = request.app[SERVICES], request[STAFF]
    texts = services.texts
    office.only(staff, Role.ADMIN)
    login, what = request.match_info["login"], request.match_info["what"]
    if not LOGIN.fullmatch(login):
        raise Refused(404, "no_account")
    try:
        if what == "bind-code":
            code, expires = await services.staff.bind_code(login)
            await _flash(request, texts("console_bind_code", login=login, code=code,
                                        until=f"{expires.astimezone(CHINA):%H:%M}"))
        elif what in ("disable", "enable"):
            if login == staff.login:
                raise Refused(409, "self")
            await services.staff.set_active(login, what == "enable")
            await _flash(request, texts(f"console_staff_{what}d", login=login))
        else:
            raise Refused(404, "not_found")
    except UnknownAccount:
        raise Refused(404, "no_account") from None
    except AccountError:  # a disabled account gets no bind code
        raise Refused(409, "account_disabled") from None
    raise web.HTTPSeeOther(PREFIX + "/accounts")


async def add_lawyer(request: web.Request) -> web.Response:
    services, staff = request.app[SERVICES], request[STAFF]
    texts = services.texts
    office.only(staff, Role.ADMIN)
    post = await request.post()
    form = {k: str(v) for k, v in post.items() if k not in (CSRF_FIELD, "areas")}
    areas = [str(v) for v in post.getall("areas", [])]
    catalogue = await services.catalogues.get()
    known = [] if catalogue is None else [a.id for a in catalogue.legal_areas]
    try:
        capacity = int(form.get("capacity") or "3")
        made = await services.lawyers.add(form.get("name", ""), form.get("firm", ""),
                                          form.get("licence", ""), areas,
                                          capacity=capacity, known_areas=known)
    except (ProfileError, ValueError) as exc:
        field = exc.field if isinstance(exc, ProfileError) else "capacity"
        return await accounts(request, errors={f"lawyer_{field}": texts(
            f"console_lawyer_error_{field}")}, typed=form, status=422)
    code, expires = await services.lawyers.invite(made.id)
    await _flash(request, texts("console_invite_code", name=made.name, code=code,
                                until=f"{expires.astimezone(CHINA):%m-%d %H:%M}"))
    raise web.HTTPSeeOther(PREFIX + "/accounts")


async def lawyer_account(request: web.Request) -> web.Response:
    """invite, disable or enable a duty lawyer (the office's functions, as in the API)."""
    services, staff = request.app[SERVICES], request[STAFF]
    texts = services.texts
    raw, what = request.match_info["lawyer_id"], request.match_info["what"]
    if what == "invite":
        lawyer, code, expires = await office.invite_lawyer(services, staff, raw)
        await _flash(request, texts("console_invite_code", name=lawyer.name, code=code,
                                    until=f"{expires.astimezone(CHINA):%m-%d %H:%M}"))
    elif what in ("disable", "enable"):
        await office.set_lawyer_active(services, staff, raw, what == "enable")
        await _flash(request, texts(f"console_lawyer_{what}d"))
    else:
        raise Refused(404, "not_found")
    raise web.HTTPSeeOther(PREFIX + "/accounts")


# -- the application ----------------------------------------------------------------------


def console_app(services: Services, setup: Setup) -> web.Application:
    """The console, to mount at ``/console`` (``services`` bound before the first
    request)."""
    app = web.Application(client_max_size=setup.settings.max_body_bytes)
    setup_session(app, EncryptedCookieStorage(
        session_key(setup.settings), cookie_name=COOKIE, path=PREFIX, httponly=True,
        samesite="Lax", secure=setup.settings.console_https,
        max_age=int(setup.settings.console_session_hours * 3600)))
    app.middlewares.append(guard)
    app[SERVICES] = services
    app[SETUP] = setup
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"),
                               autoescape=jinja2.select_autoescape(default=True),
                               undefined=jinja2.StrictUndefined)
    env.globals["t"] = services_texts(services)
    env.globals["prefix"] = PREFIX
    app.router.add_static("/static", HERE / "static", name="static")
    app.router.add_get("/login", login_page, name="login")
    app.router.add_post("/login", login, name="login_post")
    app.router.add_post("/lawyer-login", lawyer_login, name="lawyer_login")
    app.router.add_post("/logout", logout, name="logout")
    app.router.add_get("/", home, name="home")
    app.router.add_get("/legal", legal, name="legal")
    app.router.add_get("/queue", queue)
    app.router.add_get("/tickets/{ticket_id}", show_ticket)
    app.router.add_post("/tickets/{ticket_id}/{action}", act)
    app.router.add_get("/dashboard", dashboard)
    app.router.add_get("/dashboard/data", dashboard_data)
    app.router.add_get("/dashboard/download", dashboard_download)
    app.router.add_get("/accounts", show_accounts)
    app.router.add_post("/accounts/staff", add_staff)
    app.router.add_post("/accounts/staff/{login}/{what}", staff_account)
    app.router.add_post("/accounts/lawyers", add_lawyer)
    app.router.add_post("/accounts/lawyers/{lawyer_id}/{what}", lawyer_account)
    return app


def services_texts(services: Services) -> Callable[..., str]:
    """The text catalogue for the templates (read when a page is drawn: the services are
    bound at start-up)."""

    def t(key: str, **values: Any) -> str:
        return services.texts(key, **{k: str(v) for k, v in values.items()})

    return t
