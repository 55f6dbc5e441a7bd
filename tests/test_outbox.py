"""The outbox on SQLite and on a real PostgreSQL: order per user, claims, leases, tools."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.messages import Article, Outbound
from storage import db
from storage.outbox import Outbox, add_push, utcnow


async def queue(outbox: Outbox, openid: str, label: str, purpose: str = "reply") -> int:
    return await outbox.add(account="default", openid=openid, purpose=purpose, text=label)


async def test_push_exists_only_if_its_transaction_commits(engine: AsyncEngine) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    sessions = async_sessionmaker(engine)

    async def change_that_fails() -> None:
        async with sessions.begin() as session:
            add_push(session, account="default", openid="oA", purpose="reply", text="x")
            raise RuntimeError("the change that caused it failed")

    with pytest.raises(RuntimeError):
        await change_that_fails()
    async with sessions.begin() as session:
        add_push(session, account="default", openid="oA", purpose="reply", text="kept")
    pushes = await Outbox(engine).list()
    assert [p.text for p in pushes] == ["kept"]


async def test_one_user_in_order_many_users_at_once(engine: AsyncEngine) -> None:
    outbox = Outbox(engine)
    for i in range(3):
        for user in ("oA", "oB"):
            await queue(outbox, user, f"{user}{i}")
    first = await outbox.claim("w1", limit=10, lease=30)
    assert sorted(c.text for c in first) == ["oA0", "oB0"]  # only the heads
    assert await outbox.claim("w1", limit=10, lease=30) == []  # heads still sending
    for claimed in first:
        assert await outbox.sent(claimed.id, "w1", "custom", "test")
    second = await outbox.claim("w1", limit=10, lease=30)
    assert sorted(c.text for c in second) == ["oA1", "oB1"]


async def test_pending_push_holds_back_the_users_later_pushes(engine: AsyncEngine) -> None:
    outbox = Outbox(engine)
    await queue(outbox, "oA", "first")
    await queue(outbox, "oA", "second")
    (head,) = await outbox.claim("w1", limit=10, lease=30)
    assert await outbox.retry_later(head.id, "w1", "window closed", 0.05, status="pending")
    await asyncio.sleep(0.1)
    (again,) = await outbox.claim("w1", limit=10, lease=30)
    assert (again.text, again.status_before) == ("first", "pending")


async def test_expired_lease_passes_the_push_on_and_fences_the_old_worker(
    engine: AsyncEngine,
) -> None:
    outbox = Outbox(engine)
    await queue(outbox, "oA", "x")
    (mine,) = await outbox.claim("w1", limit=10, lease=0.05)
    assert await outbox.about_to_send(mine.id, "w1", "custom")
    await asyncio.sleep(0.1)
    (theirs,) = await outbox.claim("w2", limit=10, lease=30)
    assert (theirs.id, theirs.status_before, theirs.channel_before) == (mine.id, "sending",
                                                                        "custom")
    assert theirs.attempts == 1  # one send was tried
    assert not await outbox.sent(mine.id, "w1", "custom", "too late")  # fenced off
    assert await outbox.give_up(theirs.id, "w2", "uncertain", "stopped mid-send")


async def test_two_workers_never_claim_the_same_push(postgres_url: str) -> None:
    engine = db.make_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM pushes"))
        outbox = Outbox(engine)
        for i in range(200):
            await queue(outbox, f"o{i % 40}", f"m{i}")
        taken: Counter[int] = Counter()
        order: dict[str, list[str]] = {}

        async def work(name: str) -> None:
            while claimed := await outbox.claim(name, limit=7, lease=30):
                for push in claimed:
                    taken[push.id] += 1
                    order.setdefault(push.openid, []).append(push.text)
                    await outbox.sent(push.id, name, "custom", "ok")

        await asyncio.gather(work("w1"), work("w2"), work("w3"))
        assert len(taken) == 200
        assert set(taken.values()) == {1}
        for user, texts in order.items():
            numbers = [int(t[1:]) for t in texts]
            assert numbers == sorted(numbers), user
    finally:
        await engine.dispose()


async def test_operator_tools(engine: AsyncEngine) -> None:
    outbox = Outbox(engine)
    ids = [await queue(outbox, f"o{i}", f"m{i}") for i in range(3)]
    claimed = await outbox.claim("w1", limit=10, lease=30)
    by_id = {c.id: c for c in claimed}
    await outbox.give_up(ids[0], "w1", "dead", "gave up after 8 tries")
    await outbox.give_up(ids[1], "w1", "failed", "errcode 40003")
    await outbox.sent(ids[2], "w1", "template", "window closed; template", template_msgid=77)
    assert by_id.keys() == set(ids)
    assert (await outbox.counts()) == {"dead": 1, "failed": 1, "sent": 1}
    assert [p.id for p in await outbox.list(statuses=["dead"])] == [ids[0]]
    assert await outbox.requeue([ids[0], ids[2]]) == 1  # sent pushes are not resent
    assert await outbox.template_finished("default", 77, "failed:user block")
    assert (await outbox.get(ids[2])).status == "blocked"  # type: ignore[union-attr]
    assert not await outbox.template_finished("default", 78, "success")
    with pytest.raises(ValueError, match="only finished"):
        await outbox.purge(statuses=["queued"], older_than=timedelta(0))
    assert await outbox.purge(statuses=["failed"], older_than=timedelta(days=1)) == 0
    assert await outbox.purge(statuses=["failed"], older_than=-timedelta(seconds=1)) == 1
    assert utcnow().tzinfo is not None


async def test_late_replies_are_queued_together_in_order(engine: AsyncEngine) -> None:
    outbox = Outbox(engine)
    long_text = "很长的答复。" * 200  # 3,600 bytes: two customer-service messages
    ids = await outbox.add_replies(account="default", openid="oA", outbounds=[
        Outbound.of_text(long_text), Outbound.of_text(""), Outbound.of_image("M1"),
        Outbound.of_news(Article("办事指南", url="https://e.org"))])
    pushes = sorted(await outbox.list(), key=lambda p: p.id)
    assert [p.id for p in pushes] == ids
    assert [p.purpose for p in pushes] == ["reply"] * 4
    assert "".join(p.text for p in pushes[:2]) == long_text  # the empty text is no push
    assert all(len(p.text.encode()) <= 2048 for p in pushes)
    assert [p.message for p in pushes[:2]] == [None, None]
    assert [(p.text, p.message and p.message["kind"]) for p in pushes[2:]] == [
        ("[image M1]", "image"), ("[news] 办事指南", "news")]
    for i, push in enumerate(pushes):  # one at a time, in order
        (head,) = await outbox.claim("w1", limit=10, lease=30)
        assert head.id == ids[i]
        assert head.outbound == (Outbound.from_json(push.message) if push.message
                                 else Outbound.of_text(push.text))
        assert await outbox.sent(head.id, "w1", "custom", "ok")


async def test_late_replies_are_all_queued_or_none(engine: AsyncEngine) -> None:
    outbox = Outbox(engine)
    with pytest.raises(ValueError, match="unknown outbound kind"):
        await outbox.add_replies(account="default", openid="oA", outbounds=[
            Outbound.of_text("第一条"), Outbound("video")])  # type: ignore[arg-type]
    assert await outbox.list() == []


async def test_a_user_who_just_wrote_has_their_pending_head_claimed_at_once(
    engine: AsyncEngine,
) -> None:
    outbox = Outbox(engine)
    await queue(outbox, "oA", "waits for the user")
    await queue(outbox, "oB", "someone else's")
    (head,) = await outbox.claim("w1", limit=1, lease=30, user=("default", "oA"))
    assert await outbox.retry_later(head.id, "w1", "no window", 60, status="pending")
    assert await outbox.claim("w1", limit=10, lease=30, user=("default", "oA")) == []
    (woken,) = await outbox.claim("w1", limit=10, lease=30, user=("default", "oA"),
                                  wake_pending=True)
    assert (woken.id, woken.status_before) == (head.id, "pending")


async def test_reasons_are_one_bounded_line(engine: AsyncEngine) -> None:
    outbox = Outbox(engine)
    push = await queue(outbox, "oA", "x")
    await outbox.claim("w1", limit=1, lease=30)
    await outbox.give_up(push, "w1", "failed", "errcode 1: a\x1b[2J\r\nb\u202e" + "长" * 900)
    stored = await outbox.get(push)
    assert stored is not None
    reason = stored.reason or ""
    assert reason.startswith("errcode 1: a [2J b 长")
    assert len(reason) == 300
    assert reason.endswith("…")
