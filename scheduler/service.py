"""APScheduler running the outbox delivery job, and how a job that runs every second
reports failing. ``bot/wiring.py`` builds the worker with the real channel and runs it
(``lianxin scheduler``, or in process beside ``lianxin serve``).

Run one or more (PostgreSQL): each claims with ``SKIP LOCKED``, so they share the work.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.delivery import DeliveryWorker

log = logging.getLogger(__name__)

REPORT_EVERY = 60.0  # seconds between the lines saying a job is still failing


class Failures:
    """How a job that runs every second reports failing: the traceback once (and once more
    for each other kind of error in the same streak), then one line a minute with the
    count, never a line a second; and one line when it works again.

    A database or network that cannot be reached is one kind, however the driver words
    it: a server going down refuses connections (``ConnectionRefusedError``) and, coming
    back, says it is starting up (asyncpg's ``CannotConnectNowError`` inside SQLAlchemy's
    ``DBAPIError``) — one outage, one traceback."""

    def __init__(self, what: str, *, every: float = REPORT_EVERY,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = datetime.now,
                 outage_traceback: bool = True) -> None:
        self.what = what
        # False: a server that cannot be reached is one line, no traceback (another job
        # of the same process already gave the outage its one)
        self._outage_traceback = outage_traceback
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
        family = _family(error)
        if family not in self._kinds:
            self._kinds.add(family)
            self._reported = self._clock()
            traceback = self._outage_traceback or family != UNREACHABLE
            log.error("%s failed (%s since %s): %s", self.what, _times(self._count),
                      self._since, kind, exc_info=error if traceback else None)
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


UNREACHABLE = "unreachable"


def _family(error: BaseException) -> str:
    """The kind of an error for reporting: :data:`UNREACHABLE` for a failure to reach a
    server (a ``ConnectionError`` or ``TimeoutError``, or an error named for a
    connection, the error or what it wraps: its ``__cause__`` chain), else its type's
    name."""
    seen: BaseException | None = error
    for _ in range(10):  # a chain of causes is short; a cycle must not hang a report
        if seen is None:
            break
        if (isinstance(seen, (ConnectionError, TimeoutError))
                or "Connect" in type(seen).__name__):
            return UNREACHABLE
        seen = seen.__cause__
    return type(error).__name__


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


class Rounds:
    """An APScheduler running one guarded job every ``interval`` s, never two rounds at
    once, and a stop that lets the round under way finish (see :meth:`stop`).

    APScheduler's ``shutdown`` only cancels a round under way and does not wait for it; an
    engine disposed meanwhile, then a closed loop, left its connection to be closed after
    its loop: aiosqlite's thread then failed with "Event loop is closed"."""

    def __init__(self, job: Callable[[], Awaitable[object]], failures: Failures,
                 interval: float) -> None:
        self._running: set[asyncio.Task[object]] = set()
        self._stopping = False
        self._what = failures.what
        run = guarded(job, failures)

        async def round_() -> None:
            if self._stopping:  # submitted before the stop, started after it: see stop()
                return
            task = asyncio.current_task()  # APScheduler runs a coroutine job as a task
            if task is None:
                await run()
                return
            self._running.add(task)
            try:
                await run()
            finally:
                self._running.discard(task)

        self._scheduler = AsyncIOScheduler()
        self._scheduler.add_job(round_, "interval", seconds=interval, name=failures.what,
                                max_instances=1, coalesce=True, misfire_grace_time=None)

    def start(self) -> None:
        self._scheduler.start()

    async def stop(self, grace: float = 10.0) -> None:
        """No more rounds; the one under way has ``grace`` s to finish (a push being sent
        is recorded as sent, not left to its lease), is cancelled only then, and has
        unwound when this returns, so the engine can be disposed after it.

        The wait for the unwind has no limit (a warning every ``grace`` s says what it
        waits for): a round cancelled inside an aiosqlite statement closes its connection
        only once the statement has ended in aiosqlite's thread, and a second
        cancellation of that close — APScheduler's shutdown cancels the jobs it still
        holds, the loop's close cancels every task left — makes SQLAlchemy stop the
        connection's thread before the close's own stop request, which then waits for
        ever: the process hangs at exit instead of a little later (a statement longer
        than twice ``grace``). The statement bounds this wait; the process cannot stop
        cleanly while it runs anyway.

        A round APScheduler has already created but not yet started (its task runs a turn
        after the wakeup that found it due) does nothing: it is not seen as under way
        here, and APScheduler's shutdown, itself only queued for the loop's next turn,
        would cancel it inside its query."""
        self._stopping = True
        self._scheduler.pause()
        running = set(self._running)
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            while late:
                _, late = await asyncio.wait(late, timeout=grace)
                if late:
                    log.warning("%d %s(s) cut short and still unwinding at shutdown "
                                "(a database statement still running)", len(late),
                                self._what)
        self._scheduler.shutdown(wait=False)


def delivery_scheduler(worker: DeliveryWorker, interval: float, *,
                       failures: Failures | None = None) -> Rounds:
    """The outbox's delivery round every ``interval`` s, never two rounds at once."""
    return Rounds(worker.run_once, failures or Failures("delivery round"), interval)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
