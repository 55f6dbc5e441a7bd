"""The legal consultation's form (法律咨询): area → question → material photos → 称呼 →
confirm → queued for the next lawyer on duty (or, out of hours or with nobody on duty,
left as a message the next lawyer answers).

Answers are JSON (the conversation is stored between messages):

- ``area``: ``{"id", "name"}``, a legal area of the catalogue
- ``question``: 10–1000 characters
- ``photos``: ``[{"media_id", "url"}]``, at most 3 (:class:`flows.steps.Collect`)
- ``name``: what to call the citizen (a lawyer sees only its first character), or ``None``
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.catalogue import Catalogue
from domain.consultation import (
    NAME_MAX,
    QUESTION_MAX,
    QUESTION_MIN,
    ConsultationRecord,
    LegalArea,
    estimate_wait,
)
from domain.messages import Inbound, Outbound, excerpt
from domain.texts import Wording as Texts
from domain.vocabulary import choice_number, command_form, words
from domain.workdays import STATUTORY, Calendar
from flows.engine import (
    CONFIRM,
    CONTEXT,
    GREETING,
    Flow,
    Reprompt,
    Step,
    bounded_text,
    draft_key,
    numbered,
)
from flows.steps import Collect, CollectTexts
from storage.consultations import Consultations, NewConsultation
from storage.lawyers import Lawyers

NAME = "consult"
PHOTOS_MAX = 3
SUMMARY_EXCERPT = 60
SKIP_NAME = words("consultation", "no_name")
NO_PHOTOS = words("consultation", "no_photos")
PHOTO_TEXTS = CollectTexts(kept="consult_photo_kept", kept_confirm="consult_photo_kept_confirm",
                           more="consult_photo_more", last="consult_photo_last",
                           full="consult_photo_limit")


@dataclass(frozen=True, slots=True)
class Asked:
    """The consultation a confirm made (or found, when the confirm was a repeat), and
    why it was left as a message (``closed``, ``nobody``), if it was."""

    consultation: ConsultationRecord
    created: bool
    why_left: str | None = None


class ConsultationFlow:
    """Builds the form on a catalogue that may be reloaded while citizens are in it; says
    whether lawyers serve an area now; files and answers the confirm."""

    def __init__(self, catalogue: Callable[[], Catalogue], consultations: Consultations,
                 lawyers: Lawyers, texts: Texts, *,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 ttl: float = 1800.0, calendar: Calendar = STATUTORY) -> None:
        self._catalogue = catalogue
        self.consultations = consultations
        self.lawyers = lawyers
        self._texts = texts
        self._now = now
        self._calendar = calendar
        photos = Collect("photos", PHOTOS_MAX, texts=PHOTO_TEXTS, none_words=NO_PHOTOS)
        self.flow = Flow(NAME, texts("consult_title"), (
            Step("area", texts("consult_label_area"), "consult_area", self._area,
                 show=lambda v: str(v["name"]), valid=_valid_area, values=self._area_values),
            Step("question", texts("consult_label_question"), "consult_question",
                 self._question, valid=_valid_question, show=self._show_question,
                 values=lambda _: {"min": str(QUESTION_MIN), "max": str(QUESTION_MAX)}),
            photos.step(texts("consult_label_photos"), "consult_photos",
                        show=self._show_photos, values=lambda _: {"limit": str(PHOTOS_MAX)}),
            Step("name", texts("consult_label_name"), "consult_name", self._name,
                 nullable=True, none_text="consult_name_none",
                 valid=lambda v: v is None or (isinstance(v, str) and 0 < len(v) <= NAME_MAX)),
        ), self._finish, ttl=ttl, hooks=(photos,))

    # -- whether lawyers serve --------------------------------------------------------------

    async def serving(self, area: str | None, now: datetime) -> str | None:
        """``None`` when a lawyer on duty serves ``area`` (any area: ``None``) now, within
        the service hours; else why not (``closed``: outside the hours; ``nobody``: no
        lawyer on duty for it)."""
        hours = self._catalogue().legal_hours
        if hours is None or not hours.open_at(now, self._calendar):
            return "closed"
        on_duty = await self.lawyers.on_duty()
        if not any(area is None or area in lawyer.areas for lawyer in on_duty):
            return "nobody"
        return None

    async def covered(self) -> list[str]:
        """The areas some lawyer serves, in the catalogue's order (none: the service has
        no lawyer yet)."""
        served = await self.lawyers.covered_areas()
        return [a.id for a in self._catalogue().legal_areas_in_order() if a.id in served]

    async def intro(self, now: datetime) -> tuple[str, bool]:
        """What the form's first question begins with: the service, or why a question
        asked now is left as a message; and whether lawyers serve now."""
        why = await self.serving(None, now)
        if why is None:
            return self._texts("consult_intro_live"), True
        hours = self._catalogue().legal_hours
        return self._texts(f"consult_intro_{why}",
                           hours="" if hours is None else hours.describe()), False

    # -- parsers ----------------------------------------------------------------------------

    def _area(self, inbound: Inbound, answers: dict[str, Any]) -> dict[str, str]:
        catalogue, text = self._catalogue(), inbound.text
        areas = catalogue.legal_areas_in_order()
        found: LegalArea | None = None
        number = choice_number(text)
        if number is not None:
            found = areas[number - 1] if 1 <= number <= len(areas) else None
        elif text:
            found = next((a for a in areas if a.name == text), None)
            named = [a for a in areas if text in a.name]
            if found is None and len(named) == 1:
                found = named[0]
            if found is None:  # "欠薪" names 劳动争议
                found = next((a for a in areas for word in a.keywords if word in text), None)
        if found is None:
            raise Reprompt("flow_choice_retry", first=areas[0].name if areas else "")
        context = answers.get(CONTEXT)
        covered = context.get("covered") if isinstance(context, dict) else None
        if isinstance(covered, list) and found.id not in covered:  # nobody could answer it
            raise Reprompt("consult_area_uncovered", counts=False, area=found.name)
        return {"id": found.id, "name": found.name}

    def _question(self, inbound: Inbound, answers: dict[str, Any]) -> str:
        return bounded_text(inbound.text, QUESTION_MIN, QUESTION_MAX,
                            short="consult_question_short", long="consult_question_long")

    def _name(self, inbound: Inbound, answers: dict[str, Any]) -> str | None:
        text = inbound.text.strip()
        word = command_form(text)
        if word in SKIP_NAME:
            return None
        # "确认" and "你好" are no name
        if not text or len(text) > NAME_MAX or word in CONFIRM or word in GREETING:
            raise Reprompt("consult_name_bad", max=str(NAME_MAX))
        return text

    # -- prompts and summary ----------------------------------------------------------------

    def _area_values(self, answers: dict[str, Any]) -> dict[str, str]:
        context = answers.get(CONTEXT)
        intro = context.get("intro", "") if isinstance(context, dict) else ""
        return {"intro": str(intro),
                "options": numbered([a.name for a in self._catalogue().legal_areas_in_order()])}

    def _show_question(self, value: str) -> str:
        if len(value) <= SUMMARY_EXCERPT:
            return value
        return self._texts("consult_question_shown", text=excerpt(value, SUMMARY_EXCERPT),
                           count=str(len(value)))

    def _show_photos(self, value: list[Any]) -> str:
        if not value:
            return self._texts("consult_photos_none")
        return self._texts("consult_photos_count", count=str(len(value)))

    # -- the consultation -------------------------------------------------------------------

    async def _finish(self, inbound: Inbound, answers: dict[str, Any]) -> list[Outbound]:
        context = answers.get(CONTEXT)
        told_live = isinstance(context, dict) and context.get("live") is True
        asked = await self.ask(inbound, answers)
        said = [await self.receipt(asked.consultation)]
        if told_live and asked.created and asked.why_left is not None:
            said.append(self._texts(f"consult_became_message_{asked.why_left}"))
        return [Outbound.of_text("\n".join(said))]

    async def ask(self, inbound: Inbound, answers: dict[str, Any]) -> Asked:
        """Queue the consultation, live or as a message left for the next lawyer; the
        draft's key makes a repeated confirm a no-op."""
        now = self._now()
        area = answers["area"]["id"]
        photos = tuple(str(p.get("media_id", "")) for p in answers.get("photos") or ()
                       if p.get("media_id"))[:PHOTOS_MAX]
        why = await self.serving(area, now)
        made, created = await self.consultations.ask(NewConsultation(
            idempotency_key=draft_key(inbound, answers, NAME), account=inbound.account,
            openid=inbound.user, name=answers.get("name"), area=area,
            question=answers["question"], left_message=why is not None, photos=photos),
            now=now, news=self._news)
        return Asked(made, created, why)

    def _news(self, consultation: ConsultationRecord) -> str:
        area = self._catalogue().legal_area(consultation.area)
        name = consultation.area if area is None else area.name
        return self._texts("lawyer_queue_news", area=name)

    async def receipt(self, consultation: ConsultationRecord) -> str:
        catalogue = self._catalogue()
        area = catalogue.legal_area(consultation.area)
        name = area.name if area is not None else consultation.area
        if consultation.left_message:
            return self._texts("consult_left", number=consultation.number, area=name)
        return self._texts("consult_queued", number=consultation.number, area=name,
                           **await self.queue_place(consultation))

    async def queue_place(self, consultation: ConsultationRecord) -> dict[str, str]:
        """``ahead`` (how many wait before it) and ``wait`` (the estimate, in words)."""
        position = await self.consultations.position(consultation)
        minutes = estimate_wait(position, await self.consultations.recent_waits(
            consultation.area, self._now()))
        wait = (self._texts("consult_wait_unknown") if minutes is None
                else self._texts("consult_wait_minutes", minutes=str(minutes)))
        return {"ahead": str(position - 1), "wait": wait}


def _valid_area(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("id"), str) \
        and isinstance(value.get("name"), str)


def _valid_question(value: Any) -> bool:
    return isinstance(value, str) and QUESTION_MIN <= len(value) <= QUESTION_MAX
