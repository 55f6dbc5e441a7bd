"""Channel-neutral message types: the boundary between the edge and everything below it.

The edge turns a channel's message (a wechatpy object today, WeCom or a web widget later)
into an :class:`Inbound` and renders the :class:`Outbound` replies back into that channel's
format. Nothing below ``bot/`` sees XML or wechatpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

InboundKind = Literal[
    "text", "image", "voice", "video", "location", "link", "event", "unsupported"
]
Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message or event from a user.

    ``payload`` holds the kind's fields with channel-neutral names:

    - text: ``content``
    - image: ``media_id``, ``url``
    - voice: ``media_id``, ``format``, ``recognition``
    - video: ``media_id``, ``thumb_media_id``
    - location: ``latitude``, ``longitude``, ``scale``, ``label``
    - link: ``title``, ``description``, ``url``
    - event: ``event`` (lower case: subscribe, unsubscribe, click, scan, …), ``key``
    - unsupported: ``type`` (the channel's own type name)
    """

    account: str
    user: str
    kind: InboundKind
    payload: dict[str, Scalar] = field(default_factory=dict)
    created_at: int = 0
    message_id: str = ""

    @property
    def text(self) -> str:
        """The user's text, stripped, or ``""`` for anything that is not text."""
        if self.kind != "text":
            return ""
        content = self.payload.get("content")
        return content.strip() if isinstance(content, str) else ""

    @property
    def event(self) -> str:
        if self.kind != "event":
            return ""
        value = self.payload.get("event")
        return value if isinstance(value, str) else ""

    @property
    def event_key(self) -> str:
        value = self.payload.get("key")
        return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class Article:
    title: str
    description: str = ""
    url: str = ""
    image_url: str = ""


@dataclass(frozen=True, slots=True)
class Outbound:
    """One reply to a user: a text, an image or a voice message by media id, or a news
    card list."""

    kind: Literal["text", "image", "voice", "news"]
    text: str = ""
    media_id: str = ""
    articles: tuple[Article, ...] = ()

    @classmethod
    def of_text(cls, text: str) -> Outbound:
        return cls(kind="text", text=text)

    @classmethod
    def of_image(cls, media_id: str) -> Outbound:
        return cls(kind="image", media_id=media_id)

    @classmethod
    def of_voice(cls, media_id: str) -> Outbound:
        return cls(kind="voice", media_id=media_id)

    @classmethod
    def of_news(cls, *articles: Article) -> Outbound:
        if not 1 <= len(articles) <= 8:
            raise ValueError("a news reply carries 1 to 8 articles")
        return cls(kind="news", articles=tuple(articles))

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "text": self.text,
            "media_id": self.media_id,
            "articles": [
                {
                    "title": a.title,
                    "description": a.description,
                    "url": a.url,
                    "image_url": a.image_url,
                }
                for a in self.articles
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Outbound:
        raw_articles = data.get("articles") or []
        articles: list[Article] = []
        if isinstance(raw_articles, list):
            for item in raw_articles:
                if isinstance(item, dict):
                    articles.append(
                        Article(
                            title=str(item.get("title", "")),
                            description=str(item.get("description", "")),
                            url=str(item.get("url", "")),
                            image_url=str(item.get("image_url", "")),
                        )
                    )
        kind = data.get("kind")
        if kind not in ("text", "image", "voice", "news"):
            raise ValueError(f"unknown outbound kind {kind!r}")
        return cls(
            kind=kind,
            text=str(data.get("text", "")),
            media_id=str(data.get("media_id", "")),
            articles=tuple(articles),
        )


TEXT_LIMIT_BYTES = 2048


def split_text(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` UTF-8 bytes.

    Splits at the last line break that fits, else at a character boundary; never inside a
    character. An empty text gives one empty piece.
    """
    if limit < 4:
        raise ValueError("limit must leave room for one character")
    pieces: list[str] = []
    rest = text
    while len(rest.encode("utf-8")) > limit:
        # largest prefix that fits, by characters
        lo, hi = 0, len(rest)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if len(rest[:mid].encode("utf-8")) <= limit:
                lo = mid
            else:
                hi = mid - 1
        cut = lo
        newline = rest.rfind("\n", 0, cut)
        if newline > cut // 2:
            cut = newline + 1
        pieces.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:]
    pieces.append(rest)
    return pieces


def join_texts(outbounds: list[Outbound]) -> list[Outbound]:
    """Consecutive texts as one message, a blank line apart: one passive reply instead of
    a reply and customer-service pushes (which spend the user's quota and may arrive out
    of order). The edge still splits a text that outgrows WeChat's limit."""
    joined: list[Outbound] = []
    for outbound in outbounds:
        if outbound.kind == "text" and joined and joined[-1].kind == "text":
            joined[-1] = Outbound.of_text(f"{joined[-1].text}\n\n{outbound.text}")
        else:
            joined.append(outbound)
    return joined


def excerpt(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis when longer."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
