"""The citizen's side of a legal consultation once it is asked: while it waits, 排队 says
the place and the wait, more text or photos are added to the question, 取消 leaves the
queue; once a lawyer holds it, what the citizen sends goes to the lawyer. 我的咨询 lists
the citizen's consultations.

A citizen with a consultation open carries a mark in their conversation (set when they
start the form; forms do not clear it): only they cost this router a database look-up,
and a mark whose consultation has ended is dropped then. Whole-message services (我要反映,
我的留言, 查询 LX…, 法律咨询) keep their meaning; a form the citizen is filling in takes
their answers first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from domain.catalogue import Catalogue
from domain.consultation import ConsultationRecord, Status
from domain.display import format_day
from domain.messages import Outbound
from domain.survey import clear_answer
from domain.texts import Texts
from domain.vocabulary import command_form, words
from domain.workdays import local_day
from flows.consultation import ConsultationFlow
from handlers.commands import Service
from handlers.dispatcher import Message, Router, Update
from handlers.relay import Said, said_in, to_lawyer
from storage.catalogue_cache import CatalogueCache

log = logging.getLogger(__name__)

MARK = "consult"  # conversation.marks[MARK]: the citizen may have a consultation open
# a citizen's words in an open consultation (domain/vocabulary.toml), in command form
QUEUE_WORDS = words("consultation", "queue")
CANCEL_WORDS = words("consultation", "cancel")
MY_WORDS = words("consultation", "mine")
HELP_WORDS = words("consultation", "help")
SHOWN = 10


class ConsultDesk:
    def __init__(self, texts: Texts, consultation: ConsultationFlow,
                 catalogue: CatalogueCache, *,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._texts = texts
        self._flow = consultation
        self._consultations = consultation.consultations
        self._lawyers = consultation.lawyers
        self._catalogue = catalogue
        self._now = now

    def router(self) -> Router:
        """A citizen's messages while a consultation of theirs is open (outside a form),
        and 我的咨询 from anyone who is no lawyer or staff (those routers come first)."""
        router = Router("consultation")
        router.add(self._mine, Message(), _asks_mine)
        router.add(self._in_consultation, Message(), _no_form_nor_service, self._open)
        return router

    # -- filters ----------------------------------------------------------------------------

    async def _open(self, update: Update) -> bool:
        """A consultation of theirs is open (the mark says to look; a stale mark goes)."""
        marks = update.conversation.marks
        if not marks.get(MARK):
            return False
        inbound = update.inbound
        if await self._consultations.open_of(inbound.account, inbound.user) is None:
            marks.pop(MARK, None)
            return False
        return True

    # -- answers ----------------------------------------------------------------------------

    async def _in_consultation(self, update: Update) -> list[Outbound]:
        inbound, now = update.inbound, self._now()
        consultation = await self._consultations.open_of(inbound.account, inbound.user)
        if consultation is None:  # ended between the filter and now
            update.conversation.marks.pop(MARK, None)
            return [self._say("consult_none_open")]
        text = update.text.strip() if update.kind == "text" else ""
        word = command_form(text)
        if word in QUEUE_WORDS:
            return [Outbound.of_text(await self._place(consultation))]
        if word in CANCEL_WORDS:
            return [await self._cancel(update, consultation)]
        if word in HELP_WORDS:
            return [self._say("consult_help", number=consultation.number,
                              status=self._texts(consultation.status.label_key),
                              what=self._texts(f"consult_help_{consultation.status.value}"))]
        said = said_in(update.kind, update.text, inbound.payload)
        if said is None:
            return [self._say("consult_not_text")]
        return await self._pass_on(consultation, said, now)

    async def _pass_on(self, consultation: ConsultationRecord, said: Said,
                       now: datetime) -> list[Outbound]:
        """Kept with the consultation as it stands when it is written: while it waits,
        more of the question (nobody is pushed); once taken, to the lawyer."""
        texts = self._texts
        kept = await self._consultations.add(
            consultation.id, sender="citizen", kind=said.kind, text=said.text,
            media_id=said.media_id, now=now,
            tell=lambda c: to_lawyer(texts, c, said) if c.status is Status.TAKEN else ())
        if kept is None:  # ended between the look and the write
            return [self._say("consult_ended_now", number=consultation.number)]
        if kept.status is Status.TAKEN:
            return []  # passed on: the lawyer answers
        return [self._say("consult_added_photo" if said.kind == "image" else "consult_added")]

    async def _place(self, consultation: ConsultationRecord) -> str:
        if consultation.status is Status.TAKEN:
            lawyer = (None if consultation.lawyer_id is None
                      else await self._lawyers.get(consultation.lawyer_id))
            return self._texts("consult_position_taken", number=consultation.number,
                               lawyer="" if lawyer is None else lawyer.display)
        if consultation.left_message:
            return self._texts("consult_position_message", number=consultation.number)
        return self._texts("consult_position", number=consultation.number,
                           **await self._flow.queue_place(consultation))

    async def _cancel(self, update: Update, consultation: ConsultationRecord) -> Outbound:
        if consultation.status is Status.TAKEN:
            return self._say("consult_cancel_too_late")
        inbound = update.inbound
        left = await self._consultations.cancel(consultation.id, account=inbound.account,
                                                openid=inbound.user, now=self._now())
        if left is None:  # a lawyer took it meanwhile
            return self._say("consult_cancel_too_late")
        update.conversation.marks.pop(MARK, None)
        return self._say("consult_cancelled", number=left.number)

    async def _mine(self, update: Update) -> list[Outbound]:
        """我的咨询: the citizen's latest consultations."""
        inbound = update.inbound
        found = await self._consultations.of_citizen(inbound.account, inbound.user, SHOWN)
        if not found:
            return self._reminded(update, self._say("consult_my_none"))
        catalogue = await self._catalogue.get_or_none()
        lines = [self._texts("consult_my_line", number=c.number,
                             area=_area_name(catalogue, c.area),
                             status=self._texts(c.status.label_key),
                             day=format_day(self._texts, local_day(c.created_at)))
                 for c in found]
        return self._reminded(update, self._say("consult_my", count=str(len(found)),
                                                lines="\n".join(lines)))

    # -- pieces ------------------------------------------------------------------------------

    def _reminded(self, update: Update, answer: Outbound) -> list[Outbound]:
        reminder = update.reminder()
        return [answer, reminder] if reminder is not None else [answer]

    def _say(self, key: str, **values: str) -> Outbound:
        return Outbound.of_text(self._texts(key, **values))


def _area_name(catalogue: Catalogue | None, area: str) -> str:
    found = None if catalogue is None else catalogue.legal_area(area)
    return area if found is None else found.name


def _asks_mine(update: Update) -> bool:
    return update.kind == "text" and command_form(update.text) in MY_WORDS


def _no_form_nor_service(update: Update) -> bool:
    """Not a whole-message service other than help (those keep their meaning), not a
    clear survey answer ("000123 5": the survey router's, after this one), and no form
    open (the form takes its answers). A bare "5" or 没有 is an answer to the lawyer."""
    command = update.command
    if command is not None and command is not Service.HELP:
        return False
    if update.kind == "text" and len(update.text) <= 40 and clear_answer(update.text):
        return False
    return update.flow is None

