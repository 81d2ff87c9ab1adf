"""DatamartSpec -> the statements of one engine, all sqlglot expressions rendered and round-trip checked.

ClickHouse: a target table (SummingMergeTree for plain sums of non-null columns, else AggregatingMergeTree
with `-State` columns), an `INSERT ... SELECT` backfill, a materialized view that keeps it current on insert,
and a read query that finalises with `sum`/`-Merge`. PostgreSQL: a materialized view with a unique index on
the group key (so `REFRESH ... CONCURRENTLY` works) and its refresh statement. Optionally a plain view.
"""

from __future__ import annotations

import sqlglot
from pydantic import BaseModel
from sqlglot import exp

from etl_assistant.datamart.spec import DatamartSpec, Filter, Measure
from etl_assistant.ddl import generate_ddl
from etl_assistant.errors import ToolError
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.warehouse.statements import quote, render, table

DIALECTS = ("clickhouse", "postgres")
_CH_FUNCTIONS = {
    "sum": "sum",
    "count": "count",
    "avg": "avg",
    "min": "min",
    "max": "max",
    "count_distinct": "uniqExact",
}
_CH_BUCKETS = {"day": "toDate", "week": "toMonday", "month": "toStartOfMonth"}
_COMPARISONS: dict[str, type[exp.Binary]] = {
    "=": exp.EQ,
    "!=": exp.NEQ,
    ">": exp.GT,
    ">=": exp.GTE,
    "<": exp.LT,
    "<=": exp.LTE,
}


class DatamartDefinition(BaseModel):
    """Everything needed to build, keep current and read one datamart on one engine."""

    name: str
    dialect: str
    source_table: str
    engine: str  # SummingMergeTree, AggregatingMergeTree or "materialized view"
    create: list[str]  # statements creating the object that holds the data
    backfill: str | None  # ClickHouse: fills the target from the rows already in the source
    keep_current: list[str]  # ClickHouse: the materialized view (re)created after the target is in place
    refresh: str | None  # PostgreSQL: REFRESH MATERIALIZED VIEW CONCURRENTLY
    read_query: str  # the finalised rows, one per group
    view: list[str]  # optional plain view <name>_view (drop + create), when spec.with_view
    explanation: list[str]


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _col(name: str) -> exp.Column:
    return exp.column(_ident(name))


def _fn(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _literal(value: str | int | float | bool) -> exp.Expression:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(value)


def _check_columns(spec: DatamartSpec, schema: DatasetSchema) -> None:
    """Every column the spec names exists in the source (named by identifier or original name)."""
    names = [
        spec.time_column,
        *spec.dimensions,
        *(m.column for m in spec.measures),
        *(f.column for f in spec.filters),
    ]
    known = {c.identifier for c in schema.columns}
    for name in filter(None, names):
        if name not in known:
            raise ToolError(
                f"Column {name!r} is not in dataset {schema.name}; use one of {', '.join(sorted(known))}."
            )
    if spec.grain and not spec.time_column:
        raise ToolError(
            f"A {spec.grain} grain needs time_column: a date or datetime column of {schema.name}."
        )
    outputs = spec.key_columns() + [m.name for m in spec.measures]
    if len(set(outputs)) != len(outputs):
        raise ToolError(f"Output column names repeat ({', '.join(outputs)}); give each measure its own name.")
    for measure in spec.measures:
        if measure.column is None and measure.agg != "count":
            raise ToolError(f"Measure {measure.name} ({measure.agg}) needs a column.")


def _bucket(spec: DatamartSpec, dialect: str) -> exp.Expression:
    assert spec.grain and spec.time_column
    column = _col(spec.time_column)
    if dialect == "clickhouse":
        inner = _fn(_CH_BUCKETS[spec.grain], column)
        return inner if spec.grain == "day" else _fn("toDate", inner)
    return exp.Cast(
        this=_fn("DATE_TRUNC", exp.Literal.string(spec.grain.upper()), column), to=exp.DataType.build("DATE")
    )


def _aggregate(measure: Measure, dialect: str, mode: str) -> exp.Expression:
    """mode: "state" (ClickHouse -State), "plain" (finished aggregate on the source)."""
    arg = [_col(measure.column)] if measure.column else []
    if dialect == "clickhouse":
        name = _CH_FUNCTIONS[measure.agg]
        return _fn(name + ("State" if mode == "state" else ""), *arg)
    if measure.agg == "count":
        return exp.Count(this=exp.Star()) if not arg else exp.Count(this=arg[0])
    if measure.agg == "count_distinct":
        return exp.Count(this=exp.Distinct(expressions=arg))
    return {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[measure.agg](this=arg[0])


def _where(filters: list[Filter]) -> exp.Expression | None:
    conditions = [_COMPARISONS[f.op](this=_col(f.column), expression=_literal(f.value)) for f in filters]
    return exp.and_(*conditions) if conditions else None


def aggregate_select(spec: DatamartSpec, source_table: str, dialect: str, mode: str) -> exp.Select:
    """SELECT bucket, dimensions, aggregates FROM source [WHERE filters] GROUP BY bucket, dimensions.
    mode: "state" (ClickHouse -State), "plain" (finished aggregates) or "keys" (the groups only)."""
    keys: list[exp.Expression] = []
    if spec.grain:
        keys.append(exp.alias_(_bucket(spec, dialect), _ident(spec.grain)))
    keys += [_col(d) for d in spec.dimensions]
    measures = [
        exp.alias_(_aggregate(m, dialect, mode), _ident(m.name)) for m in spec.measures if mode != "keys"
    ]
    select = exp.select(*keys, *measures).from_(table(source_table))
    where = _where(spec.filters)
    if where is not None:
        select = select.where(where)
    group = [k.this if isinstance(k, exp.Alias) else k for k in keys]
    return select.group_by(*group) if group else select


def consistency_check(
    spec: DatamartSpec, engine: str, source_table: str, built: str, dialect: str
) -> tuple[exp.Select, exp.Select, str]:
    """Two one-value queries that must agree once `built` holds the datamart: with a row-count measure, its
    total against COUNT(*) of the (filtered) source, which is cheap; otherwise the number of groups."""
    count = next((m for m in spec.measures if m.agg == "count" and m.column is None), None)
    if count is not None:
        final = "countMerge" if engine == "AggregatingMergeTree" else "sum"
        total = exp.select(_fn(final, _col(count.name))).from_(table(built))
        source = exp.select(exp.Count(this=exp.Star())).from_(table(source_table))
        where = _where(spec.filters)
        return total, source.where(where) if where is not None else source, "rows"
    keys = [_col(k) for k in spec.key_columns()]
    groups = exp.select(*keys).from_(table(built)).group_by(*keys)
    return (_counted(groups), _counted(aggregate_select(spec, source_table, dialect, "keys")), "groups")


def _counted(query: exp.Select) -> exp.Select:
    return exp.select(exp.Count(this=exp.Star())).from_(query.subquery("groups"))


def _source_types(schema: DatasetSchema, source_table: str) -> dict[str, str]:
    """ClickHouse type text of each source column, as our DDL generator creates the source table."""
    create = sqlglot.parse_one(
        generate_ddl(schema, "clickhouse", source_table).statements[0], read="clickhouse"
    )
    return {
        d.name: d.args["kind"].sql("clickhouse")
        for d in create.this.expressions
        if isinstance(d, exp.ColumnDef)
    }


def _unwrap(type_text: str, wrapper: str) -> tuple[str, bool]:
    prefix = wrapper + "("
    if type_text.startswith(prefix) and type_text.endswith(")"):
        return type_text[len(prefix) : -1], True
    return type_text, False


def _sum_type(type_text: str) -> str:
    """ClickHouse's result type of sum() over a non-null column type."""
    if type_text.startswith("Decimal"):
        return f"Decimal(38, {type_text.rstrip(')').split(',')[-1].strip()})"
    if type_text.startswith(("Float", "FLOAT", "DOUBLE")):
        return "Float64"
    if type_text.startswith(("UInt", "Bool")):
        return "UInt64"
    return "Int64"


def _summing_possible(spec: DatamartSpec, types: dict[str, str]) -> bool:
    return spec.sums_only() and not any(
        m.column and types[m.column].startswith("Nullable(") for m in spec.measures
    )


def _clickhouse_columns(spec: DatamartSpec, types: dict[str, str], summing: bool) -> list[exp.ColumnDef]:
    columns: list[tuple[str, str]] = []
    if spec.grain:
        assert spec.time_column
        nullable = _unwrap(types[spec.time_column], "Nullable")[1]
        columns.append((spec.grain, "Nullable(Date)" if nullable else "Date"))
    columns += [(d, types[d]) for d in spec.dimensions]
    for m in spec.measures:
        arg = _unwrap(types[m.column], "LowCardinality")[0] if m.column else None
        if summing:
            columns.append((m.name, "UInt64" if m.agg == "count" else _sum_type(arg or "")))
        else:
            fn = _CH_FUNCTIONS[m.agg]
            columns.append((m.name, f"AggregateFunction({fn}, {arg})" if arg else f"AggregateFunction({fn})"))
    return [
        exp.ColumnDef(this=_ident(name), kind=exp.DataType.build(kind, dialect="clickhouse"))
        for name, kind in columns
    ]


def _order_by(keys: list[str]) -> exp.Order:
    if not keys:
        order: exp.Expression = exp.Struct()
    elif len(keys) == 1:
        order = _col(keys[0])
    else:
        order = exp.Tuple(expressions=[_col(k) for k in keys])
    return exp.Order(expressions=[exp.Ordered(this=order)])


def _clickhouse(
    spec: DatamartSpec, schema: DatasetSchema, source_table: str, into: str
) -> DatamartDefinition:
    types = _source_types(schema, source_table)
    summing = _summing_possible(spec, types)
    engine = "SummingMergeTree" if summing else "AggregatingMergeTree"
    keys = spec.key_columns()
    properties: list[exp.Expression] = [exp.EngineProperty(this=exp.var(engine)), _order_by(keys)]
    if any(
        c.args["kind"].sql("clickhouse").startswith("Nullable(")
        for c in _clickhouse_columns(spec, types, summing)[: len(keys)]
    ):
        properties.append(
            exp.SettingsProperty(
                expressions=[exp.EQ(this=exp.column("allow_nullable_key"), expression=exp.Literal.number(1))]
            )
        )
    create = exp.Create(
        this=exp.Schema(this=table(into), expressions=_clickhouse_columns(spec, types, summing)),
        kind="TABLE",
        properties=exp.Properties(expressions=properties),
    )
    select = aggregate_select(spec, source_table, "clickhouse", "plain" if summing else "state")
    outputs = keys + [m.name for m in spec.measures]
    backfill = exp.Insert(
        this=exp.Schema(this=table(into), expressions=[_ident(c) for c in outputs]), expression=select.copy()
    )
    mv_name = f"{spec.name}__mv"
    mv = exp.Create(
        this=table(mv_name),
        kind="VIEW",
        expression=select.copy(),
        properties=exp.Properties(
            expressions=[exp.MaterializedProperty(), exp.ToTableProperty(this=table(spec.name))]
        ),
    )
    finals = [
        exp.alias_(_fn("sum" if summing else _CH_FUNCTIONS[m.agg] + "Merge", _col(m.name)), _ident(m.name))
        for m in spec.measures
    ]
    read = exp.select(*[_col(k) for k in keys], *finals).from_(table(spec.name))
    if keys:
        read = read.group_by(*[_col(k) for k in keys]).order_by(*[_col(k) for k in keys])
    why = (
        "SummingMergeTree: every measure is a plain sum or count of non-null columns, so rows with the same "
        "key are summed on merge; read with sum() and GROUP BY because merges are eventual."
        if summing
        else "AggregatingMergeTree with -State columns: averages, distinct counts, min/max or "
        "nullable sums need aggregate states; read with -Merge and GROUP BY."
    )
    return DatamartDefinition(
        name=spec.name,
        dialect="clickhouse",
        source_table=source_table,
        engine=engine,
        create=[render(create, "clickhouse")],
        backfill=render(backfill, "clickhouse"),
        keep_current=[
            render(exp.Drop(tables=[table(mv_name)], kind="VIEW", exists=True), "clickhouse"),
            render(mv, "clickhouse"),
        ],
        refresh=None,
        read_query=render(read, "clickhouse"),
        view=_plain_view(spec, read, "clickhouse"),
        explanation=[
            why,
            f"ORDER BY ({', '.join(keys) or 'tuple()'}): the group key, so each group is one row "
            f"after merges.",
            f"Materialized view {mv_name} adds every insert into "
            f"{source_table} to {spec.name}; the backfill loads the rows already there.",
        ],
    )


def _plain_view(spec: DatamartSpec, query: exp.Select, dialect: str) -> list[str]:
    if not spec.with_view:
        return []
    name = table(f"{spec.name}_view")
    return [
        render(exp.Drop(tables=[name], kind="VIEW", exists=True), dialect),
        render(exp.Create(this=name, kind="VIEW", expression=query.copy()), dialect),
    ]


def refresh_statement(name: str) -> str:
    """`REFRESH MATERIALIZED VIEW CONCURRENTLY` has no sqlglot expression (it parses as an opaque Command),
    so it is assembled from an identifier quoted by sqlglot; nothing else goes into it."""
    return f"REFRESH MATERIALIZED VIEW CONCURRENTLY {quote(name, 'postgres')}"


def _postgres(spec: DatamartSpec, source_table: str, into: str) -> DatamartDefinition:
    select = aggregate_select(spec, source_table, "postgres", "plain")
    create = exp.Create(
        this=table(into),
        kind="VIEW",
        expression=select.copy(),
        properties=exp.Properties(expressions=[exp.MaterializedProperty()]),
    )
    keys = spec.key_columns()
    statements = [render(create, "postgres")]
    if keys:
        index = exp.Create(
            kind="INDEX",
            unique=True,
            this=exp.Index(
                this=_ident(f"{into[:55]}_key"),
                table=table(into),
                params=exp.IndexParameters(columns=[_col(k) for k in keys]),
            ),
        )
        statements.append(render(index, "postgres"))
    read = exp.select(exp.Star()).from_(table(spec.name))
    if keys:
        read = read.order_by(*[_col(k) for k in keys])
    return DatamartDefinition(
        name=spec.name,
        dialect="postgres",
        source_table=source_table,
        engine="materialized view",
        create=statements,
        backfill=None,
        keep_current=[],
        refresh=refresh_statement(spec.name),
        read_query=render(read, "postgres"),
        view=_plain_view(spec, select, "postgres"),
        explanation=[
            f"Materialized view over {source_table}, filled when created.",
            f"Unique index on ({', '.join(keys)}) so REFRESH MATERIALIZED VIEW CONCURRENTLY can "
            "refresh it without blocking readers."
            if keys
            else "No group key: refresh without CONCURRENTLY (it needs a unique index).",
        ],
    )


def build_definition(
    spec: DatamartSpec, schema: DatasetSchema, dialect: str, source_table: str, into: str | None = None
) -> DatamartDefinition:
    """The datamart on `dialect`, aggregating `source_table` (loaded from `schema`) into `into` (default:
    the datamart's own name; deploys pass a staging name and swap it in)."""
    _check_columns(spec, schema)
    if dialect not in DIALECTS:
        raise ToolError(
            f"Datamarts are built on ClickHouse or PostgreSQL, not {dialect}; choose clickhouse or postgres."
        )
    if dialect == "clickhouse":
        return _clickhouse(spec, schema, source_table, into or spec.name)
    return _postgres(spec, source_table, into or spec.name)
