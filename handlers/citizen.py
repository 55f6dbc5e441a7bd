"""The citizen's services as routers: 我的留言, the form the citizen is filling in, and the
desk that starts services and answers whatever else a citizen sends.

A message for another service in the middle of a flow is answered, and the flow stays
where it was with a reminder (a look at 我的留言 should not throw away a half-written
complaint); starting another *flow* interrupts the current one with a notice (the engine
says so). A message that names no service goes to the flow the citizen is in.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from domain.catalogue import KINDS
from domain.messages import Outbound, excerpt
from domain.texts import Texts
from domain.tickets import parse_number, short_number
from domain.vocabulary import choice_number, command_form, words
from domain.workdays import STATUTORY, Calendar
from flows.complaint import NAME as COMPLAINT_FLOW
from flows.complaint import ComplaintFlow
from flows.consultation import NAME as CONSULT_FLOW
from flows.consultation import ConsultationFlow
from flows.engine import BACK, CANCEL, CONFIRM, DISCARD, RESTART, RESUME, THANKS, Engine
from handlers.commands import Service, is_greeting, kind_of
from handlers.consult import MARK as CONSULT_MARK
from handlers.dispatcher import Command, InFlow, Kind, MenuKey, Message, Not, Router, Update
from handlers.my_tickets import MyTickets
from storage.catalogue_cache import CatalogueCache
from storage.tickets import Tickets

log = logging.getLogger(__name__)

FLOW_COMMANDS = RESUME | RESTART | DISCARD | CANCEL | BACK
REPEAT_CONFIRM_WINDOW = 600.0  # a stray 确认 this soon after filing is a repeat
FEATURES_FOR = 60.0  # how long whether a lawyer serves is taken as known
# what a photo or a location sent outside a form is good for (the form takes them); a
# voice message reaching the desk is one the platform could not transcribe
_IDLE_KINDS = {"image": "idle_photo", "location": "idle_location",
               "voice": "voice_unrecognised"}
HUMAN = words("commands", "human")
YES = words("complaint", "yes")
NO = words("complaint", "no")
# marks[ASKED] (kept between forms): the desk's last question — which of the tickets
# 我的留言 listed or the services the greeting listed, 撤回 是/否 — that the very next
# message answers or sets aside (asked_router)
ASKED = "asked"
ASKED_FOR = 1800.0  # an answer this long after the question still answers it
# a choice from the list just shown: "1", "第一个", "查询 2", "看看第三个"
_PICK = re.compile("(?P<ticket>" + "|".join(
    re.escape(w) for w in sorted(words("commands", "open"), key=len, reverse=True))
    + r")?\s*(?P<rest>.+)")
# what each service the welcome lists starts ([lists] services in the text catalogue)
_SERVICES = {"service_complaint": Service.COMPLAINT, "service_my_tickets": Service.MY_TICKETS,
             "service_legal": Service.LEGAL}


def _leaves_the_form(update: Update) -> bool:
    """A command that takes a citizen in a form elsewhere: 我要反映 (in the complaint form
    at its first question not "投诉" or "我要投诉", which answer it) or 法律咨询 (the desk
    asks the current question again when it is that form's). 我的留言 and 查询/撤回 are
    taken by an earlier router; 帮助 is the step's help."""
    command = update.command
    if command is Service.LEGAL:
        return True
    if command is not Service.COMPLAINT:
        return False
    flow = update.flow
    return not (flow is not None and flow.name == COMPLAINT_FLOW
                and update.conversation.step in (None, "kind")
                and (update.text in KINDS or kind_of(update.text) is not None))


def _picks(update: Update) -> bool:
    """A number from a list ("1", "第二个", "查询 1"), sent outside a form."""
    return _picked(update.text) is not None


def _picked(text: str) -> tuple[bool, int] | None:
    """(named 查询/看…, the number) of a choice from a list, else ``None``."""
    match = _PICK.fullmatch(text.strip())
    if match is None:
        return None
    number = choice_number(match["rest"])
    return None if number is None or number < 1 else (match["ticket"] is not None, number)


def _answers_a_dropped_form(update: Update) -> bool:
    """A message that most likely answers the form that is gone (``update.flow`` decodes
    the state once, whichever router asks first): the form's note is the answer, not a
    service, "没有看懂" or help."""
    return update.flow is None and update.dropped is not None


async def _no_answer(update: Update) -> list[Outbound]:
    return []


def _mentions_a_ticket(update: Update) -> bool:
    """"我想问问 LX… 怎么样了": a ticket number anywhere in a text."""
    return parse_number(update.text) is not None


class CitizenDesk:
    """What the citizen's routers share: the complaint flow and the engine that runs it,
    我的留言, and the routing catalogue they name things by."""

    def __init__(self, texts: Texts, tickets: Tickets, catalogue: CatalogueCache, *,
                 flow_ttl: float = 1800.0,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 clock: Callable[[], float] | None = None,
                 calendar: Calendar = STATUTORY,
                 consultation: ConsultationFlow | None = None) -> None:
        self._texts = texts
        self._tickets = tickets
        self._catalogue = catalogue
        self._now = now
        self._clock = clock or time.time
        self._legal_on = False  # the legal consultation can take questions (features())
        self._legal_checked = -FEATURES_FOR
        self.complaint = ComplaintFlow(catalogue.require, tickets, texts, now=now, ttl=flow_ttl,
                                       calendar=calendar)
        self.consultation = consultation
        flows = [self.complaint.flow, *([] if consultation is None else [consultation.flow])]
        self.engine = Engine(flows, texts, clock=clock or time.time)
        self.my_tickets = MyTickets(tickets, texts, lambda: catalogue.current, now=now)

    # -- routers ------------------------------------------------------------------------------

    def my_tickets_router(self) -> Router:
        """我的留言: the list (menu MY_TICKETS, 我的留言/查询), one ticket (查询 LX…, a
        bare number, or outside a flow a text that mentions one) and 撤回 LX…. Only a
        whole-message command reaches it from inside a flow; the flow is kept, with a
        reminder."""
        router = Router("my tickets")
        router.add(self._overview, MenuKey("MY_TICKETS"))
        router.add(self._overview, Command(Service.MY_TICKETS))
        router.add(self._detail, Command(Service.TICKET))
        router.add(self._withdraw, Command(Service.WITHDRAW))
        router.add(self._unpublish, Command(Service.UNPUBLISH))
        router.add(self._detail, Message(), _mentions_a_ticket, Not(InFlow()))
        return router

    def form_router(self) -> Router:
        """The citizen's messages while in the complaint form: the engine answers (帮助 in
        any width is the step's help), unless the message asks for another service."""
        router = Router("complaint form")
        router.add(self._in_form, Message(), InFlow(COMPLAINT_FLOW), Not(_leaves_the_form))
        router.add(self._in_form, Message(), InFlow(CONSULT_FLOW), Not(_leaves_the_form))
        return router

    def services_router(self) -> Router:
        """The services a menu click or a command starts — 我要反映, 法律咨询, 帮助 — and
        the answer to any other message of a citizen in no form."""
        router = Router("citizen desk")
        router.add(self._complaint, MenuKey("COMPLAINT"))
        router.add(self._complaint, Command(Service.COMPLAINT))
        router.add(self._legal, MenuKey("LEGAL"))
        router.add(self._legal, Command(Service.LEGAL))
        router.add(self._help, MenuKey("HELP"))
        router.add(self._help, Command(Service.HELP))
        router.add(_no_answer, Message(), _answers_a_dropped_form)
        router.add(self._pick, Kind("text"), Not(InFlow()), _picks)
        router.add(self._idle, Message())
        return router

    # -- 我的留言 ------------------------------------------------------------------------------

    async def _overview(self, update: Update) -> list[Outbound]:
        await self._catalogue.get_or_none()  # names in the answers come from it
        inbound = update.inbound
        answer, numbers = await self.my_tickets.overview(inbound.account, inbound.user)
        if numbers:  # a "1" sent next means the first of these
            self._ask(update, "tickets", numbers=numbers)
        return self._reminded(update, answer)

    async def _pick(self, update: Update) -> list[Outbound]:
        """A number outside a form with no list just shown: "查询 1" is the citizen's
        first ticket as 我的留言 lists it now; a bare "1" the service the welcome lists
        first."""
        picked = _picked(update.text)
        assert picked is not None  # the route's filter found one
        return await self._choose(update, picked, None)

    async def _choose(self, update: Update, picked: tuple[bool, int],
                      numbers: list[str] | None) -> list[Outbound]:
        """The ``picked`` (named 查询/看…, number) of the tickets ``numbers`` just listed,
        else of the citizen's tickets as listed now (查询/看…) or of the services."""
        for_ticket, number = picked
        if numbers is None and not for_ticket:
            return await self._pick_service(update, number)
        if numbers is None:
            inbound = update.inbound
            numbers = [t.number for t in await self.my_tickets.listed(inbound.account,
                                                                     inbound.user)]
            if not numbers:
                return [self._say("my_tickets_none")]
        if number > len(numbers):
            return [self._say("pick_none", number=str(number))]
        await self._catalogue.get_or_none()  # names in the answer come from it
        inbound = update.inbound
        return self._reminded(update, await self.my_tickets.detail(
            inbound.account, inbound.user, numbers[number - 1]))

    async def _pick_service(self, update: Update, number: int) -> list[Outbound]:
        await self.welcome()  # which services are on
        services = self._texts.listed("services")
        service = _SERVICES.get(services[number - 1]) if number <= len(services) else None
        if service is None:
            return [self._say("pick_none", number=str(number))]
        if service is Service.COMPLAINT:
            return await self._complaint(update)
        if service is Service.LEGAL:
            return await self._legal(update)
        return await self._overview(update)

    # -- the desk's last question outside a form -------------------------------------------

    def asked_router(self) -> Router:
        """The answer to the question the desk asked last (which of the listed tickets
        or services, 撤回 是/否): only the very next message answers it, before an open
        consultation or survey can take a "1" or a "是". Any other message sets it aside:
        a text that does not answer it, a menu click, a photo (each of these is answered
        with a question of its own)."""
        router = Router("last question")
        router.add(self._answer_asked, self._answers_asked)
        return router

    def _ask(self, update: Update, what: str, **more: Any) -> None:
        update.conversation.marks[ASKED] = {"what": what, "at": self._clock(), **more}

    def set_aside(self, update: Update) -> None:
        """The desk's last question is no longer the last thing asked (a scan's welcome
        came after it)."""
        if ASKED in update.conversation.marks:
            del update.conversation.marks[ASKED]

    def _answers_asked(self, update: Update) -> bool:
        """Does this message answer the desk's last question? Whatever it is, the
        question is then answered or set aside."""
        marks = update.conversation.marks
        asked = marks.get(ASKED)
        if asked is None:
            return False
        if update.kind == "voice" and update.flow is None and not marks.get(CONSULT_MARK):
            return False  # nothing heard: the desk says "please type it", the question stands
        if update.kind == "text" and isinstance(asked, dict) and self._answer_to(
                asked, update.text) is not None:
            return True
        del marks[ASKED]
        return False

    def _answer_to(self, asked: dict[str, Any], text: str, *,
                   fresh: bool = False) -> tuple[bool, int] | str | None:
        """What ``text`` answers to the question ``asked`` (a pick, or the 是/否 word), or
        ``None`` when it is no answer to it or the question is too old (``fresh``: found
        not to be, by the route's filter a moment ago)."""
        at = asked.get("at")
        if not fresh and not (isinstance(at, (int, float))
                              and 0 <= self._clock() - at <= ASKED_FOR):
            return None
        what = asked.get("what")
        if what == "withdraw":
            word = command_form(text)
            ok = isinstance(asked.get("number"), str) and (word in YES or word in NO)
            return word if ok else None
        picked = _picked(text)
        if picked is None:
            return None
        if what == "services":  # "查询 1" names a ticket: not an answer to this list
            return None if picked[0] else picked
        return picked if what == "tickets" and isinstance(asked.get("numbers"), list) else None

    async def _answer_asked(self, update: Update) -> list[Outbound]:
        asked = update.conversation.marks.pop(ASKED)
        answer = self._answer_to(asked, update.text, fresh=True)
        if isinstance(answer, str):  # 撤回 是/否
            number = str(asked["number"])
            if answer in NO:
                return self._reminded(update, [self._say("withdraw_kept", number=number)])
            await self._catalogue.get_or_none()
            inbound = update.inbound
            return self._reminded(update, await self.my_tickets.withdraw(
                inbound.account, inbound.user, number))
        assert answer is not None  # the filter found one
        if asked["what"] == "tickets":
            return await self._choose(update, answer, [str(n) for n in asked["numbers"]])
        return await self._pick_service(update, answer[1])  # asked in no form: none open

    async def _detail(self, update: Update) -> list[Outbound]:
        await self._catalogue.get_or_none()
        number = await self._number(update)
        if isinstance(number, list):
            return self._reminded(update, number)
        inbound = update.inbound
        return self._reminded(update, await self.my_tickets.detail(inbound.account,
                                                                   inbound.user, number))

    async def _withdraw(self, update: Update) -> list[Outbound]:
        """撤回 LX…: asks 是/否 first, saying what withdrawing means (a ticket no
        department has signed for is withdrawn; one that cannot be is said so at once)."""
        return await self._on_ticket(update, "withdraw_how", self._ask_withdraw,
                                     withdraw=True)

    async def _ask_withdraw(self, update: Update, number: str) -> list[Outbound]:
        inbound = update.inbound
        refusal = await self.my_tickets.withdraw_refusal(inbound.account, inbound.user,
                                                         number)
        if refusal is not None:
            return refusal
        self._ask(update, "withdraw", number=number)
        return [self._say("withdraw_ask", number=number)]

    async def _unpublish(self, update: Update) -> list[Outbound]:
        """撤回公开 LX…: the ticket stays off the public board."""
        return await self._on_ticket(update, "unpublish_how", self._unpublish_it)

    async def _unpublish_it(self, update: Update, number: str) -> list[Outbound]:
        inbound = update.inbound
        return await self.my_tickets.unpublish(inbound.account, inbound.user, number)

    async def _on_ticket(self, update: Update, how: str,
                         do: Callable[[Update, str], Awaitable[list[Outbound]]], *,
                         withdraw: bool = False) -> list[Outbound]:
        """A command on one of the citizen's tickets named by its number (or short
        number): ``how`` says how to name one when the command names none."""
        if parse_number(update.text) is None and short_number(update.text) is None:
            return self._reminded(update, [self._say(how)])
        await self._catalogue.get_or_none()  # names in the answers come from it
        number = await self._number(update, withdraw=withdraw)
        if isinstance(number, list):
            return self._reminded(update, number)
        return self._reminded(update, await do(update, number))

    async def _number(self, update: Update, *, withdraw: bool = False) -> str | list[Outbound]:
        """The ticket a command names: its number, or the citizen's own ticket its short
        number (the last six digits) names, else the answer that says which or none."""
        number = parse_number(update.text)
        if number is not None:
            return number
        short = short_number(update.text)
        assert short is not None  # the route's filters found one or the other
        return await self.my_tickets.by_short_number(update.inbound.account,
                                                     update.inbound.user, short,
                                                     withdraw=withdraw)

    # -- the form --------------------------------------------------------------------------

    async def _in_form(self, update: Update) -> list[Outbound]:
        inbound = update.inbound
        if update.command is Service.HELP:  # 帮助 in any width is the step's help
            inbound = replace(inbound, payload={"content": "帮助"})
        if await self._catalogue.get_or_none() is None:
            return [self._say("complaint_unavailable")]  # the answers so far are kept
        return await self.engine.handle(inbound, update.conversation)

    # -- the desk ----------------------------------------------------------------------------

    async def _complaint(self, update: Update) -> list[Outbound]:
        """我要反映: the form's current question for a citizen already in it, else a new
        form (interrupting another flow, with a notice)."""
        flow = update.flow
        if await self._catalogue.get_or_none() is None:
            return [self._say("complaint_unavailable")]
        if flow is not None and flow.name == COMPLAINT_FLOW:
            return self.engine.current_prompt(update.conversation)
        kind = kind_of(update.text) if update.kind == "text" else None
        if kind is None:
            return await self._start_complaint(update, {})
        return await self._start_complaint(update, {"kind": kind},
                                           self._say("complaint_kind_given", kind=kind))

    async def _start_complaint(self, update: Update, given: dict[str, Any],
                               intro: Outbound | None = None,
                               context: dict[str, Any] | None = None) -> list[Outbound]:
        """A new complaint form, with what the citizen already said (``given``) not
        asked again."""
        inbound = update.inbound
        last_phone = await self._tickets.last_phone(inbound.account, inbound.user)
        return self.engine.start(COMPLAINT_FLOW, update.conversation,
                                 {"last_phone": last_phone, **(context or {})},
                                 given=given, intro=intro)

    def features(self) -> frozenset[str]:
        """What the texts may promise now (domain/texts.py ``[requires]``): the legal
        consultation while the catalogue has its hours and some lawyer serves (as
        :meth:`welcome` last found)."""
        return frozenset({"legal"}) if self._legal_on else frozenset()

    async def _legal_set_up(self) -> ConsultationFlow | None:
        """The legal consultation when it is set up (the catalogue has its areas and
        hours), else ``None``; whether a lawyer serves is another question."""
        catalogue = await self._catalogue.get_or_none()
        if self.consultation is None or catalogue is None or catalogue.legal_hours is None:
            return None
        return self.consultation

    async def welcome(self) -> None:
        """Before a text that lists the services: what is on, looked up (the lawyers at
        most once a minute)."""
        consultation = await self._legal_set_up()
        if consultation is None:
            self._legal_on = False
            self._legal_checked = -FEATURES_FOR  # looked up again once it may be on
            return
        now = self._clock()
        if now - self._legal_checked < FEATURES_FOR:
            return
        try:
            self._legal_on = bool(await consultation.covered())
        except Exception:  # the lawyers cannot be read: not offered, the rest answers
            log.exception("legal consultation state unavailable")
            self._legal_on = False
        self._legal_checked = now

    async def _legal(self, update: Update) -> list[Outbound]:
        """法律咨询: the form's current question for a citizen already in it; for a citizen
        with a consultation open, where it stands; else a new form (the consultation is
        not offered until the catalogue has its areas and hours)."""
        consultation = await self._legal_set_up()
        if consultation is None:
            return self._reminded(update, [self._say("legal_soon")])
        flow = update.flow
        if flow is not None and flow.name == CONSULT_FLOW:
            return self.engine.current_prompt(update.conversation)
        inbound = update.inbound
        try:
            open_ = await consultation.consultations.open_of(inbound.account, inbound.user)
            intro, live = await consultation.intro(self._now())
            covered = await consultation.covered()
        except Exception:
            log.exception("consultation unavailable")
            return self._reminded(update, [self._say("consult_unavailable")])
        if open_ is not None:
            update.conversation.marks[CONSULT_MARK] = True
            return self._reminded(update, [self._say(
                "consult_already_open", number=open_.number,
                status=self._texts(open_.status.label_key))])
        if not covered:  # no lawyer at all yet: nobody would answer
            return self._reminded(update, [self._say("consult_no_lawyers")])
        update.conversation.marks[CONSULT_MARK] = True  # what it asks is theirs to follow
        return self.engine.start(CONSULT_FLOW, update.conversation,
                                 {"intro": intro, "live": live, "covered": covered})

    async def _help(self, update: Update) -> list[Outbound]:
        await self.welcome()  # which services it lists
        return self._reminded(update, [self._say("help")])

    async def _idle(self, update: Update) -> list[Outbound]:
        """A message of a citizen in no form that names no service."""
        inbound, text = update.inbound, update.text
        if inbound.kind != "text":
            return [self._say(_IDLE_KINDS.get(inbound.kind, "not_text"))]
        word = command_form(text)
        await self.welcome()  # which services the texts offer
        if word in FLOW_COMMANDS:  # 继续/重新开始… with nothing open (it timed out, or ended)
            return [self._say("flow_none_open")]
        catalogue = self._catalogue.current
        if is_greeting(text):
            self._ask(update, "services")  # a "1" now means the first service listed
            return [self._say("greeting")]
        if word in CONFIRM:
            recent = await self.my_tickets.recent(inbound.account, inbound.user,
                                                  REPEAT_CONFIRM_WINDOW, self._now())
            if recent is not None:
                return [self._say("complaint_already_filed", number=recent.number)]
        if word in THANKS or word in NO:
            return [self._say("thanks")]
        if word in HUMAN:
            return [self._say("human")]
        if catalogue is not None and catalogue.category_for_text(text) is not None:
            taken = self.complaint.from_text(text)
            if taken is None:  # too short to be the description: say how to start
                return [self._say("complaint_suggest")]
            given, context = taken
            description = str(given["description"])
            intro = self._texts("complaint_from_text", excerpt=excerpt(description, 30),
                                category=str(given["category"]["name"]))
            if description != text:
                intro += "\n" + self._texts("complaint_from_text_hidden")
            return await self._start_complaint(update, given, Outbound.of_text(intro),
                                               context)
        return [self._say("unrecognised")]

    # -- pieces ------------------------------------------------------------------------------

    def _reminded(self, update: Update, answer: list[Outbound]) -> list[Outbound]:
        """``answer``, and for a citizen in a flow the reminder that it stays open."""
        reminder = update.reminder()
        return [*answer, reminder] if reminder is not None else answer

    def _say(self, key: str, **values: str) -> Outbound:
        return Outbound.of_text(self._texts(key, **values))
