"""Exactly one active scheduler (scheduler/runner.py, storage/leases.py): the ticket jobs
run where the job lease is held, once per tick however many schedulers beat; a holder
that stops or dies is replaced within the lease; in processes, two ``lianxin scheduler``
against one PostgreSQL, one killed with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from domain.tickets import Status
from scheduler.jobs import Tools
from scheduler.runner import LEASE, JobRunner, tick_of
from storage import db
from storage.leases import Leases
from storage.models import Push, Ticket, TicketEvent
from storage.tickets import Tickets
from tests.citizens import demo_catalogue, fresh_tickets
from tests.conftest import AES_KEY, APP_ID, APP_SECRET, TOKEN
from tests.test_jobs import CALENDAR, TEXTS, china
from tests.test_tickets_store import new

ROOT = Path(__file__).resolve().parents[1]


class Counting:
    """A job that counts its runs (and fails when told to, or takes ``slow`` seconds)."""

    def __init__(self, slow: float = 0.0) -> None:
        self.runs: list[datetime] = []
        self.fail = False
        self.slow = slow

    async def __call__(self, now: datetime, tools: Tools) -> int:
        self.runs.append(now)
        await asyncio.sleep(self.slow)
        if self.fail:
            raise RuntimeError("the job failed")
        return 1


class MovingClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
async def leases(engine: AsyncEngine) -> Leases:
    async with engine.begin() as conn:
        for table in ("scheduler_runs", "scheduler_leases"):
            await conn.execute(text(f"DELETE FROM {table}"))
    return Leases(engine)


def runner(leases: Leases, engine: AsyncEngine, name: str, jobs: dict[str, Counting],
           clock: MovingClock, ttl: float = 30.0) -> JobRunner:
    async def no_catalogue() -> None:
        return None

    tools = Tools(engine, TEXTS, no_catalogue, lambda: CALENDAR)
    return JobRunner(leases, tools, holder=name, clock=clock, lease_ttl=ttl, tick=60.0,
                     jobs={job: (counting, 1) for job, counting in jobs.items()})


async def test_of_two_schedulers_one_runs_each_job_once_per_tick(
    leases: Leases, engine: AsyncEngine,
) -> None:
    jobs = {"a": Counting(), "b": Counting()}
    clock = MovingClock(china(2026, 12, 1, 9))
    first, second = (runner(leases, engine, n, jobs, clock) for n in ("h1", "h2"))
    for _ in range(3):
        await first.beat()
        await second.beat()
    assert (first.leading, second.leading) == (True, False)
    assert [len(job.runs) for job in jobs.values()] == [1, 1]
    clock.moment += timedelta(seconds=60)
    await second.beat()
    await first.beat()
    assert [len(job.runs) for job in jobs.values()] == [2, 2]
    assert [(job, holder, outcome) for job, _, holder, outcome in await leases.runs()] == [
        ("a", "h1", "ok"), ("b", "h1", "ok"), ("a", "h1", "ok"), ("b", "h1", "ok")]


async def test_a_clean_stop_hands_over_at_once_and_a_tick_run_is_not_run_again(
    leases: Leases, engine: AsyncEngine,
) -> None:
    jobs = {"a": Counting()}
    clock = MovingClock(china(2026, 12, 1, 9))
    first, second = (runner(leases, engine, n, jobs, clock) for n in ("h1", "h2"))
    await first.beat()
    await first.release()
    assert await leases.holder(LEASE) is None
    await second.beat()
    assert second.leading
    assert len(jobs["a"].runs) == 1  # the tick h1 ran is not run again by h2
    clock.moment += timedelta(seconds=60)
    await second.beat()
    assert [holder for _, _, holder, _ in await leases.runs()] == ["h1", "h2"]


async def test_a_holder_that_stops_renewing_is_replaced_and_then_claims_nothing(
    leases: Leases, engine: AsyncEngine,
) -> None:
    jobs = {"a": Counting()}
    clock = MovingClock(china(2026, 12, 1, 9))
    first = runner(leases, engine, "h1", jobs, clock, ttl=1.0)
    second = runner(leases, engine, "h2", jobs, clock, ttl=1.0)
    await first.beat()
    await second.beat()
    assert not second.leading
    await asyncio.sleep(2.1)  # h1 paused past its lease (the database's clock is real)
    await second.beat()
    assert second.leading
    clock.moment += timedelta(seconds=60)
    tick = tick_of(clock.moment, 60.0)
    # h1 wakes up believing it leads: its claim checks the lease and finds h2's
    assert not await leases.claim_run(LEASE, "a", tick, "h1")
    await first.beat()
    assert not first.leading
    await second.beat()
    assert [holder for _, _, holder, _ in await leases.runs()] == ["h1", "h2"]


async def test_a_job_slower_than_the_lease_does_not_cost_the_next_job_its_tick(
    leases: Leases, engine: AsyncEngine,
) -> None:
    """The lease is renewed before each job: the job after a slow one still runs in the
    same tick (its claim would find the lease run out otherwise)."""
    jobs = {"slow": Counting(slow=1.5), "next": Counting()}
    clock = MovingClock(china(2026, 12, 1, 9))
    only = runner(leases, engine, "h1", jobs, clock, ttl=1.0)
    await only.beat()
    assert [len(job.runs) for job in jobs.values()] == [1, 1]
    assert [(job, outcome) for job, _, _, outcome in await leases.runs()] == [
        ("slow", "ok"), ("next", "ok")]


async def test_a_failing_job_is_recorded_and_run_again_at_the_next_tick(
    leases: Leases, engine: AsyncEngine, caplog: pytest.LogCaptureFixture,
) -> None:
    jobs = {"a": Counting(), "b": Counting()}
    jobs["a"].fail = True
    clock = MovingClock(china(2026, 12, 1, 9))
    only = runner(leases, engine, "h1", jobs, clock)
    await only.beat()
    await only.beat()  # the same tick: not again
    clock.moment += timedelta(seconds=60)
    await only.beat()
    assert (len(jobs["a"].runs), len(jobs["b"].runs)) == (2, 2)  # b ran despite a
    assert [(job, outcome) for job, _, _, outcome in await leases.runs()] == [
        ("a", "failed"), ("b", "ok"), ("a", "failed"), ("b", "ok")]
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1 and "job a failed" in tracebacks[0].getMessage()


# -- processes --------------------------------------------------------------------------------


@pytest.fixture
async def pg_database(postgres_url: str) -> AsyncIterator[str]:
    """A database of its own on the test PostgreSQL server, migrated to head."""
    server = make_url(postgres_url)
    name = f"sched_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))
    url = server.set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(db.upgrade, url)
    try:
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        await admin.dispose()


LEASE_SECONDS = 2.0


@pytest.fixture
def scheduler_env(pg_database: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIANXIN_")}
    env.update(
        LIANXIN_WECHAT_TOKEN=TOKEN, LIANXIN_WECHAT_APP_ID=APP_ID,
        LIANXIN_WECHAT_APP_SECRET=APP_SECRET, LIANXIN_WECHAT_AES_KEY=AES_KEY,
        # nothing listens there: the pushes the jobs make wait in the outbox
        LIANXIN_WECHAT_API_BASE="http://127.0.0.1:9",
        LIANXIN_DATABASE_URL=pg_database, LIANXIN_REDIS_URL=redis_url,
        LIANXIN_SCHEDULER_LEASE=str(LEASE_SECONDS), LIANXIN_SCHEDULER_TICK="0.5")
    return env


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def start(env: dict[str, str], tmp_path: Path, name: str,
          started: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    with (tmp_path / f"{name}.log").open("wb") as log:  # the child keeps its own copy
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "scheduler"], env=env,
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    started.append(proc)
    return proc


async def until(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> float:
    """Wait until ``await check()`` is true; the seconds it took."""
    began = time.monotonic()
    while not await check():
        if time.monotonic() - began > within:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - began


async def waiting_ticket(engine: AsyncEngine, key: str) -> int:
    ticket, _ = await Tickets(engine).create(new(key, region="chengguan"),
                                             now=datetime.now(UTC))
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE tickets SET status = 'submitted' WHERE id = :id"),
                           {"id": ticket.id})
    return ticket.id


async def dispatches(engine: AsyncEngine, ticket_id: int) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id, TicketEvent.action == "dispatch")) or 0)


async def test_two_scheduler_processes_one_killed_the_other_takes_over_and_nothing_twice(
    scheduler_env: dict[str, str], pg_database: str, tmp_path: Path,
    spawn: list[subprocess.Popen[bytes]],
) -> None:
    engine = db.make_engine(pg_database)
    leases = Leases(engine)
    try:
        await fresh_tickets(engine, catalogue=demo_catalogue())
        first_ticket = await waiting_ticket(engine, "k1")
        first = start(scheduler_env, tmp_path, "first", spawn)
        await until(lambda: _held_by(leases, first.pid))
        second = start(scheduler_env, tmp_path, "second", spawn)
        await until(lambda: _is_dispatched(engine, first_ticket))
        await asyncio.sleep(LEASE_SECONDS * 2)  # both beat for a while: the first leads
        assert _of(await leases.holder(LEASE), first.pid)
        assert all(_of(holder, first.pid) for *_, holder, _ in await leases.runs())

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        took = await until(lambda: _held_by(leases, second.pid))
        # the lease runs out LEASE_SECONDS after the last renewal, which came up to a
        # beat (a third of the lease) before the kill; the next beat takes it
        assert took <= LEASE_SECONDS + LEASE_SECONDS / 3 + 1.5
        second_ticket = await waiting_ticket(engine, "k2")
        await until(lambda: _is_dispatched(engine, second_ticket))
        await asyncio.sleep(1.0)

        # each ticket dispatched once, its citizen told once
        assert [await dispatches(engine, t) for t in (first_ticket, second_ticket)] == [1, 1]
        async with engine.connect() as conn:
            told = (await conn.scalars(select(Push.text).where(
                Push.purpose == "ticket_status").order_by(Push.id))).all()
        assert len(told) == 2
        runs = await leases.runs()
        holders = [holder for *_, holder, _ in runs]
        assert {_of(h, first.pid) for h in holders} == {True, False}
        assert all(_of(h, first.pid) or _of(h, second.pid) for h in holders)
        # the first's runs all come before the second's: never both at once
        assert holders == sorted(holders, key=lambda h: not _of(h, first.pid))
        assert len({(job, tick) for job, tick, _, _ in runs}) == len(runs)

        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0
        assert await leases.holder(LEASE) is None  # a clean stop gives the lease up
    finally:
        await engine.dispose()


def _of(holder: str | None, pid: int) -> bool:
    """Whether ``holder`` (host:pid:random) is the process ``pid`` of this host."""
    return holder is not None and holder.startswith(f"{socket.gethostname()}:{pid}:")


async def _held_by(leases: Leases, pid: int) -> bool:
    return _of(await leases.holder(LEASE), pid)


async def _is_dispatched(engine: AsyncEngine, ticket_id: int) -> bool:
    async with engine.connect() as conn:
        status = await conn.scalar(select(Ticket.status).where(Ticket.id == ticket_id))
    return status == Status.DISPATCHED.value
