"""The conversation engine on a small demo flow, with state stored as JSON between messages."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.messages import Inbound, Outbound
from domain.texts import Texts
from flows.context import Conversation, lost_on_restart, open_in
from flows.engine import CONTEXT, Engine, Flow, Hook, Reprompt, Step, Turn, choice, numbered
from flows.steps import Addendum, Collect, CollectTexts
from storage.base import encode

TEXTS = Texts.load(Path(__file__).resolve().parents[1] / "config" / "texts.toml")
KINDS = ("投诉", "求助", "建议")


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class DemoTexts:
    """The real catalogue plus the demo flow's prompts."""

    prompts: ClassVar[dict[str, str]] = {
        "demo_kind": "请选择类型：\n" + numbered(KINDS),
        "demo_text": "请描述问题（至少 5 个字）。",
        "demo_phone": "请留下手机号，或回复“跳过”。",
        "demo_short": "描述太短了，请至少写 5 个字。",
        "demo_bad_phone": "手机号应为 11 位数字，以 1 开头。",
        "demo_docs": "请发送证明材料的照片（最多 {limit} 份），发完回复“完成”。",
        "demo_doc_kept": "第 {count} 份材料已收到。\n\n{prompt}",
        "demo_doc_more": "第 {count} 份材料已收到，还能发 {left} 份。",
        "demo_doc_full": "材料最多 {limit} 份，这一份没有保存。",
        "demo_doc_last": "第 {count} 份材料已收到，最多 {limit} 份。",
        "demo_doc_ahead": "材料这一步结束了，您发的内容已记为“{label}”。",
    }

    def __call__(self, key: str, **values: str) -> str:
        if key in self.prompts:
            return self.prompts[key].format(**values)
        return TEXTS(key, **values)


def description(inbound: Inbound, data: dict[str, Any]) -> str:
    if len(inbound.text) < 5:
        raise Reprompt("demo_short")
    return inbound.text


def phone(inbound: Inbound, data: dict[str, Any]) -> str:
    if not (inbound.text.isdigit() and len(inbound.text) == 11 and inbound.text[0] == "1"):
        raise Reprompt("demo_bad_phone")
    return inbound.text


FINISHED: list[dict[str, Any]] = []


async def finish(inbound: Inbound, answers: dict[str, Any]) -> list[Outbound]:
    FINISHED.append({k: v for k, v in answers.items() if k != CONTEXT})
    return [Outbound.of_text("已提交")]


DEMO = Flow("demo", "留言", (
    Step("kind", "类型", "demo_kind", choice(KINDS)),
    Step("text", "描述", "demo_text", description),
    Step("phone", "手机号", "demo_phone", phone, optional=True),
), finish)
OTHER = Flow("other", "法律咨询", (Step("q", "问题", "demo_text", description),), finish)


class Chat:
    def __init__(self) -> None:
        self.clock = Clock()
        self.engine = Engine([DEMO, OTHER], DemoTexts(), clock=self.clock)
        self.stored: Any = Conversation().to_json()

    def _load(self) -> Conversation:
        return Conversation.from_json(json.loads(json.dumps(self.stored)))  # as a store would

    def start(self, name: str = "demo") -> str:
        conversation = self._load()
        replies = self.engine.start(name, conversation)
        self.stored = conversation.to_json()
        return "\n".join(r.text for r in replies)

    async def say(self, text: str) -> str:
        return await self.send(Inbound("default", "oU", "text", {"content": text}))

    async def photo(self, media_id: str) -> str:
        return await self.send(Inbound("default", "oU", "image", {"media_id": media_id}))

    async def send(self, inbound: Inbound) -> str:
        conversation = self._load()
        replies = await self.engine.handle(inbound, conversation)
        self.stored = conversation.to_json()
        return "\n".join(r.text for r in replies)

    @property
    def in_flow(self) -> bool:
        return self._load().flow is not None


async def test_a_whole_flow_with_choice_by_number_skip_and_confirm() -> None:
    FINISHED.clear()
    chat = Chat()
    assert "请选择类型" in chat.start()
    assert "请描述问题" in await chat.say("2")
    assert "太短" in await chat.say("吵")
    assert "手机号" in await chat.say("楼下夜里施工太吵了")
    summary = await chat.say("跳过")
    assert "1. 类型：求助" in summary
    assert "2. 描述：楼下夜里施工太吵了" in summary
    assert "3. 手机号：（未填写）" in summary
    assert await chat.say("确认") == "已提交"
    assert FINISHED == [{"kind": "求助", "text": "楼下夜里施工太吵了", "phone": None}]
    assert not chat.in_flow


async def test_choice_by_words_and_bad_choice_re_prompts() -> None:
    chat = Chat()
    chat.start()
    answer = await chat.say("9")
    assert "请回复序号或选项文字" in answer
    assert "请选择类型" in answer
    assert "请描述问题" in await chat.say("建议")


async def test_three_failures_offer_help_instead_of_looping() -> None:
    chat = Chat()
    chat.start()
    await chat.say("x")
    await chat.say("y")
    third = await chat.say("z")
    assert "由话务员帮您登记" in third
    assert third.startswith("请回复序号或选项文字")  # still says what is wrong with it
    assert chat.in_flow


async def test_back_help_restart_cancel() -> None:
    chat = Chat()
    chat.start()
    assert "已经是第一步了" in await chat.say("返回")
    await chat.say("1")
    assert "请选择类型" in await chat.say("返回")  # back to the first question
    await chat.say("1")
    help_text = await chat.say("帮助")
    assert "请描述问题" in help_text and "重新开始" in help_text
    assert "请选择类型" in await chat.say("重新开始")
    assert "已取消" in await chat.say("取消")
    assert not chat.in_flow


async def test_edit_from_confirm() -> None:
    FINISHED.clear()
    chat = Chat()
    chat.start()
    await chat.say("1")
    await chat.say("路灯坏了好几天了")
    await chat.say("13800138000")
    assert "没有这一项" in await chat.say("修改 7")
    assert "请描述问题" in await chat.say("修改 2")
    summary = await chat.say("小区门口的路灯坏了")
    assert "2. 描述：小区门口的路灯坏了" in summary  # straight back to the summary
    assert "请回复“确认”" in await chat.say("好的")
    await chat.say("确认")
    assert FINISHED == [{"kind": "投诉", "text": "小区门口的路灯坏了", "phone": "13800138000"}]


async def test_back_from_an_edit_returns_to_the_summary_and_nothing_is_skipped() -> None:
    FINISHED.clear()
    chat = Chat()
    chat.start()
    for answer in ("1", "路灯坏了好几天了", "13800138000"):
        await chat.say(answer)
    assert "请选择类型" in await chat.say("修改 1")
    summary = await chat.say("返回")  # changed its mind: the summary, all three answers
    assert "1. 类型：投诉" in summary and "3. 手机号：13800138000" in summary
    assert "请描述问题" in await chat.say("修改 2")
    assert "请核对" in await chat.say("返回")
    # back from the summary walks the questions in order, keeping the answers
    assert "请留下手机号" in await chat.say("返回")
    assert "请描述问题" in await chat.say("返回")
    assert "请留下手机号" in await chat.say("楼下路灯坏了好几天了")  # on to the next one
    summary = await chat.say("13900139000")
    assert "1. 类型：投诉" in summary and "3. 手机号：13900139000" in summary
    assert await chat.say("确认") == "已提交"
    assert FINISHED == [{"kind": "投诉", "text": "楼下路灯坏了好几天了", "phone": "13900139000"}]


async def test_a_summary_with_an_answer_missing_asks_for_it_and_files_nothing() -> None:
    FINISHED.clear()
    chat = Chat()
    chat.start()
    stored = chat._load()
    stored.step = "__confirm__"
    stored.data["answers"].update({"kind": "投诉", "phone": None})  # no description
    chat.stored = stored.to_json()
    assert "请描述问题" in await chat.say("确认")
    assert FINISHED == []
    summary = await chat.say("路灯坏了好几天了")
    assert "2. 描述：路灯坏了好几天了" in summary  # straight back to the summary
    assert await chat.say("确认") == "已提交"
    assert FINISHED == [{"kind": "投诉", "text": "路灯坏了好几天了", "phone": None}]


def test_an_empty_answer_where_none_is_allowed_is_a_state_dropped() -> None:
    chat = Chat()
    chat.start()
    stored = chat._load()
    stored.step = "__confirm__"
    stored.data["answers"].update({"kind": None, "text": "路灯坏了好几天了", "phone": None})
    before = stored.to_json()
    active = chat.engine.active(stored)
    assert active.flow is None  # "kind" may not be empty: never filed
    assert active.dropped is not None and "已无法继续" in active.dropped.text
    assert stored.to_json() == before  # a query: the caller drops the state


def test_asking_for_the_active_flow_changes_nothing() -> None:
    """``Engine.active`` is a query: a form a restart lost is reported each time it is
    asked, and left for the caller to drop; an idle conversation has no note."""
    chat = Chat()
    lost = Conversation.from_json(json.loads(lost_on_restart(None)))
    first, second = chat.engine.active(lost), chat.engine.active(lost)
    assert first.flow is None and first.dropped is not None
    assert "因系统重启" in first.dropped.text and second == first
    assert lost.data == {"dropped": "restart"}
    assert chat.engine.active(Conversation()).dropped is None
    chat.start()
    assert chat.engine.active(chat._load()).flow is DEMO


async def test_stored_timeout_offers_resume_or_discard() -> None:
    chat = Chat()
    chat.start()
    await chat.say("1")
    chat.clock.now += 31 * 60
    offer = await chat.say("楼下施工很吵")
    assert "还没有填完" in offer and "30分钟" in offer
    assert "“楼下施工很吵”会填入“描述”" in offer  # the offer says what 继续 does
    # where the user left off, and what they wrote on coming back answers the question
    assert "手机号" in await chat.say("继续")
    assert chat._load().data["answers"]["text"] == "楼下施工很吵"
    chat.clock.now += 31 * 60
    await chat.say("随便")
    assert "已放弃" in await chat.say("放弃")
    assert not chat.in_flow


async def test_a_held_answer_stays_until_another_answer_replaces_it() -> None:
    chat = Chat()
    chat.start()
    await chat.say("1")
    chat.clock.now += 31 * 60
    assert "“你好请问在吗”会填入“描述”" in await chat.say("你好请问在吗")
    again = await chat.say("啥")  # answers nothing: not kept, and the held one is recalled
    assert "没有记入" in again and "您刚才发的“你好请问在吗”会填入“描述”" in again
    assert "您刚才发的“楼下施工很吵”" in await chat.say("楼下施工很吵")  # replaces it
    assert "手机号" in await chat.say("继续")
    assert chat._load().data["answers"]["text"] == "楼下施工很吵"


async def test_a_held_answer_saved_by_the_previous_version_is_still_taken() -> None:
    chat = Chat()
    chat.start()
    await chat.say("1")
    chat.clock.now += 31 * 60
    await chat.say("帮助")
    stored = chat._load()
    stored.data["held"] = "楼下施工很吵"  # how the release before kept it
    chat.stored = stored.to_json()
    assert "手机号" in await chat.say("继续")
    assert chat._load().data["answers"]["text"] == "楼下施工很吵"


async def test_after_the_timeout_a_word_that_answers_nothing_is_not_taken_as_an_answer(
) -> None:
    chat = Chat()
    chat.start()
    await chat.say("1")
    chat.clock.now += 31 * 60
    offer = await chat.say("你好")  # too short to be the description: not held
    assert "还没有填完" in offer and "会填入" not in offer
    assert await chat.say("继续") == "请描述问题（至少 5 个字）。"  # just the question
    chat.clock.now += 31 * 60
    assert "请描述问题" in await chat.say("继续")  # 继续 first: straight back
    chat.clock.now += 31 * 60
    assert "已放弃" in await chat.say("放弃")  # 放弃 first: done at once
    assert not chat.in_flow


async def test_another_service_interrupts_with_a_notice() -> None:
    chat = Chat()
    chat.start()
    assert "您未填完的留言已停止填写" in chat.start("other")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([
    "1", "2", "9", "建议", "返回", "帮助", "取消", "重新开始", "跳过", "确认", "修改 1",
    "修改 5", "继续", "放弃", "楼下夜里施工太吵了", "13800138000", "", "x",
]), max_size=25), st.lists(st.booleans(), max_size=25))
async def test_random_input_never_crashes_and_leaves_valid_state(
    texts: list[str], expire: list[bool]
) -> None:
    chat = Chat()
    chat.start()
    for i, text in enumerate(texts):
        if not chat.in_flow:
            chat.start()
        if i < len(expire) and expire[i]:
            chat.clock.now += 3600
        filed = len(FINISHED)
        reply = await chat.say(text)
        assert reply  # always an answer
        if len(FINISHED) > filed:  # whatever the route to it, nothing is filed with a gap
            assert FINISHED[-1]["kind"] in KINDS and len(FINISHED[-1]["text"]) >= 5
        conversation = chat._load()
        if conversation.flow is not None:
            assert conversation.step in {"kind", "text", "phone", "__confirm__", "__expired__"}
            assert set(conversation.data["answers"]) <= {"kind", "text", "phone", CONTEXT}
            if conversation.step == "__confirm__":  # a summary only when all is answered
                assert DEMO.first_missing(conversation.data["answers"]) is None


BRANCH = Flow("branch", "分支", (
    Step("kind", "类型", "demo_kind", choice(KINDS),
         next=lambda d: "phone" if d["kind"] == "投诉" else "text"),
    Step("text", "描述", "demo_text", description, next=lambda d: None),
    Step("phone", "手机号", "demo_phone", phone),
), finish)


async def test_a_branching_flow_walks_back_and_sums_up_only_its_own_path() -> None:
    FINISHED.clear()
    chat = Chat()
    chat.engine = Engine([BRANCH], DemoTexts(), clock=chat.clock)
    chat.start("branch")
    assert "已经是第一步了" in await chat.say("返回")  # the next step is not known yet
    assert "手机号" in await chat.say("1")
    assert "请选择类型" in await chat.say("返回")
    assert "请描述问题" in await chat.say("2")
    summary = await chat.say("楼下夜里施工太吵了")
    assert "1. 类型：求助" in summary and "2. 描述：楼下夜里施工太吵了" in summary
    assert "手机号" not in summary
    assert await chat.say("确认") == "已提交"
    assert FINISHED == [{"kind": "求助", "text": "楼下夜里施工太吵了"}]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=8)


@settings(max_examples=200)
@given(st.builds(Conversation, flow=st.none() | st.text(max_size=10),
                 step=st.none() | st.text(max_size=10),
                 data=st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=3),
                 expires_at=st.none() | st.floats(0, 2e9),
                 marks=st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=2)))
def test_open_in_tells_a_stored_form_without_parsing(conversation: Conversation) -> None:
    """The in-process store's journal asks open_in on every state write."""
    assert open_in(encode(conversation.to_json())) is (conversation.flow is not None)
    assert Conversation.from_json(conversation.to_json()) == conversation


def test_marks_outlive_a_form_and_a_state_without_them_keeps_its_shape() -> None:
    """A legal consultation's mark stays through a complaint form filed meanwhile."""
    conversation = Conversation(flow="complaint", step="kind", data={"answers": {}},
                                marks={"consult": True})
    conversation.clear()
    assert conversation == Conversation(marks={"consult": True})
    assert Conversation(flow="complaint").to_json() == {
        "flow": "complaint", "step": None, "data": {}, "expires_at": None}


@pytest.mark.parametrize("state", [{"role": "lawyer", "queue": [1, 2]}, ["a", "b"], "x", 3,
                                   {"step": "s", "flow": "complaint"}])
def test_open_in_takes_no_other_shape_of_state_for_a_form(state: object) -> None:
    """Another router's state (a lawyer's, say) is not a form a restart could lose."""
    assert not open_in(encode(state))


# -- hooks: what a flow does besides questions and answers ---------------------------------

DOCS = Collect("docs", 2, texts=CollectTexts(kept="demo_doc_kept", more="demo_doc_more",
                                             full="demo_doc_full", ahead="demo_doc_ahead",
                                             last="demo_doc_last"))
LEGAL = Flow("legal", "法律咨询", (
    Step("q", "问题", "demo_text", description),
    DOCS.step("材料", "demo_docs", values=lambda _: {"limit": "2"},
              show=lambda v: f"{len(v)} 份", otherwise=(Addendum("q", 5),)),
    Step("phone", "手机号", "demo_phone", phone),
), finish, hooks=(DOCS,))


def legal_chat() -> Chat:
    chat = Chat()
    chat.engine = Engine([LEGAL], DemoTexts(), clock=chat.clock)
    chat.start("legal")
    return chat


async def test_a_second_flow_collects_photos_with_its_own_texts_and_limit() -> None:
    FINISHED.clear()
    chat = legal_chat()
    kept = await chat.photo("d1")  # before its step: kept, and the question asked again
    assert kept.startswith("第 1 份材料已收到。") and kept.endswith("请描述问题（至少 5 个字）。")
    assert "最多 2 份" in await chat.say("公司拖欠工资三个月")
    last = await chat.photo("d2")  # the second of two: said so, and on to the next
    assert last == "第 2 份材料已收到，最多 2 份。\n请留下手机号，或回复“跳过”。"
    assert await chat.photo("d3") == "材料最多 2 份，这一份没有保存。"
    assert "2. 材料：2 份" in await chat.say("13800138000")
    assert await chat.say("确认") == "已提交"
    assert FINISHED[-1]["docs"] == [{"media_id": "d1", "url": ""},
                                    {"media_id": "d2", "url": ""}]


async def test_at_the_collecting_step_text_is_the_next_answer_or_more_of_another() -> None:
    chat = legal_chat()
    await chat.say("公司拖欠工资三个月")
    assert await chat.photo("d1") == "第 1 份材料已收到，还能发 1 份。"
    added = await chat.say("老板说下个月再给")  # not the next answer: more of the question
    assert "已把这段文字补充到“问题”" in added and "请发送证明材料" in added
    ahead = await chat.say("13800138000")  # the next answer: the materials end with one
    assert ahead.startswith("材料这一步结束了，您发的内容已记为“手机号”。")
    assert "1. 问题：公司拖欠工资三个月\n老板说下个月再给\n2. 材料：1 份" in ahead
    answers = chat._load().data["answers"]
    assert answers["q"] == "公司拖欠工资三个月\n老板说下个月再给"
    assert answers["docs"] == [{"media_id": "d1", "url": ""}]


def test_a_hook_naming_a_step_the_flow_lacks_is_refused_when_the_flow_is_built() -> None:
    steps = (Step("q", "问题", "demo_text", description),)
    for hook, missing in ((Collect("docs", 2), "'docs'"), (Addendum("nowhere", 5), "'nowhere'")):
        with pytest.raises(ValueError, match=f"flow broken: no step {missing}"):
            Flow("broken", "坏", steps, finish, hooks=(hook,))
        with pytest.raises(ValueError, match=f"flow broken: no step {missing}"):
            Flow("broken", "坏", (replace(steps[0], otherwise=(hook,)),), finish)


class Aside(Hook):
    """Answers any refused text: shows whether a step's hooks were asked."""

    def on_message(self, turn: Turn) -> list[Outbound] | None:
        return [turn.say("demo_short")] if turn.inbound.text.startswith("旁") else None


def located(inbound: Inbound, data: dict[str, Any]) -> str:
    if inbound.text == "旁边不算":
        raise Reprompt("demo_bad_phone", counts=False)  # understood, not yet an answer
    raise Reprompt("demo_bad_phone")


async def test_a_steps_hooks_hear_only_refusals_that_count() -> None:
    flow = Flow("aside", "旁", (Step("where", "地点", "demo_text", located,
                                     otherwise=(Aside(),)),), finish)
    chat = Chat()
    chat.engine = Engine([flow], DemoTexts(), clock=chat.clock)
    chat.start("aside")
    assert await chat.say("旁边的楼") == "描述太短了，请至少写 5 个字。"
    assert chat._load().data["tries"] == 0  # a hook's answer is no failed try
    assert (await chat.say("旁边不算")).startswith("手机号应为")
    assert (await chat.say("别处")).startswith("手机号应为")


async def test_a_photo_sent_anywhere_keeps_the_flow_from_timing_out() -> None:
    chat = legal_chat()
    chat.clock.now += 20 * 60
    await chat.photo("d1")
    chat.clock.now += 20 * 60  # 40 minutes since the start, 20 since the photo
    assert (await chat.say("公司拖欠工资三个月")).startswith("请发送证明材料")


async def test_starting_the_collection_over_forgives_the_tries_before() -> None:
    chat = legal_chat()
    await chat.say("公司拖欠工资三个月")
    await chat.photo("d1")
    for _ in range(2):
        assert "请发送证明材料" in await chat.say("嗯")  # not an answer: a try
    assert "已清空" in await chat.say("清空")
    again = await chat.say("嗯")  # the first try since starting over, not the third
    assert again.startswith("请发送证明材料") or "最多 2 份" in again
    assert TEXTS("flow_too_many_tries", prompt="")[:8] not in again
    assert chat._load().data["answers"].get("docs") in (None, [])


async def test_a_short_word_at_the_collecting_step_is_not_the_next_answer() -> None:
    flow = Flow("short", "短", (
        DOCS.step("材料", "demo_docs", values=lambda _: {"limit": "2"}),
        Step("kind", "类型", "demo_kind", choice(KINDS)),
    ), finish, hooks=(DOCS,))
    chat = Chat()
    chat.engine = Engine([flow], DemoTexts(), clock=chat.clock)
    chat.start("short")
    assert "还没有收到照片" in await chat.say("2")  # would be 求助 at the next step
    assert "请选择类型" in await chat.say("完成")


async def test_text_at_a_collecting_last_step_has_no_next_answer_to_be() -> None:
    flow = Flow("last", "末", (
        Step("q", "问题", "demo_text", description),
        DOCS.step("材料", "demo_docs", values=lambda _: {"limit": "2"}),
    ), finish, hooks=(DOCS,))
    chat = Chat()
    chat.engine = Engine([flow], DemoTexts(), clock=chat.clock)
    chat.start("last")
    await chat.say("公司拖欠工资三个月")
    assert "还没有收到照片" in await chat.say("公司拖欠工资三个月了")
    assert "请核对" in await chat.say("完成")
