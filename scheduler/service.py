"""``lianxin scheduler``: APScheduler running the outbox delivery job in one process.

Run one or more (PostgreSQL): each claims with ``SKIP LOCKED``, so they share the work.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

import aiohttp
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import ConfigError, Settings, load_accounts, load_delivery
from bot.wechat_api import WeChatClient
from scheduler.delivery import DeliveryWorker
from storage import db
from storage.base import Store
from storage.keys import KeyBuilder
from storage.outbox import Outbox
from storage.redis_store import RedisStore

log = logging.getLogger(__name__)

REPORT_EVERY = 60.0  # seconds between the lines saying a job is still failing


class Failures:
    """How a job that runs every second reports failing: the traceback once (and once more
    for each other kind of error in the same streak), then one line a minute with the
    count, never a line a second; and one line when it works again."""

    def __init__(self, what: str, *, every: float = REPORT_EVERY,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = datetime.now) -> None:
        self.what = what
        self._every = every
        self._clock = clock
        self._wall = wall
        self._count = 0
        self._since = ""
        self._kinds: set[str] = set()
        self._reported = 0.0

    def failed(self, error: Exception) -> None:
        kind = type(error).__name__
        if not self._count:
            self._since = f"{self._wall():%H:%M:%S}"
        self._count += 1
        if kind not in self._kinds:
            self._kinds.add(kind)
            self._reported = self._clock()
            log.error("%s failed (%s since %s): %s", self.what, _times(self._count),
                      self._since, kind, exc_info=error)
        elif self._clock() - self._reported >= self._every:
            self._reported = self._clock()
            log.error("%s still failing (%s since %s): %s", self.what,
                      _times(self._count), self._since, kind)

    def succeeded(self) -> None:
        if self._count:
            log.warning("%s works again, after failing %s since %s", self.what,
                        _times(self._count), self._since)
            self._count = 0
            self._kinds.clear()


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def guarded(job: Callable[[], Awaitable[object]],
            failures: Failures) -> Callable[[], Awaitable[None]]:
    """``job`` as a scheduled job: its errors go to ``failures``, not to APScheduler (which
    would log each with its traceback)."""

    async def run() -> None:
        try:
            await job()
        except asyncio.CancelledError:  # shutting down mid-round: the leases will tell
            log.info("%s cut short by shutdown", failures.what)
        except Exception as error:
            failures.failed(error)
        else:
            failures.succeeded()

    return run


def delivery_scheduler(worker: DeliveryWorker, interval: float, *,
                       failures: Failures | None = None) -> AsyncIOScheduler:
    """An APScheduler running ``worker`` every ``interval`` s, never two rounds at once."""
    deliver = guarded(worker.run_once, failures or Failures("delivery round"))
    scheduler = AsyncIOScheduler()
    scheduler.add_job(deliver, "interval", seconds=interval, id="deliver",
                      max_instances=1, coalesce=True, misfire_grace_time=None)
    return scheduler


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def run_scheduler(settings: Settings, *, interval: float = 1.0,
                        lease: float = 60.0) -> None:
    """Deliver pushes every ``interval`` seconds until SIGINT or SIGTERM."""
    if not settings.redis_url:
        raise ConfigError("lianxin scheduler needs LIANXIN_REDIS_URL: it must see the windows "
                          "and consents lianxin serve records (on the in-process stores, "
                          "lianxin serve delivers the outbox itself)")
    accounts = load_accounts(settings)
    purposes = load_delivery(settings.delivery_file)
    store: Store = RedisStore.from_url(settings.redis_url)
    engine = db.make_engine(settings.database_url)
    keys = KeyBuilder()
    async with aiohttp.ClientSession() as session:
        clients = {a.name: WeChatClient(session, a, store, keys, timeout=settings.api_timeout)
                   for a in accounts}
        worker = DeliveryWorker(
            Outbox(engine), store, keys, clients, purposes,
            name=worker_name(), max_attempts=settings.outbox_max_attempts, lease=lease,
        )
        scheduler = delivery_scheduler(worker, interval)
        scheduler.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"lianxin: scheduler {worker.name} delivering every {interval:g}s", flush=True)
        try:
            await stop.wait()
        finally:
            scheduler.shutdown(wait=False)
            await engine.dispose()
            await store.close()
