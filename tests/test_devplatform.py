"""The dev platform: API error codes and tokens, the callback side against the real bot,
WeChat's retries, reading replies as WeChat does, and the chat endpoints."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.app import create_app, default_handler
from bot.config import DEFAULT_TEXTS, Account, Settings
from bot.wechat.api import BadCredentials, WeChatClient
from bot.wechat.codec import Crypto, Envelope, parse_xml, render_reply, to_inbound
from devplatform.api import PLATFORM, create_api_app
from devplatform.chat_commands import parse_line
from devplatform.cli import SHUTDOWN_TIMEOUT
from devplatform.identity import MsgIds, openid_for, original_id_for
from devplatform.messages import (
    build_click,
    build_image,
    build_location,
    build_subscribe,
    build_text,
    build_unsubscribe,
    build_voice,
)
from devplatform.replies import UNAVAILABLE_TEXT, read_reply
from devplatform.runner import Child, DevError, run_dev, stop, wait_healthy
from devplatform.server import create_platform_app
from devplatform.signing import sign_request, sign_verification
from devplatform.state import PlatformState
from devplatform.wechat_side import CallbackClient
from domain.messages import Article, Inbound, Outbound
from domain.texts import Texts
from handlers.context import StateContext
from storage import db
from storage.keys import KeyBuilder
from storage.memory import MemoryStore

TOKEN = "devTestToken42"
APP_ID = "wx00aa11bb22cc33dd"
SECRET = "0123456789abcdef0123456789abcdef"
AES_KEY = "GYhrSrRU3krhIn17DvJ5htF3zCJCLcOwuek91AQvPEw"
SAFE = Account("default", TOKEN, APP_ID, SECRET, AES_KEY, "http://127.0.0.1:9")
PLAIN = Account("plain", "plainToken7", "wx99ee88dd77cc66bb", "plain-secret", None,
                "http://127.0.0.1:9")
TEXTS = Texts.load(DEFAULT_TEXTS)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
HandlerFactory = Callable[[web.Application], Any]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


# -- helpers ------------------------------------------------------------------------------------


@asynccontextmanager
async def serving(app: web.Application, port: int | None = None) -> AsyncIterator[str]:
    server = TestServer(app, port=port) if port else TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def bot_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database for the real bot (follow events write citizens)."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('devplatform') / 'bot.db'}"
    db.upgrade(url)
    return url


def bot_settings(database_url: str, api_base: str, account: Account = SAFE) -> Settings:
    return Settings(
        wechat_token=account.token,
        wechat_app_id=account.app_id,
        wechat_app_secret=account.app_secret,  # type: ignore[arg-type]
        wechat_aes_key=account.aes_key,
        wechat_api_base=api_base,
        database_url=database_url,
        store_save_interval=0,  # one database for the session: keep no store beside it
    )


@asynccontextmanager
async def real_bot(database_url: str, api_base: str = "http://127.0.0.1:9",
                   account: Account = SAFE,
                   handler_factory: HandlerFactory | None = None,
                   redis_url: str | None = None) -> AsyncIterator[str]:
    """The bot app as ``lianxin serve`` builds it (on Redis, delivering its outbox
    itself, when ``redis_url`` is given); yields its callback URL."""
    settings = bot_settings(database_url, api_base, account)
    if redis_url is not None:
        settings = settings.model_copy(update={"redis_url": redis_url,
                                               "deliver_in_process": True})
    bound = replace(account, name="default", api_base=api_base)
    app = create_app(settings, accounts=[bound],
                     handler_factory=handler_factory or default_handler)
    async with serving(app) as url:
        yield url + "/wechat"


@dataclass
class Stack:
    platform: str
    state: PlatformState
    session: aiohttp.ClientSession
    bot: str = ""  # the bot's callback URL


@asynccontextmanager
async def stack(database_url: str, handler_factory: HandlerFactory | None = None,
                redis_url: str | None = None, **platform_options: Any) -> AsyncIterator[Stack]:
    """The dev platform and the real bot, pointing at each other."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with real_bot(database_url, base, handler_factory=handler_factory,
                        redis_url=redis_url) as callback:
        app = create_platform_app([replace(SAFE, api_base=base)], {"default": callback},
                                  **platform_options)
        async with serving(app, port) as url, aiohttp.ClientSession() as session:
            yield Stack(url, app[PLATFORM], session, callback)


class TwoReplies:
    """Answers every message with two texts: the first goes passive, the second is pushed."""

    async def __call__(self, inbound: Inbound, state: StateContext) -> list[Outbound]:
        return [Outbound.of_text(f"收到：{inbound.text}"), Outbound.of_text("稍后推送的消息")]


def two_replies(app: web.Application) -> TwoReplies:
    return TwoReplies()


@pytest.fixture
async def api(aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_api_app([SAFE, PLAIN]))


@pytest.fixture
async def clocked_api(aiohttp_client: Any) -> tuple[Any, Clock]:
    clock = Clock()
    state = PlatformState([SAFE], clock=clock)
    state.saw_message(APP_ID, "oUser")  # oUser wrote: the customer-service window is open
    return await aiohttp_client(create_api_app([SAFE], state=state)), clock


async def stable(client: Any, *, force: bool = False, secret: str = SECRET) -> dict[str, Any]:
    resp = await client.post("/cgi-bin/stable_token", json={
        "grant_type": "client_credential", "appid": APP_ID, "secret": secret,
        "force_refresh": force})
    assert resp.status == 200
    answer: dict[str, Any] = await resp.json()
    return answer


async def send_text(client: Any, token: str, openid: str, text: str = "你好") -> int:
    resp = await client.post("/cgi-bin/message/custom/send", params={"access_token": token},
                             json={"touser": openid, "msgtype": "text",
                                   "text": {"content": text}})
    code: int = (await resp.json())["errcode"]
    return code


# -- API side: tokens ------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "errcode"), [
    (b"", 44002),
    (b"   ", 44002),
    (b"{not json", 47001),
    (b"[1, 2]", 47001),
    (b'{"grant_type": "password", "appid": "wx00aa11bb22cc33dd", "secret": "x"}', 40002),
    (b'{"grant_type": "client_credential", "secret": "x"}', 41002),
    (b'{"grant_type": "client_credential", "appid": "wx00aa11bb22cc33dd"}', 41004),
    (b'{"grant_type": "client_credential", "appid": "wxnobody", "secret": "x"}', 40013),
    (b'{"grant_type": "client_credential", "appid": "wx00aa11bb22cc33dd", "secret": "x"}',
     40125),
    (b'{"grant_type": "client_credential", "appid": "wx00aa11bb22cc33dd", '
     b'"secret": "0123456789abcdef0123456789abcdef", "force_refresh": "yes"}', 47001),
])
async def test_stable_token_refuses_with_wechat_error_codes(
    api: Any, body: bytes, errcode: int
) -> None:
    resp = await api.post("/cgi-bin/stable_token", data=body)
    assert resp.status == 200  # WeChat answers errors with HTTP 200 and a JSON errcode
    answer = await resp.json()
    assert answer["errcode"] == errcode
    assert "access_token" not in answer
    assert api.app[PLATFORM].token_calls == 1
    assert api.app[PLATFORM].tokens_issued == 0


@pytest.mark.parametrize(("query", "errcode"), [
    ({"appid": APP_ID, "secret": SECRET}, 40002),
    ({"grant_type": "client_credential", "secret": SECRET}, 41002),
    ({"grant_type": "client_credential", "appid": APP_ID}, 41004),
    ({"grant_type": "client_credential", "appid": "wxnobody", "secret": SECRET}, 40013),
    ({"grant_type": "client_credential", "appid": APP_ID, "secret": "wrong"}, 40125),
    ({"grant_type": "client_credential", "appid": APP_ID, "secret": PLAIN.app_secret}, 40125),
])
async def test_classic_token_refuses_with_wechat_error_codes(
    api: Any, query: dict[str, str], errcode: int
) -> None:
    answer = await (await api.get("/cgi-bin/token", params=query)).json()
    assert answer["errcode"] == errcode
    assert answer["errmsg"].split(" rid: ")[0] in {
        "invalid grant_type", "appid missing", "appsecret missing", "invalid appid",
        "invalid appsecret"}


async def test_stable_token_normal_mode_returns_the_current_token(api: Any) -> None:
    first, second = await stable(api), await stable(api)
    assert first["access_token"] == second["access_token"]
    assert 7195 <= second["expires_in"] <= 7200
    assert api.app[PLATFORM].token_calls == 2
    assert api.app[PLATFORM].tokens_issued == 1
    other = await (await api.post("/cgi-bin/stable_token", json={
        "grant_type": "client_credential", "appid": PLAIN.app_id,
        "secret": PLAIN.app_secret})).json()
    assert other["access_token"] != first["access_token"]  # each account has its own


async def test_force_refresh_revokes_the_previous_token_at_most_every_30_s(
    clocked_api: tuple[Any, Clock]
) -> None:
    api, clock = clocked_api
    api.app[PLATFORM].follow(APP_ID, "oUser")
    old = (await stable(api))["access_token"]
    new = (await stable(api, force=True))["access_token"]
    assert new != old
    assert await send_text(api, old, "oUser") == 40001
    assert await send_text(api, new, "oUser") == 0
    clock.now += 10
    assert (await stable(api, force=True))["access_token"] == new  # too soon: no refresh
    clock.now += 25
    newer = (await stable(api, force=True))["access_token"]
    assert newer != new
    assert await send_text(api, new, "oUser") == 40001


async def test_normal_mode_renews_in_the_last_five_minutes_and_old_stays_valid(
    clocked_api: tuple[Any, Clock]
) -> None:
    api, clock = clocked_api
    api.app[PLATFORM].follow(APP_ID, "oUser")
    first = await stable(api)
    clock.now += 7200 - 299
    second = await stable(api)
    assert second["access_token"] != first["access_token"]
    assert second["expires_in"] == 7200
    assert await send_text(api, first["access_token"], "oUser") == 0  # until it expires
    clock.now += 300
    assert await send_text(api, first["access_token"], "oUser") == 42001
    assert await send_text(api, second["access_token"], "oUser") == 0


async def test_classic_token_keeps_the_previous_one_five_minutes(
    clocked_api: tuple[Any, Clock]
) -> None:
    api, clock = clocked_api
    api.app[PLATFORM].follow(APP_ID, "oUser")
    query = {"grant_type": "client_credential", "appid": APP_ID, "secret": SECRET}
    first = await (await api.get("/cgi-bin/token", params=query)).json()
    second = await (await api.get("/cgi-bin/token", params=query)).json()
    assert first["access_token"] != second["access_token"]
    assert first["expires_in"] == 7200
    assert await send_text(api, first["access_token"], "oUser") == 0
    clock.now += 301
    assert await send_text(api, first["access_token"], "oUser") == 42001
    assert await send_text(api, second["access_token"], "oUser") == 0
    assert (await stable(api))["access_token"] not in {first["access_token"],
                                                     second["access_token"]}


async def test_test_hooks_expire_and_invalidate_an_apps_tokens(api: Any) -> None:
    state = api.app[PLATFORM]
    state.follow(APP_ID, "oUser")
    token = (await stable(api))["access_token"]
    state.expire_tokens(APP_ID)
    assert await send_text(api, token, "oUser") == 42001
    fresh = (await stable(api))["access_token"]
    assert fresh != token
    assert await send_text(api, fresh, "oUser") == 0
    state.invalidate_tokens(APP_ID)
    assert await send_text(api, fresh, "oUser") == 40001


async def test_the_bots_client_refreshes_once_after_40001_and_42001(api: Any) -> None:
    state = api.app[PLATFORM]
    state.follow(APP_ID, "oUser")
    account = replace(SAFE, api_base=str(api.make_url("")).rstrip("/"))
    async with aiohttp.ClientSession() as session:
        client = WeChatClient(session, account, MemoryStore(), KeyBuilder())
        await client.send_text("oUser", "第一条")
        state.invalidate_tokens(APP_ID)
        await client.send_text("oUser", "第二条")
        state.expire_tokens(APP_ID)
        await client.send_text("oUser", "第三条")
        assert state.token_calls == 3
        assert [m["text"]["content"] for m in state.sent["oUser"]] == ["第一条", "第二条", "第三条"]
        broken = WeChatClient(session, replace(account, app_secret="wrong"), MemoryStore(),
                              KeyBuilder())
        with pytest.raises(BadCredentials, match="40125"):
            await broken.send_text("oUser", "不会发出")
    assert len(state.sent["oUser"]) == 3


# -- API side: custom/send -------------------------------------------------------------------


@pytest.mark.parametrize(("token", "body", "errcode"), [
    (None, b'{"touser": "oUser", "msgtype": "text", "text": {"content": "x"}}', 41001),
    ("not-a-token", b'{"touser": "oUser", "msgtype": "text", "text": {"content": "x"}}', 40001),
    ("good", b"", 44002),
    ("good", b"{oops", 47001),
    ("good", b'"text"', 47001),
    ("good", b'{"touser": "oStranger", "msgtype": "text", "text": {"content": "x"}}', 40003),
    ("good", b'{"msgtype": "text", "text": {"content": "x"}}', 40003),
    ("good", b'{"touser": "oGone", "msgtype": "text", "text": {"content": "x"}}', 45015),
    ("good", b'{"touser": "oUser", "msgtype": "video", "video": {"media_id": "m"}}', 40008),
    ("good", b'{"touser": "oUser", "msgtype": "voice", "voice": {}}', 40007),
    ("good", b'{"touser": "oUser", "text": {"content": "x"}}', 40008),
    ("good", b'{"touser": "oUser", "msgtype": "text", "text": {"content": ""}}', 44004),
    ("good", b'{"touser": "oUser", "msgtype": "image", "image": {}}', 40007),
    ("good", b'{"touser": "oUser", "msgtype": "news", "news": {"articles": []}}', 44003),
    ("good", b'{"touser": "oUser", "msgtype": "news", "news": {"articles": '
             b'[{"title": "a"}, {"title": "b"}]}}', 45008),
])
async def test_custom_send_refuses_with_wechat_error_codes(
    api: Any, token: str | None, body: bytes, errcode: int
) -> None:
    state = api.app[PLATFORM]
    state.follow(APP_ID, "oUser")
    state.follow(APP_ID, "oGone")
    state.unfollow(APP_ID, "oGone")
    if token == "good":
        token = (await stable(api))["access_token"]
    params = {"access_token": token} if token is not None else {}
    resp = await api.post("/cgi-bin/message/custom/send", params=params, data=body)
    assert resp.status == 200
    assert (await resp.json())["errcode"] == errcode
    assert state.sent == {}


async def test_custom_send_over_2048_bytes_is_45002(api: Any) -> None:
    api.app[PLATFORM].follow(APP_ID, "oUser")
    token = (await stable(api))["access_token"]
    assert await send_text(api, token, "oUser", "字" * 683) == 45002  # 2049 bytes
    assert await send_text(api, token, "oUser", "字" * 682) == 0


async def test_custom_send_records_what_each_user_was_sent(api: Any) -> None:
    state = api.app[PLATFORM]
    state.follow(APP_ID, "oAnn")
    state.follow(APP_ID, "oBob")
    token = (await stable(api))["access_token"]
    bodies = [
        ("oAnn", {"touser": "oAnn", "msgtype": "text", "text": {"content": "您的留言已受理"}}),
        ("oBob", {"touser": "oBob", "msgtype": "image", "image": {"media_id": "MEDIA1"}}),
        ("oAnn", {"touser": "oAnn", "msgtype": "news", "news": {"articles": [
            {"title": "办理进度", "description": "已派单", "url": "https://x.example/1",
             "picurl": ""}]}}),
    ]
    for _, body in bodies:
        resp = await api.post("/cgi-bin/message/custom/send", params={"access_token": token},
                              json=body)
        assert await resp.text() == '{"errcode":0,"errmsg":"ok"}'
    assert state.sent == {"oAnn": [bodies[0][1], bodies[2][1]], "oBob": [bodies[1][1]]}
    # a follower of one account is a stranger to another
    plain = await (await api.post("/cgi-bin/stable_token", json={
        "grant_type": "client_credential", "appid": PLAIN.app_id,
        "secret": PLAIN.app_secret})).json()
    assert await send_text(api, plain["access_token"], "oAnn") == 40003


# -- callback side: building and signing ---------------------------------------------------


def test_openids_are_stable_28_characters_and_differ_per_account() -> None:
    alice = openid_for(APP_ID, "alice")
    assert alice == openid_for(APP_ID, "alice")
    assert len(alice) == 28
    assert alice.startswith("o")
    assert set(alice) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert alice not in {openid_for(APP_ID, "bob"), openid_for(PLAIN.app_id, "alice")}
    assert original_id_for(APP_ID).startswith("gh_")
    assert len(original_id_for(APP_ID)) == 15


def test_msg_ids_are_unique_increasing_64_bit_numbers() -> None:
    ids = MsgIds()
    taken = [ids.next() for _ in range(1000)]
    assert taken == sorted(set(taken))
    assert all(0 < i < 2**63 for i in taken)


def test_built_messages_read_as_wechat_messages_by_the_bots_codec() -> None:
    gh, user = original_id_for(APP_ID), openid_for(APP_ID, "alice")
    text, env = to_inbound(build_text(gh, user, "路灯坏了]]>三天", 42), "default")
    assert (text.kind, text.text, text.message_id) == ("text", "路灯坏了]]>三天", "42")
    assert (env.account_id, env.user) == (gh, user)
    image, _ = to_inbound(build_image(gh, user, "http://p/1.png", "MEDIA", 43), "default")
    assert image.payload == {"media_id": "MEDIA", "url": "http://p/1.png"}
    place, _ = to_inbound(build_location(gh, user, 26.647, 106.63, "贵阳", 44), "default")
    assert place.payload == {"latitude": 26.647, "longitude": 106.63, "scale": 15.0,
                             "label": "贵阳"}
    follow, _ = to_inbound(build_subscribe(gh, user), "default")
    leave, _ = to_inbound(build_unsubscribe(gh, user), "default")
    click, _ = to_inbound(build_click(gh, user, "HELP"), "default")
    assert [(e.event, e.event_key) for e in (follow, leave, click)] == [
        ("subscribe", ""), ("unsubscribe", ""), ("click", "HELP")]
    assert parse_xml(build_click(gh, user, "K"))["Event"] == "CLICK"  # as WeChat spells it


def test_safe_mode_request_hides_the_message_and_signs_it() -> None:
    body = build_text(original_id_for(APP_ID), "oUser", "我的身份证号", 7)
    query, sent = sign_request(SAFE, body, encrypt=True, timestamp=1700000000, nonce="123")
    assert "我的身份证号" not in sent
    outer = parse_xml(sent)
    assert set(outer) == {"ToUserName", "Encrypt"}
    assert query["encrypt_type"] == "aes"
    assert query["openid"] == "oUser"
    crypto = Crypto(TOKEN, AES_KEY, APP_ID)
    assert crypto.signature_ok(outer["Encrypt"], query["msg_signature"], "1700000000", "123")
    assert crypto.decrypt(outer["Encrypt"]) == body
    with pytest.raises(ValueError, match="EncodingAESKey"):
        sign_request(PLAIN, body, encrypt=True)


# -- callback side: reading replies ----------------------------------------------------------

GH = original_id_for(APP_ID)
ENVELOPE = Envelope(GH, "oUser", "k")


def encrypted(xml: str) -> bytes:
    return Crypto(TOKEN, AES_KEY, APP_ID).encrypt(xml, "555").encode()


def text_reply(text: str, to: str = "oUser") -> str:
    return render_reply(Outbound.of_text(text), Envelope(GH, to, "k"))


@pytest.mark.parametrize(("status", "body", "kind", "detail"), [
    (200, b"success", "none", ""),
    (200, b"", "none", ""),
    (200, b"\n", "none", ""),
    (500, b"boom", "unavailable", "HTTP 500"),
    (403, b"success", "unavailable", "HTTP 403"),
    (200, b"ok", "unavailable", "not XML"),
    (200, b"<xml><Content>hi", "unavailable", "not XML"),
    (200, b"\xff\xfe", "unavailable", "UTF-8"),
    (200, encrypted(text_reply("给别人的", to="oOther")), "unavailable", "ToUserName"),
    (200, text_reply("明文").encode(), "unavailable", "must be encrypted"),
    (200, encrypted(text_reply("x")).replace(b"<MsgSignature><![CDATA[",
                                             b"<MsgSignature><![CDATA[0"),
     "unavailable", "MsgSignature"),
    (200, encrypted(text_reply("字" * 683)), "unavailable", "over 2048"),
    (200, encrypted(text_reply("x").replace("<MsgType><![CDATA[text]]>",
                                            "<MsgType><![CDATA[voice]]>")),
     "unavailable", "voice"),
    (200, encrypted(text_reply("您好")), "text", ""),
])
def test_replies_are_read_as_wechat_reads_them(
    status: int, body: bytes, kind: str, detail: str
) -> None:
    reply = read_reply(SAFE, status, body, openid="oUser", encrypted=True)
    assert reply.kind == kind
    assert detail in reply.detail
    if kind == "unavailable":
        assert reply.text == UNAVAILABLE_TEXT
    if kind == "text":
        assert reply.text == "您好"


def test_image_and_news_replies_are_shown() -> None:
    image = render_reply(Outbound.of_image("MEDIA9"), ENVELOPE)
    assert read_reply(SAFE, 200, encrypted(image), openid="oUser", encrypted=True).media_id \
        == "MEDIA9"
    news = render_reply(Outbound.of_news(Article("进度", "已受理", "https://x.example/t/1"),
                                         Article("评价", "请打分")), ENVELOPE)
    reply = read_reply(SAFE, 200, encrypted(news), openid="oUser", encrypted=True)
    assert reply.kind == "news"
    assert [a.title for a in reply.articles] == ["进度", "评价"]
    assert reply.articles[0].url == "https://x.example/t/1"
    plain = read_reply(PLAIN, 200, render_reply(Outbound.of_text("明文可以"), Envelope(
        original_id_for(PLAIN.app_id), "oUser", "k")).encode(), openid="oUser",
        encrypted=False)
    assert (plain.kind, plain.text) == ("text", "明文可以")


# -- callback side against the real bot --------------------------------------------------------


async def test_messages_and_events_reach_the_real_bot_in_safe_mode(bot_db: str) -> None:
    async with real_bot(bot_db) as url, aiohttp.ClientSession() as session:
        client = CallbackClient(SAFE, url, session)
        alice = client.user("alice")
        follow = await alice.follow()
        assert follow.reply.kind == "text", follow.reply.detail
        assert follow.reply.text == TEXTS("welcome")
        assert follow.tries == 1
        assert (await alice.send_text("帮助")).reply.text == TEXTS("help")
        assert (await alice.click("HELP")).reply.text == TEXTS("help")
        located = await alice.send_location(26.647, 106.63, "贵阳市人民政府")
        assert located.reply.text == TEXTS("idle_location")
        pictured = await alice.send_image("http://127.0.0.1:9/dev/media/x", "MEDIA")
        assert pictured.reply.text == TEXTS("idle_photo")
        assert (await alice.unfollow()).reply.kind == "none"
        assert located.msg_id is not None
        assert pictured.msg_id is not None
        assert pictured.msg_id > located.msg_id


async def test_plain_mode_account_and_server_verification(bot_db: str) -> None:
    async with real_bot(bot_db, account=PLAIN) as url, aiohttp.ClientSession() as session:
        delivery = await CallbackClient(PLAIN, url, session).send_text(
            openid_for(PLAIN.app_id, "bob"), "你好")
        assert delivery.reply.kind == "text"
        assert delivery.reply.text == TEXTS("greeting")
        async with session.get(url, params=sign_verification(PLAIN, "echo123")) as resp:
            assert await resp.text() == "echo123"


async def test_the_bot_rejecting_a_message_shows_the_error(bot_db: str) -> None:
    wrong = replace(SAFE, token="someOtherToken")  # the platform signs with another token
    async with real_bot(bot_db) as url, aiohttp.ClientSession() as session:
        delivery = await CallbackClient(wrong, url, session).send_text("oUser", "你好")
    assert delivery.reply.kind == "unavailable"
    assert delivery.reply.text == UNAVAILABLE_TEXT
    assert "HTTP 403" in delivery.reply.detail
    assert delivery.tries == 1  # an HTTP error is an answer: WeChat does not retry it


# -- retries -------------------------------------------------------------------------------------


class SlowBot:
    """A fake callback: records every request; the first ``slow`` requests hang (the test
    server cancels a handler whose client gave up, so the delay costs nothing)."""

    def __init__(self, slow: int, delay: float = 30.0) -> None:
        self.slow = slow
        self.delay = delay
        self.requests: list[tuple[dict[str, str], str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.query), await request.text()))
        if len(self.requests) <= self.slow:
            await asyncio.sleep(self.delay)
        inner = PLAIN_BODY_USER
        return web.Response(text=render_reply(Outbound.of_text("终于回复了"), Envelope(
            original_id_for(PLAIN.app_id), inner, "k")))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/wechat", self.handle)
        return app


PLAIN_BODY_USER = openid_for(PLAIN.app_id, "carol")


async def test_slow_bot_gets_the_same_message_again() -> None:
    bot = SlowBot(slow=1)
    async with serving(bot.app()) as url, aiohttp.ClientSession() as session:
        # a try must reach the bot within the timeout even when the loop stalls (a loaded
        # machine, a long collection): 0.2-0.3 s lost a try now and then
        client = CallbackClient(PLAIN, url + "/wechat", session, timeout=1.0)
        delivery = await client.send_text(PLAIN_BODY_USER, "在吗")
    assert delivery.reply.text == "终于回复了"
    assert delivery.tries == 2
    assert len(bot.requests) == 2
    assert bot.requests[0] == bot.requests[1]  # same query, same body, so same MsgId
    assert f"<MsgId>{delivery.msg_id}</MsgId>" in bot.requests[1][1]


async def test_three_tries_in_all_then_the_user_sees_the_error() -> None:
    bot = SlowBot(slow=10)
    async with serving(bot.app()) as url, aiohttp.ClientSession() as session:
        client = CallbackClient(PLAIN, url + "/wechat", session, timeout=0.5)
        delivery = await client.send_text(PLAIN_BODY_USER, "在吗")
    assert len(bot.requests) == 3
    assert delivery.tries == 3
    assert delivery.reply.kind == "unavailable"
    assert delivery.reply.text == UNAVAILABLE_TEXT
    assert "no answer within 0.5 s" in delivery.reply.detail


async def test_connection_failures_are_retried_three_tries_in_all() -> None:
    connections: list[bytes] = []

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(await reader.readline())
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, aiohttp.ClientSession() as session:
        client = CallbackClient(PLAIN, f"http://127.0.0.1:{port}/wechat", session,
                                timeout=0.3, retry_delay=0.01)
        delivery = await client.follow(PLAIN_BODY_USER)
    assert len(connections) == 3
    assert all(c.startswith(b"POST /wechat?") for c in connections)
    assert delivery.tries == 3
    assert delivery.reply.kind == "unavailable"
    assert "cannot reach" in delivery.reply.detail


async def test_a_bot_that_is_not_running_means_the_error() -> None:
    async with aiohttp.ClientSession() as session:
        client = CallbackClient(PLAIN, f"http://127.0.0.1:{free_port()}/wechat", session,
                                timeout=0.3, retry_delay=0.01)
        delivery = await client.send_text(PLAIN_BODY_USER, "有人吗")
    assert delivery.reply.text == UNAVAILABLE_TEXT
    assert "3 tries in all" in delivery.reply.detail


# -- chat endpoints ------------------------------------------------------------------------------


async def test_pushed_message_shows_in_the_chat_inbox(bot_db: str) -> None:
    async with stack(bot_db, two_replies) as s:
        base = f"{s.platform}/dev/chat/alice"
        async with s.session.get(base + "/inbox", params={"after": "0", "wait": "0"}) as r:
            assert await r.json() == {"messages": [], "next": 0}

        async def long_poll() -> Any:
            async with s.session.get(base + "/inbox", params={"after": "0", "wait": "5"}) as r:
                return await r.json()

        waiting = asyncio.create_task(long_poll())
        async with s.session.post(base + "/send", json={"kind": "text", "content": "你好"}) as r:
            sent = await r.json()
        assert sent["reply"]["kind"] == "text"
        assert sent["reply"]["text"] == "收到：你好"
        assert sent["tries"] == 1
        inbox = await asyncio.wait_for(waiting, 3)
        assert inbox["next"] == 1
        assert [(m["seq"], m["text"]["content"]) for m in inbox["messages"]] == [
            (1, "稍后推送的消息")]
        async with s.session.get(base + "/inbox", params={"after": "1", "wait": "0.1"}) as r:
            assert (await r.json())["messages"] == []
        assert s.state.token_calls == 1


async def test_stopping_the_platform_answers_a_waiting_inbox_poll_at_once() -> None:
    """A chat's long poll of its inbox (``lianxin chat`` keeps one open all the time) is
    answered, empty, when the platform stops, rather than holding the stop until the
    platform gives up on it and drops the connection (5 s at every /quit and Ctrl-C of
    ``lianxin dev``: the chat's poll outlives the chat, and the stop waited for it)."""
    entered = asyncio.Event()

    class Watched(PlatformState):
        async def wait_inbox(self, openid: str, after: int,
                             wait: float) -> list[dict[str, Any]]:
            entered.set()
            return await super().wait_inbox(openid, after, wait)

    app = create_platform_app([SAFE], {"default": f"http://127.0.0.1:{free_port()}/wechat"},
                              state=Watched([SAFE]))
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT)  # as lianxin devplatform
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as session:

        async def poll() -> tuple[int, Any]:
            async with session.get(f"http://127.0.0.1:{port}/dev/chat/alice/inbox",
                                   params={"after": "0", "wait": "25"}) as resp:
                return resp.status, await resp.json()

        waiting = asyncio.create_task(poll())
        await asyncio.wait_for(entered.wait(), 10)
        await asyncio.wait_for(runner.cleanup(), 20)  # a bound on a hang only
        assert await waiting == (200, {"messages": [], "next": 0})


@pytest.mark.parametrize(("user", "body", "error"), [
    ("alice", {"kind": "shout"}, "kind must be"),
    ("alice", {"kind": "text"}, "content must be"),
    ("alice", {"kind": "click"}, "key must be"),
    ("alice", {"kind": "location", "latitude": 91, "longitude": 0}, "latitude"),
    ("alice", {"kind": "location", "latitude": "x", "longitude": 0}, "latitude"),
    ("alice", {"kind": "image", "data": "%%%"}, "base64"),
    ("alice", {"kind": "image", "data": base64.b64encode(b"hello").decode()}, "not an image"),
    ("al ice", {"kind": "text", "content": "x"}, "user name"),
    ("alice", ["kind", "text"], "JSON object"),
])
async def test_chat_send_refuses_bad_input_with_a_message(
    aiohttp_client: Any, user: str, body: Any, error: str
) -> None:
    app = create_platform_app([SAFE], {"default": f"http://127.0.0.1:{free_port()}/wechat"})
    client = await aiohttp_client(app)
    resp = await client.post(f"/dev/chat/{user}/send", json=body)
    assert resp.status == 400
    assert error in (await resp.json())["error"]
    unknown = await client.get("/dev/chat/alice", params={"account": "nope"})
    assert "no account named 'nope'" in (await unknown.json())["error"]


@pytest.mark.parametrize(("content_type", "body"), [
    ("multipart/form-data", b"kind=image"),  # no boundary
    ("multipart/form-data; boundary=x", b"garbage"),  # no first boundary
    ("multipart/form-data; boundary=x", b"--x\r\n\r\n"),  # a part without a name
])
async def test_chat_send_refuses_an_unreadable_upload(
    aiohttp_client: Any, content_type: str, body: bytes
) -> None:
    app = create_platform_app([SAFE], {"default": f"http://127.0.0.1:{free_port()}/wechat"})
    client = await aiohttp_client(app)
    resp = await client.post("/dev/chat/alice/send", data=body,
                             headers={"Content-Type": content_type})
    assert resp.status == 400
    assert (await resp.json())["error"] == "the multipart body cannot be read"


async def test_a_user_name_ending_in_a_newline_is_refused(aiohttp_client: Any) -> None:
    app = create_platform_app([SAFE], {"default": f"http://127.0.0.1:{free_port()}/wechat"})
    client = await aiohttp_client(app)
    resp = await client.get("/dev/chat/alice%0A")
    assert resp.status == 400
    assert "a user name is 1-32 letters" in (await resp.json())["error"]


class Recorder:
    """A fake plain-mode bot recording the messages it gets; answers success."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.text())
        return web.Response(text="success")


@asynccontextmanager
async def recording_bot() -> AsyncIterator[tuple[Recorder, str]]:
    """A fake bot at ``URL + "/wechat"`` that records what the platform sends it."""
    recorder = Recorder()
    fake = web.Application()
    fake.router.add_post("/wechat", recorder.handle)
    async with serving(fake) as bot_url:
        yield recorder, bot_url


async def test_uploaded_image_is_sent_with_a_picurl_the_platform_serves(
    aiohttp_client: Any
) -> None:
    async with recording_bot() as (recorder, bot_url):
        client = await aiohttp_client(create_platform_app([PLAIN], {"plain": bot_url + "/wechat"}))
        form = aiohttp.FormData()
        form.add_field("kind", "image")
        form.add_field("image", PNG, filename="photo.png", content_type="image/png")
        resp = await client.post("/dev/chat/dave/send", data=form)
        assert (await resp.json())["reply"]["kind"] == "none"
        resp = await client.post("/dev/chat/dave/send", json={
            "kind": "image", "data": base64.b64encode(PNG).decode()})
        assert (await resp.json())["reply"]["kind"] == "none"
    assert len(recorder.bodies) == 2
    for body in recorder.bodies:
        fields = parse_xml(body)
        assert fields["MsgType"] == "image"
        assert fields["FromUserName"] == openid_for(PLAIN.app_id, "dave")
        picture = await client.session.get(fields["PicUrl"])
        assert await picture.read() == PNG
        assert picture.content_type == "image/png"
        assert client.app[PLATFORM].media[fields["MediaId"]].data == PNG
    # the user wrote, so the API side now knows them
    assert client.app[PLATFORM].user(PLAIN.app_id, openid_for(PLAIN.app_id, "dave"))


def test_dev_env_is_a_valid_safe_mode_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    env = Path(__file__).resolve().parents[1] / "config" / "dev.env"
    for line in env.read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            monkeypatch.setenv(name, value)
    from bot.config import load_settings

    settings = load_settings()
    assert settings.wechat_aes_key is not None
    assert settings.wechat_api_base == "http://127.0.0.1:8081"
    assert settings.port == 8080
    assert settings.database_url.startswith("sqlite+aiosqlite:///./")


# -- lianxin dev -----------------------------------------------------------------------------


def test_dev_refuses_a_busy_port_and_the_real_api(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = int(taken.getsockname()[1])
        platform_port = free_port()
        settings = bot_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db",
                                f"http://127.0.0.1:{platform_port}").model_copy(
            update={"port": busy})
        with pytest.raises(DevError, match=f"port {busy} \\(LIANXIN_PORT, the bot\\) is busy"):
            run_dev(settings, platform_port=platform_port, user="a", interactive=False)
        with pytest.raises(DevError, match=f"port {busy} \\(--platform-port"):
            run_dev(settings.model_copy(update={
                "port": free_port(), "wechat_api_base": f"http://127.0.0.1:{busy}"}),
                platform_port=busy, user="a", interactive=False)
    real = settings.model_copy(update={"wechat_api_base": "https://api.weixin.qq.com"})
    refusal = re.escape("is https://api.weixin.qq.com, not the dev platform")
    with pytest.raises(DevError, match=refusal):
        run_dev(real, platform_port=platform_port, user="a", interactive=False)
    assert not (tmp_path / "x.db").exists()  # nothing started


def test_dev_names_the_child_that_died_and_stops_the_others(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        dying = subprocess.Popen(
            [sys.executable, "-c", "import sys; print('lianxin: LIANXIN_X is not set'); "
             "sys.exit(2)"], stdout=out, stderr=subprocess.STDOUT)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    children = [
        Child("lianxin devplatform", sleeper, tmp_path / "none.log",
              f"http://127.0.0.1:{free_port()}/dev/healthz"),
        Child("lianxin serve", dying, log, f"http://127.0.0.1:{free_port()}/healthz"),
    ]
    try:
        with pytest.raises(DevError) as caught:
            wait_healthy(children, timeout=5)
    finally:
        stop(children)
    assert str(caught.value) == "lianxin serve exited with code 2: lianxin: LIANXIN_X is not set"
    assert sleeper.returncode is not None  # terminated, not left behind


STOPPING_CHILD = """
import pathlib, signal, sys, time
ready, done, look = (pathlib.Path(a) if a else None for a in sys.argv[1:4])

def stopped(signum, frame):
    if look is not None:  # the platform: had the bot stopped?
        done.write_text(str(look.exists()))
    else:  # the bot: a stop that takes a while (finishing its late replies)
        time.sleep(0.3)
        done.write_text("stopped")
    sys.exit(0)

signal.signal(signal.SIGTERM, stopped)
ready.write_text("ready")
time.sleep(60)
"""


def test_dev_stops_the_bot_before_the_platform(tmp_path: Path) -> None:
    """The bot's stop finishes the replies still under way and sends them through the
    platform, so the platform is stopped only once the bot has exited (stopped together,
    those replies met a closed platform and stayed in the outbox, to pop up in the next
    session's chat)."""
    ready = [tmp_path / "platform.ready", tmp_path / "bot.ready"]
    bot_stopped, platform_saw = tmp_path / "bot.stopped", tmp_path / "platform.saw"
    platform = subprocess.Popen([sys.executable, "-c", STOPPING_CHILD, str(ready[0]),
                                 str(platform_saw), str(bot_stopped)])
    bot = subprocess.Popen([sys.executable, "-c", STOPPING_CHILD, str(ready[1]),
                            str(bot_stopped), ""])
    children = [Child("lianxin devplatform", platform, tmp_path / "p.log", "http://x/"),
                Child("lianxin serve", bot, tmp_path / "b.log", "http://x/")]
    deadline = time.monotonic() + 20
    try:
        while not all(r.exists() for r in ready):  # their SIGTERM handlers are in place
            assert platform.poll() is None and bot.poll() is None
            assert time.monotonic() < deadline, "the children did not start"
            time.sleep(0.02)
    finally:
        stop(children)
    assert (platform.returncode, bot.returncode) == (0, 0)
    assert platform_saw.read_text() == "True"  # the bot had stopped when it was told to


def test_a_voice_message_reaches_the_bot_with_what_recognition_heard() -> None:
    """/voice WORDS in the dev chat: a voice message whose Recognition the bot reads as
    text (issue 15); /voice alone: one it could not make out."""
    assert parse_line("/voice 我要投诉。").payload == {"kind": "voice", "recognition": "我要投诉。"}
    assert parse_line("/voice").payload == {"kind": "voice", "recognition": ""}
    gh, user = "gh_0123456789ab", "oVoice"
    heard, _ = to_inbound(build_voice(gh, user, "MEDIA", "我要投诉。", 44), "default")
    assert (heard.kind, heard.payload.get("recognition")) == ("voice", "我要投诉。")
    assert heard.payload.get("media_id") == "MEDIA"
