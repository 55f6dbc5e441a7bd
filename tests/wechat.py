"""Build callback requests the way WeChat signs and encrypts them (test side)."""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Any

import pytest

from bot.config import Account
from bot.wechat.codec import Crypto, parse_xml, sha1_signature
from devplatform.messages import build_text
from devplatform.signing import encrypt_for

_msg_ids = itertools.count(24_000_000_000_000_001)


def next_msg_id() -> int:
    return next(_msg_ids)


def text_xml(user: str, content: str, *, msg_id: int | None = None,
             created: int | None = None, to: str = "gh_0123456789ab") -> str:
    return build_text(to, user, content, msg_id if msg_id is not None else next_msg_id(),
                      create_time=created)


def event_xml(user: str, event: str, key: str = "", *, created: int | None = None,
              to: str = "gh_0123456789ab") -> str:
    """Any event, including ones the dev platform has no builder for."""
    return (
        f"<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{created or int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>"
        f"<EventKey><![CDATA[{key}]]></EventKey></xml>"
    )


@dataclass(frozen=True)
class Signed:
    params: dict[str, str]
    body: str


@dataclass(frozen=True)
class Signer:
    token: str
    app_id: str
    aes_key: str | None = None

    def sign(self, xml: str, *, mode: str = "safe", nonce: str | None = None,
             timestamp: int | None = None) -> Signed:
        """``mode``: plain, safe (only Encrypt) or compatible (fields and Encrypt)."""
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or secrets.token_hex(5)
        params = {"timestamp": ts, "nonce": nonce,
                  "signature": sha1_signature(self.token, ts, nonce), "openid": "o"}
        if mode == "plain":
            return Signed(params, xml)
        assert self.aes_key is not None
        account = Account("t", self.token, self.app_id, "", self.aes_key, "http://unused")
        encrypted = encrypt_for(account, xml)
        params.update(encrypt_type="aes",
                      msg_signature=sha1_signature(self.token, ts, nonce, encrypted))
        if mode == "compatible":
            body = xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
        else:
            body = (f"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>"
                    f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
        return Signed(params, body)

    def open_reply(self, body: str, *, encrypted: bool) -> dict[str, Any]:
        """Parse a passive reply as WeChat would; checks the reply's MsgSignature."""
        fields = parse_xml(body)
        if not encrypted:
            return fields
        assert self.aes_key is not None
        crypto = Crypto(self.token, self.aes_key, self.app_id)
        assert crypto.signature_ok(fields["Encrypt"], fields["MsgSignature"],
                                   fields["TimeStamp"], fields["Nonce"]), "bad reply signature"
        return parse_xml(crypto.decrypt(fields["Encrypt"]))


def refusal(caplog: pytest.LogCaptureFixture) -> str:
    """The reason of the last refusal the edge logged: which gate answered."""
    lines = [r.getMessage() for r in caplog.records  # "[account] request refused (403): …"
             if "] request refused (" in r.getMessage()]
    return lines[-1].split(": ", 1)[1] if lines else ""
