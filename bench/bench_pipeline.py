"""Pipeline runs PostgreSQL -> embedded chDB beside chDB's own statement for the same rows, in the same run.

    .venv/bin/python bench/bench_pipeline.py --rows 200000 --changed 50000   # while developing
    .venv/bin/python bench/bench_pipeline.py                                 # 10M rows, 1M changed

Full refresh: `run_pipeline` of a full-refresh pipeline (staging table from the target's DDL, INSERT ...
SELECT from `postgresql()`, count, EXCHANGE TABLES, catalog bookkeeping) against a bare
`INSERT INTO t SELECT * FROM postgresql(...)` into a fresh table of the same DDL. Incremental: `run_pipeline`
of an incremental pipeline (cursor max on the source, the cursor window pushed down, ReplacingMergeTree
versions, cursor commit) after `--changed` rows were updated, against the same native INSERT with the same
cursor WHERE into a table of the same DDL. Ratio = ours / native (aim <= 1.3). The source database is created
under a unique name and dropped afterwards. Not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from sqlglot import exp

from etl_assistant.config import Settings
from etl_assistant.pipelines.extract import pg_table_ref, postgresql_function
from etl_assistant.pipelines.load import literal, staging_create
from etl_assistant.pipelines.runner import run_pipeline
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse import statements

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def make_source(rows: int) -> tuple[str, str]:
    name = f"etla_bench_pipe_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE sales (id bigint PRIMARY KEY, region text NOT NULL, "
                     "customer_id int NOT NULL, amount numeric(12, 2) NOT NULL, "
                     "updated_at timestamptz NOT NULL)")
        conn.execute("INSERT INTO sales SELECT g, (ARRAY['north','south','east','west'])[g %% 4 + 1], "
                     "g %% 50000, (g %% 10000) / 100.0, "
                     "timestamptz '2026-01-01 00:00:00+00' + g * interval '1 millisecond' "
                     "FROM generate_series(1, %s::bigint) g", [rows])
        conn.execute("CREATE INDEX ON sales (updated_at)")
        conn.execute("VACUUM ANALYZE sales")
    return name, url


def drop_source(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create_pipeline(ctx: ToolContext, **request: object) -> str:
    planned = get_tool("create_pipeline").run(ctx, request)
    get_tool("apply_deploy").run(ctx, {"plan_id": planned.plan_id})
    return planned.pipeline.name


def native_insert(ctx: ToolContext, url: str, create_sql: str, where: exp.Expression | None,
                  batch: bool) -> tuple[float, int]:
    """chDB's own INSERT ... SELECT * FROM postgresql(...) [WHERE ...] into a fresh table of the same DDL."""
    warehouse = ctx.warehouse
    warehouse.drop_table("bench_native")
    warehouse.execute(staging_create(create_sql, "bench_native", "clickhouse"))
    columns: list[exp.Expression] = [exp.Star()]
    if batch:
        columns.append(exp.Literal.number(1))
    select = exp.select(*columns).from_(postgresql_function(pg_table_ref(url, "sales")))
    if where is not None:
        select = select.where(where)
    started = time.perf_counter()
    warehouse.execute(statements.render(exp.insert(select, statements.table("bench_native")), "clickhouse"))
    elapsed = time.perf_counter() - started
    rows = warehouse.count_rows("bench_native")
    warehouse.drop_table("bench_native")
    return elapsed, rows


def timed_run(ctx: ToolContext, name: str) -> tuple[float, int]:
    started = time.perf_counter()
    report = run_pipeline(ctx, name, trigger="bench")
    elapsed = time.perf_counter() - started
    assert report is not None and report.status == "succeeded", report
    return elapsed, report.rows_written


def report(label: str, ours: tuple[float, int], native: tuple[float, int]) -> None:
    (ours_s, ours_rows), (native_s, native_rows) = ours, native
    print(f"{label:<13} ours {ours_s:7.2f}s ({ours_rows / ours_s:>12,.0f} rows/s)   native {native_s:7.2f}s "
          f"({native_rows / native_s:>12,.0f} rows/s)   ratio {ours_s / native_s:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--changed", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="full refresh runs per side (best is kept)")
    args = parser.parse_args()
    source_name, url = make_source(args.rows)
    try:
        with tempfile.TemporaryDirectory(prefix="etla-bench-pipe-") as tmp:
            settings = Settings(data_dir=Path(tmp) / "data", allowed_roots=[Path(tmp)],
                                connections={"shop": url}, _env_file=None)
            ctx = ToolContext(settings=settings)
            full = create_pipeline(ctx, source_connection="shop", source_table="sales",
                                   target_table="sales_full", mode="full_refresh")
            full_ddl = ctx.catalog.get_table("default", "sales_full").ddl.split(";\n")[0]
            ours, native = (float("inf"), 0), (float("inf"), 0)
            for _ in range(args.repeat):
                ours = min(ours, timed_run(ctx, full))
                native = min(native, native_insert(ctx, url, full_ddl, None, batch=False))
            assert ours[1] == native[1] == args.rows, (ours, native)
            print(f"PostgreSQL -> chDB, {args.rows:,} rows, best of {args.repeat}")
            report("full refresh", ours, native)

            incremental = create_pipeline(ctx, source_connection="shop", source_table="sales",
                                          target_table="sales_inc", mode="incremental", cursor="updated_at",
                                          primary_key=["id"])
            versions_ddl = ctx.catalog.get_table("default", "sales_inc").ddl.split(";\n")[0]
            since = datetime.now(UTC)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("UPDATE sales SET amount = amount + 1, updated_at = now() WHERE id <= %s",
                             [args.changed])
                conn.execute("VACUUM ANALYZE sales")
            ours = timed_run(ctx, incremental)
            where = exp.GTE(this=exp.column("updated_at"), expression=literal(since))
            native = native_insert(ctx, url, versions_ddl, where, batch=True)
            assert ours[1] >= args.changed and native[1] == args.changed, (ours, native)
            print(f"incremental, {args.changed:,} changed rows (cursor WHERE pushed down), one run each")
            report("incremental", ours, native)
    finally:
        drop_source(source_name)


if __name__ == "__main__":
    main()
