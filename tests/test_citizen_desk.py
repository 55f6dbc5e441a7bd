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

from domain.messages import Inbound
from flows.context import Conversation
from handlers.citizen import CitizenDesk
from handlers.router import Router
from handlers.texts import Texts
from storage import db
from storage.catalogue import CatalogueRepository
from storage.catalogue_cache import CatalogueCache
from storage.models import Ticket
from storage.tickets import Tickets
from tests.citizens import Clock, Today, fresh_tickets

TEXTS = Texts.load(Path(__file__).resolve().parents[1] / "config" / "texts.toml")
STEPS = {"kind", "category", "region", "description", "photos", "phone", "public",
         "__confirm__", "__expired__"}


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
        self.router = Router(TEXTS, desk=self.desk)
        self.user = user
        self.stored: Any = Conversation().to_json()
        self.msg = 0

    def load(self) -> Conversation:
        return Conversation.from_json(json.loads(json.dumps(self.stored)))

    async def send(self, kind: str, payload: dict[str, Any]) -> list[str]:
        self.msg += 1
        conversation = self.load()
        replies = await self.router(
            Inbound("default", self.user, kind, payload, message_id=str(self.msg)),  # type: ignore[arg-type]
            conversation)
        self.stored = conversation.to_json()
        return [r.text for r in replies]

    async def say(self, text: str) -> list[str]:
        return await self.send("text", {"content": text})


MESSAGES = st.one_of(
    st.sampled_from([
        "我要反映", "投诉", "1", "2", "3", "7", "9", "0", "建议", "环境", "东城街道", "火星",
        "返回", "帮助", "取消", "重新开始", "跳过", "完成", "确认", "修改 1", "修改 3",
        "修改 9", "继续", "放弃", "匿名", "公开", "不公开", "我的留言", "查询",
        "查询 LX20261123-000001", "撤回 LX20261123-000001", "撤回", "法律咨询",
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


@settings(max_examples=40, deadline=None,
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
        answers = conversation.data["answers"]
        assert set(answers) <= STEPS | {"_ctx", "_location"}
        assert len(answers.get("photos") or []) <= 9
        if "description" in answers:
            assert 10 <= len(answers["description"]) <= 1000


async def test_a_confirm_whose_state_write_was_lost_files_no_second_ticket(
    engine: AsyncEngine,
) -> None:
    session = Session(engine, "oLost")
    for text in ("我要反映", "1", "1", "1", "小区门口的路灯坏了一个星期，晚上很黑", "跳过",
                 "13800138000", "2"):
        await session.say(text)
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
    assert "请问您要反映的是哪一类" in (await session.say("我要反映"))[0]
    session.stored = {"flow": "complaint", "step": "no_such_step", "data": {"answers": {}}}
    assert (await session.say("1"))[0]
    session.stored = {"flow": "complaint", "step": "category", "data": "garbage"}
    assert (await session.say("1"))[0]
    session.stored = {"flow": "complaint", "step": "__expired__",
                      "data": {"answers": {}, "history": [], "paused_at": "gone"}}
    assert "请问您要反映的是哪一类" in (await session.say("投诉"))[0]
