"""The NL->SQL pipeline both tools share: link (schema graph + value index), parse, build, guard, execute,
answer. `today` is injectable so evals and tests get the same answer every day."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from etl_assistant.errors import ToolError
from etl_assistant.nl2sql.answer import chart, summarize
from etl_assistant.nl2sql.build import build_query, latest_query, resolve_latest
from etl_assistant.nl2sql.cache import BoundedCache
from etl_assistant.nl2sql.model import QueryParse
from etl_assistant.nl2sql.parser import Parser
from etl_assistant.nl2sql.schema_graph import SchemaGraph, load_graph
from etl_assistant.nl2sql.value_probe import ValueProbe
from etl_assistant.nl2sql.values import value_index
from etl_assistant.tools.base import ToolContext
from etl_assistant.tools.run_query import allowed_tables, jsonable
from etl_assistant.warehouse.safety import guard

_parsers: BoundedCache[int, tuple[SchemaGraph, int, Parser]] = BoundedCache(64)  # by id(graph)


@dataclass
class Translation:
    parse: QueryParse
    sql: str | None  # None when the parser asks a clarifying question
    dialect: str
    elapsed_ms: float


@dataclass
class Answer:
    translation: Translation
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    summary: str
    chart: dict[str, Any] | None
    execute_ms: float


def parser_for(ctx: ToolContext, allowed: set[str], tables: list[str] | None = None) -> Parser:
    """The parser for the tenant's current schema (rebuilt only when a table's schema version moves)."""
    graph = load_graph(ctx, allowed, tables)
    if not graph.tables:
        raise ToolError(
            "There is no data to ask about yet; upload a file (or say 'here is data/orders.csv'), "
            "then ask again."
        )
    values = value_index(graph, ctx.warehouse)
    cached = _parsers.get(id(graph))
    if cached is not None and cached[0] is graph and cached[1] == len(values):
        parser = cached[2]
    else:
        parser = Parser(graph, values)
        _parsers.put(id(graph), (graph, len(values), parser))
    parser.probe = ValueProbe(graph, ctx.warehouse)  # this context's engine; its cache is per table version
    return parser


def translate(
    ctx: ToolContext,
    question: str,
    *,
    tables: list[str] | None = None,
    previous: QueryParse | None = None,
    today: date | None = None,
    limit: int = 100,
) -> Translation:
    """Question -> parse -> SQL through the guard (read-only, the tenant's tables, LIMIT `limit`); not run,
    apart from a latest-date lookup for "latest month"-style questions."""
    if not question.strip():
        raise ToolError("The question is empty; ask something about your data, e.g. 'revenue by region'.")
    started = time.perf_counter()
    allowed = allowed_tables(ctx)
    parser = parser_for(ctx, allowed, tables)
    parse = parser.parse(question, today or date.today(), previous)
    dialect = ctx.warehouse.dialect
    if not parse.clarify and parse.time is not None and parse.time.latest is not None:
        _resolve_latest(ctx, parse)
    if parse.clarify:
        return Translation(parse, None, dialect, (time.perf_counter() - started) * 1000)
    # The guard parses the rendering back (no opaque Command may pass) and is the only way SQL gets run.
    sql = guard(
        build_query(parse, parser.graph, dialect).sql(dialect=dialect),
        dialect=dialect,
        allowed_tables=allowed,
        limit=limit,
        max_depth=ctx.settings.max_sql_depth,
    )
    return Translation(parse, sql, dialect, (time.perf_counter() - started) * 1000)


def _resolve_latest(ctx: ToolContext, parse: QueryParse) -> None:
    result = ctx.warehouse.query(
        latest_query(parse, ctx.warehouse.dialect),
        limit=1,
        timeout_s=ctx.settings.query_timeout_s,
        read_only=True,
    )
    latest = result.rows[0][0] if result.rows else None
    if latest is None:
        parse.clarify = f"{parse.time.ref.table} has no dates yet, so there is no latest {parse.time.latest}."
        return
    resolve_latest(parse, latest.date() if hasattr(latest, "date") else latest)


def ask(
    ctx: ToolContext,
    question: str,
    *,
    tables: list[str] | None = None,
    previous: QueryParse | None = None,
    today: date | None = None,
    limit: int = 100,
) -> Answer:
    """Translate (guarded SQL), run it read-only with the row limit and timeout, describe the result."""
    limit = max(1, min(limit, ctx.settings.query_row_limit))
    # One row more than asked shows whether the result was cut.
    translation = translate(ctx, question, tables=tables, previous=previous, today=today, limit=limit + 1)
    parse = translation.parse
    if translation.sql is None:
        return Answer(translation, [], [], False, parse.clarify or "", None, 0.0)
    started = time.perf_counter()
    result = ctx.warehouse.query(
        translation.sql, limit=limit, timeout_s=ctx.settings.query_timeout_s, read_only=True
    )
    execute_ms = (time.perf_counter() - started) * 1000
    rows = [[jsonable(v) for v in row] for row in result.rows[:limit]]
    truncated = result.truncated or len(result.rows) > limit
    return Answer(
        translation,
        result.columns,
        rows,
        truncated,
        summarize(parse, result.columns, rows, truncated),
        chart(parse, result.columns, rows),
        execute_ms,
    )
