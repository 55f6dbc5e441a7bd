"""Redis store: what production runs, shared by every worker process."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from storage.base import JSON, Store, decode, encode

_UNLOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def _px(ttl: float | None) -> int | None:
    if ttl is None:
        return None
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    return max(1, int(ttl * 1000))


class RedisStore(Store):
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._unlock: Any = redis.register_script(_UNLOCK)

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        return cls(Redis.from_url(url, decode_responses=False))

    async def get(self, key: str) -> JSON | None:
        raw = await self._redis.get(key)
        return None if raw is None else decode(raw)

    async def set(self, key: str, value: JSON, ttl: float | None = None) -> None:
        await self._redis.set(key, encode(value), px=_px(ttl))

    async def set_if_absent(self, key: str, value: JSON, ttl: float | None = None) -> bool:
        return bool(await self._redis.set(key, encode(value), px=_px(ttl), nx=True))

    async def delete(self, key: str) -> None:
        await self._redis.delete(key)

    async def try_lock(self, key: str, ttl: float) -> str | None:
        token = self.new_token()
        ok = await self._redis.set(key, encode(token), px=_px(ttl), nx=True)
        return token if ok else None

    async def unlock(self, key: str, token: str) -> bool:
        return bool(await self._unlock(keys=[key], args=[encode(token)]))

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()
