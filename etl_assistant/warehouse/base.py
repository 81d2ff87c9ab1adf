"""One adapter interface over every warehouse engine (chDB, ClickHouse server, PostgreSQL, SQLite)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from etl_assistant.schema.model import DatasetSchema

if TYPE_CHECKING:  # tools.base loads the tool registry, whose tools import the warehouse package
    from etl_assistant.tools.base import ProgressCallback

# The second half of every load-failure sentence.
LOAD_FAILED_HINT = "check the file against its inferred schema (inspect it again if it changed) and reload"


def memory_message(memory_mb: int | None) -> str:
    """The one sentence every engine gives for a query stopped by its memory cap."""
    return (f"The query needed more than {memory_mb or 0:,} MiB of memory and was stopped; aggregate or "
            "filter more (fewer groups, no cross joins, smaller arrays) or raise ETLA_QUERY_MAX_MEMORY_MB.")


def timeout_message(timeout_s: float | None) -> str:
    """The one sentence every engine gives for a query stopped by its time limit."""
    return (f"The query ran longer than {timeout_s or 0:g}s and was stopped; narrow it down (filters, "
            "aggregates, a smaller time range) and try again.")


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False  # more rows existed than the limit allowed
    elapsed_ms: float = 0.0


@dataclass
class ColumnInfo:
    name: str
    type: str  # the engine's own type text
    nullable: bool


@dataclass
class LoadResult:
    table: str
    rows: int
    elapsed_s: float
    method: str  # e.g. "chdb file()", "COPY", "insert_arrow"
    notes: list[str] = field(default_factory=list)


class Warehouse(ABC):
    """Adapters take SQL we generated (sqlglot-rendered for `dialect`) and files described by a schema."""

    dialect: str  # sqlglot dialect name: "clickhouse", "postgres" or "sqlite"
    url: str
    query_memory_mb: int | None = None  # memory cap of read-only queries (ETLA_QUERY_MAX_MEMORY_MB)

    @abstractmethod
    def execute(self, sql: str) -> None:
        """Run one DDL/DML statement we generated (never user free text)."""

    @abstractmethod
    def query(self, sql: str, *, limit: int | None = None, timeout_s: float | None = None,
              read_only: bool = True) -> QueryResult:
        """Run one read query, bounded by `limit` rows and `timeout_s`; the engine enforces read_only."""

    @abstractmethod
    def load_file(self, table: str, schema: DatasetSchema, *,
                  progress: ProgressCallback | None = None) -> LoadResult:
        """Bulk-load the file `schema.source` into the existing `table` by the engine's native path."""

    @abstractmethod
    def tables(self) -> list[str]:
        """User tables in the current database/schema."""

    @abstractmethod
    def columns(self, table: str) -> list[ColumnInfo]:
        ...

    @abstractmethod
    def count_rows(self, table: str) -> int:
        ...

    @abstractmethod
    def drop_table(self, table: str) -> None:
        """Drop `table` if it exists."""

    @abstractmethod
    def swap_table(self, staging: str, table: str) -> None:
        """Atomically put the fully loaded `staging` in place of `table` (which may not exist yet)."""

    def table_exists(self, table: str) -> bool:
        return table in self.tables()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; adapters that hold none need not override."""
