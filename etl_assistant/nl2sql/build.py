"""QueryParse -> one sqlglot SELECT for the warehouse's dialect (clickhouse, postgres, sqlite).

Identifiers are quoted by the renderer, values become literals, and the rendered text is parsed back
(`statements.render`): nothing is string-formatted from the question.
"""

from __future__ import annotations

from datetime import date

from sqlglot import exp

from etl_assistant.errors import ToolError
from etl_assistant.nl2sql.model import ColumnRef, Dimension, Filter, Measure, QueryParse
from etl_assistant.nl2sql.schema_graph import Edge, SchemaGraph
from etl_assistant.nl2sql.timerange import step, unit_start
from etl_assistant.warehouse.statements import render

_COMPARE = {"eq": exp.EQ, "ne": exp.NEQ, "gt": exp.GT, "ge": exp.GTE, "lt": exp.LT, "le": exp.LTE}
_AGG = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}


class _Columns:
    """Column expressions, qualified by table name (or the alias of a table joined twice) only when the query
    joins."""

    def __init__(self, qualify: bool, aliases: dict[tuple[str, str | None], str] | None = None) -> None:
        self.qualify = qualify
        self.aliases = aliases or {}

    def __call__(self, ref: ColumnRef) -> exp.Column:
        table = self.aliases.get((ref.table, ref.via), ref.table) if self.qualify else None
        return exp.column(ref.column, table=table, quoted=True)


def measure_alias(measure: Measure) -> str:
    if measure.agg == "count":
        return "count"
    if measure.agg == "share":
        return "share_pct"
    if measure.agg == "ratio" and measure.ref and measure.per:
        return f"{measure.ref.column}_per_{measure.per.column}"
    return f"{measure.agg}_{measure.ref.column}" if measure.ref else measure.agg


def build_query(parse: QueryParse, graph: SchemaGraph, dialect: str) -> exp.Select:
    if parse.base is None or (parse.measure is None and not parse.columns):
        raise ToolError("The question was not understood well enough to build a query; rephrase it.")
    joins, aliases = _join_edges(parse, graph)
    col = _Columns(qualify=bool(joins), aliases=aliases)
    query = exp.select().from_(exp.to_table(parse.base, quoted=True))
    for edge, left, right in joins:
        on = exp.EQ(
            this=exp.column(edge.column, table=left, quoted=True),
            expression=exp.column(edge.ref_column, table=right, quoted=True),
        )
        table = exp.to_table(edge.ref_table, quoted=True)
        if right != edge.ref_table:
            table = exp.alias_(table, right, quoted=True)
        query = query.join(table, on=on, join_type="inner")
    conditions = [_condition(f, col) for f in parse.filters] + _time_conditions(parse, col, graph)
    if conditions:
        query = query.where(exp.and_(*conditions))
    if parse.columns:
        query = query.select(*(col(ref).as_(ref.column, quoted=True) for ref in parse.columns))
        if parse.order_by is not None:
            query = query.order_by(exp.Ordered(this=col(parse.order_by), desc=parse.order == "desc"))
        return query.limit(parse.limit) if parse.limit else query
    assert parse.measure is not None
    named = zip(parse.dimensions, _aliases(parse), strict=True)
    dims = [(_dimension(d, col, dialect), alias) for d, alias in named]
    measure = _measure(parse, col, dialect)
    query = query.select(
        *(e.as_(alias, quoted=True) for e, alias in dims),
        measure.as_(measure_alias(parse.measure), quoted=True),
    )
    if dims:
        query = query.group_by(*(e.copy() for e, _a in dims))
    if parse.having is not None:
        cmp = _COMPARE[parse.having.op]
        query = query.having(
            cmp(this=_measure(parse, col, dialect, windowed=False), expression=_number(parse.having.value))
        )
    if parse.order and dims:
        query = query.order_by(
            exp.Ordered(
                this=exp.to_identifier(measure_alias(parse.measure), quoted=True), desc=parse.order == "desc"
            )
        )
    elif dims:
        query = query.order_by(*(exp.to_identifier(alias, quoted=True) for _e, alias in dims))
    return query.limit(parse.limit) if parse.limit else query


def _aliases(parse: QueryParse) -> list[str]:
    """One output name per grouping; a repeated name ("zone_name" of the pickup and of the dropoff zone)
    takes its route or table."""
    seen: set[str] = set()
    names = []
    for d in parse.dimensions:
        name = d.alias
        if name in seen:
            name = f"{d.ref.via or d.ref.table}_{name}"
        seen.add(name)
        names.append(name)
    return names


def _join_edges(
    parse: QueryParse, graph: SchemaGraph
) -> tuple[list[tuple[Edge, str, str]], dict[tuple[str, str | None], str]]:
    """(edge, left table or alias, right table or alias) in join order, and the alias of each (table, via)
    reference. A table reached through two different base keys (pickup and dropoff zone) is joined twice,
    each under an alias named after its key."""
    routes = sorted(
        {(r.table, r.via) for r in parse.refs() if r.table != parse.base}, key=lambda t: (t[0], t[1] or "")
    )
    paths = {route: graph.join_path(parse.base, route[0], route[1]) for route in routes}
    first_hops: dict[str, set[Edge]] = {}
    for path in paths.values():
        if path:
            first_hops.setdefault(path[0].ref_table, set()).add(path[0])
    joins: list[tuple[Edge, str, str]] = []
    aliases: dict[tuple[str, str | None], str] = {}
    for route, path in paths.items():
        left = parse.base or ""
        for hop, edge in enumerate(path):
            twice = hop == 0 and len(first_hops.get(edge.ref_table, ())) > 1
            right = f"{edge.ref_table}_{edge.column}" if twice else edge.ref_table
            if all(j[2] != right for j in joins):
                joins.append((edge, left, right))
            left = right
        if path:
            aliases[route] = left
    return joins, aliases


def _literal(value: str | float | int) -> exp.Expression:
    return _number(value) if isinstance(value, int | float) else exp.Literal.string(str(value))


def _number(value: float) -> exp.Literal:
    return exp.Literal.number(int(value) if float(value).is_integer() else value)


def _condition(f: Filter, col: _Columns) -> exp.Expression:
    column = col(f.ref)
    if f.op in _COMPARE:
        return _COMPARE[f.op](this=column, expression=_literal(f.values[0]))
    if f.op in ("in", "not_in"):
        inside = exp.In(this=column, expressions=[_literal(v) for v in f.values])
        return exp.Not(this=inside) if f.op == "not_in" else inside
    if f.op == "between":
        return exp.Between(this=column, low=_literal(f.values[0]), high=_literal(f.values[1]))
    if f.op in ("is_null", "not_null"):
        missing = exp.Is(this=column, expression=exp.Null())
        return missing if f.op == "is_null" else exp.Not(this=missing)
    if f.op == "is_true":
        return exp.EQ(this=column, expression=exp.true())
    return exp.EQ(this=column, expression=exp.false())


def _time_conditions(parse: QueryParse, col: _Columns, graph: SchemaGraph) -> list[exp.Expression]:
    """[start, end) on the time column; one day of a DATE column reads better as `= day`."""
    time = parse.time
    if time is None or time.ref is None:
        return []
    column = col(time.ref)
    start = exp.Literal.string(time.start.isoformat()) if time.start is not None else None
    end = exp.Literal.string(time.end.isoformat()) if time.end is not None else None
    stored = graph.tables[time.ref.table].column(time.ref.column)
    one_day = time.start is not None and time.end is not None and (time.end - time.start).days == 1
    if one_day and stored is not None and stored.type == "date":
        return [exp.EQ(this=column, expression=start)]
    out: list[exp.Expression] = []
    if start is not None:
        out.append(exp.GTE(this=column, expression=start))
    if end is not None:
        out.append(exp.LT(this=column.copy(), expression=end))
    return out


def resolve_latest(parse: QueryParse, latest: date) -> None:
    """Turn "latest <unit>" into the concrete period holding the data's most recent date."""
    if parse.time is None or parse.time.latest is None:
        return
    start = unit_start(latest, parse.time.latest)
    parse.time.start, parse.time.end = start, start + step(parse.time.latest)
    parse.time.label = f"{parse.time.label} ({start.isoformat()})"
    parse.time.latest = None


def latest_query(parse: QueryParse, dialect: str) -> str:
    assert parse.time is not None and parse.time.ref is not None
    column = exp.column(parse.time.ref.column, quoted=True)
    return render(
        exp.select(exp.Max(this=column).as_("latest")).from_(exp.to_table(parse.time.ref.table, quoted=True)),
        dialect,
    )


def _dimension(d: Dimension, col: _Columns, dialect: str) -> exp.Expression:
    column = col(d.ref)
    if d.bucket is None:
        return column
    if dialect == "sqlite":
        return _sqlite_bucket(column, d.bucket)
    truncated = exp.DateTrunc(this=column, unit=exp.Literal.string(d.bucket.upper()))
    if dialect == "postgres":
        return exp.cast(truncated, "DATE")
    return truncated


def _sqlite_bucket(column: exp.Expression, bucket: str) -> exp.Expression:
    def strftime(fmt: str) -> exp.Expression:
        return exp.Anonymous(this="STRFTIME", expressions=[exp.Literal.string(fmt), column.copy()])

    if bucket == "day":
        return exp.Anonymous(this="DATE", expressions=[column])
    if bucket == "week":
        return exp.Anonymous(
            this="DATE", expressions=[column, exp.Literal.string("weekday 0"), exp.Literal.string("-6 days")]
        )
    if bucket == "month":
        return strftime("%Y-%m-01")
    if bucket == "year":
        return strftime("%Y-01-01")
    month = exp.cast(strftime("%m"), "INTEGER")
    first_month = exp.Add(
        this=exp.Mul(
            this=exp.paren(
                exp.Div(this=exp.paren(exp.Sub(this=month, expression=_number(1))), expression=_number(3))
            ),
            expression=_number(3),
        ),
        expression=_number(1),
    )
    return exp.Anonymous(
        this="PRINTF", expressions=[exp.Literal.string("%s-%02d-01"), strftime("%Y"), first_month]
    )


def _measure(parse: QueryParse, col: _Columns, dialect: str, windowed: bool = True) -> exp.Expression:
    measure = parse.measure
    assert measure is not None
    if measure.agg == "count":
        return exp.Count(this=exp.Star())
    column = col(measure.ref) if measure.ref else None
    if measure.agg == "count_distinct":
        return exp.Count(this=exp.Distinct(expressions=[column]))
    if measure.agg in _AGG:
        return _AGG[measure.agg](this=column)
    if measure.agg == "median":
        return _median(column, dialect)
    if measure.agg == "ratio" and measure.per is not None:
        present = exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null()))
        paired = exp.If(this=present, true=col(measure.per), false=exp.Null())  # rows with both values
        denominator = exp.Nullif(this=exp.Sum(this=paired), expression=_number(0))
        return exp.Div(this=exp.cast(exp.Sum(this=column), "DOUBLE"), expression=denominator)
    return _share(parse, column, col, windowed)


def _median(column: exp.Expression, dialect: str) -> exp.Expression:
    if dialect == "clickhouse":
        return exp.ParameterizedAgg(
            this="quantileExactInclusive", expressions=[_number(0.5)], params=[exp.cast(column, "DOUBLE")]
        )
    if dialect == "postgres":
        return exp.WithinGroup(
            this=exp.PercentileCont(this=_number(0.5)),
            expression=exp.Order(expressions=[exp.Ordered(this=column)]),
        )
    raise ToolError(
        "A median is not available on SQLite; ask for the average instead, or use ClickHouse or PostgreSQL."
    )


def _share(parse: QueryParse, column: exp.Expression | None, col: _Columns, windowed: bool) -> exp.Expression:
    """Percent of the total: of rows (share_of count) or of the measure's sum."""
    part = column if column is not None else _number(1)
    hundred = exp.Literal.number("100.0")
    if parse.dimensions:
        total = exp.Sum(this=part.copy())
        if not windowed:
            return total
        over = exp.Window(this=exp.Sum(this=total.copy()))
        return exp.Div(this=exp.Mul(this=hundred, expression=exp.cast(total, "DOUBLE")), expression=over)
    condition = exp.and_(*(_condition(f, col) for f in parse.share_condition))
    matched = exp.Sum(this=exp.If(this=condition, true=part.copy(), false=_number(0)))
    return exp.Div(
        this=exp.Mul(this=hundred, expression=exp.cast(matched, "DOUBLE")),
        expression=exp.Sum(this=part.copy()),
    )
