"""The planner's words: final replies written from tool results, help, and unavailable-tool notes.

Replies are short and specific: a markdown table for a schema, a dataset list or query rows; DDL in ```sql.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from etl_assistant.agent.planner import pipeline_replies
from etl_assistant.agent.planner.connection_replies import CONNECTION_WRITERS
from etl_assistant.agent.planner.state import ToolStep

MAX_ROWS_SHOWN = 50

# One help line per tool; help lists only the tools this server offers, so a new tool adds one entry here.
CAPABILITIES = {
    "infer_schema": "**inspect a file** (CSV/TSV/JSON/NDJSON/Parquet/XLSX): delimiter, encoding, column "
    "types, nulls, keys — e.g. `here is data/orders.csv`",
    "generate_ddl": "**design warehouse tables**: ClickHouse, PostgreSQL or SQLite DDL with the reasons — "
    "e.g. `make a ClickHouse table for orders`",
    "load_table": "**load data** into the warehouse — e.g. `load orders`",
    "run_query": "**run SQL** read-only — e.g. `select count(*) from orders`",
    "list_datasets": "**list your datasets** — e.g. `what datasets do I have?`",
    "ask": "**answer questions** about your data with SQL — e.g. `top 5 regions by revenue last month?`",
    "design_datamart": "**design datamarts** that stay fresh — e.g. `daily revenue per region as a datamart`",
    "deploy": "**deploy** tables and datamarts after your approval — e.g. `deploy orders to ClickHouse`",
    "rollback": "**roll back** a deploy to the previous version — e.g. `roll back orders`",
    "deployments": "**show deploy history** — e.g. `deployment history of orders`",
    "verify": "**remember a right answer** so the same question reuses its SQL — say `save this` (or 👍) "
    "after an answer",
    "add_connection": "**connect a database** (PostgreSQL, ClickHouse, chDB, SQLite) by name — e.g. "
    "`connect to postgresql://user@host:5432/shop`",
    "list_tables": "**list a connection's tables** — e.g. `what tables are in shop?`",
}
CAPABILITIES.update(pipeline_replies.CAPABILITIES)
# What each tool does, in the words of "I could not ..." (replies never name a tool to the person).
ACTIONS = {
    "infer_schema": "inspect that file",
    "generate_ddl": "design that table",
    "load_table": "load that",
    "run_query": "run that query",
    "list_datasets": "list your datasets",
    "nl_to_sql": "write SQL for that",
    "ask": "answer that",
    "design_datamart": "design that datamart",
    "plan_deploy": "plan that deploy",
    "apply_deploy": "deploy that",
    "deploy": "deploy that",
    "rollback": "roll that back",
    "deployments": "show that deploy history",
    "verify": "save that answer",
    "export_pipeline": "export that pipeline",
    "create_pipeline": "set up that pipeline",
    "run_pipeline": "run that pipeline",
    "pipelines": "list your pipelines",
    "pause_pipeline": "pause that pipeline",
    "resume_pipeline": "resume that pipeline",
    "pipeline_runs": "show that pipeline's runs",
    "delete_pipeline": "delete that pipeline",
    "connections": "list your connections",
    "add_connection": "connect to that database",
    "remove_connection": "remove that connection",
    "list_tables": "list those tables",
    "refresh": "refresh the table list",
    "approve_action": "carry out that approved action",
}
THANKS = "You're welcome. Tell me whenever you want to inspect, design, load or query more data."


def help_text(tools: list[str], greeting: bool = False) -> str:
    lines = [f"- {CAPABILITIES[tool]}" for tool in tools if tool in CAPABILITIES]
    head = (
        "Hello! I am your data-engineering assistant."
        if greeting
        else "I am your data-engineering assistant."
    )
    if not lines:
        return f"{head} No tools are enabled on this server right now."
    return f"{head} I can:\n" + "\n".join(lines)


def reply_for_results(steps: list[ToolStep]) -> str:
    """The final reply for this turn's tool steps: errors first (they are what the person must act on), then
    the results of the last action (every file of a parallel call; for a chain only its final step)."""
    failed = [step for step in steps if step.error is not None]
    succeeded = [step for step in steps if step.error is None and step.output is not None]
    last = succeeded[-1].name if succeeded else None
    planned = [step for step in succeeded if step.name == "create_pipeline"]
    if last == "apply_deploy" and planned:  # the pipeline the person just approved, created and run once
        return pipeline_replies.created(planned[-1].output or {}, succeeded[-1].output or {})
    parts = [_error(step) for step in failed]
    parts += [_WRITERS.get(step.name, _generic)(step.output or {}) for step in succeeded if step.name == last]
    return "\n\n".join(parts) or "Done."


def unavailable(intent: str, available: list[str]) -> str:
    """What to say when the request needs a tool this server has switched off: what it can do instead."""
    can = [f"- {CAPABILITIES[tool]}" for tool in available if tool in CAPABILITIES]
    offer = "What I can do right now:\n" + "\n".join(can) if can else "No tools are enabled here right now."
    return f"I cannot {ACTIONS.get(intent, 'do that')} on this server: it is switched off here. {offer}"


def _error(step: ToolStep) -> str:
    message = (step.error or "").strip()
    if message.lower().startswith("error:"):
        message = message[6:].strip()
    action = ACTIONS.get(step.name, "do that")
    if message.startswith("The person rejected"):  # the approval step's wording (agent/approval.py)
        return f"Understood: I did not {action} and nothing changed. Tell me what to change instead."
    return f"I could not {action}: {message}\n\nFix that and ask again, or tell me what to change."


def _schema(out: dict[str, Any]) -> str:
    columns = out.get("columns") or []
    head = f"**{out.get('name', 'dataset')}**: {out.get('format', 'data')}"
    dialect = out.get("dialect") or {}
    if dialect:
        head += (
            f", delimiter `{_printable(dialect.get('delimiter', ','))}`, encoding {dialect.get('encoding')}, "
            f"header {'yes' if dialect.get('header', True) else 'no'}"
        )
    approx = "~" if out.get("row_count_estimated") else ""
    head += f", {approx}{out.get('row_count', 0):,} rows, {len(columns)} columns."
    rows = [
        [
            f"`{c.get('identifier') or c.get('name')}`",
            c.get("type", ""),
            "yes" if c.get("nullable") else "no",
            str(c.get("distinct_count", "")),
            "yes" if c.get("unique") else "",
        ]
        for c in columns
    ]
    parts = [head, _markdown_table(["column", "type", "nullable", "distinct", "unique"], rows)]
    for rel in out.get("relationships") or []:
        parts.append(
            f"Foreign-key candidate: `{rel.get('column')}` → "
            f"`{rel.get('ref_dataset')}.{rel.get('ref_column')}` "
            f"({float(rel.get('containment', 0)):.0%} of values found)."
        )
    parts += [f"Warning: {w}" for w in out.get("warnings") or []]
    parts.append("Next: ask me for a table design, e.g. `make a ClickHouse table for it`.")
    return "\n\n".join(parts)


def _ddl(out: dict[str, Any]) -> str:
    parts = []
    recommendation = out.get("recommendation")
    if recommendation:
        parts.append(f"I recommend **{recommendation.get('dialect')}**: {recommendation.get('reason')}")
    ddl = out.get("ddl") or ";\n".join(out.get("statements") or [])
    parts.append(
        f"{_dialect_name(out.get('dialect'))} DDL for `{out.get('table')}` "
        f"(dataset `{out.get('dataset')}`):\n\n```sql\n{ddl.strip()}\n```"
    )
    explanation = out.get("explanation") or []
    if explanation:
        parts.append("Why:\n" + "\n".join(f"- {line}" for line in explanation))
    parts.append("Say `load it` to create the table and load the data.")
    return "\n\n".join(parts)


def _load(out: dict[str, Any]) -> str:
    text = (
        f"Loaded **{out.get('rows', 0):,} rows** into `{out.get('table')}` "
        f"({_dialect_name(out.get('dialect'))}, {out.get('method')}) "
        f"in {float(out.get('elapsed_s', 0)):.2f}s."
    )
    return text + f"\n\nTry `select count(*) from {out.get('table')}` or ask me to preview it."


def _query(out: dict[str, Any]) -> str:
    columns = [str(c) for c in out.get("columns") or []]
    rows = out.get("rows") or []
    shown = rows[:MAX_ROWS_SHOWN]
    parts = [f"```sql\n{str(out.get('sql', '')).strip()}\n```"]
    if not rows:
        parts.append("The query returned no rows.")
    else:
        parts.append(_markdown_table(columns, [[_number(v, c) for v, c in zip(row, columns, strict=False)]
                                               for row in shown]))
        if out.get("truncated") or len(rows) > len(shown):
            parts.append(f"(first {len(shown)} rows shown; more exist)")
        else:
            parts.append(f"{len(rows)} row{'s' if len(rows) != 1 else ''}.")
    return "\n\n".join(parts)


def _datasets(out: dict[str, Any]) -> str:
    datasets = out.get("datasets") or []
    if not datasets:
        return "No datasets yet. Give me a file (e.g. `here is data/orders.csv`) to inspect and register."
    rows = [
        [
            f"`{d.get('name')}`",
            str(d.get("format", "")),
            f"{d.get('row_count', 0):,}",
            ", ".join(d.get("columns") or []),
        ]
        for d in datasets
    ]
    return f"{len(datasets)} dataset{'s' if len(datasets) != 1 else ''}:\n\n" + _markdown_table(
        ["dataset", "format", "rows", "columns"], rows
    )


def _answer(out: dict[str, Any]) -> str:
    if out.get("clarification"):
        return str(out["clarification"])
    reused = [n for n in (out.get("parse") or {}).get("notes") or [] if n.startswith("semantic cache:")]
    source = "\n\n(Answered with the SQL you verified earlier.)" if reused else ""
    loaded = _loaded_first(out.get("loaded") or [])
    return f"{loaded}{out.get('answer', '')}\n\n{_query(out)}{source}".strip()


def _loaded_first(loaded: list[dict[str, Any]]) -> str:
    """The files `ask` loaded into the warehouse before answering, said first."""
    if not loaded:
        return ""
    tables = ", ".join(f"`{t.get('table')}` ({t.get('rows', 0):,} rows)" for t in loaded)
    return f"I loaded your file into the warehouse first: {tables}.\n\n"


def _datamart(out: dict[str, Any]) -> str:
    spec, definition = out.get("spec") or {}, out.get("definition") or {}
    measures = ", ".join(
        f"{m.get('agg')}({m.get('column') or '*'}) as {m.get('name')}" for m in spec.get("measures") or []
    )
    by = [
        *([f"{spec['grain']} of {spec.get('time_column')}"] if spec.get("grain") else []),
        *(spec.get("dimensions") or []),
    ]
    head = (
        f"Datamart `{definition.get('name')}` ({_dialect_name(definition.get('dialect'))}, "
        f"{definition.get('engine')}) from `{definition.get('source_table')}`: {measures}"
        + (f" per {', '.join(by)}" if by else "")
        + "."
    )
    statements = [
        *(definition.get("create") or []),
        definition.get("backfill"),
        *(definition.get("keep_current") or []),
        definition.get("refresh"),
    ]
    sql = ";\n\n".join(s.strip().rstrip(";") for s in statements if s)
    parts = [head, f"```sql\n{sql};\n```"]
    if definition.get("explanation"):
        parts.append("Why:\n" + "\n".join(f"- {line}" for line in definition["explanation"]))
    parts.append("Say `deploy it` to build it in the warehouse (you will be asked to approve first).")
    return "\n\n".join(parts)


def _deployed(out: dict[str, Any]) -> str:
    result = out.get("result") or out
    steps = result.get("steps") or []
    parts = ["\n".join(f"- {line}" for line in out.get("summary") or [])]
    if result.get("already_applied"):
        parts.append("Nothing changed: this plan was already applied.")
    rows = [
        [
            f"`{s.get('target')}`",
            str(s.get("kind", "")),
            str(s.get("action", "")),
            _cell(s.get("version")),
            _cell(s.get("rows")),
        ]
        for s in steps
    ]
    if rows:
        parts.append(_markdown_table(["object", "kind", "action", "version", "rows"], rows))
    parts += [f"Note: {note}" for note in result.get("notes") or []]
    return "\n\n".join(p for p in parts if p) or "Deployed."


def _rolled_back(out: dict[str, Any]) -> str:
    return (
        f"Rolled back `{out.get('target')}` ({out.get('kind')}): version {out.get('restored_version')} "
        f"is live again, recorded as version {out.get('version')}. Say `roll it back` again to undo this."
    )


def _history(out: dict[str, Any]) -> str:
    rows = [
        [
            _cell(d.get("version")),
            str(d.get("action", "")),
            _cell(d.get("row_count")),
            str(d.get("approved_by") or ""),
            str(d.get("deployed_at") or ""),
        ]
        for d in out.get("deployments") or []
    ]
    if not rows:
        return f"`{out.get('target')}` has not been deployed yet."
    return f"Deployments of `{out.get('target')}`, newest first:\n\n" + _markdown_table(
        ["version", "action", "rows", "approved by", "when"], rows
    )


def _verified(out: dict[str, Any]) -> str:
    question = str(out.get("question", ""))
    short = question if len(question) <= 60 else question[:57].rstrip() + "…"
    tables = list(out.get("tables") or {})
    named = ", ".join(f"`{t}`" for t in tables)
    keep = "keeps its" if len(tables) == 1 else "keep their"
    return f"Saved: next time '{short}' reuses this SQL" + (
        f" (while {named} {keep} current schema)." if tables else "."
    )


def _generic(out: dict[str, Any]) -> str:
    """Tools without a dedicated writer: show their SQL/DDL, rows and a summary line when present."""
    parts = []
    for key in ("answer", "summary", "message", "text"):
        if isinstance(out.get(key), str):
            parts.append(out[key])
    for key in ("sql", "ddl"):
        if isinstance(out.get(key), str):
            parts.append(f"```sql\n{out[key].strip()}\n```")
    if out.get("columns") and isinstance(out.get("rows"), list):
        parts.append(
            _markdown_table(
                [str(c) for c in out["columns"]],
                [[_cell(v) for v in row] for row in out["rows"][:MAX_ROWS_SHOWN]],
            )
        )
    return "\n\n".join(parts) or "Done."


_WRITERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "infer_schema": _schema,
    "generate_ddl": _ddl,
    "load_table": _load,
    "run_query": _query,
    "list_datasets": _datasets,
    "ask": _answer,
    "design_datamart": _datamart,
    "deploy": _deployed,
    "apply_deploy": _deployed,
    "rollback": _rolled_back,
    "deployments": _history,
    "verify": _verified,
    **pipeline_replies.WRITERS,
}
_WRITERS.update(CONNECTION_WRITERS)


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_escape(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _escape(value: str) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


_NOT_QUANTITIES = ("id", "year", "code", "zip", "key", "number", "no")


def _number(value: Any, column: str) -> str:
    """A result cell for people: 51,014.80 and 12,345; ids, years and codes stay as they are."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _cell(value)
    words = column.lower().replace("-", "_").split("_")
    if isinstance(value, int) and (words[-1] in _NOT_QUANTITIES or column.lower().endswith("id")):
        return str(value)
    return f"{value:,.2f}" if isinstance(value, float) and not value.is_integer() else f"{value:,.0f}"


def _printable(delimiter: str) -> str:
    return {"\t": "\\t", " ": "space"}.get(delimiter, delimiter)


def _dialect_name(dialect: str | None) -> str:
    return {"clickhouse": "ClickHouse", "postgres": "PostgreSQL", "sqlite": "SQLite"}.get(
        dialect or "", dialect or ""
    )
