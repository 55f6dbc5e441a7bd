"""``/metrics`` (bot/metrics.py): Prometheus's text format on the staff listener, open
there; beside the public callbacks only for the office's token. What it counts: callbacks
by outcome, the handlers' latency, the outbox by status, pushes by channel and result,
tickets by status, scheduler runs, queue lengths."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import STAFF_APP, create_app
from storage.leases import Leases
from storage.models import Push
from storage.outbox import Outbox
from tests.citizens import Citizen, file_complaint, fresh_staff, fresh_tickets
from tests.conftest import SettingsFactory
from tests.test_staff_api import Client, bearer, world  # noqa: F401 - the fixture

World = tuple[Client, AsyncEngine, dict[str, str]]


def samples(page: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the page by name and labels."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(page) for s in family.samples}


async def test_the_page_counts_what_the_bot_did_and_what_the_database_holds(
    engine: AsyncEngine, aiohttp_client: Callable[..., Awaitable[Client]],
    make_settings: SettingsFactory, database_url: str,
) -> None:
    await fresh_tickets(engine)
    await fresh_staff(engine, ())  # nobody bound: filing pushes nothing to staff
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM scheduler_runs"))
        await conn.execute(text("DELETE FROM scheduler_leases"))
    # no delivery worker: the pushes stay as the test leaves them
    app = create_app(make_settings(database_url=database_url, staff_port=18998,
                                   deliver_in_process=False))
    client = await aiohttp_client(app)
    staff = await aiohttp_client(app[STAFF_APP])
    await file_complaint(Citizen(client, "oMetrics"))  # nine messages, one ticket
    assert (await client.post("/wechat", data="<xml>")).status == 400  # unsigned
    outbox = Outbox(engine)
    sent = await outbox.add(account="default", openid="oMetrics", purpose="reply", text="好")
    await outbox.add(account="default", openid="oMetrics", purpose="reply", text="再见")
    async with engine.begin() as conn:  # one went out by customer service, one waits
        await conn.execute(update(Push).where(Push.id == sent)
                           .values(status="sent", channel="customer"))
    leases = Leases(engine)
    assert await leases.hold("jobs", "h1", 30)
    assert await leases.claim_run("jobs", "dispatch", datetime.now(UTC), "h1")
    answer = await staff.get("/metrics")
    assert answer.status == 200
    assert answer.content_type == "text/plain"
    found = samples(await answer.text())
    assert found[("lianxin_callbacks_total", (("account", "default"), ("outcome", "answered")))
                 ] == 9
    assert found[("lianxin_callbacks_total", (("account", "default"), ("outcome", "refused")))
                 ] == 1
    assert found[("lianxin_handler_seconds_count", ())] == 9
    assert found[("lianxin_tickets", (("status", "dispatched"),))] == 1
    assert found[("lianxin_pushes", (("channel", "customer"), ("status", "sent")))] == 1
    assert found[("lianxin_outbox_pushes", (("status", "sent"),))] == 1
    assert found[("lianxin_pushes", (("channel", "none"), ("status", "queued")))] == 1
    assert found[("lianxin_queue_length", (("queue", "delivery"),))] == 1
    assert found[("lianxin_scheduler_job_runs", (("job", "dispatch"), ("outcome", "running")))
                 ] == 1
    assert found[("lianxin_queue_length", (("queue", "dispatch"),))] == 0
    assert found[("lianxin_queue_length", (("queue", "users"),))] == 0


async def test_beside_the_callbacks_the_page_needs_the_offices_token(world: World) -> None:  # noqa: F811
    client, _, tokens = world
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers=bearer(tokens["zhang"]))).status == 401
    for who in ("wang", "root"):
        answer = await client.get("/metrics", headers=bearer(tokens[who]))
        assert answer.status == 200 and "lianxin_tickets" in await answer.text()
