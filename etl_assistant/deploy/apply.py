"""Apply a stored plan: under the targets' locks, refuse it if a source changed, then per object build into
staging, load in bulk, check counts against the source, swap atomically (the replaced version is kept for
rollback) and record the deployment. Applying the same plan twice changes nothing.

A plan is applied object by object: if one fails, those before it stay deployed (each one whole) and applying
the plan again skips them and continues. Rows inserted into a ClickHouse source while its datamart is
rebuilt (between the backfill and the new materialized view) reach only the replaced version; our own loads
swap whole tables in and never insert into a live source.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlglot import exp

from etl_assistant.datamart import build_definition
from etl_assistant.datamart.build import consistency_check
from etl_assistant.deploy.locks import deploy_locks
from etl_assistant.deploy.plan import DeployPlan, PlanStep, file_fingerprint, redact, table_state
from etl_assistant.deploy.store import Deployment, DeployStore
from etl_assistant.deploy.swap import (
    check_dialect,
    clean_staging,
    drop_object,
    object_names,
    previous_name,
    swap_in,
)
from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.warehouse.statements import render, staging_name

if TYPE_CHECKING:  # tools.base loads the tool registry, whose tools import this room
    from etl_assistant.tools.base import ToolContext
    from etl_assistant.warehouse.base import Warehouse


class AppliedStep(BaseModel):
    target: str
    kind: str
    action: str  # create, replace, unchanged
    version: int | None  # the deployment version now live (None: never deployed by us)
    rows: int | None
    previous_object: str | None = None  # where the replaced version is kept
    cleaned: list[str] = []  # staging leftovers of an interrupted deploy, dropped first


class ApplyResult(BaseModel):
    plan_id: str
    already_applied: bool
    steps: list[AppliedStep]
    notes: list[str] = []


def _scalar(warehouse: Warehouse, query: exp.Select) -> int:
    return int(warehouse.query(render(query, warehouse.dialect), read_only=False).rows[0][0] or 0)


def _recorded_rows(ctx: ToolContext, table: str, dialect: str) -> int | None:
    """The catalog's row count of `table`, checked against its file when it was loaded or deployed."""
    record = ctx.catalog.get_table(ctx.tenant, table)
    return record.row_count if record is not None and record.dialect == dialect else None


def _check_accounts_for_source(
    ctx: ToolContext, warehouse: Warehouse, step: PlanStep, staging: str, engine: str
) -> None:
    """The built datamart must account for every source row (or group). A row total equal to the count the
    catalog recorded for the source when it was loaded (checked against its file then) needs no scan of the
    source, which costs a fifth of the build on PostgreSQL; any other total is compared with the source
    counted now, so a source changed since its load is no false failure. Only a datamart off by exactly what
    changed in the source since its load would pass, as one off by what changed between build and count
    always could."""
    assert step.spec is not None and step.source_table is not None
    built_query, source_query, what = consistency_check(
        step.spec, engine, step.source_table, staging, warehouse.dialect
    )
    built = _scalar(warehouse, built_query)
    if what == "rows" and not step.spec.filters:
        if built == _recorded_rows(ctx, step.source_table, warehouse.dialect):
            return
    expected = _scalar(warehouse, source_query)
    if built != expected:
        raise WarehouseError(
            f"The datamart {step.target} accounts for {built} {what} but its source has {expected}; "
            "it was left unchanged, apply the plan again."
        )


def _build_datamart(ctx: ToolContext, warehouse: Warehouse, step: PlanStep) -> tuple[str, int]:
    """Create the datamart under a staging name and fill it; it must account for every source row (or
    group). Returns the staging name and its row count."""
    assert step.spec is not None and step.source_table is not None
    staging = staging_name(step.target)
    definition = build_definition(
        step.spec, step.source_schema, warehouse.dialect, step.source_table, staging
    )
    if warehouse.dialect == "postgres":  # the view and its unique index in one transaction: one commit
        warehouse.execute("; ".join(definition.create))
    else:
        for statement in definition.create:
            warehouse.execute(statement)
    try:
        if definition.backfill:
            ctx.progress(0, None, f"backfilling {step.target} from {step.source_table}")
            warehouse.execute(definition.backfill)
        _check_accounts_for_source(ctx, warehouse, step, staging, definition.engine)
        return staging, warehouse.count_rows(staging)
    except BaseException:
        drop_object(warehouse, staging)
        raise


def _build(ctx: ToolContext, warehouse: Warehouse, step: PlanStep) -> tuple[str, int]:
    if step.kind == "table":
        from etl_assistant.tools.load_table import load_staging  # the tool registry imports this module

        staging, rows, _method = load_staging(ctx, warehouse, step.source_schema, step.target)
        return staging, rows
    return _build_datamart(ctx, warehouse, step)


def _check_fresh(ctx: ToolContext, plan: DeployPlan) -> None:
    """Every source is as it was when the plan was made; otherwise the plan is stale."""
    in_plan = {s.digest for s in plan.steps}
    for step in plan.steps:
        if step.kind == "pipeline":
            continue  # a pipeline reads its source when it runs, not a snapshot taken at planning
        if step.kind == "table":
            now = file_fingerprint(ctx, step.source_schema)
            what = f"the file {step.source_schema.source}"
        elif step.fingerprint in in_plan:
            continue  # its source table is deployed by this plan
        else:
            assert step.source_table is not None
            now = table_state(ctx, step.source_table)
            what = f"the table {step.source_table}"
        if now != step.fingerprint:
            raise ToolError(
                f"Plan {plan.plan_id} is stale: {what} changed since it was planned; inspect the file "
                "again if it changed, then plan the deploy again."
            )


class _Applier:
    def __init__(self, ctx: ToolContext, store: DeployStore, plan: DeployPlan, approved_by: str) -> None:
        self.ctx, self.store, self.plan, self.approved_by = ctx, store, plan, approved_by
        self.warehouse = ctx.warehouse
        self.retire: list[str] = []  # older kept versions, dropped once every step is in place
        self.notes: list[str] = []  # e.g. why a pipeline's first run failed

    def step(self, step: PlanStep) -> AppliedStep:
        if step.pipeline is not None:
            return self.pipeline(step)
        tenant, warehouse = self.ctx.tenant, self.warehouse
        current = self.store.current(tenant, step.target)
        cleaned = clean_staging(warehouse, step.target)
        if current is not None and current.digest == step.digest and step.target in object_names(warehouse):
            return AppliedStep(
                target=step.target,
                kind=step.kind,
                action="unchanged",
                version=current.version,
                rows=current.row_count,
                cleaned=cleaned,
            )
        staging, rows = _build(self.ctx, warehouse, step)
        version = self.store.next_version(tenant, step.target)
        keep_as = previous_name(step.target, version - 1)
        kept = swap_in(warehouse, staging, step.target, keep_as)
        for statement in step.after_swap:
            warehouse.execute(statement)
        deployment = Deployment(
            target=step.target,
            version=version,
            kind=step.kind,
            action="replace" if kept else "create",
            plan_id=self.plan.plan_id,
            digest=step.digest,
            ddl=step.ddl,
            after_swap=step.after_swap,
            row_count=rows,
            previous_object=keep_as if kept else None,
            previous_version=(current.version if current else 0) if kept else None,
            restored_version=None,
            approved_by=self.approved_by,
            deployed_at=datetime.now(UTC),
        )
        self.store.record_deployment(tenant, deployment)
        # A datamart's catalog record names no dataset: it holds aggregates, not the dataset's rows.
        dataset = step.dataset if step.kind == "table" else None
        self.ctx.catalog.record_table(tenant, step.target, dataset, warehouse.dialect, step.ddl, rows)
        self.ctx.catalog.bump_schema_version(tenant, step.target)
        if current is not None and current.previous_object and current.previous_object != keep_as:
            self.retire.append(current.previous_object)
        return AppliedStep(
            target=step.target,
            kind=step.kind,
            action=deployment.action,
            version=version,
            rows=rows,
            previous_object=deployment.previous_object,
            cleaned=cleaned,
        )

    def pipeline(self, step: PlanStep) -> AppliedStep:
        """Create the pipeline's target, save the pipeline and run it once (see pipelines.apply)."""
        from etl_assistant.pipelines.apply import apply_pipeline

        assert step.pipeline is not None
        report = apply_pipeline(self.ctx, step.pipeline, self.approved_by)
        version = self.store.next_version(self.ctx.tenant, step.target)
        self.store.record_deployment(self.ctx.tenant, Deployment(
            target=step.target, version=version, kind="pipeline", action="create", plan_id=self.plan.plan_id,
            digest=step.digest, ddl=step.ddl, after_swap=[], row_count=report.rows_written,
            previous_object=None, previous_version=None, restored_version=None,
            approved_by=self.approved_by, deployed_at=datetime.now(UTC)))
        if report.error:
            self.notes.append(report.error)
        return AppliedStep(target=step.target, kind="pipeline", action="create", version=version,
                           rows=report.rows_written)

    def retire_old_versions(self) -> list[str]:
        """Keep one previous version per object: drop older ones (datamarts first, they use the tables)."""
        notes = []
        for name in reversed(self.retire):
            try:
                drop_object(self.warehouse, name)
            except WarehouseError as exc:
                notes.append(f"Kept {name}: {exc}")
        return notes


def _result_of(store: DeployStore, tenant: str, plan: DeployPlan) -> ApplyResult:
    done = {d.target: d for d in store.deployments_of_plan(tenant, plan.plan_id)}
    steps = []
    for step in plan.steps:
        d = done.get(step.target)
        steps.append(
            AppliedStep(
                target=step.target,
                kind=step.kind,
                action="unchanged",
                version=d.version if d else None,
                rows=d.row_count if d else None,
            )
        )
    return ApplyResult(plan_id=plan.plan_id, already_applied=True, steps=steps)


def apply_plan(ctx: ToolContext, plan_id: str, approved_by: str | None = None) -> ApplyResult:
    """Apply the stored plan `plan_id` (see the module docstring); `approved_by` defaults to the context's
    approver (the acting user, else the tenant)."""
    store = DeployStore(ctx.catalog)
    stored = store.get_plan(ctx.tenant, plan_id)
    if stored is None:
        raise ToolError(f"Unknown plan {plan_id!r}; make one with plan_deploy first.")
    plan = DeployPlan.model_validate(stored.plan)
    warehouse = ctx.warehouse
    check_dialect(warehouse)
    if redact(warehouse.url) != plan.warehouse:
        raise ToolError(
            f"Plan {plan_id} was made for {plan.warehouse}, not {redact(warehouse.url)}; plan the "
            "deploy again for this warehouse."
        )
    with deploy_locks(ctx.settings, ctx.tenant, [s.target for s in plan.steps]):
        stored = store.get_plan(ctx.tenant, plan_id)
        assert stored is not None
        if stored.status == "applied":
            return _result_of(store, ctx.tenant, plan)
        try:
            _check_fresh(ctx, plan)
        except ToolError:
            store.set_plan_status(ctx.tenant, plan_id, "stale")
            raise
        if stored.status == "stale":
            raise ToolError(f"Plan {plan_id} is stale; plan the deploy again.")
        applier = _Applier(ctx, store, plan, approved_by or ctx.approver)
        steps = []
        for number, step in enumerate(plan.steps, start=1):
            ctx.progress(number - 1, len(plan.steps), f"deploying {step.kind} {step.target}")
            steps.append(applier.step(step))
        notes = applier.notes + applier.retire_old_versions()
        store.set_plan_status(ctx.tenant, plan_id, "applied")
        ctx.progress(len(plan.steps), len(plan.steps), "deployed")
    return ApplyResult(plan_id=plan_id, already_applied=False, steps=steps, notes=notes)
