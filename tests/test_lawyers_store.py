"""Lawyers' profiles and invite codes (storage/lawyers.py), on SQLite and PostgreSQL: a
code binds once and only while it is live, one WeChat user has one profile, and a
disabled profile is off duty and binds nobody."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.consultation import ProfileError
from storage.lawyers import INVITE_TTL, Lawyers, UnknownLawyer
from tests.test_consultations_store import fresh_consultations

LICENCE = "14401201810123456"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def lawyers(engine: AsyncEngine) -> Lawyers:
    await fresh_consultations(engine)
    return Lawyers(engine)


async def test_a_profile_is_made_with_its_fields_checked(lawyers: Lawyers) -> None:
    made = await lawyers.add(" 李明 ", "某律师事务所", LICENCE, ["labour", "family"],
                             known_areas=["labour", "family"])
    assert (made.name, made.capacity, made.areas, made.on_duty, made.bound) == (
        "李明", 3, ("labour", "family"), False, False)
    assert made.display == "李明（某律师事务所）"
    with pytest.raises(ProfileError) as taken:
        await lawyers.add("王芳", "另一所", LICENCE, ["labour"])
    assert taken.value.field == "licence"
    with pytest.raises(ProfileError) as unknown:
        await lawyers.add("王芳", "另一所", "14401201810000000", ["tax"], known_areas=["labour"])
    assert unknown.value.field == "areas"
    assert [lawyer.licence for lawyer in await lawyers.all()] == [LICENCE]


async def test_an_invite_binds_once_and_only_while_it_is_live(engine: AsyncEngine) -> None:
    await fresh_consultations(engine)
    clock = Clock()
    lawyers = Lawyers(engine, clock=clock)
    made = await lawyers.add("李明", "某律师事务所", LICENCE, ["labour"])
    code, expires = await lawyers.invite(made.id)
    assert len(code) == 8 and code.isdigit() and expires == clock.now + INVITE_TTL
    assert await lawyers.bind("00000000" if code != "00000000" else "11111111",
                              "default", "o-li") is None  # a wrong code
    bound = await lawyers.bind(code, "default", "o-li")
    assert bound is not None and bound.bound
    assert await lawyers.bind(code, "default", "o-other") is None  # used
    late, _ = await lawyers.invite(made.id)
    clock.now += INVITE_TTL + timedelta(seconds=1)
    assert await lawyers.bind(late, "default", "o-li") is None  # expired
    assert list(await lawyers.all_bound()) == [("default", "o-li")]


async def test_one_wechat_user_one_profile(lawyers: Lawyers) -> None:
    first = await lawyers.add("李明", "甲所", LICENCE, ["labour"])
    second = await lawyers.add("王芳", "乙所", "14401201810000009", ["family"])
    for lawyer in (first, second):
        code, _ = await lawyers.invite(lawyer.id)
        assert await lawyers.bind(code, "default", "o-same") is not None
    bound = await lawyers.all_bound()
    assert [lawyer.name for lawyer in bound.values()] == ["王芳"]
    assert not (await lawyers.get(first.id)).bound  # type: ignore[union-attr]


async def test_a_disabled_profile_is_off_duty_and_binds_nobody(lawyers: Lawyers) -> None:
    made = await lawyers.add("李明", "某律师事务所", LICENCE, ["labour"])
    code, _ = await lawyers.invite(made.id)
    assert (await lawyers.set_duty(made.id, True)).on_duty  # type: ignore[union-attr]
    disabled = await lawyers.set_active(made.id, False)
    assert (disabled.active, disabled.on_duty) == (False, False)
    assert await lawyers.bind(code, "default", "o-li") is None
    assert await lawyers.set_duty(made.id, True) is None
    with pytest.raises(ProfileError):
        await lawyers.invite(made.id)
    assert await lawyers.on_duty() == []
    with pytest.raises(UnknownLawyer):
        await lawyers.set_active(made.id + 100, False)
    assert (await lawyers.set_active(made.id, True)).active
