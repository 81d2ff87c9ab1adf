"""Limits from settings on real engines and real clients: each refusal is one sentence and writes nothing.

- uploads: a gzip bomb (7.8 MB expanding to 3 GB) through the real upload API on a live server, rows, columns
  and line length through the real inference;
- query memory: a cross join with groupArray on chDB under `max_memory_usage`, and the next query still works;
  PostgreSQL gets `work_mem` and `statement_timeout` in the query's own transaction;
- SQL nesting: 3,000 nested parentheses are refused before parsing;
- tool results: a 50,000-column CSV inferred over stdio MCP with the official client comes back summarised.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from etl_assistant.config import Settings
from etl_assistant.errors import InputError, ToolError
from etl_assistant.schema.infer import infer_file
from etl_assistant.server import create_app
from etl_assistant.warehouse import connect
from etl_assistant.warehouse.catalog import Catalog
from etl_assistant.warehouse.safety import guard
from tests.support.live_server import live_server
from tests.support.postgres import schema_url, temporary_schema
from tests.support.scripted_model import ScriptedChatModel, scripted_tools

BIN = Path(sys.executable).parent
LINE = b"2024-01-01,some region,123.45\n"


def write_bomb(path: Path, members: int = 3000) -> None:
    """A multi-member gzip CSV: each member is 1 MiB of rows compressed to ~2.6 KB (3 GB from 7.8 MB)."""
    rows = LINE * ((1 << 20) // len(LINE))
    member = gzip.compress(rows, compresslevel=9)
    with path.open("wb") as out:
        out.write(gzip.compress(b"date,region,amount\n"))
        for _ in range(members):
            out.write(member)


def settings_for(tmp_path: Path, **limits: object) -> Settings:
    return Settings(allowed_roots=[tmp_path], data_dir=tmp_path / "data", _env_file=None, **limits)


def test_gzip_bomb_upload_is_refused_early_and_nothing_is_kept(tmp_path: Path):
    bomb = tmp_path / "bomb.csv.gz"
    write_bomb(bomb)
    assert bomb.stat().st_size < 10 * 1024 * 1024
    data_dir = tmp_path / "data"
    app = create_app(Settings(data_dir=data_dir, allowed_roots=[tmp_path], _env_file=None),
                     model=ScriptedChatModel(), tools=scripted_tools(data_dir / "audit.db"))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with live_server(app) as server, httpx.Client(base_url=server.url, timeout=120) as http:
        started = time.monotonic()
        response = http.post("/v1/datasets", files={"file": ("bomb.csv.gz", bomb.read_bytes())})
        elapsed = time.monotonic() - started
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert "expands to about" in message and "ETLA_MAX_DECOMPRESSED_MB" in message
    assert elapsed < 30  # refused from the projected size, not after reading 1 GiB
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mib < 500, f"peak RSS grew {grown_mib:.0f} MiB"
    assert Catalog(f"sqlite:///{data_dir / 'catalog.db'}").list_datasets("default") == []
    assert not (data_dir / "uploads" / "default" / "bomb.csv.gz").exists()


def test_decompressed_bytes_limit_without_projection(tmp_path: Path):
    """A file that compresses evenly is stopped at the limit itself (here 8 MiB of a 40 MiB expansion)."""
    bomb = tmp_path / "even.csv.gz"
    write_bomb(bomb, members=40)
    with pytest.raises(InputError, match="over the limit of 8 MiB"):
        infer_file(bomb, settings_for(tmp_path, max_decompressed_mb=8))
    assert infer_file(bomb, settings_for(tmp_path)).row_count == 40 * ((1 << 20) // len(LINE))


def test_rows_columns_and_line_limits(tmp_path: Path):
    rows = tmp_path / "rows.csv"
    rows.write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(1000)))
    with pytest.raises(InputError, match="more than 500 rows, the limit for one file; split it or raise "
                                         "ETLA_MAX_ROWS"):
        infer_file(rows, settings_for(tmp_path, max_rows=500))
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(300)) + "\n" + ",".join("1" * 300) + "\n")
    with pytest.raises(InputError, match="300 columns, more than the limit of 100.*ETLA_MAX_COLUMNS"):
        infer_file(wide, settings_for(tmp_path, max_columns=100))
    long_line = tmp_path / "long.csv"
    long_line.write_text("id,text\n" + "".join(f"{i},short\n" for i in range(100)) + "101," + "x" * (2 << 20)
                         + "\n")
    with pytest.raises(InputError, match="a line of 2.0 MiB, longer than the limit of 1 MiB"):
        infer_file(long_line, settings_for(tmp_path, max_line_kb=1024))
    assert infer_file(long_line, settings_for(tmp_path)).row_count == 101
    catalog = Catalog(settings_for(tmp_path).resolved_catalog_url)
    assert catalog.list_datasets("default") == []


def test_chdb_memory_cap_then_the_next_query_works(tmp_path: Path):
    warehouse = connect(f"chdb:///{tmp_path / 'warehouse'}", query_memory_mb=200)
    warehouse.execute("CREATE TABLE t (a UInt64) ENGINE = MergeTree ORDER BY a")
    warehouse.execute("INSERT INTO t SELECT number FROM numbers(20000)")
    heavy = "SELECT groupArray(concat(toString(x.a), toString(y.a))) FROM t AS x CROSS JOIN t AS y"
    for _ in range(2):
        with pytest.raises(ToolError, match="more than 200 MiB of memory.*ETLA_QUERY_MAX_MEMORY_MB"):
            warehouse.query(heavy, limit=10, timeout_s=30)
        # chDB hands a failed query's partial output to the next query unless it is drained
        assert warehouse.query("SELECT count() AS n FROM t", limit=5).rows == [(20000,)]


def test_postgres_query_runs_with_work_mem_and_timeout():
    with temporary_schema("etla_limits") as schema:
        warehouse = connect(schema_url(schema), query_memory_mb=256)
        settings_sql = "SELECT current_setting('work_mem') AS w, current_setting('statement_timeout') AS t"
        result = warehouse.query(settings_sql, limit=1, timeout_s=5)
        assert result.rows == [("32MB", "5s")]
        with pytest.raises(ToolError, match="ran longer than 1s"):
            warehouse.query("SELECT pg_sleep(3)", limit=1, timeout_s=1)
        with psycopg.connect(schema_url(schema)) as conn:  # the settings stayed in that transaction
            assert conn.execute("SELECT current_setting('work_mem')").fetchone()[0] != "32MB"


def test_deep_sql_is_refused_before_parsing():
    deep = "SELECT " + "(" * 3000 + "1" + ")" * 3000
    started = time.perf_counter()
    with pytest.raises(ToolError, match="nests parentheses 3000 deep, more than the 32 allowed"):
        guard(deep, dialect="clickhouse", allowed_tables=None, limit=10)
    assert time.perf_counter() - started < 5
    near = "SELECT " + "(" * 30 + "1" + ")" * 30
    safe = guard(near, dialect="clickhouse", allowed_tables=None, limit=10, max_depth=32)
    assert safe.endswith("LIMIT 10")


async def test_wide_csv_inference_over_stdio_mcp_is_summarised(tmp_path: Path):
    columns = 50_000
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(columns)) + "\n"
                    + "".join(",".join(str(i + r) for i in range(columns)) + "\n" for r in range(3)))
    env = {**os.environ, "ETLA_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1",
           "ETLA_ALLOWED_ROOTS": json.dumps([str(tmp_path)])}
    params = StdioServerParameters(command=str(BIN / "etl-assistant"), args=["mcp"], env=env,
                                   cwd=str(tmp_path))
    async with Client(params, read_timeout_seconds=180) as client:
        refused = await client.call_tool("infer_schema", {"path": str(wide)})
        assert refused.is_error and "50,000 columns, more than the limit of 2,000" in refused.content[0].text
    env["ETLA_MAX_COLUMNS"] = str(columns)
    async with Client(StdioServerParameters(command=params.command, args=["mcp"], env=env, cwd=str(tmp_path)),
                      read_timeout_seconds=180) as client:
        result = await client.call_tool("infer_schema", {"path": str(wide)})
    assert not result.is_error, result.content
    schema = result.structured_content
    assert schema["row_count"] == 3
    assert 100 < len(schema["columns"]) < columns
    assert any(f"of {columns:,} columns" in w for w in schema["warnings"])
    assert len(json.dumps(schema, separators=(",", ":"))) < 256 * 1024
