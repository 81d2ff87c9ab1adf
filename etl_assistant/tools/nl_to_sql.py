"""The nl_to_sql tool: a question in plain words -> one read-only SQL query for the warehouse, not run."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from etl_assistant.errors import ToolError
from etl_assistant.nl2sql.model import QueryParse
from etl_assistant.tools.base import Tool, ToolContext


class NlToSqlInput(BaseModel):
    question: str = Field(description="The question in plain words, e.g. 'top 5 regions by revenue in 2024'.")
    tables: list[str] | None = Field(
        default=None, description="Only these tables or datasets (default: all of the tenant's tables)."
    )
    previous: dict[str, Any] | None = Field(
        default=None,
        description="The `parse` of the previous ask/nl_to_sql answer, for follow-ups like 'and last year?'.",
    )
    today: date | None = Field(default=None, description="Anchor for relative dates (default: today's date).")


class NlToSqlOutput(BaseModel):
    question: str
    sql: str | None  # None when a clarification is needed instead
    dialect: str
    clarification: str | None = None  # a question back to the person, naming the candidates
    confidence: float  # 0..1; below 0.8 the reading is a guess worth confirming
    parse: dict[str, Any]  # pass back as `previous` for the next question


def previous_parse(previous: dict[str, Any] | None) -> QueryParse | None:
    if previous is None:
        return None
    try:
        return QueryParse.model_validate(previous)
    except ValidationError as exc:
        raise ToolError(
            "`previous` is not the parse of an earlier answer; pass the `parse` field of the previous "
            "ask/nl_to_sql output unchanged, or leave it out."
        ) from exc


def run(ctx: ToolContext, args: NlToSqlInput) -> NlToSqlOutput:
    """Translate a question about the warehouse data into one read-only SQL query without running it.
    Offline, a schema-linking parser links the words to tables, columns and stored values (fuzzy, with
    synonyms), and handles aggregates, group-by, filters, time ranges, top-N, HAVING and joins along known
    relationships. When the question is ambiguous or names data that is not there, `clarification` asks back
    instead of guessing. Pass the previous answer's `parse` as `previous` for follow-up questions."""
    from etl_assistant.nl2sql.llm import llm_translate, use_llm
    from etl_assistant.nl2sql.service import translate  # lazily: nl2sql imports warehouse, which loads tools

    translation = (llm_translate if use_llm(ctx) else translate)(
        ctx,
        args.question,
        tables=args.tables,
        previous=previous_parse(args.previous),
        today=args.today,
        limit=ctx.settings.query_row_limit,
    )
    parse = translation.parse
    return NlToSqlOutput(
        question=args.question,
        sql=translation.sql,
        dialect=translation.dialect,
        clarification=parse.clarify,
        confidence=round(parse.confidence, 3),
        parse=parse.model_dump(mode="json"),
    )


TOOL = Tool(name="nl_to_sql", fn=run, input_model=NlToSqlInput, output_model=NlToSqlOutput)
