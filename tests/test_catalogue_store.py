"""The routing catalogue in the database, on SQLite and PostgreSQL: a whole catalogue in,
the same catalogue out, never half of one."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.catalogue_cli import DEFAULT_CATALOGUE
from domain.catalogue import Catalogue
from domain.catalogue_file import parse_catalogue
from storage.catalogue import CatalogueRepository

TABLES = ("routing_rules", "regions", "categories", "departments", "catalogue_meta")


def shipped() -> tuple[Catalogue, str]:
    source = DEFAULT_CATALOGUE.read_text(encoding="utf-8")
    return parse_catalogue(source, str(DEFAULT_CATALOGUE)), source


def smaller(catalogue: Catalogue) -> Catalogue:
    """The shipped catalogue without 开发区管委会 (and its rules), other deadlines, no
    anonymous kinds, the categories in another file order, 河口乡 with other places and
    the others' places gone."""
    return dataclasses.replace(
        catalogue,
        county="另一县",
        departments=tuple(d for d in catalogue.departments if d.id != "kfq"),
        categories=tuple(reversed(catalogue.categories)),
        regions=tuple(dataclasses.replace(r, places=("新村", "张家村") if r.id == "hekou" else ())
                      for r in catalogue.regions),
        rules=tuple(r for r in catalogue.rules if r.department != "kfq"),
        deadlines={**catalogue.deadlines, "投诉": 7},
        anonymous_kinds=frozenset(),
    )


@pytest.fixture
async def repository(engine: AsyncEngine) -> AsyncIterator[CatalogueRepository]:
    async with engine.begin() as conn:
        for table in TABLES:
            await conn.execute(text(f"DELETE FROM {table}"))
    yield CatalogueRepository(engine)
    async with engine.begin() as conn:  # other tests' databases start without one
        for table in TABLES:
            await conn.execute(text(f"DELETE FROM {table}"))


async def test_nothing_loaded_is_none(repository: CatalogueRepository) -> None:
    assert await repository.load() is None
    assert await repository.meta() is None


async def test_the_shipped_catalogue_round_trips(repository: CatalogueRepository) -> None:
    catalogue, source = shipped()
    digest = hashlib.sha256(source.encode()).hexdigest()
    now = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
    await repository.save(catalogue, source=str(DEFAULT_CATALOGUE), digest=digest, now=now)
    loaded = await repository.load()
    assert loaded == catalogue
    assert loaded is not None
    # file order and the lookups survive, not only equality
    assert [d.id for d in loaded.departments] == [d.id for d in catalogue.departments]
    assert [r.region for r in loaded.rules] == [r.region for r in catalogue.rules]
    assert loaded.route("srcg", "xicheng").id == "cgj"
    assert loaded.route("qt", None).id == "bdj"
    assert loaded.region("chengguan").parent == "chengqu"
    # the places, in file order, and the regions they name
    assert loaded.region("hekou").places == catalogue.region("hekou").places
    assert loaded.region("hekou").places[0] == "张家村"
    assert loaded.region("chengqu").places == ("县城",)
    found = loaded.region_for_text("我在人民广场旁边")
    assert found is not None and found.id == "chengguan"
    assert [r.id for r in loaded.regions_offered()] == [
        r.id for r in catalogue.regions_offered()]
    assert loaded.category("zfjs").keywords[:2] == ("物业", "房屋")
    assert loaded.allows_anonymous("咨询")
    assert not loaded.allows_anonymous("投诉")
    assert list(loaded.deadlines) == list(catalogue.deadlines)
    # the legal consultation's areas and hours
    assert [a.name for a in loaded.legal_areas_in_order()][:2] == ["劳动争议", "婚姻家庭"]
    assert loaded.legal_hours is not None and loaded.legal_hours.describe() == (
        "周一至周五 09:00-12:00、13:30-21:00；周六 09:00-12:00")
    meta = await repository.meta()
    assert meta is not None
    assert (meta.county, meta.source, meta.digest) == ("示范县", str(DEFAULT_CATALOGUE), digest)
    assert meta.deadlines == dict(catalogue.deadlines)
    assert meta.anonymous_kinds == ["咨询", "建议", "表扬"]
    assert meta.loaded_at == now


async def test_a_second_save_replaces_the_first(repository: CatalogueRepository) -> None:
    catalogue, _ = shipped()
    await repository.save(catalogue, source="a.toml", digest="a" * 64)
    other = smaller(catalogue)
    await repository.save(other, source="b.toml", digest="b" * 64)
    loaded = await repository.load()
    assert loaded == other
    assert loaded is not None
    assert "kfq" not in {d.id for d in loaded.departments}
    with pytest.raises(KeyError):
        loaded.department("kfq")
    assert loaded.route("zfjs", "kaifaqu").id == "zjj"  # the removed rule is gone too
    assert [c.id for c in loaded.categories] == [c.id for c in reversed(catalogue.categories)]
    assert loaded.region("hekou").places == ("新村", "张家村")
    assert loaded.region_for_text("人民广场") is None  # the places left out are gone
    meta = await repository.meta()
    assert meta is not None
    assert (meta.source, meta.county, meta.anonymous_kinds) == ("b.toml", "另一县", [])


async def test_readers_see_one_whole_catalogue_during_saves(
    repository: CatalogueRepository,
) -> None:
    first, _ = shipped()
    second = smaller(first)
    await repository.save(first, source="first", digest="1" * 64)
    seen: list[Catalogue | None] = []
    saving = True

    async def save_many() -> None:
        for n in range(6):
            await asyncio.gather(
                repository.save(second if n % 2 == 0 else first, source="x", digest="2" * 64),
                repository.save(first if n % 2 == 0 else second, source="y", digest="3" * 64),
            )

    async def read() -> None:
        while saving:
            seen.append(await repository.load())

    readers = [asyncio.create_task(read()) for _ in range(4)]
    try:
        await save_many()
    finally:
        saving = False
        await asyncio.gather(*readers)
    assert seen
    assert all(c in (first, second) for c in seen), [
        None if c is None else (c.county, len(c.departments), len(c.rules)) for c in seen]
    assert await repository.load() in (first, second)
