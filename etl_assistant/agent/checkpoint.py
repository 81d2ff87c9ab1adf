"""Where conversations persist: SQLite beside the data by default, PostgreSQL when the catalog is there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from langgraph.checkpoint.base import BaseCheckpointSaver

from etl_assistant.config import Settings
from etl_assistant.errors import WarehouseError

if TYPE_CHECKING:
    import psycopg


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres://"))


def psycopg_conninfo(url: str) -> str:
    """psycopg takes a plain libpq URL: drop a SQLAlchemy driver suffix such as `+psycopg`."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql{sep}{rest}" if scheme.startswith("postgres") else url


def threads_db_url(settings: Settings) -> str:
    """The async SQLAlchemy URL of the thread registry: the catalog's PostgreSQL, or data_dir/threads.db."""
    if is_postgres(settings.catalog_url):
        return "postgresql+psycopg://" + psycopg_conninfo(settings.catalog_url).partition("://")[2]
    return f"sqlite+aiosqlite:///{(settings.data_dir / 'threads.db').resolve()}"


async def _reachable(conninfo: str) -> None:
    """One sentence at start-up when the PostgreSQL catalog is down (the pool would wait 30 s, then raise a
    PoolTimeout); once running, the pool reconnects by itself when the server is back."""
    import psycopg

    try:
        connection = await psycopg.AsyncConnection.connect(conninfo, connect_timeout=5)
    except psycopg.OperationalError as exc:
        where = conninfo.split("@")[-1].split("?")[0]  # host:port/db, never the password
        reason = str(exc).strip().splitlines()[0].split(": ")[-1] if str(exc).strip() else "no answer"
        raise WarehouseError(f"Cannot reach the PostgreSQL catalog at {where} ({reason}); start it or fix "
                             "ETLA_CATALOG_URL, then start the server again.") from None
    await connection.close()


_SETUP_LOCK = 0x45544C41  # 'ETLA': the advisory lock that serialises the checkpointer's migrations


async def _take_setup_lock(conn: psycopg.AsyncConnection) -> None:
    """Wait for the migrations lock by polling, never inside a blocking `pg_advisory_lock`.

    The migrations build an index CONCURRENTLY, which waits for every open transaction to end, and a
    worker blocked in `pg_advisory_lock` is such a transaction: the two waited on each other forever, a
    deadlock PostgreSQL does not detect (seen with `serve --workers 2` on a fresh database)."""
    while True:
        row = await (await conn.execute("SELECT pg_try_advisory_lock(%s) AS held", (_SETUP_LOCK,))).fetchone()
        if row["held"]:
            return
        await asyncio.sleep(0.1)


@asynccontextmanager
async def open_checkpointer(settings: Settings) -> AsyncIterator[BaseCheckpointSaver]:
    if is_postgres(settings.catalog_url):
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        await _reachable(psycopg_conninfo(settings.catalog_url))
        async with AsyncConnectionPool(
            psycopg_conninfo(settings.catalog_url),
            min_size=1,
            max_size=8,
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0},
        ) as pool:
            saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
            async with pool.connection() as conn:
                # `serve --workers N` starts N processes at once, and their migrations raced on a fresh
                # database (a duplicate key in checkpoint_migrations failed a worker): one at a time.
                await _take_setup_lock(conn)
                try:
                    await saver.setup()
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
            yield saver
        return
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str((settings.data_dir / "threads.db").resolve())) as saver:
        await saver.setup()  # switches the file to WAL
        await saver.conn.execute("PRAGMA synchronous=NORMAL")  # no fsync per checkpoint write; WAL stays safe
        # Several server processes (`serve --workers`) write this file: wait for the writer lock instead of
        # failing after sqlite3's default 5 s with "database is locked".
        await saver.conn.execute("PRAGMA busy_timeout=30000")
        yield saver
