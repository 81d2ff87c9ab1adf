"""The answer around the rows: a one-line summary and, for a time series or a category breakdown, a
Vega-Lite chart spec a UI can render as-is."""

from __future__ import annotations

from typing import Any

from etl_assistant.nl2sql.model import QueryParse

VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
_AGG_WORDS = {
    "count": "number of rows",
    "count_distinct": "distinct",
    "sum": "total",
    "avg": "average",
    "min": "minimum",
    "max": "maximum",
    "median": "median",
    "share": "share (%)",
}


def describe_measure(parse: QueryParse) -> str:
    measure = parse.measure
    if measure is None:
        return "rows"
    if measure.agg == "count":
        return f"number of {parse.base}"
    column = measure.ref.column if measure.ref else parse.base
    if measure.agg == "ratio" and measure.per is not None:
        return f"{column} per {measure.per.column}"
    return f"{_AGG_WORDS[measure.agg]} {column}"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def summarize(parse: QueryParse, columns: list[str], rows: list[list[Any]], truncated: bool) -> str:
    """One line: the number, or the row count and the top row."""
    when = f" ({parse.time.label})" if parse.time and parse.time.label else ""
    if not rows:
        return f"No rows matched{when}."
    what = describe_measure(parse)
    if parse.columns:
        return (
            f"{len(rows)} {parse.base} row(s){when}; first: "
            + ", ".join(f"{c}={_fmt(v)}" for c, v in zip(columns, rows[0], strict=False))
            + "."
        )
    if not parse.dimensions:
        return f"The {what} is {_fmt(rows[0][-1])}{when}."
    more = "+" if truncated else ""
    dims = " and ".join(d.alias for d in parse.dimensions)
    if parse.order:
        head = ", ".join(_fmt(v) for v in rows[0][:-1])
        rank = "Top" if parse.order == "desc" else "Lowest"
        return f"{rank}: {head} with {what} {_fmt(rows[0][-1])}{when} ({len(rows)}{more} row(s) by {dims})."
    best = max(rows, key=lambda r: r[-1] if isinstance(r[-1], int | float) else float("-inf"))
    head = ", ".join(_fmt(v) for v in best[:-1])
    return f"{len(rows)}{more} {dims} group(s){when}; highest {what}: {head} ({_fmt(best[-1])})."


def chart(parse: QueryParse, columns: list[str], rows: list[list[Any]]) -> dict[str, Any] | None:
    """A line chart for a time series, a bar chart for a category breakdown; None for anything else."""
    if not parse.dimensions or parse.measure is None or not rows or len(parse.dimensions) > 2:
        return None
    values = [dict(zip(columns, row, strict=False)) for row in rows]
    measure = columns[-1]
    time_dims = [d for d in parse.dimensions if d.bucket]
    other_dims = [d for d in parse.dimensions if not d.bucket]
    spec: dict[str, Any] = {"$schema": VEGA_LITE_SCHEMA, "data": {"values": values}, "title": parse.question}
    y = {"field": measure, "type": "quantitative", "title": describe_measure(parse)}
    if time_dims:
        time = time_dims[0]
        spec["mark"] = {"type": "line", "point": True}
        spec["encoding"] = {
            "x": {
                "field": time.alias,
                "type": "temporal",
                "timeUnit": _time_unit(time.bucket),
                "title": time.alias,
            },
            "y": y,
        }
        if other_dims:
            spec["encoding"]["color"] = {"field": other_dims[0].alias, "type": "nominal"}
        return spec
    first = other_dims[0]
    spec["mark"] = {"type": "bar"}
    spec["encoding"] = {
        "x": {"field": first.alias, "type": "nominal", "sort": "-y" if parse.order != "asc" else "y"},
        "y": y,
    }
    if len(other_dims) > 1:
        spec["encoding"]["color"] = {"field": other_dims[1].alias, "type": "nominal"}
    return spec


def _time_unit(bucket: str | None) -> str:
    return {
        "day": "yearmonthdate",
        "week": "yearmonthdate",
        "month": "yearmonth",
        "quarter": "yearquarter",
        "year": "year",
    }.get(bucket or "day", "yearmonthdate")
