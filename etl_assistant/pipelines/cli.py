"""`etl-assistant pipelines ...`: list, run, show runs, pause and resume pipelines from a shell.

`pipelines run NAME` is what an exported Airflow DAG's task calls: it works standalone in a fresh process
(settings from the environment, the pipeline and its cursor from the catalog), prints the run as JSON and
exits non-zero when the run failed, so the scheduler around it retries or alerts.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from etl_assistant.config import get_settings
from etl_assistant.errors import EtlError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
out = Console()
err = Console(stderr=True)


@contextmanager
def _context() -> Iterator[Any]:
    from etl_assistant.tools.base import ToolContext

    settings = get_settings()

    def progress(done: float, total: float | None, message: str) -> None:
        err.print(f"[dim]{message}[/dim]", highlight=False)

    try:
        yield ToolContext(settings=settings, tenant=settings.tenant, progress=progress, user="cli")
    except EtlError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _tool(name: str, args: dict[str, Any]) -> Any:
    from etl_assistant.tools import get_tool

    with _context() as ctx:
        return get_tool(name).run(ctx, args)


def _json(model: Any) -> None:
    sys.stdout.write(model.model_dump_json(indent=2) + "\n")


@app.command("list")
def list_pipelines(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The pipelines: schedule in words, next run, last status."""
    result = _tool("pipelines", {})
    if as_json:
        _json(result)
        return
    table = Table("name", "source", "target", "mode", "schedule", "next run", "last run")
    for p in result.pipelines:
        when = "paused" if p.paused else (p.next_run.isoformat(timespec="minutes") if p.next_run else "-")
        table.add_row(p.name, p.source, p.target_table, p.mode, p.schedule or "when asked", when,
                      p.last_status or "never")
    out.print(table)


@app.command("run")
def run(name: str) -> None:
    """Run a pipeline now (what an Airflow task calls); exits 1 when the run failed."""
    from etl_assistant.pipelines.runner import run_pipeline

    with _context() as ctx:
        report = run_pipeline(ctx, name, trigger="cli")
    assert report is not None  # only scheduled runs (with a slot) are ever skipped
    _json(report)
    if report.status != "succeeded":
        err.print(f"[red]error:[/red] {report.error}", highlight=False)
        raise typer.Exit(1)


@app.command("runs")
def runs(name: str, limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 20,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """A pipeline's run history."""
    result = _tool("pipeline_runs", {"name": name, "limit": limit})
    if as_json:
        _json(result)
        return
    table = Table("run", "trigger", "status", "started", "rows read", "rows written", "cursor after", "error")
    for r in result.runs:
        table.add_row(str(r.id), r.trigger, r.status, r.started_at.isoformat(timespec="seconds"),
                      f"{r.rows_read:,}", f"{r.rows_written:,}", r.cursor_after or "-", r.error or "")
    out.print(table)


@app.command("pause")
def pause(name: str) -> None:
    """Pause a pipeline's schedule."""
    result = _tool("pause_pipeline", {"name": name})
    out.print(f"{result.name} is paused.")


@app.command("resume")
def resume(name: str) -> None:
    """Resume a paused pipeline's schedule."""
    result = _tool("resume_pipeline", {"name": name})
    nxt = result.next_run.isoformat(timespec="minutes") if result.next_run else "only when asked"
    out.print(f"{result.name} is resumed; next run {nxt}.")
