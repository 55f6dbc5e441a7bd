"""Database engine, migrations and the small repositories the edge needs."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection, ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storage.models import Citizen

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
UPGRADE = "run `lianxin db upgrade` first"


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


# asyncpg's text for a value its codec cannot encode: "invalid input for query argument $3:
# '<the value, up to 40 characters>' (<the codec's complaint, which may quote it too>)"
_BAD_ARGUMENT = re.compile(
    r"invalid input for query argument \$\d+(?: in element #\d+ of executemany\(\) sequence)?")


def drop_row_values(context: ExceptionContext) -> None:
    """Forget the values a driver quotes in an error, so no exception text, log line or
    traceback made of it shows them: PostgreSQL explains a constraint violation with the
    row ("DETAIL: Failing row contains (…)", "Key (openid)=(…) already exists"), which
    asyncpg prints with the exception; and asyncpg names a value it could not encode (a
    value of the wrong type: a programming error, but its value is a citizen's)."""
    seen: set[int] = set()
    errors: list[BaseException | None] = [context.sqlalchemy_exception,
                                          context.original_exception]
    while errors:
        error = errors.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        errors += [error.__cause__, error.__context__]
        if isinstance(getattr(error, "detail", None), str):  # asyncpg's, not SQLAlchemy's list
            error.detail = None  # type: ignore[attr-defined]
        message = error.args[0] if error.args else None
        found = _BAD_ARGUMENT.search(message) if isinstance(message, str) else None
        if isinstance(message, str) and found is not None:
            error.args = (f"{message[:found.end()]}: the value is not shown", *error.args[1:])
            if type(error).__module__.startswith("asyncpg"):
                error.__cause__ = None  # the codec's own complaint may quote the value
                error.__suppress_context__ = True


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


def head_revision() -> str | None:
    """The newest migration this code has."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


class NotReady(Exception):
    """The database cannot serve this lianxin (unreachable, not created, not migrated to
    the code's head); the message is one line saying what to do."""


def one_line(exc: BaseException) -> str:
    """``Type: first line`` (SQLAlchemy adds a line pointing at its docs)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def refuse_missing_file(url: str) -> None:
    """:class:`NotReady` when ``url`` is a SQLite file that does not exist: connecting
    would make an empty one."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database or "")
        if not path.exists():
            raise NotReady(f"no database at {path}: {UPGRADE}")


async def require_head(engine: AsyncEngine) -> None:
    """:class:`NotReady` unless the database answers and is migrated to this code's head
    revision (one not migrated, or migrated to an older one, lacks tables or columns the
    code uses)."""
    from alembic.runtime.migration import MigrationContext

    def revision(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(revision)
    except Exception as exc:
        raise NotReady(f"cannot reach the database: {one_line(exc)}") from None
    head = head_revision()
    if current is None:
        raise NotReady(f"the database has no tables yet: {UPGRADE}")
    if current != head:
        raise NotReady(f"the database is at revision {current}, this lianxin needs {head}: "
                       f"{UPGRADE}")


def require_migrated(url: str) -> None:
    """:func:`refuse_missing_file` and :func:`require_head` for ``url`` (blocking: runs its
    own event loop; for start-up, before the service's loop)."""
    refuse_missing_file(url)

    async def check() -> None:
        engine = make_engine(url)
        try:
            await require_head(engine)
        finally:
            await engine.dispose()

    asyncio.run(check())


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
