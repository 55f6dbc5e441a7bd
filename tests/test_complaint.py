"""我要反映 end to end: whole conversations through the HTTP edge into tickets, on SQLite and
on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import chinese_calendar
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import CALLBACKS, create_app, default_handler
from domain.catalogue import Catalogue
from domain.workdays import STATUTORY, YearArrangement
from flows import complaint
from storage import db
from storage.models import Attachment, Ticket, TicketEvent
from storage.outbox import Outbox
from storage.tickets import Tickets
from tests.citizens import (
    LAMP,
    Citizen,
    Clock,
    Today,
    demo_catalogue,
    file_complaint,
    fresh_tickets,
    ticket_number_in,
)
from tests.conftest import SettingsFactory


@dataclass
class Bot:
    client: TestClient[Any, Any]
    engine: AsyncEngine
    clock: Clock
    today: Today

    def citizen(self, openid: str) -> Citizen:
        return Citizen(self.client, openid)

    async def tickets(self, openid: str | None = None) -> list[Ticket]:
        async with self.engine.connect() as conn:
            query = select(Ticket).order_by(Ticket.id)
            if openid is not None:
                query = query.where(Ticket.openid == openid)
            return [Ticket(**row._mapping) for row in (await conn.execute(query)).all()]

    async def rows(self, model: type[Any], **where: Any) -> list[Any]:
        async with self.engine.connect() as conn:
            query = select(model).filter_by(**where)
            return list((await conn.execute(query)).all())


BotFactory = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def make_bot(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    make_settings: SettingsFactory, database_url: str,
) -> AsyncIterator[BotFactory]:
    engine = db.make_engine(database_url)

    async def build(*, catalogue: Catalogue | None = None, load: bool = True,
                    **overrides: Any) -> Bot:
        if load:
            await fresh_tickets(engine, catalogue=catalogue)
        clock, today = Clock(), Today()
        settings = make_settings(database_url=database_url, catalogue_ttl=0, **overrides)
        app = create_app(settings, handler_factory=lambda app: default_handler(
            app, now=today, clock=clock))
        return Bot(await aiohttp_client(app), engine, clock, today)

    yield build
    await engine.dispose()


@pytest.fixture
async def bot(make_bot: BotFactory) -> Bot:
    return await make_bot()


# -- whole conversations ------------------------------------------------------------------


async def test_a_complaint_by_menu_with_location_and_photos_becomes_a_routed_ticket(
    bot: Bot,
) -> None:
    alice = bot.citizen("oAlice")
    assert "请问是哪一类留言" in await alice.click("COMPLAINT")
    categories = await alice.say("1")
    assert "1. 住房建设" in categories and "8. 其他" in categories
    region = await alice.say("漏水")  # a keyword of 住房建设
    assert "1. 城关街道" in region and "发送位置" in region
    assert "县城区" not in region  # the parent of three 街道 is not offered beside them
    assert "请描述您要反映的问题" in await alice.location(
        27.12, 112.34, "湖南省示范县东城街道人民路12号")
    assert "发送（最多9张）" in await alice.say("楼上卫生间漏水三个月了，物业一直不管")
    assert "已收到第1张照片" in await alice.photo("m1")
    assert "还可以再发7张" in await alice.photo("m2")
    assert "请留下您的手机号" in await alice.say("完成")
    assert "可以把您的留言公开在留言板上吗" in await alice.say("138 0013 8000")
    summary = await alice.say("公开")
    for line in ("1. 类型：投诉", "2. 问题分类：住房建设",
                 "3. 所在区域：东城街道（湖南省示范县东城街道人民路12号）",
                 "4. 问题描述：楼上卫生间漏水三个月了，物业一直不管", "5. 照片：2张",
                 "6. 联系电话：13800138000", "7. 是否公开：公开"):
        assert line in summary, summary
    receipt = await alice.say("确认")
    assert "编号：LX20261123-000001" in receipt
    assert "承办部门：县住房和城乡建设局" in receipt
    assert "5个工作日内答复，2026年11月30日（周一）前" in receipt

    [ticket] = await bot.tickets("oAlice")
    assert (ticket.kind, ticket.category, ticket.region, ticket.department) == (
        "投诉", "zfjs", "dongcheng", "zjj")
    assert (ticket.phone, ticket.public, ticket.due_on) == ("13800138000", True,
                                                           date(2026, 11, 30))
    assert ticket.latitude == pytest.approx(27.12) and ticket.place is not None
    photos = await bot.rows(Attachment, ticket_id=ticket.id)
    assert [p.media_id for p in photos] == ["m1", "m2"]
    events = await bot.rows(TicketEvent, ticket_id=ticket.id)
    assert [(e.actor, e.to_status) for e in events] == [("citizen", "submitted"),
                                                         ("router", "dispatched")]
    # the conversation is over: the next text is not a flow answer
    assert "不客气" in await alice.say("好的谢谢")


@pytest.mark.parametrize("word", ["留言", "我要反映", "我要反应", "反映个问题", "我要反映。"])
async def test_keywords_start_the_flow(bot: Bot, word: str) -> None:
    assert "请问是哪一类留言" in await bot.citizen("oKw").say(word)


@pytest.mark.parametrize(("word", "kind"), [("投诉", "投诉"), ("我要投诉。", "投诉"),
                                            ("投诉！", "投诉"), ("举报", "投诉"),
                                            ("我要求助", "求助"), ("我有个建议", "建议")])
async def test_a_word_that_names_the_kind_fills_it(bot: Bot, word: str, kind: str) -> None:
    """"我要投诉" is the answer to the first question: the form asks the next one."""
    citizen = bot.citizen("oKind")
    assert "请选择问题分类" in await citizen.say(word)
    summary = await citizen.says("1", "3", "小区门口的路灯坏了一个星期，晚上很黑", "跳过",
                                 "13800138000", "2")
    assert f"1. 类型：{kind}" in summary  # the summary names it…
    assert "请问是哪一类留言" in await citizen.say("修改 1")  # …and it can be changed


async def test_a_region_by_free_text_routes_by_the_most_specific_rule(bot: Bot) -> None:
    bob = bot.citizen("oBob")
    await bob.say("我要反映")
    await bob.say("投诉")  # the keyword answers the first question
    await bob.say("住房")  # part of a category's name
    assert "请描述" in await bob.say("经济开发区")
    receipt = await file_rest(bob, "开发区新建小区电梯一直没有验收就投入使用")
    assert "示范县经济开发区管理委员会" in receipt  # zfjs × kaifaqu → kfq, not 住建局


async def file_rest(citizen: Citizen, description: str) -> str:
    return await citizen.says(description, "跳过", "13900139000", "2", "确认")


async def test_a_skipped_region_goes_by_the_category_alone(bot: Bot) -> None:
    carol = bot.citizen("oCarol")
    await carol.say("我要反映")
    await carol.say("2")  # 求助
    await carol.say("6")  # 劳动社保
    assert "请描述" in await carol.say("不清楚")
    receipt = await file_rest(carol, "工地老板拖欠我们十几个工人三个月工资")
    assert "县人力资源和社会保障局" in receipt and "3个工作日" in receipt
    [ticket] = await bot.tickets("oCarol")
    assert ticket.region is None


async def test_a_place_a_parent_or_not_knowing_routes_by_the_rules(bot: Bot) -> None:
    """市容城管 has rules for the county town (县城区, over its three 街道) and the zone only."""
    for openid, where, region, department in (
        ("oSquare", "人民广场东边", "chengguan", "县城市管理综合执法局"),  # a landmark
        ("oVillage", "张家村", "hekou", "县12345热线办公室"),  # a village: no rule, 兜底
        ("oTown", "县城区", "chengqu", "县城市管理综合执法局"),  # the parent, typed
        ("oUnsure", "不知道", None, "县12345热线办公室"),  # no region: no "*" rule, 兜底
    ):
        citizen = bot.citizen(openid)
        await citizen.says("我要反映", "1", "7")
        assert "请描述" in await citizen.say(where)
        assert department in await file_rest(citizen, "路边摊贩占道经营，晚上很吵也很脏乱")
        [ticket] = await bot.tickets(openid)
        assert ticket.region == region
        assert ticket.place == (where if region in ("chengguan", "hekou") else None)


async def test_a_voice_message_the_platform_transcribed_is_read_as_text(bot: Bot) -> None:
    assert "请问是哪一类留言" in await bot.citizen("oVoice").voice("我要反映。")


# -- bad input at every step --------------------------------------------------------------


async def test_bad_input_at_every_step_gets_a_clear_answer_and_loses_nothing(bot: Bot) -> None:
    dan = bot.citizen("oDan")
    await dan.say("我要反映")
    retry = await dan.say("9")
    # the reason and the question, not the list again (it is just above)
    assert "请回复序号或选项文字" in retry and retry.endswith("请问是哪一类留言？")
    assert "5. 表扬" not in retry
    await dan.say("投诉")
    assert await dan.say("火星") == ("请回复序号或选项文字，例如“1”或“住房建设”。\n"
                                     "请问是哪一类问题？")
    await dan.say("7")  # 市容城管
    assert "没有找到“火星基地”" in await dan.say("火星基地")
    address = await dan.say("幸福路88号")  # an address without its town: kept, not counted
    assert "已记下地址：幸福路88号" in address and "属于哪个乡镇" in address
    assert "这一步请发文字或语音" in await dan.post(
        '<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[oDan]]>'
        '</FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[video]]></MsgType>'
        '<MediaId><![CDATA[v]]></MediaId><ThumbMediaId><![CDATA[t]]></ThumbMediaId>'
        '<MsgId>99000000000000001</MsgId></xml>')
    kept = await dan.location(30.0, 110.0, "某省某市某路")  # names no region we know
    assert "已记下您发送的位置：某省某市某路" in kept and "问题发生在哪个乡镇（街道）？" in kept
    assert "请描述" in await dan.say("青山镇")  # the spot is kept with the region
    short = await dan.say("路灯坏了")
    assert "描述只有4个字" in short and "至少写10个字" in short
    assert "超过了1000字" in await dan.say("很" * 1001)
    assert "这一步请发文字或语音" in await dan.location(30.0, 110.0, "青山镇")
    assert "已收到第1张照片" in await dan.photo("early")  # evidence at any step
    assert "发送（最多9张）" in await dan.say("青山镇中心街路灯坏了两周，晚上行人摔倒过")
    assert "已收到1张照片" in await dan.say("嗯")
    await dan.say("完成")
    assert "手机号是11位，您发来的是5位" in await dan.say("12345")
    assert "需要留电话" in await dan.say("匿名")  # 投诉 needs a phone in the demo county
    await dan.say("+86 139-0013-9000")
    assert "请回复序号或选项文字" in await dan.say("也许")
    summary = await dan.say("不公开")
    assert "3. 所在区域：青山镇（某省某市某路）" in summary
    assert "5. 照片：1张" in summary and "6. 联系电话：13900139000" in summary
    assert "请回复“确认”提交" in await dan.say("嗯嗯")
    await dan.say("确认")
    [ticket] = await bot.tickets("oDan")
    # 市容城管 has rules for the county town and the zone only: a town goes to 兜底
    assert (ticket.region, ticket.department, ticket.latitude) == ("qingshan", "bdj", 30.0)


async def test_three_failed_tries_offer_help_and_the_hotline(bot: Bot) -> None:
    eve = bot.citizen("oEve")
    await eve.says("我要反映", "1", "1", "县城区", "短", "短")
    assert "12345" in await eve.say("短")


async def test_the_tenth_photo_is_refused_and_the_ninth_moves_on(bot: Bot) -> None:
    fay = bot.citizen("oFay")
    await fay.says("我要反映", "1", "7", "1", "西城街道菜市场门口占道经营严重，车辆无法通行")
    for i in range(8):
        await fay.photo(f"p{i}")
    ninth = await fay.photo("p8")  # the ninth: acknowledged, then the next step
    assert "已收到第9张照片，已达上限（最多9张）" in ninth and "请留下您的手机号" in ninth
    assert "最多只能提交9张照片" in await fay.photo("p9")
    await fay.say("13700137000")
    assert "5. 照片：9张" in await fay.say("2")
    await fay.say("确认")
    [ticket] = await bot.tickets("oFay")
    assert len(await bot.rows(Attachment, ticket_id=ticket.id)) == 9


async def test_anonymous_only_where_the_catalogue_allows(bot: Bot) -> None:
    gus = bot.citizen("oGus")
    assert "回复“匿名”" in await gus.says(
        "我要反映", "建议", "4", "跳过", "建议在县一中门口增设一个红绿灯，上下学时段太危险", "跳过")
    await gus.say("匿名")
    summary = await gus.say("公开")
    assert "6. 联系电话：匿名（不留电话）" in summary
    # changing the kind to one that needs a phone asks for the phone again
    again = await gus.say("修改 1") + await gus.say("投诉")
    # why it is asked again, then what
    assert "“投诉”类留言需要留电话" in again and "请重新填写“联系电话”" in again
    assert "联系电话：13600136000" in await gus.say("13600136000")
    await gus.say("确认")
    [ticket] = await bot.tickets("oGus")
    assert (ticket.kind, ticket.phone, ticket.department) == ("投诉", "13600136000", "jtys")


@pytest.mark.parametrize(("typed", "stored", "offered"), [
    ("一三八 〇〇一三 八〇〇〇", "13800138000", "138****8000"),
    ("0731-84567890", "0731-84567890", "0731-****7890"),
])
async def test_a_phone_as_citizens_write_it_numerals_or_a_landline(
    bot: Bot, typed: str, stored: str, offered: str,
) -> None:
    """A mobile in Chinese numerals, or a landline with its area code (the 承办部门 calls
    back either; many elderly citizens have only a landline), for a kind that needs one."""
    lin = bot.citizen("oLin")
    assert "手机号或带区号的固定电话" in await lin.says("我要反映", "1", "1", "3", LAMP, "跳过")
    summary = await lin.says(typed, "2")
    assert f"6. 联系电话：{stored}" in summary, summary
    await lin.say("确认")
    # the next time it is offered masked, and "1" takes it again
    prompt = await lin.says("我要反映", "1", "7", "3", "菜市场门口占道经营，车辆无法通行", "跳过")
    assert f"回复“1”使用上次留下的号码：{offered}。" in prompt
    assert f"6. 联系电话：{stored}" in await lin.says("1", "2")
    await lin.say("确认")
    tickets = await bot.tickets("oLin")
    assert [(t.kind, t.phone) for t in tickets] == [("投诉", stored), ("投诉", stored)]


# -- cancel, back, edit, timeout, interruption --------------------------------------------


async def test_cancel_back_and_edit(bot: Bot) -> None:
    hal = bot.citizen("oHal")
    await hal.say("我要反映")
    await hal.say("1")
    await hal.say("1")
    assert "请选择问题分类" in await hal.say("返回")
    await hal.say("3")  # 市场监管 instead
    await hal.say("县城区")
    await hal.say("超市卖过期的牛奶，已经和店家说过但他们不承认")
    await hal.say("跳过")
    await hal.say("13500135000")
    assert "2. 问题分类：市场监管" in await hal.say("2")
    assert "问题发生在哪个乡镇" in await hal.say("修改 3")
    assert "3. 所在区域：石桥镇" in await hal.say("石桥镇")
    assert "已取消" in await hal.say("取消")
    assert await bot.tickets("oHal") == []
    # out of the flow "1" is the first service the welcome lists: a new, empty form
    assert "请问是哪一类留言" in await hal.say("1")


async def test_a_flow_left_for_half_an_hour_is_offered_to_resume_or_discard(bot: Bot) -> None:
    ivy = bot.citizen("oIvy")
    await ivy.say("我要反映")
    await ivy.say("1")
    bot.clock.now += 31 * 60
    offer = await ivy.say("1")
    assert "还没有填完" in offer and "30分钟" in offer
    # the question it was at, answered by what the citizen wrote on coming back
    assert "问题发生在哪个乡镇" in await ivy.say("继续")
    bot.clock.now += 2 * 3600
    await ivy.say("县城区")
    assert "已放弃" in await ivy.say("放弃")
    assert "请问是哪一类留言" in await ivy.say("1")  # a new form: the welcome's service 1


async def test_other_services_answer_and_keep_the_flow(bot: Bot) -> None:
    jon = bot.citizen("oJon")
    await file_complaint(jon)
    await jon.say("我要反映")
    await jon.say("1")
    listing = await jon.say("我的留言")
    assert "LX20261123-000001" in listing and "还没有填完" in listing
    assert "请选择问题分类" in await jon.say("继续")
    mine = await jon.say("我的咨询")  # the legal consultations: a list, not a form
    assert "还没有法律咨询记录" in mine and "还没有填完" in mine
    already = await jon.click("COMPLAINT")
    assert "您正在填写留言" in already and "请选择问题分类" in already
    assert "请选择问题分类" in await jon.say("帮助")  # the step's help, in the flow
    assert "回复“1”使用上次留下的号码：138****8000" in await jon.say("1") + (
        await jon.say("县城区") + await jon.say("商场电梯经常停运，老人上下楼很不方便")
        + await jon.say("完成"))
    assert "6. 联系电话：13800138000" in await jon.say("1") + await jon.say("2")


# -- idempotency and concurrency ----------------------------------------------------------


async def test_a_retried_or_doubled_confirm_makes_one_ticket(bot: Bot) -> None:
    kim = bot.citizen("oKim")
    await kim.says("我要反映", "1", "5", "1", "学校门口的校车经常超载，孩子们站着上学", "跳过",
                   "13300133000", "2")
    confirm_id = 88_000_000_000_000_001
    receipt = await kim.say("确认", msg_id=confirm_id)
    assert await kim.say("确认", msg_id=confirm_id) == receipt  # WeChat's retry
    assert "已经提交过了" in await kim.say("确认")  # the citizen tapped twice
    assert len(await bot.tickets("oKim")) == 1


async def test_a_hundred_citizens_confirming_at_once_get_a_hundred_numbers(bot: Bot) -> None:
    """One ticket each, numbered 1 to 100, and each citizen told their own number once: in
    the answer to 确认 or, when the bot could not answer within WeChat's budget (a hundred
    at once on a busy machine), in the late reply it queues for them (``success`` now, the
    receipt through the outbox; its delivery is tests/test_late_replies.py's)."""
    citizens = [bot.citizen(f"oMany{i:03d}") for i in range(100)]
    callback = bot.client.app[CALLBACKS]["default"]
    # all of them at each step; each answers the next question once the bot has answered
    # (a late answer's handler goes on after the ``success``: drain waits for it, the
    # bound only in case one never ends). Sending on at ``success`` would queue a whole
    # form per citizen behind a slow first step, which no citizen does.
    for step in ("我要反映", "1", "7", "县城区", "县城区主干道上的井盖缺失很危险", "跳过",
                 "13800138000", "2"):
        await asyncio.gather(*(c.say(step) for c in citizens))
        await callback.drain(grace=120)
    answers = await asyncio.gather(*(c.say("确认") for c in citizens))
    await callback.drain(grace=120)
    tickets = await bot.tickets()
    numbers = {t.openid: t.number for t in tickets}
    assert len(tickets) == len(numbers) == 100  # one each
    assert sorted(numbers.values()) == [f"LX20261123-{i:06d}" for i in range(1, 101)]
    queued: dict[str, list[str]] = {}
    for push in await Outbox(bot.engine).list(limit=2000):
        if (found := re.search(r"LX\d{8}-\d{6}", push.text or "")) is not None:
            queued.setdefault(push.openid, []).append(found.group(0))
    for citizen, answer in zip(citizens, answers, strict=True):
        told = ([ticket_number_in(answer)] if answer else []) + queued.get(citizen.openid, [])
        assert told == [numbers[citizen.openid]], (citizen.openid, answer, told)


# -- calendar and catalogue edges ---------------------------------------------------------


def _working_days_on(start: date, count: int, known: Callable[[int], bool]) -> date:
    """The test's own count: the package's days in a year it knows, weekdays in others."""
    day = start
    while count:
        day = date.fromordinal(day.toordinal() + 1)
        if (chinese_calendar.is_workday(day) if known(day.year) else day.weekday() < 5):
            count -= 1
    return day


async def test_a_due_date_in_an_unknown_year_is_provisional_then_counted_again(
    bot: Bot, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Filed on 22 December of the last year the installed chinesecalendar carries: 10
    working days run into a year it does not, whichever release is installed. The ticket
    gets a date counted on that year's weekdays, marked 暂定 to the citizen, and a warning
    once; once the year is known (here from the operator's file) the date is counted again
    and firm."""
    last = max(chinese_calendar.holidays).year
    bot.today.moment = datetime(last, 12, 22, 2, 0, tzinfo=UTC)
    monkeypatch.setattr(complaint, "_WARNED", set())  # as a fresh process
    lea = bot.citizen("oLea")
    receipt = await lea.says("我要反映", "建议", "4", "县城区",
                             "建议县城区增开一条到高铁站的公交线路", "跳过", "匿名", "2", "确认")
    assert f"LX{last}1222-000001" in receipt
    provisional = _working_days_on(date(last, 12, 22), 10, lambda year: year <= last)
    assert (f"10个工作日内答复，暂定{provisional.year}年{provisional.month}月"
            f"{provisional.day}日") in receipt
    assert "明年节假日安排公布后重新计算" in receipt
    [ticket] = await bot.tickets("oLea")
    assert (ticket.due_on, ticket.due_provisional, ticket.due_workdays) == (
        provisional, True, 10)
    assert "（暂定）" in await lea.say(f"查询 {ticket.number}")
    mia = bot.citizen("oMia")
    await mia.says("我要反映", "建议", "4", "县城区", "建议县城区增开一条到高铁站的公交线路",
                   "跳过", "匿名", "2", "确认")
    warned = [r.getMessage() for r in caplog.records if "is not known" in r.getMessage()]
    assert warned == [f"the working-day calendar for {last + 1} is not known: due dates in "
                      "it are provisional (weekdays only) until config/holidays.toml or "
                      "chinesecalendar has it; then run `lianxin calendar refresh`"]

    # the next year becomes known, with 1 January off and nothing else unusual
    next_year = YearArrangement(last + 1, frozenset({date(last + 1, 1, 1)}), frozenset(),
                                "test")
    changed = await Tickets(bot.engine).redate(
        STATUTORY.with_arrangements({last + 1: next_year}), lambda kind: None)
    day, counted = date(last, 12, 22), 0
    while counted < 10:  # the package's days, then next year's weekdays but 1 January
        day = date.fromordinal(day.toordinal() + 1)
        workday = (chinese_calendar.is_workday(day) if day.year == last
                   else day.weekday() < 5 and day != date(last + 1, 1, 1))
        counted += workday
    firm = day
    assert [(t.number, t.due_on, t.due_provisional) for t in changed][:1] == [
        (ticket.number, firm, False)]
    assert "（暂定）" not in await lea.say(f"查询 {ticket.number}")


async def test_without_a_catalogue_the_flow_says_so_and_points_to_the_hotline(
    make_bot: BotFactory, database_url: str,
) -> None:
    engine = db.make_engine(database_url)
    async with engine.begin() as conn:
        for table in ("routing_rules", "regions", "categories", "departments",
                      "catalogue_meta"):
            await conn.execute(text(f"DELETE FROM {table}"))
    await engine.dispose()
    bot = await make_bot(load=False)
    assert "12345" in await bot.citizen("oNone").say("我要反映")


async def test_a_catalogue_reloaded_mid_conversation_still_files(bot: Bot) -> None:
    max_ = bot.citizen("oMax")
    await max_.says("我要反映", "1", "8", "县城区", "有人在河边长期倾倒建筑垃圾无人处理")
    catalogue = demo_catalogue()
    smaller = replace(catalogue, categories=tuple(
        c for c in catalogue.categories if c.id != "qt"), rules=catalogue.rules)
    await fresh_tickets(bot.engine, catalogue=smaller)
    # the fallback takes it
    assert "县12345热线办公室" in await max_.says("跳过", "13800138000", "2", "确认")


async def test_a_stray_confirm_and_a_complaint_like_message_outside_a_flow(bot: Bot) -> None:
    ned = bot.citizen("oNed")
    assert "没有看懂" in await ned.say("确认")
    assert "请先回复“我要反映”" in await ned.photo("idle")
    assert "您是要反映问题吗" in await ned.say("饭店油烟排污")  # too short to be one
    assert "登记成留言" in await ned.say("楼下饭店油烟排污很严重")


async def test_status_set_by_a_department_blocks_withdrawal(bot: Bot) -> None:
    oli = bot.citizen("oOli")
    number = ticket_number_in(await file_complaint(oli))
    async with bot.engine.begin() as conn:
        await conn.execute(update(Ticket).where(Ticket.number == number)
                           .values(status="in_progress"))
    assert "不能撤回" in await oli.say(f"撤回 {number}")


async def test_due_dates_count_working_days_from_china_time(bot: Bot) -> None:
    bot.today.moment = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)  # 1 October, 01:00 in China
    receipt = await file_complaint(bot.citizen("oPat"))
    assert "LX20261001-000001" in receipt  # numbered by China's date, not UTC's
    # National Day holiday 1–7 October; Saturday 10 October is a make-up working day:
    # 8, 9, 10, 12, 13 October
    assert "2026年10月13日（周二）前" in receipt
    [ticket] = await bot.tickets("oPat")
    assert ticket.due_on == date(2026, 10, 13)


async def test_a_whole_complaint_with_the_conversation_kept_in_redis(
    make_bot: BotFactory, redis_url: str,
) -> None:
    bot = await make_bot(redis_url=redis_url)
    openid = f"oRedis{uuid.uuid4().hex[:8]}"
    receipt = await file_complaint(bot.citizen(openid))
    assert "编号：LX20261123-000001" in receipt and "县住房和城乡建设局" in receipt
    assert "LX20261123-000001" in await bot.citizen(openid).say("我的留言")
    assert [t.number for t in await bot.tickets(openid)] == ["LX20261123-000001"]
