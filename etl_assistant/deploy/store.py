"""Deploy state in the catalog database: datamart specs, plans (with source fingerprints) and deployments.

The tables live next to the catalog's own (same SQLAlchemy engine, SQLite or PostgreSQL) and are created on
first use, so the catalog contract is untouched. Every write is one transaction.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)

from etl_assistant.datamart.spec import DatamartSpec
from etl_assistant.warehouse.catalog import CatalogTables

metadata = MetaData()

datamarts_table = Table(
    "etla_datamarts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(128), nullable=False),
    Column("name", String(256), nullable=False),
    Column("spec_json", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "name", name="uq_etla_datamarts_tenant_name"),
)

plans_table = Table(
    "etla_deploy_plans",
    metadata,
    Column("plan_id", String(64), primary_key=True),
    Column("tenant", String(128), nullable=False),
    Column("dialect", String(32), nullable=False),
    Column("warehouse", Text, nullable=False),
    Column("plan_json", Text, nullable=False),
    Column("status", String(16), nullable=False),  # planned, applied, stale
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("applied_at", DateTime(timezone=True)),
)

deployments_table = Table(
    "etla_deployments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(128), nullable=False),
    Column("target", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # table or datamart
    Column("action", String(16), nullable=False),  # create, replace, rollback
    Column("plan_id", String(64)),
    Column("digest", String(64), nullable=False),
    Column("ddl", Text, nullable=False),
    Column("after_swap_json", Text, nullable=False),  # statements re-run when this version is put in place
    Column("row_count", BigInteger, nullable=False),
    Column("previous_object", String(256)),  # where the replaced version is kept (rollback)
    Column("previous_version", Integer),  # the version previous_object holds
    Column("restored_version", Integer),  # rollbacks: the version put back in place
    Column("approved_by", String(256)),
    Column("deployed_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "target", "version", name="uq_etla_deployments_version"),
)


class Deployment(BaseModel):
    """One version of a deployed object, as recorded after its swap."""

    target: str
    version: int
    kind: str
    action: str
    plan_id: str | None
    digest: str
    ddl: str
    after_swap: list[str]
    row_count: int
    previous_object: str | None
    previous_version: int | None
    restored_version: int | None
    approved_by: str | None
    deployed_at: datetime


class StoredPlan(BaseModel):
    plan_id: str
    tenant: str
    dialect: str
    warehouse: str
    status: str
    plan: dict[str, Any]
    created_at: datetime
    applied_at: datetime | None


def _now() -> datetime:
    return datetime.now(UTC)


class DeployStore(CatalogTables):
    """Datamart specs, deploy plans and the deployment history of each tenant's objects."""

    metadata = metadata


    # --- datamarts ------------------------------------------------------------------------------------------

    def save_datamart(self, tenant: str, spec: DatamartSpec) -> None:
        d = datamarts_table.c
        with self._transaction() as conn:
            found = conn.execute(select(d.id).where(d.tenant == tenant, d.name == spec.name)).scalar()
            values = {"spec_json": spec.model_dump_json(), "updated_at": _now()}
            if found is None:
                conn.execute(insert(datamarts_table).values(tenant=tenant, name=spec.name, **values))
            else:
                conn.execute(update(datamarts_table).where(d.id == found).values(**values))

    def get_datamart(self, tenant: str, name: str) -> DatamartSpec | None:
        d = datamarts_table.c
        with self._transaction() as conn:
            text = conn.execute(select(d.spec_json).where(d.tenant == tenant, d.name == name)).scalar()
        return DatamartSpec.model_validate_json(text) if text else None

    def list_datamarts(self, tenant: str) -> list[DatamartSpec]:
        d = datamarts_table.c
        with self._transaction() as conn:
            texts = conn.execute(select(d.spec_json).where(d.tenant == tenant).order_by(d.name)).scalars()
            return [DatamartSpec.model_validate_json(t) for t in texts]

    # --- plans ----------------------------------------------------------------------------------------------

    def save_plan(
        self, tenant: str, plan_id: str, dialect: str, warehouse: str, plan: dict[str, Any]
    ) -> None:
        with self._transaction() as conn:
            conn.execute(
                insert(plans_table).values(
                    plan_id=plan_id,
                    tenant=tenant,
                    dialect=dialect,
                    warehouse=warehouse,
                    plan_json=json.dumps(plan),
                    status="planned",
                    created_at=_now(),
                )
            )

    def get_plan(self, tenant: str, plan_id: str) -> StoredPlan | None:
        p = plans_table.c
        with self._transaction() as conn:
            row = conn.execute(select(plans_table).where(p.tenant == tenant, p.plan_id == plan_id)).first()
        if row is None:
            return None
        return StoredPlan(
            plan_id=row.plan_id,
            tenant=row.tenant,
            dialect=row.dialect,
            warehouse=row.warehouse,
            status=row.status,
            plan=json.loads(row.plan_json),
            created_at=row.created_at,
            applied_at=row.applied_at,
        )

    def set_plan_status(self, tenant: str, plan_id: str, status: str) -> None:
        p = plans_table.c
        values: dict[str, Any] = {"status": status}
        if status == "applied":
            values["applied_at"] = _now()
        with self._transaction() as conn:
            conn.execute(update(plans_table).where(p.tenant == tenant, p.plan_id == plan_id).values(**values))

    # --- deployments ----------------------------------------------------------------------------------------

    def record_deployment(self, tenant: str, deployment: Deployment) -> None:
        """Store one version; the unique (tenant, target, version) key refuses a second writer."""
        values = deployment.model_dump(exclude={"after_swap"})
        with self._transaction() as conn:
            conn.execute(
                insert(deployments_table).values(
                    tenant=tenant, after_swap_json=json.dumps(deployment.after_swap), **values
                )
            )

    def next_version(self, tenant: str, target: str) -> int:
        t = deployments_table.c
        with self._transaction() as conn:
            current = conn.execute(
                select(func.max(t.version)).where(t.tenant == tenant, t.target == target)
            ).scalar()
        return (current or 0) + 1

    def history(self, tenant: str, target: str) -> list[Deployment]:
        """Every version of `target`, newest first."""
        t = deployments_table.c
        with self._transaction() as conn:
            rows = conn.execute(
                select(deployments_table)
                .where(t.tenant == tenant, t.target == target)
                .order_by(t.version.desc())
            ).all()
        return [
            Deployment(
                target=r.target,
                version=r.version,
                kind=r.kind,
                action=r.action,
                plan_id=r.plan_id,
                digest=r.digest,
                ddl=r.ddl,
                after_swap=json.loads(r.after_swap_json),
                row_count=r.row_count,
                previous_object=r.previous_object,
                previous_version=r.previous_version,
                restored_version=r.restored_version,
                approved_by=r.approved_by,
                deployed_at=r.deployed_at,
            )
            for r in rows
        ]

    def current(self, tenant: str, target: str) -> Deployment | None:
        history = self.history(tenant, target)
        return history[0] if history else None

    def deployments_of_plan(self, tenant: str, plan_id: str) -> list[Deployment]:
        t = deployments_table.c
        with self._transaction() as conn:
            targets = conn.execute(
                select(t.target, t.version).where(t.tenant == tenant, t.plan_id == plan_id).order_by(t.id)
            ).all()
        return [
            d for target, version in targets for d in self.history(tenant, target) if d.version == version
        ]
