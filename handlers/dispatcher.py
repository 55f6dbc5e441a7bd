"""Handlers composed: a dispatcher of routers, each with filters for the updates it takes.

aiogram's ``Dispatcher``/``Router`` are the model, without nesting or middlewares: the
:class:`Dispatcher` asks its routers in the order they were registered
(``handlers/registry.py``), a :class:`Router` asks its routes in the order they were
added, and the first route whose filters all pass answers; when none does, the
fallback answers. A new audience (bound lawyers, survey answers) is a new router
registered in one place, not a branch in an existing one.

A filter is any callable taking the :class:`Update` and answering ``bool`` (or an
awaitable of one, for a filter that must look something up); a route's filters are
asked in order and stop at the first ``False``, so a cheap one (the event type) put
first spares the rest — and spares the user's conversation its decoding.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from domain.messages import Inbound, Outbound, join_texts
from flows.context import Conversation
from flows.engine import Active, Engine, Flow
from handlers.commands import Service, service_of, with_recognition
from handlers.context import StateContext

Filter = Callable[["Update"], bool | Awaitable[bool]]
Answer = Callable[["Update"], Awaitable[list[Outbound]]]


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
        """Write a decoded conversation back into the state (see the class)."""
        if self._conversation is not None and not self.state.changed:
            self.state.set(self._conversation.to_json())


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


class Dispatcher:
    """The edge's handler: routers in order, first match wins, else ``fallback``."""

    def __init__(self, routers: Sequence[Router], *, fallback: Answer,
                 engine: Engine) -> None:
        self.routers = tuple(routers)
        self._fallback = fallback
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
        for router in self.routers:
            for filters, answer in router.routes:
                for check in filters:  # inline, and a plain bool is not awaited: this
                    verdict = check(update)  # runs a dozen times a message
                    if isinstance(verdict, bool):
                        if not verdict:
                            break
                    elif not await verdict:
                        break
                else:
                    return answer
        return self._fallback


# -- filters --------------------------------------------------------------------------------


class Not:
    """The opposite of a filter: ``Not(InFlow())`` passes a user in no flow."""

    __slots__ = ("_filter",)

    def __init__(self, inner: Filter) -> None:
        self._filter = inner

    def __call__(self, update: Update) -> bool | Awaitable[bool]:
        verdict = self._filter(update)
        if isinstance(verdict, bool):
            return not verdict
        return _negated(verdict)


async def _negated(verdict: Awaitable[bool]) -> bool:
    return not await verdict


class Kind:
    """Messages and events of these kinds (``text``, ``image``, ``location``, ``event`` …)."""

    __slots__ = ("_kinds",)

    def __init__(self, *kinds: str) -> None:
        self._kinds = frozenset(kinds)

    def __call__(self, update: Update) -> bool:
        return update.kind in self._kinds


class Message:
    """Anything the user sent that is not an event."""

    __slots__ = ()

    def __call__(self, update: Update) -> bool:
        return update.kind != "event"


class Event:
    """Events of these types (``subscribe``, ``templatesendjobfinish`` …; lower case)."""

    __slots__ = ("_events",)

    def __init__(self, *events: str) -> None:
        self._events = frozenset(events)

    def __call__(self, update: Update) -> bool:
        return update.event in self._events


MENU_EVENTS = frozenset({"click", "scancode_waitmsg"})


class MenuKey:
    """A click on one of these custom-menu keys (``config/menu.toml``; any case)."""

    __slots__ = ("_keys",)

    def __init__(self, *keys: str) -> None:
        self._keys = frozenset(key.upper() for key in keys)

    def __call__(self, update: Update) -> bool:
        return (update.event in MENU_EVENTS
                and update.inbound.event_key.upper() in self._keys)


class Command:
    """A text that is, as a whole, the command for one of these services."""

    __slots__ = ("_services",)

    def __init__(self, *services: Service) -> None:
        self._services = frozenset(services)

    def __call__(self, update: Update) -> bool:
        return update.command in self._services


class InFlow:
    """A user in flow ``name`` (any flow when ``None``), one the engine can carry on."""

    __slots__ = ("_name",)

    def __init__(self, name: str | None = None) -> None:
        self._name = name

    def __call__(self, update: Update) -> bool:
        flow = update.flow
        return flow is not None and (self._name is None or flow.name == self._name)
