"""Requests per key per minute: a fixed one-minute window counted in-process, or in Redis when
`ETLA_REDIS_URL` is set (so every replica counts against the same budget). Over budget -> the seconds until
the window ends, which the guard sends as `Retry-After` with a 429."""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

WINDOW_S = 60
REDIS_PREFIX = "etla:rate"

log = logging.getLogger(__name__)


class RateLimiter(Protocol):
    async def hit(self, key: str) -> float | None:
        """Count one request for `key`; None when allowed, else seconds to wait."""

    async def aclose(self) -> None: ...


def _window(now: float) -> tuple[int, float]:
    """The current window's number and the seconds left in it."""
    number = int(now // WINDOW_S)
    return number, (number + 1) * WINDOW_S - now


class LocalRateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window, requests in it)
        self._lock = threading.Lock()

    async def hit(self, key: str) -> float | None:
        window, left = _window(time.time())
        with self._lock:
            seen_window, count = self._counts.get(key, (window, 0))
            count = count + 1 if seen_window == window else 1
            self._counts[key] = (window, count)
        return None if count <= self.per_minute else left

    async def aclose(self) -> None:
        return None


class RedisRateLimiter:
    def __init__(self, url: str, per_minute: int, prefix: str = REDIS_PREFIX) -> None:
        self.per_minute = per_minute
        self._redis = Redis.from_url(url)
        self._prefix = prefix

    async def hit(self, key: str) -> float | None:
        window, left = _window(time.time())
        name = f"{self._prefix}:{key}:{window}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                count, _ = await pipe.incr(name).expire(name, WINDOW_S + 5).execute()
        except RedisError as exc:
            # A Redis outage must not lock every caller out; the limit resumes when Redis is back.
            log.warning("rate limit not counted: Redis is unreachable (%s)", type(exc).__name__)
            return None
        return None if count <= self.per_minute else left

    async def aclose(self) -> None:
        await self._redis.aclose()


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def rate_limiter(redis_url: str | None, per_minute: int, prefix: str = REDIS_PREFIX) -> RateLimiter:
    return RedisRateLimiter(redis_url, per_minute, prefix) if redis_url else LocalRateLimiter(per_minute)
