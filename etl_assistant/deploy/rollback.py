"""Rollback and history: put the kept previous version of an object back in place, list its versions.

A rollback is itself a deployment (a new version whose content is the restored one), so history never loses
a step and rolling back twice returns to where it started.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from etl_assistant.deploy.locks import deploy_locks
from etl_assistant.deploy.store import Deployment, DeployStore
from etl_assistant.deploy.swap import check_dialect, swap_back
from etl_assistant.errors import ToolError

if TYPE_CHECKING:  # tools.base loads the tool registry, whose tools import this room
    from etl_assistant.tools.base import ToolContext

# The version restored was built before deploys recorded it (e.g. by load_table).
UNKNOWN_DDL = "-- built outside deploy: its DDL was not recorded"


def history(ctx: ToolContext, target: str) -> list[Deployment]:
    deployments = DeployStore(ctx.catalog).history(ctx.tenant, target)
    if not deployments:
        raise ToolError(
            f"{target} has never been deployed; deployments are listed per deployed table or datamart name."
        )
    return deployments


def rollback(ctx: ToolContext, target: str, approved_by: str | None = None) -> Deployment:
    """Swap the kept previous version of `target` back in and record that as a new version."""
    store = DeployStore(ctx.catalog)
    warehouse = ctx.warehouse
    check_dialect(warehouse)
    with deploy_locks(ctx.settings, ctx.tenant, [target]):
        versions = history(ctx, target)
        current = versions[0]
        if not current.previous_object or current.previous_version is None:
            raise ToolError(
                f"{target} version {current.version} replaced nothing, so there is no previous "
                "version to roll back to."
            )
        restored = next((d for d in versions if d.version == current.previous_version), None)
        swap_back(warehouse, current.previous_object, target)
        after = restored.after_swap if restored else []
        for statement in after:
            warehouse.execute(statement)
        rows = warehouse.count_rows(target)
        deployment = Deployment(
            target=target,
            version=current.version + 1,
            kind=current.kind,
            action="rollback",
            plan_id=None,
            digest=restored.digest if restored else "",
            ddl=restored.ddl if restored else UNKNOWN_DDL,
            after_swap=after,
            row_count=rows,
            previous_object=current.previous_object,
            previous_version=current.version,
            restored_version=current.previous_version,
            approved_by=approved_by or ctx.approver,
            deployed_at=datetime.now(UTC),
        )
        store.record_deployment(ctx.tenant, deployment)
        record = ctx.catalog.get_table(ctx.tenant, target)
        ctx.catalog.record_table(
            ctx.tenant, target, record.dataset if record else None, warehouse.dialect, deployment.ddl, rows
        )
        ctx.catalog.bump_schema_version(ctx.tenant, target)
    return deployment
