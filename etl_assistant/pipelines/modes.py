"""Which load mode fits a source, proposed from its profile and said in one line, like the DDL notes.

The proposal prefers keeping a table in sync cheaply: incremental by an updated_at-like timestamp when the
table has one (merged by its primary key, so updated rows replace their old version), or by an increasing id
for append-only tables; a full refresh when there is no usable cursor; append for files (each new file once).
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from etl_assistant.errors import ToolError
from etl_assistant.pipelines.spec import Mode, PipelineSpec
from etl_assistant.schema.model import ColumnProfile, DatasetSchema

_UPDATED = re.compile(
    r"(^|_)(updated|modified|changed|last_modified|last_update|mtime|ts_updated)(_|$)|"
    r"^(updated_at|modified_at|changed_at|last_updated|updated_on|modified_on)$",
    re.IGNORECASE,
)
_CREATED = re.compile(r"(^|_)(created|inserted|loaded|event_time|timestamp|ts)(_|$)", re.IGNORECASE)


class ModeChoice(BaseModel):
    mode: Mode
    cursor: str | None = None
    primary_key: list[str] = []
    reason: str


def explain(spec: PipelineSpec) -> str:
    """The mode of `spec` in one line."""
    key = ", ".join(spec.primary_key)
    lag = f", re-reading the last {spec.lag:g} seconds for late commits" if spec.lag else ""
    if spec.mode == "full_refresh":
        return (
            "Full refresh: every run reloads the whole source into a staging table and swaps it in "
            "atomically, so readers see the old table until the new one is complete."
        )
    if spec.mode == "append":
        what = (
            "each new file once (remembered by name, size, mtime and content hash)"
            if spec.source.kind == "files"
            else "every row of the source"
        )
        return f"Append: every run adds {what} to {spec.target_table}."
    if spec.mode == "incremental" and spec.primary_key:
        return (
            f"Incremental by {spec.cursor}: each run reads rows with {spec.cursor} at or after the last one "
            f"loaded{lag} and merges them by {key}, so updated rows replace their old version."
        )
    if spec.mode == "incremental":
        return (
            f"Incremental by {spec.cursor}: each run appends rows with {spec.cursor} at or after the last "
            "one loaded, dropping the boundary rows it already has."
        )
    window = f" with {spec.cursor} at or after the last one loaded{lag}" if spec.cursor else ""
    return f"Upsert by {key}: each run reads rows{window} and inserts or replaces them by {key}."


def _cursor_candidates(schema: DatasetSchema) -> tuple[ColumnProfile | None, ColumnProfile | None]:
    """(updated_at-like timestamp, increasing id) columns of the schema, either None."""
    times = [c for c in schema.columns if c.type in ("datetime", "date") and not c.nullable]
    updated = next((c for c in times if _UPDATED.search(c.identifier)), None)
    created = next((c for c in times if _CREATED.search(c.identifier)), None)
    keys = declared_key(schema)
    increasing = next((c for c in schema.columns if c.identifier in keys and c.type == "integer"), None)
    return updated or created, increasing


def declared_key(schema: DatasetSchema) -> list[str]:
    """The database's own primary key, else one unique, non-null, id-like column."""
    declared = list(getattr(schema, "primary_key", None) or [])
    if declared:
        return declared
    unique = [
        c.identifier
        for c in schema.columns
        if c.unique
        and not c.nullable
        and c.type in ("integer", "uuid", "string")
        and re.search(r"(^|_)(id|key|uuid)$", c.identifier)
    ]
    return unique[:1]


def propose(schema: DatasetSchema, is_files: bool = False) -> ModeChoice:
    """The mode for `schema` with the one-line reason it was chosen."""
    key = declared_key(schema)
    if is_files:
        return ModeChoice(mode="append", reason="Files are appended: each new file is loaded once.")
    timestamp, increasing = _cursor_candidates(schema)
    if timestamp is not None and key:
        return ModeChoice(
            mode="incremental",
            cursor=timestamp.identifier,
            primary_key=key,
            reason=f"{timestamp.identifier} records when a row changed and {', '.join(key)} is "
            "its key, so reading only newer rows and merging by key keeps it in sync.",
        )
    if increasing is not None:
        return ModeChoice(
            mode="incremental",
            cursor=increasing.identifier,
            primary_key=[],
            reason=f"{increasing.identifier} only grows, so new rows are the ones above the "
            "last loaded (rows updated in place would not be seen).",
        )
    if key:
        return ModeChoice(
            mode="upsert",
            primary_key=key,
            reason=f"No column records changes, but {', '.join(key)} is a key: every run reads "
            "the table and replaces rows by key.",
        )
    return ModeChoice(
        mode="full_refresh",
        reason="No timestamp or increasing key to follow changes, so every run reloads it whole.",
    )


def check_cursor(schema: DatasetSchema, cursor: str) -> None:
    """A cursor must be a non-null timestamp, date or number column; else one sentence naming candidates."""
    try:
        column = schema.column(cursor)
    except KeyError:
        raise ToolError(
            f"{schema.name} has no column {cursor!r} to use as the cursor; its columns: "
            f"{', '.join(c.identifier for c in schema.columns)}."
        ) from None
    if column.type not in ("datetime", "date", "integer", "decimal"):
        usable = [c.identifier for c in schema.columns if c.type in ("datetime", "date", "integer")]
        raise ToolError(
            f"{cursor} is {column.type}, which cannot order changes; use an updated_at-like "
            f"timestamp or an increasing id ({', '.join(usable) or 'this table has none'})."
        )
    if column.nullable:
        raise ToolError(
            f"{cursor} has nulls, and rows with a null cursor would never be loaded; pick a "
            "non-null timestamp or id, or use full_refresh."
        )


def require_cursor_candidate(schema: DatasetSchema) -> None:
    """Incremental without a named cursor: there must be one to propose."""
    timestamp, increasing = _cursor_candidates(schema)
    if timestamp is None and increasing is None:
        raise ToolError(
            f"{schema.name} has no usable cursor for incremental loads (no non-null updated_at-like "
            "timestamp or increasing id); use full_refresh, or upsert with a primary key."
        )
