"""Migrations and the citizens table on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.app import create_app
from storage import db
from storage.models import Base, Region
from tests.conftest import SettingsFactory
from tests.test_edge import SIGNER, reply_text
from tests.wechat import event_xml


async def test_migrations_are_at_head(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    assert version == "0013"


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no tables at all, on SQLite or on the test PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/empty.db"
        return
    server = make_url(str(request.getfixturevalue("postgres_url")))
    name = f"empty_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        await admin.dispose()


def _schema_drift(conn: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


async def test_migrations_build_the_models_schema(empty_url: str) -> None:
    await asyncio.to_thread(db.upgrade, empty_url)
    engine = db.make_engine(empty_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_drift) == []
    finally:
        await engine.dispose()


TICKET = ("INSERT INTO tickets (number, idempotency_key, account, openid, kind, category, "
          "region, department, description, public, status, due_on, created_at) VALUES "
          "(:number, :number, 'default', 'oA', '投诉', 'zfjs', :region, 'zjj', '漏水', false, "
          "'dispatched', :due_on, :created_at)")


async def test_0004_lets_region_and_due_date_be_unknown_and_goes_back(empty_url: str) -> None:
    """Tickets made before 0004 survive it both ways; tickets made after it without a
    region or due date get "" and their creation day when going back to 0003."""
    made = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    await asyncio.to_thread(db.upgrade, empty_url, "0003")
    engine = db.make_engine(empty_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(TICKET), {"number": "LX1", "region": "hekou",
                                              "due_on": date(2026, 11, 30), "created_at": made})
            await conn.execute(text(
                "INSERT INTO ticket_events (ticket_id, actor, at, to_status, note) "
                "SELECT id, 'citizen', created_at, 'submitted', '' FROM tickets"))
        await asyncio.to_thread(db.upgrade, empty_url)
        async with engine.begin() as conn:
            await conn.execute(text(TICKET), {"number": "LX2", "region": None, "due_on": None,
                                              "created_at": made})
            assert await conn.scalar(text("SELECT count(*) FROM catalogue_meta")) == 0
        await asyncio.to_thread(command.downgrade, db.alembic_config(empty_url), "0003")
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT number, region, due_on FROM tickets ORDER BY number"))).all()
            events = await conn.scalar(text("SELECT count(*) FROM ticket_events"))
            tables = await conn.run_sync(
                lambda c: set(c.dialect.get_table_names(c)))
        assert [(n, r, str(d)) for n, r, d in rows] == [
            ("LX1", "hekou", "2026-11-30"), ("LX2", "", "2026-11-23")]
        assert events == 1
        assert not {"catalogue_meta", "departments", "routing_rules"} & tables
        await asyncio.to_thread(db.upgrade, empty_url)
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_drift) == []
    finally:
        await engine.dispose()


async def test_0005_carries_image_pushes_and_going_back_fails_the_unsent_ones(
    empty_url: str,
) -> None:
    """Below 0005 an image or news push would go out as its label: going back fails the
    unsent ones with the reason; text pushes and sent ones are left as they were."""
    from domain.messages import Outbound
    from storage.outbox import Outbox

    await asyncio.to_thread(db.upgrade, empty_url)
    engine = db.make_engine(empty_url)
    try:
        outbox = Outbox(engine)
        sent_image, text_push, queued_image = await outbox.add_replies(
            account="default", openid="oA", outbounds=[
                Outbound.of_image("M1"), Outbound.of_text("文字"), Outbound.of_image("M2")])
        (claimed,) = await outbox.claim("w", limit=1, lease=30)
        assert claimed.id == sent_image
        assert await outbox.sent(sent_image, "w", "custom", "ok")
        await asyncio.to_thread(command.downgrade, db.alembic_config(empty_url), "0004")
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT id, status, reason FROM pushes ORDER BY id"))).all()
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in c.dialect.get_columns(c, "pushes")})
        assert "message" not in columns
        assert [(i, s) for i, s, _ in rows] == [
            (sent_image, "sent"), (text_push, "queued"), (queued_image, "failed")]
        assert "image and news pushes cannot be sent" in rows[2][2]
        await asyncio.to_thread(db.upgrade, empty_url)
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_drift) == []
    finally:
        await engine.dispose()


async def test_0013_gives_regions_loaded_before_it_no_places_and_goes_back(
    empty_url: str,
) -> None:
    """A catalogue loaded before 0013 keeps its regions, with no places (matched by name as
    before) until it is loaded again; going back drops the places, not the regions."""
    await asyncio.to_thread(db.upgrade, empty_url, "0012")
    engine = db.make_engine(empty_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO regions (id, name, parent, position) VALUES "
                "('chengqu', '县城区', NULL, 0), ('hekou', '河口乡', NULL, 1)"))
        await asyncio.to_thread(db.upgrade, empty_url, "0013")
        async with engine.begin() as conn:
            rows = (await conn.execute(
                select(Region.id, Region.places).order_by(Region.position))).all()
            assert [tuple(row) for row in rows] == [("chengqu", []), ("hekou", [])]
            await conn.execute(update(Region).where(Region.id == "hekou")
                               .values(places=["张家村", "李家村"]))
            places = await conn.scalar(select(Region.places).where(Region.id == "hekou"))
            assert places == ["张家村", "李家村"]
        await asyncio.to_thread(command.downgrade, db.alembic_config(empty_url), "0012")
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT id, name FROM regions ORDER BY position"))).all()
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in c.dialect.get_columns(c, "regions")})
        assert [tuple(row) for row in rows] == [("chengqu", "县城区"), ("hekou", "河口乡")]
        assert "places" not in columns
        await asyncio.to_thread(db.upgrade, empty_url)
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_drift) == []
    finally:
        await engine.dispose()


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
