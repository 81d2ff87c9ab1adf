"""What a connection holds: its tables and views per schema, and one table described as a `DatasetSchema`.

Columns, types, nullability, keys and foreign keys come from the database itself (SQLAlchemy's inspector for
PostgreSQL and SQLite, `system.tables` / `system.columns` for ClickHouse and chDB, which have no key
constraints); the statistics (distinct, nulls, min/max, samples) come from a bounded sample run read-only
with a timeout and profiled by the same `ColumnStats` pass as files. A column's identifier is its name in
the database, so SQL built from the schema reads the table as it is.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal
from uuid import UUID

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine.reflection import ObjectKind
from sqlalchemy.exc import SQLAlchemyError
from sqlglot import exp

from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.pipelines.connections import WAREHOUSE, Connection
from etl_assistant.redact import redact_text
from etl_assistant.schema.infer import profile_columns
from etl_assistant.schema.model import ColumnProfile, DatasetSchema, LogicalType, Relationship, TypeDetails
from etl_assistant.schema.naming import to_identifier
from etl_assistant.schema.readers import value_text
from etl_assistant.warehouse import connect
from etl_assistant.warehouse.base import Warehouse
from etl_assistant.warehouse.catalog import sqlalchemy_url
from etl_assistant.warehouse.statements import render

CONNECTION_SOURCE = "connection:"  # DatasetSchema.source of a connection's table: connection:<name>/<table>
SAMPLE_ROWS = 10_000
SAMPLE_TIMEOUT_S = 30.0
TableKind = Literal["table", "view"]
_PG_SYSTEM = frozenset({"information_schema", "pg_catalog", "pg_toast"})
_CH_SYSTEM = frozenset({"system", "information_schema", "INFORMATION_SCHEMA"})
_CH_VIEWS = frozenset({"View", "MaterializedView", "LiveView", "WindowView"})


@dataclass(frozen=True)
class TableRef:
    """A table or view of a connection. `schema` is the PostgreSQL schema, ClickHouse database or SQLite's
    `main`."""

    schema: str | None
    name: str
    kind: TableKind = "table"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def expression(self) -> exp.Table:
        """The table as a sqlglot node, every part quoted by the renderer."""
        return exp.Table(this=exp.to_identifier(self.name, quoted=True),
                         db=exp.to_identifier(self.schema, quoted=True) if self.schema else None)


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_schema: str | None
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class ColumnDef:
    name: str
    type: str  # the database's own type text
    nullable: bool


@dataclass
class TableShape:
    """A table's structure as the database declares it."""

    table: TableRef
    columns: list[ColumnDef]
    primary_key: tuple[str, ...] = ()
    unique: list[tuple[str, ...]] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    row_estimate: int | None = None  # the engine's own statistic, no scan


def sql_dialect(connection: Connection) -> str:
    """The sqlglot dialect SQL for this connection is rendered in."""
    return {"postgresql": "postgres", "sqlite": "sqlite"}.get(connection.kind, "clickhouse")


def _failure(connection: Connection, exc: BaseException) -> WarehouseError:
    text = str(getattr(exc, "orig", None) or exc).strip()
    first = redact_text(text.splitlines()[0] if text else type(exc).__name__)
    setting = "ETLA_WAREHOUSE_URL" if connection.name == WAREHOUSE else "the connection's URL"
    return WarehouseError(f"Cannot read connection {connection.name!r}: {first.rstrip('.')}; check that the "
                          f"database is reachable, and {setting} and the rights it grants.")


# --- PostgreSQL and SQLite: SQLAlchemy's inspector ----------------------------------------------------------


@lru_cache(maxsize=32)
def _engine(url: str) -> sa.Engine:
    """One small pool per connection URL (metadata reads only; samples go through the warehouse adapter)."""
    if url.startswith("sqlite"):
        return sa.create_engine(url)
    return sa.create_engine(sqlalchemy_url(url), pool_pre_ping=True, pool_size=2, max_overflow=2,
                            connect_args={"connect_timeout": 10})


def _inspector(connection: Connection) -> sa.Inspector:
    try:
        return sa.inspect(_engine(connection.url))
    except SQLAlchemyError as exc:
        raise _failure(connection, exc) from exc


def _sql_tables(connection: Connection, schema: str | None) -> list[TableRef]:
    inspector = _inspector(connection)
    try:
        schemas = [schema] if schema else [s for s in inspector.get_schema_names() if s not in _PG_SYSTEM]
        found: list[TableRef] = []
        for name in schemas:
            shown = None if connection.kind == "sqlite" and name == "main" else name
            found += [TableRef(shown, t, "table") for t in inspector.get_table_names(schema=name)]
            views = set(inspector.get_view_names(schema=name))
            if connection.kind == "postgresql":
                views |= set(inspector.get_materialized_view_names(schema=name))
            found += [TableRef(shown, v, "view") for v in sorted(views)]
    except SQLAlchemyError as exc:
        raise _failure(connection, exc) from exc
    return found


def _sql_shapes(connection: Connection, tables: list[TableRef]) -> dict[TableRef, TableShape]:
    """Every table's shape with one reflection query per kind of fact and schema (SQLAlchemy's get_multi_*),
    not one per table."""
    inspector = _inspector(connection)
    engine = _engine(connection.url)
    shapes: dict[TableRef, TableShape] = {}
    by_schema: dict[str | None, list[TableRef]] = {}
    for table in tables:
        by_schema.setdefault(table.schema, []).append(table)
    try:
        for schema, group in by_schema.items():
            names = [t.name for t in group]
            plain = [t.name for t in group if t.kind == "table"]
            columns = inspector.get_multi_columns(schema=schema, filter_names=names, kind=ObjectKind.ANY)
            keys = {"schema": schema, "filter_names": plain, "kind": ObjectKind.TABLE}
            primary = inspector.get_multi_pk_constraint(**keys) if plain else {}
            constraints = inspector.get_multi_unique_constraints(**keys) if plain else {}
            indexes = inspector.get_multi_indexes(**keys) if plain else {}
            foreign = inspector.get_multi_foreign_keys(**keys) if plain else {}
            estimates = _pg_estimates(connection, schema) if plain else {}
            for table in group:
                key = (schema, table.name)
                unique = [tuple(u["column_names"]) for u in constraints.get(key, [])] + [
                    tuple(i["column_names"]) for i in indexes.get(key, [])
                    if i.get("unique") and all(i["column_names"])]
                shapes[table] = TableShape(
                    table,
                    [ColumnDef(c["name"], _type_text(c["type"], engine), bool(c.get("nullable", True)))
                     for c in columns.get(key, [])],
                    tuple((primary.get(key) or {}).get("constrained_columns") or ()),
                    list(dict.fromkeys(unique)),
                    [ForeignKey(tuple(fk["constrained_columns"]), fk.get("referred_schema") or schema,
                                fk["referred_table"], tuple(fk["referred_columns"]))
                     for fk in foreign.get(key, []) if fk.get("referred_table")],
                    estimates.get(table.name),
                )
    except SQLAlchemyError as exc:
        raise _failure(connection, exc) from exc
    return shapes


def _type_text(type_: sa.types.TypeEngine, engine: sa.Engine) -> str:
    try:
        return type_.compile(dialect=engine.dialect)
    except Exception:  # noqa: BLE001 - a type the dialect cannot render (NullType in SQLite): no type
        return ""


def _pg_estimates(connection: Connection, schema: str | None) -> dict[str, int]:
    """PostgreSQL's planner estimates of the row counts of a schema's tables (pg_class.reltuples): no scan."""
    if connection.kind != "postgresql":
        return {}
    estimate = exp.cast(exp.column("reltuples", table="c"), "BIGINT")
    query = (exp.select(exp.column("relname", table="c"), estimate)
             .from_(exp.to_table("pg_catalog.pg_class").as_("c"))
             .join(exp.to_table("pg_catalog.pg_namespace").as_("n"),
                   on=exp.column("oid", table="n").eq(exp.column("relnamespace", table="c")))
             .where(exp.column("nspname", table="n").eq(
                 exp.Literal.string(schema) if schema else exp.func("current_schema"))))
    try:
        with _engine(connection.url).connect() as conn:
            rows = conn.execute(sa.text(render(query, "postgres"))).all()
    except SQLAlchemyError:
        return {}
    return {name: int(estimate) for name, estimate in rows if estimate is not None and estimate >= 0}


# --- ClickHouse server and chDB: the system tables ----------------------------------------------------------


def _ch_query(warehouse: Warehouse, connection: Connection, query: exp.Select) -> list[tuple]:
    try:
        return warehouse.query(render(query, "clickhouse"), read_only=False).rows
    except (ToolError, WarehouseError) as exc:
        raise _failure(connection, exc) from exc


def _ch_tables(connection: Connection, schema: str | None) -> list[TableRef]:
    where = (exp.column("database").eq(exp.Literal.string(schema)) if schema else
             exp.Not(this=exp.column("database").isin(*[exp.Literal.string(s) for s in sorted(_CH_SYSTEM)])))
    query = (exp.select("database", "name", "engine").from_("system.tables").where(where)
             .where(exp.Not(this=exp.column("is_temporary")))
             .where(exp.Not(this=exp.column("name").like(exp.Literal.string(".inner%"))))
             .order_by("database", "name"))
    rows = _ch_query(connect(connection.url), connection, query)
    return [TableRef(db, name, "view" if engine in _CH_VIEWS else "table") for db, name, engine in rows]


def _ch_shapes(connection: Connection, tables: list[TableRef]) -> dict[TableRef, TableShape]:
    """Every table's columns and row count with one query per database (ClickHouse declares no keys)."""
    warehouse = connect(connection.url)
    nullable = ("Nullable(", "LowCardinality(Nullable(")
    shapes: dict[TableRef, TableShape] = {}
    by_database: dict[str | None, list[TableRef]] = {}
    for table in tables:
        by_database.setdefault(table.schema, []).append(table)
    for database, group in by_database.items():
        current = exp.Literal.string(database) if database else exp.func("currentDatabase")
        where = exp.column("database").eq(current)
        names = [exp.Literal.string(t.name) for t in group]
        columns = (exp.select("table", "name", "type").from_("system.columns").where(where.copy())
                   .where(exp.column("table").isin(*names)).order_by("table", "position"))
        stats = (exp.select("name", "total_rows").from_("system.tables").where(where.copy())
                 .where(exp.column("name").isin(*[n.copy() for n in names])))
        found: dict[str, list[ColumnDef]] = {}
        for table_name, name, type_ in _ch_query(warehouse, connection, columns):
            found.setdefault(table_name, []).append(ColumnDef(name, type_, type_.startswith(nullable)))
        totals = {name: total for name, total in _ch_query(warehouse, connection, stats)}
        for table in group:
            total = totals.get(table.name)
            shapes[table] = TableShape(table, found.get(table.name, []),
                                       row_estimate=int(total) if total is not None else None)
    return shapes


# --- the entry points ---------------------------------------------------------------------------------------


def list_tables(connection: Connection, schema: str | None = None) -> list[TableRef]:
    """The connection's tables and views (all user schemas, or only `schema`), by schema then name."""
    if connection.kind in ("clickhouse", "chdb"):
        return _ch_tables(connection, schema)
    return _sql_tables(connection, schema)


def default_schema(connection: Connection) -> str | None:
    """The schema unqualified names resolve to: PostgreSQL's current schema, ClickHouse's current database."""
    if connection.kind in ("clickhouse", "chdb"):
        rows = _ch_query(connect(connection.url), connection, exp.select(exp.func("currentDatabase")))
        return str(rows[0][0])
    if connection.kind == "sqlite":
        return None
    try:
        return _inspector(connection).default_schema_name
    except SQLAlchemyError as exc:
        raise _failure(connection, exc) from exc


def search_path(connection: Connection) -> list[str] | None:
    """The schemas unqualified names are looked up in (PostgreSQL's `current_schemas(false)`, ClickHouse's
    current database); None for SQLite, which has one."""
    if connection.kind in ("clickhouse", "chdb"):
        return [default_schema(connection) or "default"]
    if connection.kind == "sqlite":
        return None
    query = exp.select(exp.func("unnest", exp.func("current_schemas", exp.false())))
    try:
        with _engine(connection.url).connect() as conn:
            return [str(name) for name in conn.execute(sa.text(render(query, "postgres"))).scalars()]
    except SQLAlchemyError as exc:
        raise _failure(connection, exc) from exc


def find_table(connection: Connection, table: str, schema: str | None = None) -> TableRef:
    """`orders`, `sales.orders` or (`orders`, schema=`sales`) as one table of the connection; an unknown
    or ambiguous name is one sentence listing what there is."""
    if schema is None and "." in table:
        schema, table = table.split(".", 1)
    tables = list_tables(connection, schema)
    matches = [t for t in tables if t.name == table] or [t for t in tables if t.name.lower() == table.lower()]
    if len(matches) > 1:
        preferred = default_schema(connection)
        matches = [t for t in matches if t.schema == preferred] or matches
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = ", ".join(t.qualified for t in matches)
        raise ToolError(f"{table!r} is in several schemas of {connection.name} ({names}); name one of them.")
    known = ", ".join(t.qualified for t in tables[:20]) or "none"
    more = f" and {len(tables) - 20} more" if len(tables) > 20 else ""
    raise ToolError(f"Connection {connection.name!r} has no table {table!r}; its tables: {known}{more}.")


def table_shapes(connection: Connection, tables: list[TableRef]) -> dict[TableRef, TableShape]:
    """Columns, keys and foreign keys as the database declares them, for many tables at once."""
    if not tables:
        return {}
    if connection.kind in ("clickhouse", "chdb"):
        return _ch_shapes(connection, tables)
    return _sql_shapes(connection, tables)


def table_shape(connection: Connection, table: TableRef) -> TableShape:
    """Columns, keys and foreign keys of one table as the database declares them."""
    return table_shapes(connection, [table])[table]


def sample_rows(connection: Connection, shape: TableShape, limit: int = SAMPLE_ROWS,
                timeout_s: float = SAMPLE_TIMEOUT_S) -> list[tuple]:
    """At most `limit` rows of the table, read-only and within `timeout_s` (the sample the profile uses)."""
    if not shape.columns:
        return []
    query = exp.select(*[exp.column(c.name, quoted=True) for c in shape.columns]).from_(
        shape.table.expression()).limit(limit)
    dialect = sql_dialect(connection)
    try:
        return connect(connection.url).query(render(query, dialect), limit=limit, timeout_s=timeout_s,
                                             read_only=True).rows
    except (ToolError, WarehouseError) as exc:
        raise _failure(connection, exc) from exc


def describe_table(connection: Connection, table: TableRef, *, name: str | None = None,
                   sample_limit: int = SAMPLE_ROWS, timeout_s: float = SAMPLE_TIMEOUT_S,
                   dataset_names: dict[str, str] | None = None,
                   shape: TableShape | None = None) -> DatasetSchema:
    """The table as a dataset: declared types and keys, statistics from a bounded sample, declared foreign
    keys as relationships (to `dataset_names[qualified ref]`, default the referenced table's name). Pass the
    `shape` when it was read already; `sample_limit=0` describes the declared structure only (no scan)."""
    shape = shape or table_shape(connection, table)
    rows = sample_rows(connection, shape, sample_limit, timeout_s) if sample_limit > 0 else []
    sampled = len(rows) >= sample_limit
    total = (shape.row_estimate if shape.row_estimate is not None else len(rows)) if sampled else len(rows)
    single_keys = {key[0] for key in [shape.primary_key, *shape.unique] if len(key) == 1}
    names = [c.name for c in shape.columns]
    texts = [sample_texts([row[index] for row in rows]) for index in range(len(names))]
    profiles = profile_columns(names, names, texts)
    columns = [_declared(profile, column, key=column.name in single_keys,
                         primary=column.name in shape.primary_key, sampled=sampled, kind=connection.kind)
               for profile, column in zip(profiles, shape.columns, strict=True)]
    relationships = [
        Relationship(column=fk.columns[0], ref_dataset=(dataset_names or {}).get(
            TableRef(fk.ref_schema, fk.ref_table).qualified, to_identifier(fk.ref_table, fallback="dataset")),
            ref_column=fk.ref_columns[0], containment=1.0, name_similarity=1.0, confidence=1.0, declared=True)
        for fk in shape.foreign_keys if len(fk.columns) == 1
    ]
    warnings = []
    if sample_limit <= 0:
        warnings.append("Not profiled yet: only the structure the database declares is known, and the row "
                        "count is its estimate.")
    elif sampled:
        warnings.append(f"Statistics come from the first {len(rows)} rows; the row count is the database's "
                        "estimate.")
    composite = [fk for fk in shape.foreign_keys if len(fk.columns) > 1]
    if composite:
        warnings.append("Foreign keys over several columns are not used for joins: "
                        + ", ".join(f"({', '.join(fk.columns)}) -> {fk.ref_table}" for fk in composite) + ".")
    return DatasetSchema(
        name=to_identifier(name or table.name, fallback="dataset"),
        source=f"{CONNECTION_SOURCE}{connection.name}/{table.qualified}",
        format="table",
        row_count=total or 0,
        row_count_estimated=sampled,
        columns=columns,
        relationships=relationships,
        primary_key=list(shape.primary_key),
        warnings=warnings,
    )


def _iso_space(value: dt.datetime) -> str:
    return value.isoformat(sep=" ")


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


_TEXT_OF: dict[type, Callable[[Any], str]] = {
    str: str, int: str, Decimal: str, UUID: str, float: repr, bool: _bool_text,
    dt.datetime: _iso_space, dt.date: dt.date.isoformat, dt.time: dt.time.isoformat,
}


def sample_texts(values: list[Any]) -> pa.Array:
    """A sampled column as the text the profile reads. NULL is null and a string is the value as stored (a
    database's 'NA' is not missing, unlike a file's); one converter per column when its values share a
    type."""
    kinds = {type(v) for v in values if v is not None}
    convert = _TEXT_OF.get(kinds.pop()) if len(kinds) == 1 else None
    if convert is None:
        return pa.array([None if v is None else (v if isinstance(v, str) else value_text(v)) for v in values],
                        type=pa.string())
    return pa.array([None if v is None else convert(v) for v in values], type=pa.string())


# --- declared types -> logical types ------------------------------------------------------------------------

_INT_BITS = {"smallint": 16, "int2": 16, "integer": 32, "int": 32, "int4": 32, "bigint": 64, "int8": 64,
             "smallserial": 16, "serial": 32, "bigserial": 64, "tinyint": 8, "mediumint": 32}
_CH_WRAPPERS = re.compile(r"^(?:Nullable|LowCardinality)\((.*)\)$")


def logical_type(type_text: str, kind: str) -> tuple[LogicalType, TypeDetails] | None:
    """A database type as our logical type with the details DDL needs; None when the type says nothing
    (SQLite columns without a declared type)."""
    text = type_text.strip()
    while match := _CH_WRAPPERS.match(text):
        text = match.group(1)
    lowered = text.lower()
    if not lowered:
        return None
    if lowered.startswith(("json", "object", "map", "array", "tuple")) or lowered.endswith("[]"):
        return "json", TypeDetails()
    numbers = [int(n) for n in re.findall(r"\d+", lowered)]
    if match := re.fullmatch(r"(u?)int(\d+)", lowered):  # ClickHouse Int8..UInt256
        return "integer", TypeDetails(int_bits=int(match.group(2)), signed=not match.group(1))
    if lowered in _INT_BITS or lowered.startswith("integer") or (kind == "sqlite" and "int" in lowered):
        return "integer", TypeDetails(int_bits=_INT_BITS.get(lowered, 64), signed=True)
    if lowered.startswith(("numeric", "decimal")):
        if lowered.startswith(("decimal32", "decimal64", "decimal128", "decimal256")):
            precision = {"32": 9, "64": 18, "128": 38, "256": 76}[re.match(r"decimal(\d+)", lowered).group(1)]
            return "decimal", TypeDetails(precision=precision, scale=numbers[-1] if len(numbers) > 1 else 0)
        if len(numbers) >= 2:
            return "decimal", TypeDetails(precision=numbers[0], scale=numbers[1])
        if len(numbers) == 1:
            return "decimal", TypeDetails(precision=numbers[0], scale=0)
        return "decimal", TypeDetails()  # unbounded numeric: the sample's precision is all there is
    if lowered.startswith(("float", "double", "real")):
        return "float", TypeDetails()
    if lowered in ("bool", "boolean"):
        return "boolean", TypeDetails()
    if lowered in ("date", "date32"):
        return "date", TypeDetails()
    if lowered.startswith(("timestamp", "datetime")):
        zoned = "with time zone" in lowered or lowered.startswith("timestamptz") or (
            lowered.startswith("datetime") and "'" in lowered)
        if lowered.startswith("datetime64"):  # DateTime64(precision[, 'zone'])
            digits = numbers[1] if len(numbers) > 1 else 3
        elif lowered.startswith("datetime"):
            digits = 0
        else:
            digits = numbers[0] if numbers else 6
        return "datetime", TypeDetails(fraction_digits=digits, timezone=zoned)
    if lowered.startswith("time"):
        return "time", TypeDetails()
    if lowered == "uuid":
        return "uuid", TypeDetails()
    return "string", TypeDetails()


def _declared(profile: ColumnProfile, column: ColumnDef, *, key: bool, primary: bool, sampled: bool,
              kind: str) -> ColumnProfile:
    """The sample's statistics under the database's declared type, nullability and keys."""
    declared = logical_type(column.type, kind)
    nullable = column.nullable and not primary
    unique = (key and not nullable) or (profile.unique and not sampled)
    update: dict = {"nullable": nullable, "unique": unique,
                    "distinct_estimated": profile.distinct_estimated or sampled}
    if declared is not None:
        logical, details = declared
        merged = profile.details.model_copy(update={k: v for k, v in details.model_dump().items()
                                                    if v is not None})
        if logical != profile.type:  # the sample's guess does not hold for the declared type
            merged = details.model_copy(update={"max_length": profile.details.max_length}
                                        if logical == "string" else {})
        update |= {"type": logical, "details": merged}
    return profile.model_copy(update=update)


def distinct_values(connection: Connection, table: TableRef, column: str,
                    limit: int = 100_000) -> list[str] | None:
    """Distinct non-null values of one column as text (for containment checks against files); None when
    there are more than `limit`, or the database cannot say within the sample timeout."""
    col = exp.column(column, quoted=True)
    query = (exp.select(col).distinct().from_(table.expression())
             .where(exp.Not(this=exp.Is(this=col.copy(), expression=exp.Null()))).limit(limit + 1))
    try:
        result = connect(connection.url).query(render(query, sql_dialect(connection)), limit=limit,
                                               timeout_s=SAMPLE_TIMEOUT_S)
    except (ToolError, WarehouseError):
        return None
    if result.truncated:
        return None
    return [text for (value,) in result.rows if (text := value_text(value)) is not None]
