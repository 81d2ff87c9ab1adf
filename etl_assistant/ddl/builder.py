"""One builder for every target: a DatasetSchema becomes sqlglot expressions, rendered and round-tripped.

The target's flags decide which clauses exist (ENGINE/ORDER BY for ClickHouse, PRIMARY KEY and indexes for
row stores, expression or range partitions); `layout` decides what goes into them. Every rendered statement is
parsed back with sqlglot: an opaque `Command` or a different rendering means we produced something sqlglot
does not understand, which is a bug, never something to hand to an engine.
"""

from __future__ import annotations

import re
from datetime import date

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from etl_assistant.ddl import layout
from etl_assistant.ddl.notes import Notes
from etl_assistant.ddl.targets import Target
from etl_assistant.errors import EtlError
from etl_assistant.schema.model import ColumnProfile, DatasetSchema


def table_name(requested: str, max_length: int) -> str:
    """A safe snake_case table name: [a-z0-9_], not starting with a digit, within the length limit."""
    name = re.sub(r"[^a-z0-9_]+", "_", requested.strip().lower()).strip("_") or "dataset"
    if name[0].isdigit():
        name = f"t_{name}"
    return name[:max_length]


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _columns(names: list[str]) -> list[exp.Column]:
    return [exp.column(_ident(n)) for n in names]


def _bounded_name(base: str, suffix: str, max_length: int) -> str:
    """`base` + `suffix`, shortening the base so the whole name fits the engine's identifier limit."""
    return f"{base[: max_length - len(suffix)]}{suffix}"


def build(schema: DatasetSchema, target: Target, table: str, notes: Notes) -> list[exp.Expression]:
    """The statements creating `table` for `schema` on `target`, in execution order."""
    time_col = layout.main_time_column(schema)
    column_defs = _column_defs(schema, target, notes)
    partition = _partition(schema, target, time_col, notes)
    properties: list[exp.Expression] = []
    if target.engine:
        properties = _engine_properties(schema, target, time_col, partition, notes)
    elif partition:
        properties = [exp.PartitionedByProperty(
            this=exp.Anonymous(this="RANGE", expressions=_columns([partition.column])))]
    if target.supports_primary_key:
        column_defs += _primary_key(schema, partition, notes)

    statements: list[exp.Expression] = [exp.Create(
        this=exp.Schema(this=exp.Table(this=_ident(table)), expressions=column_defs), kind="TABLE",
        properties=exp.Properties(expressions=properties) if properties else None)]
    if partition and target.partition_style == "range":
        statements += _range_partitions(table, partition, target.max_identifier_length)
    if target.index_style == "create_index":
        statements += _foreign_key_indexes(schema, table, target, notes)
    return statements


def _column_defs(schema: DatasetSchema, target: Target, notes: Notes) -> list[exp.Expression]:
    column_defs: list[exp.Expression] = []
    for col in schema.columns:
        constraints = []
        if not target.nullable_wrapper and not col.nullable:
            constraints.append(exp.ColumnConstraint(kind=exp.NotNullColumnConstraint()))
        kind = exp.DataType.build(target.column_type(col, schema.row_count, notes), dialect=target.name)
        column_defs.append(
            exp.ColumnDef(this=_ident(col.identifier), kind=kind, constraints=constraints or None))
    if not target.nullable_wrapper:
        _explain_nullability(schema, notes)
    return column_defs


def _partition(schema: DatasetSchema, target: Target, time_col: ColumnProfile | None,
               notes: Notes) -> layout.PartitionPlan | None:
    if not target.partition_style:
        return None
    plan = layout.partition_plan(schema, time_col, target.max_partitions)
    notes.say(plan.reason)
    return plan if isinstance(plan, layout.PartitionPlan) else None


def _engine_properties(schema: DatasetSchema, target: Target, time_col: ColumnProfile | None,
                       partition: layout.PartitionPlan | None, notes: Notes) -> list[exp.Expression]:
    """ENGINE, PARTITION BY (an expression of the time column) and ORDER BY, the ClickHouse way."""
    properties: list[exp.Expression] = [exp.EngineProperty(this=exp.var(target.engine))]
    if partition:
        bucket = "toYYYYMM" if partition.grain == "month" else "toYear"
        properties.append(exp.PartitionedByProperty(
            this=exp.func(bucket, exp.column(_ident(partition.column)), dialect=target.name)))
    key = layout.sort_key(schema, time_col)
    notes.say(key.reason)
    if not key.columns:
        order: exp.Expression = exp.Struct()  # renders tuple(): no sort key
    elif len(key.columns) == 1:
        order = _columns(key.columns)[0]
    else:
        order = exp.Tuple(expressions=_columns(key.columns))
    properties.append(exp.Order(expressions=[exp.Ordered(this=order)]))
    return properties


def _primary_key(schema: DatasetSchema, partition: layout.PartitionPlan | None,
                 notes: Notes) -> list[exp.Expression]:
    key = layout.primary_key(schema)
    if not key.columns:
        notes.say(key.reason)
        return []
    columns = key.columns
    if partition and partition.column not in columns:
        columns = [*columns, partition.column]
        notes.say(f"PRIMARY KEY ({', '.join(columns)}): {key.columns[0]} is unique, and a key on a "
                  f"partitioned table must include the partition column {partition.column}.")
    else:
        notes.say(key.reason)
    return [exp.PrimaryKey(expressions=[_ident(c) for c in columns])]


def _explain_nullability(schema: DatasetSchema, notes: Notes) -> None:
    nullable = [c.identifier for c in schema.columns if c.nullable]
    if not nullable:
        notes.say("NOT NULL on every column: no nulls were seen.")
    elif len(nullable) < len(schema.columns):
        notes.say(f"NOT NULL on every column except {', '.join(nullable)}, where nulls were seen.")


def _range_partitions(table: str, plan: layout.PartitionPlan, max_length: int) -> list[exp.Expression]:
    """One child table per range covering min..max, plus a DEFAULT partition so later rows still fit."""
    parent = exp.Table(this=_ident(table))

    def child(suffix: str, bound: exp.Expression) -> exp.Create:
        return exp.Create(this=exp.Table(this=_ident(_bounded_name(table, suffix, max_length))), kind="TABLE",
                          properties=exp.Properties(expressions=[
                              exp.PartitionedOfProperty(this=parent.copy(), expression=bound)]))

    def label(start: date) -> str:
        return f"_p{start:%Y%m}" if plan.grain == "month" else f"_p{start:%Y}"

    children = [child(label(start), exp.PartitionBoundSpec(
        from_expressions=[exp.Literal.string(start.isoformat())],
        to_expressions=[exp.Literal.string(end.isoformat())])) for start, end in plan.ranges]
    return [*children, child("_default", exp.var("DEFAULT"))]


def _foreign_key_indexes(schema: DatasetSchema, table: str, target: Target,
                         notes: Notes) -> list[exp.Expression]:
    columns = layout.foreign_key_columns(schema)
    if not columns:
        return []
    refs = {rel.column: f"{rel.ref_dataset}.{rel.ref_column}" for rel in schema.relationships}
    notes.say(f"Indexes on {', '.join(columns)}: they reference {', '.join(refs[c] for c in columns)}, so "
              f"joins and lookups by them avoid full scans (no FOREIGN KEY constraint: the referenced table "
              f"may be loaded later).")
    return [exp.Create(kind="INDEX", this=exp.Index(
        this=_ident(_bounded_name(table, f"_{column}_idx", target.max_identifier_length)),
        table=exp.Table(this=_ident(table)),
        params=exp.IndexParameters(columns=_columns([column]))))
        for column in columns]


def render(statement: exp.Expression, dialect: str) -> str:
    """Render (identifiers were built quoted), then prove sqlglot reads back exactly the same statement."""
    sql = statement.sql(dialect=dialect)
    try:
        parsed = sqlglot.parse_one(sql, read=dialect)
    except ParseError as exc:
        raise EtlError(f"Generated {dialect} DDL does not parse back ({exc}); this is a DDL generator bug, "
                       f"please report it.") from exc
    if isinstance(parsed, exp.Command) or parsed.find(exp.Command) or parsed.sql(dialect=dialect) != sql:
        raise EtlError(f"Generated {dialect} DDL did not survive a sqlglot round trip ({sql[:80]}...); "
                       f"this is a DDL generator bug, please report it.")
    return sql
