"""In-process store for one process (the embedded default and the tests)."""

from __future__ import annotations

import time

from storage.base import JSON, Store, decode, encode


class MemoryStore(Store):
    """Keeps JSON text, not objects, so it fails exactly where Redis would."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._ops = 0

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def _live(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        raw, expires = item
        if expires is not None and expires <= self._now():
            del self._data[key]
            return None
        return raw

    def _sweep(self) -> None:
        # amortised expiry so a long-running process does not grow without bound
        self._ops += 1
        if self._ops % 1024:
            return
        now = self._now()
        for key in [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]:
            del self._data[key]

    def _put(self, key: str, raw: str, ttl: float | None) -> None:
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be positive")
        self._data[key] = (raw, None if ttl is None else self._now() + ttl)
        self._sweep()

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
        self._data.pop(key, None)

    async def try_lock(self, key: str, ttl: float) -> str | None:
        token = self.new_token()
        return token if await self.set_if_absent(key, token, ttl) else None

    async def unlock(self, key: str, token: str) -> bool:
        if self._live(key) == encode(token):
            del self._data[key]
            return True
        return False

    async def ping(self) -> None:
        return None
