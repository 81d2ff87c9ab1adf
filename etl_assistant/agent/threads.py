"""The thread registry: which threads exist, whose they are (tenant), when made, title and status.

Checkpoints hold a thread's state; this table holds what `POST /threads/search` lists, including threads
that have no checkpoint yet. Same SQLAlchemy Core code on SQLite (aiosqlite) and PostgreSQL (psycopg).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from etl_assistant.errors import EtlError

ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
_METADATA = sa.MetaData()
THREADS = sa.Table(
    "etla_threads",
    _METADATA,
    sa.Column("thread_id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(128), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("title", sa.Text, nullable=True),
    sa.Column("metadata", sa.JSON, nullable=False),
)


class ThreadNotFound(EtlError):
    """No thread with this id for this tenant."""


class ThreadBusy(EtlError):
    """Another run is in progress on this thread (in this process or another server process)."""


class ThreadExists(EtlError):
    """A thread with this id already exists (and the caller asked not to reuse it)."""


@dataclass
class ThreadRecord:
    thread_id: str
    tenant: str
    created_at: datetime
    updated_at: datetime
    status: ThreadStatus
    title: str | None
    metadata: dict[str, Any] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


def _record(row: sa.Row) -> ThreadRecord:
    m = row._mapping
    created, updated = m["created_at"], m["updated_at"]
    # SQLite returns naive datetimes; every stored time is UTC.
    return ThreadRecord(
        thread_id=m["thread_id"],
        tenant=m["tenant"],
        created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
        updated_at=updated if updated.tzinfo else updated.replace(tzinfo=UTC),
        status=m["status"],
        title=m["title"],
        metadata=dict(m["metadata"] or {}),
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the checkpointer and this registry share threads.db; NORMAL sync skips an fsync per commit
    (a power cut may lose the last status change, never corrupt the file)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")  # several server processes write this file
    cursor.close()


class ThreadStore:
    def __init__(self, url: str) -> None:
        self._engine: AsyncEngine = create_async_engine(url, pool_pre_ping=True)
        if self._engine.dialect.name == "sqlite":
            sa.event.listen(self._engine.sync_engine, "connect", _sqlite_pragmas)

    async def setup(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(_METADATA.create_all)

    async def aclose(self) -> None:
        await self._engine.dispose()

    async def ping(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(sa.select(1))

    async def create(
        self,
        tenant: str,
        thread_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        if_exists: Literal["raise", "do_nothing"] = "raise",
    ) -> ThreadRecord:
        thread_id = thread_id or str(uuid.uuid4())
        existing = await self.find(thread_id)
        if existing is not None:
            if if_exists == "do_nothing" and existing.tenant == tenant:
                return existing
            raise ThreadExists(
                f"Thread {thread_id} already exists; use another id or if_exists='do_nothing'."
            )
        now = _now()
        record = ThreadRecord(
            thread_id=thread_id,
            tenant=tenant,
            created_at=now,
            updated_at=now,
            status="idle",
            title=None,
            metadata={**(metadata or {}), "tenant": tenant},
        )
        async with self._engine.begin() as conn:
            await conn.execute(
                THREADS.insert().values(
                    thread_id=record.thread_id,
                    tenant=tenant,
                    created_at=now,
                    updated_at=now,
                    status="idle",
                    title=None,
                    metadata=record.metadata,
                )
            )
        return record

    async def delete(self, thread_id: str) -> None:
        """Forget a thread's record (its checkpoints are the checkpointer's to delete)."""
        async with self._engine.begin() as conn:
            await conn.execute(THREADS.delete().where(THREADS.c.thread_id == thread_id))

    async def find(self, thread_id: str) -> ThreadRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(THREADS.select().where(THREADS.c.thread_id == thread_id))).first()
        return _record(row) if row else None

    async def get(self, tenant: str, thread_id: str) -> ThreadRecord:
        record = await self.find(thread_id)
        if record is None or record.tenant != tenant:
            raise ThreadNotFound(f"Thread {thread_id} was not found; create it with POST /threads first.")
        return record

    async def update(
        self,
        thread_id: str,
        *,
        status: ThreadStatus | None = None,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Set the given fields and touch updated_at; metadata is merged into what is stored."""
        values: dict[str, Any] = {"updated_at": _now()}
        if status is not None:
            values["status"] = status
        if title is not None:
            values["title"] = title
        async with self._engine.begin() as conn:
            if metadata or title is not None:
                row = (
                    await conn.execute(sa.select(THREADS.c.metadata).where(THREADS.c.thread_id == thread_id))
                ).first()
                merged = {**(row[0] if row and row[0] else {}), **(metadata or {})}
                if title is not None:
                    merged["title"] = title
                values["metadata"] = merged
            await conn.execute(THREADS.update().where(THREADS.c.thread_id == thread_id).values(**values))

    async def begin_run(
        self, tenant: str, thread_id: str, *, create: bool, title: str | None, metadata: dict[str, Any]
    ) -> None:
        """One transaction per run start: create the thread if allowed, mark it busy, keep the first title."""
        now = _now()
        async with self._engine.begin() as conn:
            row = (await conn.execute(THREADS.select().where(THREADS.c.thread_id == thread_id))).first()
            if row is None and create:
                merged = {**metadata, "tenant": tenant} | ({"title": title} if title else {})
                await conn.execute(
                    THREADS.insert().values(
                        thread_id=thread_id,
                        tenant=tenant,
                        created_at=now,
                        updated_at=now,
                        status="busy",
                        title=title,
                        metadata=merged,
                    )
                )
                return
            if row is None or row._mapping["tenant"] != tenant:
                raise ThreadNotFound(f"Thread {thread_id} was not found; create it with POST /threads first.")
            record = _record(row)
            keep_title = record.title or title
            merged = {**record.metadata, **metadata} | ({"title": keep_title} if keep_title else {})
            # Only a thread not already busy: with several server processes, another one may run it now.
            taken = await conn.execute(
                THREADS.update()
                .where(THREADS.c.thread_id == thread_id, THREADS.c.status != "busy")
                .values(status="busy", updated_at=now, title=keep_title, metadata=merged)
            )
            if taken.rowcount == 0:
                raise ThreadBusy(f"Thread {thread_id} is already running; wait for its run to end.")

    async def busy(self) -> list[ThreadRecord]:
        """Threads of every tenant marked busy (at start-up: runs a killed process left unfinished)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(THREADS.select().where(THREADS.c.status == "busy"))
            return [_record(r) for r in rows]

    async def search(
        self,
        tenant: str,
        *,
        metadata: dict[str, Any] | None = None,
        status: ThreadStatus | None = None,
        ids: list[str] | None = None,
        limit: int = 10,
        offset: int = 0,
        sort_by: str = "updated_at",
        sort_order: Literal["asc", "desc"] = "desc",
    ) -> list[ThreadRecord]:
        """Threads of one tenant, newest first by default. Metadata is matched key by key (exact values)."""
        column = (
            THREADS.c[sort_by]
            if sort_by in ("thread_id", "created_at", "updated_at", "status")
            else THREADS.c.updated_at
        )
        query = THREADS.select().where(THREADS.c.tenant == tenant)
        if status:
            query = query.where(THREADS.c.status == status)
        if ids:
            query = query.where(THREADS.c.thread_id.in_(ids))
        query = query.order_by(column.asc() if sort_order == "asc" else column.desc())
        if not metadata:
            query = query.limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            records = [_record(r) for r in await conn.execute(query)]
        if metadata:
            # JSON containment differs per engine; a tenant's thread list is small enough to match here.
            records = [r for r in records if all(r.metadata.get(k) == v for k, v in metadata.items())]
            records = records[offset : offset + limit]
        return records
