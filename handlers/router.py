"""The default handler: routes an Inbound to the reply the citizen should get."""

from __future__ import annotations

from typing import Protocol

from domain.messages import Inbound, Outbound
from flows.context import Conversation
from handlers.texts import Texts

HELP_WORDS = frozenset({"帮助", "help", "?", "？", "菜单", "使用说明"})
SILENT_EVENTS = frozenset(
    {"unsubscribe", "view", "location", "templatesendjobfinish", "masssendjobfinish",
     "view_miniprogram"}
)
WELCOME_EVENTS = frozenset({"subscribe", "subscribe_scan"})


class Handler(Protocol):
    """Anything that answers an Inbound given the user's conversation (mutable)."""

    async def __call__(
        self, inbound: Inbound, conversation: Conversation, /
    ) -> list[Outbound]: ...


class Subscriptions(Protocol):
    """Where follow and unfollow are recorded (storage.db.Citizens in production)."""

    async def set_subscribed(self, account: str, openid: str, subscribed: bool) -> None: ...


class Router:
    def __init__(self, texts: Texts, subscriptions: Subscriptions | None = None) -> None:
        self._texts = texts
        self._subscriptions = subscriptions

    async def __call__(self, inbound: Inbound, conversation: Conversation) -> list[Outbound]:
        conversation.messages += 1
        if inbound.kind == "event":
            if self._subscriptions is not None and inbound.event in (
                *WELCOME_EVENTS, "unsubscribe"
            ):
                await self._subscriptions.set_subscribed(
                    inbound.account, inbound.user, inbound.event != "unsubscribe"
                )
            return self._on_event(inbound, conversation)
        if inbound.kind == "text":
            if inbound.text.lower() in HELP_WORDS:
                return [Outbound.of_text(self._texts("help"))]
            return [Outbound.of_text(self._texts("unrecognised"))]
        return [Outbound.of_text(self._texts("not_text"))]

    def _on_event(self, inbound: Inbound, conversation: Conversation) -> list[Outbound]:
        event = inbound.event
        if event in WELCOME_EVENTS:
            conversation.clear()
            return [Outbound.of_text(self._texts("welcome"))]
        if event == "unsubscribe":
            conversation.clear()
            return []
        if event in SILENT_EVENTS:
            return []
        if event in ("click", "scancode_waitmsg") and inbound.event_key.upper() == "HELP":
            return [Outbound.of_text(self._texts("help"))]
        if event == "scan":
            return [Outbound.of_text(self._texts("welcome"))]
        # a menu key or event no service handles yet: tell the user what we can do
        return [Outbound.of_text(self._texts("help"))]
