"""The citizen's services: which one a message or menu click asks for, and the answer.

A message for another service in the middle of a flow is answered, and the flow stays
where it was with a reminder (a look at 我的留言 should not throw away a half-written
complaint); starting another *flow* interrupts the current one with a notice (the engine
says so). A message that names no service goes to the flow the citizen is in.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum

from domain.catalogue import KINDS, Catalogue
from domain.messages import Inbound, Outbound
from domain.tickets import NUMBER, narrow, parse_number
from flows.complaint import NAME as COMPLAINT_FLOW
from flows.complaint import ComplaintFlow
from flows.context import Conversation
from flows.engine import BACK, CANCEL, CONFIRM, DISCARD, HELP, RESTART, RESUME, Engine, Flow
from handlers.my_tickets import MyTickets
from handlers.texts import Texts
from storage.catalogue_cache import CatalogueCache
from storage.tickets import Tickets

log = logging.getLogger(__name__)

COMPLAINT_WORDS = frozenset({"我要反映", "投诉", "留言", "我要投诉", "我要留言", "反映问题"})
MY_TICKETS_WORDS = frozenset({"我的留言", "查询", "查询进度", "进度", "我的投诉"})
LEGAL_WORDS = frozenset({"法律咨询", "咨询律师", "律师"})
WITHDRAW_WORD = "撤回"
FLOW_COMMANDS = RESUME | RESTART | DISCARD | CANCEL | BACK
REPEAT_CONFIRM_WINDOW = 600.0  # a stray 确认 this soon after filing is a repeat


class Service(StrEnum):
    COMPLAINT = "complaint"
    MY_TICKETS = "my_tickets"
    TICKET = "ticket"  # one ticket's timeline
    WITHDRAW = "withdraw"
    LEGAL = "legal"
    HELP = "help"


MENU_KEYS = {"COMPLAINT": Service.COMPLAINT, "MY_TICKETS": Service.MY_TICKETS,
             "LEGAL": Service.LEGAL, "HELP": Service.HELP}


_WITHDRAW = re.compile(rf"{WITHDRAW_WORD}\s*(?:{NUMBER.pattern})?", re.IGNORECASE)
_TICKET = re.compile(rf"(?:查询|进度)?\s*{NUMBER.pattern}", re.IGNORECASE)


def service_of(text: str) -> Service | None:
    """The service a whole message asks for, if it is nothing but a command ("撤回 LX…",
    not "撤回了我家的低保…", which may be a complaint's description)."""
    plain = narrow(text).strip()
    if plain in COMPLAINT_WORDS:
        return Service.COMPLAINT
    if plain in MY_TICKETS_WORDS:
        return Service.MY_TICKETS
    if plain in LEGAL_WORDS:
        return Service.LEGAL
    if plain.lower() in HELP:
        return Service.HELP
    if _WITHDRAW.fullmatch(plain):
        return Service.WITHDRAW
    if _TICKET.fullmatch(plain):
        return Service.TICKET
    return None


def with_recognition(inbound: Inbound) -> Inbound:
    """A voice message the platform transcribed reads as the text it says."""
    recognition = inbound.payload.get("recognition")
    if inbound.kind == "voice" and isinstance(recognition, str) and recognition.strip():
        text = recognition.strip().rstrip("。.!！")
        return replace(inbound, kind="text", payload={"content": text})
    return inbound


class CitizenDesk:
    def __init__(self, texts: Texts, tickets: Tickets, catalogue: CatalogueCache, *,
                 flow_ttl: float = 1800.0,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 clock: Callable[[], float] | None = None) -> None:
        self._texts = texts
        self._tickets = tickets
        self._catalogue = catalogue
        self._now = now
        self.complaint = ComplaintFlow(catalogue.require, tickets, texts, now=now, ttl=flow_ttl)
        self.engine = Engine([self.complaint.flow], texts, clock=clock or time.time)
        self.my_tickets = MyTickets(tickets, texts, lambda: catalogue.current)

    async def on_menu(self, key: str, inbound: Inbound,
                      conversation: Conversation) -> list[Outbound] | None:
        """A menu click; ``None`` for a key that is not a citizen service."""
        service = MENU_KEYS.get(key.upper())
        if service is None:
            return None
        notice = self._form_gone(conversation)
        answer = await self._serve(service, inbound, conversation, "")
        return [notice, *answer] if notice is not None else answer

    async def on_message(self, inbound: Inbound, conversation: Conversation) -> list[Outbound]:
        flow = self.engine.active(conversation)
        notice = self.engine.dropped_notice(conversation)
        answer = await self._answer(inbound, conversation, flow, form_gone=notice is not None)
        return [notice, *answer] if notice is not None else answer

    def _form_gone(self, conversation: Conversation) -> Outbound | None:
        """The note, once, that the citizen's form is gone: a stored state the engine
        cannot carry on (dropped here), or one a restart lost. Taken before the answer, which
        may start a new form."""
        self.engine.active(conversation)
        return self.engine.dropped_notice(conversation)

    async def _answer(self, inbound: Inbound, conversation: Conversation, flow: Flow | None,
                      *, form_gone: bool) -> list[Outbound]:
        """``flow``: the one the citizen is in (``Engine.active``, already asked)."""
        inbound = with_recognition(inbound)
        text = inbound.text
        service = service_of(text) if inbound.kind == "text" else None
        if flow is not None:
            if service is Service.COMPLAINT and text in KINDS:
                service = None  # "投诉" is an answer to the first question
            if service is Service.HELP:  # 帮助 in any width is the step's help
                return await self._in_flow(replace(inbound, payload={"content": "帮助"}),
                                           conversation)
            if service is None:
                return await self._in_flow(inbound, conversation)
        if service is None and flow is None and parse_number(text) is not None:
            service = Service.TICKET  # "我想问问 LX… 怎么样了" outside a flow
        if service is not None:
            return await self._serve(service, inbound, conversation, text)
        if form_gone:  # most likely an answer to that form: the note is the reply, not
            return []  # "没有看懂" or help
        if inbound.kind != "text":
            key = "idle_photo" if inbound.kind == "image" else "not_text"
            return [self._say(key)]
        if text in FLOW_COMMANDS:  # 继续/重新开始… with nothing open (it timed out, or ended)
            return [self._say("flow_none_open")]
        if text in CONFIRM:
            recent = await self.my_tickets.recent(inbound.account, inbound.user,
                                                  REPEAT_CONFIRM_WINDOW, self._now())
            if recent is not None:
                return [self._say("complaint_already_filed", number=recent.number)]
        catalogue = await self._catalogue_or_none()
        if catalogue is not None and catalogue.category_for_text(text) is not None:
            return [self._say("complaint_suggest")]
        return [self._say("unrecognised")]

    # -- services -----------------------------------------------------------------------------

    async def _serve(self, service: Service, inbound: Inbound, conversation: Conversation,
                     text: str) -> list[Outbound]:
        flow = self.engine.active(conversation)
        if service is Service.COMPLAINT:
            if flow is not None and flow.name == COMPLAINT_FLOW:
                if await self._catalogue_or_none() is None:
                    return [self._say("complaint_unavailable")]
                return self.engine.current_prompt(conversation)
            return await self._start_complaint(inbound, conversation)
        answer = await self._one_shot(service, inbound, text)
        reminder = self.engine.reminder(conversation)
        return [*answer, reminder] if reminder is not None else answer

    async def _one_shot(self, service: Service, inbound: Inbound,
                        text: str) -> list[Outbound]:
        account, user = inbound.account, inbound.user
        if service is Service.HELP:
            return [self._say("help")]
        if service is Service.LEGAL:
            return [self._say("legal_soon")]
        await self._catalogue_or_none()  # names in the answers come from it
        if service is Service.MY_TICKETS:
            return await self.my_tickets.overview(account, user)
        number = parse_number(text)
        if service is Service.TICKET and number is not None:
            return await self.my_tickets.detail(account, user, number)
        if number is None:
            return [self._say("withdraw_how")]
        return await self.my_tickets.withdraw(account, user, number)

    async def _start_complaint(self, inbound: Inbound,
                               conversation: Conversation) -> list[Outbound]:
        if await self._catalogue_or_none() is None:
            return [self._say("complaint_unavailable")]
        last_phone = await self._tickets.last_phone(inbound.account, inbound.user)
        return self.engine.start(COMPLAINT_FLOW, conversation, {"last_phone": last_phone})

    async def _in_flow(self, inbound: Inbound, conversation: Conversation) -> list[Outbound]:
        if await self._catalogue_or_none() is None:
            return [self._say("complaint_unavailable")]  # the answers so far are kept
        return await self.engine.handle(inbound, conversation)

    async def _catalogue_or_none(self) -> Catalogue | None:
        try:
            return await self._catalogue.get()
        except Exception:
            log.exception("routing catalogue unreadable")
            return None

    def _say(self, key: str, **values: str) -> Outbound:
        return Outbound.of_text(self._texts(key, **values))
