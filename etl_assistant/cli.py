"""The `etl-assistant` command line: deterministic tools as sub-commands, plus the server and chat.

Every command prints one clear sentence and exits non-zero on bad input; never a stack trace.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from etl_assistant.access.cli_keys import keys_app
from etl_assistant.cli_output import ChatTranscript, ddl_script, write_csv, write_json
from etl_assistant.config import get_settings
from etl_assistant.errors import EtlError
from etl_assistant.pipelines.cli import app as pipelines_app
from etl_assistant.tools import ToolContext, get_tool

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
out = Console(soft_wrap=True)  # long lines stay whole (a pipe or a file is not an 80-column terminal)
err = Console(stderr=True)
app.add_typer(pipelines_app, name="pipelines", help="List, run, pause and resume pipelines.")


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
        dialect: Annotated[str | None, typer.Option(
            help="clickhouse, postgres or sqlite; omit to get a recommendation.")] = None,
        table: Annotated[str | None, typer.Option(help="Table name (default: the dataset name).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Design a warehouse table for a file: idiomatic DDL plus the reasons for each choice."""
    schema = _run("infer_schema", {"path": path}, show_progress=not as_json)
    result = _run("generate_ddl", {"dataset": schema.name, "dialect": dialect, "table": table}, False)
    if as_json:
        _print_json(result)
        return
    sys.stdout.write(ddl_script(result))  # runnable as is: `ddl orders.csv > schema.sql; psql -f schema.sql`


@app.command()
def load(path: str,
         table: Annotated[str | None, typer.Option(help="Target table (default: dataset name).")] = None,
         replace: Annotated[bool, typer.Option(help="Replace the table if it exists.")] = False,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Create a table from the generated DDL in the configured warehouse and bulk-load the file."""
    result = _run("load_table", {"path": path, "table": table, "replace": replace}, show_progress=not as_json)
    if as_json:
        write_json(result)
        return
    out.print(f"Loaded {result.rows} rows into {result.table} ({result.dialect}, {result.method}) "
              f"in {result.elapsed_s:.2f}s")


@app.command()
def sql(query: str, limit: Annotated[int, typer.Option(help="Maximum rows to print.")] = 100,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        as_csv: Annotated[bool, typer.Option("--csv", help="Print the rows as CSV.")] = False) -> None:
    """Run one read-only query against the warehouse and print the rows."""
    result = _run("run_query", {"sql": query, "limit": limit}, show_progress=False)
    if as_json:
        _print_json(result)
        return
    if as_csv:
        write_csv(result.columns, result.rows)
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


@app.command()
def ask(question: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        limit: Annotated[int, typer.Option(help="Maximum rows to print.")] = 100,
        as_csv: Annotated[bool, typer.Option("--csv", help="Print the answer's rows as CSV.")] = False,
        ) -> None:
    """Answer a question about the warehouse data in plain words: the SQL, the rows and a one-line answer."""
    result = _run("ask", {"question": question, "limit": limit}, show_progress=False)
    if as_json:
        _print_json(result)
        return
    if as_csv and not result.clarification:
        write_csv(result.columns, result.rows)
        return
    if result.clarification:
        out.print(result.clarification, highlight=False)
        return
    out.print(f"[dim]{result.sql}[/dim]", highlight=False)
    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)
    out.print(f"{result.answer} [dim](confidence {result.confidence:.0%})[/dim]", highlight=False)


@app.command("eval")
def eval_suite(suite: Annotated[str, typer.Argument(help="Which eval to run: routing or nl2sql.")],
               as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
               output: Annotated[str | None, typer.Option("--out", help="Also write the JSON here.")] = None,
               holdout: Annotated[bool, typer.Option(help="nl2sql: run the held-out question set.")] = False,
               split: Annotated[str, typer.Option(
                   help="generalisation: dev, unseen, all (dev and unseen) or holdout.")] = "dev",
               dataset: Annotated[list[str] | None, typer.Option(
                   help="generalisation: only this dataset (repeatable).")] = None,
               ) -> None:
    """Run an eval set and print accuracy per category and overall (offline unless ETLA_MODEL=openai)."""
    if suite == "nl2sql":
        _eval_nl2sql(as_json, output, holdout)
        return
    if suite == "generalisation":
        _eval_generalisation(as_json, output, split, dataset)
        return
    if suite == "cache":
        _eval_cache(as_json, output)
        return
    if suite != "routing":
        err.print(f"[red]error:[/red] Unknown eval suite {suite!r}; use one of: routing, nl2sql, "
                  "generalisation, cache.")
        raise typer.Exit(2)
    from etl_assistant.evals.routing import run as run_routing

    report = run_routing()
    payload = report.to_json()
    if _write_report(payload, as_json, output):
        return
    out.print(_accuracy_table(("expected", "routing eval (offline planner)"), payload["per_tool"], report))
    for split, figures in payload["per_split"].items():
        out.print(f"{split}: {figures['correct']}/{figures['items']} = {figures['accuracy']:.1%}")
    for failure in report.failures:
        out.print(f"[yellow]miss[/yellow] {failure.id} {failure.text!r}: expected {failure.expected_tool} "
                  f"{failure.expected_args}, got {failure.got_tool} {failure.got_args} "
                  f"(router: {failure.scores})",
                  highlight=False)


def _write_report(payload: dict[str, Any], as_json: bool, output: str | None) -> bool:
    """Save the eval report to `output` if asked; print it as JSON instead of a table with --json."""
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    return as_json


def _accuracy_table(heading: tuple[str, str], groups: dict[str, dict[str, Any]], report: Any) -> Table:
    """Items, correct and accuracy per group, then overall."""
    label, title = heading
    table = Table(label, "items", "correct", "accuracy", title=title)
    for group, figures in groups.items():
        table.add_row(group, str(figures["items"]), str(figures["correct"]), f"{figures['accuracy']:.1%}")
    table.add_row("[bold]overall[/bold]", str(report.items), str(report.correct),
                  f"[bold]{report.accuracy:.1%}[/bold]")
    return table


def _eval_nl2sql(as_json: bool, output: str | None, holdout: bool) -> None:
    """Load the sample data into a temporary chDB warehouse, ask every question, compare with the gold SQL."""
    import tempfile
    from pathlib import Path

    from etl_assistant.evals import nl2sql
    from etl_assistant.warehouse.chdb_engine import close_sessions

    items = nl2sql.load_items(nl2sql.HOLDOUT_PATH if holdout else nl2sql.DATA_PATH)
    with tempfile.TemporaryDirectory(prefix="etla-eval-") as tmp:
        err.print("loading the sample data into a temporary chDB warehouse...", highlight=False)
        try:
            ctx = nl2sql.prepare_warehouse(Path(tmp))
            report = nl2sql.run(ctx, items)
        finally:
            close_sessions()
    payload = report.to_json()
    if _write_report(payload, as_json, output):
        return
    heading = ("category", "nl2sql eval (offline parser, chDB)")
    out.print(_accuracy_table(heading, payload["per_category"], report))
    out.print(f"clarify rate {payload['clarify_rate']:.1%}; wrong with high confidence: "
              f"{report.wrong_high_confidence}; p50 {report.p50_ms:.1f} ms per question", highlight=False)
    for failure in payload["failures"]:
        got = failure["sql"] or failure["reply"]
        out.print(f"[yellow]miss[/yellow] {failure['id']} {failure['question']!r}: {got}", highlight=False)


def _eval_generalisation(as_json: bool, output: str | None, split: str, datasets: list[str] | None) -> None:
    """Load each public dataset in each load order into temporary warehouses and score every question."""
    import tempfile
    from pathlib import Path

    from etl_assistant.evals import generalisation
    from etl_assistant.evals.public_data import LOAD_ORDERS
    from etl_assistant.warehouse.chdb_engine import close_sessions

    splits = generalisation.SPLITS if split == "all" else (split,)
    unknown = [d for d in datasets or [] if d not in LOAD_ORDERS]
    if split not in generalisation.SPLIT_DATASETS and split != "all" or unknown:
        err.print(f"[red]error:[/red] Use --split dev, unseen, all or holdout and --dataset one of "
                  f"{', '.join(LOAD_ORDERS)}.")
        raise typer.Exit(2)
    items = generalisation.load_items(splits)
    with tempfile.TemporaryDirectory(prefix="etla-eval-") as tmp:
        err.print("loading the public datasets into temporary chDB warehouses...", highlight=False)
        try:
            report = generalisation.run(Path(tmp), items, datasets=datasets)
        except EtlError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        finally:
            close_sessions()
    payload = report.to_json()
    if _write_report(payload, as_json, output):
        return
    table = Table("dataset / split", "items", "correct", "accuracy", "clarify", "wrong", "wrong ≥ high conf",
                  "errors", title=f"generalisation eval ({payload['model']}, chDB; every load order)")
    rows = [*payload["per_dataset_split"].items(), ("[bold]overall[/bold]", payload["overall"])]
    for name, figures in rows:
        table.add_row(name, str(figures["items"]), str(figures["correct"]), f"{figures['accuracy']:.1%}",
                      f"{figures['clarify_rate']:.1%}", str(figures["wrong"]),
                      str(figures["wrong_high_confidence"]), str(figures["errors"]))
    out.print(table)
    for name, figures in payload["per_order"].items():
        order = " -> ".join(payload["load_orders"][name.split("/")[0]][name.split("/")[1]])
        out.print(f"{name}: {figures['accuracy']:.1%} ({order})", highlight=False)
    out.print(f"high confidence: >= {payload['high_confidence']}; p50 {payload['p50_ms']} ms per question",
              highlight=False)


def _eval_cache(as_json: bool, output: str | None) -> None:
    """Verify the probe pairs in temporary warehouses, ask paraphrases and near misses, count the hits."""
    import tempfile
    from pathlib import Path

    from etl_assistant.evals import cache_probe
    from etl_assistant.warehouse.chdb_engine import close_sessions

    with tempfile.TemporaryDirectory(prefix="etla-eval-") as tmp:
        err.print("loading the probed datasets into temporary chDB warehouses...", highlight=False)
        try:
            report = cache_probe.run(Path(tmp))
        except EtlError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        finally:
            close_sessions()
    payload = report.to_json()
    if _write_report(payload, as_json, output):
        return
    out.print(f"false hits: {payload['false_hits']} of {payload['must_not_share']} questions that must not "
              f"share a verified answer; paraphrase recall {payload['paraphrase_hits']}/"
              f"{payload['paraphrases']} = {payload['paraphrase_recall']:.1%}", highlight=False)
    for failure in payload["failures"]:
        served = f"served {failure['served_by']}'s verified SQL" if failure["served_by"] else "not served"
        out.print(f"[yellow]{failure['expect']} expected[/yellow] {failure['probe']} "
                  f"{failure['question']!r}: {served}", highlight=False)


@app.command()
def serve(host: Annotated[str | None, typer.Option(help="Interface to bind (default: ETLA_HOST).")] = None,
          port: Annotated[int | None, typer.Option(help="Port (default: ETLA_PORT).")] = None,
          workers: Annotated[int, typer.Option(
              help="Server processes sharing the port (several use every core; they share the data dir's "
                   "state: the catalog, threads and, through its owner, the embedded chDB).")] = 1) -> None:
    """Run the server: Agent Protocol, OpenAI-compatible API, MCP, the web page, /health and /metrics."""
    import uvicorn

    from etl_assistant.access.binding import check_bind
    from etl_assistant.access.install import key_store_factory
    from etl_assistant.server import create_app

    # The served host, not only ETLA_HOST, decides local mode, the Host check and MCP's rebinding check.
    configured = get_settings()
    served = {"host": host or configured.host, "port": port or configured.port}
    settings = configured.model_copy(update=served)
    try:
        check_bind(settings, key_store_factory(settings)())
    except EtlError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if workers > 1:  # each worker builds its app from the environment: tell it the host and port served
        os.environ["ETLA_HOST"], os.environ["ETLA_PORT"] = settings.host, str(settings.port)
        uvicorn.run("etl_assistant.server:create_app", factory=True, workers=workers,
                    host=settings.host, port=settings.port)
        return
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)


@app.command()
def chat(message: Annotated[str | None, typer.Argument(help="What to ask; omit with --decision.")] = None,
         thread: Annotated[str | None, typer.Option(help="Continue this thread (default: new).")] = None,
         decision: Annotated[str | None, typer.Option(
             help="Answer a pending approval on --thread: approve or reject.")] = None,
         as_json: Annotated[bool, typer.Option("--json", help="Print the turn as one JSON object.")] = False,
         ) -> None:
    """One conversational turn in-process: streams the reply to the terminal and prints the thread id."""
    import asyncio
    import uuid

    if (message is None) == (decision is None) or (decision and not thread):
        err.print("[red]error:[/red] Give a message, or --decision approve|reject with --thread ID.")
        raise typer.Exit(2)
    if decision not in (None, "approve", "reject"):
        err.print(f"[red]error:[/red] --decision must be approve or reject, not {decision!r}.")
        raise typer.Exit(2)
    thread_id = thread or str(uuid.uuid4())
    transcript = ChatTranscript(thread_id) if as_json else None
    status = asyncio.run(_chat_turn(thread_id, message, decision, transcript))
    if transcript is not None:
        write_json(transcript.to_json())
    err.print(f"thread: {thread_id}", highlight=False)
    if status == "interrupted":
        err.print(f"Waiting for approval: etl-assistant chat --thread {thread_id} --decision approve "
                  "(or reject).", highlight=False)
    if status == "error":
        raise typer.Exit(1)


async def _chat_turn(thread_id: str, message: str | None, decision: str | None,
                     transcript: ChatTranscript | None = None) -> str:
    """Run the turn through AgentService.stream and render its events; returns the run's final status."""
    from etl_assistant.agent.runner import AgentService
    from etl_assistant.agent.threads import ThreadNotFound

    settings = get_settings()
    try:
        service = await AgentService.create(settings)
    except EtlError as exc:
        err.print(f"[red]error:[/red] {exc}")
        return "error"
    kwargs: dict[str, Any] = {"input": {"messages": [{"role": "user", "content": message}]}}
    if decision:  # one decision for every action waiting (the run explains it if nothing waits)
        try:
            state = await service.get_state(thread_id, settings.tenant)
        except ThreadNotFound:
            state = {}
        pending = sum(len(i["value"].get("action_requests", [])) for i in state.get("interrupts", []))
        kwargs = {"command": {"resume": {"decisions": [{"type": decision}] * max(pending, 1)}},
                  "if_not_exists": "reject"}
    streamed: set[str] = set()
    status = "error"
    try:
        async for event in service.stream(thread_id, tenant=settings.tenant, **kwargs):
            if transcript is not None:
                transcript.add(event)
                status = event.data["status"] if event.type == "end" else status
            else:
                status = _render(event, streamed) or status
    finally:
        await service.aclose()
    return status


def _render(event: Any, streamed: set[str]) -> str | None:
    """Print one RunEvent: reply text as it streams, tools and progress dimmed on stderr."""
    data = event.data
    if event.type == "text_delta":
        streamed.add(str(data["id"]))
        sys.stdout.write(data["delta"])
        sys.stdout.flush()
    elif event.type == "message" and data.get("type") == "ai" and data.get("content"):
        if str(data.get("id")) in streamed:
            sys.stdout.write("\n")
        else:
            out.print(data["content"], highlight=False)
    elif event.type == "tool_call":
        args = json.dumps(data["args"], ensure_ascii=False)
        err.print(f"[dim]-> {data['name']}({args})[/dim]", highlight=False)
    elif event.type == "tool_result":
        style = "red" if data["is_error"] else "dim"
        err.print(f"[{style}]<- {data['summary']}[/{style}]", highlight=False)
    elif event.type == "progress":
        total = data.get("total")
        amount = f"{data['done'] / total:.0%}" if total else f"{data['done']:,.0f}"
        err.print(f"[dim]   {data['tool']}: {data['message']} ({amount})[/dim]", highlight=False)
    elif event.type == "interrupt":
        for action in data.get("action_requests", []):
            err.print(f"[yellow]approval needed:[/yellow] {action['name']}({json.dumps(action['args'])}) "
                      f"- {action['description']}", highlight=False)
    elif event.type == "error":
        err.print(f"[red]error:[/red] {data['message']}", highlight=False)
    elif event.type == "end":
        return data["status"]
    return None


connections_app = typer.Typer(no_args_is_help=True, help="Named database connections (passwords hidden).")
app.add_typer(connections_app, name="connections")


@connections_app.command("add")
def connections_add(
        name: Annotated[str, typer.Argument(help="The connection's name.")],
        url: Annotated[str, typer.Argument(help="postgresql://, clickhouse://, chdb:/// or sqlite:/// URL.")],
        ask_password: Annotated[bool, typer.Option(
            "--ask-password", help="Prompt for the password (kept out of the shell history).")] = False,
) -> None:
    """Add (or replace) a connection for the tenant, after checking that the database answers."""
    if ask_password:
        from etl_assistant.pipelines.connections import with_password

        url = with_password(url, typer.prompt("password", hide_input=True))
    result = _run("add_connection", {"name": name, "url": url}, show_progress=False)
    verb = "added" if result.created else "replaced"
    where = f" in {', '.join(result.schemas)}" if result.schemas else ""
    out.print(f"{verb} {result.connection.name} ({result.connection.kind}, {result.connection.url}): "
              f"{result.tables} tables and views{where}", highlight=False, soft_wrap=True)


@connections_app.command("list")
def connections_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the connections: configured (ETLA_CONNECTIONS) and added ones, URLs without passwords."""
    result = _run("connections", {}, show_progress=False)
    if as_json:
        _print_json(result)
        return
    table = Table("name", "kind", "origin", "url")
    for connection in result.connections:
        table.add_row(connection.name, connection.kind, connection.origin, connection.url)
    out.print(table)


@connections_app.command("remove")
def connections_remove(
        name: Annotated[str, typer.Argument(help="The connection's name.")],
        yes: Annotated[bool, typer.Option("--yes", help="Remove without asking.")] = False,
) -> None:
    """Remove a connection added for the tenant (asks first: pipelines naming it stop working)."""
    if not yes and not typer.confirm(f"Remove the connection {name}?"):
        err.print("nothing removed")
        raise typer.Exit(1)
    result = _run("remove_connection", {"name": name}, show_progress=False)
    out.print(f"removed {result.removed.name}", highlight=False, soft_wrap=True)


@app.command()
def refresh(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Pick up the warehouse's own tables as they are now: new, changed and dropped ones."""
    report = _run("refresh", {})
    if as_json:
        _print_json(report)
        return
    for label, names in (("new", report.added), ("changed", report.changed), ("gone", report.removed),
                         ("profiled now", report.profiled), ("not profiled yet", report.unprofiled)):
        if names:
            out.print(f"{label}: {', '.join(names)}", highlight=False, soft_wrap=True)
    out.print(f"{report.unchanged} unchanged", highlight=False)
    for reason in report.skipped:
        err.print(f"[yellow]skipped:[/yellow] {reason}", highlight=False, soft_wrap=True)

app.add_typer(keys_app, name="keys")

if __name__ == "__main__":
    app()
