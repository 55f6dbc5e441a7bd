"""Shared fixtures: settings, real Redis/PostgreSQL servers, stores on both backends."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web_app
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Account, Settings
from storage import db
from storage.base import Store
from storage.memory import MemoryStore
from storage.redis_store import RedisStore
from storage.tickets import Tickets
from tests.servers import postgres_server, redis_server

TOKEN = "lianxinTestToken"
APP_ID = "wx1234567890abcdef"
APP_SECRET = "s3cr3t-for-tests"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture(autouse=True)
def _apps_die_with_their_test() -> Iterator[None]:
    """aiohttp keeps the middleware chain it built for each (handler, apps) in a process-
    wide cache of 1,024 entries (``aiohttp.web_app._cached_build_middleware``): made for
    one app living as long as its process, it holds here every app a test built, with its
    engine, store and routes. The suite's heap grew to three million objects, each full
    garbage collection then stopped the event loop for 1–3 s, and a test's first Redis
    connection timed out. Emptied after each test (no getattr: a rename fails loudly)."""
    yield
    web_app._cached_build_middleware.cache_clear()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        db.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("db") / "lianxin.db"
    url = f"sqlite+aiosqlite:///{path}"
    db.upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Tests that take it run on SQLite and on a real PostgreSQL server."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on ``database_url`` with the tables emptied."""
    opened = db.make_engine(database_url)
    async with opened.begin() as conn:
        for table in ("pushes", "citizens"):
            await conn.execute(text(f"DELETE FROM {table}"))
    yield opened
    await opened.dispose()


@pytest.fixture
async def tickets(engine: AsyncEngine) -> Tickets:
    """The ticket repository on ``engine`` with no tickets in it."""
    async with engine.begin() as conn:
        for table in ("attachments", "ticket_events", "tickets", "ticket_counters"):
            await conn.execute(text(f"DELETE FROM {table}"))
    return Tickets(engine)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """The same tests run on both backends."""
    if request.param == "memory":
        yield MemoryStore()
        return
    url = request.getfixturevalue("redis_url")
    client: Redis = Redis.from_url(url)
    await client.flushdb()
    await client.aclose()
    opened = RedisStore.from_url(url)
    # the garbage earlier tests left (their apps, engines, stores: hundreds of thousands
    # of objects) is collected now, not by a full collection in the middle of this test,
    # which held the event loop past the client's 1.5 s timeouts (a 503 in test_edge.py)
    gc.collect()
    yield opened
    await opened.close()


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(sqlite_url: str) -> SettingsFactory:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "wechat_token": TOKEN,
            "wechat_app_id": APP_ID,
            "wechat_app_secret": APP_SECRET,
            "wechat_aes_key": AES_KEY,
            "wechat_api_base": "http://127.0.0.1:9",
            "database_url": sqlite_url,
            # the session shares one database: a store kept beside it would carry one
            # test's conversations into the next (tests/test_store_restart.py keeps it)
            "store_save_interval": 0,
            # the ticket jobs an app runs beside its delivery (the single-process
            # default) beat every third of this: never within a test, which drives the
            # jobs itself with its own clock (tests/test_jobs.py)
            "scheduler_lease": 600.0,
        }
        values.update(overrides)
        return Settings(**values)

    return build


def account_of(settings: Settings, name: str = "default") -> Account:
    return Account(
        name=name,
        token=settings.wechat_token,
        app_id=settings.wechat_app_id,
        app_secret=settings.wechat_app_secret.get_secret_value(),
        aes_key=settings.wechat_aes_key,
        api_base=settings.wechat_api_base,
    )


@pytest.fixture
def texts_path() -> Path:
    return Path(__file__).resolve().parents[1] / "config" / "texts.toml"
