"""Handlers composed: a dispatcher of routers, each with filters for the updates it takes.

aiogram's ``Dispatcher``/``Router`` are the model, without nesting or middlewares: the
:class:`Dispatcher` asks its routers in the order they were registered
(``handlers/registry.py``), a :class:`Router` asks its routes in the order they were
added, and the first route whose filters all pass answers; when none does, the
fallback answers. A new audience (bound lawyers, survey answers) is a new router
registered in one place, not a branch in an existing one.

A filter is any callable taking the :class:`Update` and answering ``bool`` (or an
awaitable of one, for a filter that must look something up); a route's filters are
asked in order and stop at the first ``False``, so a cheap one put first spares the rest
— and spares the user's conversation its decoding.

The filters that look only at what the message is — its kind, event, menu key and the
command its text names (:class:`KeyFilter`: :class:`Kind`, :class:`Message`,
:class:`Event`, :class:`MenuKey`, :class:`Command`, and :class:`Not` of one of them) —
are not asked per update: the dispatcher works out once per :attr:`Update.key` which
routes they let through, and asks each update only the other filters of those routes
(the ones that look at the user: the flow, a look-up). A key filter must therefore be
pure; it is asked before the other filters of its route.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeAlias

from domain.messages import Inbound, Outbound, join_texts
from flows.context import Conversation
from flows.engine import Active, Engine, Flow
from handlers.commands import Service, service_of, with_recognition
from handlers.context import StateContext

Filter = Callable[["Update"], bool | Awaitable[bool]]
Answer = Callable[["Update"], Awaitable[list[Outbound]]]
Key: TypeAlias = tuple[str, str, str, Service | None]
"""What key filters look at: kind, event, menu key (upper case; ``""`` but for a menu
event) and the service the text names (:attr:`Update.key`)."""

MENU_EVENTS = frozenset({"click", "scancode_waitmsg"})


class Update:
    """One message or event on its way through the dispatcher: what filters and routes
    look at.

    The user's conversation is decoded from the state the first time a filter or a route
    asks for it, and the engine is asked once which flow the user is in; a form that is
    gone (a state the engine cannot carry on, or one a restart lost) is dropped then, and
    its note goes before whatever answers. A conversation that was decoded is written
    back to the state at the end, unless a route set or cleared the state itself. An
    update nobody decodes (a delivery report) leaves the state untouched.
    """

    __slots__ = ("_active", "_command", "_conversation", "_engine", "_parsed", "event",
                 "inbound", "kind", "state")

    def __init__(self, inbound: Inbound, state: StateContext, engine: Engine) -> None:
        self.inbound = with_recognition(inbound)
        self.kind = self.inbound.kind  # read by most filters: kept at hand
        self.event = self.inbound.event  # "" for a message
        self.state = state
        self._engine = engine
        self._conversation: Conversation | None = None
        self._active: Active | None = None
        self._command: Service | None = None
        self._parsed = False  # _command worked out

    @property
    def text(self) -> str:
        return self.inbound.text

    @property
    def command(self) -> Service | None:
        """The service a text message names as a whole (:func:`service_of`)."""
        if not self._parsed:
            self._parsed = True
            self._command = service_of(self.text) if self.kind == "text" else None
        return self._command

    @property
    def key(self) -> Key:
        """What the message is, for the key filters (:data:`Key`)."""
        menu_key = (self.inbound.event_key.upper() if self.event in MENU_EVENTS else "")
        return (self.kind, self.event, menu_key, self.command)

    @property
    def conversation(self) -> Conversation:
        """The user's conversation, decoded from the state once; a form that is gone is
        already dropped from it."""
        if self._conversation is None:
            conversation = Conversation.from_json(self.state.get())
            self._active = self._engine.active(conversation)
            if self._active.dropped is not None:
                conversation.clear()
            self._conversation = conversation
        return self._conversation

    @property
    def flow(self) -> Flow | None:
        """The flow the user is in (``None``: none, or one that cannot go on)."""
        self.conversation  # noqa: B018 - decodes and asks the engine, once
        assert self._active is not None
        return self._active.flow

    @property
    def dropped(self) -> Outbound | None:
        """The note that the user's form is gone, if asking for the flow found so."""
        return None if self._active is None else self._active.dropped

    def reminder(self) -> Outbound | None:
        """For a user in a flow who asked for something else: the note that it stays open
        (and an answer held over its timeout is not taken on 继续 any more)."""
        if self.flow is None:
            return None
        return self._engine.reminder(self.conversation)

    def save(self) -> None:
        """Write a decoded conversation back into the state (see the class). A
        conversation in no flow with nothing kept is no state: it is cleared, and not
        written at all for a user who had none (most messages outside a form)."""
        if self._conversation is None or self.state.changed:
            return
        conversation = self._conversation
        if (conversation.flow is None and conversation.step is None
                and not conversation.data and conversation.expires_at is None
                and not conversation.marks):
            if self.state.get() is not None:
                self.state.clear()
        else:  # the flows change the decoded data in place: no comparison with the old
            self.state.set(conversation.to_json())


class Router:
    """Routes, asked in the order they were added; the first whose filters pass answers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._routes: list[tuple[tuple[Filter, ...], Answer]] = []

    def add(self, answer: Answer, *filters: Filter) -> None:
        """Answer the updates that pass every one of ``filters`` with ``answer``."""
        self._routes.append((filters, answer))

    @property
    def routes(self) -> list[tuple[tuple[Filter, ...], Answer]]:
        """(filters, answer) in the order they were added."""
        return self._routes

    def __repr__(self) -> str:
        return f"Router({self.name!r}, {len(self._routes)} routes)"


Route = tuple[tuple[Filter, ...], Answer]
_PLANS = 512  # keys whose routes are kept worked out (a few dozen occur; events are open)


class Dispatcher:
    """The edge's handler: routers in order, first match wins, else ``fallback``.

    The routers' routes are read when the dispatcher is made: a route added later is
    not asked."""

    def __init__(self, routers: Sequence[Router], *, fallback: Answer,
                 engine: Engine) -> None:
        self.routers = tuple(routers)
        self._routes = tuple(route for router in self.routers for route in router.routes)
        self._fallback = fallback
        self._plans: dict[Key, tuple[Route, ...]] = {}
        self.engine = engine

    async def __call__(self, inbound: Inbound, state: StateContext) -> list[Outbound]:
        update = Update(inbound, state, self.engine)
        answer = await (await self.resolve(update))(update)
        if update.dropped is not None:
            answer = [update.dropped, *answer]
        update.save()
        return join_texts(answer)

    async def resolve(self, update: Update) -> Answer:
        """The route that answers ``update``: the first router's first match."""
        key = update.key
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(key)
        for filters, answer in plan:
            for check in filters:  # inline, and a plain bool is not awaited: this
                verdict = check(update)  # runs for every message
                if isinstance(verdict, bool):
                    if not verdict:
                        break
                elif not await verdict:
                    break
            else:
                return answer
        return self._fallback

    def _plan(self, key: Key) -> tuple[Route, ...]:
        """The routes whose key filters pass ``key``, in order, each with its other
        filters; none after the first that has no other filter (it always answers)."""
        plan: list[Route] = []
        for filters, answer in self._routes:
            if all(check.passes(key) for check in filters if isinstance(check, KeyFilter)):
                rest = tuple(check for check in filters if not isinstance(check, KeyFilter))
                plan.append((rest, answer))
                if not rest:
                    break
        if len(self._plans) >= _PLANS:  # junk event names: start afresh, stay bounded
            self._plans.clear()
        self._plans[key] = worked_out = tuple(plan)
        return worked_out


# -- filters --------------------------------------------------------------------------------


class KeyFilter(abc.ABC):
    """A filter that looks only at :attr:`Update.key` (what the message is, not who sent
    it nor their state): the dispatcher asks it once per key, not per update."""

    __slots__ = ()

    @abc.abstractmethod
    def passes(self, key: Key) -> bool:
        """Whether a message with this key may reach the handler."""

    def __call__(self, update: Update) -> bool:
        return self.passes(update.key)


class _NotKey(KeyFilter):
    __slots__ = ("_filter",)

    def __init__(self, inner: KeyFilter) -> None:
        self._filter = inner

    def passes(self, key: Key) -> bool:
        return not self._filter.passes(key)


class _Not:
    __slots__ = ("_filter",)

    def __init__(self, inner: Filter) -> None:
        self._filter = inner

    def __call__(self, update: Update) -> bool | Awaitable[bool]:
        verdict = self._filter(update)
        if isinstance(verdict, bool):
            return not verdict
        return _negated(verdict)


def Not(inner: Filter) -> Filter:
    """The opposite of a filter: ``Not(InFlow())`` passes a user in no flow (a key
    filter's opposite is a key filter)."""
    return _NotKey(inner) if isinstance(inner, KeyFilter) else _Not(inner)


async def _negated(verdict: Awaitable[bool]) -> bool:
    return not await verdict


class Kind(KeyFilter):
    """Messages and events of these kinds (``text``, ``image``, ``location``, ``event`` …)."""

    __slots__ = ("_kinds",)

    def __init__(self, *kinds: str) -> None:
        self._kinds = frozenset(kinds)

    def passes(self, key: Key) -> bool:
        return key[0] in self._kinds


class Message(KeyFilter):
    """Anything the user sent that is not an event."""

    __slots__ = ()

    def passes(self, key: Key) -> bool:
        return key[0] != "event"


class Event(KeyFilter):
    """Events of these types (``subscribe``, ``templatesendjobfinish`` …; lower case)."""

    __slots__ = ("_events",)

    def __init__(self, *events: str) -> None:
        self._events = frozenset(events)

    def passes(self, key: Key) -> bool:
        return key[1] in self._events


class MenuKey(KeyFilter):
    """A click on one of these custom-menu keys (``config/menu.toml``; any case)."""

    __slots__ = ("_keys",)

    def __init__(self, *keys: str) -> None:
        self._keys = frozenset(key.upper() for key in keys)

    def passes(self, key: Key) -> bool:
        return key[2] != "" and key[2] in self._keys


class Command(KeyFilter):
    """A text that is, as a whole, the command for one of these services."""

    __slots__ = ("_services",)

    def __init__(self, *services: Service) -> None:
        self._services = frozenset(services)

    def passes(self, key: Key) -> bool:
        return key[3] in self._services


class InFlow:
    """A user in flow ``name`` (any flow when ``None``), one the engine can carry on."""

    __slots__ = ("_name",)

    def __init__(self, name: str | None = None) -> None:
        self._name = name

    def __call__(self, update: Update) -> bool:
        flow = update.flow
        return flow is not None and (self._name is None or flow.name == self._name)
