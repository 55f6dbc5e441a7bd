"""Where the real WeChat channel is plugged into the parts that only know its port.

The delivery worker (``scheduler/``) sends through :class:`domain.sending.Messenger`;
:func:`delivery_worker` gives it one :class:`bot.wechat.api.WeChatClient` per account.
``lianxin serve`` (in-process delivery) and ``lianxin scheduler`` both build their worker
here, so the two cannot drift apart.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from datetime import timedelta

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import (
    Account,
    CalendarFile,
    ConfigError,
    Settings,
    load_accounts,
    load_delivery,
)
from bot.wechat.api import WeChatClient
from domain.texts import Texts
from scheduler.delivery import DeliveryWorker
from scheduler.jobs import Policy, Tools
from scheduler.runner import JobRunner, job_scheduler
from scheduler.service import Rounds, delivery_scheduler, worker_name
from storage import db
from storage.base import Store
from storage.catalogue import CatalogueRepository
from storage.catalogue_cache import CatalogueCache
from storage.consult_queue import RedisQueue
from storage.keys import KeyBuilder
from storage.leases import Leases
from storage.outbox import Outbox
from storage.redis_store import RedisStore


def wechat_clients(session: aiohttp.ClientSession, accounts: list[Account], store: Store,
                   keys: KeyBuilder, settings: Settings) -> dict[str, WeChatClient]:
    """One API client per account, sharing the session and the store's access tokens."""
    return {a.name: WeChatClient(session, a, store, keys, timeout=settings.api_timeout)
            for a in accounts}


def delivery_worker(settings: Settings, engine: AsyncEngine, store: Store, keys: KeyBuilder,
                    clients: dict[str, WeChatClient], *, lease: float = 60.0) -> DeliveryWorker:
    """The outbox's delivery worker, sending through the accounts' API clients."""
    return DeliveryWorker(
        Outbox(engine), store, keys, clients, load_delivery(settings.delivery_file),
        name=worker_name(), max_attempts=settings.outbox_max_attempts, lease=lease,
    )


def policy(settings: Settings) -> Policy:
    return Policy(sign_workdays=settings.sign_workdays, alerts_hour=settings.alerts_hour,
                  keep_pushes=timedelta(days=settings.keep_pushes_days),
                  keep_bind_codes=timedelta(days=settings.keep_bind_codes_days),
                  survey_for=timedelta(days=settings.survey_days),
                  recheck_after=(timedelta(days=settings.recheck_days)
                                 if settings.recheck_days else None),
                  consult_remind=timedelta(minutes=settings.consult_remind_minutes),
                  consult_timeout=timedelta(minutes=settings.consult_timeout_minutes),
                  consult_silence=timedelta(minutes=settings.consult_silence_minutes),
                  consult_away=timedelta(hours=settings.consult_away_hours),
                  consult_expire=timedelta(days=settings.consult_expire_days))


def job_runner(settings: Settings, engine: AsyncEngine, texts: Texts,
               store: Store | None = None) -> JobRunner:
    """The ticket and consultation jobs (``scheduler/jobs.py``) under the job lease, on
    the catalogue in the database and the calendar file as they are at each run (with a
    Redis ``store``, the consultation queue's index is kept whole too)."""
    catalogue = CatalogueCache(CatalogueRepository(engine), ttl=settings.catalogue_ttl)
    keys = KeyBuilder()
    queue = RedisQueue(store.client, keys) if isinstance(store, RedisStore) else None
    tools = Tools(engine, texts, catalogue.get, CalendarFile(settings.holidays_file),
                  policy(settings), queue=queue)
    # host:pid and a random part: two containers may share a host name and a pid
    return JobRunner(Leases(engine), tools, holder=f"{worker_name()}:{uuid.uuid4().hex[:8]}",
                     lease_ttl=settings.scheduler_lease, tick=settings.scheduler_tick)


def start_jobs(runner: JobRunner, settings: Settings) -> Rounds:
    """The runner's beat, three times per lease: a holder renews well before it runs
    out, and a dead holder's lease is taken within a lease and a beat."""
    rounds = job_scheduler(runner, beat=settings.scheduler_lease / 3)
    rounds.start()
    return rounds


async def stop_jobs(rounds: Rounds, runner: JobRunner) -> None:
    await rounds.stop()
    await runner.release()


async def run_scheduler(settings: Settings, *, interval: float = 1.0,
                        lease: float = 60.0) -> None:
    """``lianxin scheduler``: deliver pushes every ``interval`` seconds, and run the
    ticket jobs while this process holds the job lease, until SIGINT or SIGTERM."""
    if not settings.redis_url:
        raise ConfigError("lianxin scheduler needs LIANXIN_REDIS_URL: it must see the windows "
                          "and consents lianxin serve records (on the in-process stores, "
                          "lianxin serve delivers the outbox itself)")
    accounts = load_accounts(settings)
    load_delivery(settings.delivery_file)  # a bad file stops start-up, before any connection
    texts = Texts.load(settings.texts_file)
    store: Store = RedisStore.from_url(settings.redis_url)
    engine = db.make_engine(settings.database_url)
    keys = KeyBuilder()
    async with aiohttp.ClientSession() as session:
        clients = wechat_clients(session, accounts, store, keys, settings)
        worker = delivery_worker(settings, engine, store, keys, clients, lease=lease)
        scheduler = delivery_scheduler(worker, interval)
        scheduler.start()
        runner = job_runner(settings, engine, texts, store)
        jobs = start_jobs(runner, settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"lianxin: scheduler {worker.name} delivering every {interval:g}s, ticket "
              f"jobs while it holds the job lease", flush=True)
        try:
            await stop.wait()
        finally:
            await stop_jobs(jobs, runner)
            await scheduler.stop()  # before the engine: a round cut short unwinds first
            await engine.dispose()
            await store.close()
