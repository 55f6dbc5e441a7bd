"""Read the bot's answer to a callback as WeChat does.

``success`` or an empty body: the user sees nothing. Valid reply XML (text, image, news),
encrypted with a good ``MsgSignature`` when the account is in safe mode: the user sees the
message. Anything else (an HTTP error, XML that is not a valid reply, a bad signature, a
reply addressed to someone else): the user sees :data:`UNAVAILABLE_TEXT`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bot.config import Account
from bot.wechat.codec import BadMessage, Crypto, parse_xml, signature_ok
from devplatform.identity import original_id_for
from domain.messages import TEXT_LIMIT_BYTES, Article

UNAVAILABLE_TEXT = "该公众号暂时无法提供服务，请稍后再试"
MAX_ARTICLES = 8

ReplyKind = Literal["none", "text", "image", "news", "unavailable"]


class Unreadable(Exception):
    """The answer is not something WeChat can show; the text says why (for the developer)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What the user sees after one message. ``detail`` says why a reply was unavailable."""

    kind: ReplyKind
    text: str = ""
    media_id: str = ""
    articles: tuple[Article, ...] = ()
    detail: str = ""

    @classmethod
    def unavailable(cls, detail: str) -> Reply:
        return cls(kind="unavailable", text=UNAVAILABLE_TEXT, detail=detail)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "text": self.text,
            "media_id": self.media_id,
            "articles": [
                {"title": a.title, "description": a.description, "url": a.url,
                 "image_url": a.image_url}
                for a in self.articles
            ],
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        kind = data.get("kind")
        if kind not in ("none", "text", "image", "news", "unavailable"):
            raise ValueError(f"unknown reply kind {kind!r}")
        articles = tuple(
            Article(
                title=str(a.get("title", "")),
                description=str(a.get("description", "")),
                url=str(a.get("url", "")),
                image_url=str(a.get("image_url", "")),
            )
            for a in data.get("articles") or []
            if isinstance(a, dict)
        )
        return cls(
            kind=kind,
            text=str(data.get("text", "")),
            media_id=str(data.get("media_id", "")),
            articles=articles,
            detail=str(data.get("detail", "")),
        )


def read_reply(
    account: Account, status: int, body: bytes, *, openid: str, encrypted: bool
) -> Reply:
    """What the user sees for the bot's HTTP answer to a message from ``openid``.

    ``encrypted`` tells whether the request was sent in safe mode; then a reply must be
    encrypted too (``success`` and an empty body need not be).
    """
    if status != 200:
        return Reply.unavailable(f"the bot answered HTTP {status}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Reply.unavailable("the answer is not UTF-8")
    if text.strip() in ("", "success"):
        return Reply(kind="none")
    try:
        inner = _unwrap(account, text, encrypted)
        return _interpret(inner, account, openid)
    except Unreadable as exc:
        return Reply.unavailable(str(exc))


def _unwrap(account: Account, text: str, encrypted: bool) -> dict[str, Any]:
    try:
        fields = parse_xml(text)
    except BadMessage as exc:
        raise Unreadable(f"the answer is not XML: {exc}") from None
    if not encrypted:
        if "Encrypt" in fields:
            raise Unreadable("an encrypted reply to a plain-text message")
        return fields
    if "Encrypt" not in fields:
        raise Unreadable("a plain-text reply in safe mode (it must be encrypted)")
    if not account.aes_key:
        raise Unreadable("an encrypted reply but the account has no EncodingAESKey")
    secret, msg_signature = _str(fields, "Encrypt"), _str(fields, "MsgSignature")
    timestamp, nonce = _str(fields, "TimeStamp"), _str(fields, "Nonce")
    if not signature_ok((account.token, timestamp, nonce, secret), msg_signature):
        raise Unreadable("the reply's MsgSignature does not match")
    try:
        plain = Crypto(account.token, account.aes_key, account.app_id).decrypt(secret)
        return parse_xml(plain)
    except BadMessage as exc:
        raise Unreadable(f"the encrypted reply cannot be read: {exc}") from None


def _str(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise Unreadable(f"the reply has no {name}")
    return value


def _interpret(fields: dict[str, Any], account: Account, openid: str) -> Reply:
    if _str(fields, "ToUserName") != openid:
        raise Unreadable("the reply's ToUserName is not the user who wrote")
    if _str(fields, "FromUserName") != original_id_for(account.app_id):
        raise Unreadable("the reply's FromUserName is not the account's original id")
    if not _str(fields, "CreateTime").isdigit():
        raise Unreadable("the reply's CreateTime is not a number")
    msg_type = _str(fields, "MsgType")
    if msg_type == "text":
        content = _str(fields, "Content")
        size = len(content.encode("utf-8"))
        if size > TEXT_LIMIT_BYTES:
            raise Unreadable(f"the text reply is {size} bytes, over {TEXT_LIMIT_BYTES}")
        return Reply(kind="text", text=content)
    if msg_type == "image":
        image = fields.get("Image")
        if not isinstance(image, dict):
            raise Unreadable("the image reply has no Image")
        return Reply(kind="image", media_id=_str(image, "MediaId"))
    if msg_type == "news":
        return Reply(kind="news", articles=_articles(fields))
    raise Unreadable(f"the reply's MsgType {msg_type!r} is not one the dev platform shows")


def _articles(fields: dict[str, Any]) -> tuple[Article, ...]:
    count = _str(fields, "ArticleCount")
    holder = fields.get("Articles")
    items = holder.get("item") if isinstance(holder, dict) else None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items:
        raise Unreadable("the news reply has no Articles")
    if not count.isdigit() or int(count) != len(items):
        raise Unreadable("the news reply's ArticleCount does not match its Articles")
    if len(items) > MAX_ARTICLES:
        raise Unreadable(f"the news reply has {len(items)} articles, over {MAX_ARTICLES}")
    articles: list[Article] = []
    for item in items:
        if not isinstance(item, dict):
            raise Unreadable("a news article is not a table of fields")
        articles.append(
            Article(
                title=_opt(item, "Title"),
                description=_opt(item, "Description"),
                url=_opt(item, "Url"),
                image_url=_opt(item, "PicUrl"),
            )
        )
    if not any(a.title for a in articles):
        raise Unreadable("the news reply's articles have no Title")
    return tuple(articles)


def _opt(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    return value if isinstance(value, str) else ""
