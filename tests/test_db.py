"""Migrations and the citizens table on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from storage import db
from tests.conftest import SettingsFactory
from tests.test_edge import SIGNER, reply_text
from tests.wechat import event_xml


async def test_migrations_are_at_head(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    assert version == "0003"


async def test_follow_and_unfollow_are_recorded(engine: AsyncEngine) -> None:
    citizens = db.Citizens(engine)
    await citizens.set_subscribed("default", "oFollower", True)
    await citizens.set_subscribed("default", "oFollower", False)
    await citizens.set_subscribed("default", "oFollower", True)
    citizen = await citizens.get("default", "oFollower")
    assert citizen is not None
    assert citizen.subscribed
    assert citizen.unsubscribed_at is not None
    assert await citizens.get("other", "oFollower") is None


async def test_follow_through_the_edge_writes_the_citizen(
    aiohttp_client: Any, make_settings: SettingsFactory, database_url: str, engine: AsyncEngine
) -> None:
    client = await aiohttp_client(create_app(make_settings(database_url=database_url)))
    signed = SIGNER.sign(event_xml("oViaEdge", "subscribe"))
    resp = await client.post("/wechat", params=signed.params, data=signed.body)
    assert "欢迎" in reply_text(await resp.text())
    assert (await client.get("/readyz")).status == 200
    citizen = await db.Citizens(engine).get("default", "oViaEdge")
    assert citizen is not None
    assert citizen.subscribed
