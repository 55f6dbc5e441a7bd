"""``lianxin scheduler``: APScheduler running the outbox delivery job in one process.

Run one or more (PostgreSQL): each claims with ``SKIP LOCKED``, so they share the work.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket

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


def delivery_scheduler(worker: DeliveryWorker, interval: float) -> AsyncIOScheduler:
    """An APScheduler running ``worker`` every ``interval`` s, never two rounds at once."""

    async def deliver() -> None:
        try:
            await worker.run_once()
        except asyncio.CancelledError:  # shutting down mid-round: the leases will tell
            log.info("delivery round cut short by shutdown")

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
