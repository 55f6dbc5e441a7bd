"""WeChat XML in and out: signatures, safe-mode crypto, wechatpy message ↔ Inbound/Outbound.

This is the only module (with the dev platform) that touches XML or wechatpy.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.replies import ArticlesReply, ImageReply, TextReply, VoiceReply

from domain.messages import Inbound, InboundKind, Outbound, Scalar


class BadMessage(ValueError):
    """The body is not a WeChat message we can read; the text says why (never user text)."""


class OutOfRange(BadMessage):
    """A well-formed number outside anything WeChat sends (a forged or broken message).

    The edge ignores such a message (answers ``success``, logs one line) rather than
    refusing it: the number is wrong, not the request.
    """

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} out of range")
        self.field = field


def sha1_signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the parts sorted and joined."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_ok(expected_parts: tuple[str, ...], given: str) -> bool:
    """Whether ``given`` is the signature of the parts; any string, compared as bytes
    (``hmac.compare_digest`` refuses non-ASCII ``str``)."""
    expected = sha1_signature(*expected_parts).encode("ascii")
    return hmac.compare_digest(expected, given.lower().encode("utf-8", "surrogatepass"))


# what XML 1.0 can carry at all: tab, line feed, carriage return and these ranges
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_chars(text: str) -> str:
    """``text`` as an XML reader will read it back from a CDATA section: line ends as LF
    (a reader turns CR LF and a lone CR into LF) and each character XML cannot carry
    (most C0 controls, U+FFFE, U+FFFF, lone surrogates) as U+FFFD."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _NOT_XML.search(text) is not None:
        text = _NOT_XML.sub("\ufffd", text)
    return text


def cdata_safe(text: str) -> str:
    """Make text safe inside ``<![CDATA[…]]>``: every character XML can carry (see
    :func:`xml_chars`), and ``]]>`` split, which wechatpy's writer does not do."""
    return xml_chars(text).replace("]]>", "]]]]><![CDATA[>")


def parse_xml(body: str) -> dict[str, Any]:
    """Parse an ``<xml>`` document into a dict of its children; refuses any DTD.

    Leaf elements map to their text (``None`` when empty), elements with children to a
    nested dict, repeated names to a list, as xmltodict would. A document type
    declaration (where entities are declared) is refused before parsing, so no entity is
    ever expanded; undefined entity references, raw control characters and malformed
    XML fail in expat (C), which is several times faster than a Python SAX handler.
    """
    if _has_declarations(body):
        raise BadMessage("DTD or entity declarations refused")
    try:
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, ValueError) as exc:
        raise BadMessage(f"unreadable XML ({type(exc).__name__})") from None
    if root.tag != "xml" or len(root) == 0:
        raise BadMessage("no <xml> root with fields")
    fields = _children(root, 0)
    assert isinstance(fields, dict)
    return fields


def _has_declarations(body: str) -> bool:
    """True if the prolog (before the root element) holds a ``<!DOCTYPE`` or similar."""
    i, n = 0, len(body)
    while i < n:
        if body[i].isspace() or body[i] == "\ufeff":
            i += 1
        elif body.startswith("<?", i):
            end = body.find("?>", i + 2)
            i = n if end < 0 else end + 2
        elif body.startswith("<!--", i):
            end = body.find("-->", i + 4)
            i = n if end < 0 else end + 3
        else:
            return body.startswith("<!", i)
    return False


def _children(element: ElementTree.Element, depth: int) -> dict[str, Any] | str | None:
    if len(element) == 0:
        return element.text or None
    if depth >= _MAX_DEPTH:
        raise BadMessage("XML nested deeper than any WeChat message")
    out: dict[str, Any] = {}
    for child in element:
        value = _children(child, depth + 1)
        if child.tag in out:
            previous = out[child.tag]
            if isinstance(previous, list):
                previous.append(value)
            else:
                out[child.tag] = [previous, value]
        else:
            out[child.tag] = value
    return out


_ENVELOPE = re.compile(
    r"\s*<xml>\s*(?:<ToUserName><!\[CDATA\[[A-Za-z0-9_\-]{0,64}\]\]></ToUserName>\s*)?"
    r"<Encrypt><!\[CDATA\[([A-Za-z0-9+/=]{1,100000})\]\]></Encrypt>\s*"
    r"(?:<ToUserName><!\[CDATA\[[A-Za-z0-9_\-]{0,64}\]\]></ToUserName>\s*)?</xml>\s*"
)


def encrypted_field(body: str) -> str:
    """The ``Encrypt`` field of a safe-mode body.

    WeChat's envelope has one fixed shape, matched here without a parser (the common
    case, and a body that matches is well-formed XML); anything else is parsed in full.
    """
    match = _ENVELOPE.fullmatch(body)
    if match is not None:
        return match.group(1)
    value = parse_xml(body).get("Encrypt")
    if not isinstance(value, str) or not value:
        raise BadMessage("no Encrypt field")
    return value


@dataclass(slots=True)  # built for every message; treat as read-only
class Envelope:
    """What the edge needs besides the Inbound: names to reply with and the dedupe key."""

    account_id: str  # the account's original id (gh_…), ToUserName of the message
    user: str  # the user's OpenID, FromUserName
    dedupe_key: str


class Crypto:
    """Safe-mode crypto for one account, on wechatpy's PrpCrypto (AES-256-CBC, PKCS#7)."""

    def __init__(self, token: str, aes_key: str, app_id: str) -> None:
        self._token = token
        self._app_id = app_id
        self._crypto = WeChatCrypto(token, aes_key, app_id)
        self._prp = PrpCrypto(self._crypto.key)

    def signature_ok(self, encrypted: str, msg_signature: str, timestamp: str, nonce: str) -> bool:
        return signature_ok((self._token, timestamp, nonce, encrypted), msg_signature)

    def decrypt(self, encrypted: str) -> str:
        """The inner XML; :class:`BadMessage` on any fault (base64, padding, app id, UTF-8)."""
        try:
            return str(self._prp.decrypt(encrypted, self._app_id))
        except Exception as exc:
            raise BadMessage(f"cannot decrypt ({type(exc).__name__})") from None

    def encrypt(self, xml: str, nonce: str, timestamp: str | None = None) -> str:
        """The ``<xml><Encrypt>…`` envelope with its ``MsgSignature``.

        wechatpy's ``encrypt_message`` writes the nonce into ``<Nonce><![CDATA[…]]>`` as
        given, so a nonce holding ``]]>`` would break the reply. Here the nonce is made
        CDATA-safe, and the signature covers the nonce as a reader will read it back.
        """
        stamp = timestamp or str(int(time.time()))
        nonce = xml_chars(nonce)
        secret = self._prp.encrypt(xml, self._app_id)
        secret_text = secret.decode("ascii") if isinstance(secret, bytes) else str(secret)
        signature = sha1_signature(self._token, stamp, nonce, secret_text)
        return (f"<xml><Encrypt><![CDATA[{secret_text}]]></Encrypt>"
                f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
                f"<TimeStamp>{stamp}</TimeStamp>"
                f"<Nonce><![CDATA[{cdata_safe(nonce)}]]></Nonce></xml>")


_REQUIRED = ("ToUserName", "FromUserName", "CreateTime", "MsgType")
_INTEGER = re.compile(r"[0-9]+")  # ASCII only: int() would also read "١٢" or "²"
_DECIMAL = re.compile(r"[-+]?[0-9]+(?:\.[0-9]+)?")  # no exponent, inf or nan
INT64_MAX = 2**63 - 1  # message ids: a signed 64-bit column in every database
CREATE_TIME_MAX = 2**32 - 1  # seconds; any datetime can hold it
SCALE_MAX = 100.0  # map zoom; WeChat sends about 3-20
PRECISION_MAX = 1_000_000.0  # metres
_MAX_DEPTH = 4  # WeChat's deepest message nests 3 levels under <xml>
_IDENTIFIERS = (*_REQUIRED, "MsgId", "MsgID", "Event", "EventKey")
_KINDS: dict[str, InboundKind] = {
    "text": "text",
    "image": "image",
    "voice": "voice",
    "video": "video",
    "shortvideo": "video",
    "location": "location",
    "link": "link",
    "event": "event",
}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _integer(fields: dict[str, Any], name: str, high: int) -> int:
    """A whole number field in ``0..high``; :class:`BadMessage` if it is not a number,
    :class:`OutOfRange` past ``high``."""
    value = fields.get(name)
    if not isinstance(value, str) or not _INTEGER.fullmatch(value):
        raise BadMessage(f"{name} is not a number")
    digits = value.lstrip("0") or "0"
    if len(digits) > len(str(high)) or int(digits) > high:  # int() only on short strings
        raise OutOfRange(name)
    return int(digits)


def _decimal(fields: dict[str, Any], name: str, low: float, high: float, *,
             required: bool = False) -> float | None:
    """A decimal field in ``low..high`` (``None`` if absent and not ``required``)."""
    value = fields.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value.strip()):
        raise BadMessage(f"{name} is not a number")
    number = float(value)  # a long string of digits is inf, out of any range
    if not low <= number <= high:
        raise OutOfRange(name)
    return number


def to_inbound(xml: str, account: str) -> tuple[Inbound, Envelope]:
    """Turn a decrypted callback body into an Inbound; :class:`BadMessage` if unusable."""
    fields = parse_xml(xml)
    for name in _IDENTIFIERS:  # tolerate pretty-printed XML around identifiers
        value = fields.get(name)
        if isinstance(value, str):
            fields[name] = value.strip()
    for name in _REQUIRED:
        if not isinstance(fields.get(name), str) or not fields[name]:
            raise BadMessage(f"missing field {name}")
    created_at = _integer(fields, "CreateTime", CREATE_TIME_MAX)
    msg_type = fields["MsgType"].lower()
    if msg_type != "event":
        if not _INTEGER.fullmatch(_text(fields.get("MsgId"))):
            raise BadMessage("missing or bad MsgId")
        msg_id = str(_integer(fields, "MsgId", INT64_MAX))
        dedupe_key = f"m{msg_id}"
    else:
        if not _text(fields.get("Event")):
            raise BadMessage("missing field Event")
        msg_id = ""
        # WeChat's rule is FromUserName + CreateTime + Event + EventKey; delivery reports
        # carry no EventKey but a MsgID, without which two in one second would collide
        dedupe_key = "e" + hashlib.sha1(
            "\x1f".join(
                (fields["FromUserName"], str(created_at), _text(fields.get("Event")),
                 _text(fields.get("EventKey")),
                 _text(fields.get("MsgID") or fields.get("MsgId")))
            ).encode("utf-8")
        ).hexdigest()
    # One parse: the fields are already here, so the kind comes from MsgType directly
    # (wechatpy's parse_message would parse the same text a second time).
    kind = _KINDS.get(msg_type, "unsupported")
    payload: dict[str, Scalar]
    if kind == "text":
        payload = {"content": _text(fields.get("Content"))}
    elif kind == "image":
        payload = {"media_id": _text(fields.get("MediaId")), "url": _text(fields.get("PicUrl"))}
    elif kind == "voice":
        payload = {
            "media_id": _text(fields.get("MediaId")),
            "format": _text(fields.get("Format")),
            "recognition": _text(fields.get("Recognition")),
        }
    elif kind == "video":
        payload = {
            "media_id": _text(fields.get("MediaId")),
            "thumb_media_id": _text(fields.get("ThumbMediaId")),
        }
    elif kind == "location":
        payload = {
            "latitude": _decimal(fields, "Location_X", -90, 90, required=True),
            "longitude": _decimal(fields, "Location_Y", -180, 180, required=True),
            "scale": _decimal(fields, "Scale", 0, SCALE_MAX),
            "label": _text(fields.get("Label")),
        }
    elif kind == "link":
        payload = {
            "title": _text(fields.get("Title")),
            "description": _text(fields.get("Description")),
            "url": _text(fields.get("Url")),
        }
    elif kind == "event":
        event = _text(fields.get("Event")).lower()
        key = _text(fields.get("EventKey"))
        if event == "subscribe" and key.startswith("qrscene_"):
            key = key[len("qrscene_"):]
        payload = {"event": event, "key": key}
        if event == "location":
            payload["latitude"] = _decimal(fields, "Latitude", -90, 90)
            payload["longitude"] = _decimal(fields, "Longitude", -180, 180)
            _decimal(fields, "Precision", 0, PRECISION_MAX)
        if event == "templatesendjobfinish":
            payload["status"] = _text(fields.get("Status"))
            name = "MsgID" if "MsgID" in fields else "MsgId"
            payload["msg_id"] = (str(_integer(fields, name, INT64_MAX)) if name in fields
                                 else "")
        if event in ("subscribe_msg_popup_event", "subscribe_msg_change_event"):
            accepted, rejected = _consents(fields)
            payload["accepted"] = ",".join(accepted)
            payload["rejected"] = ",".join(rejected)
    else:
        payload = {"type": msg_type}

    inbound = Inbound(
        account=account,
        user=fields["FromUserName"],
        kind=kind,
        payload=payload,
        created_at=created_at,
        message_id=msg_id,
    )
    return inbound, Envelope(fields["ToUserName"], fields["FromUserName"], dedupe_key)


def _consents(fields: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Template ids the user accepted and rejected in a subscribe-message popup or change.

    WeChat's own example wraps the change event in the popup element, so both are read.
    """
    accepted: list[str] = []
    rejected: list[str] = []
    for wrapper in ("SubscribeMsgPopupEvent", "SubscribeMsgChangeEvent"):
        block = fields.get(wrapper)
        if not isinstance(block, dict):
            continue
        items = block.get("List")
        for item in items if isinstance(items, list) else [items]:
            if not isinstance(item, dict):
                continue
            template_id = _text(item.get("TemplateId")).strip()
            status = _text(item.get("SubscribeStatusString")).strip().lower()
            if template_id and "," not in template_id:
                (accepted if status == "accept" else rejected).append(template_id)
    return accepted, rejected


def render_reply(outbound: Outbound, envelope: Envelope) -> str:
    """Passive reply XML for one Outbound, with user text made CDATA-safe."""
    now = int(time.time())
    common = {"source": cdata_safe(envelope.account_id), "target": cdata_safe(envelope.user),
              "time": now}
    if outbound.kind == "text":
        return str(TextReply(content=cdata_safe(outbound.text), **common).render())
    if outbound.kind == "image":
        return str(ImageReply(media_id=cdata_safe(outbound.media_id), **common).render())
    if outbound.kind == "voice":
        return str(VoiceReply(media_id=cdata_safe(outbound.media_id), **common).render())
    articles = [
        {
            "title": cdata_safe(a.title),
            "description": cdata_safe(a.description),
            "image": cdata_safe(a.image_url),
            "url": cdata_safe(a.url),
        }
        for a in outbound.articles
    ]
    return str(ArticlesReply(articles=articles, **common).render())
