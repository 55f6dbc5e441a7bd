"""Prometheus metrics (``prometheus-client``), served at ``/metrics``: what this process
counts as it works (callbacks by outcome, the handlers' latency), and what the database
holds when the page is read (the outbox by status, pushes by channel and result, tickets
by status, the scheduler's runs and failures, the lengths of the queues), so that the
figures of a ``lianxin scheduler`` running elsewhere are here too.

Each application has a registry of its own (tests make many). The README lists the
metrics.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.messages import Inbound, Outbound
from domain.tickets import Pending, Status
from handlers.context import Handler, StateContext
from storage.models import Push, SchedulerRun, Ticket
from storage.outbox import utcnow

# the handlers answer within WeChat's 5 s, or late: buckets around the reply budget
HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 4.0, 4.8, 10.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.callbacks = Counter(
            "lianxin_callbacks", "WeChat callbacks by account and outcome: answered (a "
            "passive reply), success (nothing to say now, or said later through the "
            "outbox), refused (4xx), retry (503: WeChat tries again)",
            ["account", "outcome"], registry=r)
        self.handler_seconds = Histogram(
            "lianxin_handler_seconds", "Seconds the handlers took per message",
            buckets=HANDLER_BUCKETS, registry=r)
        self.outbox = Gauge("lianxin_outbox_pushes", "Pushes in the outbox by status",
                            ["status"], registry=r)
        self.pushes = Gauge(
            "lianxin_pushes", "Pushes by the channel they went by (none: not sent) and "
            "their result (status)", ["channel", "status"], registry=r)
        self.tickets = Gauge("lianxin_tickets", "Tickets by status", ["status"], registry=r)
        self.job_runs = Gauge(
            "lianxin_scheduler_job_runs", "Scheduler job runs in the run log (kept "
            "LIANXIN_SCHEDULER_TICK × 60 … a week), by job and outcome (ok, failed, "
            "running)", ["job", "outcome"], registry=r)
        self.queues = Gauge(
            "lianxin_queue_length", "Work waiting: delivery (pushes due to be sent now), "
            "pending (pushes waiting for the user to write), dispatch (tickets awaiting a "
            "department), approval (extensions and answers awaiting the office), users "
            "(citizens with a message in line in this process)", ["queue"], registry=r)
        self._outcomes: dict[tuple[str, str], Counter] = {}

    def callback(self, account: str, outcome: str) -> None:
        child = self._outcomes.get((account, outcome))
        if child is None:
            child = self._outcomes[(account, outcome)] = self.callbacks.labels(
                account, outcome)
        child.inc()

    def timed(self, handler: Handler) -> Handler:
        """``handler``, its time per message observed."""
        observe = self.handler_seconds.observe

        async def run(inbound: Inbound, state: StateContext) -> list[Outbound]:
            began = time.perf_counter()
            try:
                return await handler(inbound, state)
            finally:
                observe(time.perf_counter() - began)

        return run

    async def refresh(self, engine: AsyncEngine, users_in_line: int) -> None:
        """Read what the database holds into the gauges."""
        now = utcnow()
        async with engine.connect() as conn:
            by_status = (await conn.execute(
                select(Push.status, Push.channel, func.count()).group_by(Push.status,
                                                                        Push.channel))).all()
            tickets = (await conn.execute(
                select(Ticket.status, func.count()).group_by(Ticket.status))).all()
            runs = (await conn.execute(
                select(SchedulerRun.job, SchedulerRun.outcome, func.count())
                .group_by(SchedulerRun.job, SchedulerRun.outcome))).all()
            due = await conn.scalar(select(func.count()).select_from(Push).where(
                Push.status == "queued", Push.next_attempt_at <= now))
            dispatch = await conn.scalar(select(func.count()).select_from(Ticket).where(
                Ticket.status.in_([Status.SUBMITTED.value, Status.RETURNED.value])))
            approval = await conn.scalar(select(func.count()).select_from(Ticket).where(
                or_(Ticket.pending == Pending.EXTENSION.value,
                    Ticket.pending == Pending.REVIEW.value)))
        outbox: dict[str, int] = {}
        self.pushes.clear()
        for status, channel, count in by_status:
            outbox[status] = outbox.get(status, 0) + count
            self.pushes.labels(channel or "none", status).set(count)
        _set(self.outbox, ((s,) for s in outbox), outbox.values())
        _set(self.tickets, ((s,) for s, _ in tickets), (c for _, c in tickets))
        _set(self.job_runs, ((j, o or "running") for j, o, _ in runs), (c for *_, c in runs))
        for queue, length in (("delivery", due), ("pending", outbox.get("pending", 0)),
                              ("dispatch", dispatch), ("approval", approval),
                              ("users", users_in_line)):
            self.queues.labels(queue).set(int(length or 0))

    def page(self) -> bytes:
        return generate_latest(self.registry)


def _set(gauge: Gauge, labels: Iterable[tuple[str, ...]], values: Iterable[int]) -> None:
    gauge.clear()  # a status no longer present is not left at its last count
    for label, value in zip(labels, values, strict=True):
        gauge.labels(*label).set(value)


def outcome_of(response: web.StreamResponse) -> str:
    """What a callback's answer was, for :attr:`Metrics.callbacks`."""
    if response.status == 503:
        return "retry"
    if response.status >= 400:
        return "refused"
    return "answered" if response.content_type == "application/xml" else "success"


def metrics_page(metrics: Metrics, engine: Callable[[], AsyncEngine],
                 users_in_line: Callable[[], int]) -> Callable[[web.Request],
                                                               Awaitable[web.Response]]:
    async def page(request: web.Request) -> web.Response:
        await metrics.refresh(engine(), users_in_line())
        return web.Response(body=metrics.page(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    return page
