"""The routing catalogue in the database: saved whole by ``lianxin config load``, read by
the bot.

A save replaces every table in one transaction, and a load reads them all from one
snapshot (REPEATABLE READ on PostgreSQL, one read transaction on SQLite's WAL), so a
reader sees the old catalogue or the new one, never a mix.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from domain import catalogue as domain
from domain.catalogue import KINDS, Catalogue
from domain.consultation import legal_from_json, legal_to_json
from storage.models import CatalogueMeta, Category, Department, Region, RoutingRule

META_ID = 1


class CatalogueRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    async def save(self, catalogue: Catalogue, *, source: str, digest: str,
                   now: datetime | None = None) -> None:
        """Replace the whole catalogue in one transaction (readers see old or new, never a
        mix). ``source`` is the file it came from, ``digest`` the file's sha256 (hex)."""
        # in UTC: SQLite keeps the wall-clock time only (meta() puts the zone back)
        now = (now or datetime.now(UTC)).astimezone(UTC)
        async with self._engine.begin() as conn:
            if self._postgres:
                # one save at a time (plain reads still go on): a second save waits, then
                # sees and deletes the first one's rows instead of colliding with them
                await conn.execute(text("LOCK TABLE catalogue_meta IN EXCLUSIVE MODE"))
            # on SQLite the first DELETE takes the write lock (waiting for another save)
            for model in (RoutingRule, Region, Category, Department, CatalogueMeta):
                await conn.execute(delete(model))
            await conn.execute(insert(CatalogueMeta).values(
                id=META_ID, county=catalogue.county,
                deadlines={kind: catalogue.deadlines[kind] for kind in KINDS
                           if kind in catalogue.deadlines},
                anonymous_kinds=[kind for kind in KINDS if kind in catalogue.anonymous_kinds],
                legal=legal_to_json(catalogue.legal_areas, catalogue.legal_hours),
                source=source, digest=digest, loaded_at=now,
            ))
            if catalogue.departments:
                await conn.execute(insert(Department), [
                    {"id": d.id, "name": d.name, "short_name": d.short_name,
                     "fallback": d.fallback, "reviews_answers": d.reviews_answers,
                     "position": n}
                    for n, d in enumerate(catalogue.departments)])
            if catalogue.categories:
                await conn.execute(insert(Category), [
                    {"id": c.id, "name": c.name, "display_order": c.order,
                     "keywords": list(c.keywords), "position": n}
                    for n, c in enumerate(catalogue.categories)])
            if catalogue.regions:
                await conn.execute(insert(Region), [
                    {"id": r.id, "name": r.name, "parent": r.parent,
                     "places": list(r.places), "position": n}
                    for n, r in enumerate(catalogue.regions)])
            if catalogue.rules:
                await conn.execute(insert(RoutingRule), [
                    {"category": r.category, "region": r.region, "department": r.department,
                     "position": n}
                    for n, r in enumerate(catalogue.rules)])

    async def load(self) -> Catalogue | None:
        """The catalogue last saved, or ``None`` when none was ever loaded."""
        async with self._snapshot() as conn:
            meta = (await conn.execute(
                select(CatalogueMeta.county, CatalogueMeta.deadlines,
                       CatalogueMeta.anonymous_kinds, CatalogueMeta.legal)
                .where(CatalogueMeta.id == META_ID))).first()
            if meta is None:
                return None
            departments = tuple(
                domain.Department(row.id, row.name, row.short_name, row.fallback,
                                  row.reviews_answers)
                for row in await conn.execute(
                    select(Department.id, Department.name, Department.short_name,
                           Department.fallback, Department.reviews_answers)
                    .order_by(Department.position)))
            categories = tuple(
                domain.Category(row.id, row.name, row.display_order, tuple(row.keywords))
                for row in await conn.execute(
                    select(Category.id, Category.name, Category.display_order,
                           Category.keywords).order_by(Category.position)))
            regions = tuple(
                domain.Region(row.id, row.name, row.parent, tuple(row.places))
                for row in await conn.execute(
                    select(Region.id, Region.name, Region.parent, Region.places)
                    .order_by(Region.position)))
            rules = tuple(
                domain.Rule(row.category, row.region, row.department)
                for row in await conn.execute(
                    select(RoutingRule.category, RoutingRule.region, RoutingRule.department)
                    .order_by(RoutingRule.position)))
        deadlines: dict[str, int] = dict(meta.deadlines)
        legal_areas, legal_hours = legal_from_json(meta.legal)
        return Catalogue(
            county=meta.county,
            departments=departments,
            categories=categories,
            regions=regions,
            rules=rules,
            deadlines={kind: deadlines[kind] for kind in KINDS if kind in deadlines},
            anonymous_kinds=frozenset(meta.anonymous_kinds),
            legal_areas=legal_areas,
            legal_hours=legal_hours,
        )

    async def meta(self) -> CatalogueMeta | None:
        """Where and when the catalogue was loaded from (``None``: never)."""
        async with AsyncSession(self._engine, expire_on_commit=False) as session:
            meta = await session.get(CatalogueMeta, META_ID)
        if meta is not None and meta.loaded_at.tzinfo is None:  # SQLite
            set_committed_value(meta, "loaded_at", meta.loaded_at.replace(tzinfo=UTC))
        return meta

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose reads all see one committed state of the database."""
        async with self._engine.connect() as conn:
            if self._postgres:
                await conn.execution_options(isolation_level="REPEATABLE READ",
                                           postgresql_readonly=True)
                await conn.begin()
            else:
                # pysqlite begins transactions only before writes, so each SELECT would
                # see the latest commit: open the read transaction explicitly
                await conn.exec_driver_sql("BEGIN")
            try:
                yield conn
            finally:
                await conn.rollback()
