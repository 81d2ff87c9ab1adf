"""Load throughput of our adapters beside each engine's own load of the same file, in the same run.

    .venv/bin/python bench/bench_load.py --rows 1000000          # while developing
    .venv/bin/python bench/bench_load.py                         # ~10M rows / ~1 GB of CSV

For chDB: `ChdbWarehouse.load_file` (schema-driven conversions over `file()`) vs a bare
`INSERT INTO t SELECT * FROM file(path, 'CSVWithNames')`. For PostgreSQL: `PostgresWarehouse.load_file`
(COPY FROM STDIN) vs a server-side `COPY t FROM '/path' (FORMAT csv, HEADER)`. Every load goes into an empty
table made from the same generated DDL; the ratio is ours / native (aim: <= 1.3). The typed-batch fallback
path is measured too. Not a test.
"""

from __future__ import annotations

import argparse
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql
from sqlglot import exp

from etl_assistant.config import Settings
from etl_assistant.ddl import generate_ddl
from etl_assistant.evals.sample_data import write_retail
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse import Warehouse, connect, statements
from etl_assistant.warehouse.catalog import Catalog

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def fresh_table(warehouse: Warehouse, schema: DatasetSchema, table: str) -> None:
    warehouse.drop_table(table)
    for statement in generate_ddl(schema, warehouse.dialect, table).statements:
        warehouse.execute(statement)


def bench_engine(warehouse: Warehouse, schema: DatasetSchema, native: Callable[[str], None],
                 repeat: int) -> dict[str, tuple[float, str]]:
    """Best seconds (and method) of each way to load; they alternate `repeat` times so none always runs warm.

    "ours, typed" forces the typed Arrow batch path (the fallback for files an engine cannot read as-is) by
    declaring the file Latin-1, which reads the same as UTF-8 for the ASCII the generator writes.
    """
    latin1 = schema.dialect.model_copy(update={"encoding": "iso-8859-1"})
    typed = schema.model_copy(update={"dialect": latin1})
    loads: dict[str, Callable[[str], str]] = {
        "native": lambda table: (native(table), "engine's own load")[1],
        "ours": lambda table: warehouse.load_file(table, schema).method,
        "ours, typed": lambda table: warehouse.load_file(table, typed).method,
    }
    best: dict[str, tuple[float, str]] = {name: (float("inf"), "") for name in loads}
    for _ in range(repeat):
        for name, load in loads.items():
            fresh_table(warehouse, schema, "bench_load")
            started = time.perf_counter()
            method = load("bench_load")
            best[name] = min(best[name], (time.perf_counter() - started, method))
            assert warehouse.count_rows("bench_load") == schema.row_count, f"{name} lost rows"
    warehouse.drop_table("bench_load")
    return best


def chdb_native(warehouse: Warehouse, path: Path) -> Callable[[str], None]:
    def load(table: str) -> None:
        # The engine's own load of the file as-is (its schema inference, its conversions).
        source = exp.Anonymous(this="file", expressions=[exp.Literal.string(str(path)),
                                                         exp.Literal.string("CSVWithNames")])
        insert = exp.insert(exp.select(exp.Star()).from_(exp.Table(this=source)), statements.table(table))
        warehouse.execute(statements.render(insert, "clickhouse"))
    return load


def postgres_native(url: str, path: Path) -> Callable[[str], None]:
    def load(table: str) -> None:
        with psycopg.connect(url) as conn:  # server-side COPY of the file itself
            conn.execute(sql.SQL("COPY {} FROM {} WITH (FORMAT csv, HEADER true)").format(
                sql.Identifier(table), sql.Literal(str(path))))
    return load


def generated_orders(work: Path, rows: int) -> Path:
    """A fresh work dir with a generated orders CSV that the PostgreSQL server may read (for native COPY)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    work.chmod(0o755)
    started = time.perf_counter()
    path = write_retail(work / "src", rows, fmt="csv")["orders"]
    path.parent.chmod(0o755)
    size_gb = path.stat().st_size / 1e9
    print(f"generated {rows:,} rows, {size_gb:.2f} GB in {time.perf_counter() - started:.1f}s")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="orders rows in the generated CSV")
    parser.add_argument("--dir", type=Path, default=Path("bench/out/load"), help="work directory")
    parser.add_argument("--repeat", type=int, default=2, help="runs per side; the best is reported")
    parser.add_argument("--engines", default="chdb,postgres", help="comma list: chdb, postgres")
    args = parser.parse_args()

    work = args.dir.resolve()
    path = generated_orders(work, args.rows)

    settings = Settings(data_dir=work, allowed_roots=[work])
    ctx = ToolContext(settings=settings, _overrides={"catalog": Catalog(f"sqlite:///{work / 'catalog.db'}")})
    started = time.perf_counter()
    schema = get_tool("infer_schema").run(ctx, {"path": str(path)})
    elapsed = time.perf_counter() - started
    print(f"inferred {len(schema.columns)} columns, {schema.row_count:,} rows in {elapsed:.1f}s")

    results: dict[str, dict[str, tuple[float, str]]] = {}
    engines = args.engines.split(",")
    if "chdb" in engines:
        chdb = connect(f"chdb://{work / 'chdb'}")
        results["chdb"] = bench_engine(chdb, schema, chdb_native(chdb, path), args.repeat)
    if "postgres" in engines:
        pg_schema = f"etla_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg_schema)))
        url = f"{PG_ADMIN}?options=-csearch_path%3D{pg_schema}"
        try:
            pg = connect(url)
            results["postgres"] = bench_engine(pg, schema, postgres_native(url, path), args.repeat)
            pg.close()
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(pg_schema)))

    rows = schema.row_count
    print(f"\n{'engine':<10}{'load':<13}{'seconds':>9}{'rows/s':>12}{'vs native':>11}  method")
    for engine, loads in results.items():
        native_s = loads["native"][0]
        for name, (seconds, method) in loads.items():
            print(f"{engine:<10}{name:<13}{seconds:>9.2f}{rows / seconds:>12,.0f}"
                  f"{seconds / native_s:>10.2f}x  {method}")

if __name__ == "__main__":
    main()
