"""Light transforms (rename, cast, filter, dedupe, derived column) as one sqlglot projection over the source.

Transforms apply in order over the source's columns: a rename changes the name later transforms use, a cast or
a derived column is an expression of the columns before it, a filter is a condition on them, a dedupe keeps
one row per its columns. The result is a `Projection` each extraction path renders into its own SELECT, so the
transforms run inside the engine that reads the source (pushed into PostgreSQL, or inside ClickHouse), never
row by row in Python. A column that does not exist is one sentence before anything is deployed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from etl_assistant.errors import ToolError
from etl_assistant.pipelines.spec import Transform

# What a transform expression may contain: no subqueries, tables or statements, only values of one row.
_FORBIDDEN = (
    exp.Select,
    exp.Subquery,
    exp.Table,
    exp.Command,
    exp.Insert,
    exp.Delete,
    exp.Update,
    exp.Drop,
    exp.Create,
    exp.Window,
    exp.AggFunc,
    exp.Star,
)


@dataclass
class Projection:
    """The output columns (name -> expression over the source columns), the filters, the dedupe key."""

    columns: dict[str, exp.Expression]
    filters: list[exp.Expression] = field(default_factory=list)
    dedupe: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)  # each transform in words, for the plan

    def expression(self, name: str) -> exp.Expression:
        return self.columns[name].copy()

    def select(
        self,
        source: exp.Expression,
        where: list[exp.Expression] | None = None,
        order_for_dedupe: str | None = None,
    ) -> exp.Select:
        """SELECT <columns> FROM source WHERE <filters and where>, with the dedupe as a ROW_NUMBER filter."""
        outputs = [
            expr.copy().as_(exp.to_identifier(name, quoted=True))
            if not _is_column_named(expr, name)
            else expr.copy()
            for name, expr in self.columns.items()
        ]
        query = exp.select(*outputs).from_(source.copy())
        conditions = [*self.filters, *(where or [])]
        if conditions:
            query = query.where(exp.and_(*(c.copy() for c in conditions)))
        if not self.dedupe:
            return query
        partition = [self.expression(name) for name in self.dedupe]
        order = [exp.Ordered(this=self.expression(order_for_dedupe), desc=True)] if order_for_dedupe else []
        rank = exp.Window(
            this=exp.RowNumber(),
            partition_by=partition,
            order=exp.Order(expressions=order) if order else None,
        )
        query = query.select(rank.as_("_etla_rank"))
        names = [exp.column(exp.to_identifier(name, quoted=True)) for name in self.columns]
        return (
            exp.select(*names)
            .from_(query.subquery("_etla_ranked"))
            .where(exp.column("_etla_rank").eq(exp.Literal.number(1)))
        )


def _is_column_named(expr: exp.Expression, name: str) -> bool:
    return isinstance(expr, exp.Column) and expr.name == name and not expr.table


def _column(name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True))


def _unknown(name: str, kind: str, known: list[str]) -> ToolError:
    return ToolError(
        f"The {kind} transform refers to column {name!r}, which the source does not have at that "
        f"point (columns: {', '.join(known)}); fix the transform."
    )


def _parse(text: str, kind: str, dialect: str) -> exp.Expression:
    """One expression of a row, read as the only item of a SELECT (so a column named like a keyword works)."""
    try:
        wrapper = sqlglot.parse_one(f"SELECT {text}", read=dialect)
    except ParseError as exc:
        raise ToolError(
            f"The {kind} transform {text!r} is not a SQL expression "
            f"({exc.errors[0]['description']}); write it like amount > 0."
        ) from exc
    items = wrapper.expressions if isinstance(wrapper, exp.Select) else []
    extra = [key for key in wrapper.args if key != "expressions" and wrapper.args[key]] if items else []
    if len(items) != 1 or extra or isinstance(items[0], exp.Alias):
        raise ToolError(
            f"The {kind} transform {text!r} must be one expression, like amount > 0; fix the transform."
        )
    parsed = items[0]
    if isinstance(parsed, _FORBIDDEN) or parsed.find(*_FORBIDDEN):
        raise ToolError(
            f"The {kind} transform {text!r} may only use the columns and values of one row "
            "(no queries, tables or aggregates); simplify it."
        )
    return parsed


def _substitute(parsed: exp.Expression, columns: dict[str, exp.Expression], kind: str) -> exp.Expression:
    """Replace every column reference by the current expression of that column."""
    for ref in list(parsed.find_all(exp.Column)):
        if ref.name not in columns:
            raise _unknown(ref.name, kind, list(columns))

    def swap(node: exp.Expression) -> exp.Expression:
        return columns[node.name].copy() if isinstance(node, exp.Column) else node

    return parsed.transform(swap)


def _data_type(text: str, dialect: str) -> exp.DataType:
    try:
        return exp.DataType.build(text, dialect=dialect)
    except (ParseError, ValueError) as exc:
        raise ToolError(
            f"The cast type {text!r} is not a SQL type; use one like bigint, numeric(12,2), "
            "text, date or timestamp."
        ) from exc


def project(
    source_columns: list[str] | dict[str, str], transforms: list[Transform], dialect: str = "postgres"
) -> Projection:
    """Apply `transforms` in order over the source's columns; expressions are read in `dialect`.

    `source_columns` is a list of names, or output name -> source column name where the inferred schema
    gave a column a safer identifier than the source spells it.
    """
    named = source_columns if isinstance(source_columns, dict) else {n: n for n in source_columns}
    columns: dict[str, exp.Expression] = {name: _column(source) for name, source in named.items()}
    projection = Projection(columns)
    for t in transforms:
        if t.kind == "rename":
            if t.column not in columns:
                raise _unknown(t.column or "", "rename", list(columns))
            if t.to in columns:
                raise ToolError(
                    f"The rename of {t.column} to {t.to} clashes with the existing column {t.to}; "
                    "pick another name."
                )
            columns = {(t.to if name == t.column else name): e for name, e in columns.items()}
            projection.steps.append(f"rename {t.column} to {t.to}")
        elif t.kind == "cast":
            if t.column not in columns:
                raise _unknown(t.column or "", "cast", list(columns))
            columns[t.column] = exp.Cast(this=columns[t.column], to=_data_type(t.type or "", dialect))
            projection.steps.append(f"cast {t.column} to {t.type}")
        elif t.kind == "derive":
            if t.to in columns:
                raise ToolError(f"The derived column {t.to} already exists; pick another name.")
            columns[t.to or ""] = _substitute(
                _parse(t.expression or "", "derive", dialect), columns, "derive"
            )
            projection.steps.append(f"derive {t.to} = {t.expression}")
        elif t.kind == "filter":
            condition = _substitute(_parse(t.expression or "", "filter", dialect), columns, "filter")
            projection.filters.append(condition)
            projection.steps.append(f"keep rows where {t.expression}")
        else:
            missing = [c for c in t.columns if c not in columns]
            if missing:
                raise _unknown(missing[0], "dedupe", list(columns))
            projection.dedupe = list(t.columns)
            projection.steps.append(f"keep one row per {', '.join(t.columns)}")
        projection.columns = columns
    for name in columns:
        if name.startswith("_etla_"):
            raise ToolError(
                f"The column name {name} is reserved for the pipeline's own bookkeeping; rename it."
            )
    return projection


def check_columns(projection: Projection, names: list[str], role: str) -> None:
    """Cursor and key columns must be output columns; else one sentence naming the ones there are."""
    for name in names:
        if name not in projection.columns:
            raise ToolError(
                f"The {role} {name!r} is not a column of the pipeline's output "
                f"(columns: {', '.join(projection.columns)}); pick one of them."
            )
