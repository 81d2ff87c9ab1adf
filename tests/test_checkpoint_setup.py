"""The PostgreSQL checkpointer's migrations when several processes start at once (`serve --workers N`).

Real PostgreSQL: a fresh schema, two checkpointers opened together behind a held migrations lock. The
migrations build an index CONCURRENTLY, which waits for every open transaction, so a second process waiting
inside a blocking lock call would hold the first one's migrations forever.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg

from etl_assistant.agent.checkpoint import _SETUP_LOCK, open_checkpointer, psycopg_conninfo
from etl_assistant.config import Settings
from tests.support.postgres import schema_url, temporary_schema


async def _open_and_list(settings: Settings) -> int:
    async with open_checkpointer(settings) as saver:
        return len([c async for c in saver.alist(None, limit=1)])


async def test_two_processes_migrating_at_once_both_finish(tmp_path: Path) -> None:
    with temporary_schema("etla_ckpt_setup") as schema:
        url = schema_url(schema)
        settings = Settings(catalog_url=url, data_dir=tmp_path)
        async with await psycopg.AsyncConnection.connect(psycopg_conninfo(url), autocommit=True) as holder:
            await holder.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))
            openers = [asyncio.create_task(_open_and_list(settings)) for _ in range(2)]
            await asyncio.sleep(1.0)  # both are now queued behind the lock
            await holder.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
            # A bound against a hang (the deadlock never ends), not a speed check.
            listed = await asyncio.wait_for(asyncio.gather(*openers), timeout=120)
        assert listed == [0, 0]  # both opened a working, empty checkpointer
