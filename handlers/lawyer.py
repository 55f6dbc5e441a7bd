"""Duty lawyers in WeChat: binding a WeChat user to a lawyer's profile with a one-time
invite code ("律师绑定 12345678", from ``lianxin lawyer invite``), and the router of bound
lawyers, registered ahead of every citizen router: 上线/下线, 接单, 列表, 切换 N, 结束,
转回 and 帮助 (domain/consultation.py ``lawyer_command``); anything else they send goes to
the citizen of their current consultation. A bound lawyer never files a complaint or asks
a consultation from that account.

What a lawyer sends reaches the citizen through the outbox. When the citizen cannot be
reached by customer service now (no message for 48 hours, or the quota spent), the
lawyer is told so, and the citizen first gets the ``lawyer_answer`` template saying an
answer waits: the answer itself follows when the citizen writes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from domain.catalogue import Catalogue
from domain.consultation import (
    TO_CITIZEN,
    ConsultationRecord,
    EndReason,
    LawyerCommand,
    LawyerRecord,
    Status,
    lawyer_command,
)
from domain.contact import mask_openid, mask_phones
from domain.messages import Outbound
from domain.survey import lawyer_rating
from domain.texts import Texts
from domain.tickets import narrow
from domain.workdays import CHINA
from handlers.dispatcher import MENU_EVENTS, Event, Kind, Message, Router, Update
from handlers.relay import said_in, to_citizen, who
from storage.catalogue_cache import CatalogueCache
from storage.consultations import Consultations, Note, Took
from storage.lawyers import Lawyers, StillHolding

log = logging.getLogger(__name__)

BIND = re.compile(r"(?:律师绑定|绑定律师)\s*([0-9]{8})")
BIND_TRIES = 5  # wrong codes a WeChat user may send …
BIND_PAUSE = 600.0  # … before their tries are refused for this many seconds
RETRY_AFTER_FAULT = 5.0

Reach = Callable[[str, str], Awaitable[bool]]  # may customer service reach (account, openid)?


class LawyerDesk:
    """``ttl``: seconds the bound lawyers are known without asking the database again (a
    binding made in this process counts at once)."""

    def __init__(self, texts: Texts, lawyers: Lawyers, consultations: Consultations,
                 catalogue: CatalogueCache, reach: Reach, *, ttl: float = 30.0,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._texts = texts
        self._lawyers = lawyers
        self._consultations = consultations
        self._catalogue = catalogue
        self._reach = reach
        self._ttl, self._clock, self._now = ttl, clock, now
        self._bound: dict[tuple[str, str], LawyerRecord] = {}
        self._due = -float("inf")
        self._refreshing = asyncio.Lock()
        self._failed_binds: dict[tuple[str, str], list[float]] = {}

    def bind_router(self) -> Router:
        router = Router("lawyer binding")
        router.add(self._bind, Kind("text"), _is_bind)
        return router

    def router(self) -> Router:
        router = Router("lawyers")
        router.add(self._message, Message(), self._is_lawyer)
        router.add(self._help, Event(*MENU_EVENTS), self._is_lawyer)
        return router

    # -- who is a lawyer ----------------------------------------------------------------------

    def _is_lawyer(self, update: Update) -> bool | Awaitable[bool]:
        if self._clock() < self._due:
            inbound = update.inbound
            return (inbound.account, inbound.user) in self._bound
        return self._is_lawyer_read(update)

    async def _is_lawyer_read(self, update: Update) -> bool:
        return await self._member(update) is not None

    async def _member(self, update: Update) -> LawyerRecord | None:
        if self._clock() >= self._due:
            await self._refresh()
        inbound = update.inbound
        if (inbound.account, inbound.user) not in self._bound:
            return None
        # as it is now: duty, areas, and still this user's (another may have bound it)
        return await self._lawyers.bound_to(inbound.account, inbound.user)

    async def _refresh(self) -> None:
        async with self._refreshing:
            if self._clock() < self._due:
                return
            try:
                self._bound = await self._lawyers.all_bound()
            except Exception as exc:
                log.warning("could not read the bound lawyers: %s", type(exc).__name__)
                self._due = self._clock() + RETRY_AFTER_FAULT
                return
            self._due = self._clock() + self._ttl

    async def _bind(self, update: Update) -> list[Outbound]:
        found = BIND.fullmatch(narrow(update.text).strip())
        assert found is not None
        inbound = update.inbound
        key = (inbound.account, inbound.user)
        now = self._clock()
        recent = [t for t in self._failed_binds.get(key, []) if now - t < BIND_PAUSE]
        if len(recent) >= BIND_TRIES:
            return [self._say("lawyer_bind_paused")]
        try:
            lawyer = await self._lawyers.bind(found.group(1), inbound.account, inbound.user)
        except StillHolding as holding:
            return [self._say("lawyer_bind_holding", count=str(holding.count))]
        if lawyer is None:
            self._failed_binds[key] = [*recent, now]
            log.warning("[%s] a wrong lawyer invite code from %s", inbound.account,
                        mask_openid(inbound.user))
            return [self._say("lawyer_bind_invalid")]
        self._failed_binds.pop(key, None)
        log.info("[%s] lawyer %d bound to %s", inbound.account, lawyer.id,
                 mask_openid(inbound.user))
        self._due = -float("inf")
        await self._refresh()
        return [self._say("lawyer_bound", name=lawyer.name, firm=lawyer.firm,
                          help=self._texts("lawyer_help"))]

    # -- the lawyer's messages ---------------------------------------------------------------

    async def _message(self, update: Update) -> list[Outbound]:
        lawyer = await self._member(update)
        if lawyer is None:
            return await self._help(update)
        said = lawyer_command(update.text) if update.kind == "text" else None
        if said is None:
            return await self._answer(update, lawyer)
        command = said.command
        if command is LawyerCommand.ON:
            return await self._on(lawyer)
        if command is LawyerCommand.OFF:
            return await self._off(lawyer)
        if command is LawyerCommand.TAKE:
            return await self._take(lawyer)
        if command is LawyerCommand.LIST:
            return await self._list(lawyer)
        if command is LawyerCommand.SWITCH:
            return await self._switch(lawyer, said.number or 0)
        if command is LawyerCommand.END:
            return await self._end(lawyer)
        if command is LawyerCommand.RETURN:
            return await self._give_back(lawyer, said.note)
        if command is LawyerCommand.CONSOLE:
            return await self._console_code(lawyer)
        return await self._help(update)

    async def _console_code(self, lawyer: LawyerRecord) -> list[Outbound]:
        """网页登录: a one-time code for the web console's 值班律师登录."""
        code, expires = await self._lawyers.sign_in_code(lawyer.id)
        return [self._say("lawyer_console_code", code=code,
                          until=f"{expires.astimezone(CHINA):%H:%M}")]

    async def _help(self, update: Update) -> list[Outbound]:
        return [self._say("lawyer_help")]

    async def _on(self, lawyer: LawyerRecord) -> list[Outbound]:
        now_on = await self._lawyers.set_duty(lawyer.id, True)
        if now_on is None:
            return [self._say("lawyer_help")]
        catalogue = await self._catalogue.get_or_none()
        waiting = await self._consultations.waiting(now_on.areas)
        return [self._say("lawyer_on", areas="、".join(_area_names(catalogue, now_on.areas)),
                          waiting=self._waiting(waiting))]

    async def _off(self, lawyer: LawyerRecord) -> list[Outbound]:
        await self._lawyers.set_duty(lawyer.id, False)
        held = await self._consultations.held_by(lawyer.id)
        if held:
            return [self._say("lawyer_off_holding", count=str(len(held)))]
        return [self._say("lawyer_off")]

    async def _take(self, lawyer: LawyerRecord) -> list[Outbound]:
        if not lawyer.on_duty:
            return [self._say("lawyer_off_duty")]
        texts = self._texts

        def tell(taken: ConsultationRecord) -> Sequence[Note]:
            return [Note("citizen", TO_CITIZEN, texts("consult_taken", lawyer=lawyer.display,
                                                        number=taken.number))]

        took = await self._consultations.take(lawyer, now=self._now(), tell=tell)
        if took.outcome is Took.AT_CAPACITY:
            return [self._say("lawyer_at_capacity", count=str(lawyer.capacity),
                              capacity=str(lawyer.capacity))]
        if took.consultation is None:
            return [self._say("lawyer_none_waiting")]
        return await self._shown(took.consultation)

    async def _shown(self, consultation: ConsultationRecord) -> list[Outbound]:
        """A consultation as a lawyer first sees it: the question, what the citizen
        added while it waited, and the material photos."""
        catalogue = await self._catalogue.get_or_none()
        messages = await self._consultations.messages(consultation.id)
        added = [m.text for m in messages
                 if m.sender == "citizen" and m.kind in ("text", "voice") and m.text]
        photos = [m.media_id for m in messages
                  if m.sender == "citizen" and m.kind == "image" and m.media_id]
        voices = [m.media_id for m in messages
                  if m.sender == "citizen" and m.kind == "voice" and m.media_id]
        more = "".join(self._texts("lawyer_took_more", text=mask_phones(text))
                       for text in added)
        kind = "message" if consultation.left_message else "live"
        text = self._texts(
            "lawyer_took", short=consultation.short, who=who(self._texts, consultation),
            area=_area_names(catalogue, [consultation.area])[0],
            kind=self._texts(f"lawyer_took_kind_{kind}"),
            question=mask_phones(consultation.question), more=more,
            photos=self._texts("lawyer_took_photos", count=str(len(photos))) if photos else "")
        return [Outbound.of_text(text), *(Outbound.of_image(p) for p in photos),
                *(Outbound.of_voice(v) for v in voices)]

    async def _list(self, lawyer: LawyerRecord) -> list[Outbound]:
        held = await self._consultations.held_by(lawyer.id)
        if not held:
            return [self._say("lawyer_list_none")]
        catalogue = await self._catalogue.get_or_none()
        current = await self._current(lawyer, held)
        lines = [self._texts("lawyer_list_line", n=str(n), short=c.short,
                             who=who(self._texts, c),
                             area=_area_names(catalogue, [c.area])[0],
                             time=f"{(c.taken_at or c.created_at).astimezone(CHINA):%H:%M}")
                 for n, c in enumerate(held, 1)]
        return [self._say("lawyer_list", lines="\n".join(lines),
                          current="" if current is None else current.short)]

    async def _switch(self, lawyer: LawyerRecord, number: int) -> list[Outbound]:
        held = await self._consultations.held_by(lawyer.id)
        if not 1 <= number <= len(held):
            return [self._say("lawyer_switch_bad", n=str(number))]
        chosen = held[number - 1]
        await self._lawyers.set_current(lawyer.id, chosen.id)
        return [self._say("lawyer_switched", short=chosen.short, who=who(self._texts, chosen))]

    async def _end(self, lawyer: LawyerRecord) -> list[Outbound]:
        current = await self._current(lawyer)
        if current is None:
            return await self._no_current(lawyer)
        texts = self._texts
        ended = await self._consultations.end(
            current.id, reason=EndReason.LAWYER, lawyer_id=lawyer.id, now=self._now(),
            tell=lambda c: [Note("citizen", TO_CITIZEN,
                                 texts("consult_ended_citizen", number=c.number))],
            survey=lambda c: lawyer_rating(texts, c.number))
        if ended is None:
            return await self._no_current(lawyer)
        return [await self._freed(lawyer, self._texts("lawyer_ended", short=ended.short))]

    async def _give_back(self, lawyer: LawyerRecord, note: str) -> list[Outbound]:
        current = await self._current(lawyer)
        if current is None:
            return await self._no_current(lawyer)
        texts = self._texts
        back = await self._consultations.give_back(
            current.id, lawyer_id=lawyer.id, timed_out=False, now=self._now(), note=note,
            tell=lambda c: [Note("citizen", TO_CITIZEN, texts(
                "consult_returned_citizen", lawyer=lawyer.display, number=c.number))])
        if back is None:
            return await self._no_current(lawyer)
        return [await self._freed(lawyer, self._texts("lawyer_returned", short=back.short))]

    async def _answer(self, update: Update, lawyer: LawyerRecord) -> list[Outbound]:
        """What the lawyer sent goes to the citizen of their current consultation."""
        said = said_in(update.kind, update.text, update.inbound.payload)
        if said is None:
            return [self._say("lawyer_not_relayable")]
        current = await self._current(lawyer)
        if current is None:
            return await self._no_current(lawyer)
        reachable = await self._reachable(current)
        notice = None if reachable else self._notice(current, lawyer)
        relayed = await self._consultations.add(
            current.id, sender="lawyer", lawyer_id=lawyer.id, kind=said.kind, text=said.text,
            media_id=said.media_id, now=self._now(),
            tell=lambda c: to_citizen(self._texts, c, lawyer, said, notice=notice))
        if relayed is None:
            return await self._no_current(lawyer)
        return [] if reachable else [self._say("lawyer_sent_later")]

    async def _reachable(self, consultation: ConsultationRecord) -> bool:
        try:
            return await self._reach(consultation.account, consultation.openid)
        except Exception as exc:  # the store is down: the outbox decides when it sends
            log.warning("could not read a citizen's window: %s", type(exc).__name__)
            return True

    def _notice(self, consultation: ConsultationRecord, lawyer: LawyerRecord,
                ) -> dict[str, str]:
        catalogue = self._catalogue.current
        return {"area": _area_names(catalogue, [consultation.area])[0],
                "lawyer": lawyer.name,
                "time": self._now().astimezone(CHINA).strftime("%Y-%m-%d %H:%M")}

    # -- pieces ------------------------------------------------------------------------------

    async def _current(self, lawyer: LawyerRecord,
                       held: Sequence[ConsultationRecord] | None = None,
                       ) -> ConsultationRecord | None:
        """The consultation the lawyer's messages go to: the one taken last or chosen
        with 切换 — never another by default: when that one has ended or gone back to
        the queue (the timers do so too), the lawyer chooses again rather than have an
        answer meant for one citizen reach another."""
        held = await self._consultations.held_by(lawyer.id) if held is None else held
        chosen = await self._lawyers.current(lawyer.id)
        found = next((c for c in held if c.id == chosen), None)
        return found if found is not None and found.status is Status.TAKEN else None

    async def _no_current(self, lawyer: LawyerRecord) -> list[Outbound]:
        held = await self._consultations.held_by(lawyer.id)
        if held:
            return [self._say("lawyer_choose", count=str(len(held)))]
        return [self._say("lawyer_no_current")]

    async def _freed(self, lawyer: LawyerRecord, said: str) -> Outbound:
        """``said``, and for a lawyer on duty how many wait in their areas now."""
        if not lawyer.on_duty:
            return Outbound.of_text(said)
        waiting = await self._consultations.waiting(lawyer.areas)
        return Outbound.of_text(f"{said}\n{self._waiting(waiting)}")

    def _waiting(self, count: int) -> str:
        if count:
            return self._texts("lawyer_waiting", count=str(count))
        return self._texts("lawyer_waiting_none")

    def _say(self, key: str, **values: str) -> Outbound:
        return Outbound.of_text(self._texts(key, **values))


def _area_names(catalogue: Catalogue | None, areas: Sequence[str]) -> list[str]:
    names = []
    for area in areas:
        found = None if catalogue is None else catalogue.legal_area(area)
        names.append(area if found is None else found.name)
    return names


def _is_bind(update: Update) -> bool:
    text = update.text
    return ("律师" in text[:4] and "绑定" in text[:4]
            and BIND.fullmatch(narrow(text).strip()) is not None)

