"""One active scheduler among several: a lease row in the database, and a run log that
lets each job run once per tick.

Times are the database server's (``CURRENT_TIMESTAMP``), never a host's: two hosts whose
clocks disagree still agree on who holds the lease. On PostgreSQL a take-over is one
conditional ``UPDATE`` (the row lock orders two hosts trying at once; the loser's ``WHERE``
is evaluated again on the winner's row and no longer matches).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.models import SchedulerLease, SchedulerRun


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def _db_now(session: AsyncSession) -> datetime:
    moment: datetime | None = await session.scalar(
        select(func.current_timestamp(type_=DateTime(timezone=True))))
    assert moment is not None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Leases:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def hold(self, name: str, holder: str, ttl: float) -> bool:
        """Take the lease ``name`` for ``ttl`` seconds if it is free or has run out, or
        renew it if ``holder`` has it; whether ``holder`` has it now."""
        async with self._sessions.begin() as session:
            now = await _db_now(session)
            until = now + timedelta(seconds=ttl)
            await session.execute(
                _insert(session)(SchedulerLease)
                .values(name=name, holder=holder, until=until)
                .on_conflict_do_nothing(index_elements=["name"]))
            taken = await session.scalar(
                update(SchedulerLease)
                .where(SchedulerLease.name == name,
                       or_(SchedulerLease.holder == holder, SchedulerLease.until < now))
                .values(holder=holder, until=until).returning(SchedulerLease.holder))
            return taken == holder

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up (a clean stop): another host takes it at its next try."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == name, SchedulerLease.holder == holder)
                .values(until=datetime(2000, 1, 1, tzinfo=UTC)))

    async def holder(self, name: str) -> str | None:
        """Who holds the lease now (``None``: nobody, or it has run out)."""
        async with self._sessions() as session:
            now = await _db_now(session)
            return await session.scalar(select(SchedulerLease.holder).where(
                SchedulerLease.name == name, SchedulerLease.until >= now))

    async def claim_run(self, lease: str, job: str, tick: datetime, holder: str) -> bool:
        """Record that ``holder`` runs ``job`` for ``tick``, if it still holds ``lease``
        and nobody has claimed that tick; whether it may run it (the lease is checked in
        the same transaction: a holder that lost it while paused claims nothing)."""
        async with self._sessions.begin() as session:
            now = await _db_now(session)
            holds = await session.scalar(select(SchedulerLease.name).where(
                SchedulerLease.name == lease, SchedulerLease.holder == holder,
                SchedulerLease.until >= now).with_for_update())
            if holds is None:
                return False
            claimed = await session.scalar(
                _insert(session)(SchedulerRun)
                .values(job=job, tick=tick, holder=holder, started_at=now)
                .on_conflict_do_nothing(index_elements=["job", "tick"])
                .returning(SchedulerRun.id))
            return claimed is not None

    async def finish_run(self, job: str, tick: datetime, *, ok: bool, done: int) -> None:
        async with self._sessions.begin() as session:
            now = await _db_now(session)
            await session.execute(
                update(SchedulerRun).where(SchedulerRun.job == job, SchedulerRun.tick == tick)
                .values(finished_at=now, outcome="ok" if ok else "failed", done=done))

    async def runs(self, job: str | None = None) -> list[tuple[str, datetime, str, str | None]]:
        """The run log, oldest first: (job, tick, holder, outcome)."""
        query = select(SchedulerRun.job, SchedulerRun.tick, SchedulerRun.holder,
                       SchedulerRun.outcome).order_by(SchedulerRun.id)
        if job is not None:
            query = query.where(SchedulerRun.job == job)
        async with self._sessions() as session:
            return [(j, t if t.tzinfo else t.replace(tzinfo=UTC), h, o)
                    for j, t, h, o in (await session.execute(query)).all()]

    async def forget_runs(self, before: datetime) -> int:
        """Drop the run log's entries for ticks before ``before``; how many."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(SchedulerRun).where(and_(SchedulerRun.tick < before))
                .returning(SchedulerRun.id))
            return len(result.all())
