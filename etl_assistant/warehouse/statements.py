"""The few statements adapters build themselves (drop, count, rename, swap), as sqlglot expressions.

Every statement is rendered for the adapter's dialect and parsed back: a statement sqlglot does not understand
(an opaque `exp.Command`) is a bug, never sent. The one exception is ClickHouse's `EXCHANGE TABLES` / `RENAME
TABLE`, which sqlglot 30 has no expression for: they are assembled from identifiers that sqlglot quotes.
"""

from __future__ import annotations

import re
import secrets

import sqlglot
from sqlglot import exp

from etl_assistant.errors import ToolError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def check_table_name(name: str) -> str:
    """Table names we create are plain identifiers (letters, digits, underscores), so every engine agrees."""
    if not _IDENTIFIER.match(name):
        raise ToolError(
            f"The table name {name!r} is not allowed; "
            "use letters, digits and underscores, starting with a letter."
        )
    return name


def render(expression: exp.Expression, dialect: str) -> str:
    """Render for `dialect` and prove sqlglot can read it back as the same kind of statement."""
    sql = expression.sql(dialect=dialect)
    parsed = sqlglot.parse_one(sql, read=dialect)
    if isinstance(parsed, exp.Command) or type(parsed) is not type(expression):
        raise AssertionError(f"generated SQL does not round-trip through sqlglot: {sql}")
    return sql


def quote(name: str, dialect: str) -> str:
    """An identifier quoted by sqlglot's renderer for `dialect`."""
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def table(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True))


def drop_table(name: str, dialect: str) -> str:
    return render(exp.Drop(tables=[table(name)], kind="TABLE", exists=True), dialect)


def count_rows(name: str, dialect: str) -> str:
    return render(exp.select(exp.Count(this=exp.Star()).as_("n")).from_(table(name)), dialect)


def select_all(name: str, dialect: str, limit: int | None = None) -> str:
    query = exp.select(exp.Star()).from_(table(name))
    return render(query.limit(limit) if limit is not None else query, dialect)


def rename_table(old: str, new: str, dialect: str) -> str:
    """`ALTER TABLE old RENAME TO new` (PostgreSQL, SQLite; ClickHouse uses `clickhouse_rename`)."""
    action = exp.AlterRename(this=exp.Table(this=exp.to_identifier(new, quoted=True)))
    return render(exp.Alter(this=table(old), kind="TABLE", actions=[action]), dialect)


def clickhouse_exchange(a: str, b: str) -> str:
    """Atomic swap of two ClickHouse tables (no sqlglot expression exists for it)."""
    return f"EXCHANGE TABLES {quote(a, 'clickhouse')} AND {quote(b, 'clickhouse')}"


def clickhouse_rename(old: str, new: str) -> str:
    """ClickHouse `RENAME TABLE` (no sqlglot expression exists for it)."""
    return f"RENAME TABLE {quote(old, 'clickhouse')} TO {quote(new, 'clickhouse')}"


def staging_name(name: str) -> str:
    """A fresh name next to `name` for building a table before it is swapped in."""
    return f"{name[:40]}__staging_{secrets.token_hex(4)}"


def clickhouse_tables() -> str:
    """User tables of the current ClickHouse database."""
    query = (exp.select("name").from_("system.tables")
             .where(exp.column("database").eq(exp.func("currentDatabase")))
             .where(exp.Not(this=exp.column("is_temporary")))
             .order_by(exp.Ordered(this=exp.column("name"), nulls_first=False)))
    return render(query, "clickhouse")


def clickhouse_columns(name: str) -> str:
    """Columns of one table of the current ClickHouse database, in order."""
    query = (exp.select("name", "type").from_("system.columns")
             .where(exp.column("database").eq(exp.func("currentDatabase")))
             .where(exp.column("table").eq(exp.Literal.string(name)))
             .order_by(exp.Ordered(this=exp.column("position"), nulls_first=False)))
    return render(query, "clickhouse")


def clickhouse_nullable(type_text: str) -> bool:
    return type_text.startswith(("Nullable(", "LowCardinality(Nullable("))


def create_namespace(name: str, dialect: str) -> str:
    """A tenant's namespace: CREATE DATABASE (ClickHouse) or CREATE SCHEMA (PostgreSQL) IF NOT EXISTS."""
    kind = "DATABASE" if dialect == "clickhouse" else "SCHEMA"
    created = exp.Create(kind=kind, this=exp.Table(this=exp.to_identifier(name, quoted=True)), exists=True)
    return render(created, dialect)
