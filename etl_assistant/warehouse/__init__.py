"""Where data lives: `connect(url)` picks the engine adapter from the URL scheme."""

from __future__ import annotations

from pathlib import Path

from etl_assistant.errors import WarehouseError
from etl_assistant.warehouse.base import ColumnInfo, LoadResult, QueryResult, Warehouse

SCHEMES = "chdb:///path, clickhouse://user:pass@host:8123/db, postgresql://user@host/db or sqlite:///path"


def connect(url: str, *, query_memory_mb: int | None = None) -> Warehouse:
    """The adapter for `url`, its read-only queries capped at `query_memory_mb`."""
    warehouse = _adapter(url)
    warehouse.query_memory_mb = query_memory_mb
    return warehouse


def _adapter(url: str) -> Warehouse:
    """Engines are imported only when used (chDB and drivers are heavy)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "chdb":
        from etl_assistant.warehouse.engine_share import SharedChdbWarehouse, claim_or_find

        owner = claim_or_find(str(Path(url.removeprefix("chdb://")).resolve()))
        if owner is not None:  # a running server holds the directory: go through it
            return SharedChdbWarehouse(url, owner)
        from etl_assistant.warehouse.chdb_engine import ChdbWarehouse

        return ChdbWarehouse(url)
    if scheme in ("clickhouse", "clickhouses"):
        from etl_assistant.warehouse.clickhouse_server import ClickHouseWarehouse

        return ClickHouseWarehouse(url)
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        from etl_assistant.warehouse.postgres_engine import PostgresWarehouse

        return PostgresWarehouse(url)
    if scheme == "sqlite":
        from etl_assistant.warehouse.sqlite_engine import SqliteWarehouse

        return SqliteWarehouse(url)
    raise WarehouseError(f"The warehouse URL {url!r} has an unknown scheme; "
                         f"set ETLA_WAREHOUSE_URL to {SCHEMES}.")


__all__ = ["ColumnInfo", "LoadResult", "QueryResult", "Warehouse", "connect"]
