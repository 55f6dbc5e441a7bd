"""The consultation repository (storage/consultations.py) and its Redis index
(storage/consult_queue.py), on SQLite and PostgreSQL, with and without Redis: the queue's
order and places, claims that never share or skip one under 20 lawyers at once, giving a
consultation back at its place, leaving the queue, the conversation's pushes addressed
by the repository, and the index rebuilt when Redis lost it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.consultation import ConsultationRecord, EndReason, LawyerRecord, Status
from storage.consult_queue import RedisQueue
from storage.consultations import Consultations, NewConsultation, Note, Took
from storage.keys import KeyBuilder
from storage.lawyers import Lawyers
from storage.models import ConsultationEvent, Push

CONSULTATION_TABLES = ("consultation_events", "consultation_messages", "consultations",
                       "consultation_counters", "lawyer_invites", "lawyers")
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in China


async def fresh_consultations(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM pushes"))
        for table in CONSULTATION_TABLES:
            await conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture(params=["table", "redis"])
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[RedisQueue | None]:
    """The queue in the table alone, or indexed in Redis (under a prefix of its own)."""
    if request.param == "table":
        yield None
        return
    client: Redis = Redis.from_url(request.getfixturevalue("redis_url"))
    yield RedisQueue(client, KeyBuilder(prefix=f"t{uuid.uuid4().hex[:8]}"))
    await client.aclose()


@pytest.fixture
async def repo(engine: AsyncEngine, queue: RedisQueue | None) -> Consultations:
    await fresh_consultations(engine)
    return Consultations(engine, queue=queue)


async def lawyer(engine: AsyncEngine, licence: str, areas: tuple[str, ...] = ("labour",), *,
                 capacity: int = 3, openid: str | None = None) -> LawyerRecord:
    lawyers = Lawyers(engine)
    made = await lawyers.add("李明", "某律师事务所", licence, list(areas), capacity=capacity)
    if openid is not None:
        code, _ = await lawyers.invite(made.id)
        bound = await lawyers.bind(code, "default", openid)
        assert bound is not None
        return bound
    return made


async def ask(repo: Consultations, key: str, at: datetime, area: str = "labour",
              openid: str | None = None) -> ConsultationRecord:
    made, created = await repo.ask(NewConsultation(
        idempotency_key=key, account="default", openid=openid or f"o-{key}", name="张三",
        area=area, question="公司拖欠工资三个月了怎么办", left_message=False), now=at)
    assert created
    return made


async def test_a_question_is_numbered_placed_and_asked_once(repo: Consultations) -> None:
    first = await ask(repo, "k1", T0)
    second = await ask(repo, "k2", T0 + timedelta(seconds=1))
    other = await ask(repo, "k3", T0 + timedelta(seconds=2), area="family")
    assert (first.number, second.number) == ("FL20261201-000001", "FL20261201-000002")
    assert [await repo.position(c) for c in (first, second, other)] == [1, 2, 1]
    again, created = await repo.ask(NewConsultation(
        idempotency_key="k1", account="default", openid="o-k1", name=None, area="labour",
        question="重复的确认", left_message=False), now=T0 + timedelta(minutes=1))
    assert (again.id, created) == (first.id, False)
    assert await repo.waiting(["labour"]) == 2 and await repo.waiting(["labour", "family"]) == 3
    assert (await repo.open_of("default", "o-k1")) == first


async def test_the_longest_waiting_in_the_lawyers_areas_is_taken_first(
    repo: Consultations, engine: AsyncEngine,
) -> None:
    family = await ask(repo, "f", T0, area="family")
    older = await ask(repo, "a", T0 + timedelta(seconds=1))
    younger = await ask(repo, "b", T0 + timedelta(seconds=2))
    li = await lawyer(engine, "14401201810000001", ("labour",))
    took = await repo.take(li, now=T0 + timedelta(minutes=1))
    assert took.outcome is Took.TAKEN and took.consultation is not None
    assert took.consultation.id == older.id  # family is not an area of li's
    assert took.consultation.lawyer_id == li.id and took.consultation.status is Status.TAKEN
    assert await Lawyers(engine).current(li.id) == older.id
    assert (await repo.take(li, now=T0)).consultation.id == younger.id  # type: ignore[union-attr]
    assert (await repo.take(li, now=T0)).outcome is Took.NONE_WAITING
    assert (await repo.get(family.id)).status is Status.QUEUED  # type: ignore[union-attr]


async def test_a_lawyer_at_capacity_takes_no_more(repo: Consultations,
                                                  engine: AsyncEngine) -> None:
    for n in range(3):
        await ask(repo, f"k{n}", T0 + timedelta(seconds=n))
    li = await lawyer(engine, "14401201810000002", capacity=2)
    assert [(await repo.take(li, now=T0)).outcome for _ in range(3)] == [
        Took.TAKEN, Took.TAKEN, Took.AT_CAPACITY]
    assert await repo.waiting(["labour"]) == 1


async def test_given_back_it_keeps_its_place_and_is_taken_before_younger_ones(
    repo: Consultations, engine: AsyncEngine,
) -> None:
    first = await ask(repo, "a", T0)
    await ask(repo, "b", T0 + timedelta(seconds=5))
    li = await lawyer(engine, "14401201810000003")
    wang = await lawyer(engine, "14401201810000004")
    assert (await repo.take(li, now=T0)).consultation.id == first.id  # type: ignore[union-attr]
    back = await repo.give_back(first.id, lawyer_id=li.id, timed_out=False, now=T0,
                                note="需要更熟悉劳动仲裁的律师")
    assert back is not None and back.status is Status.QUEUED and back.queued_at == T0
    assert await repo.position(back) == 1
    assert (await repo.take(wang, now=T0)).consultation.id == first.id  # type: ignore[union-attr]
    assert await Lawyers(engine).current(li.id) is None
    assert await repo.give_back(first.id, lawyer_id=li.id, timed_out=True, now=T0) is None
    async with engine.connect() as conn:
        actions = (await conn.scalars(select(ConsultationEvent.action).where(
            ConsultationEvent.consultation_id == first.id).order_by(ConsultationEvent.id))).all()
    assert list(actions) == ["queued", "taken", "returned", "taken"]


async def test_left_the_queue_it_is_never_taken(repo: Consultations,
                                                engine: AsyncEngine) -> None:
    gone = await ask(repo, "a", T0)
    kept = await ask(repo, "b", T0 + timedelta(seconds=1))
    assert await repo.cancel(gone.id, account="default", openid="o-someone-else",
                             now=T0) is None  # only the citizen's own
    left = await repo.cancel(gone.id, account="default", openid="o-a", now=T0)
    assert left is not None and (left.status, left.end_reason) == (
        Status.ABANDONED, EndReason.CANCELLED)
    li = await lawyer(engine, "14401201810000005")
    assert (await repo.take(li, now=T0)).consultation.id == kept.id  # type: ignore[union-attr]
    assert await repo.cancel(kept.id, account="default", openid="o-b", now=T0) is None


async def test_the_conversations_pushes_reach_the_other_side(
    repo: Consultations, engine: AsyncEngine,
) -> None:
    asked = await ask(repo, "a", T0, openid="o-citizen")
    li = await lawyer(engine, "14401201810000006", openid="o-lawyer")
    other = await lawyer(engine, "14401201810000007", openid="o-other")

    def to(side: str, words: str) -> list[Note]:
        return [Note(side, "consult", words)]  # type: ignore[arg-type]

    # while it waits, the citizen's addition is kept and nobody is pushed
    assert await repo.add(asked.id, sender="citizen", kind="text", text="补充：有劳动合同",
                          now=T0) is not None
    took = await repo.take(li, now=T0, tell=lambda c: to("citizen", "李明律师已接单"))
    assert took.consultation is not None
    said = await repo.add(asked.id, sender="lawyer", lawyer_id=li.id, kind="text",
                          text="请问有工资条吗", now=T0 + timedelta(minutes=2),
                          tell=lambda c: to("citizen", "律师：请问有工资条吗"))
    assert said is not None and said.first_answer_at == T0 + timedelta(minutes=2)
    assert await repo.add(asked.id, sender="lawyer", lawyer_id=other.id, kind="text",
                          text="不是我的", now=T0) is None  # not theirs
    await repo.add(asked.id, sender="citizen", kind="text", text="有的", now=T0,
                   tell=lambda c: to("lawyer", "【FL…-000001 张**】有的"))
    ended = await repo.end(asked.id, reason=EndReason.LAWYER, lawyer_id=li.id, now=T0,
                           tell=lambda c: to("citizen", "咨询已结束"))
    assert ended is not None and ended.status is Status.ENDED
    assert await repo.add(asked.id, sender="citizen", kind="text", text="还在吗",
                          now=T0) is None  # ended: nothing relayed
    async with engine.connect() as conn:
        pushes = (await conn.execute(select(Push.openid, Push.text).order_by(Push.id))).all()
    assert [tuple(p) for p in pushes] == [
        ("o-citizen", "李明律师已接单"), ("o-citizen", "律师：请问有工资条吗"),
        ("o-lawyer", "【FL…-000001 张**】有的"), ("o-citizen", "咨询已结束")]
    assert [m.text for m in await repo.messages(asked.id)] == [
        "补充：有劳动合同", "请问有工资条吗", "有的"]


async def test_waits_are_learnt_from_live_consultations_only(
    repo: Consultations, engine: AsyncEngine,
) -> None:
    await ask(repo, "a", T0)
    await ask(repo, "b", T0 + timedelta(seconds=30))
    li = await lawyer(engine, "14401201810000008", capacity=5)
    await repo.take(li, now=T0 + timedelta(minutes=4))
    await repo.take(li, now=T0 + timedelta(minutes=6, seconds=30))
    assert sorted(await repo.recent_waits("labour", T0 + timedelta(hours=1))) == [
        (240.0, 1), (360.0, 2)]
    assert await repo.recent_waits("labour", T0 + timedelta(days=8)) == []  # too old


@pytest.mark.parametrize("lawyers_at_once", [20])
async def test_lawyers_taking_at_once_never_share_one_nor_skip_one(
    repo: Consultations, engine: AsyncEngine, lawyers_at_once: int,
) -> None:
    """Issue 13 point 5: 20 lawyers send 接单 five times each, all at once, over 200
    waiting consultations: 100 taken, each once, and they are the 100 longest-waiting."""
    asked = [await ask(repo, f"k{n}", T0 + timedelta(milliseconds=10 * n))
             for n in range(200)]
    team = [await lawyer(engine, f"1440120181{n:07d}", capacity=5)
            for n in range(lawyers_at_once)]

    async def five(one: LawyerRecord) -> list[int]:
        taken = []
        for _ in range(5):
            took = await repo.take(one, now=T0 + timedelta(minutes=1))
            assert took.outcome is Took.TAKEN and took.consultation is not None
            taken.append(took.consultation.id)
        return taken

    per_lawyer = await asyncio.gather(*(five(one) for one in team))
    taken = [cid for ids in per_lawyer for cid in ids]
    assert len(taken) == len(set(taken)) == 100
    assert sorted(taken) == [c.id for c in asked[:100]]
    async with engine.connect() as conn:
        holders = (await conn.execute(text(
            "SELECT lawyer_id, count(*) FROM consultations WHERE status = 'taken' "
            "GROUP BY lawyer_id"))).all()
    assert sorted(n for _, n in holders) == [5] * lawyers_at_once


async def test_what_redis_lost_is_put_back_from_the_table(
    engine: AsyncEngine, redis_url: str,
) -> None:
    await fresh_consultations(engine)
    client: Redis = Redis.from_url(redis_url)
    keys = KeyBuilder(prefix=f"t{uuid.uuid4().hex[:8]}")
    repo = Consultations(engine, queue=RedisQueue(client, keys))
    try:
        first = await ask(repo, "a", T0)
        second = await ask(repo, "b", T0 + timedelta(seconds=1))
        await client.delete(keys.consult_queue("labour"))  # Redis restarted, empty
        assert await repo.restore_index() == 2
        assert await repo.restore_index() == 0  # nothing more was missing
        li = await lawyer(engine, "14401201819999999")
        assert [(await repo.take(li, now=T0)).consultation.id  # type: ignore[union-attr]
                for _ in range(2)] == [first.id, second.id]
    finally:
        await client.aclose()
