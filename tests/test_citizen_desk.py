"""The citizen desk without HTTP: random conversations never crash and always leave a valid
state; a confirm whose state write was lost makes no second ticket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.catalogue import KINDS
from domain.messages import Inbound
from domain.texts import Texts
from flows.context import Conversation, lost_on_restart
from handlers.citizen import CitizenDesk
from handlers.context import StateContext
from handlers.registry import build_dispatcher
from storage import db
from storage.catalogue import CatalogueRepository
from storage.catalogue_cache import CatalogueCache
from storage.models import Ticket
from storage.tickets import Tickets
from tests.citizens import Clock, Today, fresh_tickets

TEXTS = Texts.load(Path(__file__).resolve().parents[1] / "config" / "texts.toml")
STEPS = {"kind", "category", "region", "description", "photos", "phone", "public",
         "__confirm__", "__expired__"}
# every answer of a 投诉 up to its summary
FILL = ("我要反映", "1", "1", "县城区", "小区门口的路灯坏了一个星期，晚上很黑", "跳过",
        "13800138000", "2")


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    opened = db.make_engine(sqlite_url)
    await fresh_tickets(opened)
    yield opened
    await opened.dispose()


class Session:
    """One citizen's conversation, stored as JSON between messages as a store would."""

    def __init__(self, engine: AsyncEngine, user: str = "oRandom") -> None:
        self.clock = Clock()
        cache = CatalogueCache(CatalogueRepository(engine), ttl=0)
        self.desk = CitizenDesk(TEXTS, Tickets(engine), cache, now=Today(), clock=self.clock)
        self.router = build_dispatcher(TEXTS, self.desk)
        self.user = user
        self.stored: Any = Conversation().to_json()
        self.msg = 0

    def load(self) -> Conversation:
        return Conversation.from_json(json.loads(json.dumps(self.stored)))

    async def send(self, kind: str, payload: dict[str, Any]) -> list[str]:
        self.msg += 1
        state = StateContext(json.loads(json.dumps(self.stored)))  # as a store would
        replies = await self.router(
            Inbound("default", self.user, kind, payload, message_id=str(self.msg)),  # type: ignore[arg-type]
            state)
        if state.changed:
            self.stored = state.get()
        return [r.text for r in replies]

    async def say(self, text: str) -> list[str]:
        return await self.send("text", {"content": text})

    async def says(self, *texts: str) -> None:
        for text in texts:
            await self.say(text)

    async def fill(self, count: int | None = None) -> None:
        """The first ``count`` answers of :data:`FILL` (all of them by default)."""
        await self.says(*FILL[:count])


MESSAGES = st.one_of(
    st.sampled_from([
        "我要反映", "投诉", "1", "2", "3", "7", "9", "0", "建议", "环境", "东城街道", "火星",
        "返回", "帮助", "取消", "重新开始", "跳过", "完成", "确认", "修改 1", "修改 3",
        "修改 9", "继续", "放弃", "匿名", "公开", "不公开", "我的留言", "查询",
        "查询 LX20261123-000001", "撤回 LX20261123-000001", "撤回", "法律咨询",
        "查询 000001", "撤回 000001", "你好", "在吗？",
        "小区门口的路灯坏了一个星期，晚上很黑", "13800138000", "", " ", "😀" * 3,
        "]]></Content>", "很" * 1200,
    ]).map(lambda t: ("text", {"content": t})),
    st.text(max_size=30).map(lambda t: ("text", {"content": t})),
    st.sampled_from([
        ("image", {"media_id": "m", "url": "http://p/1.jpg"}),
        ("image", {}),
        ("location", {"latitude": 27.1, "longitude": 112.3, "label": "示范县东城街道"}),
        ("location", {"latitude": 1.0, "longitude": 2.0, "label": ""}),
        ("voice", {"media_id": "v", "recognition": "我的留言。"}),
        ("voice", {"media_id": "v", "recognition": ""}),
        ("video", {"media_id": "v"}),
        ("event", {"event": "click", "key": "COMPLAINT"}),
        ("event", {"event": "click", "key": "MY_TICKETS"}),
        ("event", {"event": "click", "key": "LEGAL"}),
        ("event", {"event": "click", "key": "NOPE"}),
        ("event", {"event": "location", "key": ""}),
    ]),
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(MESSAGES, st.booleans()), max_size=30))
async def test_random_conversations_never_crash_and_leave_a_valid_state(
    engine: AsyncEngine, messages: list[tuple[tuple[str, dict[str, Any]], bool]],
) -> None:
    session = Session(engine)
    for (kind, payload), expire in messages:
        if expire:
            session.clock.now += 3600
        replies = await session.send(kind, payload)
        if not (kind == "event" and payload["event"] == "location"):
            assert replies and all(replies), (kind, payload)  # always an answer
        assert all(len(r) < 6000 for r in replies)
        conversation = session.load()
        if conversation.flow is None:
            assert conversation.step is None
            continue
        assert conversation.flow == "complaint" and conversation.step in STEPS
        assert session.desk.engine.active(session.load()).flow is not None  # it can go on
        answers = conversation.data["answers"]
        assert set(answers) <= STEPS | {"_ctx", "_location", "_typed", "_personal"}
        assert len(answers.get("photos") or []) <= 9
        if "description" in answers:
            assert 10 <= len(answers["description"]) <= 1000
        if conversation.step == "__confirm__":  # a summary only with every answer in it
            assert session.desk.complaint.flow.first_missing(answers) is None
    async with engine.connect() as conn:  # nothing filed with a gap, whatever the route
        filed = (await conn.execute(select(Ticket.kind, Ticket.phone, Ticket.description,
                                           Ticket.category))).all()
    for kind, phone, text, category in filed:
        assert kind in KINDS and category and 10 <= len(text) <= 1000
        assert phone is not None or kind in ("咨询", "建议", "表扬")


async def test_a_confirm_whose_state_write_was_lost_files_no_second_ticket(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oLost")
    await session.fill()
    at_confirm = session.stored
    [first] = await session.say("确认")
    session.stored = at_confirm  # the store never saw the cleared state
    [second] = await session.say("确认")
    assert first == second and "LX20261123-000001" in first
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Ticket)) == 1


async def test_a_state_from_an_unknown_flow_or_step_does_not_trap_the_citizen(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oOld")
    session.stored = {"flow": "retired_flow", "step": "x", "data": {}, "messages": 3}
    assert "请问是哪一类留言" in (await session.say("我要反映"))[0]
    session.stored = {"flow": "complaint", "step": "no_such_step", "data": {"answers": {}}}
    assert (await session.say("1"))[0]
    session.stored = {"flow": "complaint", "step": "category", "data": "garbage"}
    assert (await session.say("1"))[0]
    session.stored = {"flow": "complaint", "step": "__expired__",
                      "data": {"answers": {}, "history": [], "paused_at": "gone"}}
    # a new form, its kind said by the word that started it
    assert "请选择问题分类" in (await session.say("投诉"))[0]
    assert session.load().data["answers"]["kind"] == "投诉"


# -- regressions from the review of the complaint flow ------------------------------------

async def count_tickets(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(Ticket)) or 0)


async def test_restart_or_edit_after_a_lost_state_write_files_the_new_content(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oLostEdit")
    await session.fill()
    at_confirm = session.stored
    [first] = await session.say("确认")
    session.stored = at_confirm
    await session.say("修改 4")
    await session.say("路灯修好了又坏了，已经第三次了，请彻底解决")
    [edited] = await session.say("确认")
    assert "LX20261123-000002" in edited and "LX20261123-000001" in first
    session.stored = at_confirm
    await session.says("重新开始", "2", "6", "跳过", "老板拖欠我们十二个人三个月工资一直不给",
                       "跳过", "13800138000", "2")
    [restarted] = await session.say("确认")
    assert "LX20261123-000003" in restarted and "县人力资源和社会保障局" in restarted
    assert await count_tickets(engine) == 3


@pytest.mark.parametrize("odd", ["1" * 5000, "٣", "1.5", "-1"])
async def test_odd_digits_get_the_choice_hint_not_a_python_error(
    engine: AsyncEngine, odd: str,
) -> None:
    session = Session(engine, "oDigits")
    await session.say("我要反映")
    [reply] = await session.say(odd)
    assert "请回复序号或选项文字，例如“1”或“投诉”" in reply
    assert "int()" not in reply and "literal" not in reply
    await session.says(*FILL[1:])
    [edit] = await session.say(f"修改 {odd}")
    assert "没有这一项" in edit


async def test_circled_and_full_width_digits_count_as_numbers(engine: AsyncEngine) -> None:
    session = Session(engine, "oCircled")
    await session.say("我要反映")
    assert "请选择问题分类" in (await session.say("①"))[0]  # an IME's ① is 1
    assert "问题发生在哪个乡镇" in (await session.say("２"))[0]
    assert session.load().data["answers"]["category"]["name"] == "生态环境"


@pytest.mark.parametrize("description", [
    "撤回了我家的低保，没有任何通知也没有说明理由",
    "查询LX20261123-000001一直没有人联系我，已经超过期限了",
])
async def test_a_description_that_starts_like_a_command_is_a_description(
    engine: AsyncEngine, description: str,
) -> None:
    session = Session(engine, "oLikeCommand")
    await session.says("我要反映", "1", "8", "跳过")
    [reply] = await session.say(description)
    assert "如有现场照片" in reply
    assert session.load().data["answers"]["description"] == description


async def test_a_fresh_worker_re_asks_the_current_question_on_the_menu_click(
    engine: AsyncEngine,
) -> None:
    first = Session(engine, "oFresh")
    await first.say("我要反映")
    await first.say("1")
    second = Session(engine, "oFresh")  # another worker: its catalogue not read yet
    second.stored = first.stored
    [reply] = await second.send("event", {"event": "click", "key": "COMPLAINT"})
    assert "您正在填写留言" in reply and "请选择问题分类" in reply
    third = Session(engine, "oFresh")
    third.stored = first.stored
    assert "请选择问题分类" in (await third.say("我要反映"))[0]  # not a counted wrong answer
    assert third.load().data["tries"] == 0


@pytest.mark.parametrize("payload", [{}, {"url": ""}, {"media_id": ""},
                                     {"media_id": "x" * 200}])
async def test_an_image_without_a_usable_media_id_is_not_evidence(
    engine: AsyncEngine, payload: dict[str, Any],
) -> None:
    session = Session(engine, "oNoMedia")
    await session.fill(6)
    [reply] = await session.send("image", payload)
    assert "这张图片没有收到" in reply
    assert not session.load().data["answers"].get("photos")


async def test_commands_and_photos_after_the_timeout_are_not_lost(engine: AsyncEngine) -> None:
    session = Session(engine, "oLate")
    await session.fill(5)
    session.clock.now += 3600
    assert "已取消" in (await session.say("取消"))[0]
    await session.fill(5)
    session.clock.now += 3600
    assert "还没有填完" in (await session.send("image", {"media_id": "late"}))[0]
    assert "如有现场照片" in (await session.say("继续"))[0]
    assert session.load().data["answers"]["photos"] == [{"media_id": "late", "url": ""}]
    session.clock.now += 3600
    assert "请问是哪一类留言" in (await session.say("重新开始"))[0]


async def test_after_the_timeout_at_the_photos_a_text_is_not_taken_as_their_answer(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oLatePhotos")
    await session.fill(5)  # at the photos
    session.clock.now += 3600
    [offer] = await session.say("跳过")
    assert "还没有填完" in offer and "没有记入" in offer and "会填入" not in offer
    assert "如有现场照片" in (await session.say("继续"))[0]  # the photos asked again
    assert "phone" not in session.load().data["answers"]


@pytest.mark.parametrize(("step", "answers"), [
    ("phone", {"_ctx": None, "kind": "投诉"}),
    ("phone", {"_ctx": "x", "kind": "投诉"}),
    ("__confirm__", {"kind": "投诉", "category": "zfjs"}),
    ("__confirm__", {"kind": "投诉", "region": "east"}),
    ("__confirm__", {"kind": "投诉", "photos": {"a": 1}}),
    ("__confirm__", {"kind": "举报"}),
    ("__confirm__", {"kind": "投诉", "phone": "12345"}),
])
async def test_a_stored_answer_of_the_wrong_type_is_dropped_with_a_notice(
    engine: AsyncEngine, step: str, answers: dict[str, Any],
) -> None:
    session = Session(engine, "oBadState")
    session.stored = {"flow": "complaint", "step": step,
                      "data": {"answers": answers, "history": [], "tries": 0}}
    replies = await session.say("13800138000")
    assert "上次未填完的内容已无法继续" in replies[0]
    assert session.load().flow is None
    assert "请问是哪一类留言" in (await session.say("我要反映"))[0]


async def test_natural_answers_to_the_public_question(engine: AsyncEngine) -> None:
    for answer, shown in (("同意", "7. 是否公开：公开"), ("不同意", "7. 是否公开：不公开"),
                          ("否", "7. 是否公开：不公开")):
        session = Session(engine, f"oPublic{answer}")
        await session.fill(-1)
        assert shown in (await session.say(answer))[0]


async def test_a_skipped_region_after_an_unknown_location_shows_the_spot(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oSpot")
    await session.says("我要反映", "1", "1")
    await session.send("location", {"latitude": 27.1, "longitude": 112.3, "label": "某某路88号"})
    await session.says("跳过", "小区门口的路灯坏了一个星期，晚上很黑", "跳过", "13800138000")
    [summary] = await session.say("2")
    assert "3. 所在区域：未确定区域（某某路88号）" in summary


async def test_the_photo_step_offers_help_and_names_what_it_wants(engine: AsyncEngine) -> None:
    session = Session(engine, "oPhotoHelp")
    await session.fill(5)
    assert "暂不支持视频" in (await session.send("video", {"media_id": "v"}))[0]
    assert "还没有收到照片" in (await session.say("发不了"))[0]
    assert "由话务员帮您登记" in (await session.say("不会发"))[0]


@pytest.mark.parametrize("word", ["菜单", "HELP", "使用说明"])
async def test_help_words_in_a_flow_give_the_step_help(engine: AsyncEngine, word: str) -> None:
    session = Session(engine, "oHelpWord")
    await session.say("我要反映")
    [reply] = await session.say(word)
    assert "请问是哪一类留言" in reply and "重新开始" in reply
    assert session.load().data["tries"] == 0


@pytest.mark.parametrize("blank", ["", "   "])
async def test_a_blank_answer_at_the_region_step_quotes_nothing(
    engine: AsyncEngine, blank: str,
) -> None:
    session = Session(engine, "oBlank")
    await session.says("我要反映", "1", "1")
    [reply] = await session.say(blank)
    assert "“”" not in reply and "例如“1”或“城关街道”" in reply  # the first one offered


def test_keys_without_a_draft_differ_for_different_messages() -> None:
    from flows.complaint import idempotency_key

    answers = {"kind": "投诉"}
    user = "o" + "x" * 27
    one = idempotency_key(Inbound("default", user, "text", message_id="24000000000000001"),
                          answers)
    two = idempotency_key(Inbound("default", user, "text", message_id="24000000000000002"),
                          answers)
    assert one != two and len(one) <= 64


# -- regressions from the second review ----------------------------------------------------


async def test_back_after_an_edit_never_files_a_ticket_with_a_gap(engine: AsyncEngine) -> None:
    session = Session(engine, "oBackEdit")
    await session.fill()
    assert "请留下您的手机号" in (await session.say("修改 6"))[0]
    [summary] = await session.say("返回")  # the edit abandoned: the summary, unchanged
    assert "6. 联系电话：13800138000" in summary and "7. 是否公开：不公开" in summary
    assert "可以把您的留言公开在留言板上吗" in (await session.say("返回"))[0]
    assert "请留下您的手机号" in (await session.say("返回"))[0]
    assert "如有现场照片" in (await session.say("返回"))[0]
    assert "请留下您的手机号" in (await session.say("完成"))[0]  # on along the questions
    await session.say("13900139000")
    [summary] = await session.say("公开")
    assert "6. 联系电话：13900139000" in summary and "1. 类型：投诉" in summary
    [receipt] = await session.say("确认")
    assert "LX20261123-000001" in receipt
    async with engine.connect() as conn:
        ticket = (await conn.execute(select(Ticket.kind, Ticket.phone, Ticket.public))).one()
    assert tuple(ticket) == ("投诉", "13900139000", True)


async def test_a_summary_confirmed_with_an_answer_missing_asks_for_it(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oGap")
    await session.fill()
    stored = session.load()
    del stored.data["answers"]["phone"]  # as an older version might have left it
    session.stored = stored.to_json()
    [reply] = await session.say("确认")
    assert "请留下您的手机号" in reply
    assert await count_tickets(engine) == 0
    [summary] = await session.say("13700137000")
    assert "6. 联系电话：13700137000" in summary
    await session.say("确认")
    assert await count_tickets(engine) == 1


async def test_category_numbers_follow_the_list_shown_whatever_the_order_values(
    engine: AsyncEngine,
) -> None:
    from dataclasses import replace

    from tests.citizens import demo_catalogue
    catalogue = demo_catalogue()
    spaced = replace(catalogue, categories=tuple(
        replace(c, order=c.order * 10) for c in catalogue.categories))
    await fresh_tickets(engine, catalogue=spaced)
    session = Session(engine, "oGaps")
    await session.say("我要反映")
    [prompt] = await session.say("1")
    assert "2. 生态环境" in prompt
    await session.say("2")
    assert session.load().data["answers"]["category"]["name"] == "生态环境"


async def test_more_text_at_the_photo_step_is_added_to_the_description(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oMore")
    await session.fill(5)
    [reply] = await session.say("另外路灯下面的井盖也松了，踩上去会晃")
    assert "已把这段文字补充到“问题描述”" in reply and "如有现场照片" in reply
    assert session.load().data["tries"] == 0
    assert "还没有收到照片" in (await session.say("嗯嗯"))[0]  # a short word is not added
    [refused] = await session.say("很" * 990)
    assert "没有记入" in refused and "超过字数上限" in refused
    await session.says(*FILL[5:])
    await session.say("确认")
    async with engine.connect() as conn:
        description = (await conn.execute(select(Ticket.description))).scalar_one()
    assert description == f"{FILL[4]}\n另外路灯下面的井盖也松了，踩上去会晃"


async def test_the_summary_shows_the_start_of_a_long_description_and_helps(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oLong")
    long = "小区门口的路灯坏了一个星期，" + "晚上很黑老人孩子出门都不方便，" * 50
    await session.says(*FILL[:4], long, *FILL[5:])
    [summary] = (await session.say("返回"))
    [summary] = await session.say("2")
    line = next(x for x in summary.splitlines() if x.startswith("4. 问题描述："))
    assert line.endswith(f"…（共{len(long)}字）") and len(line) < 100
    [help_reply] = await session.say("帮助")
    assert "“修改 序号”" in help_reply and "请核对以下内容" in help_reply


@pytest.mark.parametrize("word", ["继续", "重新开始", "放弃", "返回"])
async def test_flow_words_with_no_flow_open_say_so(engine: AsyncEngine, word: str) -> None:
    session = Session(engine, "oIdle")
    [reply] = await session.say(word)
    assert "您现在没有未填完的留言或咨询" in reply and "我要反映" in reply


async def test_after_the_timeout_discard_and_resume_act_at_once(engine: AsyncEngine) -> None:
    session = Session(engine, "oLate2")
    await session.fill(4)
    session.clock.now += 3600
    [offer] = await session.say("你好")  # no description: not held as one
    assert "还没有填完" in offer and "会填入" not in offer
    [asked] = await session.say("继续")
    assert asked.startswith("请描述您要反映的问题")
    session.clock.now += 3600
    [offer] = await session.say("小区门口的路灯坏了一个星期，晚上很黑")
    assert "会填入“问题描述”" in offer
    assert "如有现场照片" in (await session.say("继续"))[0]
    session.clock.now += 3600
    assert "已放弃" in (await session.say("放弃"))[0]
    assert session.load().flow is None


async def test_a_typed_address_is_kept_while_the_region_is_asked(engine: AsyncEngine) -> None:
    session = Session(engine, "oAddress")
    await session.says("我要反映", "1", "1")
    [reply] = await session.say("幸福小区3栋门口")
    assert "已记下地址：幸福小区3栋门口" in reply
    assert session.load().data["tries"] == 0
    await session.says("东城街道", *FILL[4:])
    [summary] = await session.say("返回")
    [summary] = await session.say("2")
    assert "3. 所在区域：东城街道（幸福小区3栋门口）" in summary


# -- regressions from the third review -----------------------------------------------------


async def test_a_phone_number_typed_at_the_photo_step_is_taken_as_the_phone(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oEarlyPhone")
    await session.fill(5)
    [reply] = await session.say("13900139000")
    assert "已记为“联系电话”" in reply and "可以把您的留言公开在留言板上吗" in reply
    answers = session.load().data["answers"]
    assert answers["phone"] == "13900139000" and answers["description"] == FILL[4]


@pytest.mark.parametrize("text", ["对不起我手机拍不了照片", "没有照片，直接提交吧吧吧"])
async def test_talk_about_the_photos_is_not_added_to_the_description(
    engine: AsyncEngine, text: str,
) -> None:
    session = Session(engine, "oPhotoTalk")
    for answer in FILL[:5]:
        await session.say(answer)
    [reply] = await session.say(text)
    assert "还没有收到照片" in reply and "没有照片请回复“跳过”" in reply
    assert session.load().data["answers"]["description"] == FILL[4]


async def test_a_description_sent_twice_is_not_added_twice(engine: AsyncEngine) -> None:
    session = Session(engine, "oTwice")
    for answer in FILL[:5]:
        await session.say(answer)
    [reply] = await session.say(FILL[4])
    assert "已经在“问题描述”里了" in reply
    assert session.load().data["answers"]["description"] == FILL[4]


async def test_a_spot_left_at_the_region_step_never_reaches_a_later_answer(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oLeak")
    await session.says("我要反映", "1", "1", "人民路12号")
    await session.send("location", {"latitude": 27.1, "longitude": 112.3,
                                    "label": "示范县东城街道"})
    await session.says(FILL[4], "跳过", "13800138000", "2", "修改 3")
    await session.send("location", {"latitude": 1.0, "longitude": 2.0, "label": "某地"})
    [summary] = await session.say("返回")  # the edit abandoned: the unmatched spot with it
    assert "3. 所在区域：东城街道（示范县东城街道）" in summary
    await session.say("修改 3")
    [summary] = await session.say("1")
    assert "3. 所在区域：城关街道\n" in summary
    await session.say("确认")
    async with engine.connect() as conn:
        row = (await conn.execute(select(Ticket.region, Ticket.place, Ticket.latitude))).one()
    assert tuple(row) == ("chengguan", None, None)


@pytest.mark.parametrize("text", ["不知道是哪个街道", "东成街道", "2号"])
async def test_a_guess_or_a_misspelt_town_is_no_address(engine: AsyncEngine, text: str) -> None:
    session = Session(engine, "oGuess")
    for answer in ("我要反映", "1", "1"):
        await session.say(answer)
    [reply] = await session.say(text)
    assert "没有找到" in reply and "已记下地址" not in reply
    assert session.load().data["tries"] == 1


async def test_addresses_that_name_no_town_still_lead_to_help(engine: AsyncEngine) -> None:
    session = Session(engine, "oAddresses")
    for answer in ("我要反映", "1", "1"):
        await session.say(answer)
    replies = [(await session.say(f"幸福小区{n}栋"))[0] for n in range(1, 5)]
    assert all("已记下地址" in r for r in replies[:3])
    assert "由话务员帮您登记" in replies[3]


async def test_after_the_timeout_a_location_is_held_and_other_kinds_are_said_not_kept(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oLateSpot")
    for answer in ("我要反映", "1", "1"):
        await session.say(answer)
    session.clock.now += 3600
    [offer] = await session.send("location", {"latitude": 27.1, "longitude": 112.3,
                                              "label": "示范县东城街道人民路"})
    assert "“示范县东城街道人民路”会填入“所在区域”" in offer
    assert "请描述您要反映的问题" in (await session.say("继续"))[0]
    assert session.load().data["answers"]["region"]["id"] == "dongcheng"
    session.clock.now += 3600
    [offer] = await session.send("video", {"media_id": "v"})
    assert "还没有填完" in offer and "没有记入" in offer


async def test_text_while_changing_the_photos_from_the_summary_changes_nothing_else(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oEditPhotos")
    await session.fill()
    await session.say("修改 5")
    [reply] = await session.say("13900139000")
    assert "还没有收到照片" in reply
    answers = session.load().data["answers"]
    assert answers["description"] == FILL[4] and answers["phone"] == "13800138000"


# -- regressions from the fourth review ----------------------------------------------------


async def test_a_photo_or_a_command_after_the_offer_keeps_the_held_description(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oHeldPhoto")
    await session.fill(4)
    session.clock.now += 3600
    [offer] = await session.say(FILL[4])
    assert "会填入“问题描述”" in offer
    [again] = await session.send("image", {"media_id": "m1"})
    assert "您刚才发的“小区门口的路灯坏了一个星期" in again and "没有记入" not in again
    [again] = await session.say("帮助")
    assert "您刚才发的“小区门口的路灯坏了一个星期" in again
    assert "如有现场照片" in (await session.say("继续"))[0]
    answers = session.load().data["answers"]
    assert answers["description"] == FILL[4] and len(answers["photos"]) == 1


@pytest.mark.parametrize("text", ["我的电话是13900139000", "手机：139-0013-9000"])
async def test_a_phone_given_with_words_is_the_phone(engine: AsyncEngine, text: str) -> None:
    session = Session(engine, "oPhoneWords")
    await session.fill(5)
    assert "已记为“联系电话”" in (await session.say(text))[0]
    session2 = Session(engine, "oPhoneWords2")
    await session2.fill(6)
    assert "可以把您的留言公开在留言板上吗" in (await session2.say(text))[0]
    assert session2.load().data["answers"]["phone"] == "13900139000"


async def test_a_phone_in_a_sentence_at_the_photo_step_stays_out_of_the_description(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oPhoneSentence")
    await session.fill(5)
    [reply] = await session.say("我的电话是13900139000，有事情随时打给我就行，谢谢")
    assert "这段文字里有电话号码或身份证号，没有补充到“问题描述”" in reply
    [reply] = await session.say("有事情随时打 139-0013-9000 找我就行，谢谢")  # dashed too
    assert "这段文字里有电话号码或身份证号" in reply
    assert session.load().data["answers"]["description"] == FILL[4]


async def test_typed_addresses_after_a_sent_spot_still_lead_to_help(engine: AsyncEngine) -> None:
    session = Session(engine, "oSpotThenTyped")
    await session.says("我要反映", "1", "1")
    await session.send("location", {"latitude": 1.0, "longitude": 2.0, "label": "某地"})
    replies = [(await session.say(f"幸福小区{n}栋"))[0] for n in range(1, 5)]
    assert "由话务员帮您登记" in replies[3]
    await session.say("2")  # 东城街道
    region = session.load().data["answers"]["region"]
    assert (region["id"], region["place"], region["latitude"]) == ("dongcheng", "幸福小区4栋", 1.0)
    assert "_typed" not in session.load().data["answers"]


async def test_the_description_typed_at_the_region_step_is_no_address(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oEarlyDescription")
    await session.says("我要反映", "1", "1")
    [reply] = await session.say("小区门口的路灯坏了一个星期，晚上很黑，老人孩子出门都不方便")
    assert "事情经过在下一步填写" in reply and "已记下地址" not in reply


@pytest.mark.parametrize("text", ["查询 LX20261123﹣000001", "ＨＥＬＰ", "﹖"])
async def test_odd_widths_of_commands(engine: AsyncEngine, text: str) -> None:
    session = Session(engine, "oWidths")
    [idle] = await session.say(text)
    assert "没有看懂" not in idle
    await session.says("我要反映")
    if "LX" not in text:  # in a flow the help words give the step's help
        [reply] = await session.say(text)
        assert "请问是哪一类留言" in reply and "重新开始" in reply
        assert session.load().data["tries"] == 0


LOST = "抱歉，您之前填写的内容因系统重启已失效，需要时请回复“我要反映”重新填写。"


async def test_a_form_lost_to_a_restart_is_announced_once_instead_of_not_understood(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oLostForm")
    await session.fill(4)  # at the description
    session.stored = json.loads(lost_on_restart(json.dumps(session.stored)))
    assert await session.say("小区门口的路灯坏了一个星期，晚上很黑") == [LOST]
    again = await session.say("小区门口的路灯坏了一个星期，晚上很黑")
    assert LOST not in again[0] and "登记成留言" in again[0]  # taken as a new complaint
    session.stored = json.loads(lost_on_restart(None))
    assert await session.say("13800138000") == [LOST]  # not "没有看懂"


async def test_a_service_asked_after_a_lost_form_is_answered_after_the_notice(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oLostThenAsks")
    session.stored = json.loads(lost_on_restart(None))
    [reply] = await session.say("我要反映")
    assert reply.startswith(LOST) and "请问是哪一类留言" in reply
    session.stored = json.loads(lost_on_restart(None))
    [reply] = await session.send("event", {"event": "click", "key": "MY_TICKETS"})
    assert reply.startswith(LOST)
    [reply] = await session.say("你好")
    assert "因系统重启" not in reply


# -- the dispatcher's routers, in order (handlers/registry.py) -----------------------------


def test_the_routers_are_asked_in_the_documented_order(engine: AsyncEngine) -> None:
    """The order docs/ARCHITECTURE.md shows: events before any citizen router, 我的留言
    before the form (its commands leave a form), the desk last."""
    names = [router.name for router in Session(engine).router.routers]
    assert names == ["deliveries", "follows", "silent events", "last question", "my tickets",
                     "complaint form", "citizen desk"]


async def test_a_follow_starts_afresh_and_a_report_leaves_the_form_alone(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oRefollow")
    await session.fill(4)  # at the description
    in_form = session.stored
    assert await session.send("event", {"event": "templatesendjobfinish",
                                        "msg_id": "1", "status": "success"}) == []
    assert await session.send("event", {"event": "view", "key": "http://x"}) == []
    assert session.stored == in_form  # not even rewritten
    [welcome] = await session.send("event", {"event": "subscribe", "key": ""})
    assert "欢迎关注连心" in welcome and session.stored is None
    [reply] = await session.say(FILL[4])
    assert "请描述您要反映的问题" not in reply and "如有现场照片" not in reply
    # not the old form's answer: a new complaint begins from what was said, kind first
    assert "登记成留言" in reply and reply.index("登记成留言") < reply.index("请问是哪一类留言")
    assert session.load().data["answers"]["description"] == FILL[4]


async def test_a_menu_key_no_router_knows_gets_the_help_and_keeps_the_form(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oOldMenu")
    await session.fill(2)
    in_form = session.stored
    [reply] = await session.send("event", {"event": "click", "key": "RETIRED_KEY"})
    assert reply.startswith("使用说明")
    assert session.stored == in_form


async def test_the_engine_is_asked_once_per_message(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = Session(engine, "oOnce")
    asked: list[str] = []
    active = session.desk.engine.active

    def counted(conversation: Conversation) -> Any:
        asked.append(str(conversation.step))
        return active(conversation)

    monkeypatch.setattr(session.desk.engine, "active", counted)
    messages = [("text", {"content": t}) for t in (*FILL[:3], "我的留言", "帮助", "我要反映",
                                                   "法律咨询", "查询 LX20261123-000001")]
    messages += [("event", {"event": "click", "key": k}) for k in ("MY_TICKETS", "HELP")]
    messages += [("image", {"media_id": "m"}), ("text", {"content": "取消"}),
                 ("text", {"content": "你好"})]
    for kind, payload in messages:
        before = len(asked)
        await session.send(kind, payload)
        assert len(asked) == before + 1, (kind, payload)


# -- regressions from the newcomers' review (issue 10 point 10) ----------------------------


async def test_no_photos_and_the_phone_in_one_message_skip_the_photos_and_take_the_phone(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oNoPhotosPhone")
    await session.fill(5)  # at the photos
    [reply] = await session.say("没有照片，电话139-0013-9000")
    assert "已收到0张照片" not in reply and "还没有收到照片" not in reply
    assert "请留下您的手机号" not in reply
    assert "已记为“联系电话”" in reply and "可以把您的留言公开在留言板上吗" in reply
    answers = session.load().data["answers"]
    assert (answers["photos"], answers["phone"]) == ([], "13900139000")
    assert answers["description"] == FILL[4]


@pytest.mark.parametrize("text", ["没有照片", "没照片。", "无照片", "没有图片了"])
async def test_saying_there_are_no_photos_skips_them(engine: AsyncEngine, text: str) -> None:
    session = Session(engine, "oNoPhotos")
    await session.fill(5)
    [reply] = await session.say(text)
    assert reply.startswith("请留下您的手机号")
    assert session.load().data["answers"]["photos"] == []


async def test_the_ninth_photo_is_acknowledged_before_the_next_question(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oNinth")
    await session.fill(5)
    for n in range(1, 9):
        [reply] = await session.send("image", {"media_id": f"m{n}"})
        assert f"已收到第{n}张照片" in reply
    [reply] = await session.send("image", {"media_id": "m9"})
    assert "已收到第9张照片，已达上限" in reply
    assert reply.index("已达上限") < reply.index("请留下您的手机号")
    assert len(session.load().data["answers"]["photos"]) == 9


async def test_every_refused_phone_says_what_is_wrong(engine: AsyncEngine) -> None:
    session = Session(engine, "oBadPhones")
    await session.fill(6)  # at the phone
    replies = [(await session.say(bad))[0] for bad in ("12345", "1380013800", "电话号码")]
    assert "手机号位数不对：手机号是11位，您发来的是5位" in replies[0]
    assert "您发来的是10位" in replies[1]
    assert "没有认出电话号码" in replies[2] and "0731-84567890" in replies[2]
    assert "由话务员帮您登记" in replies[2] and "12345热线" in replies[2]
    # 投诉 needs a phone: a rule, explained, and no failed try (no hotline offer for it)
    [reply] = await session.say("匿名")
    assert "需要留" in reply and "由话务员帮您登记" not in reply
    assert session.load().data["tries"] == 3


async def test_a_landline_without_area_code_or_with_a_wrong_one_is_told_so(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oBadLandline")
    await session.fill(6)  # at the phone
    assert "固定电话缺区号" in (await session.say("8456 7890"))[0]
    assert "区号后面是7位或8位号码" in (await session.say("0731-845678"))[0]
    assert "公开在留言板上吗" in (await session.say("座机0731-84567890"))[0]
    assert session.load().data["answers"]["phone"] == "0731-84567890"


async def test_a_landline_or_a_number_in_numerals_at_the_photos_stays_out_of_the_description(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oLandlineSentence")
    await session.fill(5)
    for text in ("家里座机0731-84567890，白天一般有人接，谢谢",
                 "我的手机是一三八〇〇一三八〇〇〇，有事情随时打给我"):
        [reply] = await session.say(text)
        assert "没有补充到“问题描述”" in reply, reply
    assert session.load().data["answers"]["description"] == FILL[4]


async def test_a_location_outside_a_form_says_where_it_is_used(engine: AsyncEngine) -> None:
    """Not "只能识别文字消息": the complaint form does take a location."""
    session = Session(engine, "oSpotFirst")
    spot = {"latitude": 27.1, "longitude": 112.3, "label": "示范县东城街道人民路"}
    [reply] = await session.send("location", spot)
    assert "只能识别文字" not in reply
    assert "没有保存" in reply and "回复“我要反映”" in reply and "已收到" not in reply
    await session.says("我要反映", "1", "1")
    [reply] = await session.send("location", spot)  # as it said: taken at the region step
    assert reply.startswith("请描述您要反映的问题")
    assert session.load().data["answers"]["region"]["id"] == "dongcheng"


@pytest.mark.parametrize("hello", ["你好", "您好！", "在吗？", "Hello", "hi~", "ＨＩ", "早上好。"])
async def test_a_greeting_gets_the_menu_of_services(engine: AsyncEngine, hello: str) -> None:
    session = Session(engine, "oHello")
    [reply] = await session.say(hello)
    assert reply.startswith("您好！我是连心") and "1. 我要反映" in reply and "没有看懂" not in reply


async def test_a_greeting_with_a_question_or_inside_a_form_is_no_greeting(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oHelloAnd")
    [reply] = await session.say("你好，我想反映一下小区夜间施工噪音扰民")
    assert reply.startswith("我可以帮您把这段话登记成留言") and "我是连心" not in reply
    assert "还没有提交" in reply  # nothing is filed before 确认
    assert "请问是哪一类留言" in reply
    [reply] = await session.say("你好")  # the form's question stands
    assert "您正在填写" in reply and "请问是哪一类留言" in reply and "我是连心" not in reply


@pytest.mark.parametrize("asked", ["你好", "我的留言"])
async def test_a_list_shown_before_a_form_started_does_not_take_the_forms_answer(
    engine: AsyncEngine, asked: str,
) -> None:
    """The greeting lists the services, 我的留言 the tickets; then the 我要反映 menu
    click starts the form: the "1" that follows is the form's kind, not the list's first
    service or ticket."""
    session = Session(engine, "oListThenForm")
    if asked == "我的留言":
        await session.fill()
        await session.say("确认")
    [listed] = await session.say(asked)
    assert "1." in listed or "LX" in listed, listed
    await session.send("event", {"event": "click", "key": "COMPLAINT"})
    [reply] = await session.say("1")
    assert reply.startswith("请选择问题分类"), reply
    after = session.load()
    assert (after.step, after.data["answers"]["kind"]) == ("category", "投诉")


async def _filed(session: Session) -> str:
    await session.fill()
    [receipt] = await session.say("确认")
    assert "LX20261123-000001" in receipt, receipt
    return "LX20261123-000001"


@pytest.mark.parametrize("between", [
    ("event", {"event": "click", "key": "COMPLAINT"}),  # the form's question again
    ("voice", {"media_id": "v", "recognition": ""}),  # nothing heard: the question again
    ("image", {"media_id": "m", "url": "http://p/1.jpg"}),  # kept; the question again
])
async def test_a_list_shown_in_a_form_is_set_aside_by_the_next_message_whatever_it_is(
    engine: AsyncEngine, between: tuple[str, dict[str, Any]],
) -> None:
    """我的留言 inside the form, then a message that is no answer to the list and gets
    the form's question asked again: the "1" after it is the form's kind, not ticket 1."""
    session = Session(engine, "oListInForm")
    await _filed(session)
    await session.says("我要反映", "我的留言")
    [again] = await session.send(*between)
    assert "请问是哪一类留言" in again, again
    [reply] = await session.say("1")
    assert reply.startswith("请选择问题分类"), reply
    assert session.load().data["answers"]["kind"] == "投诉"


async def test_yes_after_the_withdraw_question_was_set_aside_withdraws_nothing(
    engine: AsyncEngine,
) -> None:
    """撤回 asked inside a form at its 公开 question; the menu click asks 公开 again; 是
    answers 公开, and the ticket is not withdrawn."""
    session = Session(engine, "oWithdrawAside")
    number = await _filed(session)
    await session.fill(7)
    assert "确定撤回" in (await session.say(f"撤回 {number}"))[0]
    [again] = await session.send("event", {"event": "click", "key": "COMPLAINT"})
    assert "公开" in again, again
    [reply] = await session.say("是")
    assert "已撤回" not in reply and session.load().step == "__confirm__", reply
    [detail] = await session.say(f"查询 {number}")
    assert "已撤回" not in detail, detail


async def test_a_pick_on_the_last_tick_of_the_half_hour_is_answered_once_found_fresh(
    engine: AsyncEngine,
) -> None:
    """The route found the answer fresh; the clock moves past the half hour before the
    answer is given: the ticket is still shown (no crash, no second look at the clock)."""
    session = Session(engine, "oLastTick")
    number = await _filed(session)
    await session.say("我的留言")
    now = session.clock.now
    ticks = iter([now + 1800.0, *[now + 1800.5] * 50])
    session.desk._clock = lambda: next(ticks)
    [reply] = await session.say("1")
    assert number in reply and "办理记录" in reply, reply


@pytest.mark.parametrize("pick", ["查询 1", "看看第一个"])
async def test_a_ticket_named_by_its_place_after_the_greeting_opens_it(
    engine: AsyncEngine, pick: str,
) -> None:
    """The greeting lists services; "查询 1" names the first *ticket*, not service 1."""
    session = Session(engine, "oGreetQuery")
    number = await _filed(session)
    await session.say("你好")
    [reply] = await session.say(pick)
    assert number in reply and "办理记录" in reply, reply
    assert session.load().flow is None


async def test_a_scan_welcome_after_the_list_makes_one_the_first_service(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oScanAfterList")
    await _filed(session)
    await session.say("我的留言")
    [welcome] = await session.send("event", {"event": "scan", "key": "qr1"})
    assert "回复序号就能开始" in welcome, welcome
    [reply] = await session.say("1")
    assert reply.startswith("请问是哪一类留言"), reply


@pytest.mark.parametrize("edit", ["修改 2", "修改2。", "修改第二项", "修改 二", "修改２"])
async def test_an_answer_is_changed_at_the_summary_however_its_number_is_written(
    engine: AsyncEngine, edit: str,
) -> None:
    session = Session(engine, "oEditWritten")
    await session.fill()
    [prompt] = await session.say(edit)
    assert prompt.startswith("请选择问题分类"), prompt
    assert session.load().step == "category"


async def test_a_voice_nothing_was_heard_in_at_the_photos_says_so(engine: AsyncEngine) -> None:
    """Not "语音暂不支持": a transcribed "没有照片" is an answer here."""
    session = Session(engine, "oVoicePhotos")
    await session.fill(5)
    assert session.load().step == "photos"
    [reply] = await session.send("voice", {"media_id": "v", "recognition": ""})
    assert reply.startswith("这条语音没能转成文字，请打字回答") and "照片" in reply, reply
    assert session.load().step == "photos"
    [reply] = await session.send("voice", {"media_id": "v", "recognition": "没有照片。"})
    assert session.load().step == "phone", reply


# -- the region step: places, the regions offered, 不知道 (issue 15) -----------------------


@pytest.mark.parametrize(("answer", "region", "place"), [
    ("张家村", "hekou", "张家村"),  # a village
    ("和平社区", "dongcheng", "和平社区"),  # a community
    ("县人民医院", "chengguan", "县人民医院"),  # a landmark
    ("我在人民广场旁边", "chengguan", "我在人民广场旁边"),  # a landmark in a sentence
    ("青山镇茶园村3组", "qingshan", "青山镇茶园村3组"),
    ("县城区", "chengqu", None),  # a parent: not offered, still an answer
    ("城区", "chengqu", None),  # part of its name
    ("1", "chengguan", None),  # the first offered, not the parent 县城区 above it
    ("7", "shiqiao", None),  # the last offered
])
async def test_the_region_step_takes_places_and_parents(
    engine: AsyncEngine, answer: str, region: str, place: str | None,
) -> None:
    session = Session(engine, "oPlace")
    await session.says("我要反映", "1", "1")
    [reply] = await session.say(answer)
    assert reply.startswith("请描述您要反映的问题"), reply
    found = session.load().data["answers"]["region"]
    assert (found["id"], found["place"]) == (region, place)


async def test_the_region_step_offers_no_region_that_holds_others(engine: AsyncEngine) -> None:
    session = Session(engine, "oOffered")
    await session.says("我要反映", "1")
    [prompt] = await session.say("1")
    assert "1. 城关街道\n2. 东城街道\n3. 西城街道\n4. 经济开发区\n5. 河口乡\n6. 青山镇\n" \
        "7. 石桥镇" in prompt
    assert "县城区" not in prompt and "8." not in prompt
    assert "不知道也可以回复“不知道”" in prompt
    [reply] = await session.say("8")  # 石桥镇 was 8 when 县城区 was offered: no longer
    assert "没有找到“8”" in reply
    assert session.load().step == "region"


async def test_a_sent_location_whose_label_names_a_place_gives_its_region(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oPlaceSpot")
    await session.says("我要反映", "1", "1")
    [reply] = await session.send("location", {"latitude": 27.1, "longitude": 112.3,
                                              "label": "示范县张家村村民委员会"})
    assert reply.startswith("请描述您要反映的问题")
    assert session.load().data["answers"]["region"] == {
        "id": "hekou", "name": "河口乡", "place": "示范县张家村村民委员会", "latitude": 27.1,
        "longitude": 112.3}


async def test_not_knowing_the_region_keeps_the_address_or_spot_given_before(
    engine: AsyncEngine,
) -> None:
    typed = Session(engine, "oDontKnowTyped")
    await typed.says("我要反映", "1", "1", "幸福路88号")
    [reply] = await typed.say("不知道")
    assert reply.startswith("请描述您要反映的问题")
    assert typed.load().data["answers"]["region"] == {
        "id": None, "name": None, "place": "幸福路88号", "latitude": None, "longitude": None}
    spot = Session(engine, "oDontKnowSpot")
    await spot.says("我要反映", "1", "1")
    await spot.send("location", {"latitude": 27.1, "longitude": 112.3, "label": "某某路88号"})
    await spot.say("不知道")
    assert spot.load().data["answers"]["region"] == {
        "id": None, "name": None, "place": "某某路88号", "latitude": 27.1, "longitude": 112.3}
    plain = Session(engine, "oDontKnow")
    await plain.says("我要反映", "1", "1", "不知道")
    assert plain.load().data["answers"]["region"] is None
    assert plain.load().step == "description"


# -- issue 15: personal data in what may be published, a complaint typed out --------------


async def test_a_number_in_the_description_is_asked_about_and_moved_only_when_chosen(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oNumberAsked")
    await session.fill(4)  # at the description
    written = "物业电话13912345678一直没人接，楼道灯坏了"
    [asked] = await session.say(written)
    assert "电话号码或身份证号" in asked and "回复“1”" in asked
    assert "description" not in session.load().data["answers"]  # not kept yet
    [again] = await session.say("好的")  # no choice: the question again, not the step's
    assert "电话号码或身份证号" in again and session.load().data["tries"] == 0
    await session.say("1")
    answers = session.load().data["answers"]
    assert answers["description"] == "物业电话【电话】一直没人接，楼道灯坏了"
    assert "phone" not in answers  # it may be the 物业's: offered, not taken
    [offer] = await session.say("跳过")  # no photos: the phone question offers it
    assert "回复“1”使用您描述里写的号码：139****5678" in offer, offer
    await session.say("1")
    assert session.load().data["answers"]["phone"] == "13912345678"


@pytest.mark.parametrize(("then", "offered"), [
    ((), True),  # kept as written: offered
    (("返回", "楼道灯坏了一个月，物业一直没人管"), False),  # written again without it
])
async def test_the_phone_question_offers_only_a_number_the_description_still_says(
    engine: AsyncEngine, then: tuple[str, ...], offered: bool,
) -> None:
    session = Session(engine, "oSaidPhone")
    await session.fill(4)
    await session.says("物业电话13912345678一直没人接，楼道灯坏了", "2", *then)
    assert session.load().step == "photos"
    [prompt] = await session.say("跳过")
    assert session.load().step == "phone"
    assert ("使用您描述里写的号码" in prompt) is offered, prompt


@pytest.mark.parametrize(("described", "choice", "phone"), [
    ("13912345678", "1", "13800138000"),  # "1" stays the number left last time
    ("13912345678", "2", "13912345678"),  # "2" the one the description says
    ("13800138000", "1", "13800138000"),  # the same number: offered once
])
async def test_a_returning_citizen_is_offered_both_numbers_and_one_stays_the_last(
    engine: AsyncEngine, described: str, choice: str, phone: str,
) -> None:
    session = Session(engine, "oTwoNumbers")
    await _filed(session)  # left 13800138000 last time
    await session.says("我要反映", "1", "1", "县城区", f"物业电话{described}一直没人接，楼道灯坏了",
                       "2")
    [prompt] = await session.say("跳过")
    assert "回复“1”使用上次留下的号码：138****8000" in prompt, prompt
    assert ("回复“2”使用您描述里写的号码：139****5678" in prompt) is (
        described != "13800138000"), prompt
    assert "回复“1”使用您描述里写的号码" not in prompt
    await session.say(choice)
    assert session.load().data["answers"]["phone"] == phone


async def test_a_description_that_is_little_but_a_number_is_asked_for_again(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oOnlyNumber")
    await session.fill(4)
    await session.say("电话13912345678")
    [reply] = await session.say("1")
    assert "描述只剩" in reply and session.load().step == "description"
    assert "description" not in session.load().data["answers"]
    await session.say("小区门口的路灯坏了一个星期，晚上很黑")  # the form goes on
    assert session.load().step == "photos"


async def test_an_id_number_sent_at_the_photos_is_not_added_to_the_description(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oIdLater")
    await session.fill(5)  # at the photos
    [reply] = await session.say("我的身份证号是430102199001011234请核实一下")
    assert "电话号码或身份证号" in reply
    assert "4301" not in session.load().data["answers"]["description"]


async def test_a_complaint_typed_out_with_a_phone_offers_the_number_and_files_nothing_yet(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oTypedPhone")
    [reply] = await session.say("楼道灯坏了一个月，物业电话13912345678一直没人接")
    assert "还没有提交" in reply and "13912345678" not in reply and "已隐去" in reply
    answers = session.load().data["answers"]
    assert answers["description"] == "楼道灯坏了一个月，物业电话【电话】一直没人接"
    assert "phone" not in answers  # asked, never taken silently
    [more] = await session.say("而且楼梯扶手也松了，老人上下楼很危险")  # its second half
    assert "已把这段文字补充到“问题描述”" in more and "请问是哪一类留言" in more
    await session.says("1", "1")  # 投诉, 城关街道: the rest was said
    [prompt] = await session.say("跳过")  # no photos: the phone question offers the number
    assert "使用您描述里写的号码：139****5678" in prompt and session.load().step == "phone"
    await session.say("1")  # the number in the description, offered as 139****5678
    assert session.load().data["answers"]["phone"] == "13912345678"
