"""The complaint flow (我要反映): kind → category → region → description → photos → phone →
public or not → confirm → a ticket, routed by the catalogue and dated in working days.

Answers are JSON (the conversation is stored between messages):

- ``kind``: one of the five ticket kinds
- ``category``: ``{"id", "name"}``
- ``region``: ``{"id", "name", "place", "latitude", "longitude"}`` (``id`` ``None``: a place
  the catalogue does not know), or ``None`` when the citizen skipped it
- ``description``: 10–1000 characters
- ``photos``: ``[{"media_id", "url"}]``, at most 9 (any image sent in the flow is kept
  here: :class:`flows.steps.Collect`)
- ``phone``: a mobile's 11 digits or a landline's "0731-84567890", or ``None``
  (anonymous, only for the kinds the catalogue allows)
- ``public``: bool
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.catalogue import KINDS, Catalogue, Department, Region
from domain.contact import NotAPhone, mask_phones, normalise_phone, phone_in, phones_in
from domain.display import department_name, format_day
from domain.messages import Inbound, Outbound, excerpt
from domain.redact import hide_numbers
from domain.texts import Wording as Texts
from domain.tickets import MAX_ATTACHMENTS, TicketRecord
from domain.vocabulary import choice_number, command_form, named, words
from domain.workdays import STATUTORY, Calendar, due_deadline, local_day
from flows.engine import (
    CONTEXT,
    Again,
    Flow,
    Reprompt,
    Step,
    bounded_text,
    choice,
    draft_key,
    numbered,
)
from flows.steps import Addendum, Collect
from storage.tickets import NewTicket, Tickets

NAME = "complaint"
DESCRIPTION_MIN = 10
DESCRIPTION_MAX = 1000
PUBLIC_CHOICES = ("公开", "不公开")
PUBLIC_YES = words("complaint", "public_yes")
PUBLIC_NO = words("complaint", "public_no")
USE_LAST = words("complaint", "use_last")
ANONYMOUS = words("complaint", "anonymous")
SKIP_REGION = words("complaint", "region_unknown")
# what makes a text that names no region an address ("人民路12号", "幸福小区3栋")
ADDRESS = re.compile(r"路|街(?!道)|巷|弄|号|村|组|小区|社区|栋|幢|单元|广场|大厦|花园|苑|市场|学校")
# …but not a question or a guess about the region ("不知道是哪个街道")
NOT_ADDRESS = re.compile(r"不知|不清楚|不确定|哪|吗|[？?，,。！!；;]")
ADDRESS_MIN, ADDRESS_MAX = 4, 40  # "2号" is no address, nor is a paragraph
SENTENCE = re.compile(r"[，,。！!；;]")  # with more than SENTENCE_MIN characters: a sentence
SENTENCE_MIN = 15
PERSONAL = "_personal"  # answers[PERSONAL]: a description with a number in it, held to ask
# at that question: move the number out of it (offered at the phone question), or keep it
MOVE_NUMBER = words("complaint", "move_number")
KEEP_NUMBER = words("complaint", "keep_number")
# answers[CONTEXT][SAID_PHONE]: the one phone number in the description (typed outside
# the form, kept as written, or moved out of it), which the phone question offers ("1")
SAID_PHONE = "said_phone"
LOCATION = "_location"  # answers[LOCATION]: a spot sent at the region step, no region yet
TYPED = "_typed"  # answers[TYPED]: how many addresses naming no region were typed there
SUMMARY_EXCERPT = 60  # characters of the description the summary shows
# a text at the photos step about the photos ("拍不了照片"), not more of the description
PHOTO_TALK = re.compile(r"照片|图片|相片|拍|发不|传不|上传|没图|无图")
# at the photos step: "there are none", as good as 跳过
NO_PHOTOS = words("complaint", "no_photos")


@dataclass(frozen=True, slots=True)
class Filed:
    """The ticket a confirm made (or found, when the confirm was a repeat)."""

    ticket: TicketRecord
    created: bool


class ComplaintFlow:
    """Builds the flow's steps on a catalogue that may be reloaded while users are in it."""

    def __init__(self, catalogue: Callable[[], Catalogue], tickets: Tickets, texts: Texts,
                 *, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 ttl: float = 1800.0, calendar: Calendar = STATUTORY) -> None:
        self._catalogue = catalogue
        self._tickets = tickets
        self._texts = texts
        self._now = now
        self._calendar = calendar
        photos = Collect("photos", MAX_ATTACHMENTS, none_words=NO_PHOTOS)
        # the rest of a description sent in two messages, the second at the photos
        more = Addendum("description", DESCRIPTION_MIN, ignore=PHOTO_TALK,
                        refusal=_phone_in_addendum)
        # the rest of a complaint typed outside the form (its description), sent as the
        # form's first questions are asked
        early = Addendum("description", DESCRIPTION_MIN, refusal=_phone_in_addendum,
                         answered_only=True)
        self.flow = Flow(NAME, texts("complaint_title"), (
            Step("kind", texts("complaint_label_kind"), "complaint_kind", _kind,
                 values=lambda _: {"options": numbered(KINDS)}, valid=_valid_kind,
                 again="complaint_kind_again", otherwise=(early,)),
            Step("category", texts("complaint_label_category"), "complaint_category",
                 self._category, show=lambda v: str(v["name"]), valid=_valid_category,
                 again="complaint_category_again", otherwise=(early,),
                 values=lambda _: {"options": numbered(
                     [c.name for c in self._catalogue().categories_in_order()])}),
            Step("region", texts("complaint_label_region"), "complaint_region",
                 self._region, show=self._show_region, valid=_valid_region, nullable=True,
                 scratch=(LOCATION, TYPED), again="complaint_region_again",
                 accepts=frozenset({"text", "location"}),
                 values=lambda _: {"options": numbered(
                     [r.name for r in self._catalogue().regions_offered()])}),
            Step("description", texts("complaint_label_description"),
                 "complaint_description", self._description, valid=_valid_description,
                 show=self._show_description, scratch=(PERSONAL,),
                 again="complaint_description_again",
                 values=lambda _: {"min": str(DESCRIPTION_MIN), "max": str(DESCRIPTION_MAX)}),
            photos.step(texts("complaint_label_photos"), "complaint_photos",
                        show=self._show_photos, otherwise=(more,),
                        values=lambda _: {"limit": str(MAX_ATTACHMENTS)}),
            Step("phone", texts("complaint_label_phone"), "complaint_phone", self._phone,
                 show=lambda v: str(v), values=self._phone_values, valid=_valid_phone,
                 none_text="complaint_phone_anonymous_shown", nullable=True),
            Step("public", texts("complaint_label_public"), "complaint_public",
                 self._public, show=lambda v: PUBLIC_CHOICES[0 if v else 1],
                 valid=lambda v: isinstance(v, bool), again="complaint_public_again",
                 values=lambda _: {"options": numbered(PUBLIC_CHOICES)}),
        ), self._finish, ttl=ttl, review=self._review, hooks=(photos,))

    # -- parsers --------------------------------------------------------------------------

    def _category(self, inbound: Inbound, answers: dict[str, Any]) -> dict[str, str]:
        catalogue, text = self._catalogue(), inbound.text
        found = None
        number = choice_number(text)
        if number is not None:
            found = catalogue.category_numbered(number)
        else:
            found = catalogue.category_by_name(text)
            if found is None and text:
                named = [c for c in catalogue.categories if text in c.name]
                found = named[0] if len(named) == 1 else catalogue.category_for_text(text)
        if found is None:
            raise Reprompt("flow_choice_retry",
                           first=catalogue.categories_in_order()[0].name)
        return {"id": found.id, "name": found.name}

    def _region(self, inbound: Inbound, answers: dict[str, Any]) -> dict[str, Any] | None:
        catalogue = self._catalogue()
        if inbound.kind == "location":
            payload = inbound.payload
            place = str(payload.get("label") or "").strip()[:200] or None
            where = {"place": place, "latitude": _float(payload.get("latitude")),
                     "longitude": _float(payload.get("longitude"))}
            region = catalogue.region_for_text(place or "")
            if region is None:  # keep the spot, ask which region it is in
                answers[LOCATION] = where
                raise Reprompt("complaint_location_unmatched", counts=False,
                               place=place or self._texts("complaint_no_label"))
            return _region_answer(region, place=place, latitude=where["latitude"],
                                  longitude=where["longitude"])
        text = inbound.text
        if command_form(text) in SKIP_REGION:
            spot = answers.pop(LOCATION, None)  # a location sent, then 跳过: keep the spot
            return {"id": None, "name": None, **spot} if isinstance(spot, dict) else None
        region = None
        number = choice_number(text)
        if not text:
            raise Reprompt("flow_choice_retry", first=catalogue.regions_offered()[0].name)
        if number is not None:  # a number in the list shown: the regions offered
            region = catalogue.region_numbered(number)
        else:  # a name (a parent's too: 县城区), part of one, or a text naming a region
            # or one of its places
            region = catalogue.region_by_name(text)
            named = [r for r in catalogue.regions if text in r.name]
            if region is None and len(named) == 1:
                region = named[0]
            if region is None:
                region = catalogue.region_for_text(text)
                if region is not None:  # "东城街道人民路12号", "张家村", "人民广场旁边":
                    return _region_answer(region, place=text[:200])  # the text is the place
        if region is None and looks_like_address(text):
            # an address without its town: keep it as the place, ask for the region (a
            # second one in a row counts as a try, so help still comes)
            before = answers.get(LOCATION)
            before = before if isinstance(before, dict) else {}
            answers[LOCATION] = {"place": text[:200], "latitude": before.get("latitude"),
                                 "longitude": before.get("longitude")}  # a sent spot's too
            typed = answers.get(TYPED)
            answers[TYPED] = typed = (typed if isinstance(typed, int) else 0) + 1
            raise Reprompt("complaint_address_unmatched", counts=typed > 1, place=text[:50])
        if region is None and (len(text) > ADDRESS_MAX or (
                len(text) > SENTENCE_MIN and SENTENCE.search(text))):  # the description early
            raise Reprompt("complaint_region_first")
        if region is None:
            raise Reprompt("complaint_region_unknown", text=text[:20])
        location = answers.pop(LOCATION, None)
        return _region_answer(region, **(location or {}))

    def _description(self, inbound: Inbound, answers: dict[str, Any]) -> str:
        """The description; one with a phone or ID number in it is kept aside and the
        citizen asked: move the number to the phone question (1), or keep it as written
        (2) — the board hides such numbers, but the citizen decides what is stored."""
        text = inbound.text
        held = answers.get(PERSONAL)
        if isinstance(held, str):
            word, number = command_form(text), choice_number(text)
            if number == 1 or word in MOVE_NUMBER:
                return self._moved(held, answers)
            if number == 2 or word in KEEP_NUMBER:
                _said(answers, _one_phone(held))
                return held
            if len(text) < DESCRIPTION_MIN:  # no new description either: the question again
                raise Reprompt("complaint_description_personal", counts=False, alone=True)
            # anything longer is the description written again: checked afresh
        described = bounded_text(text, DESCRIPTION_MIN, DESCRIPTION_MAX,
                                 short="complaint_description_short",
                                 long="complaint_description_long")
        if hide_numbers(described) != described:
            answers[PERSONAL] = described
            raise Reprompt("complaint_description_personal", counts=False, alone=True)
        answers.pop(PERSONAL, None)
        _said(answers, None)  # it holds none (hide_numbers found none): none offered
        return described

    def _moved(self, text: str, answers: dict[str, Any]) -> str:
        """The description without its phone and ID numbers (the citizen chose so); its
        one phone number is offered at the phone question (it may be someone else's: the
        物业's). A description that was little but the number is asked for again."""
        moved = hide_numbers(text)
        if not _valid_description(moved):
            answers.pop(PERSONAL, None)
            raise Reprompt("complaint_description_only_number", count=str(len(moved)),
                           min=str(DESCRIPTION_MIN))
        _said(answers, _one_phone(text))
        return moved

    def from_text(self, text: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """What a complaint typed outside the form already answers — the category its
        words suggest, the text as the description, its phone and ID numbers hidden — and
        the context the form starts with (its one phone number, which the phone question
        offers: asked, never taken silently); ``None`` when it is no description."""
        category = self._catalogue().category_for_text(text)
        description = hide_numbers(text)
        if category is None or not _valid_description(description):
            return None
        phone = _one_phone(text)
        return ({"category": {"id": category.id, "name": category.name},
                 "description": description}, {} if phone is None else {SAID_PHONE: phone})

    def _phone(self, inbound: Inbound, answers: dict[str, Any]) -> str | None:
        text = inbound.text
        offers = _offered(answers)
        word = command_form(text)
        if offers and word in USE_LAST:  # "1", 用上次的: the first offered
            return offers[0][1]
        if len(offers) > 1 and choice_number(text) == 2:
            return offers[1][1]
        if word in ANONYMOUS:
            if self._catalogue().allows_anonymous(str(answers.get("kind"))):
                return None
            # a rule, not a mistake: explained, and not counted as a failed try
            raise Reprompt("complaint_phone_required", counts=False,
                           kind=str(answers.get("kind")))
        try:
            return normalise_phone(text)  # a mobile, or a landline with its area code
        except NotAPhone as refusal:
            number = phone_in(text)  # "我的电话是13900139000"
            if number is None:  # saying what is wrong: complaint_phone_bad_length …
                reason = "" if refusal.reason == "unread" else f"_{refusal.reason}"
                raise Reprompt(f"complaint_phone_bad{reason}",
                               count=str(refusal.digits)) from None
            return number

    def _public(self, inbound: Inbound, answers: dict[str, Any]) -> bool:
        word = command_form(inbound.text)
        if word in PUBLIC_YES:
            return True
        if word in PUBLIC_NO:
            return False
        return choice(PUBLIC_CHOICES)(inbound, answers) == PUBLIC_CHOICES[0]

    def _review(self, answers: dict[str, Any]) -> Again | None:
        """A step whose answer no longer fits after an edit: the kind changed to one that
        needs a phone while the citizen had chosen to stay anonymous."""
        if "phone" in answers and answers["phone"] is None and not (
                self._catalogue().allows_anonymous(str(answers.get("kind")))):
            return Again("phone", "complaint_review_phone", {"kind": str(answers.get("kind"))})
        return None

    # -- prompts and summary ----------------------------------------------------------------

    def _phone_values(self, answers: dict[str, Any]) -> dict[str, str]:
        anonymous = self._catalogue().allows_anonymous(str(answers.get("kind")))
        offered = "".join(  # each shown masked, as on any screen others may see
            self._texts(key, n=str(n), phone=mask_phones(phone))
            for n, (key, phone) in enumerate(_offered(answers), start=1))
        return {
            "last": offered,
            "anonymous": self._texts("complaint_phone_anonymous") if anonymous else "",
        }

    def _show_region(self, value: dict[str, Any]) -> str:
        name = value.get("name") or self._texts("complaint_region_unnamed")
        place = value.get("place")
        return f"{name}（{place}）" if place and place != name else str(name)

    def _show_description(self, value: str) -> str:
        """On one line; a long one cut, with its length (all of it goes to the ticket)."""
        if len(value) <= SUMMARY_EXCERPT:
            return excerpt(value, SUMMARY_EXCERPT)
        return self._texts("complaint_description_shown", text=excerpt(value, SUMMARY_EXCERPT),
                           count=str(len(value)))

    def _show_photos(self, value: list[Any]) -> str:
        if not value:
            return self._texts("complaint_photos_none")
        return self._texts("complaint_photos_count", count=str(len(value)))

    # -- the ticket ---------------------------------------------------------------------------

    async def _finish(self, inbound: Inbound, answers: dict[str, Any]) -> list[Outbound]:
        filed = await self.file(inbound, answers)
        return [Outbound.of_text(self.receipt(filed.ticket))]

    async def file(self, inbound: Inbound, answers: dict[str, Any]) -> Filed:
        """Route, date and store the ticket; the draft id makes a repeated confirm a no-op."""
        catalogue, now = self._catalogue(), self._now()
        category = answers["category"]
        region = answers.get("region") or {}
        department = self._route(catalogue, category["id"], region.get("id"))
        kind = answers["kind"]
        days = catalogue.deadline_days(kind)
        due = due_deadline(now, days, self._calendar)
        if due.provisional:
            _warn_provisional(due.day.year)
        photos = tuple((str(p.get("media_id", "")), str(p.get("url", "")))
                       for p in answers.get("photos") or ())[:MAX_ATTACHMENTS]
        ticket, created = await self._tickets.create(NewTicket(
            idempotency_key=idempotency_key(inbound, answers), account=inbound.account,
            openid=inbound.user, kind=kind, category=category["id"], region=region.get("id"),
            department=department.id, description=answers["description"], due_on=due.day,
            due_provisional=due.provisional, due_workdays=days,
            staff_notice=self._texts(
                "staff_notice_dispatched", number="{number}",
                department=department_name(catalogue, department.id),
                summary=excerpt(answers["description"], 40),
                date=format_day(self._texts, due.day)),
            phone=answers.get("phone"), public=bool(answers.get("public")),
            latitude=_float(region.get("latitude")), longitude=_float(region.get("longitude")),
            place=region.get("place"), photos=photos,
        ), now=now, day=local_day(now))
        return Filed(ticket, created)

    @staticmethod
    def _route(catalogue: Catalogue, category_id: str, region_id: str | None) -> Department:
        try:
            return catalogue.route(category_id, region_id)
        except KeyError:  # the catalogue was reloaded without it mid-conversation
            return catalogue.fallback

    def receipt(self, ticket: TicketRecord) -> str:
        catalogue = self._catalogue()
        days = catalogue.deadlines.get(ticket.kind)
        if ticket.due_on is not None and ticket.due_provisional:
            due = self._texts("complaint_due_provisional", days=str(days),
                              date=format_day(self._texts, ticket.due_on))
        elif ticket.due_on is not None:
            due = self._texts("complaint_due", days=str(days),
                              date=format_day(self._texts, ticket.due_on))
        else:
            due = self._texts("complaint_due_unknown", days=str(days))
        return self._texts("complaint_filed", number=ticket.number, kind=ticket.kind,
                           department=department_name(catalogue, ticket.department), due=due)


log = logging.getLogger(__name__)
_WARNED: set[int] = set()  # the unknown years already logged by this process


def _warn_provisional(year: int) -> None:
    """Once per year and process: deadlines in ``year`` are provisional."""
    if year not in _WARNED:
        _WARNED.add(year)
        log.warning("the working-day calendar for %d is not known: due dates in it are "
                    "provisional (weekdays only) until config/holidays.toml or "
                    "chinesecalendar has it; then run `lianxin calendar refresh`", year)


def idempotency_key(inbound: Inbound, answers: dict[str, Any]) -> str:
    """The draft's key (flows/engine.py ``draft_key``) for a ticket."""
    return draft_key(inbound, answers, "complaint")


def _phone_in_addendum(text: str) -> str | None:
    """A number typed with more words than a phone answer has, at the photos step: not
    added to the description, which may be published."""
    return "complaint_addendum_has_phone" if hide_numbers(text) != text else None


def looks_like_address(text: str) -> bool:
    """"幸福小区3栋", "人民路12号门口" — not a question, a guess, or a sentence (the
    description typed one step early)."""
    return (ADDRESS_MIN <= len(text) <= ADDRESS_MAX and ADDRESS.search(text) is not None
            and NOT_ADDRESS.search(text) is None)


def _kind(inbound: Inbound, answers: dict[str, Any]) -> str:
    """The kind: a number, its name, or a request that names it ("我要投诉", "举报")."""
    named_kind = named("kinds", inbound.text)
    return named_kind if named_kind is not None else choice(KINDS)(inbound, answers)


def _valid_kind(value: Any) -> bool:
    return value in KINDS


def _valid_category(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("id"), str) \
        and isinstance(value.get("name"), str)


def _valid_region(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("id"), (str, type(None))) \
        and isinstance(value.get("place"), (str, type(None)))


def _valid_description(value: Any) -> bool:
    return isinstance(value, str) and DESCRIPTION_MIN <= len(value) <= DESCRIPTION_MAX


def _valid_phone(value: Any) -> bool:
    try:
        return isinstance(value, str) and normalise_phone(value) == value
    except NotAPhone:
        return False


def _region_answer(region: Region, *, place: str | None = None, latitude: Any = None,
                   longitude: Any = None) -> dict[str, Any]:
    return {"id": region.id, "name": region.name, "place": place,
            "latitude": _float(latitude), "longitude": _float(longitude)}


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def _one_phone(text: str) -> str | None:
    """The phone number ``text`` holds when it holds one, else ``None``."""
    numbers = phones_in(text)
    return next(iter(numbers)) if len(numbers) == 1 else None


def _said(answers: dict[str, Any], phone: str | None) -> None:
    """The phone question offers ``phone``, the description's one phone number, or none.
    (A new context: the engine tries parsers on a shallow copy of the answers.)"""
    context = answers.get(CONTEXT)
    context = {k: v for k, v in context.items() if k != SAID_PHONE} if isinstance(
        context, dict) else {}
    answers[CONTEXT] = context if phone is None else {**context, SAID_PHONE: phone}


def _offered(answers: dict[str, Any]) -> list[tuple[str, str]]:
    """The numbers the phone question offers, as (text key, number), in the order "1"
    and "2" take them: the one the citizen left last time (a habit: it stays "1"), then
    one the description says (maybe someone else's), each number once."""
    context = answers.get(CONTEXT)
    context = context if isinstance(context, dict) else {}
    offers: list[tuple[str, str]] = []
    for key, phone in (("complaint_phone_last", context.get("last_phone")),
                       ("complaint_phone_said", context.get(SAID_PHONE))):
        if isinstance(phone, str) and phone and all(phone != p for _, p in offers):
            offers.append((key, phone))
    return offers
