"""The legal consultation's timers (scheduler/jobs.py ``consultations``) under a clock the
test moves, on SQLite and PostgreSQL: a lawyer silent 10 minutes after taking one is
reminded once, at 20 it goes back to the queue at its place (both told); a citizen silent
30 minutes after the lawyer's last message ends it (both told); what moved meanwhile is
left for the next tick."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.consultation import EndReason, Status
from scheduler import jobs
from storage.consultations import Consultations, Note
from storage.lawyers import Lawyers
from storage.models import ConsultationEvent, Push
from tests.test_consultations_store import T0, ask, fresh_consultations, lawyer
from tests.test_jobs import tools

MIN = timedelta(minutes=1)


@pytest.fixture
async def repo(engine: AsyncEngine) -> Consultations:
    await fresh_consultations(engine)
    return Consultations(engine)


async def pushes(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        return [(r.openid, r.text) for r in await conn.execute(
            select(Push.openid, Push.text).order_by(Push.id))]


async def actions(engine: AsyncEngine, consultation_id: int) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.scalars(select(ConsultationEvent.action).where(
            ConsultationEvent.consultation_id == consultation_id)
            .order_by(ConsultationEvent.id))).all())


async def test_a_silent_lawyer_is_reminded_then_loses_the_consultation(
    repo: Consultations, engine: AsyncEngine,
) -> None:
    asked = await ask(repo, "a", T0, openid="o-citizen")
    li = await lawyer(engine, "14401201810000001", openid="o-lawyer")
    await repo.take(li, now=T0)
    toolset = tools(engine)
    assert await jobs.consultations(T0 + 9 * MIN, toolset) == 0
    assert await jobs.consultations(T0 + 10 * MIN, toolset) == 1
    assert await jobs.consultations(T0 + 11 * MIN, toolset) == 0  # once
    assert (await pushes(engine))[-1] == (
        "o-lawyer", "【提醒】咨询【000001】张**已等您回复10分钟，10分钟后仍未回复将退回队列。")
    assert await jobs.consultations(T0 + 20 * MIN, toolset) == 1
    back = await repo.get(asked.id)
    assert back is not None and (back.status, back.lawyer_id, back.queued_at) == (
        Status.QUEUED, None, T0)
    assert (await pushes(engine))[-2:] == [
        ("o-lawyer", "咨询【000001】20分钟没有回复，已退回队列。"),
        ("o-citizen", "律师暂时未能答复，您的咨询（FL20261201-000001）"
                      "已按原来的顺序重新排队，请稍候。")]
    assert await actions(engine, asked.id) == ["queued", "taken", "reminded", "timed_out"]


async def test_an_answer_stops_the_lawyers_timer(repo: Consultations,
                                                 engine: AsyncEngine) -> None:
    asked = await ask(repo, "a", T0)
    li = await lawyer(engine, "14401201810000002", openid="o-lawyer")
    await repo.take(li, now=T0)
    await repo.add(asked.id, sender="lawyer", lawyer_id=li.id, kind="text", text="您好",
                   now=T0 + 5 * MIN)
    toolset = tools(engine)
    for minutes in (10, 20, 30):
        await jobs.consultations(T0 + minutes * MIN, toolset)
    still = await repo.get(asked.id)
    assert still is not None and still.status is Status.TAKEN  # the citizen has until 35


async def test_a_silent_citizen_ends_it_and_both_are_told(repo: Consultations,
                                                          engine: AsyncEngine) -> None:
    asked = await ask(repo, "a", T0, openid="o-citizen")
    li = await lawyer(engine, "14401201810000003", openid="o-lawyer")
    await repo.take(li, now=T0)
    await repo.add(asked.id, sender="lawyer", lawyer_id=li.id, kind="text", text="您好",
                   now=T0 + MIN)
    await repo.add(asked.id, sender="citizen", kind="text", text="你好律师", now=T0 + 2 * MIN)
    await repo.add(asked.id, sender="lawyer", lawyer_id=li.id, kind="text", text="请说",
                   now=T0 + 3 * MIN)
    toolset = tools(engine)
    assert await jobs.consultations(T0 + 32 * MIN, toolset) == 0  # 29 minutes quiet
    assert await jobs.consultations(T0 + 33 * MIN, toolset) == 1
    ended = await repo.get(asked.id)
    assert ended is not None and (ended.status, ended.end_reason) == (
        Status.ENDED, EndReason.SILENT)
    ended_push, lawyer_push, survey_push = (await pushes(engine))[-3:]
    assert ended_push == (
        "o-citizen", "您已有一段时间没有回复，本次咨询（FL20261201-000001）已结束。\n"
                     "如还有问题，可随时回复“法律咨询”重新提问。")
    assert lawyer_push == ("o-lawyer", "市民30分钟没有回复，咨询【000001】已结束。")
    assert survey_push[0] == "o-citizen" and "请您评价律师的解答" in survey_push[1]


async def test_a_consultation_that_moved_since_it_was_read_is_left_alone(
    repo: Consultations, engine: AsyncEngine,
) -> None:
    asked = await ask(repo, "a", T0)
    li = await lawyer(engine, "14401201810000004")
    await repo.take(li, now=T0)
    (stale,) = await repo.awaiting_lawyer(T0 + 20 * MIN)
    await repo.add(asked.id, sender="lawyer", lawyer_id=li.id, kind="text", text="在的",
                   now=T0 + 20 * MIN)  # answered between the read and the act
    assert await repo.give_back(asked.id, lawyer_id=li.id, timed_out=True,
                                now=T0 + 20 * MIN, version=stale.version) is None
    assert not await repo.remind(stale, now=T0 + 20 * MIN, tell=lambda c: ())
    assert await repo.end(asked.id, reason=EndReason.SILENT, now=T0 + 20 * MIN,
                          version=stale.version) is None


async def test_a_follow_up_the_lawyer_leaves_unanswered_goes_back_too(
    repo: Consultations, engine: AsyncEngine,
) -> None:
    """The lawyer answered once, the citizen asked again, and the lawyer went quiet:
    reminded 10 minutes after the follow-up, given back at 20 (it would stay taken for
    ever otherwise: neither side is silent by the other rules)."""
    asked = await ask(repo, "a", T0, openid="o-citizen")
    li = await lawyer(engine, "14401201810000005", openid="o-lawyer")
    await repo.take(li, now=T0)
    await repo.add(asked.id, sender="lawyer", lawyer_id=li.id, kind="text", text="您好",
                   now=T0 + MIN)
    await repo.add(asked.id, sender="citizen", kind="text", text="那我该怎么办？",
                   now=T0 + 5 * MIN)
    toolset = tools(engine)
    assert await jobs.consultations(T0 + 14 * MIN, toolset) == 0
    assert await jobs.consultations(T0 + 15 * MIN, toolset) == 1  # reminded
    assert await jobs.consultations(T0 + 25 * MIN, toolset) == 1  # given back
    back = await repo.get(asked.id)
    assert back is not None and back.status is Status.QUEUED
    assert await actions(engine, asked.id) == [
        "queued", "taken", "reminded", "timed_out"]


async def test_an_answer_waiting_for_a_citizen_out_of_reach_does_not_end_at_30_minutes(
    repo: Consultations, engine: AsyncEngine,
) -> None:
    """The template told the citizen an answer waits: the consultation stays open for
    them (LIANXIN_CONSULT_AWAY_HOURS), not ended before they could read it; the template
    goes once until the citizen writes."""
    asked = await ask(repo, "a", T0, openid="o-citizen")
    li = await lawyer(engine, "14401201810000006", openid="o-lawyer")
    await repo.take(li, now=T0)
    notice = Note("citizen", "lawyer_answer", "律师已回复您的法律咨询")
    for minute in (1, 2):
        await repo.add(asked.id, sender="lawyer", lawyer_id=li.id, kind="text",
                       text=f"答复{minute}", now=T0 + minute * MIN, notice=notice,
                       tell=lambda c: [Note("citizen", "consult", "答复")])
    assert [text for _, text in await pushes(engine)].count("律师已回复您的法律咨询") == 1
    toolset = tools(engine)
    assert await jobs.consultations(T0 + 2 * 60 * MIN, toolset) == 0
    assert (await repo.get(asked.id)).status is Status.TAKEN  # type: ignore[union-attr]
    assert await jobs.consultations(T0 + 72 * 60 * MIN + 2 * MIN, toolset) == 1
    assert (await repo.get(asked.id)).status is Status.ENDED  # type: ignore[union-attr]


async def test_a_question_nobody_takes_in_a_week_is_closed_and_the_citizen_told(
    repo: Consultations, engine: AsyncEngine,
) -> None:
    asked = await ask(repo, "a", T0, openid="o-citizen")
    toolset = tools(engine)
    assert await jobs.consultations(T0 + timedelta(days=6, hours=23), toolset) == 0
    assert await jobs.consultations(T0 + timedelta(days=7), toolset) == 1
    closed = await repo.get(asked.id)
    assert closed is not None and (closed.status, closed.end_reason) == (
        Status.ENDED, EndReason.EXPIRED)
    assert (await pushes(engine))[-1] == (
        "o-citizen", "很抱歉，您的咨询FL20261201-000001等待7天仍没有律师接单，已关闭。"
                     "如仍需帮助，请拨打12348公共法律服务热线，或回复“法律咨询”重新提问。")


async def test_what_a_disabled_lawyer_still_holds_goes_back(
    repo: Consultations, engine: AsyncEngine,
) -> None:
    asked = await ask(repo, "a", T0, openid="o-citizen")
    li = await lawyer(engine, "14401201810000007")
    await repo.take(li, now=T0)
    await Lawyers(engine).set_active(li.id, False)  # the give-back was cut short
    assert await jobs.consultations(T0 + MIN, tools(engine)) == 1
    back = await repo.get(asked.id)
    assert back is not None and back.status is Status.QUEUED
    assert (await pushes(engine))[-1][1].startswith("原来接单的律师暂时不能继续解答")
