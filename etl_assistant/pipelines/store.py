"""Pipelines in the catalog database: specs, run history, cursor state and the manifest of loaded files.

The tables live next to the catalog's own (same SQLAlchemy engine, SQLite or PostgreSQL), every row scoped by
tenant, created on first use, every write one transaction. The cursor state moves only in `commit_batch`,
called after the warehouse committed the batch, so a run killed midway leaves the state of the last whole
batch.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.pipelines.spec import PipelineSpec
from etl_assistant.warehouse.catalog import CatalogTables

metadata = MetaData()

pipelines_table = Table(
    "etla_pipelines", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(128), nullable=False),
    Column("name", String(256), nullable=False),
    Column("spec_json", Text, nullable=False),
    Column("paused", Boolean, nullable=False),
    # The latest scheduled time a run was claimed for: the scheduler runs a slot only if it is later.
    Column("last_slot_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "name", name="uq_etla_pipelines_tenant_name"),
)

runs_table = Table(
    "etla_pipeline_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(128), nullable=False),
    Column("pipeline", String(256), nullable=False),
    Column("trigger", String(32), nullable=False),  # manual, schedule, catch-up, cli
    Column("status", String(16), nullable=False),  # running, succeeded, failed, interrupted
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("rows_read", BigInteger, nullable=False),
    Column("rows_written", BigInteger, nullable=False),
    Column("cursor_before", Text),
    Column("cursor_after", Text),
    Column("attempts", Integer, nullable=False),
    Column("error", Text),
)

state_table = Table(
    "etla_pipeline_state", metadata,
    Column("tenant", String(128), primary_key=True),
    Column("pipeline", String(256), primary_key=True),
    Column("cursor_json", Text),  # {"type": ..., "value": ...} of the last committed batch
    Column("batch", BigInteger, nullable=False),  # number of the last committed batch
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

files_table = Table(
    "etla_pipeline_files", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(128), nullable=False),
    Column("pipeline", String(256), nullable=False),
    Column("path", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("batch", BigInteger, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)


class PipelineRun(BaseModel):
    """One run as the history shows it."""

    id: int
    pipeline: str
    trigger: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    rows_read: int
    rows_written: int
    cursor_before: str | None
    cursor_after: str | None
    attempts: int
    error: str | None


class PipelineState(BaseModel):
    """Where the next run starts: the cursor of the last committed batch and that batch's number."""

    cursor: Any = None
    batch: int = 0


class LoadedFile(BaseModel):
    path: str
    size: int
    mtime_ns: int
    sha256: str
    rows: int
    batch: int


def _now() -> datetime:
    return datetime.now(UTC)


def encode_cursor(value: Any) -> str | None:
    """A cursor value as JSON text keeping its type (timestamps in UTC at full precision)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return json.dumps({"type": "datetime", "value": aware.astimezone(UTC).isoformat()})
    if isinstance(value, date):
        return json.dumps({"type": "date", "value": value.isoformat()})
    if isinstance(value, bool | int):
        return json.dumps({"type": "int", "value": int(value)})
    if isinstance(value, float | Decimal):
        return json.dumps({"type": "number", "value": str(value)})
    return json.dumps({"type": "text", "value": str(value)})


def decode_cursor(text: str | None) -> Any:
    if text is None:
        return None
    data = json.loads(text)
    kind, value = data["type"], data["value"]
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "int":
        return int(value)
    if kind == "number":
        return Decimal(value)
    return value


def show_cursor(text: str | None) -> str | None:
    """A stored cursor for people: its value alone."""
    return None if text is None else str(json.loads(text)["value"])


class PipelineStore(CatalogTables):
    """Pipelines, their runs, cursor state and loaded files, per tenant."""

    metadata = metadata


    # --- pipelines ------------------------------------------------------------------------------------------

    def save(self, spec: PipelineSpec) -> None:
        """Create or replace a pipeline (its history and state stay)."""
        p = pipelines_table.c
        values = {"spec_json": spec.model_dump_json(), "paused": spec.paused, "updated_at": _now()}
        try:
            with self._transaction() as conn:
                found = conn.execute(
                    select(p.id).where(p.tenant == spec.tenant, p.name == spec.name)).scalar()
                if found is None:
                    conn.execute(insert(pipelines_table).values(
                        tenant=spec.tenant, name=spec.name, created_at=_now(), last_slot_at=None, **values))
                else:
                    conn.execute(update(pipelines_table).where(p.id == found).values(**values))
        except WarehouseError as exc:
            if isinstance(exc.__cause__, IntegrityError):  # a concurrent first save won: ours is an update
                return self.save(spec)
            raise

    def get(self, tenant: str, name: str) -> PipelineSpec | None:
        p = pipelines_table.c
        with self._transaction() as conn:
            text = conn.execute(select(p.spec_json).where(p.tenant == tenant, p.name == name)).scalar()
        return PipelineSpec.model_validate_json(text) if text else None

    def require(self, tenant: str, name: str) -> PipelineSpec:
        """The pipeline, or one sentence naming the ones that exist."""
        spec = self.get(tenant, name)
        if spec is None:
            known = ", ".join(s.name for s in self.list(tenant)) or "none yet"
            raise ToolError(f"There is no pipeline named {name!r} (pipelines: {known}); check the name.")
        return spec

    def list(self, tenant: str) -> list[PipelineSpec]:
        p = pipelines_table.c
        with self._transaction() as conn:
            texts = conn.execute(
                select(p.spec_json).where(p.tenant == tenant).order_by(p.name)).scalars().all()
        return [PipelineSpec.model_validate_json(t) for t in texts]

    def every_pipeline(self) -> list[tuple[str, str]]:
        """(tenant, name) of every pipeline of every tenant, for the scheduler (it reads their schedules)."""
        p = pipelines_table.c
        with self._transaction() as conn:
            return [(r.tenant, r.name) for r in conn.execute(select(p.tenant, p.name).order_by(p.id))]

    def set_paused(self, tenant: str, name: str, paused: bool) -> PipelineSpec:
        spec = self.require(tenant, name).model_copy(update={"paused": paused})
        self.save(spec)
        return spec

    def delete(self, tenant: str, name: str) -> bool:
        """Forget a pipeline with its runs, state and file manifest; returns whether it existed."""
        with self._transaction() as conn:
            deleted = conn.execute(delete(pipelines_table).where(
                pipelines_table.c.tenant == tenant, pipelines_table.c.name == name)).rowcount
            for table in (runs_table, state_table, files_table):
                conn.execute(delete(table).where(table.c.tenant == tenant, table.c.pipeline == name))
        return bool(deleted)

    # --- schedule slots -------------------------------------------------------------------------------------

    def last_slot(self, tenant: str, name: str) -> datetime | None:
        p = pipelines_table.c
        with self._transaction() as conn:
            value = conn.execute(select(p.last_slot_at).where(p.tenant == tenant, p.name == name)).scalar()
        return _aware(value)

    def claim_slot(self, tenant: str, name: str, slot: datetime, previous: datetime | None) -> bool:
        """Move the pipeline's last slot from `previous` to `slot`; False when another process moved it first.

        A compare-and-set, so two schedulers that both saw the same due slot run it once between them.
        """
        p = pipelines_table.c
        where = [p.tenant == tenant, p.name == name]
        where.append(p.last_slot_at.is_(None) if previous is None else p.last_slot_at == previous)
        with self._transaction() as conn:
            moved = conn.execute(update(pipelines_table).where(*where).values(last_slot_at=slot)).rowcount
        return bool(moved)

    # --- runs -----------------------------------------------------------------------------------------------

    def start_run(self, tenant: str, name: str, trigger: str, cursor_before: Any) -> int:
        with self._transaction() as conn:
            return conn.execute(insert(runs_table).values(
                tenant=tenant, pipeline=name, trigger=trigger, status="running", started_at=_now(),
                rows_read=0, rows_written=0, cursor_before=encode_cursor(cursor_before), attempts=1,
            ).returning(runs_table.c.id)).scalar_one()

    def update_run(self, run_id: int, **values: Any) -> None:
        """Progress or the end of a run: rows, attempts, status, cursor_after (a value), error, ended_at."""
        if "cursor_after" in values:
            values["cursor_after"] = encode_cursor(values["cursor_after"])
        with self._transaction() as conn:
            conn.execute(update(runs_table).where(runs_table.c.id == run_id).values(**values))

    def finish_run(self, run_id: int, status: str, error: str | None = None, **values: Any) -> None:
        self.update_run(run_id, status=status, error=error, ended_at=_now(), **values)

    def mark_interrupted(self, tenant: str, name: str) -> int:
        """Runs still marked running while we hold the pipeline's lock died with their process."""
        r = runs_table.c
        with self._transaction() as conn:
            return conn.execute(update(runs_table).where(
                r.tenant == tenant, r.pipeline == name, r.status == "running").values(
                status="interrupted", ended_at=_now(),
                error="The process running it stopped before the run finished; the next run redoes it.",
            )).rowcount

    def last_status(self, tenant: str, name: str) -> str | None:
        """The status of the pipeline's newest run (None before its first)."""
        r = runs_table.c
        with self._transaction() as conn:
            return conn.execute(select(r.status).where(r.tenant == tenant, r.pipeline == name)
                                .order_by(r.id.desc()).limit(1)).scalar()

    def runs(self, tenant: str, name: str, limit: int = 20) -> list[PipelineRun]:
        """Newest first."""
        r = runs_table.c
        with self._transaction() as conn:
            rows = conn.execute(select(runs_table).where(r.tenant == tenant, r.pipeline == name)
                                .order_by(r.id.desc()).limit(limit)).all()
        return [PipelineRun(
            id=row.id, pipeline=row.pipeline, trigger=row.trigger, status=row.status,
            started_at=_aware(row.started_at), ended_at=_aware(row.ended_at), rows_read=row.rows_read,
            rows_written=row.rows_written, cursor_before=show_cursor(row.cursor_before),
            cursor_after=show_cursor(row.cursor_after), attempts=row.attempts, error=row.error,
        ) for row in rows]

    # --- cursor state ---------------------------------------------------------------------------------------

    def state(self, tenant: str, name: str) -> PipelineState:
        s = state_table.c
        with self._transaction() as conn:
            row = conn.execute(
                select(s.cursor_json, s.batch).where(s.tenant == tenant, s.pipeline == name)).first()
        if row is None:
            return PipelineState()
        return PipelineState(cursor=decode_cursor(row.cursor_json), batch=row.batch)

    def commit_batch(self, tenant: str, name: str, batch: int, cursor: Any,
                     files: list[LoadedFile] | None = None) -> None:
        """Record a batch the warehouse has committed: the cursor moves, the loaded files are remembered.

        Batches commit in order; a batch number not above the stored one is refused (a stale writer).
        """
        s = state_table.c
        now = _now()
        with self._transaction() as conn:
            current = conn.execute(select(s.batch).where(s.tenant == tenant, s.pipeline == name)
                                   .with_for_update()).scalar()
            if current is not None and batch <= current:
                raise WarehouseError(f"Pipeline {name} already committed batch {current}; this run is stale.")
            values = {"cursor_json": encode_cursor(cursor), "batch": batch, "updated_at": now}
            if current is None:
                conn.execute(insert(state_table).values(tenant=tenant, pipeline=name, **values))
            else:
                conn.execute(update(state_table).where(s.tenant == tenant, s.pipeline == name)
                             .values(**values))
            if files:
                conn.execute(insert(files_table), [
                    {"tenant": tenant, "pipeline": name, "loaded_at": now, **f.model_dump()} for f in files])

    def reset_state(self, tenant: str, name: str) -> None:
        """Forget the cursor and the file manifest (a full reload starts over)."""
        with self._transaction() as conn:
            for table in (state_table, files_table):
                conn.execute(delete(table).where(table.c.tenant == tenant, table.c.pipeline == name))

    # --- file manifest --------------------------------------------------------------------------------------

    def loaded_files(self, tenant: str, name: str) -> list[LoadedFile]:
        f = files_table.c
        with self._transaction() as conn:
            rows = conn.execute(select(files_table).where(f.tenant == tenant, f.pipeline == name)
                                .order_by(f.id)).all()
        return [LoadedFile(path=r.path, size=r.size, mtime_ns=r.mtime_ns, sha256=r.sha256, rows=r.rows,
                           batch=r.batch) for r in rows]


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands DateTime(timezone=True) back naive; every time we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
