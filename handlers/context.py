"""What a channel's edge hands a handler: the message, and the user's state as an opaque value.

The edge reads the user's state under the user's lock (``Store.admit``) and writes back
what the :class:`StateContext` holds in the step that releases the lock
(``Store.commit``); it never looks inside. What the state means — a conversation in a
flow, later a lawyer's shift — is the handlers' business: they decode it, and the edge
does not change when its shape does. aiogram's ``FSMContext`` is the model: a handler
gets and sets the state without knowing the store's keys or round trips.

This module imports nothing of the handlers or flows: an edge may import it.
"""

from __future__ import annotations

from typing import Any, Protocol

from domain.messages import Inbound, Outbound


class StateContext:
    """One user's stored state for one message: the value the edge read (JSON as the store
    decoded it, ``None`` when nothing is stored) and whether a handler changed it.

    Synchronous on purpose: the value was read before the handler ran and is written
    after it, in the edge's two store round trips, not here.
    """

    __slots__ = ("_changed", "_value")

    def __init__(self, stored: Any = None) -> None:
        self._value = stored
        self._changed = False

    def get(self) -> Any:
        """The state as stored (``None``: nothing stored, or cleared)."""
        return self._value

    def set(self, value: Any) -> None:
        """Keep ``value`` (JSON-compatible) as the user's state; ``None`` clears it."""
        self._value = value
        self._changed = True

    def clear(self) -> None:
        """Forget the user's state: the store deletes it when the message is committed."""
        self.set(None)

    @property
    def changed(self) -> bool:
        """Whether a handler set or cleared the state; an untouched one is not rewritten."""
        return self._changed


class Handler(Protocol):
    """Anything that answers an Inbound, given the user's state."""

    async def __call__(self, inbound: Inbound, state: StateContext, /) -> list[Outbound]: ...
