"""The list_datasets tool: what the catalog knows for this tenant."""

from __future__ import annotations

from pydantic import BaseModel, Field

from etl_assistant.tools.base import Tool, ToolContext


class ListDatasetsInput(BaseModel):
    pass


class DatasetSummary(BaseModel):
    name: str
    source: str
    format: str
    row_count: int
    columns: list[str] = Field(description="Column identifiers, in file order.")


class ListDatasetsOutput(BaseModel):
    datasets: list[DatasetSummary]


def run(ctx: ToolContext, args: ListDatasetsInput) -> ListDatasetsOutput:
    """List the datasets registered so far (by infer_schema): name, source file, format, row count and
    column names. Use it to find what can be designed, loaded or queried."""
    return ListDatasetsOutput(datasets=[
        DatasetSummary(name=d.name, source=d.source, format=d.format, row_count=d.row_count,
                       columns=[c.identifier for c in d.columns])
        for d in ctx.catalog.list_datasets(ctx.tenant)
    ])


TOOL = Tool(name="list_datasets", fn=run, input_model=ListDatasetsInput, output_model=ListDatasetsOutput)
