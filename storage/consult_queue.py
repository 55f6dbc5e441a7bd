"""The consultation queue in Redis: a sorted set per legal area, scored by the moment each
consultation was asked (its place is kept when it comes back), claimed across a lawyer's
areas by one Lua script, so two lawyers never get the same one and nobody is passed over.

Redis is the index, not the record: the consultations table says what waits. A claim is
checked against it (``status = 'queued'`` in the update that takes it), so a member Redis
kept for a consultation that was cancelled or taken meanwhile is dropped and the next one
claimed. :meth:`RedisQueue.restore` puts back what the table has and the index lost (at
start-up and by a scheduler job); without Redis the table is the queue
(storage/consultations.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from storage.keys import KeyBuilder

# the member with the lowest score (then the lowest id) across KEYS, removed; nil if none
_CLAIM = """
local best, best_key, best_score, best_id = nil, nil, nil, nil
for _, key in ipairs(KEYS) do
  local top = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if top[1] then
    local score, id = tonumber(top[2]), tonumber(top[1])
    if best == nil or score < best_score or (score == best_score and id < best_id) then
      best, best_key, best_score, best_id = top[1], key, score, id
    end
  end
end
if best then redis.call('ZREM', best_key, best) end
return best
"""


def score(moment: datetime) -> float:
    """A member's score: milliseconds since the epoch (exact in a double for millennia)."""
    return round(moment.timestamp() * 1000)


class RedisQueue:
    def __init__(self, redis: Redis, keys: KeyBuilder) -> None:
        self._redis = redis
        self._keys = keys
        self._claim: Any = redis.register_script(_CLAIM)

    async def add(self, area: str, consultation_id: int, queued_at: datetime) -> None:
        await self._redis.zadd(self._keys.consult_queue(area),
                               {str(consultation_id): score(queued_at)})

    async def remove(self, area: str, consultation_id: int) -> None:
        await self._redis.zrem(self._keys.consult_queue(area), str(consultation_id))

    async def claim(self, areas: Sequence[str]) -> int | None:
        """The longest-waiting consultation in ``areas``, taken off the index."""
        if not areas:
            return None
        found = await self._claim(keys=[self._keys.consult_queue(a) for a in areas])
        return None if found is None else int(found)

    async def restore(self, waiting: Iterable[tuple[str, int, datetime]]) -> int:
        """Put every consultation of ``waiting`` (area, id, queued_at: the table's queued
        rows) back in the index, where Redis lost it (a restart without persistence, a
        claim cut short by a crash); how many. It only adds: a member no longer queued is
        dropped when a claim finds it so, and a removal here could race a consultation
        coming back to the queue."""
        by_area: dict[str, dict[str, float]] = {}
        for area, consultation_id, queued_at in waiting:
            by_area.setdefault(area, {})[str(consultation_id)] = score(queued_at)
        added = 0
        for area, members in by_area.items():
            added += int(await self._redis.zadd(self._keys.consult_queue(area), members) or 0)
        return added
