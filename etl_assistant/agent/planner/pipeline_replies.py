"""The planner's words for pipelines: the plan to approve, runs, the list, pause/resume/delete and the export.

Written from the tools' results only (which are written to carry no secret), short, with the next useful step.
"""

from __future__ import annotations

from typing import Any

from etl_assistant.agent.planner.state import ToolStep

CAPABILITIES = {
    "create_pipeline": "**keep a table in sync** with a database on a schedule — e.g. `load sales from shop "
    "to ClickHouse daily at 2 AM`",
    "pipelines": "**list pipelines** with their schedule, next run and last status — e.g. "
    "`show my pipelines`",
    "pipeline_runs": "**show a pipeline's runs** (rows, cursor, errors) — e.g. `show me the pipeline runs`",
    "export_pipeline": "**export a pipeline to Airflow** as a DAG file — e.g. `export it to Airflow`",
}


def plan_to_approve(step: ToolStep) -> str:
    """The pipeline plan, said before the approval request that creates it."""
    return plan(step.output or {}) + "\n\nApprove to create the table, save the pipeline and run it once now."


def plan(out: dict[str, Any]) -> str:
    spec = out.get("spec") or {}
    lines = [f"Pipeline **{spec.get('name')}**: `{out.get('source')}` → table `{spec.get('target_table')}`."]
    key = ", ".join(f"`{k}`" for k in spec.get("primary_key") or [])
    lines.append(f"- Mode: **{str(spec.get('mode', '')).replace('_', ' ')}**"
                 + (f" on `{spec['cursor']}`" if spec.get("cursor") else "")
                 + (f", key {key}" if key else "")
                 + f". {out.get('mode_reason', '')}".rstrip())
    if out.get("schedule"):
        runs = ", ".join(out.get("next_runs") or [])
        lines.append(f"- Schedule: **{out['schedule']}**" + (f"; next runs {runs}." if runs else "."))
    else:
        lines.append("- Schedule: none, it runs when you ask (`run it now`).")
    lines += [f"- Transform: {t}" for t in out.get("transforms") or []]
    statements = out.get("target_statements") or []
    parts = ["\n".join(lines)]
    if statements:
        verb = "exists already and is kept" if out.get("target_exists") else "will be created"
        parts.append(f"The target table {verb}:\n\n```sql\n" + ";\n\n".join(s.strip().rstrip(";")
                                                                         for s in statements) + ";\n```")
    notes = out.get("target_notes") or []
    if notes:
        parts.append("Why:\n" + "\n".join(f"- {note}" for note in notes))
    return "\n\n".join(parts)


def _run(out: dict[str, Any]) -> str:
    run = out.get("run") or out
    name = out.get("name") or run.get("name") or "the pipeline"
    status = run.get("status", "done")
    head = f"Run of **{name}**: {status}"
    counts = [f"{_count(run.get('rows_read'))} rows read" if run.get("rows_read") is not None else "",
              f"{_count(run.get('rows_written'))} written" if run.get("rows_written") is not None else ""]
    counts = [c for c in counts if c]
    text = head + (f", {', '.join(counts)}" if counts else "") + "."
    if run.get("cursor_after") is not None:
        text += f" Cursor now `{run['cursor_after']}`."
    if run.get("error"):
        text += f"\n\nWhy it failed: {run['error']}"
    return text


def _runs(out: dict[str, Any]) -> str:
    runs = out.get("runs") or []
    name = out.get("name") or "the pipeline"
    if not runs:
        return f"**{name}** has not run yet. Say `run it now` to start it."
    rows = [[str(r.get("id", "")), str(r.get("trigger", "")), str(r.get("status", "")),
             _when(r.get("started_at")), _when(r.get("finished_at")), _count(r.get("rows_read")),
             _count(r.get("rows_written")), _cell(r.get("cursor_before")), _cell(r.get("cursor_after")),
             _cell(r.get("error"))] for r in runs]
    return f"Runs of **{name}**, newest first:\n\n" + _table(
        ["run", "trigger", "status", "started", "ended", "read", "written", "cursor before", "cursor after",
         "error"], rows)


def _list(out: dict[str, Any]) -> str:
    pipelines = out.get("pipelines") or []
    if not pipelines:
        return "No pipelines yet. Try `load sales from shop to ClickHouse daily at 2 AM`."
    rows = [[f"`{p.get('name')}`", str(p.get("source", "")), f"`{p.get('target_table', '')}`",
             str(p.get("mode", "")).replace("_", " "), "paused" if p.get("paused") else str(p.get("schedule")
                                                                                              or "by hand"),
             _when(p.get("next_run")), str(p.get("last_status") or "")] for p in pipelines]
    return _table(["pipeline", "source", "table", "mode", "schedule", "next run", "last run"], rows)


def _paused(out: dict[str, Any]) -> str:
    name = out.get("name") or (out.get("spec") or {}).get("name")
    return f"Paused **{name}**: no scheduled run starts until you say `resume it` (`run it now` still works)."


def _resumed(out: dict[str, Any]) -> str:
    name = out.get("name") or (out.get("spec") or {}).get("name")
    nxt = out.get("next_run")
    return f"Resumed **{name}**" + (f"; next run {_when(nxt)}." if nxt else ".")


def _deleted(out: dict[str, Any]) -> str:
    name = out.get("name") or (out.get("spec") or {}).get("name")
    return (f"Deleted the pipeline **{name}** and its schedule. The table it filled stays in the warehouse "
            "with its rows.")


def _exported(out: dict[str, Any]) -> str:
    return (f"Wrote the Airflow DAG `{out.get('dag_id')}` to `{out.get('path')}`. Copy it into your Airflow "
            "dags folder; the worker needs `etl-assistant` on its PATH and the same ETLA_* settings "
            "(catalog, warehouse, ETLA_CONNECTIONS). The file names the connection, never its password."
            f"\n\n```python\n{str(out.get('text', '')).strip()}\n```")


WRITERS = {
    "create_pipeline": plan,
    "run_pipeline": _run,
    "pipeline_runs": _runs,
    "pipelines": _list,
    "pause_pipeline": _paused,
    "resume_pipeline": _resumed,
    "delete_pipeline": _deleted,
    "export_pipeline": _exported,
}


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else _cell(value)


def _when(value: Any) -> str:
    return str(value)[:16].replace("T", " ") if value else ""


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(v.replace("|", "\\|").replace("\n", " ") for v in row) + " |" for row in rows]
    return "\n".join(lines)
