"""What a pipeline is: a source, a target table, a load mode, light transforms and a schedule.

A `PipelineSpec` is the one record the planner proposes, the person approves, the store keeps and the runner
executes; everything a run needs is in it (the connection is named, never its URL, so no secret is
stored here).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from etl_assistant.errors import ToolError

Mode = Literal["full_refresh", "append", "incremental", "upsert"]
MODES: tuple[str, ...] = ("full_refresh", "append", "incremental", "upsert")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PipelineSource(BaseModel):
    """Where rows come from: a table or one read-only query of a named connection, or files.

    `connection` None with a `table` means a table of the configured warehouse itself.
    """

    connection: str | None = None
    table: str | None = None
    query: str | None = None
    path: str | None = None  # a file, a glob or a folder

    @model_validator(mode="after")
    def _one_kind(self) -> PipelineSource:
        given = [name for name in ("table", "query", "path") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("a pipeline source is exactly one of a table, a read-only query or a file path")
        if self.query and not self.connection:
            raise ValueError("a source query needs the connection it runs on")
        return self

    @property
    def kind(self) -> Literal["table", "query", "files"]:
        return "files" if self.path else "query" if self.query else "table"

    def describe(self) -> str:
        """The source in a few words (no secret: connections are named)."""
        if self.path:
            return f"files {self.path}"
        where = f"{self.connection}." if self.connection else "warehouse table "
        return f"{where}{self.table}" if self.table else f"a query on {self.connection}"


class Transform(BaseModel):
    """One light transform; `transforms.py` turns it into a sqlglot expression over the source columns.

    rename: column -> to; cast: column -> type (a SQL type name); filter: expression (a SQL condition);
    dedupe: columns (keep one row per those columns); derive: to = expression.
    """

    kind: Literal["rename", "cast", "filter", "dedupe", "derive"]
    column: str | None = None
    to: str | None = None
    type: str | None = None
    expression: str | None = None
    columns: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Transform:
        needed = {"rename": ("column", "to"), "cast": ("column", "type"), "filter": ("expression",),
                  "dedupe": ("columns",), "derive": ("to", "expression")}[self.kind]
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"a {self.kind} transform needs {' and '.join(missing)}")
        return self


class PipelineSchedule(BaseModel):
    """A cron expression in a timezone; the words come from `schedule.py` when shown."""

    cron: str
    timezone: str = "UTC"


class PipelineSpec(BaseModel):
    """One pipeline of one tenant."""

    name: str
    tenant: str = "default"
    source: PipelineSource
    target_table: str
    mode: Mode = "full_refresh"
    cursor: str | None = None  # incremental: an updated_at-like timestamp or an increasing id
    primary_key: list[str] = Field(default_factory=list)
    # Incremental: re-read this far behind the last cursor for rows committed late (seconds for a timestamp
    # cursor, units for an integer one); rows re-read are dropped or merged by key.
    lag: float = 0.0
    transforms: list[Transform] = Field(default_factory=list)
    schedule: PipelineSchedule | None = None
    paused: bool = False
    approved_by: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PipelineSpec:
        for label, value in (("pipeline name", self.name), ("target table", self.target_table)):
            if not _NAME.match(value):
                raise ValueError(f"the {label} {value!r} must be letters, digits and underscores")
        if self.mode == "incremental" and not self.cursor:
            raise ValueError("incremental mode needs a cursor column (an updated_at-like timestamp or an "
                             "increasing id)")
        if self.mode == "upsert" and not self.primary_key:
            raise ValueError("upsert mode needs a primary key")
        if self.lag < 0:
            raise ValueError("the lag window cannot be negative")
        if self.lag and not self.primary_key:
            raise ValueError("a lag window re-reads rows, so it needs a primary key to drop them by")
        if self.source.kind == "files" and self.mode not in ("append", "upsert"):
            raise ValueError("files are loaded once each (by name, size, mtime and content hash), so use "
                             "append, or upsert with a primary key")
        if self.mode == "append" and self.cursor:
            raise ValueError("append reads the whole source every run; to read only new rows by a cursor use "
                             "incremental")
        return self


def validate_spec(data: dict) -> PipelineSpec:
    """A spec from tool arguments, with a validation problem turned into one sentence."""
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first.get("msg", "")).removeprefix("Value error, ")
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ToolError(f"The pipeline is not valid: {message}{f' ({where})' if where else ''}.") from exc
