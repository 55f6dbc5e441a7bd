"""The async API client against the dev platform's API side (our recording WeChat)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import BodyPartReader, web
from aiohttp.test_utils import TestServer

from bot.config import Account
from bot.wechat.api import (
    APIUnauthorized,
    APIUnreachable,
    ArgumentInvalid,
    ArticleLimit,
    BadCredentials,
    InvalidUser,
    MediaInvalid,
    MenuInvalid,
    MinuteQuota,
    NotFollowing,
    QuotaExceeded,
    SubscriptionRefused,
    SystemBusy,
    TemplateInvalid,
    TokenInvalid,
    UserInfo,
    WeChatAPIError,
    WeChatClient,
    WindowClosed,
    clean_errmsg,
    error_for,
)
from bot.wechat.fields import FieldError
from devplatform.api import PLATFORM, create_api_app
from devplatform.state import PlatformState
from domain.messages import Article, Outbound
from storage.base import Store
from storage.keys import KeyBuilder
from storage.memory import MemoryStore
from tests.conftest import APP_ID, APP_SECRET, TOKEN

USER = "oCitizen0000000000000000001"


def account(base: str, secret: str = APP_SECRET) -> Account:
    return Account("default", TOKEN, APP_ID, secret, None, base)


@pytest.fixture
async def platform() -> AsyncIterator[tuple[str, PlatformState]]:
    app = create_api_app([account("http://unused")])
    server = TestServer(app)
    await server.start_server()
    state = app[PLATFORM]
    state.follow(APP_ID, USER)
    yield str(server.make_url("")).rstrip("/"), state
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


async def test_send_text_image_news_are_recorded(
    platform: tuple[str, PlatformState], session: aiohttp.ClientSession
) -> None:
    base, state = platform
    client = WeChatClient(session, account(base), MemoryStore(), KeyBuilder())
    await client.send(USER, Outbound.of_text("您的留言已受理"))
    await client.send(USER, Outbound.of_image("MEDIA_ID_1"))
    await client.send(USER, Outbound.of_news(Article("办理结果", "点击查看", "https://e.org/t/1")))
    sent = state.sent[USER]
    assert [m["msgtype"] for m in sent] == ["text", "image", "news"]
    assert sent[0]["text"]["content"] == "您的留言已受理"
    assert state.token_calls == 1  # the token was fetched once and reused


async def test_unknown_user_and_bad_secret_are_typed_errors(
    platform: tuple[str, PlatformState], session: aiohttp.ClientSession
) -> None:
    base, _ = platform
    client = WeChatClient(session, account(base), MemoryStore(), KeyBuilder())
    with pytest.raises(InvalidUser) as caught:
        await client.send_text("oNobody", "hi")
    assert caught.value.errcode == 40003
    wrong = WeChatClient(session, account(base, secret="wrong"), MemoryStore(), KeyBuilder())
    with pytest.raises(BadCredentials) as bad:
        await wrong.send_text(USER, "hi")
    assert bad.value.errcode == 40125


@pytest.mark.parametrize("how", ["expire", "invalidate"])
async def test_dead_token_is_refreshed_once_and_call_retried(
    platform: tuple[str, PlatformState], session: aiohttp.ClientSession, how: str
) -> None:
    base, state = platform
    store = MemoryStore()
    client = WeChatClient(session, account(base), store, KeyBuilder())
    await client.send_text(USER, "one")
    # the platform kills the token while our store still believes in it
    (state.expire_tokens if how == "expire" else state.invalidate_tokens)(APP_ID)
    await client.send_text(USER, "two")
    assert [m["text"]["content"] for m in state.sent[USER]] == ["one", "two"]
    assert state.token_calls == 2


async def test_token_still_refused_after_refresh_fails_the_call(
    session: aiohttp.ClientSession,
) -> None:
    calls = {"token": 0, "send": 0}

    async def stable_token(request: web.Request) -> web.Response:
        calls["token"] += 1
        return web.json_response({"access_token": f"T{calls['token']}", "expires_in": 7200})

    async def send(request: web.Request) -> web.Response:
        calls["send"] += 1
        return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})

    app = web.Application()
    app.router.add_post("/cgi-bin/stable_token", stable_token)
    app.router.add_post("/cgi-bin/message/custom/send", send)
    server = TestServer(app)
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        client = WeChatClient(session, account(base), MemoryStore(), KeyBuilder())
        with pytest.raises(TokenInvalid) as caught:
            await client.send_text(USER, "hi")
        assert caught.value.errcode == 40001
        assert calls == {"token": 2, "send": 2}  # refresh once, retry once, then give up
    finally:
        await server.close()


async def test_hanging_api_times_out_as_unreachable(session: aiohttp.ClientSession) -> None:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/cgi-bin/stable_token", hang)
    server = TestServer(app)
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        client = WeChatClient(session, account(base), MemoryStore(), KeyBuilder(), timeout=0.2)
        started = time.monotonic()
        with pytest.raises(APIUnreachable) as caught:
            await client.send_text(USER, "hi")
        assert time.monotonic() - started < 2
        assert caught.value.errcode < 0
    finally:
        await server.close()


async def test_unreachable_api_is_a_typed_error(session: aiohttp.ClientSession) -> None:
    from tests.servers import free_port

    client = WeChatClient(session, account(f"http://127.0.0.1:{free_port()}"), MemoryStore(),
                          KeyBuilder(), timeout=2)
    with pytest.raises(APIUnreachable):
        await client.access_token()


CUSTOM = "/cgi-bin/message/custom/send"


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 502}, {"hang": 1.0},
                                   {"drop": True}])
async def test_an_answer_lost_or_5xx_is_an_unknown_outcome(
    platform: tuple[str, PlatformState], session: aiohttp.ClientSession, fault: dict[str, Any]
) -> None:
    """HTTP 5xx is like a timeout or a dropped connection: the send may have happened."""
    base, state = platform
    client = WeChatClient(session, account(base), MemoryStore(), KeyBuilder(), timeout=0.5)
    await client.access_token()
    state.inject_fault(1, path=CUSTOM, **fault)
    with pytest.raises(APIUnreachable) as caught:
        await client.send_text(USER, "hi")
    assert caught.value.may_have_arrived
    assert caught.value.errcode == -2
    if "status" in fault:
        assert caught.value.errmsg == f"HTTP {fault['status']} from {CUSTOM}"


@pytest.mark.parametrize("fault", [{"status": 500}, {"hang": 1.0}, {"drop": True}])
async def test_a_call_whose_token_could_not_be_had_was_never_made(
    platform: tuple[str, PlatformState], session: aiohttp.ClientSession, fault: dict[str, Any]
) -> None:
    """The token call's outcome is unknown, but the message was never sent: safe to retry."""
    base, state = platform
    client = WeChatClient(session, account(base), MemoryStore(), KeyBuilder(), timeout=0.5)
    state.inject_fault(1, path="/cgi-bin/stable_token", **fault)
    with pytest.raises(APIUnreachable) as caught:
        await client.send_text(USER, "hi")
    assert not caught.value.may_have_arrived
    assert caught.value.errmsg.startswith("token: ")
    assert state.calls.get(CUSTOM) is None
    await client.send_text(USER, "hi")  # and the next try goes through
    assert [m["text"]["content"] for m in state.sent[USER]] == ["hi"]


@pytest.mark.parametrize(("raw", "clean"), [
    ("invalid openid rid: 6412a1b2-5d3c1e2f-0a1b2c3d",
     "invalid openid rid: 6412a1b2-5d3c1e2f-0a1b2c3d"),
    ("argument invalid! data.thing1.value invalid", "argument invalid! data.thing1.value invalid"),
    ("bad\x00\x07 line\r\nbreak\x1b[31m red\u202e\u2028", "bad line break red"),
    ("see https://api.weixin.qq.com/cgi-bin/token?grant_type=x&secret=abc#f now",
     "see https://api.weixin.qq.com/cgi-bin/token?… now"),
    ("access_token=ABC.def-1 and secret: xyz, Token = 42", "access_token=*** and secret: ***, "
     "Token = ***"),
    ("token " + "A1b2_" * 30 + " end", "token *** end"),
    ("长" * 500, "长" * 199 + "…"),
    (12345, "12345"),
])
def test_errmsg_is_cleaned_and_bounded(raw: object, clean: str) -> None:
    assert clean_errmsg(raw) == clean
    assert clean_errmsg(clean) == clean  # cleaning twice changes nothing
    assert error_for(40003, str(raw)).errmsg == clean


async def test_the_platforms_errmsg_never_carries_our_token_or_secret(
    platform: tuple[str, PlatformState], session: aiohttp.ClientSession
) -> None:
    base, state = platform
    client = WeChatClient(session, account(base), MemoryStore(), KeyBuilder())
    token = await client.access_token()
    state.inject_fault(1, path=CUSTOM, errcode=40003,
                       errmsg=f"invalid openid {token} {APP_SECRET}")
    with pytest.raises(InvalidUser) as caught:
        await client.send_text(USER, "hi")
    assert caught.value.errmsg == "invalid openid *** ***"
    assert token not in str(caught.value)


async def test_many_sends_in_two_processes_share_one_token_fetch(
    platform: tuple[str, PlatformState], store: Store
) -> None:
    """Two workers (own HTTP sessions, one shared store) and an expired token: one fetch."""
    base, state = platform
    keys = KeyBuilder()
    await store.set(keys.token(APP_ID), {"access_token": "old", "expires_at": time.time() - 1})
    async with aiohttp.ClientSession() as s1, aiohttp.ClientSession() as s2:
        workers = [WeChatClient(s, account(base), store, keys) for s in (s1, s2)]
        await asyncio.gather(*(
            workers[i % 2].send_text(USER, f"m{i}") for i in range(50)
        ))
    assert state.token_calls == 1
    assert len(state.sent[USER]) == 50



# -- the rest of the API, against a recording fake of our own ---------------------------------


@dataclass
class Seen:
    """One API request the fake received (token calls are only counted)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any = None
    parts: list[tuple[str | None, str | None, str | None, bytes]] = field(default_factory=list)


class FakeWeChat:
    """Issues tokens, refuses stale ones with 40001, records every other request and answers
    from ``replies[path]`` (a queue; ``{"errcode": 0}`` once it is empty)."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.token_calls = 0
        self.valid: set[str] = set()
        self.replies: dict[str, list[dict[str, Any]]] = {}
        self.msgid = 3_400_000_000_000_000_000

    def answer(self, path: str, *replies: dict[str, Any]) -> None:
        self.replies.setdefault(path, []).extend(replies)

    def invalidate(self) -> None:
        self.valid.clear()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/cgi-bin/stable_token", self._token)
        app.router.add_route("*", "/cgi-bin/{tail:.*}", self._api)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        await asyncio.sleep(0.01)  # a real round trip, so concurrent callers overlap
        token = f"T{self.token_calls}"
        self.valid.add(token)
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def _api(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") not in self.valid:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        seen = Seen(request.method, request.path, dict(request.query))
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                assert isinstance(part, BodyPartReader)
                seen.parts.append((part.name, part.filename,
                                   part.headers.get("Content-Type"), await part.read()))
        elif request.can_read_body:
            seen.body = json.loads(await request.read())
        self.seen.append(seen)
        queued = self.replies.get(request.path)
        if queued:
            return web.json_response(queued.pop(0))
        if request.path == "/cgi-bin/message/template/send":
            self.msgid += 1
            return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": self.msgid})
        return web.json_response({"errcode": 0, "errmsg": "ok"})


@pytest.fixture
async def fake() -> AsyncIterator[tuple[str, FakeWeChat]]:
    wechat = FakeWeChat()
    server = TestServer(wechat.app())
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), wechat
    await server.close()


@pytest.fixture
def client(
    fake: tuple[str, FakeWeChat], session: aiohttp.ClientSession
) -> WeChatClient:
    return WeChatClient(session, account(fake[0]), MemoryStore(), KeyBuilder())


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
TEMPLATE = "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY"
DATA = {"thing1": "县政务服务中心", "character_string2": "LX-2024-0001",
        "time3": "2024年5月1日 15:01"}


async def test_image_and_news_bodies(
    client: WeChatClient, fake: tuple[str, FakeWeChat]
) -> None:
    _, wechat = fake
    await client.send_image(USER, "MEDIA_1")
    await client.send_news(USER, Article("办理结果", "点击查看", "https://e.org/t/1",
                                         "https://e.org/p.png"))
    await client.send(USER, Outbound.of_image("MEDIA_2"))
    assert [(s.method, s.path) for s in wechat.seen] == [
        ("POST", "/cgi-bin/message/custom/send")] * 3
    assert [s.body for s in wechat.seen] == [
        {"touser": USER, "msgtype": "image", "image": {"media_id": "MEDIA_1"}},
        {"touser": USER, "msgtype": "news", "news": {"articles": [
            {"title": "办理结果", "description": "点击查看", "url": "https://e.org/t/1",
             "picurl": "https://e.org/p.png"}]}},
        {"touser": USER, "msgtype": "image", "image": {"media_id": "MEDIA_2"}},
    ]


async def test_template_body_and_msgid(
    client: WeChatClient, fake: tuple[str, FakeWeChat]
) -> None:
    _, wechat = fake
    first = await client.send_template(USER, TEMPLATE, DATA, client_msg_id="ticket-7-replied",
                                       url="https://e.org/t/7")
    assert first == 3_400_000_000_000_000_001  # int64, kept exact
    wechat.answer("/cgi-bin/message/template/send",
                  {"errcode": 0, "errmsg": "ok", "msgid": "3400000000000000123"})
    assert await client.send_template(USER, TEMPLATE, DATA, client_msg_id="m2") == (
        3_400_000_000_000_000_123)
    assert wechat.seen[0].path == "/cgi-bin/message/template/send"
    assert wechat.seen[0].body == {
        "touser": USER, "template_id": TEMPLATE, "client_msg_id": "ticket-7-replied",
        "url": "https://e.org/t/7",
        "data": {"thing1": {"value": "县政务服务中心"},
                 "character_string2": {"value": "LX-2024-0001"},
                 "time3": {"value": "2024年5月1日 15:01"}},
    }
    assert "url" not in wechat.seen[1].body


async def test_template_answer_without_msgid_is_an_error(
    client: WeChatClient, fake: tuple[str, FakeWeChat]
) -> None:
    fake[1].answer("/cgi-bin/message/template/send", {"errcode": 0, "errmsg": "ok"})
    with pytest.raises(APIUnreachable, match="msgid"):
        await client.send_template(USER, TEMPLATE, DATA, client_msg_id="m1")


async def test_subscribe_body(client: WeChatClient, fake: tuple[str, FakeWeChat]) -> None:
    _, wechat = fake
    await client.send_subscribe(USER, "TPL", {"name1": "张三", "thing8": "已受理"},
                                page="https://e.org/t/7")
    await client.send_subscribe(USER, "TPL", {"thing8": "已办结"})
    assert [(s.method, s.path) for s in wechat.seen] == [
        ("POST", "/cgi-bin/message/subscribe/bizsend")] * 2
    assert wechat.seen[0].body == {
        "touser": USER, "template_id": "TPL", "page": "https://e.org/t/7",
        "data": {"name1": {"value": "张三"}, "thing8": {"value": "已受理"}},
    }
    assert wechat.seen[1].body == {"touser": USER, "template_id": "TPL",
                                   "data": {"thing8": {"value": "已办结"}}}


async def test_upload_media_is_multipart_and_survives_a_token_retry(
    client: WeChatClient, fake: tuple[str, FakeWeChat]
) -> None:
    _, wechat = fake
    wechat.answer("/cgi-bin/media/upload",
                  {"type": "image", "media_id": "M1", "created_at": 1672500000},
                  {"errcode": 0, "errmsg": "ok", "type": "image", "media_id": "M2",
                   "created_at": 1672500001})
    assert await client.upload_media("image", "photo.png", PNG, "image/png") == "M1"
    upload = wechat.seen[0]
    assert (upload.method, upload.path, upload.query["type"]) == (
        "POST", "/cgi-bin/media/upload", "image")
    assert upload.parts == [("media", "photo.png", "image/png", PNG)]
    # the token dies; the refused upload is sent again, whole, with the new token
    wechat.invalidate()
    assert await client.upload_media("image", "photo.png", PNG, "image/png") == "M2"
    assert wechat.seen[1].parts == [("media", "photo.png", "image/png", PNG)]
    assert wechat.token_calls == 2


async def test_create_and_get_menu(client: WeChatClient, fake: tuple[str, FakeWeChat]) -> None:
    _, wechat = fake
    menu = {"button": [{"type": "click", "name": "我要反映", "key": "COMPLAINT"},
                       {"name": "我的", "sub_button": [
                           {"type": "click", "name": "使用说明", "key": "HELP"}]}]}
    await client.create_menu(menu)
    assert (wechat.seen[0].method, wechat.seen[0].path, wechat.seen[0].body) == (
        "POST", "/cgi-bin/menu/create", menu)
    wechat.answer("/cgi-bin/menu/get", {"menu": menu},
                  {"errcode": 46003, "errmsg": "menu no exist"})
    assert await client.get_menu() == menu
    assert await client.get_menu() == {}  # no menu yet
    assert [(s.method, s.path) for s in wechat.seen[1:]] == [("GET", "/cgi-bin/menu/get")] * 2


async def test_user_info(client: WeChatClient, fake: tuple[str, FakeWeChat]) -> None:
    _, wechat = fake
    wechat.answer("/cgi-bin/user/info", {
        "subscribe": 1, "openid": USER, "language": "zh_CN", "subscribe_time": 1382694957,
        "unionid": "o6_bmasdasdsad6_2sgVt7hMZOPfL", "remark": "", "groupid": 0,
        "tagid_list": [128, 2], "subscribe_scene": "ADD_SCENE_QR_CODE", "qr_scene": 98765,
        "qr_scene_str": "", "nickname": "", "headimgurl": "",
    }, {"subscribe": 0, "openid": "oGone", "tagid_list": []},
       {"subscribe": 1, "openid": USER, "subscribe_time": "soon", "tagid_list": "x"})
    info = await client.user_info(USER)
    assert info == UserInfo(
        openid=USER, subscribed=True, subscribe_time=1382694957,
        unionid="o6_bmasdasdsad6_2sgVt7hMZOPfL", remark="", groupid=0, tagid_list=(128, 2),
        subscribe_scene="ADD_SCENE_QR_CODE", qr_scene=98765, qr_scene_str="",
        language="zh_CN")
    assert wechat.seen[0].method == "GET"
    assert (wechat.seen[0].query["openid"], wechat.seen[0].query["lang"]) == (USER, "zh_CN")
    gone = await client.user_info("oGone", lang="en")
    assert (gone.subscribed, gone.subscribe_time, gone.unionid, gone.tagid_list) == (
        False, None, None, ())
    assert wechat.seen[1].query["lang"] == "en"
    odd = await client.user_info(USER)  # wrong types are dropped, not fatal
    assert (odd.subscribed, odd.subscribe_time, odd.tagid_list) == (True, None, ())


SENDS: dict[str, Callable[[WeChatClient], Awaitable[object]]] = {
    "text": lambda c: c.send_text(USER, "hi"),
    "news": lambda c: c.send_news(USER, Article("t")),
    "template": lambda c: c.send_template(USER, TEMPLATE, DATA, client_msg_id="m"),
    "subscribe": lambda c: c.send_subscribe(USER, "TPL", {"thing1": "x"}),
    "upload": lambda c: c.upload_media("image", "a.png", PNG, "image/png"),
    "menu": lambda c: c.create_menu({"button": [{"type": "click", "name": "a", "key": "K"}]}),
    "user": lambda c: c.user_info(USER),
}
PATHS = {
    "text": "/cgi-bin/message/custom/send", "news": "/cgi-bin/message/custom/send",
    "template": "/cgi-bin/message/template/send",
    "subscribe": "/cgi-bin/message/subscribe/bizsend", "upload": "/cgi-bin/media/upload",
    "menu": "/cgi-bin/menu/create", "user": "/cgi-bin/user/info",
}


@pytest.mark.parametrize(("send", "errcode", "errmsg", "error"), [
    ("template", 40037, "invalid template_id", TemplateInvalid),
    ("template", 40036, "invalid template_id size", TemplateInvalid),
    ("template", 43004, "require subscribe", NotFollowing),
    ("template", 43101, "user refuse to accept the msg", SubscriptionRefused),
    ("subscribe", 43101, "user refuse to accept the msg", SubscriptionRefused),
    ("subscribe", 47003, "argument invalid! data.thing1.value invalid rid: 1-2-3",
     ArgumentInvalid),
    ("template", 45009, "reach max api daily quota limit", QuotaExceeded),
    ("template", 45011, "api minute-quota reach limit  mustslower  retry next minute",
     MinuteQuota),
    ("user", 48001, "api unauthorized", APIUnauthorized),
    ("user", 40003, "invalid openid", InvalidUser),
    ("news", 45008, "article size out of limit", ArticleLimit),
    ("text", 45015, "response out of time limit or subscription is canceled", WindowClosed),
    ("text", 45047, "out of response count limit", QuotaExceeded),
    ("upload", 40004, "invalid media type", MediaInvalid),
    ("upload", 40005, "invalid file type", MediaInvalid),
    ("upload", 40006, "invalid meida size", MediaInvalid),
    ("upload", 40009, "invalid image size", MediaInvalid),
    ("upload", 41005, "media data missing", MediaInvalid),
    ("menu", 40016, "invalid button size", MenuInvalid),
    ("menu", 40018, "invalid button name size", MenuInvalid),
    ("menu", 40025, "invalid sub button name size", MenuInvalid),
    ("menu", 40027, "invalid sub button url size", MenuInvalid),
    ("menu", 41007, "missing submenu data", MenuInvalid),
    ("menu", 40055, "invalid button url domain", MenuInvalid),
    ("template", -1, "system error", SystemBusy),
    ("template", 99999, "something new", WeChatAPIError),
])
async def test_errcodes_are_typed_errors_and_not_retried(
    client: WeChatClient, fake: tuple[str, FakeWeChat], send: str, errcode: int, errmsg: str,
    error: type[WeChatAPIError],
) -> None:
    _, wechat = fake
    wechat.answer(PATHS[send], {"errcode": errcode, "errmsg": errmsg})
    with pytest.raises(WeChatAPIError) as caught:
        await SENDS[send](client)
    assert type(caught.value) is error
    assert (caught.value.errcode, caught.value.errmsg) == (errcode, errmsg)
    assert len(wechat.seen) == 1
    assert error_for(errcode, errmsg).__class__ is error
    if error is ArgumentInvalid:
        assert caught.value.field == "data.thing1.value"  # type: ignore[attr-defined]


def test_media_id_errors_are_media_invalid() -> None:
    assert isinstance(error_for(40007, "invalid media_id"), MediaInvalid)


@pytest.mark.parametrize(("send", "message"), [
    ("template_long", "data.thing1.value: thing: 21 characters, at most 20"),
    ("template_chinese_id", "data.character_string2.value: character_string:"),
    ("template_empty", "data.time3.value: is empty"),
    ("template_no_id", "client_msg_id: is empty"),
    ("subscribe_newline", "data.thing1.value: contains a line break"),
    ("subscribe_amount", "data.amount1.value: amount: 11 digits, at most 10"),
    ("two_articles", "news.articles: 2 articles, exactly 1 allowed"),
    ("bmp", "media: not PNG, JPEG or GIF"),
    ("big_image", "media: 2,097,416 bytes, at most 2,097,152 (2 MB) for image"),
    ("menu_name", "button[1].sub_button[0].name: 72 bytes, at most 60"),
    ("menu_four", "button: 4 buttons, 1 to 3 allowed"),
])
async def test_local_checks_fail_before_any_request(
    client: WeChatClient, fake: tuple[str, FakeWeChat], send: str, message: str
) -> None:
    _, wechat = fake
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "template_long": lambda: client.send_template(
            USER, TEMPLATE, {**DATA, "thing1": "一" * 21}, client_msg_id="m"),
        "template_chinese_id": lambda: client.send_template(
            USER, TEMPLATE, {**DATA, "character_string2": "受理号1"}, client_msg_id="m"),
        "template_empty": lambda: client.send_template(
            USER, TEMPLATE, {**DATA, "time3": ""}, client_msg_id="m"),
        "template_no_id": lambda: client.send_template(USER, TEMPLATE, DATA, client_msg_id=""),
        "subscribe_newline": lambda: client.send_subscribe(USER, "TPL", {"thing1": "a\nb"}),
        "subscribe_amount": lambda: client.send_subscribe(
            USER, "TPL", {"amount1": "¥12345678901"}),
        "two_articles": lambda: client.send(USER, Outbound.of_news(Article("a"), Article("b"))),
        "bmp": lambda: client.upload_media("image", "a.bmp", b"BM" + PNG, "image/bmp"),
        "big_image": lambda: client.upload_media(
            "image", "a.png", PNG + bytes(2 * 1024 * 1024), "image/png"),
        "menu_name": lambda: client.create_menu({"button": [
            {"type": "click", "name": "a", "key": "K"},
            {"name": "更多", "sub_button": [{"type": "click", "name": "一" * 24, "key": "K"}]},
        ]}),
        "menu_four": lambda: client.create_menu({"button": [
            {"type": "click", "name": str(i), "key": "K"} for i in range(4)]}),
    }
    with pytest.raises(FieldError) as caught:
        await calls[send]()
    assert str(caught.value).startswith(message)
    assert wechat.seen == []
    assert wechat.token_calls == 0  # not even a token was fetched


async def test_template_sends_in_two_processes_share_one_token_fetch(
    fake: tuple[str, FakeWeChat], store: Store
) -> None:
    """50 concurrent template sends, two workers sharing a store, a stale token: one fetch,
    and a token the platform has revoked is replaced once, not once per send."""
    base, wechat = fake
    keys = KeyBuilder()
    await store.set(keys.token(APP_ID), {"access_token": "old", "expires_at": time.time() - 1})
    async with aiohttp.ClientSession() as s1, aiohttp.ClientSession() as s2:
        workers = [WeChatClient(s, account(base), store, keys) for s in (s1, s2)]
        msgids = await asyncio.gather(*(
            workers[i % 2].send_template(USER, TEMPLATE, DATA, client_msg_id=f"m{i}")
            for i in range(50)
        ))
        assert wechat.token_calls == 1
        assert len(set(msgids)) == 50
        # the platform revokes the token while the store still holds it
        wechat.invalidate()
        await asyncio.gather(*(
            workers[i % 2].send_template(USER, TEMPLATE, DATA, client_msg_id=f"n{i}")
            for i in range(50)
        ))
    assert wechat.token_calls == 2
    sent = [s.body["client_msg_id"] for s in wechat.seen]
    assert sorted(sent) == sorted([f"m{i}" for i in range(50)] + [f"n{i}" for i in range(50)])
