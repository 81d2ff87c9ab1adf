"""What the embedded (chDB) and server (clickhouse-connect) ClickHouse adapters share: one SQL dialect, so
one way to introspect tables and to swap a staging table in atomically (`EXCHANGE TABLES`)."""

from __future__ import annotations

from etl_assistant.warehouse import statements
from etl_assistant.warehouse.base import ColumnInfo, Warehouse


class ClickHouseFamily(Warehouse):
    dialect = "clickhouse"

    def tables(self) -> list[str]:
        return [row[0] for row in self.query(statements.clickhouse_tables(), read_only=False).rows]

    def columns(self, table: str) -> list[ColumnInfo]:
        rows = self.query(statements.clickhouse_columns(table), read_only=False).rows
        return [ColumnInfo(name, type_, statements.clickhouse_nullable(type_)) for name, type_ in rows]

    def count_rows(self, table: str) -> int:
        return int(self.query(statements.count_rows(table, self.dialect), read_only=False).rows[0][0])

    def drop_table(self, table: str) -> None:
        self.execute(statements.drop_table(table, self.dialect))

    def swap_table(self, staging: str, table: str) -> None:
        if self.table_exists(table):
            self.execute(statements.clickhouse_exchange(staging, table))
            self.drop_table(staging)
        else:
            self.execute(statements.clickhouse_rename(staging, table))
