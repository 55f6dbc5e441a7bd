"""A scheduled job that keeps failing: its traceback once, then a count a minute, never a
line a second; and one line when it works again."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.app import create_app
from scheduler.delivery import DeliveryWorker
from scheduler.service import Failures, Rounds, delivery_scheduler, guarded
from storage import db
from storage.keys import KeyBuilder
from storage.memory import MemoryStore
from storage.outbox import Outbox
from tests.citizens import Clock
from tests.test_devplatform import SAFE, bot_settings

FIRST_FAILURE = datetime(2026, 11, 30, 12, 0, 1)


@pytest.fixture
def unmigrated(tmp_path: Path) -> str:
    """A SQLite database with no tables: every delivery round fails (no ``pushes``)."""
    path = tmp_path / "empty.db"
    path.touch()
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def unmigrated_engine(unmigrated: str) -> AsyncIterator[AsyncEngine]:
    opened = db.make_engine(unmigrated)
    yield opened
    await opened.dispose()


def worker(engine: AsyncEngine) -> DeliveryWorker:
    return DeliveryWorker(Outbox(engine), MemoryStore(), KeyBuilder(), {}, {}, name="test")


def lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "scheduler.service"]


async def test_a_failing_delivery_round_logs_a_count_not_a_traceback_a_second(
    unmigrated_engine: AsyncEngine, unmigrated: str, caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock(now=1000.0)
    failures = Failures("delivery round", clock=clock, wall=lambda: FIRST_FAILURE)
    deliver = guarded(worker(unmigrated_engine).run_once, failures)
    for _ in range(150):  # two and a half minutes of a round a second
        await deliver()
        clock.now += 1
    records = lines(caplog)
    assert [r.getMessage() for r in records] == [
        "delivery round failed (once since 12:00:01): OperationalError",
        "delivery round still failing (61 times since 12:00:01): OperationalError",
        "delivery round still failing (121 times since 12:00:01): OperationalError",
    ]
    assert [r.levelname for r in records] == ["ERROR"] * 3
    traceback = records[0].exc_info
    assert traceback is not None
    assert "no such table: pushes" in str(traceback[1])
    assert [r.exc_info for r in records[1:]] == [None, None]

    await asyncio.to_thread(db.upgrade, unmigrated)  # the operator migrates
    caplog.clear()
    await deliver()
    await deliver()
    assert [(r.levelname, r.getMessage()) for r in lines(caplog)] == [
        ("WARNING", "delivery round works again, after failing 150 times since 12:00:01"),
    ]


async def test_another_kind_of_error_shows_its_traceback_once_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock(now=0.0)
    errors: list[Exception] = [ValueError("a"), ValueError("b"), KeyError("c"), ValueError("d"),
                               KeyError("e")]

    async def job() -> None:
        raise errors.pop(0)

    run = guarded(job, Failures("survey round", clock=clock, wall=lambda: FIRST_FAILURE))
    for _ in range(5):
        await run()
        clock.now += 1
    assert [(r.getMessage(), r.exc_info is not None) for r in lines(caplog)] == [
        ("survey round failed (once since 12:00:01): ValueError", True),
        ("survey round failed (3 times since 12:00:01): KeyError", True),
    ]


async def test_the_scheduler_runs_the_delivery_round_guarded(
    unmigrated_engine: AsyncEngine, caplog: pytest.LogCaptureFixture,
) -> None:
    """Through APScheduler, as `lianxin serve` and `lianxin scheduler` run it: ten failing
    rounds a second for a second make one traceback, from our logger, none from
    APScheduler's."""
    scheduler = delivery_scheduler(worker(unmigrated_engine), interval=0.1)
    scheduler.start()
    try:
        await asyncio.sleep(1.2)
    finally:
        await scheduler.stop()
    failed = [(r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failed) == 1, failed
    assert failed[0][0] == "scheduler.service"
    assert re.fullmatch(r"delivery round failed \(once since \d\d:\d\d:\d\d\): "
                        r"OperationalError", failed[0][1])



def test_a_round_under_way_when_the_bot_stops_finishes_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`lianxin serve` (its in-process delivery) stopping while a round's query runs: the
    round finishes and gives its connection back before the engine is disposed and the
    loop closed. Else aiosqlite finishes the query after the loop has closed and its
    thread dies with "RuntimeError: Event loop is closed" (seen in the test suite as
    PytestUnhandledThreadExceptionWarning; at a real stop as a traceback in the log)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    db.upgrade(url)
    in_query, release = threading.Event(), threading.Event()
    died: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda hook: died.append(
        f"{hook.thread.name if hook.thread else '?'}: {hook.exc_value!r}"))

    def slow_query() -> int:  # the database is still at it when the bot stops
        in_query.set()
        release.wait(10)
        return 1

    make_engine = db.make_engine
    engines: list[AsyncEngine] = []

    def engine_with_slow_query(database_url: str) -> AsyncEngine:
        engines.append(make_engine(database_url))
        event.listen(engines[-1].sync_engine, "connect", lambda connection, _record:
                     connection.create_function("slow_query", 0, slow_query))
        return engines[-1]

    finished: list[int] = []

    async def slow_round(self: DeliveryWorker) -> int:
        async with AsyncSession(engines[-1]) as session:
            finished.append((await session.execute(text("SELECT slow_query()"))).scalar_one())
        return 0

    monkeypatch.setattr(db, "make_engine", engine_with_slow_query)
    monkeypatch.setattr(DeliveryWorker, "run_once", slow_round)

    async def serve_and_stop() -> None:
        app = create_app(bot_settings(url, "http://127.0.0.1:9"), accounts=[SAFE])
        runner = web.AppRunner(app)
        await runner.setup()  # as `lianxin serve`: the delivery rounds start
        try:
            assert await asyncio.to_thread(in_query.wait, 10)
            # the query ends a little after the stop began (from another thread: had
            # the stop not waited for it, after the loop closed)
            threading.Timer(0.3, release.set).start()
        except BaseException:
            release.set()  # a late round's query ends at once
            raise
        finally:  # a failure above still stops the app: the round is not left to the
            await runner.cleanup()  # loop's final cancellation, cut inside its query

    before = set(threading.enumerate())
    asyncio.run(serve_and_stop())
    for thread in set(threading.enumerate()) - before:  # its connections' threads end
        thread.join(10)
    assert finished == [1]  # the round was let finish (what it sends is sent), not cut
    assert died == []


async def test_a_round_that_does_not_finish_is_cut_short_by_the_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A round still under way after the stop's grace (a send that hangs) is cancelled:
    the stop returns, and the round says it was cut short (its lease tells the rest)."""
    caplog.set_level(logging.INFO, logger="scheduler.service")
    started = asyncio.Event()

    async def hangs() -> None:
        started.set()
        await asyncio.sleep(3600)

    rounds = Rounds(hangs, Failures("delivery round"), interval=0.05)
    rounds.start()
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.wait_for(rounds.stop(grace=0.1), 10)  # a bound on a hang only
    assert [r.getMessage() for r in lines(caplog)] == ["delivery round cut short by shutdown"]



async def test_a_round_submitted_before_the_stop_and_started_after_it_does_nothing() -> None:
    """APScheduler creates a round's task when its wakeup finds the job due; the task runs
    a turn later. A stop in between saw no round under way and returned, the round then
    ran anyway, and APScheduler's shutdown (itself queued for the next turn) cancelled it
    inside its query: the teardown of test_the_scheduler_runs_the_delivery_round_guarded
    hung for ever so, in the loop's close (3 of 8 long runs; reproduced with frequent
    garbage collections). The test reaches the scheduler to put the wakeup just there."""
    calls: list[int] = []

    async def job() -> None:
        calls.append(1)

    rounds = Rounds(job, Failures("delivery round"), interval=3600)
    rounds.start()
    job_ = rounds._scheduler.get_jobs()[0]
    job_.modify(next_run_time=datetime.now(UTC))  # due now: queues a wakeup
    await asyncio.sleep(0)  # the wakeup runs and submits the round, which has not run yet
    assert calls == [] and job_.next_run_time > datetime.now(UTC)
    await rounds.stop()
    await asyncio.sleep(0.2)
    assert calls == []


_LONG_STATEMENT = """
import asyncio, logging, sys, time
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from scheduler.service import Failures, Rounds

logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")

def statement():  # a SQLite statement outlasting the stop's grace twice over
    time.sleep(1.5)
    return 1

async def main():
    engine = create_async_engine(f"sqlite+aiosqlite:///{sys.argv[1]}")
    event.listen(engine.sync_engine, "connect",
                 lambda connection, _: connection.create_function("statement", 0, statement))
    started = asyncio.Event()

    async def round_():
        async with AsyncSession(engine) as session:
            started.set()
            await session.execute(text("SELECT statement()"))

    rounds = Rounds(round_, Failures("delivery round"), interval=0.05)
    rounds.start()
    await started.wait()
    await rounds.stop(grace=0.2)
    await engine.dispose()

asyncio.run(main())
print("exited")
"""


def test_a_round_cut_short_inside_a_long_statement_lets_the_process_exit(
    tmp_path: Path,
) -> None:
    """A round still inside a database statement twice the stop's grace after the stop
    began is cancelled, and the stop waits for it to unwind (saying so in the log), so
    nothing cancels its connection's close a second time: the process exits once the
    statement ends. Before, a second cancellation (APScheduler's shutdown, then the
    loop's close) left the close waiting for aiosqlite's thread, which had already
    stopped: the process hung for ever with only its main thread."""
    try:
        done = subprocess.run([sys.executable, "-c", _LONG_STATEMENT, str(tmp_path / "x.db")],
                              cwd=Path(__file__).resolve().parents[1], capture_output=True,
                              text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the process did not exit within 60 s of a 1.5 s statement")
    assert (done.returncode, done.stdout) == (0, "exited\n"), done.stderr
    assert ("scheduler.service 1 delivery round(s) cut short and still unwinding at "
            "shutdown (a database statement still running)") in done.stderr



class CannotConnectNowError(Exception):
    """As asyncpg names it: the server is starting up."""


def starting_up() -> Exception:
    try:
        try:
            raise CannotConnectNowError("the database system is starting up")
        except CannotConnectNowError as cause:
            raise DBAPIError("SELECT 1", {}, cause) from cause
    except DBAPIError as wrapped:
        return wrapped


async def test_a_database_going_down_and_coming_back_is_one_outage_one_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Down, the server refuses connections; coming back, it says it is starting up:
    the same outage, reported with one traceback (the fault suite saw a second one when a
    round fell in the restart's window). Another kind of error still gets its own."""
    clock = Clock(now=0.0)
    errors: list[Exception] = [ConnectionRefusedError(111, "refused"), starting_up(),
                               ConnectionRefusedError(111, "refused"), ValueError("x")]

    async def job() -> None:
        raise errors.pop(0)

    run = guarded(job, Failures("delivery round", clock=clock, wall=lambda: FIRST_FAILURE))
    for _ in range(4):
        await run()
    assert [(r.getMessage(), r.exc_info is not None) for r in lines(caplog)] == [
        ("delivery round failed (once since 12:00:01): ConnectionRefusedError", True),
        ("delivery round failed (4 times since 12:00:01): ValueError", True),
    ]


def test_a_job_beside_the_delivery_round_reports_an_outage_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The ticket jobs and the job lease share the delivery round's database: its outage
    gets one traceback there, a line here; any other error its traceback."""
    from scheduler.service import Failures

    quiet = Failures("scheduler lease", outage_traceback=False)
    with caplog.at_level(logging.ERROR):
        quiet.failed(ConnectionRefusedError(111, "Connect call failed"))
        quiet.failed(RuntimeError("a bug"))
    assert [r.exc_info is not None for r in caplog.records] == [False, True]
