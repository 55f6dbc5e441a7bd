"""The conversation engine: flows as data, run one message at a time on stored state.

A :class:`Flow` is a list of :class:`Step`s. Each step has a prompt, a parser that turns
the user's message into a value or raises :class:`Reprompt` naming the catalogue text to
answer (any other ``ValueError`` gets the generic "try again"; a Python message never
reaches the user), a retry limit, an optional skip, and what comes next. The engine
keeps where the user is in the :class:`~flows.context.Conversation` (so a restart or
another worker continues the same conversation), checks the global commands before any
step — 取消 cancel, 返回 back, 帮助 help, 重新开始 restart — ends in a confirm step that
lets the user edit any answer ("修改 3"), and stores the timeout (``expires_at``), never
only a timer: a user who comes back after it is offered to resume or discard.
"""

from __future__ import annotations

import re
import time
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from domain.messages import Inbound, Outbound, excerpt
from flows.context import LOST_ON_RESTART, Conversation

CANCEL = frozenset({"取消", "退出", "cancel"})
BACK = frozenset({"返回", "上一步", "back"})
HELP = frozenset({"帮助", "help", "?", "？", "菜单", "使用说明"})  # compared lower-cased
RESTART = frozenset({"重新开始", "重来", "restart"})
SKIP = frozenset({"跳过", "无", "没有", "skip"})
CONFIRM = frozenset({"确认", "确定", "提交", "confirm"})
RESUME = frozenset({"继续", "resume"})
DISCARD = frozenset({"放弃", "discard"})
DONE = frozenset({"完成", "好了", "发完了", "没有了", "done"})
CLEAR = frozenset({"清空", "重新上传"})
# not taken as an answer held over a timeout
_NOT_HELD = BACK | CONFIRM | DONE | CLEAR | HELP
# a text at the photos step about the photos ("拍不了照片"), not more of the description
PHOTO_TALK = re.compile(r"照片|图片|相片|拍|发不|传不|上传|没图|无图")
CONTEXT = "_ctx"  # answers[CONTEXT]: what the flow was started with (kept across restart)
DRAFT = "draft"  # answers[CONTEXT][DRAFT]: a new id each time a flow starts or restarts
MEDIA_ID_LIMIT = 128

_CONFIRM_STEP = "__confirm__"
_EXPIRED_STEP = "__expired__"


class Texts(Protocol):
    """The text catalogue (handlers.texts.Texts)."""

    def __call__(self, key: str, **values: str) -> str: ...


class Reprompt(ValueError):
    """A parser's refusal whose answer is a catalogue text (then the step's question).

    ``counts`` False: the message was useful but not yet an answer (a location that names
    no region), so it does not count towards the retry limit.
    """

    def __init__(self, key: str, *, counts: bool = True, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values
        self.counts = counts


Parser = Callable[[Inbound, dict[str, Any]], Any]


@dataclass(frozen=True)
class Step:
    """One question. ``parse`` returns the value to keep or raises ``ValueError(re-prompt)``."""

    name: str
    label: str  # how the confirm summary names it
    prompt: str  # catalogue key of the question
    parse: Parser
    retries: int = 3
    optional: bool = False  # "跳过" leaves it empty
    show: Callable[[Any], str] = str  # how the confirm summary shows the value
    next: Callable[[dict[str, Any]], str | None] | None = None  # default: the next step
    values: Callable[[dict[str, Any]], dict[str, str]] | None = None  # prompt placeholders
    accepts: frozenset[str] = frozenset({"text"})  # inbound kinds the parser takes
    # is a stored answer (JSON from an earlier message, maybe an older version) usable?
    valid: Callable[[Any], bool] = lambda value: True
    none_text: str = "flow_skipped"  # catalogue key the summary shows for an empty answer
    nullable: bool = False  # the parser may answer None (anonymous, not known)
    # answers keys the parser keeps between tries at this step (a location that named no
    # region), dropped when the user leaves the step, answered or not
    scratch: tuple[str, ...] = ()

    def answered(self, answers: dict[str, Any]) -> bool:
        """Does ``answers`` hold a usable answer to this step?"""
        if self.name not in answers:
            return False
        value = answers[self.name]
        if value is None:
            return self.optional or self.nullable
        try:
            return bool(self.valid(value))
        except Exception:  # a validator meeting a shape it did not expect
            return False


Finish = Callable[[Inbound, dict[str, Any]], Awaitable[list[Outbound]]]


@dataclass(frozen=True)
class Flow:
    name: str
    title: str  # shown when interrupted or expired
    steps: tuple[Step, ...]
    finish: Finish  # called with the collected data once the user confirms
    ttl: float = 1800.0
    # the step that collects photos: an image anywhere in the flow is kept there as
    # evidence (up to ``evidence_limit``); at that step "完成" moves on
    evidence: str | None = None
    evidence_limit: int = 9
    # before the summary: the name of a step whose answer no longer fits the others (after
    # an edit), to ask again, or None
    review: Callable[[dict[str, Any]], str | None] | None = None
    # a text of at least ``addendum_min`` characters sent at the evidence step is added to
    # this step's (text) answer: the second half of a description sent after the first
    addendum: str | None = None
    addendum_min: int = 10
    # a text that must not be added (a phone number in what may be published): the
    # catalogue key to answer with (placeholders: label, prompt), or None to add it
    addendum_refusal: Callable[[str], str | None] | None = None
    _index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"flow {self.name}: step names must be unique and present")
        if self.evidence is not None and self.evidence not in names:
            raise ValueError(f"flow {self.name}: no evidence step {self.evidence!r}")
        if self.addendum is not None and (self.addendum not in names or self.evidence is None):
            raise ValueError(f"flow {self.name}: no addendum step {self.addendum!r}")
        self._index.update({n: i for i, n in enumerate(names)})

    def step(self, name: str) -> Step:
        return self.steps[self._index[name]]

    def after(self, step: Step, data: dict[str, Any]) -> str:
        if step.next is not None:
            chosen = step.next(data)
            return chosen if chosen is not None else _CONFIRM_STEP
        i = self._index[step.name] + 1
        return self.steps[i].name if i < len(self.steps) else _CONFIRM_STEP

    def path(self, answers: dict[str, Any]) -> list[Step]:
        """The steps this user is asked, in order, as the answers so far lead: the steps
        the summary lists and ``返回`` walks back through."""
        path: list[Step] = []
        name = self.steps[0].name
        while name != _CONFIRM_STEP and name in self._index and len(path) < len(self.steps):
            step = self.step(name)
            if step in path:
                break
            path.append(step)
            if not step.answered(answers):  # where it goes next depends on this answer
                break
            name = self.after(step, answers)
        return path

    def first_missing(self, answers: dict[str, Any]) -> Step | None:
        """The first step on the path without a usable answer: nothing is filed, and no
        summary shown, while there is one."""
        return next((s for s in self.path(answers) if not s.answered(answers)), None)


def small_number(text: str, digits: int = 3) -> int | None:
    """``text`` as a small number ("2", full-width "２"), else ``None`` — not "①", "²"
    or a thousand digits, which ``str.isdigit`` would let through to ``int``."""
    plain = unicodedata.normalize("NFKC", text).strip()
    if plain.isascii() and plain.isdigit() and len(plain) <= digits:
        return int(plain)
    return None


def choice(options: Sequence[str]) -> Callable[[Inbound, dict[str, Any]], str]:
    """A parser for a numbered list: accepts "2" or the option's words ("环境")."""

    def parse(inbound: Inbound, data: dict[str, Any]) -> str:
        text = inbound.text
        number = small_number(text)
        if number is not None and 1 <= number <= len(options):
            return options[number - 1]
        for option in options:
            if text == option:
                return option
        matches = [option for option in options if text and text in option]
        if len(matches) == 1:  # "环境" for "生态环境"
            return matches[0]
        raise Reprompt("flow_choice_retry", first=options[0])

    return parse


def numbered(options: Sequence[str]) -> str:
    return "\n".join(f"{i}. {option}" for i, option in enumerate(options, 1))


@dataclass(frozen=True, slots=True)
class Active:
    """What :meth:`Engine.active` found: the flow the user is in (``None``: none, or one
    that cannot go on), and ``dropped``, the note to give once when the user's form is
    gone. The caller drops such a state (``conversation.clear()``) and gives the note."""

    flow: Flow | None
    dropped: Outbound | None = None


_IDLE = Active(None)


class Engine:
    def __init__(self, flows: Sequence[Flow], texts: Texts, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._flows = {f.name: f for f in flows}
        self._texts = texts
        self._clock = clock

    def active(self, conversation: Conversation) -> Active:
        """The flow the user is in; a query, it changes nothing. Asked once per message,
        before any other entry point, which take the conversation as the caller left it.

        A state this engine cannot carry on (a flow or step that no longer exists, data of
        another shape or an answer of the wrong type: a state saved by an older version),
        or one a restart marked lost (the in-process store does), comes back as no flow
        with the note to give, so the user starts afresh rather than being stuck; the
        caller drops the state."""
        if conversation.flow is None:
            reason = conversation.data.get("dropped")
            if not reason:
                return _IDLE
            key = "flow_lost_restart" if reason == LOST_ON_RESTART else "flow_dropped"
            return Active(None, self._say(key))
        flow = self._flows.get(conversation.flow)
        if flow is None or not self._sane(flow, conversation):
            return Active(None, self._say("flow_dropped"))
        return Active(flow)

    def _current(self, conversation: Conversation) -> Flow | None:
        """The flow the conversation names; :meth:`active` has vouched for it."""
        return None if conversation.flow is None else self._flows.get(conversation.flow)

    @staticmethod
    def _sane(flow: Flow, conversation: Conversation) -> bool:
        data = conversation.data
        step = conversation.step
        answers = data.get("answers")
        if not (isinstance(answers, dict)
                and (step in (_CONFIRM_STEP, _EXPIRED_STEP) or step in flow._index)
                and data.get("paused_at") in (None, _CONFIRM_STEP, *flow._index)
                and isinstance(answers.get(CONTEXT, {}), dict)
                and isinstance(data.get("tries", 0), int)):
            return False
        return all(s.answered(answers) for s in flow.steps if s.name in answers)

    # -- entry points ---------------------------------------------------------------------

    def start(self, name: str, conversation: Conversation,
              context: dict[str, Any] | None = None) -> list[Outbound]:
        """Begin flow ``name`` (interrupting another one with a notice).

        ``context`` (JSON values) is what the flow's parsers and finish find in
        ``answers[CONTEXT]`` (the phone the citizen used last time), with a new
        ``DRAFT`` id: what makes a repeated confirm of this draft file nothing twice.
        """
        notice: list[Outbound] = []
        current = self._current(conversation)
        if current is not None and current.name != name:
            notice = [self._say("flow_interrupted", title=current.title)]
        flow = self._flows[name]
        conversation.clear()
        conversation.flow = flow.name
        answers: dict[str, Any] = {CONTEXT: {**(context or {}), DRAFT: uuid.uuid4().hex}}
        conversation.data = {"answers": answers, "tries": 0}
        return [*notice, self._go(flow, conversation, flow.steps[0].name)]

    def reminder(self, conversation: Conversation) -> Outbound | None:
        """The note for a user who asked something else in the middle of a flow."""
        flow = self._current(conversation)
        if flow is None:
            return None
        conversation.data.pop("held", None)  # 继续 now only resumes: it was not next
        return self._say("flow_still_open", title=flow.title)

    def current_prompt(self, conversation: Conversation) -> list[Outbound]:
        """Ask the current question again (the user clicked the flow's own menu entry)."""
        flow = self._current(conversation)
        assert flow is not None, "current_prompt() is for users in a flow"
        if conversation.step == _EXPIRED_STEP:
            return [self._say("flow_resume_or_discard")]
        return [self._say("flow_already_open", title=flow.title),
                self._go(flow, conversation, conversation.step or flow.steps[0].name)]

    async def handle(self, inbound: Inbound, conversation: Conversation) -> list[Outbound]:
        """Answer a message of a user who is in a flow."""
        flow = self._current(conversation)
        assert flow is not None, "handle() is for users in a flow"
        now = self._clock()
        text = inbound.text
        if text in CANCEL:
            conversation.clear()
            return [self._say("flow_cancelled")]
        if text in RESTART:
            return self.start(flow.name, conversation,
                              conversation.data["answers"].get(CONTEXT))
        if conversation.step == _EXPIRED_STEP:
            return await self._on_expired_answer(flow, inbound, conversation)
        if conversation.expires_at is not None and now > conversation.expires_at:
            return self._expire(flow, inbound, conversation, now)
        if inbound.kind == "image" and flow.evidence is not None:
            return self._keep_photo(flow, inbound, conversation)
        if conversation.step == _CONFIRM_STEP:
            return await self._on_confirm(flow, inbound, conversation)
        step = flow.step(conversation.step or flow.steps[0].name)
        if text in BACK:
            return self._back(flow, conversation)
        if text.lower() in HELP:
            return [self._say("flow_step_help", prompt=self._prompt(step, conversation))]
        if text in RESUME:
            return [self._go(flow, conversation, step.name)]
        if step.name == flow.evidence:
            return self._on_evidence_input(flow, step, inbound, conversation)
        if inbound.kind not in step.accepts:
            conversation.expires_at = now + flow.ttl
            return [self._say("flow_need_text", prompt=self._prompt(step, conversation))]
        try:
            value = _value(step, inbound, conversation.data["answers"])
        except ValueError as exc:
            conversation.expires_at = now + flow.ttl
            counts = not isinstance(exc, Reprompt) or exc.counts
            if counts and self._count_try(conversation) >= step.retries:
                return [self._say("flow_too_many_tries",
                                  prompt=self._prompt(step, conversation))]
            return [Outbound.of_text(self._retry_text(step, conversation, exc))]
        return self._answer(flow, step, conversation, value)

    # -- steps ----------------------------------------------------------------------------

    def _answer(self, flow: Flow, step: Step, conversation: Conversation,
                value: Any) -> list[Outbound]:
        answers: dict[str, Any] = conversation.data["answers"]
        answers[step.name] = value
        editing = conversation.data.pop("editing", False)
        following = _CONFIRM_STEP if editing else flow.after(step, answers)
        return [self._go(flow, conversation, following)]

    def _go(self, flow: Flow, conversation: Conversation, name: str) -> Outbound:
        leaving = conversation.step
        if leaving in flow._index and leaving != name:
            for key in flow.step(leaving).scratch:
                conversation.data["answers"].pop(key, None)
        conversation.step = name
        conversation.data["tries"] = 0
        conversation.expires_at = self._clock() + flow.ttl
        if name == _CONFIRM_STEP:
            answers: dict[str, Any] = conversation.data["answers"]
            missing = flow.first_missing(answers)
            if missing is not None:  # never a summary, or a ticket, with a gap in it
                conversation.step = missing.name
                conversation.data["editing"] = True  # answered, it comes back here
                return Outbound.of_text(self._prompt(missing, conversation))
            again = flow.review(answers) if flow.review is not None else None
            if again is None:
                return self._say("flow_confirm", summary=self._summary(flow, conversation))
            step = flow.step(again)
            answers.pop(again, None)
            conversation.step = again
            conversation.data["editing"] = True
            return self._say("flow_review", label=step.label,
                             prompt=self._prompt(step, conversation))
        return Outbound.of_text(self._prompt(flow.step(name), conversation))

    def _back(self, flow: Flow, conversation: Conversation) -> list[Outbound]:
        """One step back along the questions asked; answers are kept until answered
        again. From an edit ("修改 3") it goes back to the summary, changing nothing."""
        answers: dict[str, Any] = conversation.data["answers"]
        here = conversation.step or flow.steps[0].name
        editing = conversation.data.pop("editing", False)
        if editing and here != _CONFIRM_STEP and flow.step(here).answered(answers):
            return [self._go(flow, conversation, _CONFIRM_STEP)]
        path = [s.name for s in flow.path(answers)]
        if here == _CONFIRM_STEP:
            return [self._go(flow, conversation, path[-1])]
        order = path if here in path else [s.name for s in flow.steps]
        index = order.index(here)
        if index == 0:
            return [self._say("flow_back_at_start"),
                    Outbound.of_text(self._prompt(flow.steps[0], conversation))]
        return [self._go(flow, conversation, order[index - 1])]

    def _count_try(self, conversation: Conversation) -> int:
        tries = int(conversation.data.get("tries", 0)) + 1
        conversation.data["tries"] = tries
        return tries

    def _store_photo(self, flow: Flow, inbound: Inbound,
                     conversation: Conversation) -> int | str:
        """Keep an image as evidence: the count kept, or why not ("missing", "full")."""
        assert flow.evidence is not None
        answers: dict[str, Any] = conversation.data["answers"]
        media_id, url = inbound.payload.get("media_id"), inbound.payload.get("url")
        if not isinstance(media_id, str) or not 0 < len(media_id) <= MEDIA_ID_LIMIT:
            return "missing"  # nothing staff could ever fetch
        photos = answers.get(flow.evidence)
        if not isinstance(photos, list):
            photos = answers[flow.evidence] = []
        if len(photos) >= flow.evidence_limit:
            return "full"
        photos.append({"media_id": media_id, "url": url if isinstance(url, str) else ""})
        return len(photos)

    def _keep_photo(self, flow: Flow, inbound: Inbound,
                    conversation: Conversation) -> list[Outbound]:
        """An image anywhere in the flow: evidence, kept until the limit."""
        assert flow.evidence is not None
        conversation.expires_at = self._clock() + flow.ttl
        at_evidence = conversation.step == flow.evidence
        evidence = flow.step(flow.evidence)
        kept = self._store_photo(flow, inbound, conversation)
        if kept == "missing":
            return [self._say("flow_photo_missing")]
        photos = conversation.data["answers"][flow.evidence]
        if kept == "full":
            reply = self._say("flow_photo_limit", limit=str(flow.evidence_limit))
            if at_evidence:
                return [reply, *self._answer(flow, evidence, conversation, photos)]
            return [reply]
        count = str(kept)
        if at_evidence:
            if len(photos) >= flow.evidence_limit:  # the last one: move on by itself
                return self._answer(flow, evidence, conversation, photos)
            return [self._say("flow_photo_more", count=count,
                              left=str(flow.evidence_limit - len(photos)))]
        if conversation.step == _CONFIRM_STEP:
            return [self._say("flow_photo_kept_confirm", count=count,
                              summary=self._summary(flow, conversation))]
        step = flow.step(conversation.step or flow.steps[0].name)
        return [self._say("flow_photo_kept", count=count,
                          prompt=self._prompt(step, conversation))]

    def _on_evidence_input(self, flow: Flow, step: Step, inbound: Inbound,
                           conversation: Conversation) -> list[Outbound]:
        """At the photos step: 完成/跳过 move on, 清空 starts over; a longer text is the
        answer to the next question if it is one (a phone number typed before 完成), else
        the rest of the description; anything else is asked again (with help after the
        retry limit)."""
        answers: dict[str, Any] = conversation.data["answers"]
        photos = answers.get(step.name)
        photos = photos if isinstance(photos, list) else []
        text = inbound.text
        if text in CLEAR:
            answers[step.name] = []
            return [self._say("flow_photos_cleared"), self._go(flow, conversation, step.name)]
        if text in DONE or text in SKIP:
            return self._answer(flow, step, conversation, photos)
        conversation.expires_at = self._clock() + flow.ttl
        prompt = self._prompt(step, conversation)
        if (inbound.kind == "text" and flow.addendum is not None
                and not conversation.data.get("editing")  # photos changed from the summary
                and len(text) >= flow.addendum_min and not PHOTO_TALK.search(text)):
            return self._text_at_evidence(flow, step, inbound, conversation, photos, prompt)
        if self._count_try(conversation) >= step.retries:
            return [self._say("flow_too_many_tries", prompt=prompt)]
        if inbound.kind != "text":
            return [self._say("flow_photo_only", prompt=prompt)]
        return [self._say("flow_photo_waiting", count=str(len(photos)), prompt=prompt)]

    def _text_at_evidence(self, flow: Flow, step: Step, inbound: Inbound,
                          conversation: Conversation, photos: list[Any],
                          prompt: str) -> list[Outbound]:
        assert flow.addendum is not None
        answers: dict[str, Any] = conversation.data["answers"]
        following = flow.after(step, answers)
        if following != _CONFIRM_STEP:
            upcoming = flow.step(following)
            if self._answers(upcoming, inbound, conversation):  # the next answer, early
                answers[step.name] = photos
                conversation.step = following
                value = _value(upcoming, inbound, answers)
                return [self._say("flow_photos_done_early", label=upcoming.label),
                        *self._answer(flow, upcoming, conversation, value)]
        target = flow.step(flow.addendum)
        before = answers.get(target.name)
        if isinstance(before, str) and inbound.text in before:  # sent twice
            return [self._say("flow_addendum_already", label=target.label, prompt=prompt)]
        refusal = flow.addendum_refusal(inbound.text) if flow.addendum_refusal else None
        if refusal is not None:
            return [self._say(refusal, label=target.label, prompt=prompt)]
        combined = f"{before}\n{inbound.text}" if isinstance(before, str) else inbound.text
        if not target.answered({target.name: combined}):
            return [self._say("flow_addendum_refused", label=target.label, prompt=prompt)]
        answers[target.name] = combined
        return [self._say("flow_addendum_added", label=target.label,
                          count=str(len(combined)), prompt=prompt)]

    async def _on_confirm(self, flow: Flow, inbound: Inbound,
                          conversation: Conversation) -> list[Outbound]:
        text = inbound.text
        if text in BACK:
            return self._back(flow, conversation)
        answers: dict[str, Any] = conversation.data["answers"]
        if text in CONFIRM:
            if flow.first_missing(answers) is not None or (
                    flow.review is not None and flow.review(answers) is not None):
                return [self._go(flow, conversation, _CONFIRM_STEP)]  # asks what is missing
            conversation.clear()
            return await flow.finish(inbound, dict(answers))
        if text.lower() in HELP:
            return [self._say("flow_confirm_help"), self._go(flow, conversation, _CONFIRM_STEP)]
        if text in RESUME:
            return [self._go(flow, conversation, _CONFIRM_STEP)]
        asked = self._asked(flow, conversation)
        if text.startswith("修改"):
            number = small_number(text.removeprefix("修改"), digits=2)
            if number is not None and 1 <= number <= len(asked):
                conversation.data["editing"] = True
                return [self._go(flow, conversation, asked[number - 1].name)]
            return [self._say("flow_edit_bad", count=str(len(asked)))]
        return [self._say("flow_confirm_again")]

    def _expire(self, flow: Flow, inbound: Inbound, conversation: Conversation,
                now: float) -> list[Outbound]:
        """The first message after the timeout: offer to resume or discard. A photo is kept
        as evidence; a text that answers the paused question is held and, when the user
        says 继续, taken as that answer (the offer says so); 继续 or 放弃 act at once."""
        text = inbound.text
        if text in DISCARD:
            conversation.clear()
            return [self._say("flow_discarded")]
        if text in RESUME:
            return [self._go(flow, conversation, conversation.step or flow.steps[0].name)]
        conversation.data["paused_at"] = conversation.step
        conversation.step = _EXPIRED_STEP
        conversation.expires_at = now + flow.ttl
        return self._offer_resume(flow, inbound, conversation, "flow_expired")

    def _offer_resume(self, flow: Flow, inbound: Inbound, conversation: Conversation,
                      key: str) -> list[Outbound]:
        """The offer to resume or discard. What came with it is kept where it can be: a
        photo as evidence; a text or location that answers the paused question is held
        for 继续 (the offer quotes it, and a later answer replaces it); anything else is
        said to be not kept, so the user knows to send it again."""
        step = self._paused_step(flow, conversation)
        notes: list[Outbound] = []
        if inbound.kind == "image" and flow.evidence is not None:
            if not isinstance(self._store_photo(flow, inbound, conversation), int):
                notes.append(self._say("flow_not_kept"))
        elif step is not None and self._answers(step, inbound, conversation):
            shown = (excerpt(inbound.text, 20) if inbound.kind == "text" else
                     str(inbound.payload.get("label") or self._texts("flow_held_location")))
            conversation.data["held"] = {"kind": inbound.kind, "shown": shown,
                                         "payload": _plain(inbound.payload)}
        elif not (inbound.kind == "text" and (not inbound.text or inbound.text in _NOT_HELD)):
            notes.append(self._say("flow_not_kept"))  # a command needs no such note
        minutes = str(int(flow.ttl // 60))
        held = self._held(conversation)
        if held is not None and step is not None:
            offer = self._say(f"{key}_held", title=flow.title, minutes=minutes,
                              held=str(held["shown"]), label=step.label)
        else:
            offer = self._say(key, title=flow.title, minutes=minutes)
        return [offer, *notes]

    @staticmethod
    def _held(conversation: Conversation) -> dict[str, Any] | None:
        """The answer held over the timeout, if any (a plain string: an older version's)."""
        held = conversation.data.get("held")
        if isinstance(held, str) and held:
            held = {"kind": "text", "payload": {"content": held}, "shown": excerpt(held, 20)}
            conversation.data["held"] = held
        if (isinstance(held, dict) and isinstance(held.get("kind"), str)
                and isinstance(held.get("payload"), dict)):
            held.setdefault("shown", "")
            return held
        return None

    @staticmethod
    def _paused_step(flow: Flow, conversation: Conversation) -> Step | None:
        paused = conversation.data.get("paused_at")
        if paused in flow._index and paused != flow.evidence:
            return flow.step(paused)
        return None  # the summary or the photos: 继续 shows them again

    @staticmethod
    def _answers(step: Step, inbound: Inbound, conversation: Conversation) -> bool:
        """Would ``inbound`` answer ``step``? (Tried on a copy: parsers may note things.)"""
        if inbound.kind not in step.accepts:
            return False
        if inbound.kind == "text" and (not inbound.text or inbound.text in _NOT_HELD):
            return False
        try:
            _value(step, inbound, dict(conversation.data["answers"]))
        except ValueError:
            return False
        return True

    async def _on_expired_answer(self, flow: Flow, inbound: Inbound,
                                 conversation: Conversation) -> list[Outbound]:
        text = inbound.text
        if text in RESUME:
            step = self._paused_step(flow, conversation)
            held = self._held(conversation)
            conversation.data.pop("held", None)
            paused = conversation.data.pop("paused_at", None) or flow.steps[0].name
            if step is None or held is None or held["kind"] not in step.accepts:
                return [self._go(flow, conversation, paused)]
            conversation.step = step.name
            message = replace(inbound, kind=held["kind"], payload=held["payload"])
            try:  # what the user sent when they came back answers the question now
                value = _value(step, message, conversation.data["answers"])
            except ValueError:  # the catalogue changed meanwhile: just ask
                return [self._go(flow, conversation, step.name)]
            return self._answer(flow, step, conversation, value)
        if text in DISCARD:
            conversation.clear()
            return [self._say("flow_discarded")]
        return self._offer_resume(flow, inbound, conversation, "flow_resume_or_discard")

    # -- texts ----------------------------------------------------------------------------

    @staticmethod
    def _asked(flow: Flow, conversation: Conversation) -> list[Step]:
        return flow.path(conversation.data["answers"])

    def _summary(self, flow: Flow, conversation: Conversation) -> str:
        answers: dict[str, Any] = conversation.data["answers"]
        lines = []
        for number, step in enumerate(self._asked(flow, conversation), 1):
            value = answers.get(step.name)
            shown = self._texts(step.none_text) if value is None else step.show(value)
            lines.append(f"{number}. {step.label}：{shown}")
        return "\n".join(lines)

    def _prompt(self, step: Step, conversation: Conversation) -> str:
        values = step.values(conversation.data["answers"]) if step.values else {}
        return self._texts(step.prompt, **values)

    def _retry_text(self, step: Step, conversation: Conversation, exc: ValueError) -> str:
        prompt = self._prompt(step, conversation)
        if isinstance(exc, Reprompt):
            return f"{self._texts(exc.key, **exc.values)}\n\n{prompt}"
        return f"{self._texts('flow_try_again')}\n\n{prompt}"

    def _say(self, key: str, **values: str) -> Outbound:
        return Outbound.of_text(self._texts(key, **values))


def _value(step: Step, inbound: Inbound, answers: dict[str, Any]) -> Any:
    """What ``inbound`` answers to ``step`` (``None``: 跳过 at an optional step), or the
    parser's ``ValueError``."""
    if inbound.kind == "text" and step.optional and inbound.text in SKIP:
        return None
    return step.parse(inbound, answers)


def _plain(payload: dict[str, Any]) -> dict[str, Any]:
    """The JSON-safe part of a message's payload, to keep in the stored state."""
    return {k: v for k, v in payload.items()
            if v is None or isinstance(v, (str, int, float, bool))}
