"""What an MCP host can read without calling a tool: the catalog as resources, plus two starter prompts.

- `datasets://`                the tenant's datasets (name, source, format, rows, columns, schema URI)
- `datasets://{name}/schema`   one dataset's inferred schema and a few typed sample rows from its source
- `tables://`                  the warehouse tables we created (dialect, rows, version, DDL URI)
- `tables://{name}/ddl`        the DDL that created a table, as SQL text
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from etl_assistant.channels.mcp_tools import ContextFactory
from etl_assistant.errors import EtlError
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.tools.base import ToolContext

SAMPLE_ROWS = 5


def _no_progress(done: float, total: float | None, message: str) -> None:
    return None


def sample_rows(schema: DatasetSchema, limit: int = SAMPLE_ROWS) -> dict[str, Any]:
    """The first rows of the source, typed as the schema says; a note instead if the source is unreadable."""
    from etl_assistant.schema.readers import iter_typed_batches

    try:
        rows: list[dict[str, Any]] = []
        for batch in iter_typed_batches(schema, batch_rows=limit):
            rows.extend(islice(batch.to_pylist(), limit - len(rows)))
            if len(rows) >= limit:
                break
    except EtlError as exc:
        return {"rows": [], "note": str(exc)}
    return {"rows": rows}


def register_catalog_resources(server: MCPServer, make_context: ContextFactory) -> None:
    """Expose the tenant's catalog read-only; unknown names are a not-found error naming the listing URI."""

    def context() -> ToolContext:
        return make_context(_no_progress)

    def read_catalog(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except EtlError as exc:
            raise ResourceError(str(exc)) from exc

    @server.resource("datasets://", name="datasets", mime_type="application/json",
                     description="Datasets registered by infer_schema: name, source, format, rows, columns.")
    def list_datasets() -> dict[str, Any]:
        ctx = context()
        schemas = read_catalog(ctx.catalog.list_datasets, ctx.tenant)
        return {"datasets": [
            {"name": s.name, "source": s.source, "format": s.format, "row_count": s.row_count,
             "columns": [c.identifier for c in s.columns], "schema_uri": f"datasets://{s.name}/schema"}
            for s in schemas
        ]}

    @server.resource("datasets://{name}/schema", name="dataset_schema", mime_type="application/json",
                     description="A dataset's inferred schema (types, nulls, keys, links) and sample rows.")
    def dataset_schema(name: str) -> dict[str, Any]:
        ctx = context()
        schema = read_catalog(ctx.catalog.get_dataset, ctx.tenant, name)
        if schema is None:
            raise ResourceNotFoundError(f"No dataset named {name!r}; read datasets:// for the registered "
                                        "names or call infer_schema on the file first.")
        return {"schema": schema.model_dump(mode="json"), "sample": sample_rows(schema)}

    @server.resource("tables://", name="tables", mime_type="application/json",
                     description="Warehouse tables created here: dialect, dataset, rows loaded, version.")
    def list_tables() -> dict[str, Any]:
        ctx = context()
        records = read_catalog(ctx.catalog.list_tables, ctx.tenant)
        return {"tables": [
            {"name": r.table, "dataset": r.dataset, "dialect": r.dialect, "row_count": r.row_count,
             "version": r.version, "ddl_uri": f"tables://{r.table}/ddl"}
            for r in records
        ]}

    @server.resource("tables://{name}/ddl", name="table_ddl", mime_type="application/sql",
                     description="The DDL that created a warehouse table.")
    def table_ddl(name: str) -> str:
        ctx = context()
        record = read_catalog(ctx.catalog.get_table, ctx.tenant, name)
        if record is None:
            raise ResourceNotFoundError(f"No warehouse table named {name!r}; read tables:// for the created "
                                        "tables or call load_table to create one.")
        return record.ddl


def register_prompts(server: MCPServer) -> None:
    """Starter prompts a host can offer in its prompt picker."""

    @server.prompt(name="explore_file", title="Explore a new file")
    def explore_file(path: str) -> str:
        """Profile a data file and propose a warehouse table for it."""
        return (
            f"Explore the data file {path}.\n"
            f"1. Call infer_schema with path={path!r} and summarise what you find: format, rows, each "
            "column's type and nullability, key candidates, relationships to known datasets, warnings.\n"
            "2. Call generate_ddl for the dataset without a dialect to get a recommended engine, show the "
            "DDL and explain the choices (order key, partitioning, types).\n"
            "3. Ask me before loading anything with load_table."
        )

    @server.prompt(name="build_datamart", title="Build a datamart")
    def build_datamart(dataset: str, goal: str) -> str:
        """Design an aggregate (datamart) over a registered dataset and check it with a query."""
        return (
            f"Build a datamart over the dataset {dataset!r}: {goal}.\n"
            f"1. Read the resource datasets://{dataset}/schema to see its columns and sample rows.\n"
            "2. If it is not in the warehouse yet, show the DDL from generate_ddl and ask me before "
            "load_table.\n"
            "3. Write the aggregate as one read-only SELECT, run it with run_query (small limit) and show "
            "the first rows, then propose the table or materialized view that would keep it fresh."
        )
