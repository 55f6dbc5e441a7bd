"""The application factory: one aiohttp app serving every configured account."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.board.app import PREFIX as BOARD
from bot.board.app import Parts, board_app
from bot.calendar_cli import redate
from bot.config import Account, Settings, load_accounts, load_calendar
from bot.console.app import PREFIX as CONSOLE
from bot.console.app import Setup, console_app
from bot.log_limits import server_log
from bot.metrics import Metrics, metrics_page, outcome_of
from bot.server_header import hide_server_version
from bot.staff.api import Services, bearer, staff_api
from bot.wechat.api import WeChatClient
from bot.wechat.edge import Callback
from bot.wiring import delivery_worker, job_runner, start_jobs, stop_jobs, wechat_clients
from domain.messages import Outbound
from domain.staff import Role
from domain.texts import Texts
from domain.workdays import Calendar
from flows.consultation import ConsultationFlow
from handlers.citizen import CitizenDesk
from handlers.consult import ConsultDesk
from handlers.context import Handler
from handlers.lawyer import LawyerDesk
from handlers.registry import build_dispatcher
from handlers.staff import StaffDesk
from handlers.survey import SurveyDesk
from scheduler.service import delivery_scheduler
from storage import db
from storage.base import Store
from storage.catalogue import CatalogueRepository
from storage.catalogue_cache import CatalogueCache
from storage.channels import Consents
from storage.consult_queue import RedisQueue
from storage.consultations import Consultations
from storage.keys import KeyBuilder
from storage.lawyers import Lawyers
from storage.memory import MemoryStore
from storage.outbox import Outbox
from storage.redis_store import RedisStore
from storage.staff import StaffAccounts
from storage.surveys import Surveys
from storage.tickets import Tickets
from storage.windows import reachable

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
ACCOUNTS = web.AppKey("accounts", list[Account])
KEYS = web.AppKey("keys", KeyBuilder)
TEXTS = web.AppKey("texts", Texts)
CALENDAR = web.AppKey("calendar", Calendar)
# the staff API's own application when it has a listener of its own (LIANXIN_STAFF_PORT)
STAFF_APP = web.AppKey("staff_app", web.Application)
METRICS = web.AppKey("metrics", Metrics)
STORE = web.AppKey("store", Store)
ENGINE = web.AppKey("engine", AsyncEngine)
HTTP = web.AppKey("http", aiohttp.ClientSession)
CLIENTS = web.AppKey("clients", dict[str, WeChatClient])
CALLBACKS = web.AppKey("callbacks", dict[str, Callback])
# the in-process delivery worker's fast path: deliver one user's queue now (account, openid)
DeliverNow = Callable[[str, str], Awaitable[int]]
DELIVER_NOW: web.AppKey[DeliverNow] = web.AppKey("deliver_now")

READY_TIMEOUT = 2.0
EARLY_REPORT_TTL = 3600.0

HandlerFactory = Callable[[web.Application], Handler]


class _Reports:
    """Delivery reports from the platform: template outcomes to the outbox, consents to
    the store."""

    def __init__(self, outbox: Outbox, consents: Consents, store: Store,
                 keys: KeyBuilder) -> None:
        self._outbox = outbox
        self._consents = consents
        self._store = store
        self._keys = keys

    async def template_finished(self, account: str, msgid: int, status: str) -> bool:
        if await self._outbox.template_finished(account, msgid, status):
            return True
        # the report can beat the worker's record of the send: keep it for the worker
        log.info("[%s] delivery report for an unrecorded template message kept", account)
        await self._store.set(self._keys.early_report(account, str(msgid)), status,
                              ttl=EARLY_REPORT_TTL)
        return False

    async def consents(self, account: str, openid: str, accepted: list[str],
                       rejected: list[str]) -> None:
        await self._consents.record(account, openid, accepted, rejected)


def default_handler(app: web.Application, *, now: Callable[[], datetime] | None = None,
                    clock: Callable[[], float] | None = None) -> Handler:
    """The production handler; ``now``/``clock`` let tests set the date and flow timeouts."""
    settings = app[SETTINGS]
    reports = _Reports(Outbox(app[ENGINE]), Consents(app[STORE], app[KEYS]), app[STORE],
                       app[KEYS])
    catalogue = CatalogueCache(CatalogueRepository(app[ENGINE]), ttl=settings.catalogue_ttl)
    moment = now or (lambda: datetime.now(UTC))
    lawyers, consultations = Lawyers(app[ENGINE]), consultations_of(app)
    consultation = ConsultationFlow(catalogue.require, consultations, lawyers, app[TEXTS],
                                    now=moment, ttl=settings.flow_ttl, calendar=app[CALENDAR])
    desk = CitizenDesk(app[TEXTS], Tickets(app[ENGINE]), catalogue,
                       flow_ttl=settings.flow_ttl, now=moment, clock=clock,
                       calendar=app[CALENDAR], consultation=consultation)
    app[TEXTS].use_features(desk.features)  # no text promises what is switched off
    staff = StaffDesk(app[TEXTS], StaffAccounts(app[ENGINE]), Tickets(app[ENGINE]))
    survey = SurveyDesk(app[TEXTS], Surveys(app[ENGINE]), catalogue, calendar=app[CALENDAR],
                        now=moment, clock=clock or time.time)
    store, keys = app[STORE], app[KEYS]

    async def reach(account: str, openid: str) -> bool:
        return await reachable(store, keys, account, openid, time.time())

    lawyer = LawyerDesk(app[TEXTS], lawyers, consultations, catalogue, reach, now=moment)
    consult = ConsultDesk(app[TEXTS], consultation, catalogue, now=moment)
    return build_dispatcher(app[TEXTS], desk, subscriptions=db.Citizens(app[ENGINE]),
                            reports=reports, staff=staff, survey=survey, lawyer=lawyer,
                            consult=consult)


def consultations_of(app: web.Application) -> Consultations:
    """The consultation repository, its queue indexed in Redis when the store is Redis."""
    store = app[STORE]
    queue = RedisQueue(store.client, app[KEYS]) if isinstance(store, RedisStore) else None
    return Consultations(app[ENGINE], queue=queue)


def create_app(
    settings: Settings,
    *,
    accounts: list[Account] | None = None,
    handler_factory: HandlerFactory = default_handler,
    store: Store | None = None,
    now: Callable[[], datetime] | None = None,
) -> web.Application:
    """Build the app; resources open on start-up and close on clean-up.

    ``store`` lets tests share one store between several apps (as Redis would); ``now``
    is the time the staff API moves tickets at (a test moves it; the citizen side's is
    the handler factory's).
    """
    # no access log (one line per request is a flood's amplifier; refusals log their own,
    # summarised), and the parser's refusals as one line each rather than a traceback;
    # bodies are never decompressed (WeChat never compresses: the edge refuses them), so a
    # lying Content-Encoding cannot fail in aiohttp's parser after the answer
    app = web.Application(client_max_size=settings.max_body_bytes,
                          handler_args={"access_log": None, "logger": server_log(),
                                        "auto_decompress": False})
    hide_server_version()
    app[SETTINGS] = settings
    app[ACCOUNTS] = accounts if accounts is not None else load_accounts(settings)
    app[KEYS] = KeyBuilder()
    app[TEXTS] = Texts.load(settings.texts_file)
    app[CALENDAR] = load_calendar(settings.holidays_file)

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        if store is not None:
            app[STORE] = store
            yield
            return
        if settings.redis_url:  # Redis keeps what it holds itself (if configured to)
            opened = RedisStore.from_url(settings.redis_url)
            app[STORE] = opened
            yield
            await opened.close()
            return
        from flows.context import lost_on_restart, open_in
        from storage import snapshot

        memory = MemoryStore()
        app[STORE] = memory
        files = snapshot.files_for(settings.database_url)
        kept = None
        if settings.store_save_interval > 0 and files is not None:
            keys = app[KEYS]
            # the key layout is storage/keys.py's: take the prefixes from the builder
            forms = snapshot.Forms(prefix=keys.state("a", "u").removesuffix("a:u"),
                                   is_open=open_in, lost=lost_on_restart,
                                   lost_ttl=settings.state_ttl)
            locks = keys.user_lock("a", "u").removesuffix("user:a:u")  # nobody holds them
            per_message = (keys.nonce("a", "x").removesuffix("a:x"),
                           keys.dedupe("a", "x").removesuffix("a:x"),
                           keys.reply("a", "x").removesuffix("a:x"), locks)
            kept = await snapshot.KeptStore.open(memory, files, forms,
                                                 transient=per_message, skip=(locks,))
        else:
            log.info("in-process store: not kept across restarts (%s)",
                     "LIANXIN_STORE_SAVE_INTERVAL=0" if files is not None
                     else "in-memory database")
        if kept is not None:
            kept.keep(settings.store_save_interval)
        yield
        if kept is not None:
            await kept.close()
        await memory.close()

    staff_services = Services()

    async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
        engine = db.make_engine(settings.database_url)
        app[ENGINE] = engine
        staff_catalogue = CatalogueCache(CatalogueRepository(engine),
                                         ttl=settings.catalogue_ttl)
        staff_services.bind(engine, app[TEXTS], staff_catalogue, app[CALENDAR],
                            keeps_due_date=settings.redispatch_keeps_due_date,
                            sign_workdays=settings.sign_workdays,
                            now=now or (lambda: datetime.now(UTC)),
                            consultations=consultations_of(app))
        try:  # a year that became known since the last start: its dates are firm now
            await redate(engine, app[CALENDAR])
        except Exception as exc:  # not a reason to stay down: `lianxin calendar refresh`
            log.warning("could not count provisional due dates again: %s: %s",
                        type(exc).__name__, exc)
        if isinstance(app[STORE], RedisStore):  # what Redis lost of the consultation queue
            try:
                restored = await consultations_of(app).restore_index()
            except Exception as exc:  # the scheduler's job puts it back at its next tick
                log.warning("could not restore the consultation queue in Redis: %s",
                            type(exc).__name__)
            else:
                if restored:
                    log.info("consultation queue: %d waiting put back in Redis", restored)
        yield
        await engine.dispose()

    async def http_ctx(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession()
        app[HTTP] = session
        app[CLIENTS] = wechat_clients(session, app[ACCOUNTS], app[STORE], app[KEYS], settings)
        yield
        await session.close()

    async def callbacks_ctx(app: web.Application) -> AsyncIterator[None]:
        handler = app[METRICS].timed(handler_factory(app))
        busy = app[TEXTS]("busy")
        callbacks: dict[str, Callback] = {}
        for account in app[ACCOUNTS]:
            callbacks[account.name] = Callback(
                account, settings, app[STORE], app[KEYS], handler,
                _sender(Outbox(app[ENGINE]), account.name, app.get(DELIVER_NOW)), busy,
            )
        app[CALLBACKS] = callbacks
        recovery = [asyncio.get_running_loop().create_task(c.recover_forever())
                    for c in callbacks.values()]
        yield
        for task in recovery:
            task.cancel()
        await asyncio.gather(*recovery, return_exceptions=True)
        for callback in callbacks.values():
            await callback.drain()

    async def delivery_ctx(app: web.Application) -> AsyncIterator[None]:
        if not settings.delivers_in_process:
            yield
            return
        worker = delivery_worker(settings, app[ENGINE], app[STORE], app[KEYS], app[CLIENTS])
        app[DELIVER_NOW] = worker.deliver_user
        scheduler = delivery_scheduler(worker, interval=1.0)
        scheduler.start()
        # the single-process default: the ticket jobs run here too (under the job lease,
        # as in `lianxin scheduler`)
        runner = job_runner(settings, app[ENGINE], app[TEXTS], app[STORE])
        jobs = start_jobs(runner, settings)
        yield
        await stop_jobs(jobs, runner)
        await scheduler.stop()  # a round cut short has given its connection back

    # the delivery worker starts before the callbacks and stops after they have drained,
    # so a late reply finishing at shutdown still takes the fast path
    app.cleanup_ctx.extend([store_ctx, engine_ctx, http_ctx, delivery_ctx, callbacks_ctx])

    for account in app[ACCOUNTS]:
        app.router.add_get(account.path, _route(account.name, "get"))
        app.router.add_post(account.path, _route(account.name, "post"))
    app[METRICS] = metrics = Metrics()
    page = metrics_page(metrics, lambda: app[ENGINE],
                        lambda: sum(len(c.turns) for c in app[CALLBACKS].values()))
    console = console_app(staff_services, Setup(settings, lambda: app[STORE], app[KEYS]))
    if settings.staff_port is None:
        app.add_subapp("/api/v1", staff_api(staff_services))
        app.add_subapp(CONSOLE, console)
        # beside the public callbacks: for the office's token only
        app.router.add_get("/metrics", _office_only(page, staff_services))
    else:  # its own listener (bot/cli.py serves it beside the callback one)
        staff_root = web.Application(client_max_size=settings.max_body_bytes,
                                     handler_args={"access_log": None})
        staff_root.add_subapp("/api/v1", staff_api(staff_services))
        staff_root.add_subapp(CONSOLE, console)
        staff_root.router.add_get("/metrics", page)
        app[STAFF_APP] = staff_root
    # the public board: on the public listener, whichever listener the office uses
    app.add_subapp(BOARD, board_app(Parts(lambda: app[ENGINE],
                                          lambda: staff_services.catalogues,
                                          app[TEXTS])))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def _sender(
    outbox: Outbox, account: str, deliver_now: DeliverNow | None,
) -> Callable[[str, list[Outbound]], Awaitable[None]]:
    """Late replies (and a passive reply's extra messages) go out through the outbox.

    They are written in one transaction, behind whatever of the user's is still unsettled,
    so they reach the user in order, once each — or stand as ``uncertain`` or ``failed``
    in ``lianxin outbox list``. With an in-process delivery worker the user's queue is then
    delivered at once (the worker's own claim, so its ordering and exactly-once rules
    hold); otherwise the scheduler's next round (every second) takes them.
    """

    async def send(user: str, outbounds: list[Outbound]) -> None:
        ids = await outbox.add_replies(account=account, openid=user, outbounds=outbounds)
        if not ids or deliver_now is None:
            return
        try:
            await deliver_now(account, user)
        except Exception as exc:  # queued all the same: the worker's next round takes it
            log.warning("[%s] late reply queued, not delivered at once (%s)", account,
                        type(exc).__name__)

    return send


def _route(name: str, method: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        callback = request.app[CALLBACKS][name]
        if method == "get":
            return await callback.get(request)
        response = await callback.post(request)
        request.app[METRICS].callback(name, outcome_of(response))
        return response

    return handle


def _office_only(page: Callable[[web.Request], Awaitable[web.Response]],
                 services: Services) -> Callable[[web.Request], Awaitable[web.Response]]:
    """``page`` for a request with the API token of a supervisor or an admin (Prometheus:
    ``authorization: {credentials: …}``); 401 for anyone else."""

    async def guarded(request: web.Request) -> web.Response:
        staff = await bearer(request, services.staff)
        if staff is None or staff.role is Role.HANDLER:
            return web.Response(status=401, text="401: Unauthorized",
                                headers={"WWW-Authenticate": "Bearer"})
        return await page(request)

    return guarded


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready only while the store and the database answer."""
    app = request.app
    problems: dict[str, str] = {}
    try:
        await asyncio.wait_for(app[STORE].ping(), READY_TIMEOUT)
    except Exception as exc:
        problems["store"] = type(exc).__name__
    try:
        await asyncio.wait_for(db.ping(app[ENGINE]), READY_TIMEOUT)
    except Exception as exc:
        problems["database"] = type(exc).__name__
    if problems:
        log.warning("not ready: %s", problems)
        return web.json_response({"status": "unavailable", "failing": problems}, status=503)
    return web.json_response({"status": "ok"})
