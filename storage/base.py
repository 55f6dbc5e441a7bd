"""The store contract shared by the memory and Redis backends.

Values are JSON: whatever goes in must survive ``json.dumps``/``json.loads``, and what comes
out is the decoded copy, never the object that was stored. The memory backend enforces that
too, so code that works on memory works on Redis.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

JSON = Any  # a JSON-compatible value; checked at run time by encode()


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def encode(value: JSON) -> str:
    """Serialise ``value`` the way every backend stores it; raises ``TypeError`` if not JSON."""
    return _ENCODER.encode(value)


def decode(raw: str | bytes) -> JSON:
    return json.loads(raw)


_TOKEN_PREFIX = secrets.token_hex(8) + "."
_TOKEN_SEQ = itertools.count(1)


class LockTimeout(Exception):
    """The lock was not free within the wait allowed."""


@dataclass(frozen=True, slots=True)
class Admission:
    """What :meth:`Store.admit` found for an incoming message.

    ``verdict``: ``replay`` (the nonce came before with another body), ``duplicate`` (the
    message was seen before) or ``new``. For a new message whose lock was free, the lock
    is held with ``lock_token`` and ``state`` was read under it.
    """

    verdict: Literal["new", "duplicate", "replay"]
    lock_token: str | None = None
    state: JSON | None = None
    token: str | None = None  # a new message: the token its dedupe lease is held with


DONE = 1  # the dedupe mark of a message whose handling was committed (a lease is a token)


@dataclass(frozen=True, slots=True)
class WindowUpdate:
    """Set ``key`` to ``value`` for ``ttl`` s, or delete it when ``value`` is ``None``."""

    key: str
    value: JSON | None
    ttl: float = 1.0


class Store(ABC):
    """A small key/value store with TTLs and exclusive locks."""

    @abstractmethod
    async def get(self, key: str) -> JSON | None: ...

    @abstractmethod
    async def set(self, key: str, value: JSON, ttl: float | None = None) -> None:
        """Store ``value``; ``ttl`` in seconds, ``None`` for no expiry."""

    @abstractmethod
    async def set_if_absent(self, key: str, value: JSON, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent; ``True`` if this call stored it."""

    @abstractmethod
    async def delete(self, key: str) -> None: ...

    @abstractmethod
    async def try_lock(self, key: str, ttl: float) -> str | None:
        """Take the lock now if free: returns its token, or ``None`` if someone holds it."""

    @abstractmethod
    async def unlock(self, key: str, token: str) -> bool:
        """Release the lock if ``token`` still holds it; ``False`` if it had expired."""

    @abstractmethod
    async def incr(self, key: str, ttl: float, by: int = 1) -> int:
        """Add ``by`` to the counter ``key`` (0 if absent) and return it; creating the
        counter sets its expiry."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise if the store does not answer."""

    @abstractmethod
    async def get_many(self, keys: list[str]) -> list[JSON | None]:
        """The values of ``keys`` read at one moment (``None`` for the absent ones)."""

    @abstractmethod
    async def renew(self, leases: list[tuple[str, str]], ttl: float) -> list[bool]:
        """Extend each ``(key, token)`` lease to ``ttl`` s if ``token`` still holds it;
        tells, per lease, whether it did."""

    @abstractmethod
    async def release(self, leases: list[tuple[str, str]]) -> None:
        """Delete each ``(key, token)`` lease that ``token`` still holds."""

    # -- parked messages: answered ``success`` before their handler finished ------------

    @abstractmethod
    async def park(self, registry: str, member: str, at: float) -> None:
        """Add ``member`` to the ``registry`` (a set ordered by ``at``, wall-clock s)."""

    @abstractmethod
    async def parked(self, registry: str, before: float, limit: int = 100) -> list[str]:
        """Members parked before ``before``, oldest first."""

    @abstractmethod
    async def unpark(self, registry: str, member: str) -> None: ...

    async def close(self) -> None:  # noqa: B027 - optional for backends
        """Release connections."""

    @asynccontextmanager
    async def lock(
        self, key: str, *, ttl: float = 60.0, wait: float = 30.0
    ) -> AsyncIterator[str]:
        """Hold the lock ``key`` for the block; waits up to ``wait`` s, else ``LockTimeout``.

        ``ttl`` bounds how long a crashed holder can block others.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        delay = 0.002
        while True:
            token = await self.try_lock(key, ttl)
            if token is not None:
                break
            if loop.time() >= deadline:
                raise LockTimeout(key)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        try:
            yield token
        finally:
            await self.unlock(key, token)

    @staticmethod
    def new_token() -> str:
        """A lock token unique across processes: random per process, then a counter."""
        return f"{_TOKEN_PREFIX}{next(_TOKEN_SEQ):x}"

    # -- the edge's two round trips -------------------------------------------------------
    # Backends may do each in one atomic step (Redis: one Lua script each); the defaults
    # compose the primitives above, which is atomic on the memory backend.

    async def admit(
        self, *, nonce_key: str, body_digest: str, nonce_ttl: float, dedupe_key: str,
        dedupe_ttl: float, lock_key: str | None = None, lock_ttl: float = 60.0,
        state_key: str | None = None, window: WindowUpdate | None = None,
    ) -> Admission:
        """Nonce replay check, dedupe lease, and (if ``lock_key``) try the lock and read state.

        A new message's dedupe mark is a lease held with the admission's ``token`` (the
        lock, when taken, is held with the same token) for ``dedupe_ttl``; it becomes
        :data:`DONE` at :meth:`commit`. A new message also applies ``window`` (the user's
        customer-service window). A replay or duplicate leaves no dedupe mark, lock or
        window change behind.
        """
        if not await self.set_if_absent(nonce_key, body_digest, nonce_ttl) and (
            await self.get(nonce_key) != body_digest
        ):
            return Admission("replay")
        token = self.new_token()
        if not await self.set_if_absent(dedupe_key, token, dedupe_ttl):
            return Admission("duplicate")
        if window is not None:
            if window.value is None:
                await self.delete(window.key)
            else:
                await self.set(window.key, window.value, window.ttl)
        if lock_key is None or state_key is None:
            return Admission("new", token=token)
        if not await self.set_if_absent(lock_key, token, lock_ttl):
            return Admission("new", token=token)
        return Admission("new", token, await self.get(state_key), token)

    async def commit(
        self, *, state_key: str, state: JSON | None, state_ttl: float, lock_key: str,
        lock_token: str, reply_key: str | None = None, reply: JSON | None = None,
        reply_ttl: float = 60.0, dedupe_key: str | None = None, dedupe_ttl: float = 60.0,
        dedupe_token: str | None = None, clear_state: bool = False,
    ) -> bool:
        """Write the state (unless ``None``; with ``clear_state``, delete it) and the reply
        (if any), mark the message :data:`DONE` (if ``dedupe_key``) for ``dedupe_ttl``,
        then release the lock.

        Fenced by ``dedupe_token``: if the message's lease is now another holder's (this
        one stalled past it and another worker took the message over), nothing is
        written, the lock is released if still ours, and the answer is ``False``.
        """
        if dedupe_key is not None and dedupe_token is not None:
            mark = await self.get(dedupe_key)
            if mark is not None and mark != DONE and mark != dedupe_token:
                await self.unlock(lock_key, lock_token)
                return False
        if state is not None:
            await self.set(state_key, state, state_ttl)
        elif clear_state:
            await self.delete(state_key)
        if reply_key is not None and reply is not None:
            await self.set(reply_key, reply, reply_ttl)
        if dedupe_key is not None:
            await self.set(dedupe_key, DONE, dedupe_ttl)
        await self.unlock(lock_key, lock_token)
        return True
