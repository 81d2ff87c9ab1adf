"""Two deploys of the same target never interleave: one lock per (tenant, target).

In-process locks by default; Redis locks when `ETLA_REDIS_URL` is set, so several server replicas agree. A
Redis lock has a short TTL renewed by a watchdog thread while the deploy runs, so a killed process frees its
targets within a minute instead of blocking them for hours.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import redis
from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from etl_assistant.config import Settings
from etl_assistant.errors import ToolError, WarehouseError

LOCK_WAIT_S = 300.0  # how long a deploy waits for another one of the same target
LOCK_TTL_S = 60  # Redis: the lock disappears this long after its holder stopped renewing it
KEY_PREFIX = "etla:deploy-lock"

_local_locks: dict[str, threading.Lock] = {}
_local_guard = threading.Lock()


def lock_key(tenant: str, target: str) -> str:
    return f"{KEY_PREFIX}:{tenant}:{target}"


def _busy(key: str) -> ToolError:
    target = key.rsplit(":", 1)[-1]
    return ToolError(f"Another deploy of {target} is still running; wait for it to finish and apply again.")


@contextmanager
def _local(key: str, wait_s: float) -> Iterator[None]:
    with _local_guard:
        lock = _local_locks.setdefault(key, threading.Lock())
    if not lock.acquire(timeout=wait_s):
        raise _busy(key)
    try:
        yield
    finally:
        lock.release()


@contextmanager
def held(lock: Lock, key: str) -> Iterator[None]:
    """Keep an acquired Redis lock while the block runs (renewed every third of its TTL, so a long job keeps
    it and a dead process loses it), then release it."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(LOCK_TTL_S / 3):
            try:
                lock.reacquire()
            except (LockError, RedisError):
                return

    watchdog = threading.Thread(target=renew, name=f"renew {key}", daemon=True)
    watchdog.start()
    try:
        yield
    finally:
        stop.set()
        watchdog.join()
        try:
            lock.release()
        except LockError:
            pass  # expired while held (the watchdog could not renew): nothing left to release


@contextmanager
def _redis(client: redis.Redis, key: str, wait_s: float) -> Iterator[None]:
    lock = client.lock(key, timeout=LOCK_TTL_S, blocking_timeout=wait_s, thread_local=False)
    try:
        acquired = lock.acquire()
    except RedisError as exc:
        raise WarehouseError(f"Cannot reach Redis for deploy locks ({exc}); check ETLA_REDIS_URL.") from exc
    if not acquired:
        raise _busy(key)
    with held(lock, key):
        yield


@contextmanager
def deploy_locks(
    settings: Settings, tenant: str, targets: list[str], wait_s: float = LOCK_WAIT_S
) -> Iterator[None]:
    """Hold the locks of every target (taken in sorted order, so two plans never deadlock)."""
    keys = [lock_key(tenant, t) for t in sorted(set(targets))]
    with ExitStack() as stack:
        client = None
        if settings.redis_url:
            client = redis.Redis.from_url(settings.redis_url)
            stack.callback(client.close)  # runs after the locks below are released
        for key in keys:
            stack.enter_context(_redis(client, key, wait_s) if client is not None else _local(key, wait_s))
        yield
