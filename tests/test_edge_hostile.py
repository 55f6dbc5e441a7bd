"""Hostile input at the callback edge (issue 9), each fault sent the way it was found:
a real HTTP request (or raw bytes on a socket) to the real app.

* refusals log one short line each, identical ones summarised, never a traceback;
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from bot import log_limits
from bot.app import create_app
from bot.config import Account
from domain.messages import Inbound, Outbound
from flows.context import Conversation
from tests.conftest import AES_KEY, APP_ID, TOKEN, SettingsFactory
from tests.wechat import Signer

SIGNER = Signer(TOKEN, APP_ID, AES_KEY)
PLAIN = Signer(TOKEN, APP_ID)
ACCOUNT = Account("t", TOKEN, APP_ID, "", AES_KEY, "http://unused")
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


class Recorder:
    """Answers each text with itself and records what reached it."""

    def __init__(self) -> None:
        self.calls: list[Inbound] = []

    async def __call__(self, inbound: Inbound, conv: Conversation) -> list[Outbound]:
        self.calls.append(inbound)
        return [Outbound.of_text(inbound.text or inbound.kind)]


@pytest.fixture
def make_client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    make_settings: SettingsFactory,
) -> ClientFactory:
    async def build(handler: Any = None, **overrides: Any) -> TestClient[Any, Any]:
        kwargs: dict[str, Any] = {}
        if handler is not None:
            kwargs["handler_factory"] = lambda app: handler
        return await aiohttp_client(create_app(make_settings(**overrides), **kwargs))

    return build


def now() -> str:
    return str(int(time.time()))


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Lines at ERROR or above, and any line carrying a traceback."""
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.ERROR or r.exc_info or r.exc_text]


async def send(client: TestClient[Any, Any], method: str, query: str,
               body: bytes = b"", path: str = "/wechat") -> tuple[int, str]:
    """``query`` goes out exactly as written (broken escapes and all)."""
    url = URL(str(client.make_url(path)) + "?" + query, encoded=True)
    resp = await client.session.request(method, url, data=body if method == "POST" else None)
    return resp.status, await resp.text()


def encode(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


async def post(client: TestClient[Any, Any], xml: str, mode: str = "safe",
               signer: Signer = SIGNER, **sign: Any) -> tuple[int, str]:
    signed = signer.sign(xml, mode=mode, **sign)
    resp = await client.post("/wechat", params=signed.params, data=signed.body.encode())
    return resp.status, await resp.text()


# raw requests: the first seven refused by aiohttp's HTTP parser, the last two by our gates
MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET /wechat HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
    b"GET /wechat?signature=\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /wechat HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /wechat HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
    b"POST /wechat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /wechat?signature=%C3%A9&timestamp=1&nonce=1&echostr=x HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /wechat?signature=0&timestamp=1&nonce=1 HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: 2\r\n\r\nhi",
]


async def raw_exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        head = await asyncio.wait_for(reader.read(200), 5)
    finally:
        writer.close()
        await writer.wait_closed()
    return head


@pytest.fixture
async def live_app(make_settings: SettingsFactory) -> Any:
    """The app on a real socket, as ``lianxin serve`` runs it."""
    servers: list[TestServer] = []

    async def start(**overrides: Any) -> TestServer:
        server = TestServer(create_app(make_settings(**overrides)))
        await server.start_server()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


# -- 4. logs a flood cannot fill -------------------------------------------------------------


async def test_a_flood_of_malformed_requests_logs_a_handful_of_lines(
    live_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Found: each malformed request wrote an ERROR with a full traceback (333 in one run)."""
    server = await live_app()
    caplog.set_level(logging.DEBUG)
    for i in range(200):
        head = await raw_exchange(server.port or 0, MALFORMED[i % len(MALFORMED)])
        assert head.startswith((b"HTTP/1.1 400", b"HTTP/1.1 403", b"HTTP/1.0 400")), head
    ours = [r for r in caplog.records if r.name.startswith(("aiohttp", "bot"))]
    assert "Traceback" not in caplog.text
    assert [r for r in ours if r.exc_info or r.exc_text] == []
    assert all(r.levelno <= logging.WARNING for r in ours)
    assert all("\n" not in r.getMessage() and len(r.getMessage()) < 300 for r in ours)
    # the parser's refusals share one budget, the edge's two reasons one each
    assert 3 <= len([r for r in ours if r.levelno >= logging.INFO]) <= 3 * log_limits.BURST


async def test_identical_refusals_are_summarised(
    live_app: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first few of a kind are logged; at the period's end one line counts the rest."""
    monkeypatch.setattr(log_limits, "PERIOD", 2.0)
    server = await live_app()
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    for _ in range(15):
        await raw_exchange(server.port or 0, MALFORMED[1])  # the parser refuses
        await raw_exchange(server.port or 0, MALFORMED[-1])  # the edge refuses
    assert time.monotonic() - started < 1.5, "too slow to stay in one period"
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(("aiohttp", "bot"))]
    assert len(lines) == 2 * log_limits.BURST, lines
    await asyncio.sleep(2.5 - (time.monotonic() - started))
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(("aiohttp", "bot"))]
    summaries = [m for m in lines if "more like it" in m]
    assert len(lines) == 2 * (log_limits.BURST + 1), lines
    assert len(summaries) == 2
    assert all(f"and {15 - log_limits.BURST} more like it" in m for m in summaries), summaries
