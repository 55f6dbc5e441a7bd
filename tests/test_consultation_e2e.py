"""The legal consultation through the WeChat edge, on SQLite and PostgreSQL: a citizen
asks, a lawyer bound by an invite code goes on duty and takes it, the two talk through the
bot (every message a push to the other side, the citizen masked, phones masked), and the
lawyer ends it; out of hours the question is left as a message; 取消 leaves the queue."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import KEYS, STORE, create_app, default_handler
from domain.consultation import LawyerRecord, Status
from scheduler import jobs
from storage import db
from storage.consultations import Consultations
from storage.lawyers import Lawyers
from storage.models import ConsultationEvent, Push, Survey
from tests.citizens import Citizen, Today, file_complaint, fresh_tickets, ticket_number_in
from tests.conftest import SettingsFactory
from tests.test_consultations_store import fresh_consultations
from tests.test_jobs import tools
from tests.test_staff_api import Client

MONDAY_10 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in China, service hours
MONDAY_22 = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # 22:00 in China, closed
QUESTION = "公司拖欠我三个月工资，老板电话13800138000也不接，我该怎么办？"

World = tuple[Client, AsyncEngine, Today]


@pytest.fixture
async def world(aiohttp_client: Callable[..., Awaitable[Client]],
                make_settings: SettingsFactory,
                database_url: str) -> AsyncIterator[World]:
    engine = db.make_engine(database_url)
    today = Today(MONDAY_10)
    try:
        await fresh_tickets(engine)
        await fresh_consultations(engine)
        settings = make_settings(database_url=database_url, catalogue_ttl=0)
        app = create_app(settings, handler_factory=lambda app: default_handler(app, now=today))
        yield await aiohttp_client(app), engine, today
    finally:
        await engine.dispose()


async def bound_lawyer(client: Client, engine: AsyncEngine, openid: str, licence: str,
                       areas: tuple[str, ...] = ("labour",)) -> tuple[Citizen, LawyerRecord]:
    lawyers = Lawyers(engine)
    made = await lawyers.add("李明", "某律师事务所", licence, list(areas))
    code, _ = await lawyers.invite(made.id)
    phone = Citizen(client, openid)
    assert "邀请码不正确" in await phone.say("律师绑定 00000000")
    said = await phone.say(f"律师绑定 {code}")
    assert said.startswith("李明律师，您好！您的微信已绑定律师账号（某律师事务所）。")
    return phone, made


async def pushes_to(engine: AsyncEngine, openid: str) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.scalars(select(Push.text).where(Push.openid == openid)
                                        .order_by(Push.id))).all())


async def ask(citizen: Citizen) -> str:
    """法律咨询 in 劳动争议, no photos, no name, confirmed: the receipt."""
    return await citizen.says("法律咨询", "1", QUESTION, "跳过", "跳过", "确认")


async def test_a_citizen_asks_a_lawyer_takes_it_and_they_talk_through_the_bot(
    world: World,
) -> None:
    client, engine, _ = world
    lawyer, _ = await bound_lawyer(client, engine, "o-lawyer", "14401201810000001")
    assert "您的领域：劳动争议" in await lawyer.say("上线")
    assert "这是工作账号" not in await lawyer.say("我要反映")  # a lawyer, not a citizen
    citizen = Citizen(client, "o-citizen")
    first = await citizen.say("法律咨询")
    assert first.startswith("您好，这里是免费法律咨询，由值班律师在线解答。")
    assert "1. 劳动争议" in first
    assert "材料" in await citizen.says("1", QUESTION)
    assert "怎么称呼" in await citizen.say("跳过")
    summary = await citizen.say("张先生")
    assert "咨询领域：劳动争议" in summary or "劳动争议" in summary
    receipt = await citizen.say("确认")
    assert receipt.startswith("您的咨询已提交，正在排队。")
    assert "编号：FL20261207-000001" in receipt and "您前面还有0人" in receipt
    assert "时间暂无参考" in receipt
    # the lawyer on duty holding none hears of the first to wait in their area
    assert (await pushes_to(engine, "o-lawyer")) == [
        "有新的法律咨询在等待（劳动争议），回复“接单”开始解答。"]
    assert await citizen.say("补充一下，我有劳动合同") == (
        "已补充到您的问题里，律师接单时会一并看到。")
    assert "前面还有0人" in await citizen.say("排队")

    took = await lawyer.say("接单")
    assert took.startswith("已接单【000001】张**｜劳动争议")
    assert "138****8000" in took and "13800138000" not in took  # a lawyer sees no phone
    assert "补充：补充一下，我有劳动合同" in took
    assert (await pushes_to(engine, "o-citizen"))[-1] == (
        "律师李明（某律师事务所）已接单，正在查看您的问题（FL20261207-000001）。"
        "律师的回复会直接发到这里，您也可以继续补充。")

    assert await lawyer.say("请问您签劳动合同了吗？") == ""
    assert (await pushes_to(engine, "o-citizen"))[-1] == "【律师李明】请问您签劳动合同了吗？"
    assert await citizen.say("签了，我手机是13900139000") == ""
    assert (await pushes_to(engine, "o-lawyer"))[-1] == (
        "【000001 张**】签了，我手机是139****9000")
    assert "咨询中" in await citizen.say("帮助")

    assert await lawyer.say("结束") == (
        "已结束咨询【000001】。\n现在没有等待的咨询，有新咨询时会通知您。")
    ended, question = (await pushes_to(engine, "o-citizen"))[-2:]
    assert ended.startswith("律师已结束本次咨询（FL20261207-000001）。")
    assert question.startswith("您的法律咨询FL20261207-000001已结束。请您评价律师的解答")
    assert await citizen.say("5") == (
        "感谢您对律师的评价：满意（FL20261207-000001）。如有意见或建议，请直接回复；"
        "没有请回复“跳过”。")
    assert await citizen.say("律师很耐心") == "您的意见已记录，感谢您的反馈。"
    async with engine.connect() as conn:
        rated = (await conn.execute(select(ConsultationEvent.action, ConsultationEvent.note)
                                    .order_by(ConsultationEvent.id.desc()).limit(1))).one()
        survey = (await conn.execute(select(Survey.kind, Survey.step, Survey.rating,
                                            Survey.comment))).one()
    assert tuple(rated) == ("rated", "5")
    assert tuple(survey) == ("lawyer", "done", 5, "律师很耐心")
    before = await pushes_to(engine, "o-lawyer")
    assert await citizen.say("谢谢律师")  # the desk answers: nothing goes to the lawyer now
    assert await pushes_to(engine, "o-lawyer") == before
    assert "还没有法律咨询记录" not in await citizen.say("我的咨询")
    assert "FL20261207-000001｜劳动争议｜已结束" in await citizen.say("我的咨询")


async def test_out_of_hours_the_question_is_left_as_a_message(world: World) -> None:
    client, engine, today = world
    await bound_lawyer(client, engine, "o-lawyer", "14401201810000009")  # off duty
    today.moment = MONDAY_22
    citizen = Citizen(client, "o-citizen")
    first = await citizen.say("法律咨询")
    assert first.startswith("现在不在律师服务时间（周一至周五 09:00-12:00、13:30-21:00；"
                            "周六 09:00-12:00）。您可以先留言")
    receipt = await ask(citizen)
    assert receipt.startswith("您的咨询已提交。")
    (asked,) = await Consultations(engine).of_citizen("default", "o-citizen")
    assert asked.left_message and asked.status is Status.QUEUED
    assert "正在等待值班律师" in await citizen.say("排队")


async def test_with_no_lawyer_at_all_or_none_for_an_area_nothing_is_promised(
    world: World,
) -> None:
    """Issue 13: no text promises an answer nobody can give."""
    client, engine, _ = world
    citizen = Citizen(client, "o-citizen")
    assert await citizen.say("法律咨询") == (
        "法律咨询暂时没有律师提供服务。如需法律帮助，可拨打12348公共法律服务热线。")
    await bound_lawyer(client, engine, "o-lawyer", "14401201810000010", areas=("labour",))
    assert "请问您要咨询哪方面的法律问题" in await citizen.say("法律咨询")
    assert (await citizen.say("2")).startswith(
        "“婚姻家庭”方面暂时没有律师提供咨询，请选择其他领域（不确定可选“其他”），"
        "或拨打12348公共法律服务热线。")
    assert "请写下您的问题" in await citizen.say("1")


async def test_within_hours_with_nobody_on_duty_it_is_a_message_too(world: World) -> None:
    client, engine, _ = world
    await bound_lawyer(client, engine, "o-lawyer", "14401201810000002")  # bound, off duty
    citizen = Citizen(client, "o-citizen")
    assert (await citizen.say("法律咨询")).startswith("现在暂时没有值班律师。")
    assert (await ask(citizen)).startswith("您的咨询已提交。")


async def test_leaving_the_queue_and_asking_again(world: World) -> None:
    client, engine, today = world
    lawyer, _ = await bound_lawyer(client, engine, "o-lawyer", "14401201810000003")
    await lawyer.say("上线")
    citizen = Citizen(client, "o-citizen")
    await ask(citizen)
    assert "还在进行中" in await citizen.say("法律咨询")  # one at a time
    assert await citizen.say("取消") == (
        "已取消咨询FL20261207-000001。如还需要帮助，可随时回复“法律咨询”重新提问。")
    assert await lawyer.say("接单") == "现在没有等待的咨询。"
    today.moment += timedelta(minutes=1)
    assert (await ask(citizen)).startswith("您的咨询已提交，正在排队。")
    assert (await lawyer.say("接单")).startswith("已接单【000002】")
    assert "不能再取消" in await citizen.say("取消")


async def test_an_answer_after_the_citizens_window_closed_waits_behind_a_template(
    world: World,
) -> None:
    """Issue 13 point 3: the lawyer is told the answer reaches the citizen when the
    platform allows; the citizen first gets the lawyer_answer template, then the answer
    waits (customer service only) for the citizen's next message."""
    client, engine, _ = world
    lawyer, _ = await bound_lawyer(client, engine, "o-lawyer", "14401201810000004")
    await lawyer.say("上线")
    citizen = Citizen(client, "o-citizen")
    await ask(citizen)
    await lawyer.say("接单")
    app = client.app
    for interaction in ("message", "event"):  # 48 hours without a word from the citizen
        await app[STORE].delete(app[KEYS].window("default", "o-citizen", interaction))
    assert await lawyer.say("您可以先申请劳动仲裁。") == (
        "对方现在暂时收不到消息（超过48小时未互动或消息条数已满），您的回复已保存，"
        "并已发服务通知提醒对方；对方回复后会立即收到。")
    async with engine.connect() as conn:
        last_two = (await conn.execute(
            select(Push.purpose, Push.text, Push.fields).where(Push.openid == "o-citizen")
            .order_by(Push.id.desc()).limit(2))).all()
    (answer_purpose, answer, _), (notice_purpose, notice, fields) = last_two
    assert (notice_purpose, notice) == ("lawyer_answer", "律师已回复您的法律咨询")
    assert fields == {"area": "劳动争议", "lawyer": "李明", "time": "2026-12-07 10:00"}
    assert (answer_purpose, answer) == ("consult", "【律师李明】您可以先申请劳动仲裁。")


async def test_asking_a_lawyer_in_the_middle_of_a_complaint_says_the_form_stopped(
    world: World,
) -> None:
    client, engine, _ = world
    await bound_lawyer(client, engine, "o-lawyer", "14401201810000011")
    citizen = Citizen(client, "o-citizen")
    await citizen.says("我要反映", "1")
    said = await citizen.click("LEGAL")
    assert said.startswith("您未填完的留言已停止填写，内容没有提交。")
    assert "请问您要咨询哪方面的法律问题" in said
    assert "请问您要咨询哪方面的法律问题" in await citizen.say("法律咨询")  # asked again


async def test_photos_and_voice_pass_both_ways_labelled(world: World) -> None:
    """Issue 13 point 3: images and voice go through the bot like text, each labelled
    with the consultation; a voice message the platform transcribed carries its text."""
    client, engine, _ = world
    lawyer, _ = await bound_lawyer(client, engine, "o-lawyer", "14401201810000005")
    await lawyer.say("上线")
    citizen = Citizen(client, "o-citizen")
    await citizen.says("法律咨询", "1", QUESTION)
    assert "材料照片" in await citizen.photo("MEDIA_CONTRACT")  # with the question
    await citizen.says("完成", "跳过", "确认")
    took = await lawyer.say("接单")
    assert "（市民附了1张材料照片，见下）" in took
    assert await citizen.voice("老板说下个月再给") == ""
    assert await citizen.photo("MEDIA_PAYSLIP") == ""
    async with engine.connect() as conn:
        to_lawyer = (await conn.execute(select(Push.text, Push.message).where(
            Push.openid == "o-lawyer").order_by(Push.id))).all()
    relayed = [(text, None if message is None else (message["kind"], message["media_id"]))
               for text, message in to_lawyer[-5:]]
    assert relayed == [
        ("[image MEDIA_CONTRACT]", ("image", "MEDIA_CONTRACT")),  # 接单's photo, after it
        ("【000001 市民】发来一条语音：老板说下个月再给", None),
        ("【000001 市民】发来一条语音：老板说下个月再给", ("voice", "v1")),
        ("【000001 市民】发来一条图片：", None),
        ("【000001 市民】发来一条图片：", ("image", "MEDIA_PAYSLIP"))]
    assert await lawyer.voice("可以申请劳动仲裁") == ""
    async with engine.connect() as conn:
        to_citizen = (await conn.execute(select(Push.text, Push.message).where(
            Push.openid == "o-citizen").order_by(Push.id.desc()).limit(2))).all()
    assert [(text, None if message is None else message["kind"])
            for text, message in reversed(to_citizen)] == [
        ("【律师李明】发来一条语音：可以申请劳动仲裁", None),
        ("【律师李明】发来一条语音：可以申请劳动仲裁", "voice")]


async def test_a_message_left_at_night_is_answered_next_morning(world: World) -> None:
    """Issue 13 point 8: left out of hours; the next lawyer on duty is told it waits,
    takes it, and the answer reaches the citizen through the template, then waits for
    their next message."""
    client, engine, today = world
    lawyer, _ = await bound_lawyer(client, engine, "o-lawyer", "14401201810000006")
    today.moment = MONDAY_22
    citizen = Citizen(client, "o-citizen")
    assert (await ask(citizen)).startswith("您的咨询已提交。")
    today.moment = MONDAY_22 + timedelta(hours=11, minutes=30)  # Tuesday 09:30
    app = client.app
    for interaction in ("message", "event"):  # the night: nothing from the citizen
        await app[STORE].delete(app[KEYS].window("default", "o-citizen", interaction))
    assert "现在有1个咨询在等待" in await lawyer.say("上线")
    took = await lawyer.say("接单")
    assert took.startswith(
        "已接单【000001】市民｜劳动争议\n留言（在服务时间外或无人值班时提交，市民可能不在线")
    assert "对方现在暂时收不到消息" in await lawyer.say("可以先申请劳动仲裁，带上工资条。")
    async with engine.connect() as conn:
        last = (await conn.execute(select(Push.purpose, Push.text).where(
            Push.openid == "o-citizen").order_by(Push.id.desc()).limit(3))).all()
    assert [tuple(p) for p in reversed(last)] == [
        ("consult", "律师李明（某律师事务所）已接单，正在查看您的问题（FL20261207-000001）。"
                    "律师的回复会直接发到这里，您也可以继续补充。"),
        ("lawyer_answer", "律师已回复您的法律咨询"),
        ("consult", "【律师李明】可以先申请劳动仲裁，带上工资条。")]


async def test_a_lawyer_who_says_nothing_loses_the_consultation_to_the_next(
    world: World,
) -> None:
    """Issue 13 point 4 through the edge: reminded at 10 minutes, the consultation back
    in the queue at 20, and the next lawyer takes it."""
    client, engine, today = world
    first, _ = await bound_lawyer(client, engine, "o-first", "14401201810000007")
    second, _ = await bound_lawyer(client, engine, "o-second", "14401201810000008")
    await first.say("上线")
    citizen = Citizen(client, "o-citizen")
    await ask(citizen)
    assert (await first.say("接单")).startswith("已接单【000001】")
    toolset = tools(engine)
    assert await jobs.consultations(today.moment + timedelta(minutes=10), toolset) == 1
    assert (await pushes_to(engine, "o-first"))[-1].startswith("【提醒】咨询【000001】")
    assert await jobs.consultations(today.moment + timedelta(minutes=20), toolset) == 1
    assert (await pushes_to(engine, "o-first"))[-1] == "咨询【000001】20分钟没有回复，已退回队列。"
    assert await first.say("我来回答") == (
        "您现在没有进行中的咨询。回复“接单”接等待最久的一个，或回复“列表”查看。")
    await second.say("上线")
    assert (await second.say("接单")).startswith("已接单【000001】")


async def test_citizens_and_lawyers_at_once_each_consultation_taken_once(
    world: World,
) -> None:
    """Issue 13 point 8: twelve citizens ask and four lawyers (three each at most) take
    at the same time through the edge: every consultation is taken, and by one lawyer."""
    client, engine, _ = world
    lawyers = [(await bound_lawyer(client, engine, f"o-lawyer{n}", f"1440120181000010{n}"))[0]
               for n in range(4)]
    for lawyer in lawyers:
        await lawyer.say("上线")
    citizens = [Citizen(client, f"o-citizen{n}") for n in range(12)]
    receipts = await asyncio.gather(*(ask(citizen) for citizen in citizens))
    assert all(r.startswith("您的咨询已提交，正在排队。") for r in receipts)

    async def three(lawyer: Citizen) -> list[str]:
        return [await lawyer.say("接单") for _ in range(3)]

    said = [line for lines in await asyncio.gather(*(three(one) for one in lawyers))
            for line in lines]
    taken = sorted(line.split("】")[0].removeprefix("已接单【") for line in said)
    assert taken == [f"{n:06d}" for n in range(1, 13)]
    assert await Consultations(engine).waiting(["labour"]) == 0


async def test_an_answer_never_reaches_another_citizen_when_the_current_one_ended(
    world: World,
) -> None:
    """The lawyer holds two; the current one ends (here by the citizen's silence): what
    the lawyer types next is not sent to the other citizen, they are asked to choose."""
    client, engine, today = world
    lawyer, _ = await bound_lawyer(client, engine, "o-lawyer", "14401201810000012")
    await lawyer.say("上线")
    first, second = Citizen(client, "o-first"), Citizen(client, "o-second")
    await ask(first)
    await ask(second)
    await lawyer.says("接单", "您好，请稍等。")  # 000001
    await first.say("好的")  # 000001 waits for the lawyer
    await lawyer.say("接单")  # 000002, now the current one
    await lawyer.say("请问您有劳动合同吗？")  # to 000002
    # 000002's citizen is silent: it ends; 000001 still waits (a long lawyer timeout)
    await jobs.consultations(today.moment + timedelta(minutes=31), tools(
        engine, consult_remind=timedelta(hours=1), consult_timeout=timedelta(hours=2)))
    before = await pushes_to(engine, "o-first")
    said = await lawyer.say("那您可以申请劳动仲裁。")
    assert said.startswith("您手上有1个咨询，请先选择要回复哪一个")
    assert await pushes_to(engine, "o-first") == before  # nothing reached the other citizen
    assert "【000001】" in await lawyer.say("切换 1")


async def test_a_bare_digit_in_a_consultation_goes_to_the_lawyer_not_to_a_survey(
    world: World,
) -> None:
    """The lawyer asks "工作几年了？", the citizen answers "3" while a rating of an older
    consultation waits: the answer is the lawyer's; a numbered rating is still a rating."""
    client, engine, _ = world
    lawyer, _ = await bound_lawyer(client, engine, "o-lawyer", "14401201810000013")
    await lawyer.say("上线")
    citizen = Citizen(client, "o-citizen")
    await ask(citizen)
    await lawyer.says("接单", "结束")  # a rating of 000001 now waits
    await ask(citizen)
    await lawyer.say("接单")
    await lawyer.say("您工作几年了？")
    assert await citizen.say("3") == ""
    assert (await pushes_to(engine, "o-lawyer"))[-1] == "【000002 市民】3"
    assert (await citizen.say("000001 5")).startswith(
        "感谢您对律师的评价：满意（FL20261207-000001）")


async def test_a_lawyer_holding_consultations_cannot_move_to_another_profile(
    world: World,
) -> None:
    client, engine, _ = world
    lawyer, _ = await bound_lawyer(client, engine, "o-lawyer", "14401201810000014")
    await lawyer.say("上线")
    await ask(Citizen(client, "o-citizen"))
    await lawyer.say("接单")
    lawyers = Lawyers(engine)
    other = await lawyers.add("李明", "另一所", "14401201810000015", ["labour"])
    code, _ = await lawyers.invite(other.id)
    assert await lawyer.say(f"律师绑定 {code}") == (
        "您现在的律师账号还有1个咨询没有结束，请先结束或转回，再用新的邀请码绑定。")
    await lawyer.say("结束")
    assert (await lawyer.say(f"律师绑定 {code}")).startswith("李明律师，您好！")


# -- issue 15: the legal service offered while it is on, its words as citizens write them --


CONSULT_WORDS = [(name, str(word)) for name, listed in tomllib.loads(
    (Path(__file__).resolve().parents[1] / "domain" / "vocabulary.toml")
    .read_text(encoding="utf-8"))["consultation"].items()
    if name in ("queue", "cancel", "mine", "help", "no_photos") for word in listed]


@pytest.mark.parametrize(("name", "word"), CONSULT_WORDS)
async def test_every_word_of_an_open_consultation_is_read(world: World, name: str,
                                                          word: str) -> None:
    client, engine, _ = world
    lawyer, _ = await bound_lawyer(client, engine, "o-lawyer", "14401201810000030")
    await lawyer.say("上线")
    citizen = Citizen(client, "o-citizen")
    if name == "no_photos":  # at the material photos question: none, the name asked next
        assert "怎么称呼" in await citizen.says("法律咨询", "1", QUESTION, f"{word}。")
        return
    await ask(citizen)
    reply = await citizen.say(f"{word}。" if name != "help" else word)  # punctuation aside
    expected = {"queue": "正在排队", "cancel": "已取消咨询", "mine": "您的法律咨询",
                "help": "您正在进行法律咨询"}[name]
    assert expected in reply, reply


async def queued_with_a_ticket(world: World, licence: str) -> tuple[Citizen, Citizen, str]:
    """A lawyer on duty, and a citizen with a ticket filed and a question queued: the
    lawyer, the citizen and the ticket's number."""
    client, engine, _ = world
    lawyer, _ = await bound_lawyer(client, engine, "o-lawyer", licence)
    await lawyer.say("上线")
    citizen = Citizen(client, "o-citizen")
    number = ticket_number_in(await file_complaint(citizen))
    await ask(citizen)
    return lawyer, citizen, number


async def test_cancel_after_the_legal_click_leaves_the_queue_not_the_withdraw_question(
    world: World,
) -> None:
    """撤回 asked, then the 法律咨询 click says the consultation is queued and how to
    leave it: 取消 leaves the queue (it is no 否 to the withdraw question, set aside by the
    click)."""
    _, citizen, number = await queued_with_a_ticket(world, "14401201810000032")
    assert "确定撤回" in await citizen.say(f"撤回 {number}")
    assert "取消" in await citizen.click("LEGAL")
    reply = await citizen.say("取消")
    assert "已取消咨询" in reply and "没有撤回" not in reply, reply


async def test_a_voice_nothing_was_heard_in_goes_to_the_lawyer_and_sets_the_question_aside(
    world: World,
) -> None:
    """In a consultation a voice message goes to the lawyer, not to the desk's "please
    type it": it sets 撤回's question aside, so the 是 that answers the lawyer next
    withdraws nothing."""
    lawyer, citizen, number = await queued_with_a_ticket(world, "14401201810000033")
    await lawyer.say("接单")
    assert "确定撤回" in await citizen.say(f"撤回 {number}")
    await citizen.voice("")
    await lawyer.say("您和单位签过劳动合同吗？")
    reply = await citizen.say("是")
    assert "已撤回" not in reply, reply
    assert "已撤回" not in await citizen.say(f"查询 {number}")


async def test_the_legal_service_is_offered_only_while_a_lawyer_serves(
    aiohttp_client: Callable[..., Awaitable[Client]], make_settings: SettingsFactory,
    sqlite_url: str,
) -> None:
    """The greeting lists 法律咨询 only while a lawyer serves (looked up at most once a
    minute), and its number then starts it."""
    engine = db.make_engine(sqlite_url)
    clock = [1_800_000_000.0]
    try:
        await fresh_tickets(engine)
        await fresh_consultations(engine)
        app = create_app(make_settings(catalogue_ttl=0), handler_factory=lambda app:
                         default_handler(app, now=Today(MONDAY_10), clock=lambda: clock[0]))
        client = await aiohttp_client(app)
        citizen = Citizen(client, "o-citizen")
        greeting = await citizen.say("你好")
        assert "法律咨询" not in greeting and "3." not in greeting
        assert "没有看懂" not in await citizen.say("3")  # no third service: said so
        lawyer, _ = await bound_lawyer(client, engine, "o-lawyer", "14401201810000031")
        await lawyer.say("上线")
        clock[0] += 61
        greeting = await citizen.say("你好")
        assert "3. 法律咨询" in greeting, greeting
        assert "请问您要咨询哪方面的法律问题" in await citizen.say("3")
    finally:
        await engine.dispose()
