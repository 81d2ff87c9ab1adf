"""The verify tool: a person confirms an answer ("save this"), so its question->SQL pair is remembered.

The SQL must pass the guard and plan on the engine; the pair is stored per tenant with the schema version of
every table it reads. Stored pairs become examples for the LLM and entries of the semantic cache, which
serves them again only while those versions hold.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from etl_assistant.errors import ToolError
from etl_assistant.tools.base import Tool, ToolContext


class VerifyInput(BaseModel):
    question: str = Field(description="The question in plain words that `sql` answers correctly.")
    sql: str = Field(description="The SQL the person confirmed (one SELECT over their tables).")
    today: date | None = Field(
        default=None, description="The date relative phrases in the question refer to."
    )


class VerifyOutput(BaseModel):
    question: str
    sql: str  # as stored: the guard's rendering
    tables: dict[str, int]  # table -> schema version it was verified against
    pair_id: str
    message: str


def run(ctx: ToolContext, args: VerifyInput) -> VerifyOutput:
    """Save a confirmed question->SQL pair for this tenant (when the person says an answer is right, e.g.
    'save this'). The SQL is checked by the SQL guard and planned on the warehouse first; the pair is stored
    with the schema versions of the tables it reads and is then reused: as an example for LLM NL->SQL and by
    the semantic cache, which answers the same question (same numbers, dates and values) without parsing."""
    from etl_assistant.cache.semantic import question_signature  # lazily: imports nl2sql and the vector store
    from etl_assistant.nl2sql.llm import dry_plan_sql, tables_read
    from etl_assistant.retrieval.pairs import save_pair
    from etl_assistant.retrieval.store import vector_store
    from etl_assistant.tools.run_query import allowed_tables
    from etl_assistant.warehouse.safety import guard

    question = " ".join(args.question.split())
    if not question:
        raise ToolError("The question is empty; pass the question the SQL answers.")
    allowed = allowed_tables(ctx)
    dialect = ctx.warehouse.dialect
    safe = guard(args.sql, dialect=dialect, allowed_tables=allowed, limit=ctx.settings.query_row_limit,
                 max_depth=ctx.settings.max_sql_depth)
    ctx.warehouse.query(
        dry_plan_sql(safe, dialect), limit=1, timeout_s=ctx.settings.query_timeout_s, read_only=True
    )
    versions = {table: ctx.catalog.schema_version(ctx.tenant, table) for table in tables_read(safe, dialect)}
    pair = save_pair(
        vector_store(ctx.settings),
        tenant=ctx.tenant,
        question=question,
        sql=safe,
        dialect=dialect,
        versions=versions,
        signature=question_signature(ctx, question, args.today or date.today(), allowed),
    )
    return VerifyOutput(
        question=question,
        sql=safe,
        tables=versions,
        pair_id=pair.id,
        message=f"Saved: questions like {question!r} will reuse this SQL while {', '.join(versions)} keep "
        "their current schema.",
    )


TOOL = Tool(name="verify", fn=run, input_model=VerifyInput, output_model=VerifyOutput, read_only=False)
