"""The ask tool: a question in plain words answered from the warehouse: rows, SQL, a summary, a chart."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from etl_assistant.tools.base import Tool, ToolContext
from etl_assistant.tools.nl_to_sql import NlToSqlInput, previous_parse


class AskInput(NlToSqlInput):
    limit: int = Field(default=100, description="Maximum rows to return (capped by the server).")


class LoadedTable(BaseModel):
    table: str
    rows: int


class AskOutput(BaseModel):
    question: str
    answer: str  # one line: the number, the top row, or the clarifying question
    sql: str | None  # the SQL that ran (guarded, LIMIT enforced); None when clarifying
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    chart: dict[str, Any] | None  # Vega-Lite v5 spec for a time series or a category breakdown
    clarification: str | None = None
    confidence: float
    parse: dict[str, Any]  # pass back as `previous` for the next question
    loaded: list[LoadedTable] = Field(default_factory=list)  # files loaded into the warehouse to answer this


def run(ctx: ToolContext, args: AskInput) -> AskOutput:
    """Answer a question about the warehouse data: link the words to tables, columns and values, build one
    read-only SQL query, run it through the SQL guard (read-only, the tenant's tables, LIMIT, timeout) and
    return the rows with the SQL, a one-line answer and a Vega-Lite chart for time series and breakdowns.
    Handles counts, totals, averages, min/max/median, shares, group-by, filters (values, numbers, negation),
    time ranges ('last month', 'in 2023', 'since March'), top-N, HAVING and joins. If the question is
    ambiguous or names data that is not there, it asks back instead of guessing. Pass the previous answer's
    `parse` as `previous` for follow-ups like 'and last year?' or 'only for EU'. Registered files that are
    not in the embedded warehouse yet are loaded first (listed in `loaded`)."""
    from etl_assistant.cache.semantic import cached_answer
    from etl_assistant.nl2sql.answer import chart
    from etl_assistant.nl2sql.autoload import load_for_question
    from etl_assistant.nl2sql.labels import labelled_columns
    from etl_assistant.nl2sql.llm import llm_ask, use_llm
    from etl_assistant.nl2sql.service import ask  # lazily: nl2sql imports warehouse, which loads tools

    loaded = [LoadedTable(table=item.table, rows=item.rows) for item in load_for_question(ctx)]
    previous = previous_parse(args.previous)
    # A verified answer to the same question (same literals, same schema) is re-run before any parsing.
    fresh_question = previous is None and not args.tables and args.question.strip()
    answer = cached_answer(ctx, args.question, today=args.today, limit=args.limit) if fresh_question else None
    if answer is None:
        answer = (llm_ask if use_llm(ctx) else ask)(
            ctx, args.question, tables=args.tables, previous=previous, today=args.today, limit=args.limit
        )
    parse = answer.translation.parse
    columns = labelled_columns(parse, answer.columns)  # "revenue", as the person said, not "sum_amount"
    shown_chart = answer.chart
    if answer.chart and columns != answer.columns:
        shown_chart = chart(parse, columns, answer.rows)
        if shown_chart is not None:
            shown_chart["encoding"]["y"]["title"] = columns[-1]
    return AskOutput(
        question=args.question,
        answer=answer.summary,
        sql=answer.translation.sql,
        columns=columns,
        rows=answer.rows,
        truncated=answer.truncated,
        chart=shown_chart,
        clarification=parse.clarify,
        confidence=round(parse.confidence, 3),
        parse=parse.model_dump(mode="json"),
        loaded=loaded,
    )


TOOL = Tool(name="ask", fn=run, input_model=AskInput, output_model=AskOutput)
