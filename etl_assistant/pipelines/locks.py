"""One process runs a given pipeline at a time, across every server replica, CLI run and Airflow task.

The lock lives where all of them can see it: a PostgreSQL advisory lock when the catalog is PostgreSQL (held
by a session, so a killed process frees it with its connection), else a Redis lock when `ETLA_REDIS_URL` is
set (short TTL renewed while the run lasts, see `deploy.locks`), else an in-process lock (one process, e.g.
the embedded default, plus a file lock beside the SQLite catalog so a CLI run and the server do not overlap).
A run never waits: if the pipeline is running elsewhere, it says so.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from redis.exceptions import RedisError
from sqlalchemy import text

from etl_assistant.config import Settings
from etl_assistant.deploy.locks import held
from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.warehouse.catalog import Catalog

LOCK_TTL_S = 60
KEY_PREFIX = "etla:pipeline-lock"

_local: dict[str, threading.Lock] = {}
_local_guard = threading.Lock()


class PipelineBusy(ToolError):
    """The pipeline is being run by another process or thread right now."""


def _busy(name: str) -> PipelineBusy:
    return PipelineBusy(
        f"Pipeline {name} is already running; wait for that run to finish (see pipeline_runs)."
    )


def advisory_key(tenant: str, name: str) -> int:
    """A signed 64-bit key for pg_try_advisory_lock, stable across processes."""
    digest = hashlib.sha256(f"etla-pipeline:{tenant}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def _in_process(key: str, name: str) -> Iterator[None]:
    with _local_guard:
        lock = _local.setdefault(key, threading.Lock())
    if not lock.acquire(blocking=False):
        raise _busy(name)
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _file(path: Path, name: str) -> Iterator[None]:
    """flock on a file next to the SQLite catalog: freed by the kernel when the holder dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(name) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _advisory(catalog: Catalog, key: int, name: str) -> Iterator[None]:
    try:
        conn = catalog.engine.connect()
    except Exception as exc:
        raise WarehouseError(f"Cannot reach the catalog to lock pipeline {name}: {exc}.") from exc
    try:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
        conn.commit()
        if not got:
            raise _busy(name)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()
    finally:
        conn.close()


@contextmanager
def _redis(url: str, key: str, name: str) -> Iterator[None]:
    client = redis.Redis.from_url(url)
    lock = client.lock(key, timeout=LOCK_TTL_S, blocking=False, thread_local=False)
    try:
        acquired = lock.acquire()
    except RedisError as exc:
        client.close()
        raise WarehouseError(
            f"Cannot reach Redis to lock pipeline {name} ({exc}); check ETLA_REDIS_URL."
        ) from exc
    if not acquired:
        client.close()
        raise _busy(name)
    try:
        with held(lock, key):
            yield
    finally:
        client.close()


@contextmanager
def run_lock(settings: Settings, catalog: Catalog, tenant: str, name: str) -> Iterator[None]:
    """Hold the pipeline's lock for the duration of a run; PipelineBusy at once when someone else holds it."""
    key = f"{KEY_PREFIX}:{tenant}:{name}"
    with _in_process(key, name):
        if catalog.engine.dialect.name == "postgresql":
            with _advisory(catalog, advisory_key(tenant, name), name):
                yield
        elif settings.redis_url:
            with _redis(settings.redis_url, key, name):
                yield
        else:
            database = catalog.engine.url.database
            folder = Path(database).parent if database and database != ":memory:" else settings.data_dir
            digest = hashlib.sha256(key.encode()).hexdigest()[:16]
            with _file(folder / "pipeline-locks" / f"{digest}.lock", name):
                yield
