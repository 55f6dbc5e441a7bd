"""Hostile input at the callback edge (issue 9), each fault sent the way it was found:
a real HTTP request (or raw bytes on a socket) to the real app.

* no request, signed or not, gets a 5xx;
* a number out of its range makes the message ignored, with one log line;
* every value echoed into a reply is escaped or refused;
* refusals log one short line each, identical ones summarised, never a traceback;
* a safe-mode account takes no plaintext callback (unless in compatible mode);
* no response names the server's software versions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import ClientSession, web_response
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from yarl import URL

from bot import log_limits
from bot.app import create_app
from bot.config import Account, ConfigError, load_accounts
from bot.wechat.codec import parse_xml, sha1_signature
from devplatform.server import create_platform_app
from devplatform.signing import encrypt_for, sign_request
from devplatform.wechat_side import CallbackClient
from domain.messages import Inbound, Outbound
from domain.texts import Texts
from flows.engine import Engine
from handlers.context import StateContext
from handlers.dispatcher import Dispatcher, Update
from handlers.events import deliveries
from tests.conftest import AES_KEY, APP_ID, TOKEN, SettingsFactory, account_of
from tests.wechat import Signer, event_xml, next_msg_id, refusal, text_xml

SIGNER = Signer(TOKEN, APP_ID, AES_KEY)
PLAIN = Signer(TOKEN, APP_ID)
ACCOUNT = Account("t", TOKEN, APP_ID, "", AES_KEY, "http://unused")
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


class Recorder:
    """Answers each text with itself and records what reached it."""

    def __init__(self) -> None:
        self.calls: list[Inbound] = []

    async def __call__(self, inbound: Inbound, state: StateContext) -> list[Outbound]:
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


def gate(method: str, reason: str) -> str:
    """The reason the edge logs for a refusal of a POST, or of a GET (verification)."""
    return reason if method == "POST" else f"verification: {reason}"


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


# -- 1. no 5xx, whatever the query ------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_non_ascii_signature_is_400(make_client: ClientFactory, method: str,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """Found: ``signature=é`` reached hmac.compare_digest, which raised TypeError (500)."""
    client = await make_client(handler=(handler := Recorder()))
    signed = SIGNER.sign(text_xml("oU", "hi"), nonce="1")
    query = encode([*{**signed.params, "signature": "é", "echostr": "x"}.items()])
    status, _ = await send(client, method, query, signed.body.encode())
    assert status == 400
    assert refusal(caplog) == gate(method, "malformed signature")
    assert handler.calls == [] and errors(caplog) == []


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("signature", ["%FF%FE" + "0" * 38, "%E9", "%", "%G1" + "a" * 37])
async def test_broken_percent_escapes_are_400(make_client: ClientFactory, method: str,
                                              signature: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client(handler=(handler := Recorder()))
    signed = SIGNER.sign(text_xml("oU", "hi"), nonce="1")
    rest = encode([(k, v) for k, v in signed.params.items() if k != "signature"])
    status, _ = await send(client, method, f"signature={signature}&{rest}&echostr=x",
                           signed.body.encode())
    assert status == 400
    assert refusal(caplog) == gate(method, "malformed signature")
    assert handler.calls == [] and errors(caplog) == []


async def test_valid_signature_with_non_ascii_msg_signature_is_400(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(handler=(handler := Recorder()))
    signed = SIGNER.sign(text_xml("oU", "hi"))
    query = encode([(k, v) for k, v in signed.params.items() if k != "msg_signature"])
    # raw on the request line, aiohttp's HTTP parser refuses it before the app sees it
    status, _ = await send(client, "POST", f"{query}&msg_signature=é", signed.body.encode())
    assert status == 400
    assert "Invalid char in url query" in caplog.text and refusal(caplog) == ""
    status, _ = await send(client, "POST", f"{query}&msg_signature={'%FF' * 20}",
                           signed.body.encode())
    assert status == 400
    assert refusal(caplog) == "malformed msg_signature"
    assert handler.calls == [] and errors(caplog) == []


@pytest.mark.parametrize("name", ["signature", "timestamp", "nonce", "encrypt_type",
                                  "msg_signature"])
async def test_a_repeated_parameter_is_400(make_client: ClientFactory, name: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """Two values for one name: which one would the signature cover? Neither is taken."""
    client = await make_client(handler=(handler := Recorder()))
    signed = SIGNER.sign(text_xml("oU", "hi"))
    pairs = [*signed.params.items(), (name, signed.params[name])]  # even the same value
    status, _ = await send(client, "POST", encode(pairs), signed.body.encode())
    assert status == 400
    assert refusal(caplog) == f"{name} given more than once"
    ts = now()
    get = [("signature", sha1_signature(TOKEN, ts, "1")), ("timestamp", ts), ("nonce", "1"),
           ("echostr", "e"), ("echostr", "f")]
    status, _ = await send(client, "GET", encode(get))
    assert status == 400
    assert refusal(caplog) == "verification: echostr given more than once"
    assert handler.calls == []


async def test_huge_values_are_400(make_client: ClientFactory,
                                   caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client(handler=(handler := Recorder()))
    ts = now()
    for nonce, reason in (("1" * 65, "malformed nonce"), ("1" * 4000, "query string too long")):
        signed = SIGNER.sign(text_xml("oU", "hi"), nonce=nonce)
        status, _ = await send(client, "POST", encode([*signed.params.items()]),
                               signed.body.encode())
        assert status == 400
        assert refusal(caplog) == reason
    verification = [("signature", sha1_signature(TOKEN, ts, "1")), ("timestamp", ts),
                    ("nonce", "1")]
    for echostr, reason in (("7" * 257, "malformed echostr"), ("7" * 5000,
                                                                "query string too long")):
        status, _ = await send(client, "GET", encode([*verification, ("echostr", echostr)]))
        assert status == 400
        assert refusal(caplog) == f"verification: {reason}"
    signed = SIGNER.sign(text_xml("oU", "hi"))
    status, _ = await send(client, "POST", encode([*signed.params.items(), ("x", "y" * 5000)]),
                           signed.body.encode())
    assert status == 400  # the whole query is capped, known names or not
    assert refusal(caplog) == "query string too long"
    assert handler.calls == [] and errors(caplog) == []


NAMES = ["signature", "timestamp", "nonce", "echostr", "encrypt_type", "msg_signature",
         "openid"]
JUNK = st.one_of(
    st.text(max_size=50),
    st.text(alphabet="%0123456789abcdefABCDEFGXZ&=;+ é\x00]>", max_size=50),
    st.sampled_from(["é", "%FF", "%", "aes", "AES", "raw", "", "0" * 40, "-1", "1e9"]),
    st.integers(0, 9000).map(lambda n: "9" * n),
)


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> Any:
    """``usual`` three times in four, so that most requests reach the later gates."""
    return st.sampled_from((0, 1, 2, 3)).flatmap(lambda i: odd if i == 0 else usual)


@st.composite
def hostile_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A signed request (plain, safe or compatible), then a few things broken."""
    return {
        "method": draw(st.sampled_from(["GET", "POST"])),
        "mode": draw(st.sampled_from(["plain", "safe", "compatible"])),
        "content": draw(st.text(max_size=30)),
        "nonce": draw(mostly(st.from_regex(r"[0-9A-Za-z]{1,12}", fullmatch=True), JUNK)),
        "timestamp": draw(mostly(st.none(), JUNK)),  # None: now
        "changes": draw(mostly(st.just([]), st.lists(st.tuples(
            st.sampled_from(["set", "drop", "repeat", "add"]),
            st.one_of(st.sampled_from(NAMES), st.text(max_size=8)), JUNK),
            min_size=1, max_size=3))),
        "raw": draw(st.booleans()),  # values written as drawn: broken escapes stay broken
        "body": draw(mostly(st.none(), st.one_of(  # None: the signed body
            st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode())))),
    }


def build_request(plan: dict[str, Any]) -> tuple[str, bytes]:
    xml = text_xml("oFuzz", plan["content"])
    ts = plan["timestamp"] if plan["timestamp"] is not None else now()
    nonce = plan["nonce"]
    pairs = [("signature", sha1_signature(TOKEN, ts, nonce)), ("timestamp", ts),
             ("nonce", nonce), ("openid", "oFuzz"), ("echostr", "4711")]
    body = xml
    if plan["mode"] != "plain":
        secret = encrypt_for(ACCOUNT, xml)
        pairs += [("encrypt_type", "aes"),
                  ("msg_signature", sha1_signature(TOKEN, ts, nonce, secret))]
        wrapped = f"<Encrypt><![CDATA[{secret}]]></Encrypt></xml>"
        body = (xml.replace("</xml>", wrapped) if plan["mode"] == "compatible"
                else f"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>{wrapped}")
    for action, name, value in plan["changes"]:
        if action == "set":
            pairs = [(k, value if k == name else v) for k, v in pairs]
        elif action == "drop":
            pairs = [(k, v) for k, v in pairs if k != name]
        elif action == "repeat":
            pairs += [(k, v) for k, v in pairs if k == name]
        else:
            pairs.append((name, value))
    if plan["raw"]:  # only what a client can put on the request line is escaped
        query = "&".join(f"{quote(k, safe='%&=+;/')}={quote(v, safe='%&=+;/')}"
                         for k, v in pairs)
    else:
        query = encode(pairs)
    return query, plan["body"] if plan["body"] is not None else body.encode("utf-8")


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=hostile_requests())
async def test_no_request_gets_a_5xx(make_client: ClientFactory,
                                     caplog: pytest.LogCaptureFixture,
                                     plan: dict[str, Any]) -> None:
    """Property: whatever the query string and body of a GET or POST, never a 5xx, and
    nothing logged as an error (so nothing raised past a gate)."""
    caplog.clear()
    for aes_key in (AES_KEY, None):
        client = await make_client(handler=Recorder(), wechat_aes_key=aes_key)
        query, body = build_request(plan)
        status, text = await send(client, plan["method"], query, body)
        assert status < 500, text
        assert status in (200, 400, 403, 413), status
        event(f"{plan['method']} {'safe' if aes_key else 'plain'} account: {status}")
        await client.close()
    assert errors(caplog) == []


# -- 2. numbers out of range: the message is ignored, with one log line ---------------------


def template_report(msgid: str) -> str:
    return event_xml("oTpl", "TEMPLATESENDJOBFINISH").replace(
        "</xml>", f"<MsgID>{msgid}</MsgID><Status>success</Status></xml>")


async def test_template_report_with_a_msgid_past_int64_is_ignored(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Found: twenty 9s reached the outbox query: OverflowError (SQLite INTEGER)."""
    client = await make_client()  # the real router; the outbox on SQLite
    caplog.set_level(logging.INFO)
    status, body = await post(client, template_report("9" * 20))
    assert (status, body) == (200, "success")
    assert errors(caplog) == []
    ignored = [r.getMessage() for r in caplog.records if "out of range" in r.getMessage()]
    assert len(ignored) == 1 and "MsgID" in ignored[0]
    # the largest int64 is a msg id like any other: it reaches the outbox
    caplog.clear()
    status, body = await post(client, template_report(str(2**63 - 1)))
    assert (status, body) == (200, "success")
    assert "delivery report for an unrecorded template message kept" in caplog.text
    assert errors(caplog) == []


def location(x: str = "26.58", y: str = "106.71", scale: str = "15") -> str:
    return (f"<xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>oLoc</FromUserName>"
            f"<CreateTime>{now()}</CreateTime><MsgType>location</MsgType>"
            f"<Location_X>{x}</Location_X><Location_Y>{y}</Location_Y><Scale>{scale}</Scale>"
            f"<Label>贵阳</Label><MsgId>{next_msg_id()}</MsgId></xml>")


def location_event(lat: str = "26.5", lng: str = "106.7", precision: str = "65.0") -> str:
    return event_xml("oLoc", "LOCATION").replace(
        "</xml>", f"<Latitude>{lat}</Latitude><Longitude>{lng}</Longitude>"
                  f"<Precision>{precision}</Precision></xml>")


OUT_OF_RANGE = {
    "MsgId": text_xml("oNum", "hi", msg_id=2**63),
    "CreateTime": text_xml("oNum", "hi", created=2**32),
    "Location_X": location(x="90.5"),
    "Location_Y": location(y="-180.25"),
    "Scale": location(scale="99999999999999999999"),
    "Latitude": location_event(lat="1000"),
    "Longitude": location_event(lng="-181"),
    "Precision": location_event(precision="99999999999.5"),
    "MsgID": template_report("9" * 20),
}


@pytest.mark.parametrize("field", sorted(OUT_OF_RANGE))
async def test_a_number_out_of_range_is_ignored_with_one_line(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture, field: str
) -> None:
    client = await make_client(handler=(handler := Recorder()))
    caplog.set_level(logging.INFO)
    status, body = await post(client, OUT_OF_RANGE[field])
    assert (status, body) == (200, "success")
    assert handler.calls == []
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("bot.")]
    assert lines == [f"[default] message ignored: {field} out of range"]
    assert errors(caplog) == []


async def test_numbers_in_range_reach_the_handler(make_client: ClientFactory) -> None:
    client = await make_client(handler=(handler := Recorder()))
    for xml in (text_xml("oNum", "hi", msg_id=2**63 - 1), location(x="-90", y="180"),
                location_event(lat="-90.0", lng="180.0", precision="0"),
                template_report(str(2**63 - 1))):
        status, _ = await post(client, xml)
        assert status == 200
    assert len(handler.calls) == 4
    assert handler.calls[1].payload["latitude"] == -90.0


class Reports:
    """Delivery reports as the router hands them on."""

    def __init__(self) -> None:
        self.finished: list[int] = []

    async def template_finished(self, account: str, msgid: int, status: str) -> bool:
        self.finished.append(msgid)
        return True

    async def consents(self, account: str, openid: str, accepted: list[str],
                       rejected: list[str]) -> None:
        return None


async def test_the_delivery_router_hands_on_no_msgid_past_int64(
    texts_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Where ``int(msgid)`` is taken, for an Inbound that came by another way than the
    codec (which ignores such a report first)."""

    async def unexpected(update: Update) -> list[Outbound]:
        raise AssertionError("the delivery router takes every delivery report")

    router = Dispatcher([deliveries(reports := Reports())], fallback=unexpected,
                        engine=Engine([], Texts.load(texts_path)))
    for msgid in ("9" * 20, str(2**63), str(2**63 - 1)):
        report = Inbound(account="default", user="oTpl", kind="event", payload={
            "event": "templatesendjobfinish", "key": "", "status": "success",
            "msg_id": msgid})
        assert await router(report, StateContext()) == []
    assert reports.finished == [2**63 - 1]
    assert caplog.text.count("delivery report ignored: MsgID out of range") == 2


# -- 3. echoed values cannot break the reply ------------------------------------------------


@pytest.mark.parametrize("nonce", ["1]]>2", "<x>", "a&b", "1 2", "１２３", "n-1"])
async def test_a_nonce_that_is_not_a_plain_token_is_400(make_client: ClientFactory,
                                                        nonce: str,
                                                        caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    """Found: a nonce holding ``]]>`` was echoed into ``<Nonce><![CDATA[…]]>`` unescaped."""
    client = await make_client(handler=(handler := Recorder()))
    status, _ = await post(client, text_xml("oU", "hi"), nonce=nonce)
    assert status == 400
    assert refusal(caplog) == "malformed nonce"
    assert handler.calls == []


@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_user_and_account_names_come_back_intact(make_client: ClientFactory,
                                                       mode: str) -> None:
    client = await make_client(handler=Recorder(),
                               wechat_aes_key=None if mode == "plain" else AES_KEY)
    user, account = "o]]>x<&y", "gh_]]>]]>"
    xml = text_xml(user, "hi", to=account)  # written as WeChat would: ]]> split
    status, body = await post(client, xml, mode=mode,
                              signer=PLAIN if mode == "plain" else SIGNER)
    assert status == 200
    fields = SIGNER.open_reply(body, encrypted=mode == "safe")
    assert (fields["ToUserName"], fields["FromUserName"]) == (user, account)


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


# -- 5. safe mode cannot be downgraded -------------------------------------------------------


WITHDRAW = "撤回 LX20260001"


async def test_forged_plaintext_to_a_safe_mode_account_is_403(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The plaintext signature covers no body: a replayed query would carry any message."""
    client = await make_client(handler=(handler := Recorder()))
    status, _ = await post(client, text_xml("oVictim", WITHDRAW), mode="plain")
    assert status == 403
    assert handler.calls == []
    assert refusal(caplog) == "plaintext callback to a safe-mode account"


async def test_compatible_mode_takes_the_encrypted_part(make_client: ClientFactory) -> None:
    client = await make_client(handler=(handler := Recorder()), wechat_compatible=True)
    real = text_xml("oReal", "帮助")
    forged = text_xml("oAttacker", WITHDRAW)
    signed = SIGNER.sign(real, mode="safe")
    secret = parse_xml(signed.body)["Encrypt"]
    body = forged.replace("</xml>", f"<Encrypt><![CDATA[{secret}]]></Encrypt></xml>")
    resp = await client.post("/wechat", params=signed.params, data=body.encode())
    assert resp.status == 200
    assert [(c.user, c.text) for c in handler.calls] == [("oReal", "帮助")]
    assert SIGNER.open_reply(await resp.text(), encrypted=True)["Content"] == "帮助"
    # a compatible account still takes WeChat's plaintext callbacks (its choice)
    status, body_text = await post(client, text_xml("oPlain", "明文"), mode="plain")
    assert status == 200 and SIGNER.open_reply(body_text, encrypted=False)["Content"] == "明文"


def test_compatible_mode_is_per_account_and_needs_a_key(make_settings: SettingsFactory,
                                                        tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(f'[accounts.county]\ntoken = "countyToken9"\napp_id = "wxc"\n'
                    f'app_secret = "s"\naes_key = "{AES_KEY}"\ncompatible = true\n'
                    f'[accounts.city]\ntoken = "cityToken9"\napp_id = "wxd"\n'
                    f'app_secret = "s"\naes_key = "{AES_KEY}"\n', encoding="utf-8")
    accounts = load_accounts(make_settings(accounts_file=path))
    assert [(a.name, a.compatible) for a in accounts] == [
        ("default", False), ("county", True), ("city", False)]
    assert load_accounts(make_settings(wechat_compatible=True))[0].compatible
    path.write_text('[accounts.county]\ntoken = "countyToken9"\napp_id = "wxc"\n'
                    'app_secret = "s"\ncompatible = true\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="compatible mode needs an aes_key"):
        load_accounts(make_settings(accounts_file=path))
    with pytest.raises(ValueError, match="compatible"):
        make_settings(wechat_compatible=True, wechat_aes_key=None)


def test_the_dev_platform_signs_as_the_accounts_mode_asks() -> None:
    xml = text_xml("oAnn", "你好")
    query, body = sign_request(ACCOUNT, xml, encrypt=True)
    assert sorted(parse_xml(body)) == ["Encrypt", "ToUserName"]  # safe mode: only these
    query, body = sign_request(replace(ACCOUNT, compatible=True), xml, encrypt=True)
    fields = parse_xml(body)
    assert (fields["Content"], fields["FromUserName"]) == ("你好", "oAnn")
    assert query["encrypt_type"] == "aes"
    assert query["msg_signature"] == sha1_signature(TOKEN, query["timestamp"], query["nonce"],
                                                    fields["Encrypt"])


@pytest.mark.parametrize("compatible", [False, True])
async def test_the_dev_platform_talks_to_a_safe_mode_bot(
    make_client: ClientFactory, make_settings: SettingsFactory, compatible: bool
) -> None:
    """``lianxin dev``: the platform sends what the account's mode asks, and is answered."""
    client = await make_client(handler=(handler := Recorder()), wechat_compatible=compatible)
    account = load_accounts(make_settings(wechat_compatible=compatible))[0]
    assert account.compatible is compatible
    async with ClientSession() as session:
        wechat = CallbackClient(account, str(client.make_url("/wechat")), session)
        delivery = await wechat.send_text(wechat.openid("ann"), "你好")
    assert (delivery.reply.kind, delivery.reply.text) == ("text", "你好")
    assert delivery.tries == 1
    assert [c.text for c in handler.calls] == ["你好"]


# -- 6. no software versions in the Server header --------------------------------------------


ORIGINAL_SERVER = "Python/3.11 aiohttp/3"  # what aiohttp writes unless told otherwise


async def test_no_response_names_the_server_software(live_app: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(vars(web_response), "SERVER_SOFTWARE", ORIGINAL_SERVER)
    server = await live_app()
    async with ClientSession() as session:
        for method, path in (("GET", "/healthz"), ("POST", "/wechat"), ("GET", "/nowhere"),
                             ("GET", "/wechat?echostr=1")):
            async with session.request(method, server.make_url(path)) as resp:
                assert resp.headers.get("Server") == "lianxin", (path, resp.headers)
    head = await raw_exchange(server.port or 0, MALFORMED[0])  # answered by aiohttp itself
    assert head.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400"))
    assert b"Server: lianxin\r\n" in head and b"aiohttp" not in head and b"Python" not in head


async def test_the_dev_platform_names_no_versions(make_settings: SettingsFactory,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(vars(web_response), "SERVER_SOFTWARE", ORIGINAL_SERVER)
    account = account_of(make_settings())
    server = TestServer(create_platform_app([account], {"default": "http://127.0.0.1:9/"}))
    await server.start_server()
    try:
        async with ClientSession() as session, session.get(
            server.make_url("/dev/healthz")
        ) as resp:
            assert resp.headers.get("Server") == "lianxin"
        head = await raw_exchange(server.port or 0, MALFORMED[0])
        assert b"Server: lianxin\r\n" in head and b"aiohttp" not in head
    finally:
        await server.close()


async def test_a_body_that_lies_about_its_compression_is_one_line_not_a_traceback(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Content-Encoding: gzip on a body that is not gzip, found by the 10,000-request run:
    aiohttp's parser failed to decompress it after the edge's answer and logged an ERROR
    with a traceback. Bodies are never decompressed; the edge refuses compressed ones."""
    handler = Recorder()
    client = await make_client(handler=handler)
    signed = SIGNER.sign(text_xml("oGzip", "你好"))
    resp = await client.post("/wechat", params=signed.params, data=signed.body.encode(),
                             headers={"Content-Encoding": "gzip"})
    assert resp.status == 400
    assert refusal(caplog) == "compressed body (WeChat never compresses)"
    await asyncio.sleep(0.05)  # the server drains the unread body after answering
    assert handler.calls == [] and errors(caplog) == []
