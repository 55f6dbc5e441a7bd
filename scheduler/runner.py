"""One active scheduler among several: the ticket jobs run where the lease is held.

Every ``beat`` seconds each scheduler process tries to hold the lease (a row in the
database, ``storage/leases.py``, timed by the database's clock). The holder renews it at
each beat; the others find it held and wait. When the holder dies, its lease runs out
after ``lease_ttl`` seconds and the next beat of another process takes it: a take-over
within ``lease_ttl + beat``. A clean stop gives the lease up at once.

The holder runs each job once per tick of its own (its period: a number of the runner's
``tick`` seconds; the time is the clock the jobs read):
it claims the tick in the run log first, in a transaction that checks it still holds the
lease, so a holder that was paused past its lease claims nothing, and a tick claimed by a
process that died mid-job is not run again (the jobs are idempotent besides: what they
send is recorded with it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from scheduler.jobs import JOBS, Job, Tools
from scheduler.service import Failures, Rounds
from storage.leases import Leases

log = logging.getLogger(__name__)

LEASE = "jobs"


def tick_of(now: datetime, every: float) -> datetime:
    """The start of the period of ``every`` seconds that ``now`` falls in."""
    seconds = now.timestamp()
    return datetime.fromtimestamp(seconds - seconds % every, UTC)


class JobRunner:
    def __init__(self, leases: Leases, tools: Tools, *, holder: str,
                 jobs: Mapping[str, tuple[Job, int]] = JOBS,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 lease_ttl: float = 30.0, tick: float = 60.0) -> None:
        self._leases = leases
        self._tools = tools
        self.holder = holder
        self._jobs = dict(jobs)
        self._clock = clock
        self._ttl = lease_ttl
        self._tick = tick
        self.leading = False
        self._last: dict[str, datetime] = {}
        # a database outage gets its traceback from the delivery round beside these (the
        # same process, the same database): here one line each
        self._failures = {name: Failures(f"job {name}", outage_traceback=False)
                          for name in self._jobs}
        self._lease_failures = Failures("scheduler lease", outage_traceback=False)

    async def beat(self) -> None:
        """Hold the lease (take it, renew it); as its holder, run each job whose tick
        has come and has not been run, renewing the lease before each (a slow job does
        not outlive it unnoticed)."""
        if not await self._hold():
            return
        now = self._clock()
        first = True
        for name, (job, ticks) in self._jobs.items():
            tick = tick_of(now, ticks * self._tick)
            if self._last.get(name) == tick:
                continue
            if not first and not await self._hold():
                return
            first = False
            await self._run(name, job, tick, now)

    async def _hold(self) -> bool:
        """Take or renew the lease; whether this process holds it."""
        try:
            leading = await self._leases.hold(LEASE, self.holder, self._ttl)
        except Exception as error:
            self._lease_failures.failed(error)
            leading = False
        else:
            self._lease_failures.succeeded()
        if leading != self.leading:
            log.info("scheduler %s %s the job lease", self.holder,
                     "holds" if leading else "no longer holds")
        self.leading = leading
        return leading

    async def _run(self, name: str, job: Job, tick: datetime, now: datetime) -> None:
        failures = self._failures[name]
        try:
            if not await self._leases.claim_run(LEASE, name, tick, self.holder):
                self._last[name] = tick  # run by another, or the lease was lost
                return
        except Exception as error:
            failures.failed(error)
            return
        self._last[name] = tick
        try:
            done = await job(now, self._tools)
        except Exception as error:
            failures.failed(error)
            ok, done = False, 0
        else:
            failures.succeeded()
            ok = True
            if done:
                log.info("job %s: %d done", name, done)
        try:
            await self._leases.finish_run(name, tick, ok=ok, done=done)
        except Exception as error:  # the run happened; only its record is incomplete
            failures.failed(error)

    async def release(self) -> None:
        """Give the lease up (a clean stop), so another scheduler takes over at once."""
        if self.leading:
            try:
                await self._leases.release(LEASE, self.holder)
            except Exception as error:  # it runs out by itself
                log.warning("could not give the job lease up: %s", type(error).__name__)
            self.leading = False


def job_scheduler(runner: JobRunner, beat: float) -> Rounds:
    """The runner's beat every ``beat`` seconds, never two at once."""
    return Rounds(runner.beat, Failures("scheduler beat"), beat)
