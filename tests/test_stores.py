"""The store contract, run on the memory backend and on a real redis-server."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from storage.base import LockTimeout, Store
from storage.keys import KeyBuilder


async def test_values_round_trip_as_json_copies(store: Store) -> None:
    value = {"flow": "complaint", "data": {"photos": ["m1", "m2"], "n": 3}, "t": (1, 2)}
    await store.set("k", value)
    got = await store.get("k")
    assert got is not None
    assert got == {"flow": "complaint", "data": {"photos": ["m1", "m2"], "n": 3}, "t": [1, 2]}
    got["data"]["photos"].append("m3")
    again = await store.get("k")
    assert again is not None
    assert again["data"]["photos"] == ["m1", "m2"]
    assert await store.get("missing") is None


@pytest.mark.parametrize("bad", [{1, 2}, datetime(2026, 1, 1), float("nan"), object()])
async def test_non_json_values_are_refused_on_every_backend(store: Store, bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        await store.set("k", {"v": bad})
    assert await store.get("k") is None


async def test_ttl_expires(store: Store) -> None:
    await store.set("short", "x", ttl=0.15)
    await store.set("long", "y", ttl=30)
    await store.set("forever", "z")
    await asyncio.sleep(0.3)
    assert await store.get("short") is None
    assert await store.get("long") == "y"
    assert await store.get("forever") == "z"


async def test_set_if_absent_only_once_until_expiry(store: Store) -> None:
    assert await store.set_if_absent("mark", 1, ttl=0.15)
    assert not await store.set_if_absent("mark", 2, ttl=0.15)
    assert await store.get("mark") == 1
    await asyncio.sleep(0.3)
    assert await store.set_if_absent("mark", 3, ttl=5)
    await store.delete("mark")
    assert await store.get("mark") is None


async def test_concurrent_set_if_absent_has_one_winner(store: Store) -> None:
    results = await asyncio.gather(*(store.set_if_absent("race", i, ttl=5) for i in range(20)))
    assert results.count(True) == 1


async def test_lock_is_exclusive_and_only_its_holder_unlocks(store: Store) -> None:
    token = await store.try_lock("L", ttl=5)
    assert token is not None
    assert await store.try_lock("L", ttl=5) is None
    assert not await store.unlock("L", "not-the-token")
    assert await store.try_lock("L", ttl=5) is None
    assert await store.unlock("L", token)
    assert await store.try_lock("L", ttl=5) is not None


async def test_lock_of_crashed_holder_expires(store: Store) -> None:
    assert await store.try_lock("L", ttl=0.15) is not None
    async with store.lock("L", ttl=5, wait=2):
        pass  # got it once the dead holder's ttl ran out


async def test_lock_wait_times_out(store: Store) -> None:
    assert await store.try_lock("held", ttl=5) is not None
    with pytest.raises(LockTimeout):
        async with store.lock("held", ttl=5, wait=0.1):
            pass


async def test_lock_serialises_read_modify_write(store: Store) -> None:
    await store.set("counter", 0)

    async def bump() -> None:
        async with store.lock("counter-lock", ttl=5, wait=10):
            value = await store.get("counter")
            assert isinstance(value, int)
            await asyncio.sleep(0.001)
            await store.set("counter", value + 1)

    await asyncio.gather(*(bump() for _ in range(25)))
    assert await store.get("counter") == 25


def test_keys_share_one_prefix_and_resist_forged_parts() -> None:
    keys = KeyBuilder(prefix="lx")
    assert keys.state("default", "oAbc-123_x") == "lx:state:default:oAbc-123_x"
    forged = keys.state("default", "x:lock:user")
    assert forged.count(":") == 3 and forged.startswith("lx:state:default:h")
    assert keys.dedupe("a", "m1") != keys.reply("a", "m1") != keys.nonce("a", "m1")
    assert keys.token("wx1") != keys.token_lock("wx1")
