"""The async API client against the dev platform's API side (our recording WeChat)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.config import Account
from bot.devplatform.api import PLATFORM, create_api_app
from bot.devplatform.state import PlatformState
from bot.wechat_api import (
    APIUnreachable,
    BadCredentials,
    InvalidUser,
    TokenInvalid,
    WeChatClient,
)
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

