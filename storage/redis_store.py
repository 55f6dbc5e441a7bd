"""Redis store: what production runs, shared by every worker process."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from storage.base import DONE, JSON, Admission, Store, WindowUpdate, decode, encode

_UNLOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


# KEYS: nonce, dedupe, lock, state, window
# ARGV: body digest, nonce ttl ms, dedupe ttl ms, token (the dedupe lease's and the lock's),
#       lock ttl ms, take lock (1/0),
#       window: 'set' / 'del' / '', window value, window ttl ms
_ADMIT = """
if not redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2], 'nx') then
    if redis.call('get', KEYS[1]) ~= ARGV[1] then
        return {'replay'}
    end
end
if not redis.call('set', KEYS[2], ARGV[4], 'px', ARGV[3], 'nx') then
    return {'duplicate'}
end
if ARGV[7] == 'set' then
    redis.call('set', KEYS[5], ARGV[8], 'px', ARGV[9])
elseif ARGV[7] == 'del' then
    redis.call('del', KEYS[5])
end
if ARGV[6] == '1' and redis.call('set', KEYS[3], ARGV[4], 'px', ARGV[5], 'nx') then
    return {'new', '1', redis.call('get', KEYS[4])}
end
return {'new'}
"""

# KEYS: state, reply, lock, dedupe
# ARGV: state ('' to keep), state ttl ms, reply ('' for none), reply ttl ms, lock token,
#       dedupe ttl ms ('' to leave the mark alone), the done mark, the dedupe lease's token
#       ('' for no fence), '1' to delete the state when none is given. Returns 0, writing
#       nothing, if the lease is another holder's.
_COMMIT = """
if ARGV[8] ~= '' then
    local mark = redis.call('get', KEYS[4])
    if mark and mark ~= ARGV[7] and mark ~= ARGV[8] then
        if redis.call('get', KEYS[3]) == ARGV[5] then
            redis.call('del', KEYS[3])
        end
        return 0
    end
end
if ARGV[1] ~= '' then
    redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2])
elseif ARGV[9] == '1' then
    redis.call('del', KEYS[1])
end
if ARGV[3] ~= '' then
    redis.call('set', KEYS[2], ARGV[3], 'px', ARGV[4])
end
if ARGV[6] ~= '' then
    redis.call('set', KEYS[4], ARGV[7], 'px', ARGV[6])
end
if redis.call('get', KEYS[3]) == ARGV[5] then
    redis.call('del', KEYS[3])
end
return 1
"""


# KEYS: the leases; ARGV: ttl ms, then each lease's token. Returns 1/0 per lease.
_RENEW = """
local held = {}
for i, key in ipairs(KEYS) do
    if redis.call('get', key) == ARGV[i + 1] then
        redis.call('pexpire', key, ARGV[1])
        held[i] = 1
    else
        held[i] = 0
    end
end
return held
"""

# KEYS: the leases; ARGV: each lease's token.
_RELEASE = """
for i, key in ipairs(KEYS) do
    if redis.call('get', key) == ARGV[i] then
        redis.call('del', key)
    end
end
return 1
"""

SOCKET_TIMEOUT = 1.5


_INCR = """
local fresh = redis.call('exists', KEYS[1]) == 0
local value = redis.call('incrby', KEYS[1], ARGV[2])
if fresh then
    redis.call('pexpire', KEYS[1], ARGV[1])
end
return value
"""


_DONE = encode(DONE)


def _px(ttl: float | None) -> int | None:
    if ttl is None:
        return None
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    return max(1, int(ttl * 1000))


class _ScriptBatcher:
    """Auto-pipelining: script calls made in one event-loop turn go out as one pipeline.

    Under load many requests wait on the store at once; one round trip for all of them
    costs a fraction of the client CPU of one round trip each (redis-py spends most of a
    command's time in Python, not on the wire). A lone call waits one loop turn at most.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._queue: list[tuple[Any, Sequence[str], Sequence[Any], asyncio.Future[Any]]] = []
        self._scheduled = False
        self._sending: set[asyncio.Task[None]] = set()

    def call(self, script: Any, keys: Sequence[str], args: Sequence[Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((script, keys, args, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._queue = self._queue, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(
        self, batch: list[tuple[Any, Sequence[str], Sequence[Any], asyncio.Future[Any]]]
    ) -> None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for script, keys, args, _ in batch:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            results = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (script, keys, args, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, NoScriptError):  # the server lost its scripts: load, retry
                try:
                    result = await script(keys=keys, args=args)
                except Exception as exc:
                    result = exc
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


class RedisStore(Store):
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._unlock: Any = redis.register_script(_UNLOCK)
        self._admit: Any = redis.register_script(_ADMIT)
        self._commit: Any = redis.register_script(_COMMIT)
        self._batch = _ScriptBatcher(redis)
        self._incr: Any = redis.register_script(_INCR)
        self._renew: Any = redis.register_script(_RENEW)
        self._release: Any = redis.register_script(_RELEASE)

    @property
    def client(self) -> Redis:
        """The connection pool, for a Redis structure beside the store (the consultation
        queue, storage/consult_queue.py)."""
        return self._redis

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        # A stalled server must fail well inside WeChat's 5 s, so the edge can still answer.
        return cls(Redis.from_url(url, decode_responses=False, socket_timeout=SOCKET_TIMEOUT,
                                  socket_connect_timeout=SOCKET_TIMEOUT))

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

    async def admit(
        self, *, nonce_key: str, body_digest: str, nonce_ttl: float, dedupe_key: str,
        dedupe_ttl: float, lock_key: str | None = None, lock_ttl: float = 60.0,
        state_key: str | None = None, window: WindowUpdate | None = None,
    ) -> Admission:
        """One round trip: nonce, dedupe, window, and the lock with the state read under it."""
        take = lock_key is not None and state_key is not None
        token = self.new_token()
        if window is None:
            window_args: list[Any] = ["", "", 1]
        elif window.value is None:
            window_args = ["del", "", 1]
        else:
            window_args = ["set", encode(window.value), _px(window.ttl)]
        answer = await self._batch.call(
            self._admit,
            [nonce_key, dedupe_key, lock_key or dedupe_key, state_key or dedupe_key,
             window.key if window is not None else dedupe_key],
            [encode(body_digest), _px(nonce_ttl), _px(dedupe_ttl), encode(token),
             _px(lock_ttl), "1" if take else "0", *window_args],
        )
        verdict = answer[0].decode() if isinstance(answer[0], bytes) else str(answer[0])
        if verdict == "replay":
            return Admission("replay")
        if verdict == "duplicate":
            return Admission("duplicate")
        if len(answer) > 1:
            raw = answer[2] if len(answer) > 2 else None
            return Admission("new", token, None if raw is None else decode(raw), token)
        return Admission("new", token=token)

    async def commit(
        self, *, state_key: str, state: JSON | None, state_ttl: float, lock_key: str,
        lock_token: str, reply_key: str | None = None, reply: JSON | None = None,
        reply_ttl: float = 60.0, dedupe_key: str | None = None, dedupe_ttl: float = 60.0,
        dedupe_token: str | None = None, clear_state: bool = False,
    ) -> bool:
        """One round trip: state, reply, dedupe mark, unlock (fenced by the lease)."""
        done = await self._batch.call(
            self._commit,
            [state_key, reply_key or state_key, lock_key, dedupe_key or lock_key],
            ["" if state is None else encode(state), _px(state_ttl),
             "" if reply_key is None or reply is None else encode(reply),
             _px(reply_ttl), encode(lock_token),
             "" if dedupe_key is None else str(_px(dedupe_ttl)), _DONE,
             "" if dedupe_key is None or dedupe_token is None else encode(dedupe_token),
             "1" if clear_state else ""],
        )
        return bool(done)

    async def incr(self, key: str, ttl: float, by: int = 1) -> int:
        return int(await self._incr(keys=[key], args=[_px(ttl), by]))

    async def ping(self) -> None:
        await self._redis.ping()

    async def get_many(self, keys: list[str]) -> list[JSON | None]:
        raws = await self._redis.mget(keys)
        return [None if raw is None else decode(raw) for raw in raws]

    async def renew(self, leases: list[tuple[str, str]], ttl: float) -> list[bool]:
        if not leases:
            return []
        answer = await self._renew(keys=[key for key, _ in leases],
                                   args=[_px(ttl), *(encode(token) for _, token in leases)])
        return [bool(held) for held in answer]

    async def release(self, leases: list[tuple[str, str]]) -> None:
        if leases:
            await self._release(keys=[key for key, _ in leases],
                                args=[encode(token) for _, token in leases])

    async def park(self, registry: str, member: str, at: float) -> None:
        await self._redis.zadd(registry, {member: at})

    async def parked(self, registry: str, before: float, limit: int = 100) -> list[str]:
        raws = await self._redis.zrangebyscore(registry, "-inf", f"({before}", start=0,
                                               num=limit)
        return [raw.decode() if isinstance(raw, bytes) else str(raw) for raw in raws]

    async def unpark(self, registry: str, member: str) -> None:
        await self._redis.zrem(registry, member)

    async def close(self) -> None:
        await self._redis.aclose()
