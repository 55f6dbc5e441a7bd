"""Database engine, migrations and the small repositories the edge needs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, select, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storage.models import Citizen

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def make_engine(url: str) -> AsyncEngine:
    """The engine for ``url``. A failing statement's exception (and any log line or
    traceback made of it) never carries the statement's parameters nor, on PostgreSQL,
    the row values the server quotes back: they are a citizen's openid, description,
    phone and location."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _wal(connection: Any, _record: Any) -> None:
            # readers never block the writer, and commits wait for the log, not the file
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    else:
        engine = create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10,
                                     hide_parameters=True)
    event.listen(engine.sync_engine, "handle_error", drop_row_values)
    return engine


def drop_row_values(context: ExceptionContext) -> None:
    """PostgreSQL explains a constraint violation with the values of the row ("DETAIL:
    Failing row contains (…)", "Key (openid)=(…) already exists"); asyncpg prints that
    detail in the exception's text, so a traceback would show it. Forget it."""
    seen: set[int] = set()
    error: BaseException | None = context.original_exception
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if getattr(error, "detail", None) is not None:
            error.detail = None  # type: ignore[attr-defined]
        error = error.__cause__ or error.__context__


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (blocking; call from a thread or the CLI)."""
    command.upgrade(alembic_config(url), revision)


class Citizens:
    """Follow and unfollow bookkeeping."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def set_subscribed(self, account: str, openid: str, subscribed: bool) -> None:
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            citizen = await session.scalar(
                select(Citizen)
                .where(Citizen.account == account, Citizen.openid == openid)
                .with_for_update()
            )
            if citizen is None:
                citizen = Citizen(account=account, openid=openid, first_seen_at=now)
                session.add(citizen)
            citizen.subscribed = subscribed
            if subscribed:
                citizen.subscribed_at = now
            else:
                citizen.unsubscribed_at = now

    async def get(self, account: str, openid: str) -> Citizen | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Citizen).where(Citizen.account == account, Citizen.openid == openid)
            )
