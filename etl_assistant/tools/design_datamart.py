"""The design_datamart tool: words or a structured spec -> a datamart definition for the warehouse engine."""

from __future__ import annotations

from pydantic import BaseModel, Field

from etl_assistant.datamart import DatamartDefinition, DatamartSpec, build_definition, parse_request
from etl_assistant.datamart.words import split_request
from etl_assistant.deploy.plan import dataset_schema, source_table_of
from etl_assistant.deploy.store import DeployStore
from etl_assistant.errors import ToolError
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.tools.base import Tool, ToolContext


class DesignDatamartInput(BaseModel):
    request: str | None = Field(
        default=None, description="In words, e.g. 'daily revenue and order count per region from orders'."
    )
    spec: DatamartSpec | None = Field(default=None, description="A structured spec instead of words.")
    dataset: str | None = Field(
        default=None,
        description="Source dataset (default: named in the request, or the one dataset whose columns fit).",
    )
    dialect: str | None = Field(
        default=None, description="clickhouse or postgres (default: the warehouse's)."
    )
    name: str | None = Field(default=None, description="Datamart name (default: derived from the request).")
    with_view: bool = Field(default=False, description="Also create a plain view <name>_view.")


class DesignDatamartOutput(BaseModel):
    spec: DatamartSpec
    definition: DatamartDefinition


def _spec_from_words(
    ctx: ToolContext, args: DesignDatamartInput, request: str
) -> tuple[DatamartSpec, DatasetSchema]:
    named = args.dataset or split_request(request)[2]
    if named:
        schema = dataset_schema(ctx, named)
        return parse_request(request, schema, args.name), schema
    datasets = [d for d in ctx.catalog.list_datasets(ctx.tenant) if d.format != "table"]
    if not datasets:
        raise ToolError("No dataset is registered yet; upload or inspect a file first.")
    fits: list[tuple[DatamartSpec, DatasetSchema]] = []
    first_error: ToolError | None = None
    for schema in datasets:
        try:
            fits.append((parse_request(request, schema, args.name), schema))
        except ToolError as exc:
            first_error = first_error or exc
    if len(fits) == 1:
        return fits[0]
    if not fits:
        assert first_error is not None
        raise first_error
    names = ", ".join(schema.name for _, schema in fits)
    raise ToolError(
        f"Several datasets fit {request!r} ({names}); say which, e.g. '... from {fits[0][1].name}'."
    )


def run(ctx: ToolContext, args: DesignDatamartInput) -> DesignDatamartOutput:
    """Design a datamart (an aggregate kept fresh by the warehouse) from words such as 'daily revenue and
    order count per region from orders', or from a structured spec (dataset, grain day/week/month, time
    column, dimensions, measures with sum/count/avg/min/max/count_distinct, filters). Returns the definition
    for ClickHouse (AggregatingMergeTree or SummingMergeTree target, materialized view, backfill, read query)
    or PostgreSQL (materialized view, unique index, refresh). Saves it under its name for deploy."""
    if args.spec is not None:
        spec = args.spec.model_copy(update={"name": args.name or args.spec.name})
        schema = dataset_schema(ctx, spec.dataset)
    elif args.request:
        spec, schema = _spec_from_words(ctx, args, args.request)
    else:
        raise ToolError("Describe the datamart in words (request) or pass a structured spec.")
    spec = spec.model_copy(update={"with_view": spec.with_view or args.with_view})
    if not spec.key_columns():
        raise ToolError(
            "A datamart needs a time grain (daily, weekly, monthly) or a dimension ('per region')."
        )
    dialect = (args.dialect or ctx.warehouse.dialect).lower().replace("postgresql", "postgres")
    definition = build_definition(spec, schema, dialect, source_table_of(ctx, schema, dialect))
    DeployStore(ctx.catalog).save_datamart(ctx.tenant, spec)
    return DesignDatamartOutput(spec=spec, definition=definition)


TOOL = Tool(
    name="design_datamart",
    fn=run,
    input_model=DesignDatamartInput,
    output_model=DesignDatamartOutput,
    read_only=False,
)
