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

What a flow does beyond questions and answers it does through :class:`Hook`s, which get a
:class:`Turn` (the message, where the user is, and the engine's moves): a flow's hooks see
every message in it (photos sent at any step), a step's ``otherwise`` hooks see what its
parser refused (more of an earlier answer, the next answer typed early). Ready-made ones
are in :mod:`flows.steps`.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from domain.messages import Inbound, Outbound, excerpt
from domain.texts import Wording as Texts
from domain.vocabulary import choice_number, command_form, words
from flows.context import LOST_ON_RESTART, Conversation

# the words of each command (domain/vocabulary.toml), compared with command_form(text)
CANCEL = words("commands", "cancel")
BACK = words("commands", "back")
HELP = words("commands", "help")
RESTART = words("commands", "restart")
SKIP = words("commands", "skip")
CONFIRM = words("commands", "confirm")
RESUME = words("commands", "resume")
DISCARD = words("commands", "discard")
DONE = words("commands", "done")
CLEAR = words("commands", "clear")
GREETING = words("commands", "greeting")
THANKS = words("commands", "thanks")
# not taken as an answer held over a timeout
_NOT_HELD = BACK | CONFIRM | DONE | CLEAR | HELP
CONTEXT = "_ctx"  # answers[CONTEXT]: what the flow was started with (kept across restart)
DRAFT = "draft"  # answers[CONTEXT][DRAFT]: a new id each time a flow starts or restarts
# answers[CONTEXT][GIVEN]: the steps answered by what the user said before the flow began
# ("我要投诉" is the kind; a complaint typed out is the description): not asked
GIVEN = "given"

_CONFIRM_STEP = "__confirm__"
_EXPIRED_STEP = "__expired__"


class Reprompt(ValueError):
    """A parser's refusal whose answer is a catalogue text (then the step's question).

    ``counts`` False: the message was useful but not yet an answer (a location that names
    no region), or the refusal is a rule and not the user's mistake (匿名 for a kind that
    needs a phone), so it does not count towards the retry limit. ``fresh``: the user
    started the step over (清空), so the tries so far are forgiven too. ``alone``: the
    text is a question of its own (keep the phone number in the description?), not
    followed by the step's.
    """

    def __init__(self, key: str, *, counts: bool = True, fresh: bool = False,
                 alone: bool = False, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values
        self.counts = counts and not fresh
        self.fresh = fresh
        self.alone = alone  # the text asks a question of its own: the step's is not added


Parser = Callable[[Inbound, dict[str, Any]], Any]


class Hook:
    """Answers some messages of a flow in place of the engine's own handling.

    A flow's ``hooks`` are asked about every message in the flow once the global commands
    and the timeout have been dealt with, at any step and at the summary; a step's
    ``otherwise`` hooks are asked about a message that step's parser refused (a refusal
    that counts as a try), before the refusal is answered. The first hook that answers
    (anything but ``None``) wins.
    """

    def on_message(self, turn: Turn) -> list[Outbound] | None:
        """The answer to ``turn``'s message, or ``None`` to leave it to the engine."""
        return None

    def on_paused(self, turn: Turn) -> bool | None:
        """A message sent while the flow waits for 继续 or 放弃 (it timed out): ``True``
        if the hook kept it, ``False`` if it was the hook's to keep but could not be kept
        (the user is told), ``None`` if it is not the hook's."""
        return None

    def check(self, flow: Flow) -> None:
        """Raise ``ValueError`` if ``flow`` lacks what this hook needs (a step it names)."""


@dataclass(frozen=True, slots=True)
class Again:
    """What :attr:`Flow.review` found: ``step`` must be answered again, and ``why`` (a
    catalogue key, its placeholders ``values``) tells the user the reason."""

    step: str
    why: str
    values: dict[str, str] = field(default_factory=dict)


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
    # asked, in order, about a message the parser refused (see Hook)
    otherwise: tuple[Hook, ...] = ()
    # may an answer sent after the timeout be held for 继续? (not where 继续 shows what
    # was collected so far: a step that gathers photos)
    holds: bool = True
    # catalogue key of the question asked again after a refused answer (placeholders as
    # ``prompt``'s): the question without the list just shown above it; default ``prompt``
    again: str | None = None

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
    # before the summary: a step whose answer no longer fits the others (after an edit),
    # to ask again with the reason why, or None
    review: Callable[[dict[str, Any]], Again | None] | None = None
    # asked about every message in the flow (see Hook), in order
    hooks: tuple[Hook, ...] = ()
    _index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"flow {self.name}: step names must be unique and present")
        self._index.update({n: i for i, n in enumerate(names)})
        for hook in (*self.hooks, *(h for s in self.steps for h in s.otherwise)):
            hook.check(self)

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


def choice(options: Sequence[str]) -> Callable[[Inbound, dict[str, Any]], str]:
    """A parser for a numbered list: accepts "2" or the option's words ("环境")."""

    def parse(inbound: Inbound, data: dict[str, Any]) -> str:
        text = inbound.text
        number = choice_number(text)
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
              context: dict[str, Any] | None = None, *,
              given: dict[str, Any] | None = None,
              intro: Outbound | None = None) -> list[Outbound]:
        """Begin flow ``name`` (interrupting another one with a notice).

        ``context`` (JSON values) is what the flow's parsers and finish find in
        ``answers[CONTEXT]`` (the phone the citizen used last time), with a new
        ``DRAFT`` id: what makes a repeated confirm of this draft file nothing twice.
        ``given``: answers the user gave before the flow began (step name → value; one
        its step finds unusable is dropped and asked): those steps are not asked, and the
        summary shows them to check. ``intro`` goes before the first question.
        """
        notice: list[Outbound] = []
        current = self._current(conversation)
        if current is not None and current.name != name:
            notice = [self._say("flow_interrupted", title=current.title)]
        flow = self._flows[name]
        conversation.clear()
        conversation.flow = flow.name
        kept = {step: value for step, value in (given or {}).items()
                if step in flow._index and flow.step(step).answered({step: value})}
        answers: dict[str, Any] = {CONTEXT: {**(context or {}), DRAFT: uuid.uuid4().hex,
                                             GIVEN: sorted(kept)}, **kept}
        conversation.data = {"answers": answers, "tries": 0}
        first = flow.first_missing(answers)
        return [*notice, *([intro] if intro is not None else []),
                self._go(flow, conversation, first.name if first else _CONFIRM_STEP)]

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
        word = command_form(inbound.text)
        if word in CANCEL:
            conversation.clear()
            return [self._say("flow_cancelled")]
        if word in RESTART:
            return self.start(flow.name, conversation,
                              conversation.data["answers"].get(CONTEXT))
        if conversation.step == _EXPIRED_STEP:
            return await self._on_expired_answer(flow, inbound, conversation)
        if conversation.expires_at is not None and now > conversation.expires_at:
            return self._expire(flow, inbound, conversation, now)
        turn = Turn(self, flow, inbound, conversation)
        hooked = _first_answer(flow.hooks, turn)
        if hooked is not None:
            conversation.expires_at = now + flow.ttl
            return hooked
        if conversation.step == _CONFIRM_STEP:
            return await self._on_confirm(flow, inbound, conversation)
        step = flow.step(conversation.step or flow.steps[0].name)
        if word in BACK:
            return self._back(flow, conversation)
        if word in HELP:
            return [self._say("flow_step_help", prompt=self._prompt(step, conversation))]
        if word in RESUME:
            return [self._go(flow, conversation, step.name)]
        if inbound.kind not in step.accepts:
            conversation.expires_at = now + flow.ttl
            # a voice message here is one the platform could not transcribe (a transcribed
            # one arrives as text): said so, not "文字" alone
            key = "voice_unrecognised_in_form" if inbound.kind == "voice" else "flow_need_text"
            return [self._say(key, prompt=self._prompt(step, conversation, again=True))]
        try:
            value = _value(step, inbound, conversation.data["answers"])
        except ValueError as exc:
            conversation.expires_at = now + flow.ttl
            counts = not isinstance(exc, Reprompt) or exc.counts
            if isinstance(exc, Reprompt) and exc.fresh:
                conversation.data["tries"] = 0
            hooked = _first_answer(step.otherwise, turn) if counts else None
            if hooked is not None:
                return hooked
            alone = isinstance(exc, Reprompt) and exc.alone  # its own question stands
            if inbound.kind == "text" and not alone and (word in GREETING or word in THANKS):
                # "你好", "谢谢" in the middle of a form: no mistake, just the question again
                return [self._say("flow_greeting", title=flow.title,
                                  prompt=self._prompt(step, conversation))]
            if counts and self._count_try(conversation) >= step.retries:
                # what is wrong with it, then the way out instead of the question alone
                return [Outbound.of_text(self._refusal(exc)), self._say(
                    "flow_too_many_tries", prompt=self._prompt(step, conversation, again=True))]
            return [Outbound.of_text(self._retry_text(step, conversation, exc))]
        return self._answer(flow, step, conversation, value)

    # -- steps ----------------------------------------------------------------------------

    def _answer(self, flow: Flow, step: Step, conversation: Conversation,
                value: Any) -> list[Outbound]:
        answers: dict[str, Any] = conversation.data["answers"]
        answers[step.name] = value
        editing = conversation.data.pop("editing", False)
        following = _CONFIRM_STEP if editing else flow.after(step, answers)
        context = answers.get(CONTEXT)
        given = context.get(GIVEN) if isinstance(context, dict) else None
        seen = {step.name}
        while (isinstance(given, list) and following in given and following not in seen
               and flow.step(following).answered(answers)):  # said before the flow began
            seen.add(following)
            following = flow.after(flow.step(following), answers)
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
            step = flow.step(again.step)
            answers.pop(again.step, None)
            conversation.step = again.step
            conversation.data["editing"] = True
            return self._say("flow_review", label=step.label,
                             why=self._texts(again.why, **again.values),
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

    async def _on_confirm(self, flow: Flow, inbound: Inbound,
                          conversation: Conversation) -> list[Outbound]:
        text, word = inbound.text, command_form(inbound.text)
        if word in BACK:
            return self._back(flow, conversation)
        answers: dict[str, Any] = conversation.data["answers"]
        if word in CONFIRM:
            if flow.first_missing(answers) is not None or (
                    flow.review is not None and flow.review(answers) is not None):
                return [self._go(flow, conversation, _CONFIRM_STEP)]  # asks what is missing
            conversation.clear()
            return await flow.finish(inbound, dict(answers))
        if word in HELP:
            return [self._say("flow_confirm_help"), self._go(flow, conversation, _CONFIRM_STEP)]
        if word in RESUME:
            return [self._go(flow, conversation, _CONFIRM_STEP)]
        asked = self._asked(flow, conversation)
        if text.startswith("修改"):
            number = choice_number(text.removeprefix("修改"))  # 修改2。修改第二项
            if number is not None and 1 <= number <= len(asked):
                conversation.data["editing"] = True
                return [self._go(flow, conversation, asked[number - 1].name)]
            return [self._say("flow_edit_bad", count=str(len(asked)))]
        return [self._say("flow_confirm_again")]

    def _expire(self, flow: Flow, inbound: Inbound, conversation: Conversation,
                now: float) -> list[Outbound]:
        """The first message after the timeout: offer to resume or discard. What a hook
        keeps (a photo) is kept; a text that answers the paused question is held and, when the user
        says 继续, taken as that answer (the offer says so); 继续 or 放弃 act at once."""
        word = command_form(inbound.text)
        if word in DISCARD:
            conversation.clear()
            return [self._say("flow_discarded")]
        if word in RESUME:
            return [self._go(flow, conversation, conversation.step or flow.steps[0].name)]
        conversation.data["paused_at"] = conversation.step
        conversation.step = _EXPIRED_STEP
        conversation.expires_at = now + flow.ttl
        return self._offer_resume(flow, inbound, conversation, "flow_expired")

    def _offer_resume(self, flow: Flow, inbound: Inbound, conversation: Conversation,
                      key: str) -> list[Outbound]:
        """The offer to resume or discard. What came with it is kept where it can be: by a
        flow's hook (a photo); a text or location that answers the paused question is held
        for 继续 (the offer quotes it, and a later answer replaces it); anything else is
        said to be not kept, so the user knows to send it again."""
        step = self._paused_step(flow, conversation)
        notes: list[Outbound] = []
        turn = Turn(self, flow, inbound, conversation)
        kept = next((k for h in flow.hooks if (k := h.on_paused(turn)) is not None), None)
        if kept is not None:
            if not kept:
                notes.append(self._say("flow_not_kept"))
        elif step is not None and self._answers(step, inbound, conversation):
            shown = (excerpt(inbound.text, 20) if inbound.kind == "text" else
                     str(inbound.payload.get("label") or self._texts("flow_held_location")))
            conversation.data["held"] = {"kind": inbound.kind, "shown": shown,
                                         "payload": _plain(inbound.payload)}
        elif not (inbound.kind == "text" and _command(inbound.text)):
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
        if paused in flow._index and flow.step(paused).holds:
            return flow.step(paused)
        return None  # the summary or a collecting step: 继续 shows them again

    @staticmethod
    def _answers(step: Step, inbound: Inbound, conversation: Conversation) -> bool:
        """Would ``inbound`` answer ``step``? (Tried on a copy: parsers may note things.)"""
        if inbound.kind not in step.accepts:
            return False
        if inbound.kind == "text" and _command(inbound.text):
            return False
        try:
            _value(step, inbound, dict(conversation.data["answers"]))
        except ValueError:
            return False
        return True

    async def _on_expired_answer(self, flow: Flow, inbound: Inbound,
                                 conversation: Conversation) -> list[Outbound]:
        word = command_form(inbound.text)
        if word in RESUME:
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
        if word in DISCARD:
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

    def _prompt(self, step: Step, conversation: Conversation, *, again: bool = False) -> str:
        values = step.values(conversation.data["answers"]) if step.values else {}
        return self._texts(step.again if again and step.again else step.prompt, **values)

    def _retry_text(self, step: Step, conversation: Conversation, exc: ValueError) -> str:
        """The reason an answer was refused, and the question again — in its short form,
        the list it offered having just been shown."""
        if isinstance(exc, Reprompt) and exc.alone:
            return self._refusal(exc)
        return f"{self._refusal(exc)}\n{self._prompt(step, conversation, again=True)}"

    def _refusal(self, exc: ValueError) -> str:
        """What is wrong with a refused answer (a Python message never reaches the user)."""
        if isinstance(exc, Reprompt):
            return self._texts(exc.key, **exc.values)
        return self._texts("flow_try_again")

    def _say(self, key: str, **values: str) -> Outbound:
        return Outbound.of_text(self._texts(key, **values))


class Turn:
    """One message in a flow as a :class:`Hook` sees it: the message, where the user is,
    the answers so far, and the moves the engine offers. A hook changes the conversation
    only through these (and the ``answers`` dict)."""

    __slots__ = ("_conversation", "_engine", "flow", "inbound")

    def __init__(self, engine: Engine, flow: Flow, inbound: Inbound,
                 conversation: Conversation) -> None:
        self._engine = engine
        self.flow = flow
        self.inbound = inbound
        self._conversation = conversation

    @property
    def answers(self) -> dict[str, Any]:
        """The answers so far (mutable: a hook may keep what it collects here)."""
        answers: dict[str, Any] = self._conversation.data["answers"]
        return answers

    @property
    def step(self) -> Step | None:
        """The question the user is at; ``None`` at the summary."""
        name = self._conversation.step or self.flow.steps[0].name
        return self.flow.step(name) if name in self.flow._index else None

    @property
    def editing(self) -> bool:
        """Is the user changing one answer from the summary ("修改 3")?"""
        return bool(self._conversation.data.get("editing"))

    def say(self, key: str, **values: str) -> Outbound:
        return self._engine._say(key, **values)

    def prompt(self, step: Step | None = None) -> str:
        """The question of ``step`` (the current one by default) as the user sees it."""
        step = step or self.step
        assert step is not None, "no question at the summary"
        return self._engine._prompt(step, self._conversation)

    def summary(self) -> str:
        """The numbered answers, as the summary shows them."""
        return self._engine._summary(self.flow, self._conversation)

    def answer(self, step: str, value: Any) -> list[Outbound]:
        """Keep ``value`` as the answer to ``step`` and ask what comes next (the summary
        after an edit)."""
        return self._engine._answer(self.flow, self.flow.step(step), self._conversation,
                                    value)

    def answer_ahead(self, value: Any, note: str) -> list[Outbound] | None:
        """If the message answers the question after the current one (the user went on
        without saying so): keep ``value`` as the current step's answer, take the message
        as that next answer, and say so first with catalogue text ``note`` (placeholder:
        label, the next question's). ``None``, changing nothing, if it does not."""
        step = self.step
        assert step is not None, "no question at the summary"
        answers = self.answers
        following = self.flow.after(step, {**answers, step.name: value})
        if following == _CONFIRM_STEP:
            return None
        upcoming = self.flow.step(following)
        if not self._engine._answers(upcoming, self.inbound, self._conversation):
            return None
        answers[step.name] = value
        self._conversation.step = following
        taken = _value(upcoming, self.inbound, answers)
        return [self.say(note, label=upcoming.label),
                *self._engine._answer(self.flow, upcoming, self._conversation, taken)]


def _first_answer(hooks: Sequence[Hook], turn: Turn) -> list[Outbound] | None:
    for hook in hooks:
        answer = hook.on_message(turn)
        if answer is not None:
            return answer
    return None


def _value(step: Step, inbound: Inbound, answers: dict[str, Any]) -> Any:
    """What ``inbound`` answers to ``step`` (``None``: 跳过 at an optional step), or the
    parser's ``ValueError``."""
    if inbound.kind == "text" and step.optional and command_form(inbound.text) in SKIP:
        return None
    return step.parse(inbound, answers)


def _command(text: str) -> bool:
    """Is ``text`` empty or a command, never an answer held over a timeout?"""
    return not text or command_form(text) in _NOT_HELD


def _plain(payload: dict[str, Any]) -> dict[str, Any]:
    """The JSON-safe part of a message's payload, to keep in the stored state."""
    return {k: v for k, v in payload.items()
            if v is None or isinstance(v, (str, int, float, bool))}


def draft_key(inbound: Inbound, answers: dict[str, Any], prefix: str) -> str:
    """What a confirmed form is filed under: the draft id and a digest of what was
    confirmed, so a repeated confirm of the same answers files once, while answers edited
    (or a restart) after a confirm whose state write was lost are a new record, never
    silently the old one."""
    context = answers.get(CONTEXT)
    draft = context.get(DRAFT) if isinstance(context, dict) else None
    if not isinstance(draft, str) or not draft:  # a state from before drafts: this message
        draft = f"{inbound.account}:{inbound.user}:{inbound.message_id}"
    content = {k: v for k, v in answers.items() if k != CONTEXT}
    digest = hashlib.sha256(
        json.dumps([draft, content], sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    return f"{prefix}:{digest[:48]}"


def bounded_text(text: str, low: int, high: int, *, short: str, long: str) -> str:
    """``text`` when it has ``low`` to ``high`` characters; else :class:`Reprompt` with
    catalogue key ``short`` (placeholders ``count``, ``min``) or ``long`` (``count``,
    ``max``)."""
    if len(text) < low:
        raise Reprompt(short, count=str(len(text)), min=str(low))
    if len(text) > high:
        raise Reprompt(long, count=str(len(text)), max=str(high))
    return text
