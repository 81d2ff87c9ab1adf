"""Deploy throughput beside each engine's own load of the same file, and datamart backfill time, in one run.

    .venv/bin/python bench/bench_deploy.py --rows 1000000        # while developing
    .venv/bin/python bench/bench_deploy.py                       # ~10M rows / ~1 GB of CSV

Table: `apply_deploy` of a plan creating `orders` (staging table, native bulk load, count check, swap,
history) vs the engine's bare load of the file into a table from the same DDL (chDB `INSERT ... SELECT FROM
file()`, PostgreSQL server-side `COPY`), both from bench_load.py. Datamart: `apply_deploy` of "daily revenue
and order count per region" (staging target, backfill, group-count check, swap, materialized view) vs the
bare statements (ClickHouse CREATE + INSERT ... SELECT; PostgreSQL CREATE MATERIALIZED VIEW). Sides
alternate `--repeat` times; each table side starts from an empty warehouse and each deploy from a fresh
tenant (so no deploy is a no-op); the best and the median time are reported, ratios use the medians.
Ratio = deploy / bare (aim: <= 1.3). Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import psycopg
from bench_load import PG_ADMIN, chdb_native, generated_orders, postgres_native
from psycopg import sql

from etl_assistant.config import Settings
from etl_assistant.datamart import build_definition, parse_request
from etl_assistant.ddl import generate_ddl
from etl_assistant.deploy.swap import drop_object, object_names
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse import Warehouse, connect
from etl_assistant.warehouse.catalog import Catalog

MART = "daily revenue and order count per region"


def empty(warehouse: Warehouse) -> None:
    """Drop everything (datamarts first: on PostgreSQL they depend on the table)."""
    for name in sorted(object_names(warehouse), key=lambda n: n.startswith("orders")):
        drop_object(warehouse, name)


class Bench:
    def __init__(
        self, warehouse: Warehouse, schema: DatasetSchema, settings: Settings, catalog: Catalog
    ) -> None:
        self.warehouse, self.schema, self.settings, self.catalog = warehouse, schema, settings, catalog

    def context(self) -> ToolContext:
        """A fresh tenant knowing only the orders dataset: nothing of it is deployed yet."""
        tenant = f"bench_{uuid.uuid4().hex[:8]}"
        self.catalog.save_dataset(tenant, self.schema)
        return ToolContext(
            settings=self.settings,
            tenant=tenant,
            _overrides={"warehouse": self.warehouse, "catalog": self.catalog},
        )

    def deploy_table(self) -> tuple[float, ToolContext]:
        """Seconds to apply a plan creating `orders`, and the tenant that now has it deployed."""
        empty(self.warehouse)
        ctx = self.context()
        plan = get_tool("plan_deploy").run(ctx, {"datasets": ["orders"]})
        started = time.perf_counter()
        get_tool("apply_deploy").run(ctx, {"plan_id": plan.plan_id})
        return time.perf_counter() - started, ctx

    def native_table(self, native: Callable[[str], None]) -> float:
        empty(self.warehouse)
        for statement in generate_ddl(self.schema, self.warehouse.dialect, "orders").statements:
            self.warehouse.execute(statement)
        started = time.perf_counter()
        native("orders")
        return time.perf_counter() - started

    def deploy_mart(self, ctx: ToolContext, name: str) -> float:
        """Seconds to apply a plan creating the datamart over the deployed `orders`."""
        get_tool("design_datamart").run(ctx, {"request": MART, "dataset": "orders", "name": name})
        plan = get_tool("plan_deploy").run(ctx, {"datamarts": [name]})
        started = time.perf_counter()
        get_tool("apply_deploy").run(ctx, {"plan_id": plan.plan_id})
        return time.perf_counter() - started

    def native_mart(self, name: str) -> float:
        """Seconds of the datamart's own statements (create + backfill), nothing around them."""
        spec = parse_request(MART, self.schema, name)
        definition = build_definition(spec, self.schema, self.warehouse.dialect, "orders")
        started = time.perf_counter()
        for statement in [*definition.create, *filter(None, [definition.backfill])]:
            self.warehouse.execute(statement)
        return time.perf_counter() - started


def run_engine(bench: Bench, native: Callable[[str], None], repeat: int) -> dict[str, list[float]]:
    """Seconds of each side over `repeat` alternations; the datamart sides run over the table the deploy
    side just made."""
    times: dict[str, list[float]] = defaultdict(list)
    for round_ in range(repeat):
        times["table: bare load"].append(bench.native_table(native))
        seconds, ctx = bench.deploy_table()
        times["table: deploy"].append(seconds)
        times["datamart: bare"].append(bench.native_mart(f"bare_mart_{round_}"))
        times["datamart: deploy"].append(bench.deploy_mart(ctx, f"mart_{round_}"))
    empty(bench.warehouse)
    return dict(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000, help="orders rows in the generated CSV")
    parser.add_argument("--dir", type=Path, default=Path("bench/out/deploy"), help="work directory")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; best and median reported")
    parser.add_argument("--engines", default="chdb,postgres", help="comma list: chdb, postgres")
    args = parser.parse_args()

    work = args.dir.resolve()
    path = generated_orders(work, args.rows)
    settings = Settings(data_dir=work, allowed_roots=[work], _env_file=None)
    catalog = Catalog(f"sqlite:///{work / 'catalog.db'}")
    ctx = ToolContext(settings=settings, _overrides={"catalog": catalog})
    schema = get_tool("infer_schema").run(ctx, {"path": str(path)})

    results: dict[str, dict[str, list[float]]] = {}
    engines = args.engines.split(",")
    if "chdb" in engines:
        chdb = connect(f"chdb://{work / 'chdb'}")
        results["chdb"] = run_engine(
            Bench(chdb, schema, settings, catalog), chdb_native(chdb, path), args.repeat
        )
    if "postgres" in engines:
        pg_schema = f"etla_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg_schema)))
        url = f"{PG_ADMIN}?options=-csearch_path%3D{pg_schema}"
        try:
            pg = connect(url)
            results["postgres"] = run_engine(
                Bench(pg, schema, settings, catalog), postgres_native(url, path), args.repeat
            )
            pg.close()
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(pg_schema)))

    rows = schema.row_count
    print(f"\n{'engine':<10}{'what':<18}{'best s':>8}{'median s':>10}{'rows/s':>13}{'vs bare':>9}")
    for engine, sides in results.items():
        for name, times in sides.items():
            median = statistics.median(times)
            baseline = "table: bare load" if name.startswith("table") else "datamart: bare"
            bare = statistics.median(sides[baseline])
            print(f"{engine:<10}{name:<18}{min(times):>8.2f}{median:>10.2f}{rows / median:>13,.0f}"
                  f"{median / bare:>8.2f}x")


if __name__ == "__main__":
    main()
