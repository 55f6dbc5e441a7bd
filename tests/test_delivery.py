"""Delivery through the dev platform: channel choice, fallbacks, faults, crashes, workers."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import DEFAULT_DELIVERY, Account, load_delivery
from bot.wechat.api import WeChatClient
from devplatform.api import PLATFORM, create_api_app
from devplatform.state import PlatformState
from domain.delivery import Window
from domain.messages import Outbound
from scheduler.delivery import DeliveryWorker
from storage import db
from storage.base import Store
from storage.keys import KeyBuilder
from storage.memory import MemoryStore
from storage.outbox import Outbox
from tests.conftest import APP_ID, APP_SECRET, TOKEN

PURPOSES = load_delivery(DEFAULT_DELIVERY)
STATUS_FIELDS = {"ticket_no": "LX20261123-000001", "department": "市住建局",
                 "status": "已受理", "time": "2026年11月23日 10:00"}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    state: PlatformState
    outbox: Outbox
    store: Store
    keys: KeyBuilder
    clock: Clock
    session: aiohttp.ClientSession
    base: str

    def worker(self, name: str = "w1", **kwargs: Any) -> DeliveryWorker:
        account = Account("default", TOKEN, APP_ID, APP_SECRET, None, self.base)
        client = WeChatClient(self.session, account, self.store, self.keys, timeout=2)
        kwargs.setdefault("retry_base", 0.01)
        return DeliveryWorker(self.outbox, self.store, self.keys, {"default": client},
                              PURPOSES, name=name, clock=self.clock, rng=random.Random(7),
                              **kwargs)

    async def user_writes(self, openid: str, interaction: str = "message") -> None:
        """What the edge and the platform both record when the user writes."""
        window = Window(self.clock.now, interaction)  # type: ignore[arg-type]
        await self.store.set(self.keys.window("default", openid, interaction),
                             window.to_json(), ttl=window.limits()[0])
        if interaction == "message":
            self.state.saw_message(APP_ID, openid)
        else:
            self.state.saw_event(APP_ID, openid, "CLICK".lower(), "HELP")

    async def push(self, openid: str, label: str, purpose: str = "ticket_status") -> int:
        return await self.outbox.add(account="default", openid=openid, purpose=purpose,
                                     text=label, fields=STATUS_FIELDS)

    async def statuses(self) -> dict[int, tuple[str, str | None]]:
        return {p.id: (p.status, p.channel) for p in await self.outbox.list(limit=500)}


@pytest.fixture
async def rig(engine: AsyncEngine) -> AsyncIterator[Rig]:
    clock = Clock()
    account = Account("default", TOKEN, APP_ID, APP_SECRET, None, "http://unused")
    app = create_api_app([account], state=PlatformState([account], clock=clock))
    server = TestServer(app)
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Rig(app[PLATFORM], Outbox(engine), MemoryStore(), KeyBuilder(), clock, session,
                  str(server.make_url("")).rstrip("/"))
    await server.close()


def backoff_span(attempt: int) -> float:
    """The shortest real delay before retry ``attempt`` (jitter at its lowest)."""
    from domain.delivery import backoff

    class Low(random.Random):
        def random(self) -> float:
            return 0.0

    return backoff(attempt, rng=Low())


def customs(state: PlatformState, openid: str) -> list[str]:
    return [m["text"]["content"] for m in state.sent.get(openid, [])]


def templates(state: PlatformState, openid: str) -> list[dict[str, Any]]:
    return state.templates.get(openid, [])


async def test_open_window_then_quota_then_template(rig: Rig) -> None:
    rig.state.follow(APP_ID, "oA")
    await rig.user_writes("oA")
    ids = [await rig.push("oA", f"进度{i}") for i in range(7)]
    await rig.worker().drain()
    assert customs(rig.state, "oA") == [f"进度{i}" for i in range(5)]  # 5 per message
    assert len(templates(rig.state, "oA")) == 2
    statuses = await rig.statuses()
    assert [statuses[i] for i in ids] == [("sent", "custom")] * 5 + [("sent", "template")] * 2


async def test_platform_says_window_closed_and_push_goes_by_template(rig: Rig) -> None:
    rig.state.follow(APP_ID, "oB")
    await rig.user_writes("oB")
    rig.clock.now += 49 * 3600  # the platform's window closed; our record is stale
    await rig.store.set(rig.keys.window("default", "oB", "message"),
                        Window(rig.clock.now - 10, "message").to_json(), ttl=60)
    push = await rig.push("oB", "已办结")
    await rig.worker().drain()
    assert customs(rig.state, "oB") == []
    assert len(templates(rig.state, "oB")) == 1
    assert (await rig.statuses())[push] == ("sent", "template")
    assert await rig.store.get(rig.keys.window("default", "oB", "message")) is None


async def test_quota_used_elsewhere_falls_back_to_template(rig: Rig) -> None:
    rig.state.follow(APP_ID, "oC")
    await rig.user_writes("oC")
    for _ in range(5):  # another sender used the platform's quota
        assert rig.state.customer_service_allows(APP_ID, "oC") == 0
    push = await rig.push("oC", "已派单")
    await rig.worker().drain()
    assert (await rig.statuses())[push] == ("sent", "template")
    sent = await rig.store.get(rig.keys.custom_sent(
        "default", "oC", Window.from_json(await rig.store.get(
            rig.keys.window("default", "oC", "message"))).opened_at))  # type: ignore[union-attr]
    assert sent == 5  # the tracker was corrected


async def test_no_channel_waits_with_reason_until_the_user_writes(rig: Rig) -> None:
    rig.state.follow(APP_ID, "oD")
    push = await rig.push("oD", "律师已回复", purpose="reply")
    worker = rig.worker(pending_recheck=0.3)
    await worker.drain()
    pending = await rig.outbox.get(push)
    assert pending is not None
    assert pending.status == "pending"
    assert "no template configured" in (pending.reason or "")
    await rig.user_writes("oD")
    await worker.drain()
    assert customs(rig.state, "oD") == []  # not before its next look
    await asyncio.sleep(0.35)  # the worker looks at pending pushes again (5 s by default)
    await worker.drain()
    assert customs(rig.state, "oD") == ["律师已回复"]


async def test_api_down_loses_nothing_and_keeps_order(rig: Rig) -> None:
    """The platform unreachable (connections refused), then busy (-1), then back."""
    for user in ("oE", "oF"):
        rig.state.follow(APP_ID, user)
        await rig.user_writes(user)
    ids = {user: [await rig.push(user, f"{user}-{i}") for i in range(3)] for user in ("oE", "oF")}
    from tests.servers import free_port

    port = free_port()
    real_base, rig.base = rig.base, f"http://127.0.0.1:{port}"  # nothing listens there yet
    down = rig.worker(max_attempts=20)
    for _ in range(5):
        await down.run_once()
        await asyncio.sleep(0.05)
    statuses = await rig.statuses()
    assert all(statuses[i][0] == "queued" for user in ids for i in ids[user])  # kept
    assert customs(rig.state, "oE") == []
    account = Account("default", TOKEN, APP_ID, APP_SECRET, None, real_base)
    back = TestServer(create_api_app([account], state=rig.state), port=port)
    await back.start_server()  # the platform returns on the same address, busy at first
    try:
        rig.state.inject_fault(6, errcode=-1)
        for _ in range(300):
            await down.run_once()
            statuses = await rig.statuses()
            if all(statuses[i][0] == "sent" for user in ids for i in ids[user]):
                break
            await asyncio.sleep(0.02)
    finally:
        await back.close()
    for user in ("oE", "oF"):
        # every push exactly once, in the order made (quota slots given back on refusals)
        assert customs(rig.state, user) == [f"{user}-{i}" for i in range(3)]
    # with the real backoff (2 s doubling, jittered) the tries span well over 30 s
    assert sum(backoff_span(n) for n in range(1, 8)) > 30


async def test_timeouts_never_make_a_second_copy(rig: Rig) -> None:
    """A customer-service call that times out may have arrived: it is left for an operator;
    a template call that times out is sent again with the same client_msg_id."""
    rig.state.follow(APP_ID, "oT")
    await rig.user_writes("oT")
    custom_push = await rig.push("oT", "客服消息", purpose="reply")
    rig.state.inject_fault(1, hang=2.5, path="/cgi-bin/message/custom/send")
    await rig.worker().drain()  # the client gives up after 2 s; the platform sends at 2.5
    await asyncio.sleep(0.7)
    assert customs(rig.state, "oT") == ["客服消息"]
    left = await rig.outbox.get(custom_push)
    assert left is not None
    assert left.status == "uncertain"
    assert "may or may not have arrived" in (left.reason or "")

    rig.state.follow(APP_ID, "oU")  # never wrote: template only
    template_push = await rig.push("oU", "模板消息")
    rig.state.inject_fault(1, hang=2.5, path="/cgi-bin/message/template/send")
    worker = rig.worker()
    await worker.drain()
    await asyncio.sleep(0.7)
    await rig.user_writes("oU")  # a window opens: still no second copy by another door
    await worker.drain()
    assert len(templates(rig.state, "oU")) == 1
    assert customs(rig.state, "oU") == []
    assert (await rig.statuses())[template_push] == ("sent", "template")


async def test_worker_stopped_mid_template_send_does_not_send_twice(rig: Rig) -> None:
    rig.state.follow(APP_ID, "oG")  # never wrote: template only
    push = await rig.push("oG", "已受理")
    (claimed,) = await rig.outbox.claim("dead-worker", limit=1, lease=0.05)
    assert await rig.outbox.about_to_send(claimed.id, "dead-worker", "template")
    account = Account("default", TOKEN, APP_ID, APP_SECRET, None, rig.base)
    client = WeChatClient(rig.session, account, rig.store, rig.keys)
    await client.send_template("oG", "TM_TICKET_STATUS",
                               {"character_string1": "LX20261123-000001", "thing2": "市住建局",
                                "phrase3": "已受理", "time4": "2026年11月23日 10:00"},
                               client_msg_id=claimed.idempotency_key)
    # ... and the worker died before recording it
    await asyncio.sleep(0.1)
    await rig.worker().drain()
    assert len(templates(rig.state, "oG")) == 1  # the platform deduped the client_msg_id
    assert (await rig.statuses())[push] == ("sent", "template")


async def test_worker_stopped_mid_custom_send_is_left_for_an_operator(rig: Rig) -> None:
    rig.state.follow(APP_ID, "oH")
    await rig.user_writes("oH")
    push = await rig.push("oH", "补充材料")
    (claimed,) = await rig.outbox.claim("dead-worker", limit=1, lease=0.05)
    assert await rig.outbox.about_to_send(claimed.id, "dead-worker", "custom")
    await asyncio.sleep(0.1)
    await rig.worker().drain()
    stuck = await rig.outbox.get(push)
    assert stuck is not None
    assert stuck.status == "uncertain"
    assert "may or may not have arrived" in (stuck.reason or "")
    assert customs(rig.state, "oH") == []  # not sent again
    assert await rig.outbox.requeue([push]) == 1  # the operator decides to resend
    await rig.worker().drain()
    assert customs(rig.state, "oH") == ["补充材料"]


async def test_too_many_transient_errors_end_dead_with_the_reason(rig: Rig) -> None:
    rig.state.follow(APP_ID, "oI")
    push = await rig.push("oI", "x")
    rig.state.inject_fault(50, errcode=-1)
    worker = rig.worker(max_attempts=3)
    for _ in range(100):
        await worker.run_once()
        dead = await rig.outbox.get(push)
        if dead is not None and dead.status == "dead":
            break
        await asyncio.sleep(0.02)
    assert dead is not None
    assert dead.status == "dead"
    assert "gave up after 3 tries" in (dead.reason or "")


async def test_refused_user_fails_at_once(rig: Rig) -> None:
    push = await rig.push("oNobody", "x")  # not a follower
    await rig.worker().drain()
    failed = await rig.outbox.get(push)
    assert failed is not None
    assert failed.status == "failed"
    assert "43004" in (failed.reason or "") or "40003" in (failed.reason or "")


async def test_subscribe_consent_is_used_once(rig: Rig) -> None:
    rig.state.follow(APP_ID, "oJ")
    rig.state.consent(APP_ID, "oJ", "SUB_TICKET_STATUS")
    await rig.store.set(rig.keys.consent("default", "oJ", "SUB_TICKET_STATUS"), 1)
    purposes = dict(PURPOSES)
    from domain.sending import Purpose

    purposes["ticket_status"] = Purpose("ticket_status", None, "SUB_TICKET_STATUS",
                                        PURPOSES["ticket_status"].fields)
    first, second = await rig.push("oJ", "一"), await rig.push("oJ", "二")
    account = Account("default", TOKEN, APP_ID, APP_SECRET, None, rig.base)
    client = WeChatClient(rig.session, account, rig.store, rig.keys)
    worker = DeliveryWorker(rig.outbox, rig.store, rig.keys, {"default": client}, purposes,
                            name="w", clock=rig.clock, retry_base=0.01)
    await worker.drain()
    statuses = await rig.statuses()
    assert statuses[first] == ("sent", "subscribe")
    assert statuses[second][0] == "pending"  # the one-time consent was used up
    assert len(rig.state.subscribe_sent.get("oJ", [])) == 1


async def test_through_the_edge_window_report_and_consent(
    rig: Rig, aiohttp_client: Any, make_settings: Any, database_url: str
) -> None:
    """The bot records the window when the user writes, the delivery report and the consent
    when WeChat posts them; the worker acts on all three."""
    from bot.app import create_app
    from tests.test_edge import SIGNER, reply_text
    from tests.wechat import text_xml

    bot = await aiohttp_client(create_app(make_settings(database_url=database_url,
                                                        wechat_api_base=rig.base),
                                          store=rig.store))

    async def deliver(xml: str) -> str:
        signed = SIGNER.sign(xml)
        resp = await bot.post("/wechat", params=signed.params, data=signed.body)
        assert resp.status == 200
        return str(await resp.text())

    rig.state.follow(APP_ID, "oK")
    rig.state.saw_message(APP_ID, "oK")
    assert "没有看懂" in reply_text(await deliver(text_xml("oK", "今天天气怎么样")))
    first = await rig.push("oK", "您的留言已受理")
    await rig.worker().drain()
    assert customs(rig.state, "oK") == ["您的留言已受理"]  # the edge opened the window

    rig.clock.now += 49 * 3600
    rig.state.users[(APP_ID, "oK")].last_message_at = rig.clock.now - 49 * 3600
    await rig.store.delete(rig.keys.window("default", "oK", "message"))
    second = await rig.push("oK", "已办结")
    await rig.worker().drain()
    (sent,) = templates(rig.state, "oK")
    pushed = await rig.outbox.get(second)
    assert pushed is not None
    assert pushed.template_msgid is not None
    report = (
        f"<xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>oK</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>event</MsgType>"
        f"<Event>TEMPLATESENDJOBFINISH</Event><MsgID>{pushed.template_msgid}</MsgID>"
        f"<Status>success</Status></xml>"
    )
    assert await deliver(report) == "success"
    delivered = await rig.outbox.get(second)
    assert delivered is not None
    assert delivered.status == "delivered"
    assert (await rig.outbox.get(first)).status == "sent"  # type: ignore[union-attr]
    assert sent

    popup = (
        f"<xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>oK</FromUserName>"
        f"<CreateTime>{int(time.time()) + 1}</CreateTime><MsgType>event</MsgType>"
        "<Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent>"
        "<List><TemplateId>SUB_TICKET_STATUS</TemplateId>"
        "<SubscribeStatusString>accept</SubscribeStatusString><PopupScene>2</PopupScene></List>"
        "<List><TemplateId>SUB_SURVEY</TemplateId>"
        "<SubscribeStatusString>reject</SubscribeStatusString><PopupScene>2</PopupScene></List>"
        "</SubscribeMsgPopupEvent></xml>"
    )
    assert await deliver(popup) == "success"
    assert await rig.store.get(rig.keys.consent("default", "oK", "SUB_TICKET_STATUS")) == 1
    assert await rig.store.get(rig.keys.consent("default", "oK", "SUB_SURVEY")) is None


async def test_two_workers_on_postgres_never_double_send(postgres_url: str) -> None:
    engine = db.make_engine(postgres_url)
    clock = Clock()
    account = Account("default", TOKEN, APP_ID, APP_SECRET, None, "http://unused")
    state = PlatformState([account], clock=clock)
    app = create_api_app([account], state=state)
    server = TestServer(app)
    await server.start_server()
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM pushes"))
        store = MemoryStore()  # shared, as Redis is between processes
        async with aiohttp.ClientSession() as session:
            rig = Rig(state, Outbox(engine), store, KeyBuilder(), clock, session,
                      str(server.make_url("")).rstrip("/"))
            users = [f"oW{i}" for i in range(8)]
            for user in users:
                state.follow(APP_ID, user)
                await rig.user_writes(user)
            for i in range(6):
                for user in users:
                    await rig.outbox.add(account="default", openid=user, purpose="reply",
                                         text=f"{user}-{i}")
            state.inject_fault(6, hang=0.3)  # slow answers widen the race
            one, two = rig.worker("w1", batch=3), rig.worker("w2", batch=3)
            for _ in range(100):
                await asyncio.gather(one.run_once(), two.run_once())
                if await rig.outbox.counts() == {"sent": 40, "pending": 8}:
                    break
        for user in users:
            sends = customs(state, user)
            expected = [f"{user}-{i}" for i in range(6)]
            assert sends[:5] == expected[:5]  # quota: 5 per message, the 6th waits
            assert len(sends) == len(set(sends))
        counts = await rig.outbox.counts()
        assert counts == {"sent": 40, "pending": 8}
    finally:
        await server.close()
        await engine.dispose()


async def test_without_an_in_process_worker_late_replies_wait_for_the_scheduler(
    rig: Rig, aiohttp_client: Any, make_settings: Any, database_url: str
) -> None:
    """Production (`lianxin scheduler` apart): `serve` queues the late reply and sends
    nothing itself; the scheduler's worker delivers it."""
    from bot.app import create_app
    from tests.test_edge import SIGNER, Echo
    from tests.wechat import text_xml

    rig.state.follow(APP_ID, "oL")
    rig.state.saw_message(APP_ID, "oL")
    bot = await aiohttp_client(create_app(
        make_settings(database_url=database_url, wechat_api_base=rig.base, reply_budget=0.1,
                      deliver_in_process=False),
        store=rig.store, handler_factory=lambda app: Echo(delay=0.3)))
    signed = SIGNER.sign(text_xml("oL", "慢回复"))
    resp = await bot.post("/wechat", params=signed.params, data=signed.body)
    assert await resp.text() == "success"
    for _ in range(100):
        if await rig.outbox.list():
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    (queued,) = await rig.outbox.list()
    assert (queued.purpose, queued.text, queued.status, queued.attempts) == (
        "reply", "慢回复", "queued", 0)
    assert rig.state.calls == {}  # serve itself never called the API
    await rig.worker().drain()
    assert customs(rig.state, "oL") == ["慢回复"]


# -- one user's queue at once (the fast path for late replies) --------------------------


async def test_deliver_user_sends_that_users_queue_now_and_wakes_what_waits_for_them(
    rig: Rig,
) -> None:
    for user in ("oM", "oN"):
        rig.state.follow(APP_ID, user)
    waiting = await rig.push("oM", "早先的回复", purpose="reply")  # the user has not written
    worker = rig.worker()
    await worker.drain()
    assert (await rig.statuses())[waiting] == ("pending", None)
    other = await rig.push("oN", "别人的", purpose="reply")
    await rig.user_writes("oM")
    await rig.outbox.add_replies(account="default", openid="oM",
                                 outbounds=[Outbound.of_text("新的回复")])
    assert await worker.deliver_user("default", "oM") == 2
    assert customs(rig.state, "oM") == ["早先的回复", "新的回复"]  # no 5 s wait, in order
    assert (await rig.statuses())[other] == ("queued", None)  # only that user's


async def test_deliver_user_leaves_a_head_in_backoff_and_what_is_behind_it(rig: Rig) -> None:
    rig.state.follow(APP_ID, "oO")
    await rig.user_writes("oO")
    first = await rig.push("oO", "一", purpose="reply")
    rig.state.inject_fault(1, errcode=-1, path="/cgi-bin/message/custom/send")
    worker = rig.worker(retry_base=60.0)
    assert await worker.deliver_user("default", "oO") == 1
    await rig.push("oO", "二", purpose="reply")
    assert await worker.deliver_user("default", "oO") == 0  # "一" is due in a minute
    assert customs(rig.state, "oO") == []
    assert (await rig.statuses())[first] == ("queued", None)


async def test_a_round_goes_on_with_a_users_next_push_after_a_settled_late_reply(
    rig: Rig,
) -> None:
    """One message's late answers go out in one round, not one a second; other pushes
    (a bulk of status updates) one head per user and round, as before."""
    rig.state.follow(APP_ID, "oP")
    await rig.user_writes("oP")
    await rig.outbox.add_replies(account="default", openid="oP", outbounds=[
        Outbound.of_text(label) for label in ("一", "二", "三")])
    await rig.push("oP", "状态更新")
    await rig.push("oP", "再一条")
    worker = rig.worker()
    assert await worker.run_once() == 1  # one head claimed …
    assert customs(rig.state, "oP") == ["一", "二", "三", "状态更新"]  # … and the rest
    assert await worker.run_once() == 1
    assert customs(rig.state, "oP") == ["一", "二", "三", "状态更新", "再一条"]


async def test_image_and_news_pushes_go_by_customer_service(rig: Rig) -> None:
    from domain.messages import Article

    rig.state.follow(APP_ID, "oQ")
    await rig.user_writes("oQ")
    rig.state.add_media("MEDIA_Q", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png")
    ids = await rig.outbox.add_replies(account="default", openid="oQ", outbounds=[
        Outbound.of_image("MEDIA_Q"), Outbound.of_news(Article("指南", url="https://e.org")),
        Outbound.of_news(Article("一"), Article("二")), Outbound.of_text("完")])
    await rig.worker().drain()
    sent = rig.state.sent["oQ"]
    assert [m["msgtype"] for m in sent] == ["image", "news", "text"]
    assert sent[0]["image"]["media_id"] == "MEDIA_Q"
    assert sent[1]["news"]["articles"][0]["title"] == "指南"
    statuses = await rig.statuses()
    assert [statuses[i][0] for i in ids] == ["sent", "sent", "failed", "sent"]
    failed = await rig.outbox.get(ids[2])
    assert failed is not None
    assert "news.articles" in (failed.reason or "")  # one card per message since 2018


async def test_the_platforms_errmsg_is_kept_bounded_and_clean_in_the_reason(rig: Rig) -> None:
    """Issue 9 point 17: the errcode stays; no control characters, no URL query, no token,
    no endless text."""
    rig.state.follow(APP_ID, "oR")
    await rig.user_writes("oR")
    push = await rig.push("oR", "x", purpose="reply")
    account = Account("default", TOKEN, APP_ID, APP_SECRET, None, rig.base)
    token = await WeChatClient(rig.session, account, rig.store, rig.keys).access_token()
    rig.state.inject_fault(1, errcode=40003, path="/cgi-bin/message/custom/send", errmsg=(
        "invalid openid\x1b[2J\r\nhint: see https://api.weixin.qq.com/cgi-bin/message/custom/"
        f"send?access_token={token}&x=1 access_token={token[:30]} secret={APP_SECRET} "
        "\u202e" + "长" * 5000))
    await rig.worker().drain()
    failed = await rig.outbox.get(push)
    assert failed is not None
    reason = failed.reason or ""
    assert failed.status == "failed"
    assert reason.startswith("custom: errcode 40003: invalid openid hint: see "
                             "https://api.weixin.qq.com/cgi-bin/message/custom/send?… ")
    assert token not in reason
    assert token[:30] not in reason
    assert APP_SECRET not in reason
    assert "access_token=" not in reason.replace("access_token=***", "")
    assert not any(ord(c) < 32 or c == "\u202e" for c in reason)
    assert len(reason) <= 300
