"""Routers for the platform's events: delivery reports, follows, and events that need no
answer. Only a scan looks at the user's conversation (its welcome sets the desk's last
question aside, so a form that is gone is announced with it)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from domain.messages import Outbound
from domain.texts import Texts
from handlers.dispatcher import Event, Router, Update

MSG_ID_MAX = 2**63 - 1  # the outbox keeps template msg ids in a signed 64-bit column
# reports on outgoing messages and the user's answers to a subscribe-message prompt
REPORTS = ("templatesendjobfinish", "masssendjobfinish", "subscribe_msg_popup_event",
           "subscribe_msg_change_event", "subscribe_msg_sent_event")
FOLLOWS = ("subscribe", "subscribe_scan")
# the user opened a menu link or a mini program, or the client reported where it is
SILENT = ("view", "view_miniprogram", "location")

log = logging.getLogger(__name__)


class Subscriptions(Protocol):
    """Where follow and unfollow are recorded (storage.db.Citizens in production)."""

    async def set_subscribed(self, account: str, openid: str, subscribed: bool) -> None: ...


class DeliveryReports(Protocol):
    """Where the platform's reports on outgoing messages go (the outbox, the consents)."""

    async def template_finished(self, account: str, msgid: int, status: str) -> bool: ...

    async def consents(self, account: str, openid: str, accepted: list[str],
                       rejected: list[str]) -> None: ...


def deliveries(reports: DeliveryReports | None) -> Router:
    """Template delivery reports to the outbox, subscribe-message consents to the store;
    nothing is answered."""
    router = Router("deliveries")

    async def report(update: Update) -> list[Outbound]:
        if reports is not None:
            await _hand_on(reports, update)
        return []

    router.add(report, Event(*REPORTS))
    return router


async def _hand_on(reports: DeliveryReports, update: Update) -> None:
    inbound = update.inbound
    payload = inbound.payload
    if inbound.event == "templatesendjobfinish":
        msgid = payload.get("msg_id")
        if not (isinstance(msgid, str) and msgid.isascii() and msgid.isdigit()):
            return
        if len(msgid) > len(str(MSG_ID_MAX)) or int(msgid) > MSG_ID_MAX:
            log.warning("[%s] delivery report ignored: MsgID out of range", inbound.account)
            return
        await reports.template_finished(inbound.account, int(msgid),
                                        str(payload.get("status", "")))
    elif inbound.event in ("subscribe_msg_popup_event", "subscribe_msg_change_event"):
        accepted = [t for t in str(payload.get("accepted", "")).split(",") if t]
        rejected = [t for t in str(payload.get("rejected", "")).split(",") if t]
        await reports.consents(inbound.account, inbound.user, accepted, rejected)


def follows(texts: Texts, subscriptions: Subscriptions | None,
            before: Callable[[], Awaitable[None]] | None = None,
            set_aside: Callable[[Update], None] | None = None) -> Router:
    """Follow (also by scanning a QR code): recorded, the state forgotten (a new start),
    and the welcome with the menu of services. Unfollow: recorded and forgotten, no
    answer. A scan by a follower: the welcome again. ``before`` runs before a welcome
    (the catalogue read, so the services it lists are the ones on); ``set_aside`` is told
    of a scan's welcome (what was asked before it is no longer the last question)."""
    router = Router("follows")

    async def record(update: Update, subscribed: bool) -> None:
        if subscriptions is not None:
            await subscriptions.set_subscribed(update.inbound.account, update.inbound.user,
                                               subscribed)

    async def follow(update: Update) -> list[Outbound]:
        await record(update, True)
        update.state.clear()
        return await welcome()

    async def unfollow(update: Update) -> list[Outbound]:
        await record(update, False)
        update.state.clear()
        return []

    async def scan(update: Update) -> list[Outbound]:
        if set_aside is not None:
            set_aside(update)
        return await welcome()

    async def welcome() -> list[Outbound]:
        if before is not None:
            await before()
        return [Outbound.of_text(texts("welcome"))]

    router.add(follow, Event(*FOLLOWS))
    router.add(unfollow, Event("unsubscribe"))
    router.add(scan, Event("scan"))
    return router


def silent() -> Router:
    """Events that ask nothing of us: answered ``success``."""
    router = Router("silent events")

    async def nothing(update: Update) -> list[Outbound]:
        return []

    router.add(nothing, Event(*SILENT))
    return router
