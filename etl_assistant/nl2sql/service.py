"""The NL->SQL pipeline both tools share: link (schema graph + value index), parse, build, guard, execute,
answer. `today` is injectable so evals and tests get the same answer every day."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from etl_assistant.errors import ToolError
from etl_assistant.nl2sql.answer import chart, summarize
from etl_assistant.nl2sql.build import latest_query, render_query, resolve_latest
from etl_assistant.nl2sql.model import QueryParse
from etl_assistant.nl2sql.parser import Parser
from etl_assistant.nl2sql.schema_graph import SchemaGraph, load_graph
from etl_assistant.nl2sql.values import value_index
from etl_assistant.tools.base import ToolContext
from etl_assistant.tools.run_query import allowed_tables, jsonable
from etl_assistant.warehouse.safety import guard

_parsers_lock = threading.Lock()
_parsers: dict[int, tuple[SchemaGraph, int, Parser]] = {}


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


def parser_for(ctx: ToolContext, tables: list[str] | None = None) -> Parser:
    """The parser for the tenant's current schema (rebuilt only when a table's schema version moves)."""
    graph = load_graph(ctx, tables)
    if not graph.tables:
        raise ToolError(
            "There are no tables to ask about yet; load a file first (load_table), then ask again."
        )
    values = value_index(graph, ctx.warehouse)
    with _parsers_lock:
        cached = _parsers.get(id(graph))
        if cached is not None and cached[0] is graph and cached[1] == len(values):
            return cached[2]
    parser = Parser(graph, values)
    with _parsers_lock:
        _parsers[id(graph)] = (graph, len(values), parser)
    return parser


def translate(
    ctx: ToolContext,
    question: str,
    *,
    tables: list[str] | None = None,
    previous: QueryParse | None = None,
    today: date | None = None,
) -> Translation:
    """Question -> parse -> SQL for the warehouse's dialect (not run, apart from a latest-date lookup)."""
    if not question.strip():
        raise ToolError("The question is empty; ask something about your data, e.g. 'revenue by region'.")
    started = time.perf_counter()
    parser = parser_for(ctx, tables)
    parse = parser.parse(question, today or date.today(), previous)
    dialect = ctx.warehouse.dialect
    if parse.clarify:
        return Translation(parse, None, dialect, (time.perf_counter() - started) * 1000)
    if parse.time is not None and parse.time.latest is not None:
        result = ctx.warehouse.query(
            latest_query(parse, dialect), limit=1, timeout_s=ctx.settings.query_timeout_s, read_only=True
        )
        latest = result.rows[0][0] if result.rows else None
        if latest is None:
            parse.clarify = (
                f"{parse.time.ref.table} has no dates yet, so there is no latest {parse.time.latest}."
            )
            return Translation(parse, None, dialect, (time.perf_counter() - started) * 1000)
        resolve_latest(parse, latest.date() if hasattr(latest, "date") else latest)
    sql = render_query(parse, parser.graph, dialect)
    return Translation(parse, sql, dialect, (time.perf_counter() - started) * 1000)


def ask(
    ctx: ToolContext,
    question: str,
    *,
    tables: list[str] | None = None,
    previous: QueryParse | None = None,
    today: date | None = None,
    limit: int = 100,
) -> Answer:
    """Translate, run through the guard (read-only, allow-listed tables, LIMIT), describe the result."""
    translation = translate(ctx, question, tables=tables, previous=previous, today=today)
    parse = translation.parse
    if translation.sql is None:
        return Answer(translation, [], [], False, parse.clarify or "", None, 0.0)
    limit = max(1, min(limit, ctx.settings.query_row_limit))
    safe_sql = guard(
        translation.sql, dialect=translation.dialect, allowed_tables=allowed_tables(ctx), limit=limit + 1
    )
    started = time.perf_counter()
    result = ctx.warehouse.query(
        safe_sql, limit=limit, timeout_s=ctx.settings.query_timeout_s, read_only=True
    )
    execute_ms = (time.perf_counter() - started) * 1000
    rows = [[jsonable(v) for v in row] for row in result.rows[:limit]]
    truncated = result.truncated or len(result.rows) > limit
    translation.sql = safe_sql
    return Answer(
        translation,
        result.columns,
        rows,
        truncated,
        summarize(parse, result.columns, rows, truncated),
        chart(parse, result.columns, rows),
        execute_ms,
    )
