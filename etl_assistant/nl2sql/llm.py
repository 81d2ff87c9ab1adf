"""NL->SQL with an OpenAI-compatible LLM: retrieved context in, guarded SQL out, errors fed back (bounded).

The prompt (prompts/nl2sql.md) gets only the tables the vector store ranks relevant to the question (top-k,
with columns, roles, sample values, value ranges and joins) and the tenant's nearest verified question->SQL
pairs. Each reply goes through the same guard as every other SQL; then it is executed (ask) or dry-planned on
the engine (nl_to_sql: `SELECT * FROM (<sql>) LIMIT 0` plans every name without reading rows). A parse, guard,
plan or execution error goes back to the model, at most `llm_sql_tries` tries in all; when none works, the
answer says so in one sentence instead of failing.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date
from string import Template
from typing import Any

import sqlglot
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from etl_assistant.errors import EtlError, ToolError
from etl_assistant.nl2sql.model import QueryParse
from etl_assistant.nl2sql.schema_graph import SchemaGraph, load_graph
from etl_assistant.nl2sql.service import Answer, Translation
from etl_assistant.nl2sql.values import value_index
from etl_assistant.prompts import load_prompt
from etl_assistant.retrieval.column_ranges import column_ranges
from etl_assistant.retrieval.pairs import similar_pairs
from etl_assistant.retrieval.schema_index import relevant_tables, sample_values, sync_schema
from etl_assistant.retrieval.store import embed_texts, vector_store
from etl_assistant.tools.base import ToolContext
from etl_assistant.tools.run_query import allowed_tables, jsonable
from etl_assistant.warehouse.base import QueryResult
from etl_assistant.warehouse.safety import guard

EXAMPLES = 3  # verified pairs shown to the model
# An LLM answer nobody has confirmed yet sits below the 0.8 line where a reading is "worth confirming".
LLM_CONFIDENCE = 0.7
_SQL_BLOCK = re.compile(r"```(?:sql)?\s*(.*?)```", re.IGNORECASE | re.DOTALL)
_SQL_START = re.compile(r"\b(WITH|SELECT)\b", re.IGNORECASE)
# Calls made inside a tool must not stream into the chat (LangGraph collects any model run it can see).
_QUIET = {"callbacks": [], "tags": ["nostream"], "run_name": "nl2sql_llm"}


def use_llm(ctx: ToolContext) -> bool:
    return ctx.settings.model == "openai"


@dataclass
class Attempt:
    sql: str  # what the model wrote (or its whole reply when it held no SQL)
    error: str | None = None


@dataclass
class Outcome:
    """The last good guarded SQL with its result, or why every try failed (`failure`)."""

    sql: str | None = None
    result: QueryResult | None = None
    failure: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)  # the tables the prompt showed
    elapsed_ms: float = 0.0


def extract_sql(reply: str) -> str:
    """The SQL in a reply: a fenced block, else the text from the first SELECT/WITH; ToolError when none."""
    block = _SQL_BLOCK.search(reply)
    if block:
        return block.group(1).strip()
    start = _SQL_START.search(reply)
    if start is None:
        raise ToolError("The reply held no SQL query; answer with one SELECT in a ```sql block.")
    return reply[start.start() :].strip()


def tables_read(sql: str, dialect: str) -> list[str]:
    """Real tables (not CTEs) a guarded query reads, in first-use order."""
    root = sqlglot.parse_one(sql, read=dialect)
    names = [
        t.name for scope in traverse_scope(root) for t in scope.tables if t.name not in scope.cte_sources
    ]
    return list(dict.fromkeys(names))


def dry_plan_sql(sql: str, dialect: str) -> str:
    """`SELECT * FROM (<sql>) AS dry_plan LIMIT 0`: the engine resolves every name and type, reads no rows."""
    inner = sqlglot.parse_one(sql, read=dialect)
    return exp.select(exp.Star()).from_(inner.subquery("dry_plan")).limit(0).sql(dialect=dialect)


def render_tables(
    graph: SchemaGraph,
    names: list[str],
    samples: dict[tuple[str, str], list[str]],
    ranges: dict[tuple[str, str], str],
) -> str:
    lines = []
    for name in names:
        table = graph.tables[name]
        lines.append(f"TABLE {name} ({table.row_count:,} rows)")
        for column in table.columns:
            values = samples.get((name, column.name))
            shown = f"; values: {', '.join(repr(v) for v in values)}" if values else ""
            if (name, column.name) in ranges:
                shown += f"; range: {ranges[(name, column.name)]}"
            lines.append(f"  {column.name} {column.type} -- {column.role}{shown}")
    joins = [e for e in graph.edges if e.table in names and e.ref_table in names]
    lines += [f"JOIN {e.table}.{e.column} = {e.ref_table}.{e.ref_column}" for e in joins]
    return "\n".join(lines)


def _chat_model(ctx: ToolContext) -> BaseChatModel:
    if ctx.chat_model is not None:
        return ctx.chat_model
    from etl_assistant.agent.models import get_chat_model

    return get_chat_model(ctx.settings)


def _prompt(
    ctx: ToolContext, question: str, allowed: set[str], only: list[str] | None, today: date
) -> tuple[str, list[str]]:
    """The system prompt with the relevant tables and verified examples; and the table names it shows."""
    graph = load_graph(ctx, allowed, only)
    if not graph.tables:
        raise ToolError(
            "There is no data to ask about yet; upload a file (or say 'here is data/orders.csv'), "
            "then ask again."
        )
    values = value_index(graph, ctx.warehouse)
    store = vector_store(ctx.settings)
    sync_schema(store, ctx.tenant, graph, values)
    vector = embed_texts([question])[0]
    names = relevant_tables(store, ctx.tenant, question, graph, ctx.settings.retrieval_top_k, vector)
    dialect = ctx.warehouse.dialect
    pairs = [
        p
        for p in similar_pairs(store, ctx.tenant, dialect, vector, EXAMPLES)
        if set(p.versions) <= allowed and p.is_current(ctx.catalog)
    ]
    examples = "\n\n".join(f"Q: {p.question}\nSQL: {p.sql}" for p in pairs) or "(none yet)"
    text = Template(load_prompt("nl2sql")).safe_substitute(
        dialect=dialect,
        today=today.isoformat(),
        tables=render_tables(graph, names, sample_values(values), column_ranges(graph, names, ctx.warehouse)),
        examples=examples,
    )
    return text, names


def generate(
    ctx: ToolContext,
    question: str,
    *,
    tables: list[str] | None = None,
    previous: QueryParse | None = None,
    today: date | None = None,
    limit: int = 100,
    execute: bool = True,
) -> Outcome:
    """Ask the model, check each reply (guard, then run or dry-plan), feed errors back; at most N tries."""
    if not question.strip():
        raise ToolError("The question is empty; ask something about your data, e.g. 'revenue by region'.")
    started = time.perf_counter()
    allowed = allowed_tables(ctx)
    dialect = ctx.warehouse.dialect
    system, shown = _prompt(ctx, question, allowed, tables, today or date.today())
    asked = f'Follow-up to "{previous.question}": {question}' if previous is not None else question
    messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(asked)]
    outcome = Outcome(tables=shown)
    model = _chat_model(ctx)
    for _ in range(max(1, ctx.settings.llm_sql_tries)):
        reply = _invoke(model, messages, ctx)
        messages.append(AIMessage(reply))
        if reply.strip().upper().startswith("CANNOT:"):
            outcome.attempts.append(Attempt(reply, "the model found no data for it"))
            outcome.failure = (
                reply.strip()[len("CANNOT:") :].strip() or "The data to answer this is not there."
            )
            break
        attempt = Attempt(reply)
        outcome.attempts.append(attempt)
        try:
            attempt.sql = extract_sql(reply)
            safe = guard(attempt.sql, dialect=dialect, allowed_tables=allowed, limit=limit,
                         max_depth=ctx.settings.max_sql_depth)
            query = safe if execute else dry_plan_sql(safe, dialect)
            outcome.result = ctx.warehouse.query(
                query, limit=limit if execute else 1, timeout_s=ctx.settings.query_timeout_s, read_only=True
            )
            outcome.sql = safe
            break
        except ToolError as exc:
            attempt.error = str(exc)
            messages.append(
                HumanMessage(
                    f"That query failed: {exc} Reply with one corrected {dialect} SELECT in a ```sql block."
                )
            )
    if outcome.sql is None and outcome.failure is None:
        outcome.failure = (
            f"I could not write a query that runs for this after {len(outcome.attempts)} tries (last "
            f"problem: {outcome.attempts[-1].error.rstrip('.')}); rephrase the question or name the tables "
            "and columns to use."
        )
    outcome.elapsed_ms = (time.perf_counter() - started) * 1000
    return outcome


def _invoke(model: BaseChatModel, messages: list[BaseMessage], ctx: ToolContext) -> str:
    try:
        reply = model.invoke(messages, config=_QUIET)
    except Exception as exc:  # the client's own errors (connection, auth, rate limit) name no fix for people
        raise EtlError(
            f"The LLM at {ctx.settings.llm_base_url or 'the OpenAI API'} did not answer "
            f"({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); check ETLA_LLM_BASE_URL and "
            "ETLA_LLM_API_KEY, or use ETLA_MODEL=offline."
        ) from exc
    return reply.text if isinstance(reply, AIMessage) else str(reply)


def _parse(question: str, outcome: Outcome, dialect: str) -> QueryParse:
    notes = [f"llm: {len(outcome.attempts)} tries; tables shown: {', '.join(outcome.tables)}"]
    notes += [f"try {i}: {a.error}" for i, a in enumerate(outcome.attempts, start=1) if a.error]
    if outcome.sql is None:
        return QueryParse(question=question, clarify=outcome.failure, confidence=0.0, notes=notes)
    read = tables_read(outcome.sql, dialect)
    return QueryParse(
        question=question, base=read[0] if read else None, confidence=LLM_CONFIDENCE, notes=notes
    )


def llm_translate(
    ctx: ToolContext,
    question: str,
    *,
    tables: list[str] | None = None,
    previous: QueryParse | None = None,
    today: date | None = None,
    limit: int = 100,
) -> Translation:
    """The LLM's guarded SQL, dry-planned on the engine but not run."""
    outcome = generate(
        ctx, question, tables=tables, previous=previous, today=today, limit=limit, execute=False
    )
    dialect = ctx.warehouse.dialect
    return Translation(_parse(question, outcome, dialect), outcome.sql, dialect, outcome.elapsed_ms)


def llm_ask(
    ctx: ToolContext,
    question: str,
    *,
    tables: list[str] | None = None,
    previous: QueryParse | None = None,
    today: date | None = None,
    limit: int = 100,
) -> Answer:
    """The LLM's guarded SQL, run read-only with the row limit; the answer says so when no try worked."""
    limit = max(1, min(limit, ctx.settings.query_row_limit))
    # One row more than asked shows whether the result was cut.
    outcome = generate(ctx, question, tables=tables, previous=previous, today=today, limit=limit + 1)
    dialect = ctx.warehouse.dialect
    parse = _parse(question, outcome, dialect)
    translation = Translation(parse, outcome.sql, dialect, outcome.elapsed_ms)
    if outcome.result is None:
        return Answer(translation, [], [], False, parse.clarify or "", None, 0.0)
    return result_answer(translation, outcome.result, limit, 0.0)


def result_answer(translation: Translation, result: QueryResult, limit: int, execute_ms: float) -> Answer:
    """Rows of free-form SQL (an LLM's, a verified pair's) as an Answer with a one-line summary."""
    rows = [[jsonable(v) for v in row] for row in result.rows[:limit]]
    truncated = result.truncated or len(result.rows) > limit
    return Answer(
        translation,
        result.columns,
        rows,
        truncated,
        summarize_rows(result.columns, rows, truncated),
        None,
        execute_ms,
    )


def summarize_rows(columns: list[str], rows: list[list[Any]], truncated: bool) -> str:
    if not rows:
        return "No rows matched."
    if len(rows) == 1 and len(columns) == 1:
        return f"{columns[0]} is {rows[0][0]}."
    first = ", ".join(f"{c}={v}" for c, v in zip(columns, rows[0], strict=False))
    return f"{len(rows)}{'+' if truncated else ''} row(s); first: {first}."
