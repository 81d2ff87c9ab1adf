"""Plan a deploy: which tables and datamarts will be created, replaced or left alone, with their DDL, the
rows to load and the source fingerprints that `apply` checks again (a changed source makes the plan stale).

A plan freezes everything apply needs (the dataset schemas and datamart specs as they were), so what runs
is what the person approved. Datamarts pull in their source table when it is not in the warehouse yet, and
replacing a table pulls in the deployed datamarts built on it (they must be rebuilt from the new rows).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import TYPE_CHECKING, Literal

import sqlglot
from pydantic import BaseModel
from sqlglot import exp

from etl_assistant.datamart import DatamartSpec, build_definition
from etl_assistant.ddl import generate_ddl
from etl_assistant.deploy.store import DeployStore
from etl_assistant.deploy.swap import check_dialect, object_names
from etl_assistant.errors import InputError, ToolError
from etl_assistant.pipelines.plan import PipelinePlanInfo
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.schema.source import resolve_source

if TYPE_CHECKING:  # tools.base loads the tool registry, whose tools import this room
    from etl_assistant.tools.base import ToolContext
    from etl_assistant.warehouse.base import Warehouse


class PlanStep(BaseModel):
    target: str
    kind: Literal["table", "datamart", "pipeline"]
    action: Literal["create", "replace", "unchanged"]
    dataset: str
    reason: str
    ddl: str
    after_swap: list[str] = []  # datamarts: the materialized view / plain view, (re)created after the swap
    rows_to_load: int | None = None
    existing_rows: int | None = None
    source_table: str | None = None  # datamarts
    fingerprint: str  # tables: the file's fingerprint; datamarts: the state of their source
    digest: str  # what the deployed object will be; equal digests mean nothing to do
    source_schema: DatasetSchema
    spec: DatamartSpec | None = None
    pipeline: PipelinePlanInfo | None = None  # pipelines: the spec and target design the person approves


class DeployPlan(BaseModel):
    plan_id: str
    dialect: str
    warehouse: str
    steps: list[PlanStep]

    def summary(self) -> list[str]:
        return [describe_step(step, self.dialect) for step in self.steps]


def _created_views(step: PlanStep, dialect: str) -> list[str]:
    """Names of the views (materialized or plain) a datamart step (re)creates after its swap."""
    parsed = [sqlglot.parse_one(statement, read=dialect) for statement in step.after_swap]
    return [p.this.name for p in parsed if isinstance(p, exp.Create)]


def describe_step(step: PlanStep, dialect: str) -> str:
    if step.action == "unchanged":
        return f"{step.kind} {step.target}: unchanged (already deployed as planned)."
    what = f"{step.action} {step.kind} {step.target}"
    if step.pipeline is not None:
        return describe_pipeline_step(step.pipeline)
    if step.kind == "table":
        rows = f"load {step.rows_to_load:,} rows from {step.source_schema.source}"
    else:
        views = _created_views(step, dialect)
        rows = f"aggregate {step.source_table}" + (f", (re)create {', '.join(views)}" if views else "")
    was = (
        f"; it has {step.existing_rows:,} rows now and is kept for rollback"
        if step.existing_rows is not None
        else ""
    )
    return f"{what}: {rows}{was} ({step.reason})."


def describe_pipeline_step(info: PipelinePlanInfo) -> str:
    spec = info.spec
    table = "reuse" if info.target_exists else "create"
    when = f"run {info.schedule}" if info.schedule else "run only when asked"
    return (f"pipeline {spec.name}: {table} {spec.target_table}, load it from {info.source} ({spec.mode}), "
            f"run it once now, then {when}.")


def redact(url: str) -> str:
    """The warehouse URL without a password (plans are shown to people)."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def file_fingerprint(ctx: ToolContext, schema: DatasetSchema) -> str:
    try:
        return resolve_source(schema.source, ctx.settings).fingerprint()
    except InputError as exc:
        raise ToolError(f"The source of dataset {schema.name} cannot be read: {exc}") from exc


def table_state(ctx: ToolContext, table: str) -> str:
    """What a datamart's source table is right now (catalog version, rows, last load)."""
    record = ctx.catalog.get_table(ctx.tenant, table)
    return (
        "absent" if record is None else f"{record.version}:{record.row_count}:{record.updated_at.isoformat()}"
    )


def dataset_schema(ctx: ToolContext, name: str) -> DatasetSchema:
    from etl_assistant.tools.load_table import resolve_dataset  # the tool registry imports this module

    return resolve_dataset(ctx, name, None)


def source_table_of(ctx: ToolContext, schema: DatasetSchema, dialect: str) -> str:
    """The warehouse table holding a dataset: the one recorded for it, else the name DDL would give it."""
    for record in ctx.catalog.list_tables(ctx.tenant):
        if record.dataset == schema.name and record.dialect == dialect and "__" not in record.table:
            return record.table
    return generate_ddl(schema, dialect).table


def get_datamart(ctx: ToolContext, store: DeployStore, name: str) -> DatamartSpec:
    spec = store.get_datamart(ctx.tenant, name)
    if spec is None:
        known = ", ".join(s.name for s in store.list_datamarts(ctx.tenant)) or "none yet: design one first"
        raise ToolError(f"Unknown datamart {name!r}; known datamarts: {known}.")
    return spec


class _Planner:
    def __init__(self, ctx: ToolContext, store: DeployStore, warehouse: Warehouse) -> None:
        self.ctx, self.store, self.warehouse = ctx, store, warehouse
        self.existing = object_names(warehouse)
        self.tables: dict[str, PlanStep] = {}  # by dataset
        self.marts: dict[str, PlanStep] = {}  # by datamart name

    def _action(self, target: str, digest: str) -> Literal["create", "replace", "unchanged"]:
        if target not in self.existing:
            return "create"
        current = self.store.current(self.ctx.tenant, target)
        return "unchanged" if current is not None and current.digest == digest else "replace"

    def add_table(self, dataset: str, reason: str) -> PlanStep:
        if dataset in self.tables:
            return self.tables[dataset]
        schema = dataset_schema(self.ctx, dataset)
        fingerprint = file_fingerprint(self.ctx, schema)
        if schema.fingerprint and fingerprint != schema.fingerprint:
            raise ToolError(
                f"{schema.source} changed since it was inferred; inspect the file again, then "
                "plan the deploy."
            )
        dialect = self.warehouse.dialect
        target = source_table_of(self.ctx, schema, dialect)
        ddl = generate_ddl(schema, dialect, target).ddl
        digest = _digest("table", dialect, target, ddl, fingerprint)
        action = self._action(target, digest)
        step = PlanStep(
            target=target,
            kind="table",
            action=action,
            dataset=dataset,
            reason=reason,
            ddl=ddl,
            rows_to_load=schema.row_count,
            fingerprint=fingerprint,
            digest=digest,
            source_schema=schema,
            existing_rows=self.warehouse.count_rows(target) if action == "replace" else None,
        )
        self.tables[dataset] = step
        return step

    def add_datamart(self, spec: DatamartSpec, reason: str) -> PlanStep:
        if spec.name in self.marts:
            return self.marts[spec.name]
        schema = dataset_schema(self.ctx, spec.dataset)
        dialect = self.warehouse.dialect
        source = source_table_of(self.ctx, schema, dialect)
        if spec.dataset in self.tables:
            state = self.tables[spec.dataset].digest
        elif source in self.existing:
            state = table_state(self.ctx, source)
        else:
            state = self.add_table(spec.dataset, f"source of datamart {spec.name}").digest
        definition = build_definition(spec, schema, dialect, source)
        ddl = ";\n".join([*definition.create, *filter(None, [definition.backfill])]) + ";"
        after = definition.keep_current + definition.view
        digest = _digest("datamart", dialect, spec.name, ddl, after, state)
        action = self._action(spec.name, digest)
        step = PlanStep(
            target=spec.name,
            kind="datamart",
            action=action,
            dataset=spec.dataset,
            reason=reason,
            ddl=ddl,
            after_swap=after,
            source_table=source,
            fingerprint=state,
            digest=digest,
            source_schema=schema,
            spec=spec,
            existing_rows=self.warehouse.count_rows(spec.name) if action == "replace" else None,
        )
        self.marts[spec.name] = step
        return step

    def add_dependents(self) -> None:
        """Deployed datamarts over a table this plan replaces are rebuilt from its new rows."""
        changed = {s.dataset for s in self.tables.values() if s.action != "unchanged"}
        for spec in self.store.list_datamarts(self.ctx.tenant):
            if (
                spec.dataset in changed
                and spec.name not in self.marts
                and self.store.current(self.ctx.tenant, spec.name) is not None
            ):
                self.add_datamart(spec, f"rebuilt because its source {spec.dataset} is replaced")


def make_plan(ctx: ToolContext, datasets: list[str], datamarts: list[str]) -> DeployPlan:
    """Plan and store a deploy of the named datasets (as tables) and datamarts."""
    if not datasets and not datamarts:
        raise ToolError("Say what to deploy: give dataset names (tables) and/or datamart names.")
    warehouse = ctx.warehouse
    check_dialect(warehouse)
    store = DeployStore(ctx.catalog)
    planner = _Planner(ctx, store, warehouse)
    for name in datasets:
        planner.add_table(name, "requested")
    specs = [get_datamart(ctx, store, name) for name in datamarts]
    for spec in specs:
        planner.add_datamart(spec, "requested")
    planner.add_dependents()
    plan = DeployPlan(
        plan_id=f"plan_{uuid.uuid4().hex[:12]}",
        dialect=warehouse.dialect,
        warehouse=redact(warehouse.url),
        steps=[*planner.tables.values(), *planner.marts.values()],
    )
    store.save_plan(ctx.tenant, plan.plan_id, plan.dialect, plan.warehouse, plan.model_dump(mode="json"))
    return plan


def make_pipeline_plan(ctx: ToolContext, info: PipelinePlanInfo, source: DatasetSchema) -> DeployPlan:
    """Store a plan with one pipeline step (create_pipeline); apply_deploy applies it after approval."""
    from etl_assistant.pipelines.plan import plan_digest

    warehouse = ctx.warehouse
    check_dialect(warehouse)
    step = PlanStep(
        target=info.spec.target_table,
        kind="pipeline",
        action="create",
        dataset=info.spec.name,
        reason=info.mode_reason,
        ddl=";\n".join(info.target_statements) + ";",
        fingerprint=info.source,
        digest=plan_digest(info),
        source_schema=source,
        pipeline=info,
    )
    plan = DeployPlan(plan_id=f"plan_{uuid.uuid4().hex[:12]}", dialect=warehouse.dialect,
                      warehouse=redact(warehouse.url), steps=[step])
    DeployStore(ctx.catalog).save_plan(ctx.tenant, plan.plan_id, plan.dialect, plan.warehouse,
                                       plan.model_dump(mode="json"))
    return plan
