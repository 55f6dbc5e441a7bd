"""The callback edge through HTTP: verification, modes, refusals, dedupe, budget, order."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import STORE, create_app
from bot.wechat.codec import sha1_signature
from devplatform.api import PLATFORM, create_api_app
from devplatform.state import PlatformState
from domain.messages import Inbound, Outbound
from handlers.context import StateContext
from storage.base import Store
from storage.memory import MemoryStore
from tests.conftest import AES_KEY, APP_ID, TOKEN, SettingsFactory, account_of
from tests.wechat import Signed, Signer, event_xml, next_msg_id, refusal, text_xml

SIGNER = Signer(TOKEN, APP_ID, AES_KEY)
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
# the account's settings for each way WeChat may call: plaintext (no EncodingAESKey), safe
# (encrypted only) and compatible (both; the encrypted part wins)
ACCOUNT_IN: dict[str, dict[str, Any]] = {"plain": {"wechat_aes_key": None}, "safe": {},
                                          "compatible": {"wechat_compatible": True}}


class Echo:
    """Answers each text with itself; records calls, overlap and per-user order."""

    def __init__(self, delay: float = 0.0, fail: bool = False,
                 delays: dict[str, float] | None = None) -> None:
        self.delay = delay
        self.delays = delays or {}  # per text, overriding ``delay``
        self.fail = fail
        self.calls: list[Inbound] = []
        self.running: dict[str, int] = {}
        self.max_per_user = 0
        self.max_total = 0

    async def __call__(self, inbound: Inbound, state: StateContext) -> list[Outbound]:
        self.calls.append(inbound)
        self.running[inbound.user] = self.running.get(inbound.user, 0) + 1
        self.max_per_user = max(self.max_per_user, self.running[inbound.user])
        self.max_total = max(self.max_total, sum(self.running.values()))
        try:
            seen = list(state.get() or [])  # its own shape: the texts it has seen
            delay = self.delays.get(inbound.text, self.delay)
            if delay:
                await asyncio.sleep(delay)
            if self.fail:
                raise RuntimeError("handler bug")
            state.set([*seen, inbound.text])
            return [Outbound.of_text(inbound.text)]
        finally:
            self.running[inbound.user] -= 1


@pytest.fixture
def make_client(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    make_settings: SettingsFactory,
) -> ClientFactory:
    async def build(handler: Any = None, store: Store | None = None,
                    **overrides: Any) -> TestClient[Any, Any]:
        kwargs: dict[str, Any] = {"store": store}
        if handler is not None:
            kwargs["handler_factory"] = lambda app: handler
        app = create_app(make_settings(**overrides), **kwargs)
        return await aiohttp_client(app)

    return build


async def post(client: TestClient[Any, Any], xml: str, mode: str = "safe",
               path: str = "/wechat", **sign: Any) -> tuple[int, str]:
    signed = SIGNER.sign(xml, mode=mode, **sign)
    resp = await client.post(path, params=signed.params, data=signed.body.encode("utf-8"))
    return resp.status, await resp.text()


def reply_text(body: str, encrypted: bool = True) -> str:
    fields = SIGNER.open_reply(body, encrypted=encrypted)
    assert fields["MsgType"] == "text"
    return str(fields["Content"])


# -- verification ------------------------------------------------------------------------


async def test_get_echoes_echostr_when_signed(make_client: ClientFactory) -> None:
    client = await make_client()
    ts, nonce = str(int(time.time())), "n0nce"
    resp = await client.get("/wechat", params={
        "signature": sha1_signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce,
        "echostr": "1234567890"})
    assert resp.status == 200
    assert await resp.text() == "1234567890"


def verification(ts: str | None = None, nonce: str = "n0nce",
                 token: str = TOKEN) -> dict[str, str]:
    ts = ts or str(int(time.time()))
    return {"signature": sha1_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce,
            "echostr": "1234567890"}


async def test_get_with_wrong_signature_is_forbidden(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Everything valid but the signature (made with another token)."""
    client = await make_client()
    resp = await client.get("/wechat", params=verification(token="otherToken"))
    assert resp.status == 403
    assert refusal(caplog) == "verification with a bad signature"
    assert (await client.get("/wechat", params=verification())).status == 200


async def test_get_gate_query(make_client: ClientFactory,
                             caplog: pytest.LogCaptureFixture) -> None:
    """Signed and fresh; ``echostr`` missing, then not in WeChat's format (it is echoed)."""
    client = await make_client()
    params = verification()
    del params["echostr"]
    assert (await client.get("/wechat", params=params)).status == 400
    assert refusal(caplog) == "verification: missing echostr"
    resp = await client.get("/wechat", params={**verification(), "echostr": "<b>x</b>"})
    assert resp.status == 400
    assert refusal(caplog) == "verification: malformed echostr"
    assert (await client.get("/wechat", params=verification())).status == 200


async def test_get_gate_clock(make_client: ClientFactory,
                             caplog: pytest.LogCaptureFixture) -> None:
    """Correctly signed for a timestamp outside the window, on either side."""
    client = await make_client(timestamp_window=300)
    for skew in (-301, 400, -3600):
        resp = await client.get("/wechat", params=verification(ts=str(int(time.time()) + skew)))
        assert resp.status == 403
        assert refusal(caplog) == "verification timestamp outside the window"
    resp = await client.get("/wechat", params=verification(ts=str(int(time.time()) - 250)))
    assert resp.status == 200


# -- the three modes -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["plain", "safe", "compatible"])
async def test_text_gets_help_in_every_mode(make_client: ClientFactory, mode: str) -> None:
    client = await make_client(**ACCOUNT_IN[mode])
    status, body = await post(client, text_xml("oUserA", "帮助"), mode=mode)
    assert status == 200
    fields = SIGNER.open_reply(body, encrypted=mode != "plain")
    assert fields["ToUserName"] == "oUserA"
    assert fields["FromUserName"] == "gh_0123456789ab"
    assert "使用说明" in fields["Content"]


async def test_follow_gets_welcome_with_menu_of_services(make_client: ClientFactory) -> None:
    client = await make_client()
    status, body = await post(client, event_xml("oNewFollower", "subscribe"))
    assert status == 200
    text = reply_text(body)
    assert "欢迎关注连心" in text
    # 法律咨询 is listed third only while a lawyer serves: tests/test_consultation_e2e.py
    assert "1. 我要反映" in text and "2. 我的留言" in text


async def test_unrecognised_text_and_images_get_help(make_client: ClientFactory) -> None:
    client = await make_client()
    _, body = await post(client, text_xml("oUserB", "今天天气怎么样"))
    assert "没有看懂" in reply_text(body) and "回复“帮助”" in reply_text(body)
    image = (
        "<xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>oUserB</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>image</MsgType>"
        "<PicUrl>http://x/y.jpg</PicUrl><MediaId>m1</MediaId>"
        f"<MsgId>{next_msg_id()}</MsgId></xml>"
    )
    _, body = await post(client, image)
    # not kept, and said so: "已收到" only for what is kept
    assert "没有保存" in reply_text(body) and "我要反映" in reply_text(body)


async def test_unsubscribe_is_silent(make_client: ClientFactory) -> None:
    client = await make_client()
    status, body = await post(client, event_xml("oLeaving", "unsubscribe"))
    assert (status, body) == (200, "success")


@pytest.mark.parametrize("content", [
    "a]]>b", "]]>]]>", "<xml>&amp;</xml>", "emoji 😀🧧 and 𠮷野家", "עברית‏ العربية",
    "line1\nline2\r\n\ttab", "x" * 1500 + "终",
])
async def test_user_text_comes_back_intact(make_client: ClientFactory, content: str) -> None:
    for mode in ("plain", "safe"):
        client = await make_client(handler=Echo(), **ACCOUNT_IN[mode])
        status, body = await post(client, text_xml("oEcho", content), mode=mode)
        assert status == 200
        expected = content.replace("\r\n", "\n")  # XML normalises line ends
        assert reply_text(body, encrypted=mode == "safe") == expected


# -- refusals ------------------------------------------------------------------------------


# Each gate is reached with everything else valid, and the refusal's logged reason says
# which gate answered; the same request, unbroken, is answered 200.


async def test_gate_size_by_content_length(make_client: ClientFactory,
                                           caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client(handler=(echo := Echo()))
    signed = SIGNER.sign(text_xml("oU", "长" * 30_000))  # 90 KB of UTF-8, encrypted
    resp = await client.post("/wechat", params=signed.params, data=signed.body.encode())
    assert resp.status == 413
    assert refusal(caplog) == "body over 65536 bytes (Content-Length)"
    assert echo.calls == []
    status, _ = await post(client, text_xml("oU", "长" * 3_000))  # 9 KB: under the cap
    assert status == 200


async def test_gate_size_of_a_streamed_body(make_client: ClientFactory,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """No Content-Length (chunked): the body is counted as it is read."""
    client = await make_client(handler=(echo := Echo()))
    signed = SIGNER.sign(text_xml("oU", "长" * 30_000))

    async def chunks(request: Signed) -> Any:
        data = request.body.encode()
        for i in range(0, len(data), 8192):
            yield data[i:i + 8192]

    resp = await client.post("/wechat", params=signed.params, data=chunks(signed))
    assert resp.status == 413
    assert refusal(caplog) == "body over 65536 bytes (streamed)"
    assert echo.calls == []
    small = SIGNER.sign(text_xml("oU", "长" * 3_000))  # 9 KB, streamed: under the cap
    resp = await client.post("/wechat", params=small.params, data=chunks(small))
    assert resp.status == 200
    assert [c.text for c in echo.calls] == ["长" * 3_000]


def spoil_query(signed: Signed, fault: str) -> list[tuple[str, str]]:
    """The signed request's query with one fault; every value still correctly signed."""
    params = signed.params
    if fault == "too long":  # WeChat's own is about 250 characters
        return [*params.items(), ("openid2", "o" * 1100)]
    if fault == "repeated":  # even the same value: which would the signature cover?
        return [*params.items(), ("signature", params["signature"])]
    if fault == "missing":
        return [(k, v) for k, v in params.items() if k != "signature"]
    raise AssertionError(fault)


QUERY_FAULTS = {
    "too long": "query string too long",
    "repeated": "signature given more than once",
    "missing": "missing signature",
    "malformed": "malformed nonce",
}


@pytest.mark.parametrize("fault", sorted(QUERY_FAULTS))
async def test_gate_query(make_client: ClientFactory, caplog: pytest.LogCaptureFixture,
                          fault: str) -> None:
    """Each fault on its own (more in test_edge_hostile.py); the malformed one is a nonce
    that is no plain token, correctly signed."""
    client = await make_client(handler=(echo := Echo()))
    if fault == "malformed":
        signed = SIGNER.sign(text_xml("oU", "hi"), nonce="1]]>2")
        query: list[tuple[str, str]] = list(signed.params.items())
    else:
        signed = SIGNER.sign(text_xml("oU", "hi"))
        query = spoil_query(signed, fault)
    resp = await client.post("/wechat", params=query, data=signed.body.encode())
    assert resp.status == 400
    assert refusal(caplog) == QUERY_FAULTS[fault]
    assert echo.calls == []
    status, _ = await post_signed(client, SIGNER.sign(text_xml("oU", "hi")))
    assert status == 200


async def test_gate_clock(make_client: ClientFactory, caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client(handler=(echo := Echo()), timestamp_window=300)
    for skew in (-301, 400):
        status, _ = await post(client, text_xml("oU", "hi"),
                               timestamp=int(time.time()) + skew)
        assert status == 403
        assert refusal(caplog) == "timestamp outside the window"
    status, _ = await post(client, text_xml("oU", "hi"), timestamp=int(time.time()) - 250)
    assert status == 200
    assert len(echo.calls) == 1


async def test_gate_signature(make_client: ClientFactory,
                              caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client(handler=(echo := Echo()))
    signed = SIGNER.sign(text_xml("oU", "hi"))
    forged = sha1_signature("otherToken", signed.params["timestamp"], signed.params["nonce"])
    resp = await client.post("/wechat", params={**signed.params, "signature": forged},
                             data=signed.body)
    assert resp.status == 403
    assert refusal(caplog) == "bad signature"
    assert echo.calls == []
    resp = await client.post("/wechat", params=signed.params, data=signed.body)
    assert resp.status == 200


async def test_gate_mode(make_client: ClientFactory, caplog: pytest.LogCaptureFixture) -> None:
    """A plaintext callback, correctly signed, to a safe-mode account."""
    client = await make_client(handler=(echo := Echo()))
    xml = text_xml("oU", "hi")
    status, _ = await post(client, xml, mode="plain")
    assert status == 403
    assert refusal(caplog) == "plaintext callback to a safe-mode account"
    assert echo.calls == []
    status, _ = await post(client, xml, mode="safe")
    assert status == 200


async def test_gate_mode_encrypted_to_a_plaintext_account(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Correctly signed and encrypted, to an account that has no EncodingAESKey."""
    client = await make_client(handler=(echo := Echo()), wechat_aes_key=None)
    status, _ = await post(client, text_xml("oU", "hi"), mode="safe")
    assert status == 400
    assert refusal(caplog) == "encrypted message but no AES key configured"
    assert echo.calls == []
    status, body = await post(client, text_xml("oU", "hi"), mode="plain")
    assert status == 200 and reply_text(body, encrypted=False) == "hi"


async def test_gate_msg_signature(make_client: ClientFactory,
                                  caplog: pytest.LogCaptureFixture) -> None:
    """The msg_signature of another message under the same nonce and timestamp."""
    client = await make_client(handler=(echo := Echo()))
    signed = SIGNER.sign(text_xml("oU", "hi"))
    other = SIGNER.sign(text_xml("oU", "other"), nonce=signed.params["nonce"],
                        timestamp=int(signed.params["timestamp"]))
    resp = await client.post("/wechat", params={
        **signed.params, "msg_signature": other.params["msg_signature"]}, data=signed.body)
    assert resp.status == 403
    assert refusal(caplog) == "bad msg_signature"
    assert echo.calls == []
    resp = await client.post("/wechat", params=signed.params, data=signed.body)
    assert resp.status == 200


async def test_gate_msg_signature_missing(make_client: ClientFactory,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """``encrypt_type=aes`` and a right signature, but no msg_signature."""
    client = await make_client(handler=(echo := Echo()))
    signed = SIGNER.sign(text_xml("oU", "hi"))
    params = {k: v for k, v in signed.params.items() if k != "msg_signature"}
    resp = await client.post("/wechat", params=params, data=signed.body)
    assert resp.status == 400
    assert refusal(caplog) == "encrypted message without msg_signature"
    assert echo.calls == []
    resp = await client.post("/wechat", params=signed.params, data=signed.body)
    assert resp.status == 200


async def test_gate_msg_signature_without_an_encrypt_field(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """``encrypt_type=aes``, both signatures right (msg_signature over an empty Encrypt),
    and a plaintext body: nothing the msg_signature could cover."""
    client = await make_client(handler=(echo := Echo()))
    plain = SIGNER.sign(text_xml("oU", "hi"), mode="plain")
    ts, nonce = plain.params["timestamp"], plain.params["nonce"]
    params = {**plain.params, "encrypt_type": "aes",
              "msg_signature": sha1_signature(TOKEN, ts, nonce, "")}
    resp = await client.post("/wechat", params=params, data=plain.body.encode())
    assert resp.status == 400
    assert refusal(caplog) == "no Encrypt field"
    assert echo.calls == []


async def test_gate_decrypt_and_app_id(make_client: ClientFactory,
                                       caplog: pytest.LogCaptureFixture) -> None:
    """Encrypted under our key for another app id, both signatures right."""
    client = await make_client(handler=(echo := Echo()))
    other_app = Signer(TOKEN, "wxOtherApp0000000", AES_KEY)
    status, _ = await post_signed(client, other_app.sign(text_xml("oU", "hi")))
    assert status == 400
    assert refusal(caplog) == "cannot decrypt (InvalidAppIdException)"
    assert echo.calls == []


async def test_gate_nonce(make_client: ClientFactory, store: Store,
                          caplog: pytest.LogCaptureFixture) -> None:
    """The nonce of a message already answered, on another message, correctly signed
    (the check is the store's: on both backends)."""
    client = await make_client(handler=(echo := Echo()), store=store)
    status, _ = await post(client, text_xml("oU", "first"), nonce="samenonce")
    assert status == 200
    status, _ = await post(client, text_xml("oU", "second"), nonce="samenonce")
    assert status == 403
    assert refusal(caplog) == "nonce replayed with a different body"
    assert [c.text for c in echo.calls] == ["first"]


async def post_signed(client: TestClient[Any, Any], signed: Signed) -> tuple[int, str]:
    resp = await client.post("/wechat", params=signed.params, data=signed.body.encode())
    return resp.status, await resp.text()


# each body fails one check of the parse gate, named by the reason it logs
BAD_BODIES = {
    "not xml": ("hello", "unreadable XML (ParseError)"),
    "empty": ("", "unreadable XML (ParseError)"),
    "no root fields": ("<xml/>", "no <xml> root with fields"),
    "entity": ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
               "<xml><ToUserName>a</ToUserName><FromUserName>&a;</FromUserName>"
               "<CreateTime>1</CreateTime><MsgType>text</MsgType><MsgId>1</MsgId></xml>",
               "DTD or entity declarations refused"),
    "undefined entity": ("<xml><ToUserName>a</ToUserName><FromUserName>&a;</FromUserName>"
                         "<CreateTime>1</CreateTime><MsgType>text</MsgType><MsgId>1</MsgId>"
                         "</xml>", "unreadable XML (ParseError)"),
    "control char": ("<xml><ToUserName>a</ToUserName><FromUserName>b\x01</FromUserName>"
                     "<CreateTime>1</CreateTime><MsgType>text</MsgType><MsgId>1</MsgId></xml>",
                     "unreadable XML (ParseError)"),
    "too deep": ("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
                 "<CreateTime>1</CreateTime><MsgType>text</MsgType><MsgId>1</MsgId>"
                 + "<a>" * 5 + "</a>" * 5 + "</xml>",
                 "XML nested deeper than any WeChat message"),
    "very deep": ("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
                  "<CreateTime>1</CreateTime><MsgType>text</MsgType><MsgId>1</MsgId>"
                  + "<a>" * 5000 + "</a>" * 5000 + "</xml>",
                  "XML nested deeper than any WeChat message"),
    "missing MsgType": ("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
                        "<CreateTime>1</CreateTime><MsgId>1</MsgId></xml>",
                        "missing field MsgType"),
    "missing MsgId": ("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
                      "<CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",
                      "missing or bad MsgId"),
    "event without Event": ("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
                            "<CreateTime>1</CreateTime><MsgType>event</MsgType></xml>",
                            "missing field Event"),
    "bad CreateTime": ("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
                       "<CreateTime>soon</CreateTime><MsgType>text</MsgType><MsgId>1</MsgId>"
                       "</xml>", "CreateTime is not a number"),
    "superscript CreateTime": ("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
                               "<CreateTime>²</CreateTime><MsgType>text</MsgType>"
                               "<MsgId>1</MsgId></xml>", "CreateTime is not a number"),
    "bad location": ("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
                     "<CreateTime>1</CreateTime><MsgType>location</MsgType>"
                     "<Location_X>north</Location_X><Location_Y>106.71</Location_Y>"
                     "<Scale>15</Scale><Label>x</Label><MsgId>1</MsgId></xml>",
                     "Location_X is not a number"),
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_bad_messages_are_400(make_client: ClientFactory, name: str, mode: str,
                                    caplog: pytest.LogCaptureFixture) -> None:
    """The parse gate: everything valid (in safe mode: signed and encrypted) but the XML."""
    client = await make_client(handler=(echo := Echo()), **ACCOUNT_IN[mode])
    body, reason = BAD_BODIES[name]
    status, _ = await post(client, body, mode=mode)
    assert status == 400
    assert refusal(caplog) == reason
    assert echo.calls == []


async def test_a_body_that_is_not_utf8_is_400(make_client: ClientFactory,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """A plaintext message in GBK, correctly signed: WeChat sends UTF-8 only."""
    client = await make_client(handler=(echo := Echo()), wechat_aes_key=None)
    signed = SIGNER.sign(text_xml("oU", "你好"), mode="plain")
    resp = await client.post("/wechat", params=signed.params, data=signed.body.encode("gbk"))
    assert resp.status == 400
    assert refusal(caplog) == "body is not UTF-8"
    assert echo.calls == []
    status, _ = await post(client, text_xml("oU", "你好"), mode="plain")
    assert status == 200


async def test_compressed_body_is_400(make_client: ClientFactory,
                                      caplog: pytest.LogCaptureFixture) -> None:
    """A signed message, really gzipped: WeChat never compresses, and a body is never
    decompressed (a decompressed body could be far over the size cap)."""
    client = await make_client(handler=(echo := Echo()))
    signed = SIGNER.sign(text_xml("oU", "x"))
    resp = await client.post("/wechat", params=signed.params,
                             data=gzip.compress(signed.body.encode()),
                             headers={"Content-Encoding": "gzip"})
    assert resp.status == 400
    assert refusal(caplog) == "compressed body (WeChat never compresses)"
    assert echo.calls == []
    assert (await post_signed(client, signed))[0] == 200


async def test_garbage_in_encrypt_field_is_400(make_client: ClientFactory,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """The decrypt gate: both signatures right, the ciphertext not ours."""
    client = await make_client(handler=Echo())
    for garbage in ("not-base64!!", "QUJD", "A" * 64):
        ts, nonce = str(int(time.time())), f"n{len(garbage)}{garbage[:3]}"
        params = {"timestamp": ts, "nonce": nonce, "encrypt_type": "aes",
                  "signature": sha1_signature(TOKEN, ts, nonce),
                  "msg_signature": sha1_signature(TOKEN, ts, nonce, garbage)}
        resp = await client.post("/wechat", params=params,
                                 data=f"<xml><Encrypt>{garbage}</Encrypt></xml>")
        assert resp.status == 400
        assert refusal(caplog).startswith("cannot decrypt")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    st.text(max_size=300),
    st.builds(lambda inner: f"<xml>{inner}</xml>", st.text(max_size=200)),
    st.builds(lambda c, t: text_xml("oFuzz", c).replace("text", t),
              st.text(max_size=50), st.sampled_from(["text", "event", "", "voice", "link"])),
))
async def test_arbitrary_bodies_never_crash(make_client: ClientFactory, body: str) -> None:
    for mode in ("plain", "safe"):
        client = await make_client(**ACCOUNT_IN[mode])
        status, text = await post(client, body, mode=mode)
        assert status in (200, 400), text
        await client.close()


# -- dedupe and retries --------------------------------------------------------------------


async def test_three_concurrent_identical_posts_run_handler_once(
    make_client: ClientFactory, store: Store
) -> None:
    client = await make_client(handler=(echo := Echo(delay=0.3)), store=store)
    signed = SIGNER.sign(text_xml("oTriple", "只处理一次"), mode="safe")
    results = await asyncio.gather(*(
        client.post("/wechat", params=signed.params, data=signed.body) for _ in range(3)
    ))
    bodies = [await r.text() for r in results]
    assert [r.status for r in results] == [200, 200, 200]
    assert len(echo.calls) == 1
    for body in bodies:
        assert body == "success" or reply_text(body) == "只处理一次"
    assert any(body != "success" for body in bodies)


async def test_retry_after_answer_gets_same_reply(make_client: ClientFactory) -> None:
    client = await make_client(handler=(echo := Echo()))
    xml = text_xml("oRetry", "再试一次")
    signed = SIGNER.sign(xml)  # WeChat resends the identical request
    first = await client.post("/wechat", params=signed.params, data=signed.body)
    again = await client.post("/wechat", params=signed.params, data=signed.body)
    _, other_nonce = await post(client, xml)  # the same MsgId signed afresh
    assert first.status == again.status == 200
    assert reply_text(await first.text()) == "再试一次"
    assert reply_text(await again.text()) == "再试一次"
    assert reply_text(other_nonce) == "再试一次"
    assert len(echo.calls) == 1


async def test_events_dedupe_by_user_time_event_key(make_client: ClientFactory) -> None:
    client = await make_client(handler=(echo := Echo()))
    created = int(time.time())
    await post(client, event_xml("oEv", "CLICK", "HELP", created=created))
    await post(client, event_xml("oEv", "CLICK", "HELP", created=created))
    await post(client, event_xml("oEv", "CLICK", "OTHER", created=created))
    await post(client, event_xml("oEv2", "CLICK", "HELP", created=created))
    assert len(echo.calls) == 3
    for msgid in (101, 102, 101):  # two delivery reports in one second, one repeated
        report = event_xml("oEv", "TEMPLATESENDJOBFINISH", created=created).replace(
            "</xml>", f"<MsgID>{msgid}</MsgID><Status>success</Status></xml>")
        await post(client, report)
    assert len(echo.calls) == 5


async def test_failed_handler_lets_wechat_try_again_then_runs_the_retry(
    make_client: ClientFactory,
) -> None:
    """Nothing was kept: no answer WeChat would take (it tries again), and the retry runs."""
    echo = Echo(fail=True)
    client = await make_client(handler=echo, retry_hold=0.2)
    xml = text_xml("oBug", "hi")
    status, body = await post(client, xml)
    assert status == 503  # sent after WeChat stopped listening: it tries again
    assert "已收到" not in body
    echo.fail = False
    status, body = await post(client, xml)
    assert reply_text(body) == "hi"
    assert len(echo.calls) == 2


async def test_failed_handler_on_wechats_last_try_says_it_was_not_processed(
    make_client: ClientFactory,
) -> None:
    client = await make_client(handler=Echo(fail=True), retry_hold=0.2)
    status, body = await post(client, text_xml("oBug", "hi", created=int(time.time()) - 9))
    assert status == 200
    text = reply_text(body)
    assert "没有处理成功" in text
    assert "已收到" not in text


async def test_failed_handler_keeps_the_state_as_it_was(make_client: ClientFactory) -> None:
    echo = Echo()
    client = await make_client(handler=echo, retry_hold=0.1)
    await post(client, text_xml("oKeep", "one"))
    echo.fail = True
    await post(client, text_xml("oKeep", "two"))
    echo.fail = False
    await post(client, text_xml("oKeep", "three"))
    state = await client.app[STORE].get("lianxin:state:default:oKeep")
    assert state is not None
    assert state == ["one", "three"]


class Keeper:
    """Keeps what follows "set " (any JSON) as the user's state, forgets it on "clear", and
    answers every message with the state it found: a shape the edge knows nothing of."""

    async def __call__(self, inbound: Inbound, state: StateContext) -> list[Outbound]:
        found = json.dumps(state.get(), ensure_ascii=False)
        command, _, value = inbound.text.partition(" ")
        if command == "set":
            state.set(json.loads(value))
        elif command == "clear":
            state.clear()
        return [Outbound.of_text(found)]


@pytest.mark.parametrize("shape", [
    '"一句话"', "42", '[1, "二", {"flow": 3}]', '{"lawyer": {"on_duty": true, "cases": []}}',
])
async def test_the_edge_keeps_any_state_shape_a_handler_chooses(
    make_client: ClientFactory, shape: str,
) -> None:
    client = await make_client(handler=Keeper())
    await post(client, text_xml("oShape", f"set {shape}"))
    _, body = await post(client, text_xml("oShape", "read"))
    assert json.loads(reply_text(body)) == json.loads(shape)
    assert await client.app[STORE].get("lianxin:state:default:oShape") == json.loads(shape)


async def test_a_state_the_handler_clears_is_gone(make_client: ClientFactory) -> None:
    client = await make_client(handler=Keeper())
    await post(client, text_xml("oClear", 'set {"step": 2}'))
    _, body = await post(client, text_xml("oClear", "clear"))
    assert reply_text(body) == '{"step": 2}'
    assert await client.app[STORE].get("lianxin:state:default:oClear") is None
    _, body = await post(client, text_xml("oClear", "read"))
    assert reply_text(body) == "null"


async def test_a_state_the_handler_leaves_alone_is_not_rewritten(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only a change is written: a message that merely reads the state does not renew it,
    so it lapses ``state_ttl`` after it was last set."""
    store, now = MemoryStore(), [1000.0]
    monkeypatch.setattr(store, "_now", lambda: now[0])
    client = await make_client(handler=Keeper(), store=store, state_ttl=3600)
    await post(client, text_xml("oQuiet", "set [1]"))
    now[0] += 2400
    _, body = await post(client, text_xml("oQuiet", "read"))
    assert reply_text(body) == "[1]"
    now[0] += 2400  # 4800 s after it was set, 2400 after it was read
    assert await store.get("lianxin:state:default:oQuiet") is None


async def test_store_down_is_never_answered_as_received(make_client: ClientFactory) -> None:
    client = await make_client(handler=(echo := Echo()), retry_hold=0.1)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("store unreachable")

    store = client.app[STORE]
    store.admit = broken
    status, _ = await post(client, text_xml("oU", "hi"))
    assert status == 503  # WeChat tries again
    status, body = await post(client, text_xml("oU", "hi", created=int(time.time()) - 9))
    assert status == 200
    assert "没有处理成功" in reply_text(body)
    assert echo.calls == []


# -- order per user ------------------------------------------------------------------------


async def test_one_user_in_order_many_users_concurrently(
    make_client: ClientFactory, store: Store
) -> None:
    echo = Echo(delay=0.02)
    client = await make_client(handler=echo, store=store)
    users = [f"oOrder{i}" for i in range(8)]
    per_user = 6

    async def send(user: str, i: int) -> None:
        await asyncio.sleep(i * 0.005)  # arrival order within a user
        status, _ = await post(client, text_xml(user, f"{user}-{i}"))
        assert status == 200

    await asyncio.gather(*(send(u, i) for u in users for i in range(per_user)))
    assert echo.max_per_user == 1
    assert echo.max_total > 1  # different users overlapped
    for user in users:
        seen = [c.text for c in echo.calls if c.user == user]
        assert seen == [f"{user}-{i}" for i in range(per_user)]
        state = await store.get(f"lianxin:state:default:{user}")
        assert state is not None
        assert state == seen  # no lost update: state read under the lock


# -- health --------------------------------------------------------------------------------


async def test_health_and_readiness(make_client: ClientFactory) -> None:
    client = await make_client()
    assert (await client.get("/healthz")).status == 200
    resp = await client.get("/readyz")
    assert resp.status == 200, await resp.text()


async def test_not_ready_when_the_database_is_down(make_client: ClientFactory) -> None:
    from tests.servers import free_port

    # a PostgreSQL address where nothing listens (aiosqlite's worker thread outlives a
    # failed connect and would report into a later test's event loop)
    client = await make_client(
        database_url=f"postgresql+asyncpg://lianxin@127.0.0.1:{free_port()}/lianxin")
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert "database" in (await resp.json())["failing"]
    assert (await client.get("/healthz")).status == 200


async def test_not_ready_when_redis_is_down(make_client: ClientFactory) -> None:
    from tests.servers import free_port

    client = await make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert "store" in (await resp.json())["failing"]


# -- several accounts ----------------------------------------------------------------------


async def test_second_account_has_its_own_path_and_token(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    make_settings: SettingsFactory, tmp_path: Any,
) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[accounts.county]\ntoken = "countyToken9"\napp_id = "wxcounty"\n'
        'app_secret = "sec"\n', encoding="utf-8")
    app = create_app(make_settings(accounts_file=accounts))
    client = await aiohttp_client(app)
    county = Signer("countyToken9", "wxcounty")
    signed = county.sign(text_xml("oC", "帮助"), mode="plain")
    resp = await client.post("/wechat/county", params=signed.params, data=signed.body)
    assert resp.status == 200
    assert "使用说明" in county.open_reply(await resp.text(), encrypted=False)["Content"]
    # the default account's token does not open the county's door
    resp = await client.post("/wechat/county", params=SIGNER.sign(
        text_xml("oC", "帮助"), mode="plain").params, data=signed.body)
    assert resp.status == 403



# -- over budget: answer success, push the reply later -------------------------------------


@pytest.fixture
async def platform(make_settings: SettingsFactory) -> Any:
    app = create_api_app([account_of(make_settings())])
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), app[PLATFORM]
    await server.close()


async def wait_sent(state: PlatformState, user: str, count: int) -> list[dict[str, Any]]:
    for _ in range(200):
        if len(state.sent.get(user, [])) >= count:
            break
        await asyncio.sleep(0.02)
    return state.sent.get(user, [])


async def test_slow_handler_answers_success_then_pushes(
    make_client: ClientFactory, platform: tuple[str, PlatformState]
) -> None:
    base, state = platform
    state.follow(APP_ID, "oSlow")
    client = await make_client(handler=(echo := Echo(delay=0.6)), wechat_api_base=base,
                               reply_budget=0.2)
    signed = SIGNER.sign(text_xml("oSlow", "慢慢来"))
    started = time.monotonic()
    first = await client.post("/wechat", params=signed.params, data=signed.body)
    assert await first.text() == "success"
    assert time.monotonic() - started < 0.5
    retry = await client.post("/wechat", params=signed.params, data=signed.body)
    assert await retry.text() == "success"  # a retry never runs it again nor replies twice
    sent = await wait_sent(state, "oSlow", 1)
    assert [m["text"]["content"] for m in sent] == ["慢慢来"]
    await asyncio.sleep(0.3)
    assert len(state.sent["oSlow"]) == 1
    assert len(echo.calls) == 1


class Long:
    async def __call__(self, inbound: Inbound, state: StateContext) -> list[Outbound]:
        return [Outbound.of_text(p) for p in ("第一条", "第二条", "第三条")]


async def test_extra_replies_go_as_customer_service_messages_in_order(
    make_client: ClientFactory, platform: tuple[str, PlatformState]
) -> None:
    base, state = platform
    state.follow(APP_ID, "oLong")
    client = await make_client(handler=Long(), wechat_api_base=base)
    _, body = await post(client, text_xml("oLong", "长回答"))
    assert reply_text(body) == "第一条"
    sent = await wait_sent(state, "oLong", 2)
    assert [m["text"]["content"] for m in sent] == ["第二条", "第三条"]


async def test_logs_say_why_without_the_users_text(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "我的手机13812345678住在幸福小区"
    client = await make_client(handler=Echo(fail=True))
    caplog.set_level("DEBUG")
    signed = SIGNER.sign(text_xml("oPrivate", secret))
    await client.post("/wechat", params={**signed.params, "signature": "0" * 40},
                      data=signed.body)
    await post(client, text_xml("oPrivate", secret).replace("MsgId", "MsgNo"))
    await post(client, text_xml("oPrivate", secret))  # the handler fails on it
    assert "bad signature" in caplog.text
    assert "missing or bad MsgId" in caplog.text
    assert "handler failed" in caplog.text
    assert secret not in caplog.text
    assert "13812345678" not in caplog.text


# -- regressions found in review -----------------------------------------------------------


async def test_retries_in_a_users_queue_keep_arrival_order(
    make_client: ClientFactory, store: Store
) -> None:
    """Z (slow), A, A again, B, B again, C: the handler sees Z, A, B, C in that order."""

    echo = Echo(delays={"Z": 0.3})
    client = await make_client(handler=echo, store=store)
    signed = {name: SIGNER.sign(text_xml("oRetryOrder", name)) for name in "ZABC"}
    plan = ["Z", "A", "A", "B", "B", "C"]

    async def send(i: int, name: str) -> None:
        await asyncio.sleep(i * 0.02)
        resp = await client.post("/wechat", params=signed[name].params, data=signed[name].body)
        assert resp.status == 200

    await asyncio.gather(*(send(i, n) for i, n in enumerate(plan)))
    assert [c.text for c in echo.calls] == ["Z", "A", "B", "C"]


@pytest.mark.parametrize("timestamp", ["²", "١٢٣", "1e9", "-1", " 1", "0x10"])
async def test_non_ascii_or_odd_timestamps_are_400(make_client: ClientFactory,
                                                   caplog: pytest.LogCaptureFixture,
                                                   timestamp: str) -> None:
    """The query gate: ``int()`` would read some of these (``١٢٣``, `` 1``, ``-1``);
    each is correctly signed."""
    client = await make_client(handler=(echo := Echo()), wechat_aes_key=None)
    params = {"signature": sha1_signature(TOKEN, timestamp, "n"), "timestamp": timestamp,
              "nonce": "n"}
    resp = await client.post("/wechat", params=params, data=text_xml("oU", "hi").encode())
    assert resp.status == 400
    assert refusal(caplog) == "malformed timestamp"
    resp = await client.get("/wechat", params={**params, "echostr": "e"})
    assert resp.status == 400
    assert refusal(caplog) == "verification: malformed timestamp"
    assert echo.calls == []


async def test_retry_takes_over_when_the_first_worker_died(
    make_client: ClientFactory, store: Store
) -> None:
    """The first try took the message and died: its lease lapses inside the retry's
    budget, and the retry runs the message and answers it (it never answers an empty
    ``success`` for a message nobody will finish)."""
    client = await make_client(handler=(echo := Echo()), store=store, lease=0.6)
    msg_id = next_msg_id()
    await store.admit(nonce_key="lianxin:nonce:default:dead", body_digest="d",
                      nonce_ttl=60, dedupe_key=f"lianxin:dedupe:default:m{msg_id}",
                      dedupe_ttl=0.6)  # what the dead worker left behind
    xml = text_xml("oOrphan", "还在吗", msg_id=msg_id)
    _, body = await post(client, xml)
    assert reply_text(body) == "还在吗"
    assert len(echo.calls) == 1


async def test_retry_of_a_message_still_held_is_left_for_the_next_try(
    make_client: ClientFactory, store: Store
) -> None:
    """A lease that outlives the retry's budget: the retry answers nothing WeChat would
    take as handled, and the next try (after the lease lapsed) runs the message."""
    client = await make_client(handler=(echo := Echo()), store=store, reply_budget=0.3,
                               retry_hold=0.4, lease=1.0)
    msg_id = next_msg_id()
    await store.admit(nonce_key="lianxin:nonce:default:held", body_digest="d",
                      nonce_ttl=60, dedupe_key=f"lianxin:dedupe:default:m{msg_id}",
                      dedupe_ttl=1.0)
    xml = text_xml("oHeld", "在吗", msg_id=msg_id)
    status, _ = await post(client, xml)
    assert status == 503
    assert echo.calls == []
    await asyncio.sleep(0.7)
    _, body = await post(client, xml)
    assert reply_text(body) == "在吗"
    assert len(echo.calls) == 1


async def test_a_late_message_that_could_not_be_parked_is_left_for_wechats_next_try(
    make_client: ClientFactory, platform: tuple[str, PlatformState]
) -> None:
    """Over budget, and the store would not park the message: ``success`` would leave it
    to this worker alone, so WeChat is left to try again; the answer is still pushed once
    when ready, and WeChat's retry finds it done and runs nothing."""
    base, state = platform
    state.follow(APP_ID, "oMarkFails")
    echo = Echo(delay=0.4)
    client = await make_client(handler=echo, wechat_api_base=base, reply_budget=0.1,
                               retry_hold=0.2)
    store = client.app[STORE]
    real_set = store.set

    async def failing_set(key: str, value: Any, ttl: float | None = None) -> None:
        if isinstance(value, dict) and value.get("mode") == "async":
            raise ConnectionError("store went away")
        await real_set(key, value, ttl)

    store.set = failing_set
    xml = text_xml("oMarkFails", "别丢")
    status, _ = await post(client, xml)
    assert status == 503  # not an answer WeChat would stop at
    sent = await wait_sent(state, "oMarkFails", 1)
    assert [m["text"]["content"] for m in sent] == ["别丢"]
    _, body = await post(client, xml)
    assert body == "success"
    assert len(echo.calls) == 1


async def test_late_reply_reaches_the_user_before_the_next_messages(
    make_client: ClientFactory, platform: tuple[str, PlatformState]
) -> None:
    base, state = platform
    state.follow(APP_ID, "oLate")

    client = await make_client(handler=Echo(delays={"A": 0.5}), wechat_api_base=base,
                               reply_budget=0.2)
    first = asyncio.create_task(post(client, text_xml("oLate", "A")))
    await asyncio.sleep(0.25)
    _, second = await post(client, text_xml("oLate", "B"))
    assert (await first)[1] == "success"
    sent = await wait_sent(state, "oLate", 1)
    assert sent[0]["text"]["content"] == "A"
    texts = [m["text"]["content"] for m in (await wait_sent(state, "oLate", 2))]
    if second != "success":  # B answered passively, after A's push went out
        assert reply_text(second) == "B"
        assert texts == ["A"]
    else:
        assert texts == ["A", "B"]


async def test_hung_handler_does_not_block_the_user_forever(
    make_client: ClientFactory, platform: tuple[str, PlatformState]
) -> None:
    base, state = platform
    state.follow(APP_ID, "oHang")

    echo = Echo(delays={"hang": 100.0})
    client = await make_client(handler=echo, wechat_api_base=base, reply_budget=0.2,
                               lock_ttl=1.0)
    _, first = await post(client, text_xml("oHang", "hang"))
    assert first == "success"
    _, second = await post(client, text_xml("oHang", "next"))
    sent = await wait_sent(state, "oHang", 2)
    assert "系统繁忙" in sent[0]["text"]["content"]  # the hung one was given up on
    assert sent[1]["text"]["content"] == "next"
    assert second == "success"


async def test_stalled_redis_leaves_the_message_for_wechats_next_try(
    make_client: ClientFactory,
) -> None:
    """redis-server frozen (SIGSTOP): nothing is claimed as received, WeChat is left to try
    again, and its next try after the store is back is handled."""
    import signal

    from tests.servers import redis_process

    with redis_process() as (url, proc):
        echo = Echo()
        client = await make_client(handler=echo, redis_url=url, retry_hold=0.5)
        _, body = await post(client, text_xml("oStall", "先来一条"))
        assert reply_text(body) == "先来一条"
        xml = text_xml("oStall", "卡住了")
        proc.send_signal(signal.SIGSTOP)
        try:
            status, body = await post(client, xml)
            assert status == 503
            assert "已收到" not in body
        finally:
            proc.send_signal(signal.SIGCONT)
        _, body = await post(client, xml)
        assert reply_text(body) == "卡住了"
        assert [c.text for c in echo.calls] == ["先来一条", "卡住了"]


async def test_long_text_is_split_under_2048_bytes(
    make_client: ClientFactory, platform: tuple[str, PlatformState]
) -> None:
    base, state = platform
    state.follow(APP_ID, "oLongText")
    client = await make_client(handler=Echo(), wechat_api_base=base)
    long_text = "这是一段很长的说明。" * 120  # 3,600 bytes
    _, body = await post(client, text_xml("oLongText", long_text))
    first = reply_text(body)
    assert len(first.encode("utf-8")) <= 2048
    sent = await wait_sent(state, "oLongText", 1)
    rest = "".join(m["text"]["content"] for m in sent)
    assert all(len(m["text"]["content"].encode("utf-8")) <= 2048 for m in sent)
    assert first + rest == long_text


async def test_two_workers_sharing_redis_dedupe_and_serialise_a_user(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    make_settings: SettingsFactory, redis_url: str,
) -> None:
    """Two app instances (as two `lianxin serve` processes) on one Redis."""
    from redis.asyncio import Redis

    admin: Redis = Redis.from_url(redis_url)
    await admin.flushdb()
    await admin.aclose()
    echo = Echo(delay=0.05)
    workers = [
        await aiohttp_client(create_app(make_settings(redis_url=redis_url),
                                        handler_factory=lambda app: echo))
        for _ in range(2)
    ]
    signed = SIGNER.sign(text_xml("oShared", "只一次"))
    answers = await asyncio.gather(*(
        w.post("/wechat", params=signed.params, data=signed.body) for w in workers * 2))
    assert [a.status for a in answers] == [200] * 4
    assert len(echo.calls) == 1
    await asyncio.gather(*(
        post(workers[i % 2], text_xml("oShared", f"m{i}")) for i in range(12)))
    assert echo.max_per_user == 1  # never two of the user's messages at once
    assert len(echo.calls) == 13


# -- leases: a worker's claim on a message lives as long as the worker ----------------------


async def test_a_slow_worker_keeps_its_message_while_it_lives(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    make_settings: SettingsFactory, redis_url: str,
) -> None:
    """A handler running past the lease: its worker renews the lease, so a retry at the
    other worker waits for its answer and never runs the message a second time."""
    echo = Echo(delay=1.5)
    settings = make_settings(redis_url=redis_url, lease=0.6, reply_budget=3.0)
    first, second = [await aiohttp_client(create_app(settings,
                                                     handler_factory=lambda app: echo))
                     for _ in range(2)]
    xml = text_xml("oSlowLease", "慢一点")
    owner = asyncio.create_task(post(first, xml))
    await asyncio.sleep(0.3)
    _, retried = await post(second, xml)
    _, answered = await owner
    assert reply_text(answered) == "慢一点"
    assert reply_text(retried) == "慢一点"
    assert len(echo.calls) == 1


async def test_a_parked_message_whose_worker_died_is_finished_and_pushed(
    make_client: ClientFactory, platform: tuple[str, PlatformState], store: Store,
) -> None:
    """The worker answered ``success`` (the handler was over budget), parked the message,
    and died: another worker's recovery runs it once and pushes the answer."""
    from bot.app import CALLBACKS

    base, state = platform
    state.follow(APP_ID, "oParked")
    echo = Echo()
    client = await make_client(handler=echo, store=store, wechat_api_base=base, lease=0.3)
    msg_id = next_msg_id()
    # what the dead worker's admission did: the user's customer-service window is open
    await post(client, text_xml("oParked", "你好"))
    echo.calls.clear()
    inbound = {"account": "default", "user": "oParked", "kind": "text",
               "payload": {"content": "我的事还办吗"}, "created_at": int(time.time()),
               "message_id": str(msg_id)}
    await store.set(f"lianxin:reply:default:m{msg_id}",
                    {"mode": "async", "tries": 0, "inbound": inbound}, ttl=60)
    await store.park("lianxin:parked:default", f"m{msg_id}", time.time() - 1)
    callback = client.app[CALLBACKS]["default"]
    assert await callback.recover_parked() == 1
    assert await callback.recover_parked() == 0  # taken: not twice
    sent = await wait_sent(state, "oParked", 1)
    assert [m["text"]["content"] for m in sent] == ["我的事还办吗"]
    await callback.drain()
    assert len(echo.calls) == 1
    assert await store.parked("lianxin:parked:default", time.time() + 60) == []
    # WeChat's late retry of the same message is not run again
    _, body = await post(client, text_xml("oParked", "我的事还办吗", msg_id=msg_id))
    assert body == "success"
    assert len(echo.calls) == 1


async def test_a_late_message_whose_handler_failed_is_run_again_later(
    make_client: ClientFactory, platform: tuple[str, PlatformState],
) -> None:
    """Answered ``success``, then the handler failed (the database blinked): nothing was
    kept, so the message stays parked and a later recovery runs it and pushes the answer."""
    from bot.app import CALLBACKS

    base, state = platform
    state.follow(APP_ID, "oLateFail")
    echo = Echo(delay=0.3, fail=True)
    client = await make_client(handler=echo, wechat_api_base=base, reply_budget=0.1,
                               lease=0.3)
    _, body = await post(client, text_xml("oLateFail", "再试试"))
    assert body == "success"
    await client.app[CALLBACKS]["default"].drain()
    assert state.sent.get("oLateFail", []) == []  # nothing claimed, nothing sent
    echo.fail = False
    for _ in range(100):  # the app's own recovery loop, every lease
        if state.sent.get("oLateFail"):
            break
        await asyncio.sleep(0.05)
    assert [m["text"]["content"] for m in state.sent["oLateFail"]] == ["再试试"]
    assert len(echo.calls) == 2


async def test_a_store_blink_during_a_takeover_does_not_hold_up_the_citizen(
    make_client: ClientFactory,
) -> None:
    """The take-over's admit fails: its place in the citizen's queue is given back, so
    the citizen's next message is answered at once, not after LIANXIN_LOCK_TTL."""
    store = MemoryStore()
    client = await make_client(handler=Echo(), store=store, lease=0.6, retry_hold=0.2,
                               lock_ttl=3.0, reply_budget=1.0)
    msg_id = next_msg_id()
    await store.admit(nonce_key="lianxin:nonce:default:dead", body_digest="d",
                      nonce_ttl=60, dedupe_key=f"lianxin:dedupe:default:m{msg_id}",
                      dedupe_ttl=0.6)
    real_admit = store.admit
    calls = 0

    async def flaky_admit(**kw: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:  # the take-over's admit
            raise ConnectionError("store blinked")
        return await real_admit(**kw)

    store.admit = flaky_admit  # type: ignore[method-assign]
    status, _ = await post(client, text_xml("oLeak", "A", msg_id=msg_id))
    assert status == 503 and calls == 2
    started = time.monotonic()
    _, body = await post(client, text_xml("oLeak", "B"))
    assert body != "success", body
    assert reply_text(body) == "B"
    assert time.monotonic() - started < 1.0


async def test_a_late_message_not_parked_whose_handler_fails_runs_on_wechats_retry(
    make_client: ClientFactory,
) -> None:
    echo = Echo(delay=0.3, fail=True)
    client = await make_client(handler=echo, reply_budget=0.1, lease=0.3, retry_hold=0.5)

    async def failing_park(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("store blinked")

    client.app[STORE].park = failing_park
    xml = text_xml("oZero", "丢了吗")
    status, _ = await post(client, xml)
    assert status == 503  # WeChat keeps trying: nobody else would finish the message
    echo.fail, echo.delay = False, 0.0
    _, body = await post(client, xml)
    assert reply_text(body) == "丢了吗"
    assert len(echo.calls) == 2


async def test_a_commit_applied_though_its_answer_was_lost_still_pushes_the_reply(
    make_client: ClientFactory, platform: tuple[str, PlatformState],
) -> None:
    """Redis ran the commit script, then the client timed out: the commit is read back
    as done, and the late reply is pushed rather than lost."""
    from bot.app import CALLBACKS

    base, state = platform
    state.follow(APP_ID, "oAmbig")
    echo = Echo(delay=0.3)
    client = await make_client(handler=echo, wechat_api_base=base, reply_budget=0.1,
                               lease=0.3)
    store = client.app[STORE]
    real_commit = store.commit

    async def commit_then_timeout(**kw: Any) -> bool:
        await real_commit(**kw)
        raise TimeoutError("redis socket timeout after the script ran")

    store.commit = commit_then_timeout
    _, body = await post(client, text_xml("oAmbig", "回我"))
    assert body == "success"
    await client.app[CALLBACKS]["default"].drain()
    sent = await wait_sent(state, "oAmbig", 1)
    assert [m["text"]["content"] for m in sent] == ["回我"]
    assert len(echo.calls) == 1


async def test_a_finished_late_message_is_never_run_again_by_recovery(
    make_client: ClientFactory, platform: tuple[str, PlatformState],
) -> None:
    """Its unpark failed and its done mark expired (60 s): the reply key says the answer
    was pushed, so recovery drops the leftover entry instead of running it again."""
    from bot.app import CALLBACKS

    base, state = platform
    state.follow(APP_ID, "oTwice")
    echo = Echo(delay=0.3)
    client = await make_client(handler=echo, wechat_api_base=base, reply_budget=0.1,
                               lease=0.3)
    store = client.app[STORE]

    async def unpark_fails(registry: str, member: str) -> None:
        raise ConnectionError("redis went down")

    real_unpark = store.unpark
    store.unpark = unpark_fails
    msg_id = next_msg_id()
    _, body = await post(client, text_xml("oTwice", "一次就好", msg_id=msg_id))
    assert body == "success"
    await wait_sent(state, "oTwice", 1)
    callback = client.app[CALLBACKS]["default"]
    await callback.drain()
    await store.delete(f"lianxin:dedupe:default:m{msg_id}")  # what dedupe_ttl does at 60 s
    store.unpark = real_unpark
    await asyncio.sleep(0.4)  # a parked message is looked at once its lease could lapse
    assert await callback.recover_parked() == 0
    assert await store.parked("lianxin:parked:default", time.time() + 60) == []
    assert len(echo.calls) == 1


async def test_no_false_alarm_of_a_lapsed_lease_after_the_commit(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    """A late reply's push crossing a renewal beat is not a lease lost to another worker."""
    from bot.app import CALLBACKS

    client = await make_client(handler=Echo(delay=0.15), reply_budget=0.1, lease=0.3)
    callback = client.app[CALLBACKS]["default"]

    async def slow_sender(user: str, outbounds: list[Outbound]) -> None:
        await asyncio.sleep(0.3)  # an outbox write of ordinary length

    callback._sender = slow_sender
    _, body = await post(client, text_xml("oFalse", "慢"))
    assert body == "success"
    await callback.drain()
    assert not [r for r in caplog.records if "lease lapsed" in r.getMessage()]
