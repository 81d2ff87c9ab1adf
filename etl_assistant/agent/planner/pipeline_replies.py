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
    spec = out.get("pipeline") or {}
    lines = [f"Pipeline **{spec.get('name')}**: `{out.get('source')}` → table `{spec.get('target_table')}`."]
    key = ", ".join(f"`{k}`" for k in spec.get("primary_key") or [])
    lines.append(f"- Mode: **{str(spec.get('mode', '')).replace('_', ' ')}**"
                 + (f" on `{spec['cursor']}`" if spec.get("cursor") else "")
                 + (f", key {key}" if key else "")
                 + f". {out.get('mode_reason', '')}".rstrip())
    if out.get("schedule"):
        runs = ", ".join(_when(run) for run in out.get("next_runs") or [])
        lines.append(f"- Schedule: **{out['schedule']}**" + (f"; next runs {runs}." if runs else "."))
    else:
        lines.append("- Schedule: none, it runs when you ask (`run it now`).")
    lines += [f"- Transform: {t}" for t in out.get("transforms") or []]
    parts = ["\n".join(lines)]
    if out.get("ddl"):
        verb = "exists already and is kept" if out.get("target_exists") else "will be created"
        parts.append(f"The target table {verb}:\n\n```sql\n{str(out['ddl']).strip()}\n```")
    notes = out.get("notes") or []
    if notes:
        parts.append("Why:\n" + "\n".join(f"- {note}" for note in notes))
    return "\n\n".join(parts)


def created(planned: dict[str, Any], applied: dict[str, Any]) -> str:
    """After approval: the pipeline exists and ran once (apply_deploy's notes say why a first run failed)."""
    spec = planned.get("pipeline") or {}
    rows = sum(step.get("rows") or 0 for step in applied.get("steps") or [] if step.get("kind") == "pipeline")
    if applied.get("already_applied"):
        return f"Nothing changed: the pipeline **{spec.get('name')}** was already created from this plan."
    text = (f"Created the pipeline **{spec.get('name')}** and ran it once: {rows:,} rows in "
            f"`{spec.get('target_table')}`.")
    if planned.get("schedule"):
        runs = planned.get("next_runs") or []
        text += f" It runs {planned['schedule']}" + (f"; next {_when(runs[0])}." if runs else ".")
    notes = applied.get("notes") or []
    if notes:
        text += "\n\nThe first run did not finish: " + " ".join(notes)
    return text + "\n\nTry `show me the pipeline runs`, `run it now`, `pause it` or `export it to Airflow`."


def _run(out: dict[str, Any]) -> str:
    name = out.get("pipeline") or "the pipeline"
    text = (f"Run {out.get('run_id', '')} of **{name}** {out.get('status', 'finished')}: "
            f"{_count(out.get('rows_read'))} rows read, {_count(out.get('rows_written'))} written")
    if out.get("cursor_after") is not None:
        text += f", cursor `{out.get('cursor_before')}` → `{out['cursor_after']}`"
    text += f" ({float(out.get('elapsed_s') or 0):.1f}s"
    attempts = int(out.get("attempts") or 1)
    text += f", {attempts} attempts)." if attempts > 1 else ")."
    if out.get("error"):
        text += f"\n\nWhy it failed: {out['error']}"
    return text


def _runs(out: dict[str, Any]) -> str:
    runs = out.get("runs") or []
    name = out.get("pipeline") or "the pipeline"
    if not runs:
        return f"**{name}** has not run yet. Say `run it now` to start it."
    rows = [[str(r.get("id", "")), str(r.get("trigger", "")), str(r.get("status", "")),
             _when(r.get("started_at")), _when(r.get("ended_at")), _count(r.get("rows_read")),
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
             str(p.get("mode", "")).replace("_", " "), _schedule(p), _when(p.get("next_run")),
             str(p.get("last_status") or "")] for p in pipelines]
    return _table(["pipeline", "source", "table", "mode", "schedule", "next run", "last run"], rows)


def _schedule(summary: dict[str, Any]) -> str:
    words = str(summary.get("schedule") or "when asked")
    return f"{words} (paused)" if summary.get("paused") else words


def _paused(out: dict[str, Any]) -> str:
    return (f"Paused **{out.get('name')}**: no scheduled run starts until you say `resume it` "
            "(`run it now` still works).")


def _resumed(out: dict[str, Any]) -> str:
    nxt = out.get("next_run")
    return f"Resumed **{out.get('name')}**" + (f"; next run {_when(nxt)}." if nxt else ".")


def _deleted(out: dict[str, Any]) -> str:
    if not out.get("deleted"):
        return f"There was no pipeline **{out.get('name')}** to delete."
    dropped = out.get("dropped") or []
    kept = (f" and dropped {', '.join(f'`{t}`' for t in dropped)}" if dropped
            else ". The table it filled stays in the warehouse with its rows")
    return f"Deleted the pipeline **{out.get('name')}** and its schedule{kept}."


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
