"""Ready-made hooks for flows: collecting photos, and adding more text to an answer.

A flow configures them; the engine knows them only as :class:`~flows.engine.Hook`s.

:class:`Collect` gathers photos (or any media a channel sends by id): an image sent
anywhere in the flow is kept in its step's answer (a list), up to a limit, and at its own
step the user sends more, says they are done, or goes on by answering the next question.
Its texts are catalogue keys (:class:`CollectTexts`), so two flows collect with their
own words and limits::

    documents = Collect("documents", 3, texts=CollectTexts(kept="legal_document_kept"))
    Flow("legal", title, (…, documents.step(label, "legal_documents"), …), finish,
         hooks=(documents,))

:class:`Addendum` takes a longer text sent at a step whose answer it is not (the second
half of a description, sent at the photos step) and adds it to another step's answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args

from domain.messages import Inbound, InboundKind, Outbound
from domain.vocabulary import command_form
from flows.engine import CLEAR, DONE, SKIP, Flow, Hook, Reprompt, Step, Turn

MEDIA_ID_LIMIT = 128  # longer is no media id a platform gave: nothing staff could fetch
# what the photos step answers with "send a photo": everything but a photo (a flow hook
# takes those), an event, and a voice message (one nothing was heard in: the engine says
# so, as at every step; a transcribed one arrives as text)
_NOT_PHOTOS = frozenset(get_args(InboundKind)) - {"image", "event", "voice"}


@dataclass(frozen=True)
class CollectTexts:
    """Catalogue keys of what :class:`Collect` says (placeholders in brackets)."""

    kept: str = "flow_photo_kept"  # kept at another step (count, prompt)
    kept_confirm: str = "flow_photo_kept_confirm"  # kept at the summary (count, summary)
    more: str = "flow_photo_more"  # kept at its step, room for more (count, left)
    last: str = "flow_photo_last"  # kept at its step, the limit reached (count, limit)
    full: str = "flow_photo_limit"  # not kept: the limit was reached before (limit)
    missing: str = "flow_photo_missing"  # not kept: no usable media id
    waiting: str = "flow_photo_waiting"  # a text at its step that is no answer (count)
    waiting_none: str = "flow_photo_waiting_none"  # the same, with nothing kept yet
    only: str = "flow_photo_only"  # another kind of message at its step
    cleared: str = "flow_photos_cleared"  # 清空 at its step
    ahead: str = "flow_photos_done_early"  # the next answer sent at its step (label)


@dataclass(frozen=True)
class Collect(Hook):
    """Photos kept as step ``name``'s answer, ``[{"media_id", "url"}]``, at most ``limit``.

    Anywhere in the flow an image is kept and acknowledged with the question the user is
    at. At its own step (built by :meth:`step`): 完成/跳过 or one of ``none_words`` ("没有
    照片") answers it with what was kept, 清空 starts again, the ``limit``-th photo is
    acknowledged and answers it, and a text of at least ``ahead_min`` characters that
    answers the next question is taken as that answer, whatever else it says ("没有照片，
    电话139…"): the photos end with what was kept.
    """

    name: str
    limit: int
    texts: CollectTexts = field(default_factory=CollectTexts)
    # "there are none" ("没有照片"): like 跳过; compared in command form (a trailing
    # "。" or "了" aside: domain.vocabulary.command_form)
    none_words: frozenset[str] = frozenset()
    ahead_min: int = 6  # shorter words ("是", "1") would answer too many next questions
    kinds: frozenset[str] = frozenset({"image"})

    def step(self, label: str, prompt: str, *, show: Callable[[Any], str] = str,
             values: Callable[[dict[str, Any]], dict[str, str]] | None = None,
             otherwise: tuple[Hook, ...] = (), retries: int = 3) -> Step:
        """The step that asks for the photos; ``otherwise``: hooks for a text there that
        is neither a command nor the next answer (see :class:`Addendum`)."""
        return Step(self.name, label, prompt, self._parse, retries=retries, show=show,
                    values=values, valid=self.valid, accepts=_NOT_PHOTOS, holds=False,
                    otherwise=(_Ahead(self), *otherwise))

    def valid(self, value: Any) -> bool:
        return isinstance(value, list) and len(value) <= self.limit and all(
            isinstance(p, dict) and _media_id(p.get("media_id")) is not None
            and isinstance(p.get("url", ""), str) for p in value)

    def kept(self, answers: dict[str, Any]) -> list[Any]:
        photos = answers.get(self.name)
        return photos if isinstance(photos, list) else []

    # -- the hook: an image anywhere in the flow ------------------------------------------

    def check(self, flow: Flow) -> None:
        if self.name not in {s.name for s in flow.steps}:
            raise ValueError(f"flow {flow.name}: no step {self.name!r} to collect into")

    def on_message(self, turn: Turn) -> list[Outbound] | None:
        if turn.inbound.kind not in self.kinds:
            return None
        texts, kept = self.texts, self._keep(turn.inbound, turn.answers)
        if kept == "missing":
            return [turn.say(texts.missing)]
        photos = self.kept(turn.answers)
        here = turn.step is not None and turn.step.name == self.name
        if kept == "full":
            refused = turn.say(texts.full, limit=str(self.limit))
            return [refused, *turn.answer(self.name, photos)] if here else [refused]
        count = str(kept)
        if here:
            if len(photos) >= self.limit:  # the last one: said so, and the next question
                return [turn.say(texts.last, count=count, limit=str(self.limit)),
                        *turn.answer(self.name, photos)]
            return [turn.say(texts.more, count=count, left=str(self.limit - len(photos)))]
        if turn.step is None:
            return [turn.say(texts.kept_confirm, count=count, summary=turn.summary())]
        return [turn.say(texts.kept, count=count, prompt=turn.prompt())]

    def on_paused(self, turn: Turn) -> bool | None:
        if turn.inbound.kind not in self.kinds:
            return None
        return isinstance(self._keep(turn.inbound, turn.answers), int)

    def _keep(self, inbound: Inbound, answers: dict[str, Any]) -> int | str:
        """Keep the image: how many are kept now, or why not ("missing", "full")."""
        media_id, url = _media_id(inbound.payload.get("media_id")), inbound.payload.get("url")
        if media_id is None:
            return "missing"
        photos = answers.get(self.name)
        if not isinstance(photos, list):
            photos = answers[self.name] = []
        if len(photos) >= self.limit:
            return "full"
        photos.append({"media_id": media_id, "url": url if isinstance(url, str) else ""})
        return len(photos)

    # -- its step ---------------------------------------------------------------------------

    def _parse(self, inbound: Inbound, answers: dict[str, Any]) -> list[Any]:
        photos = self.kept(answers)
        if inbound.kind != "text":
            raise Reprompt(self.texts.only)
        text = command_form(inbound.text)
        if text in CLEAR:
            answers[self.name] = []
            raise Reprompt(self.texts.cleared, fresh=True)
        if (text in DONE or text in SKIP or text in self.none_words
                or text.removesuffix("了") in self.none_words):
            return photos
        raise Reprompt(self.texts.waiting if photos else self.texts.waiting_none,
                       count=str(len(photos)))





@dataclass(frozen=True)
class _Ahead(Hook):
    """At the photos: a text that answers the next question ends the photos with what
    was kept and is taken as that answer (a phone number typed before 完成)."""

    collect: Collect

    def on_message(self, turn: Turn) -> list[Outbound] | None:
        text = turn.inbound.text
        if turn.inbound.kind != "text" or turn.editing or len(text) < self.collect.ahead_min:
            return None  # while the photos are changed from the summary, nothing else is
        return turn.answer_ahead(self.collect.kept(turn.answers), self.collect.texts.ahead)


@dataclass(frozen=True)
class Addendum(Hook):
    """A text of at least ``min_length`` characters sent at a step whose answer it is
    not: added to step ``target``'s (text) answer, on a new line — not twice, not past
    what ``target`` accepts, not when ``ignore`` finds it is about the step it was sent
    at ("拍不了照片"), and not when ``refusal`` names a catalogue text (placeholders:
    label, prompt) to answer instead (a phone number in what may be published)."""

    target: str
    min_length: int
    ignore: re.Pattern[str] | None = None
    refusal: Callable[[str], str | None] | None = None
    # only once ``target`` has an answer (the description given before the form began,
    # its second half sent at the first questions), never to start one
    answered_only: bool = False

    def check(self, flow: Flow) -> None:
        if self.target not in {s.name for s in flow.steps}:
            raise ValueError(f"flow {flow.name}: no step {self.target!r} to add to")

    def on_message(self, turn: Turn) -> list[Outbound] | None:
        text = turn.inbound.text
        if (turn.inbound.kind != "text" or turn.editing or len(text) < self.min_length
                or (self.ignore is not None and self.ignore.search(text))):
            return None
        target = turn.flow.step(self.target)
        before = turn.answers.get(target.name)
        if self.answered_only and not isinstance(before, str):
            return None
        prompt, label = turn.prompt(), target.label
        if isinstance(before, str) and text in before:  # sent twice
            return [turn.say("flow_addendum_already", label=label, prompt=prompt)]
        refusal = self.refusal(text) if self.refusal is not None else None
        if refusal is not None:
            return [turn.say(refusal, label=label, prompt=prompt)]
        combined = f"{before}\n{text}" if isinstance(before, str) else text
        if not target.answered({target.name: combined}):
            return [turn.say("flow_addendum_refused", label=label, prompt=prompt)]
        turn.answers[target.name] = combined
        return [turn.say("flow_addendum_added", label=label, count=str(len(combined)),
                         prompt=prompt)]


def _media_id(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= MEDIA_ID_LIMIT else None
