"""Slack delivers an event again when it did not see our 200 in time (`X-Slack-Retry-Num`), and a person can
click a button twice: each key (an `event_id`, an approval's interrupt id) is acted on once.

In-process LRU by default; with `ETLA_REDIS_URL` set, Redis `SET NX` with a TTL, so replicas share it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

LRU_KEYS = 10_000
TTL_S = 3_600  # Slack retries within minutes (immediately, ~1 min, ~5 min); an hour covers them all
REDIS_PREFIX = "etla:slack:once:"


class OnceGate(Protocol):
    async def first_time(self, key: str) -> bool:
        """True the first time `key` is seen (claiming it), False for every repeat."""
        ...

    async def aclose(self) -> None: ...


class LocalOnceGate:
    """The last LRU_KEYS keys of this process."""

    def __init__(self, size: int = LRU_KEYS) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._size = size

    async def first_time(self, key: str) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True

    async def aclose(self) -> None:
        self._seen.clear()


class RedisOnceGate:
    """One Redis key per claim (`SET NX EX`): atomic across replicas, gone after the TTL."""

    def __init__(self, url: str, *, prefix: str = REDIS_PREFIX, ttl_s: int = TTL_S) -> None:
        self._redis = Redis.from_url(url)
        self._prefix = prefix
        self._ttl_s = ttl_s

    async def first_time(self, key: str) -> bool:
        try:
            return bool(await self._redis.set(self._prefix + key, b"1", nx=True, ex=self._ttl_s))
        except RedisError as exc:
            # Answering twice is better than never answering: a Redis outage must not silence the bot.
            log.warning("Slack dedupe skipped for %s: Redis is unreachable (%s)", key, exc)
            return True

    async def aclose(self) -> None:
        await self._redis.aclose()


def once_gate(redis_url: str | None) -> OnceGate:
    return RedisOnceGate(redis_url) if redis_url else LocalOnceGate()
