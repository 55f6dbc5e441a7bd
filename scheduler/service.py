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
from typing import Any

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


class _Guarded:
    """A guarded job and its runs under way (see :func:`shut_down`)."""

    def __init__(self, job: Callable[[], Awaitable[object]], failures: Failures) -> None:
        self._job = job
        self._failures = failures
        self.running: set[asyncio.Task[Any]] = set()

    async def run(self) -> None:
        task = asyncio.current_task()
        assert task is not None  # APScheduler runs a coroutine job as a task
        self.running.add(task)
        try:
            await self._job()
        except asyncio.CancelledError:  # shutting down mid-round: the leases will tell
            log.info("%s cut short by shutdown", self._failures.what)
        except Exception as error:
            self._failures.failed(error)
        else:
            self._failures.succeeded()
        finally:
            self.running.discard(task)


def guarded(job: Callable[[], Awaitable[object]],
            failures: Failures) -> Callable[[], Awaitable[None]]:
    """``job`` as a scheduled job: its errors go to ``failures``, not to APScheduler (which
    would log each with its traceback). A bound coroutine method, so that APScheduler
    runs it as a coroutine (an object with an async ``__call__`` it would run in a thread)."""
    return _Guarded(job, failures).run


async def shut_down(scheduler: AsyncIOScheduler, grace: float = 10.0) -> None:
    """Stop ``scheduler`` with no run of its jobs left behind; call it before the database
    engine is disposed.

    APScheduler's own shutdown cancels a run under way and returns at once: the run goes
    on unwinding after its caller closed the engine, and one cut in the middle of an
    aiosqlite statement leaves its connection closing in a task of its own, which the
    event loop's final cancellation can deadlock (aiosqlite's worker thread takes the
    cancelled run's stop request first and exits before the close's own stop: the loop
    waits for it forever, and the process never exits). So no run is started any more,
    a run under way has ``grace`` s to finish, and one cut short then is waited for (at
    most ``grace`` s more) until it has unwound.
    """
    scheduler.pause()
    guards = [getattr(job.func, "__self__", None) for job in scheduler.get_jobs()]
    running = {task for guard in guards if isinstance(guard, _Guarded)
               for task in guard.running}
    if running:
        _, late = await asyncio.wait(running, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            _, stuck = await asyncio.wait(late, timeout=grace)
            if stuck:
                log.warning("%d scheduled run(s) still unwinding at shutdown", len(stuck))
    scheduler.shutdown(wait=False)


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
            await shut_down(scheduler)
            await engine.dispose()
            await store.close()
