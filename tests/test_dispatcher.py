"""handlers/dispatcher.py: routers in order, first match wins, the fallback, the filters,
and the per-update conversation (decoded once, the engine asked once, written back)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from domain.messages import Inbound, Outbound
from domain.texts import Texts
from flows.context import Conversation, lost_on_restart
from flows.engine import Engine, Flow, Step
from handlers.commands import Service
from handlers.context import StateContext
from handlers.dispatcher import (
    Command,
    Dispatcher,
    Event,
    InFlow,
    Kind,
    MenuKey,
    Message,
    Not,
    Router,
    Update,
)
from storage.base import decode

TEXTS = Texts.load(Path(__file__).resolve().parents[1] / "config" / "texts.toml")


async def _finish(inbound: Inbound, answers: dict[str, Any]) -> list[Outbound]:
    return []


SURVEY = Flow("survey", "满意度评价", (Step("score", "评分", "help", lambda i, d: i.text),),
              _finish)


def text(content: str) -> Inbound:
    return Inbound("default", "oU", "text", {"content": content})


def event(name: str, key: str = "") -> Inbound:
    return Inbound("default", "oU", "event", {"event": name, "key": key})


def says(what: str) -> Any:
    async def answer(update: Update) -> list[Outbound]:
        return [Outbound.of_text(what)]

    return answer


class Counting(Engine):
    """The engine, counting how often it is asked which flow a user is in."""

    def __init__(self) -> None:
        super().__init__([SURVEY], TEXTS)
        self.asked = 0

    def active(self, conversation: Conversation) -> Any:
        self.asked += 1
        return super().active(conversation)


def dispatcher(*routers: Router, engine: Engine | None = None) -> Dispatcher:
    return Dispatcher(routers, fallback=says("fallback"), engine=engine or Counting())


async def answer_of(dispatch: Dispatcher, inbound: Inbound,
                    state: StateContext | None = None) -> list[str]:
    return [o.text for o in await dispatch(inbound, state or StateContext())]


def router(name: str, *routes: tuple[str, tuple[Any, ...]]) -> Router:
    made = Router(name)
    for what, filters in routes:
        made.add(says(what), *filters)
    return made


async def test_the_first_router_that_matches_answers() -> None:
    first = router("first", ("first", (Kind("text"),)))
    second = router("second", ("second", (Kind("text"),)), ("image", (Kind("image"),)))
    dispatch = dispatcher(first, second)
    assert await answer_of(dispatch, text("你好")) == ["first"]
    assert await answer_of(dispatch, Inbound("default", "oU", "image")) == ["image"]
    assert await answer_of(dispatcher(second, first), text("你好")) == ["second"]


async def test_within_a_router_the_first_route_that_matches_answers() -> None:
    dispatch = dispatcher(router("r", ("help", (Command(Service.HELP),)),
                                 ("any text", (Kind("text"),)),
                                 ("help again", (Command(Service.HELP),))))
    assert await answer_of(dispatch, text("帮助")) == ["help"]
    assert await answer_of(dispatch, text("你好")) == ["any text"]


async def test_what_no_router_takes_gets_the_fallback() -> None:
    dispatch = dispatcher(router("texts", ("text", (Kind("text"),))))
    assert await answer_of(dispatch, event("click", "NOPE")) == ["fallback"]
    assert await answer_of(dispatcher(), text("你好")) == ["fallback"]


async def test_every_filter_of_a_route_must_pass_and_the_first_refusal_stops() -> None:
    def never_asked(update: Update) -> bool:
        raise AssertionError("asked after an earlier filter refused")

    dispatch = dispatcher(router("r", ("both", (Kind("event"), never_asked)),
                                 ("text", (Kind("text"), Command(Service.LEGAL)))))
    assert await answer_of(dispatch, text("法律咨询")) == ["text"]
    assert await answer_of(dispatch, text("你好")) == ["fallback"]


@pytest.mark.parametrize(("inbound", "expected"), [
    (event("subscribe"), "follow"),
    (event("click", "my_tickets"), "menu"),  # keys in any case
    (event("scancode_waitmsg", "MY_TICKETS"), "menu"),
    (event("view", "MY_TICKETS"), "fallback"),  # a link, not a click
    (text("MY_TICKETS"), "message"),
    (Inbound("default", "oU", "location", {"latitude": 1.0, "longitude": 2.0}), "message"),
])
async def test_event_menu_key_and_message_filters(inbound: Inbound, expected: str) -> None:
    dispatch = dispatcher(router("r", ("follow", (Event("subscribe", "subscribe_scan"),)),
                                 ("menu", (MenuKey("MY_TICKETS"),)),
                                 ("message", (Message(),))))
    assert await answer_of(dispatch, inbound) == [expected]


async def test_command_filters_take_whole_commands_and_transcribed_voice() -> None:
    dispatch = dispatcher(router("r", ("withdraw", (Command(Service.WITHDRAW),)),
                                 ("ticket", (Command(Service.TICKET),))))
    assert await answer_of(dispatch, text("撤回 LX20261123-000001")) == ["withdraw"]
    assert await answer_of(dispatch, text("查询ＬＸ20261123-000001")) == ["ticket"]
    assert await answer_of(dispatch, text("撤回了我家的低保")) == ["fallback"]
    voice = Inbound("default", "oU", "voice", {"media_id": "v", "recognition": "撤回。"})
    assert await answer_of(dispatch, voice) == ["withdraw"]


async def test_async_filters_are_awaited_and_can_be_negated() -> None:
    async def bound_lawyer(update: Update) -> bool:  # the shape of a look-up filter
        return update.inbound.user == "oLawyer"

    dispatch = dispatcher(router("lawyers", ("lawyer", (bound_lawyer,))),
                          router("others", ("citizen", (Not(bound_lawyer),))))
    lawyer = Inbound("default", "oLawyer", "text", {"content": "接单"})
    assert await answer_of(dispatch, lawyer) == ["lawyer"]
    assert await answer_of(dispatch, text("接单")) == ["citizen"]


def in_survey() -> StateContext:
    return StateContext({"flow": "survey", "step": "score", "data": {"answers": {}}})


async def test_in_flow_filters_see_the_flow_the_engine_can_carry_on() -> None:
    dispatch = dispatcher(router("survey", ("survey", (InFlow("survey"),))),
                          router("any flow", ("flow", (InFlow(),))),
                          router("idle", ("idle", (Not(InFlow()),))))
    assert await answer_of(dispatch, text("5"), in_survey()) == ["survey"]
    assert await answer_of(dispatch, text("5")) == ["idle"]
    retired = StateContext({"flow": "retired", "step": "x", "data": {}})
    answer = await answer_of(dispatch, text("5"), retired)
    assert answer[0].endswith("idle") and "已无法继续" in answer[0]  # dropped, said first


async def test_the_state_is_decoded_once_and_the_engine_asked_once_per_update() -> None:
    engine = Counting()
    seen: list[Conversation] = []

    async def look(update: Update) -> list[Outbound]:
        seen.extend([update.conversation, update.conversation])
        assert update.flow is not None and update.reminder() is not None
        return []

    routes = Router("r")
    routes.add(says("never"), InFlow("survey"), InFlow(), Kind("image"))
    routes.add(look, InFlow(), InFlow("survey"))
    await dispatcher(routes, engine=engine)(text("5"), in_survey())
    assert engine.asked == 1 and seen[0] is seen[1]


async def test_a_decoded_conversation_is_written_back_and_an_untouched_state_is_not() -> None:
    async def answer(update: Update) -> list[Outbound]:
        update.conversation.data["answers"]["score"] = update.text
        return []

    routes = Router("r")
    routes.add(says("report"), Event("templatesendjobfinish"))
    routes.add(answer, InFlow("survey"))
    dispatch = dispatcher(routes)
    state = in_survey()
    await dispatch(text("5"), state)
    assert state.changed and state.get()["data"]["answers"] == {"score": "5"}
    untouched = in_survey()
    assert await answer_of(dispatch, event("templatesendjobfinish"), untouched) == ["report"]
    assert not untouched.changed


async def test_a_route_that_clears_the_state_wins_over_the_write_back() -> None:
    async def forget(update: Update) -> list[Outbound]:
        update.state.clear()
        return []

    routes = Router("r")
    routes.add(forget, InFlow())  # the filter decoded the conversation first
    state = in_survey()
    await dispatcher(routes)(text("取消"), state)
    assert state.changed and state.get() is None


async def test_a_form_lost_to_a_restart_is_said_once_before_the_answer() -> None:
    dispatch = dispatcher(router("idle", ("好的", (Not(InFlow()),))))
    state = StateContext(decode(lost_on_restart(None)))
    [first] = await answer_of(dispatch, text("5"), state)
    assert first.startswith("抱歉，您之前填写的内容因系统重启已失效") and first.endswith("好的")
    assert await answer_of(dispatch, text("5"), StateContext(state.get())) == ["好的"]


async def test_filters_on_the_user_are_asked_anew_for_every_message() -> None:
    """The dispatcher works out once which routes a kind of message can reach (the key
    filters); who sent it and their state are asked each time: a user bound as a lawyer
    between two identical messages is answered as one from the second on."""
    lawyers: set[str] = set()

    async def bound_lawyer(update: Update) -> bool:
        return update.inbound.user in lawyers

    dispatch = dispatcher(router("lawyers", ("lawyer", (Kind("text"), bound_lawyer))),
                          router("others", ("citizen", (Message(),))))
    assert await answer_of(dispatch, text("列表")) == ["citizen"]
    lawyers.add("oU")
    assert await answer_of(dispatch, text("列表")) == ["lawyer"]
    assert await answer_of(dispatch, text("列表"), in_survey()) == ["lawyer"]


async def test_negated_key_filters_and_many_kinds_of_event() -> None:
    """Events the bot has never heard of (any name a signed callback may carry) are
    answered by the fallback, however many there are, with bounded memory, and do not
    disturb the routes of the ones it knows."""
    dispatch = dispatcher(router("r", ("follow", (Event("subscribe"),)),
                                 ("not an event", (Not(Kind("event")),)),
                                 ("menu", (MenuKey("HELP"),))))
    for number in range(1200):
        assert await answer_of(dispatch, event(f"custom_{number}")) == ["fallback"]
    assert len(dispatch._plans) <= 512  # what it keeps for them is bounded
    assert await answer_of(dispatch, event("subscribe")) == ["follow"]
    assert await answer_of(dispatch, event("click", "help")) == ["menu"]
    assert await answer_of(dispatch, event("click", "")) == ["fallback"]
    assert await answer_of(dispatch, text("帮助")) == ["not an event"]


async def test_a_message_outside_any_form_writes_no_state_and_an_ended_form_is_cleared(
) -> None:
    async def ends_the_form(update: Update) -> list[Outbound]:
        update.conversation.clear()
        return []

    routes = Router("r")
    routes.add(ends_the_form, InFlow("survey"))
    routes.add(says("idle"), Not(InFlow()))
    dispatch = dispatcher(routes)
    nothing = StateContext()
    assert await answer_of(dispatch, text("你好"), nothing) == ["idle"]
    assert not nothing.changed  # the edge writes nothing for this user
    ended = in_survey()
    await dispatch(text("5"), ended)
    assert ended.changed and ended.get() is None  # the edge deletes the stored state
