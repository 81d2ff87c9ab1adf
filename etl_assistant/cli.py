"""The `etl-assistant` command line: deterministic tools as sub-commands, plus the server and chat.

Every command prints one clear sentence and exits non-zero on bad input; never a stack trace.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from etl_assistant.config import get_settings
from etl_assistant.errors import EtlError
from etl_assistant.tools import ToolContext, get_tool

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
out = Console()
err = Console(stderr=True)


@contextmanager
def _tool_context(show_progress: bool = True) -> Iterator[ToolContext]:
    """A ToolContext whose progress callback drives a rich progress bar on stderr."""
    settings = get_settings()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=err, transient=True, disable=not show_progress) as bar:
        task = bar.add_task("working", total=None)

        def progress(done: float, total: float | None, message: str) -> None:
            bar.update(task, completed=done, total=total, description=message or "working")

        ctx = ToolContext(settings=settings, tenant=settings.tenant, progress=progress)
        try:
            yield ctx
        except EtlError as exc:
            bar.stop()
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None


def _run(name: str, args: dict[str, Any], show_progress: bool = True) -> Any:
    with _tool_context(show_progress) as ctx:
        return get_tool(name).run(ctx, args)


def _print_json(model: Any) -> None:
    sys.stdout.write(model.model_dump_json(indent=2) + "\n")


@app.command()
def infer(path: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
          name: Annotated[str | None, typer.Option(help="Dataset name to register.")] = None) -> None:
    """Infer the schema of a file (CSV/TSV/JSON/NDJSON/Parquet/XLSX, .gz too) and register it."""
    schema = _run("infer_schema", {"path": path, "name": name}, show_progress=not as_json)
    if as_json:
        _print_json(schema)
        return
    dialect = schema.dialect
    head = f"{schema.name}: {schema.format}"
    if dialect:
        head += f", delimiter {dialect.delimiter!r}, encoding {dialect.encoding}, header {dialect.header}"
    approx = "~" if schema.row_count_estimated else ""
    out.print(f"[bold]{head}[/bold], {approx}{schema.row_count} rows")
    table = Table("column", "type", "nullable", "distinct", "min", "max", "unique")
    for col in schema.columns:
        table.add_row(col.identifier, col.type, "yes" if col.nullable else "", str(col.distinct_count),
                      col.min or "", col.max or "", "yes" if col.unique else "")
    out.print(table)
    for rel in schema.relationships:
        out.print(f"FK candidate: {rel.column} -> {rel.ref_dataset}.{rel.ref_column} "
                  f"(containment {rel.containment:.0%})")
    for warning in schema.warnings:
        out.print(f"[yellow]warning:[/yellow] {warning}")


@app.command()
def ddl(path: str,
        dialect: Annotated[str | None, typer.Option(help="clickhouse, postgres or sqlite; omit to get a recommendation.")] = None,
        table: Annotated[str | None, typer.Option(help="Table name (default: the dataset name).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Design a warehouse table for a file: idiomatic DDL plus the reasons for each choice."""
    schema = _run("infer_schema", {"path": path}, show_progress=not as_json)
    result = _run("generate_ddl", {"dataset": schema.name, "dialect": dialect, "table": table}, False)
    if as_json:
        _print_json(result)
        return
    if result.recommendation:
        out.print(f"[bold]Recommended: {result.recommendation.dialect}[/bold]. {result.recommendation.reason}")
    sys.stdout.write(result.ddl + "\n")
    for line in result.explanation:
        out.print(f"-- {line}", highlight=False)


@app.command()
def load(path: str, table: Annotated[str | None, typer.Option(help="Target table (default: dataset name).")] = None,
         replace: Annotated[bool, typer.Option(help="Replace the table if it exists.")] = False) -> None:
    """Create a table from the generated DDL in the configured warehouse and bulk-load the file."""
    result = _run("load_table", {"path": path, "table": table, "replace": replace})
    out.print(f"Loaded {result.rows} rows into {result.table} ({result.dialect}, {result.method}) "
              f"in {result.elapsed_s:.2f}s")


@app.command()
def sql(query: str, limit: Annotated[int, typer.Option(help="Maximum rows to print.")] = 100,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Run one read-only query against the warehouse and print the rows."""
    result = _run("run_query", {"sql": query, "limit": limit}, show_progress=False)
    if as_json:
        _print_json(result)
        return
    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)
    if result.truncated:
        out.print(f"(first {len(result.rows)} rows shown)")


@app.command()
def mcp() -> None:
    """Serve the tools over MCP on stdio (Claude Desktop, Cursor, VS Code); logs go to stderr."""
    from etl_assistant.channels.mcp import run_stdio

    run_stdio(get_settings())


@app.command("eval")
def eval_suite(suite: Annotated[str, typer.Argument(help="Which eval to run: routing.")],
               as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
               output: Annotated[str | None, typer.Option("--out", help="Also write the JSON here.")] = None,
               ) -> None:
    """Run an eval set and print accuracy per tool and overall (offline: the planner alone, no tools run)."""
    if suite != "routing":
        err.print(f"[red]error:[/red] Unknown eval suite {suite!r}; use one of: routing.")
        raise typer.Exit(2)
    from etl_assistant.evals.routing import run as run_routing

    report = run_routing()
    payload = report.to_json()
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    table = Table("expected", "items", "correct", "accuracy", title="routing eval (offline planner)")
    for tool, figures in payload["per_tool"].items():
        table.add_row(tool, str(figures["items"]), str(figures["correct"]), f"{figures['accuracy']:.1%}")
    table.add_row("[bold]overall[/bold]", str(report.items), str(report.correct),
                  f"[bold]{report.accuracy:.1%}[/bold]")
    out.print(table)
    for split, figures in payload["per_split"].items():
        out.print(f"{split}: {figures['correct']}/{figures['items']} = {figures['accuracy']:.1%}")
    for failure in report.failures:
        out.print(f"[yellow]miss[/yellow] {failure.id} {failure.text!r}: expected {failure.expected_tool} "
                  f"{failure.expected_args}, got {failure.got_tool} {failure.got_args}", highlight=False)


if __name__ == "__main__":
    app()
