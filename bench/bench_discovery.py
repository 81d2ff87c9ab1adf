"""Discovery of a warehouse's own tables: what `refresh` costs beside reading the metadata alone.

    .venv/bin/python bench/bench_discovery.py                      # 30 tables of 20,000 rows, 5 runs
    .venv/bin/python bench/bench_discovery.py --tables 200 --rows 200000

A fresh PostgreSQL database on the local server gets `--tables` tables (an id, a foreign key to the previous
table, a category, an amount, a timestamp), made by plain SQL as if they had always been there. Timed, each
`--runs` times, alternating, median reported:

- baseline: SQLAlchemy's `MetaData.reflect` of every table (columns, primary and foreign keys): the metadata
  every discoverer has to read;
- first refresh: `refresh` into an empty catalog (metadata, a bounded sample profiled, catalog writes);
- unchanged refresh: `refresh` again (metadata only: nothing changed, nothing is profiled);
- bounded: describing one table of `--rows` rows beside one of 100x fewer (the sample caps the cost).

The database is dropped at the end. Not a test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import sqlalchemy as sa
from psycopg import sql
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from etl_assistant.config import Settings  # noqa: E402
from etl_assistant.pipelines.connections import Connection  # noqa: E402
from etl_assistant.pipelines.introspect import describe_table, find_table  # noqa: E402
from etl_assistant.tools.base import ToolContext  # noqa: E402
from etl_assistant.warehouse.discovery import refresh  # noqa: E402

SERVER = "postgresql://postgres@127.0.0.1:5432"


def build(url: str, tables: int, rows: int) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        for i in range(tables):
            parent = f", parent_id int REFERENCES t{i - 1} (id)" if i else ""
            db.execute(f"CREATE TABLE t{i} (id int PRIMARY KEY{parent}, category text, "
                       "amount numeric(12, 2), created_at timestamptz)")
            parent_value = f", 1 + (g % {rows})" if i else ""
            db.execute(f"INSERT INTO t{i} SELECT g{parent_value}, 'c' || (g % 17), (g % 1000) / 10.0, "
                       f"now() - g * interval '1 minute' FROM generate_series(1, {rows}) AS g")
        db.execute("CREATE TABLE small (id int PRIMARY KEY, category text, amount numeric(12, 2), "
                   "created_at timestamptz)")
        db.execute(f"INSERT INTO small SELECT g, 'c' || (g % 17), (g % 1000) / 10.0, now() "
                   f"FROM generate_series(1, {max(rows // 100, 1)}) AS g")
        db.execute("ANALYZE")


def timed_ms(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=30)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    name = f"etla_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{SERVER}/test", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{SERVER}/{name}"
    work = Path(tempfile.mkdtemp(prefix="etla-bench-discovery-"))
    try:
        build(url, args.tables, args.rows)
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        runs = iter(range(1_000_000))

        def reflect() -> None:
            sa.MetaData().reflect(engine)

        def first_refresh() -> None:  # an empty catalog each time
            settings = Settings(data_dir=work / f"run{next(runs)}", warehouse_url=url, _env_file=None)
            report = refresh(ToolContext(settings=settings))
            assert len(report.added) == args.tables + 1, report

        steady = ToolContext(settings=Settings(data_dir=work / "steady", warehouse_url=url, _env_file=None))
        refresh(steady)

        def unchanged_refresh() -> None:
            assert refresh(steady).unchanged == args.tables + 1

        connection = Connection("bench", "postgresql", SecretStr(url))
        big, small = find_table(connection, "t0"), find_table(connection, "small")
        keys = ("reflect", "first", "unchanged", "big", "small")
        timings: dict[str, list[float]] = {key: [] for key in keys}
        for _ in range(args.runs):  # alternating, so a drift of the machine touches every column alike
            for key, fn in (("reflect", reflect), ("first", first_refresh), ("unchanged", unchanged_refresh),
                            ("big", lambda: describe_table(connection, big)),
                            ("small", lambda: describe_table(connection, small))):
                timings[key].append(timed_ms(fn))
        baseline, first, unchanged, describe_big, describe_small = (
            statistics.median(timings[key]) for key in keys)
        engine.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with psycopg.connect(f"{SERVER}/test", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    count = args.tables + 1
    print(f"{count} tables, {args.rows:,} rows each, median of {args.runs} alternating runs (ms)")
    print(f"{'reflect (baseline)':<28}{baseline:>10.0f}   1.00x   {baseline / count:.1f} ms/table")
    print(f"{'first refresh':<28}{first:>10.0f}   {first / baseline:.2f}x   {first / count:.1f} ms/table")
    print(f"{'unchanged refresh':<28}{unchanged:>10.0f}   {unchanged / baseline:.2f}x   "
          f"{unchanged / count:.1f} ms/table")
    print(f"describe {args.rows:,} rows vs {max(args.rows // 100, 1):,}: {describe_big:.0f} ms vs "
          f"{describe_small:.0f} ms ({describe_big / describe_small:.2f}x for 100x the rows)")


if __name__ == "__main__":
    main()
