"""In-process store for one process (the embedded default and the tests)."""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable
from typing import Protocol

from storage.base import DONE, JSON, Admission, Store, WindowUpdate, decode, encode

_DONE = encode(DONE)


class Watcher(Protocol):
    """Told of every write and delete of the keys under ``prefix`` (see
    :meth:`MemoryStore.watch`); it must be quick, it runs on every such write."""

    prefix: str

    def wrote(self, key: str, new: str | None, old: str | None) -> None:
        """``key`` now holds the JSON text ``new`` (``None``: deleted), after ``old``."""


class MemoryStore(Store):
    """Keeps JSON text, not objects, so it fails exactly where Redis would.

    Expired keys vanish on read; a heap of expiry times lets writes drop the due ones
    without scanning every key. Values and expiry times sit in two flat dicts of strings
    and floats, which the garbage collector does not track, so a large store adds nothing
    to its full collections.
    """

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._expires: dict[str, float] = {}
        self._expiries: list[tuple[float, str]] = []
        self._parked: dict[str, dict[str, float]] = {}
        # kept across restarts (track()): the lasting keys, their changes, the watcher
        self._lasting: set[str] | None = None
        self._transient: tuple[str, ...] = ()
        self._changes = 0
        self._watcher: Watcher | None = None
        self._watched = "\x00"  # the watcher's prefix; no key starts with NUL

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def _live(self, key: str) -> str | None:
        raw = self._data.get(key)
        if raw is None:
            return None
        expires = self._expires.get(key)
        if expires is not None and expires <= self._now():
            self._drop(key)
            return None
        return raw

    def _drop(self, key: str) -> None:
        self._data.pop(key, None)
        self._expires.pop(key, None)
        lasting = self._lasting
        if lasting is not None and key in lasting:
            lasting.discard(key)
            self._changes += 1

    def _sweep(self, now: float) -> None:
        heap = self._expiries
        while heap and heap[0][0] <= now:
            expires, key = heapq.heappop(heap)
            if self._expires.get(key) == expires:  # not rewritten since
                self._drop(key)

    def _put(self, key: str, raw: str, ttl: float | None) -> None:
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be positive")
        now = self._now()
        self._sweep(now)
        lasting = self._lasting
        if lasting is not None and not key.startswith(self._transient):
            lasting.add(key)
            self._changes += 1
            if key.startswith(self._watched) and self._watcher is not None:
                self._watcher.wrote(key, raw, self._data.get(key))
        self._data[key] = raw
        if ttl is None:
            self._expires.pop(key, None)
            return
        expires = now + ttl
        self._expires[key] = expires
        heapq.heappush(self._expiries, (expires, key))

    def __len__(self) -> int:
        return len(self._data)

    async def get(self, key: str) -> JSON | None:
        raw = self._live(key)
        return None if raw is None else decode(raw)

    async def set(self, key: str, value: JSON, ttl: float | None = None) -> None:
        self._put(key, encode(value), ttl)

    async def set_if_absent(self, key: str, value: JSON, ttl: float | None = None) -> bool:
        raw = encode(value)
        if self._live(key) is not None:
            return False
        self._put(key, raw, ttl)
        return True

    async def delete(self, key: str) -> None:
        self._delete(key)

    def _delete(self, key: str) -> None:
        if key.startswith(self._watched) and self._watcher is not None and key in self._data:
            self._watcher.wrote(key, None, self._data[key])
        self._drop(key)

    async def try_lock(self, key: str, ttl: float) -> str | None:
        token = self.new_token()
        return token if await self.set_if_absent(key, token, ttl) else None

    async def unlock(self, key: str, token: str) -> bool:
        if self._live(key) == encode(token):
            self._drop(key)
            return True
        return False

    async def admit(
        self, *, nonce_key: str, body_digest: str, nonce_ttl: float, dedupe_key: str,
        dedupe_ttl: float, lock_key: str | None = None, lock_ttl: float = 60.0,
        state_key: str | None = None, window: WindowUpdate | None = None,
    ) -> Admission:
        """The base class's steps without awaiting between them (one process, no I/O)."""
        digest = encode(body_digest)
        seen = self._live(nonce_key)
        if seen is None:
            self._put(nonce_key, digest, nonce_ttl)
        elif seen != digest:
            return Admission("replay")
        if self._live(dedupe_key) is not None:
            return Admission("duplicate")
        token = self.new_token()
        held = encode(token)
        self._put(dedupe_key, held, dedupe_ttl)
        if window is not None:
            if window.value is None:
                self._drop(window.key)
            else:
                self._put(window.key, encode(window.value), window.ttl)
        if lock_key is None or state_key is None or self._live(lock_key) is not None:
            return Admission("new", token=token)
        self._put(lock_key, held, lock_ttl)
        raw = self._live(state_key)
        return Admission("new", token, None if raw is None else decode(raw), token)

    async def commit(
        self, *, state_key: str, state: JSON | None, state_ttl: float, lock_key: str,
        lock_token: str, reply_key: str | None = None, reply: JSON | None = None,
        reply_ttl: float = 60.0, dedupe_key: str | None = None, dedupe_ttl: float = 60.0,
        dedupe_token: str | None = None, clear_state: bool = False,
    ) -> bool:
        held = encode(lock_token)
        if dedupe_key is not None and dedupe_token is not None:
            mark = self._live(dedupe_key)
            if mark is not None and mark != _DONE and mark != encode(dedupe_token):
                if self._live(lock_key) == held:
                    self._drop(lock_key)
                return False
        if state is not None:
            self._put(state_key, encode(state), state_ttl)
        elif clear_state:
            self._delete(state_key)
        if reply_key is not None and reply is not None:
            self._put(reply_key, encode(reply), reply_ttl)
        if dedupe_key is not None:
            self._put(dedupe_key, _DONE, dedupe_ttl)
        if self._live(lock_key) == held:
            self._drop(lock_key)
        return True

    async def incr(self, key: str, ttl: float, by: int = 1) -> int:
        raw = self._live(key)
        value = (decode(raw) if raw is not None else 0) + by
        expires = self._expires.get(key)
        self._put(key, encode(value), ttl)
        if raw is not None:  # keep the first increment's expiry
            if expires is None:
                self._expires.pop(key, None)
            else:
                self._expires[key] = expires
        return int(value)

    async def ping(self) -> None:
        return None

    async def get_many(self, keys: list[str]) -> list[JSON | None]:
        return [None if (raw := self._live(key)) is None else decode(raw) for key in keys]

    async def renew(self, leases: list[tuple[str, str]], ttl: float) -> list[bool]:
        held = []
        for key, token in leases:
            raw = self._live(key)
            if raw is not None and raw == encode(token):
                self._put(key, raw, ttl)
                held.append(True)
            else:
                held.append(False)
        return held

    async def release(self, leases: list[tuple[str, str]]) -> None:
        for key, token in leases:
            if self._live(key) == encode(token):
                self._drop(key)

    async def park(self, registry: str, member: str, at: float) -> None:
        self._parked.setdefault(registry, {})[member] = at

    async def parked(self, registry: str, before: float, limit: int = 100) -> list[str]:
        members = self._parked.get(registry, {})
        due = sorted((at, member) for member, at in members.items() if at < before)
        return [member for _, member in due[:limit]]

    async def unpark(self, registry: str, member: str) -> None:
        self._parked.get(registry, {}).pop(member, None)

    # -- kept across restarts (storage/snapshot.py) -----------------------------------------

    def track(self, *, transient: tuple[str, ...] = (), watcher: Watcher | None = None) -> None:
        """From now on keep the set of *lasting* keys — all but those under the
        ``transient`` prefixes (the per-message keys: nonces, dedupe marks, replies, locks),
        so a snapshot of them costs what they are, not what the traffic of the last minutes
        left — count their writes and deletes (:attr:`changes`), and tell ``watcher`` of
        the writes and deletes of lasting keys under its prefix."""
        self._transient = transient
        self._lasting = {key for key in self._data if not key.startswith(transient)}
        self._watcher = watcher
        self._watched = watcher.prefix if watcher is not None else "\x00"

    def untrack(self) -> None:
        self._lasting = None
        self._watcher = None
        self._watched = "\x00"

    @property
    def changes(self) -> int:
        """Writes and deletes of lasting keys while tracked: unchanged, nothing to save."""
        return self._changes

    def image(self, *, lasting_only: bool = False) -> tuple[dict[str, str], dict[str, float],
                                                            float]:
        """Copies of the values and the expiry times, and the clock they are on: what a
        snapshot is made of, taken at once (no await), so it is one moment of the store;
        ``lasting_only``: of the lasting keys (see :meth:`track`). Expired keys may still
        be in it; whoever reads the snapshot drops them."""
        lasting = self._lasting
        if not lasting_only or lasting is None:
            return self._data.copy(), self._expires.copy(), self._now()
        data, expires = self._data, self._expires
        return ({key: data[key] for key in lasting},
                {key: expires[key] for key in lasting if key in expires}, self._now())

    def restore(self, entries: Iterable[tuple[str, str, float | None]]) -> int:
        """Put back ``(key, JSON text, seconds left or None)`` entries, as read from a
        snapshot (the text is trusted to be JSON; the reader checked it), before
        :meth:`track`; returns how many."""
        now = self._now()
        count = 0
        for key, raw, left in entries:
            self._data[key] = raw
            if left is None:
                self._expires.pop(key, None)
            else:
                expires = now + left
                self._expires[key] = expires
                heapq.heappush(self._expiries, (expires, key))
            count += 1
        return count
