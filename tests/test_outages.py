"""Parts that are down give a sentence that says what to do, never a crash or a 30-second hang: the
PostgreSQL catalog at start-up (a closed port on loopback), Redis for deploy locks, the vector store under
`ask` (a Chroma URL nobody listens on: the question is still answered, only the cache is skipped)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from etl_assistant.agent.checkpoint import open_checkpointer
from etl_assistant.config import Settings
from etl_assistant.deploy.locks import deploy_locks
from etl_assistant.errors import WarehouseError
from etl_assistant.evals.sample_data import write_retail
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse.chdb_engine import close_sessions


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


async def test_catalog_down_at_start_is_one_sentence_without_the_password():
    port = closed_port()
    settings = Settings(catalog_url=f"postgresql://postgres:s3cret@127.0.0.1:{port}/etla", _env_file=None)
    started = time.monotonic()
    with pytest.raises(WarehouseError) as caught:
        async with open_checkpointer(settings):
            pass
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert message.startswith(f"Cannot reach the PostgreSQL catalog at 127.0.0.1:{port}/etla")
    assert "ETLA_CATALOG_URL" in message and "s3cret" not in message


def test_redis_down_for_deploy_locks_is_a_sentence():
    settings = Settings(redis_url=f"redis://127.0.0.1:{closed_port()}/0", _env_file=None)
    with pytest.raises(WarehouseError, match="Cannot reach Redis for deploy locks.*ETLA_REDIS_URL"):
        with deploy_locks(settings, "default", ["orders"]):
            pass


def test_ask_answers_with_the_vector_store_down(tmp_path: Path):
    write_retail(str(tmp_path), orders=200)
    settings = Settings(allowed_roots=[tmp_path], data_dir=tmp_path / "data", _env_file=None,
                        chroma_url=f"http://127.0.0.1:{closed_port()}")
    ctx = ToolContext(settings=settings)
    try:
        get_tool("load_table").run(ctx, {"path": str(tmp_path / "orders.csv")})
        answer = get_tool("ask").run(ctx, {"question": "total amount by region"})
    finally:
        close_sessions()
    assert answer.sql and answer.rows and "region" in answer.columns
