"""The store contract, run on the memory backend and on a real redis-server."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from storage.base import DONE, LockTimeout, Store
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


ADMIT: dict[str, Any] = {"nonce_ttl": 5, "dedupe_ttl": 5, "lock_ttl": 5}


async def test_admit_takes_lock_and_reads_state_for_a_new_message(store: Store) -> None:
    await store.set("state", {"step": 2})
    first = await store.admit(nonce_key="n1", body_digest="d1", dedupe_key="m1",
                              lock_key="lock", state_key="state", **ADMIT)
    assert first.verdict == "new"
    assert first.lock_token is not None
    assert first.state == {"step": 2}
    assert await store.try_lock("lock", ttl=5) is None  # held


async def test_admit_sees_duplicates_and_replays(store: Store) -> None:
    await store.admit(nonce_key="n1", body_digest="d1", dedupe_key="m1", **ADMIT)
    retry = await store.admit(nonce_key="n1", body_digest="d1", dedupe_key="m1",
                              lock_key="lock", state_key="state", **ADMIT)
    assert retry.verdict == "duplicate"
    assert retry.lock_token is None
    assert await store.try_lock("lock", ttl=5) is not None  # a duplicate takes no lock
    replay = await store.admit(nonce_key="n1", body_digest="other", dedupe_key="m2", **ADMIT)
    assert replay.verdict == "replay"
    # a replay leaves no dedupe mark: the genuine m2 is still new
    genuine = await store.admit(nonce_key="n2", body_digest="d2", dedupe_key="m2", **ADMIT)
    assert genuine.verdict == "new"


async def test_admit_without_free_lock_is_new_but_unlocked(store: Store) -> None:
    assert await store.try_lock("lock", ttl=5) is not None
    admitted = await store.admit(nonce_key="n1", body_digest="d1", dedupe_key="m1",
                                 lock_key="lock", state_key="state", **ADMIT)
    assert admitted.verdict == "new"
    assert admitted.lock_token is None


async def test_commit_writes_state_and_reply_then_unlocks(store: Store) -> None:
    admitted = await store.admit(nonce_key="n1", body_digest="d1", dedupe_key="m1",
                                 lock_key="lock", state_key="state", **ADMIT)
    assert admitted.lock_token is not None
    await store.commit(state_key="state", state={"step": 3}, state_ttl=5, lock_key="lock",
                       lock_token=admitted.lock_token, reply_key="reply",
                       reply={"mode": "passive"}, reply_ttl=5)
    assert await store.get("state") == {"step": 3}
    assert await store.get("reply") == {"mode": "passive"}
    assert await store.try_lock("lock", ttl=5) is not None


async def test_commit_without_state_keeps_it_and_spares_a_foreign_lock(store: Store) -> None:
    await store.set("state", {"step": 1})
    other = await store.try_lock("lock", ttl=5)
    await store.commit(state_key="state", state=None, state_ttl=5, lock_key="lock",
                       lock_token="expired-token")
    assert await store.get("state") == {"step": 1}
    assert await store.try_lock("lock", ttl=5) is None  # the other holder still has it
    assert other is not None


async def test_commit_can_clear_the_state(store: Store) -> None:
    await store.set("state", {"step": 1})
    admitted = await store.admit(nonce_key="n1", body_digest="d1", dedupe_key="m1",
                                 lock_key="lock", state_key="state", **ADMIT)
    assert admitted.lock_token is not None and admitted.state == {"step": 1}
    assert await store.commit(state_key="state", state=None, state_ttl=5, lock_key="lock",
                              lock_token=admitted.lock_token, clear_state=True)
    assert await store.get("state") is None
    assert await store.try_lock("lock", ttl=5) is not None


async def test_batched_admits_each_get_their_own_answer(store: Store) -> None:
    answers = await asyncio.gather(*(
        store.admit(nonce_key=f"n{i}", body_digest="d", dedupe_key=f"m{i % 10}",
                    lock_key=f"lock{i}", state_key="state", **ADMIT)
        for i in range(40)
    ))
    assert sum(a.verdict == "new" for a in answers) == 10
    assert sum(a.verdict == "duplicate" for a in answers) == 30
    assert all(a.lock_token for a in answers if a.verdict == "new")


async def test_admit_survives_redis_losing_its_scripts(redis_url: str) -> None:
    """A Redis restart or SCRIPT FLUSH drops loaded scripts; the store reloads them."""
    from redis.asyncio import Redis

    from storage.redis_store import RedisStore

    store = RedisStore.from_url(redis_url)
    admin: Redis = Redis.from_url(redis_url)
    try:
        await admin.flushdb()
        first = await store.admit(nonce_key="n1", body_digest="d", dedupe_key="m1", **ADMIT)
        await admin.script_flush()
        second = await store.admit(nonce_key="n2", body_digest="d", dedupe_key="m2",
                                   lock_key="lock", state_key="state", **ADMIT)
        assert (first.verdict, second.verdict) == ("new", "new")
        assert second.lock_token is not None
    finally:
        await admin.aclose()
        await store.close()


async def test_a_commit_of_a_message_another_worker_took_over_writes_nothing(
    store: Store,
) -> None:
    """The first holder stalled past its lease and another took the message: the stale
    holder's commit is fenced off (no state, no done mark), the new holder's goes in."""
    stale = await store.admit(nonce_key="n1", body_digest="d", dedupe_key="m1",
                              lock_key="lock", state_key="state", **ADMIT)
    await store.delete("m1")  # the lease lapsed
    await store.delete("lock")
    fresh = await store.admit(nonce_key="n2", body_digest="d", dedupe_key="m1",
                              lock_key="lock", state_key="state", **ADMIT)
    assert stale.token and fresh.token and fresh.lock_token
    assert not await store.commit(state_key="state", state={"by": "stale"}, state_ttl=5,
                                  lock_key="lock", lock_token=stale.token, dedupe_key="m1",
                                  dedupe_token=stale.token)
    assert await store.get("state") is None
    assert await store.get("lock") is not None  # the new holder's lock is left alone
    assert await store.commit(state_key="state", state={"by": "fresh"}, state_ttl=5,
                              lock_key="lock", lock_token=fresh.lock_token, dedupe_key="m1",
                              dedupe_token=fresh.token)
    assert await store.get("state") == {"by": "fresh"}
    assert await store.get("m1") == DONE
