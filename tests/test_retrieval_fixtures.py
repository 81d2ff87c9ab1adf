"""Shared data for the retrieval, LLM NL->SQL, verify and semantic-cache tests (no tests of its own).

Six small unrelated tables loaded through the real infer_schema + load_table tools into a chDB warehouse
with a SQLite catalog, so retrieval has to pick the relevant ones.
"""

from __future__ import annotations

import csv
from pathlib import Path

from etl_assistant.config import Settings
from etl_assistant.tools import ToolContext, get_tool

REGIONS = ["Europe", "Asia", "America"]
ORDERS = [
    # order_id, customer_id, region, amount, order_date, status
    (
        i,
        1 + i % 4,
        REGIONS[i % 3],
        10 * i + 5,
        f"{2023 + i % 2}-{1 + i % 12:02d}-{1 + i % 27:02d}",
        "cancelled" if i % 5 == 0 else "shipped",
    )
    for i in range(1, 61)
]
TABLES: dict[str, tuple[list[str], list[tuple]]] = {
    "customers": (
        ["customer_id", "customer_name", "country"],
        [(1, "Ada", "Germany"), (2, "Bo", "Japan"), (3, "Cy", "Brazil"), (4, "Di", "France")],
    ),
    "orders": (["order_id", "customer_id", "region", "amount", "order_date", "status"], ORDERS),
    "employees": (
        ["employee_id", "full_name", "department", "salary"],
        [
            (i, f"Person {i}", ["Sales", "Engineering", "Finance"][i % 3], 40000 + 1000 * i)
            for i in range(1, 13)
        ],
    ),
    "weather": (
        ["day", "city", "temperature_c", "rainfall_mm"],
        [
            (f"2024-05-{d:02d}", c, 10 + d % 7 + k, d % 4)
            for d in range(1, 11)
            for k, c in enumerate(["Oslo", "Rome"])
        ],
    ),
    "web_sessions": (
        ["session_id", "browser", "duration_s", "pages_viewed"],
        [(i, ["Firefox", "Chrome", "Safari"][i % 3], 30 + 7 * i, 1 + i % 6) for i in range(1, 25)],
    ),
    "inventory": (
        ["sku", "warehouse_location", "stock_units", "reorder_level"],
        [(f"SKU-{i:03d}", ["North", "South"][i % 2], 100 - 3 * i, 20) for i in range(1, 16)],
    ),
}


def write_tables(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (header, rows) in TABLES.items():
        path = root / f"{name}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        paths[name] = path
    return paths


def settings_for(root: Path, **extra: object) -> Settings:
    """chDB under `root` unless `warehouse_url` is given; catalog and vector store under `root` too."""
    return Settings(
        **{
            "allowed_roots": [root],
            "data_dir": root / "data",
            "warehouse_url": f"chdb://{root / 'warehouse'}",
            "catalog_url": f"sqlite:///{root / 'catalog.db'}",
            "_env_file": None,
            **extra,
        }
    )


def build_warehouse(root: Path, only: list[str] | None = None, **extra: object) -> ToolContext:
    """The tables (default: all six) inferred and loaded for tenant `default` (customers before orders:
    inference finds the reference from orders.customer_id)."""
    ctx = ToolContext(settings=settings_for(root, **extra))
    for name, path in write_tables(root / "source").items():
        if only is None or name in only:
            get_tool("infer_schema").run(ctx, {"path": str(path), "name": name})
            get_tool("load_table").run(ctx, {"dataset": name, "replace": True})
    return ctx


def revenue_by_region(year: int | None = None, exclude_status: str | None = None) -> dict[str, int]:
    totals: dict[str, int] = {}
    for _, _, region, amount, day, status in ORDERS:
        if (year is None or day.startswith(str(year))) and status != exclude_status:
            totals[region] = totals.get(region, 0) + amount
    return totals
