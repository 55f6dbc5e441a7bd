"""The default handler: routes an Inbound to the reply the citizen should get."""

from __future__ import annotations

import logging
from typing import Protocol

from domain.messages import Inbound, Outbound, join_texts
from flows.context import Conversation
from flows.engine import HELP
from handlers.citizen import CitizenDesk
from handlers.context import StateContext
from handlers.texts import Texts

SILENT_EVENTS = frozenset(
    {"unsubscribe", "view", "location", "templatesendjobfinish", "masssendjobfinish",
     "view_miniprogram", "subscribe_msg_popup_event", "subscribe_msg_change_event",
     "subscribe_msg_sent_event"}
)
WELCOME_EVENTS = frozenset({"subscribe", "subscribe_scan"})
MSG_ID_MAX = 2**63 - 1  # the outbox keeps template msg ids in a signed 64-bit column

log = logging.getLogger(__name__)


class Subscriptions(Protocol):
    """Where follow and unfollow are recorded (storage.db.Citizens in production)."""

    async def set_subscribed(self, account: str, openid: str, subscribed: bool) -> None: ...


class DeliveryReports(Protocol):
    """Where the platform's reports on outgoing messages go (the outbox, the consents)."""

    async def template_finished(self, account: str, msgid: int, status: str) -> bool: ...

    async def consents(self, account: str, openid: str, accepted: list[str],
                       rejected: list[str]) -> None: ...


class Router:
    """Events and delivery reports here; the citizen's services at the ``desk``.

    Without a desk (tests of the edge) every text gets the help or "not understood".
    """

    def __init__(self, texts: Texts, subscriptions: Subscriptions | None = None,
                 reports: DeliveryReports | None = None,
                 desk: CitizenDesk | None = None) -> None:
        self._texts = texts
        self._subscriptions = subscriptions
        self._reports = reports
        self._desk = desk

    async def __call__(self, inbound: Inbound, state: StateContext) -> list[Outbound]:
        conversation = Conversation.from_json(state.get())
        answer = await self._answer(inbound, conversation)
        state.set(conversation.to_json())
        return answer

    async def _answer(self, inbound: Inbound, conversation: Conversation) -> list[Outbound]:
        if inbound.kind == "event":
            if self._subscriptions is not None and inbound.event in (
                *WELCOME_EVENTS, "unsubscribe"
            ):
                await self._subscriptions.set_subscribed(
                    inbound.account, inbound.user, inbound.event != "unsubscribe"
                )
            await self._report(inbound)
            if self._desk is not None and inbound.event in ("click", "scancode_waitmsg"):
                answer = await self._desk.on_menu(inbound.event_key, inbound, conversation)
                if answer is not None:
                    return join_texts(answer)
            return self._on_event(inbound, conversation)
        if self._desk is not None:
            return join_texts(await self._desk.on_message(inbound, conversation))
        if inbound.kind == "text":
            if inbound.text.lower() in HELP:
                return [Outbound.of_text(self._texts("help"))]
            return [Outbound.of_text(self._texts("unrecognised"))]
        return [Outbound.of_text(self._texts("not_text"))]

    async def _report(self, inbound: Inbound) -> None:
        if self._reports is None:
            return
        payload = inbound.payload
        if inbound.event == "templatesendjobfinish":
            msgid = payload.get("msg_id")
            if not (isinstance(msgid, str) and msgid.isascii() and msgid.isdigit()):
                return
            if len(msgid) > len(str(MSG_ID_MAX)) or int(msgid) > MSG_ID_MAX:
                log.warning("[%s] delivery report ignored: MsgID out of range",
                            inbound.account)
                return
            await self._reports.template_finished(
                inbound.account, int(msgid), str(payload.get("status", "")))
        elif inbound.event in ("subscribe_msg_popup_event", "subscribe_msg_change_event"):
            accepted = [t for t in str(payload.get("accepted", "")).split(",") if t]
            rejected = [t for t in str(payload.get("rejected", "")).split(",") if t]
            await self._reports.consents(inbound.account, inbound.user, accepted, rejected)

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
