"""The warehouse's own tables: what was there before the assistant (or was made by others) becomes askable.

`refresh` lists the warehouse's tables and views (the schemas on its search path, or those of
`ETLA_DISCOVER_SCHEMAS`, `*` for all), and registers each one the assistant
did not create exactly as a loaded table is registered: a dataset (declared types, keys, foreign keys as
relationships, statistics from a bounded sample) plus a table record, so `ask`, `run_query` and the guard
see it. Tables in the default schema keep their bare name, others are `schema.table`. Only new or changed
tables (a different shape: columns, types, keys) are profiled again; tables that disappeared are forgotten.
The first question of a tenant that never refreshed runs it once (lazily), later changes need `refresh`.

Tables any tenant loaded or deployed stay theirs (never discovered for another tenant), and so do the
assistant's own objects: staging and previous versions of deploys, the catalog and conversation tables when
the catalog shares the warehouse's database. Another tenant's namespace (its `etla_<tenant>` database or
schema, see warehouse.namespaces) is never listed nor discovered, even with `ETLA_DISCOVER_SCHEMAS=*`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    delete,
    exists,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlglot import exp

from etl_assistant.errors import EtlError
from etl_assistant.pipelines.connections import Connection, warehouse_connection
from etl_assistant.pipelines.introspect import (
    TableRef,
    TableShape,
    default_schema,
    describe_table,
    list_tables,
    search_path,
    sql_dialect,
    table_shapes,
)
from etl_assistant.schema.naming import to_identifier
from etl_assistant.warehouse.catalog import (
    CatalogTables,
    datasets_table,
    sqlalchemy_url,
    tables_table,
)
from etl_assistant.warehouse.namespaces import NAMESPACE_PREFIX
from etl_assistant.warehouse.statements import render

if TYPE_CHECKING:
    from etl_assistant.tools.base import ToolContext

log = logging.getLogger(__name__)
# The assistant's own objects: deploy staging tables and kept previous versions, a datamart's materialized
# view (`<mart>__mv`) and a keyed pipeline target's versions table (`<target>__versions`, read via its view).
_INTERNAL = re.compile(r"__(staging|prev)_|__(mv|versions)$")
# The catalog's and the conversations' (LangGraph's PostgreSQL checkpointer) tables.
_CATALOG_TABLES = re.compile(r"^(etla_.*|checkpoints|checkpoint_(blobs|writes|migrations))$")

metadata = MetaData()

discovered_table = Table(
    "etla_discovered_tables", metadata,
    Column("tenant", String(128), primary_key=True),
    Column("table_name", String(256), primary_key=True),
    Column("shape_digest", String(64), nullable=False),
    Column("profiled", Boolean, nullable=False),  # False: registered from the declared structure only
    Column("discovered_at", DateTime(timezone=True), nullable=False),
)
refreshes_table = Table(
    "etla_discovery_refreshes", metadata,
    Column("tenant", String(128), primary_key=True),
    Column("refreshed_at", DateTime(timezone=True), nullable=False),
)

_refreshed: set[tuple[str, str, str]] = set()  # (catalog, tenant, warehouse) known to have refreshed once
_refreshed_lock = threading.Lock()


class RefreshReport(BaseModel):
    """What a refresh changed in the catalog."""

    added: list[str] = Field(default_factory=list, description="Tables and views registered now.")
    changed: list[str] = Field(default_factory=list, description="Tables whose columns or keys changed.")
    removed: list[str] = Field(default_factory=list, description="Tables gone from the warehouse, forgotten.")
    unchanged: int = 0
    skipped: list[str] = Field(default_factory=list, description="Tables left out, each with the reason.")
    unprofiled: list[str] = Field(
        default_factory=list,
        description="Registered from their declared structure only (the time budget ran out); the next "
        "refresh profiles them.")
    profiled: list[str] = Field(default_factory=list,
                                description="Registered earlier unprofiled, now profiled.")


class DiscoveryStore(CatalogTables):
    """Which catalog tables a tenant has from discovery (with their shape), in the catalog database."""

    metadata = metadata

    def discovered(self, tenant: str) -> dict[str, tuple[str, bool]]:
        """Table -> (shape digest, whether it was profiled)."""
        d = discovered_table.c
        with self._transaction() as conn:
            query = select(d.table_name, d.shape_digest, d.profiled).where(d.tenant == tenant)
            rows = conn.execute(query).all()
        return {row.table_name: (row.shape_digest, row.profiled) for row in rows}

    def created_by_the_assistant(self) -> set[str]:
        """Names some tenant owns: tables it loaded or deployed (recorded, not discovered) and datasets it
        registered from files (their tables carry their names). Nobody else's to discover."""
        t, d, s = tables_table.c, discovered_table.c, datasets_table.c
        found = exists().where(d.tenant == t.tenant, d.table_name == t.table_name)
        with self._transaction() as conn:
            recorded = set(conn.execute(select(t.table_name).where(~found).distinct()).scalars())
            from_files = select(s.name).where(~s.source.startswith("table:"),
                                              ~s.source.startswith("connection:"))
            files = set(conn.execute(from_files.distinct()).scalars())
        return recorded | files

    def remember(self, tenant: str, table: str, digest: str, profiled: bool) -> None:
        d = discovered_table.c
        values = {"shape_digest": digest, "profiled": profiled, "discovered_at": datetime.now(UTC)}
        with self._transaction() as conn:
            updated = conn.execute(update(discovered_table).where(d.tenant == tenant, d.table_name == table)
                                   .values(**values)).rowcount
            if not updated:
                conn.execute(insert(discovered_table).values(tenant=tenant, table_name=table, **values))

    def forget(self, tenant: str, table: str) -> None:
        d = discovered_table.c
        with self._transaction() as conn:
            conn.execute(delete(discovered_table).where(d.tenant == tenant, d.table_name == table))

    def refreshed_at(self, tenant: str) -> datetime | None:
        r = refreshes_table.c
        with self._transaction() as conn:
            return conn.execute(select(r.refreshed_at).where(r.tenant == tenant)).scalar()

    def mark_refreshed(self, tenant: str) -> None:
        r = refreshes_table.c
        now = datetime.now(UTC)
        with self._transaction() as conn:
            if not conn.execute(update(refreshes_table).where(r.tenant == tenant)
                                .values(refreshed_at=now)).rowcount:
                conn.execute(insert(refreshes_table).values(tenant=tenant, refreshed_at=now))


def shape_digest(shape: TableShape) -> str:
    """Hash of what queries depend on: columns and types, keys, foreign keys, and table or view."""
    payload = {"kind": shape.table.kind, "columns": [asdict(c) for c in shape.columns],
               "primary_key": shape.primary_key, "unique": shape.unique,
               "foreign_keys": [asdict(fk) for fk in shape.foreign_keys]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=list).encode()).hexdigest()


def table_ddl(shape: TableShape, name: str, dialect: str) -> str:
    """The table as a CREATE TABLE statement (what the catalog records as its DDL); types as declared."""
    columns: list[exp.Expression] = []
    for column in shape.columns:
        kind = exp.DataType.build(column.type or "TEXT", dialect=dialect, udt=True)
        constraints = [] if column.nullable else [exp.ColumnConstraint(kind=exp.NotNullColumnConstraint())]
        columns.append(exp.ColumnDef(this=exp.to_identifier(column.name, quoted=True), kind=kind,
                                     constraints=constraints))
    if shape.primary_key:
        key = [exp.to_identifier(c, quoted=True) for c in shape.primary_key]
        columns.append(exp.PrimaryKey(expressions=key))
    target = exp.to_table(name, quoted=True)
    return render(exp.Create(this=exp.Schema(this=target, expressions=columns), kind="TABLE"), dialect)


def _registered_name(ref: TableRef, default: str | None) -> str:
    return ref.name if ref.schema in (None, default) else ref.qualified


def _same_database(a: str, b: str) -> bool:
    try:
        left, right = make_url(sqlalchemy_url(a)), make_url(sqlalchemy_url(b))
    except ArgumentError:
        return False
    return (left.get_backend_name(), left.host, left.port, left.database) == (
        right.get_backend_name(), right.host, right.port, right.database)


def _another_tenants(schema: str | None, default: str | None) -> bool:
    """Whether `schema` is some other tenant's namespace: a tenant's connection resolves names in its own
    (its default schema), the configured warehouse in none of them."""
    return schema is not None and schema != default and schema.startswith(NAMESPACE_PREFIX)


def _visible_tables(connection: Connection, default: str | None, schema: str | None = None) -> list[TableRef]:
    """The connection's tables (of `schema`, else of all schemas) outside other tenants' namespaces."""
    return [ref for ref in list_tables(connection, schema) if not _another_tenants(ref.schema, default)]


def _candidates(ctx: ToolContext, connection: Connection) -> tuple[list[TableRef], str | None]:
    """The tables of the schemas to discover (ETLA_DISCOVER_SCHEMAS, else the search path; `*`: all)."""
    default = default_schema(connection)
    wanted = ctx.settings.discover_schemas
    schemas = None if "*" in wanted else (wanted or search_path(connection))
    listed = _visible_tables(connection, default) if schemas is None else [
        ref for schema in dict.fromkeys(schemas) for ref in _visible_tables(connection, default, schema)]
    shared_catalog = _same_database(connection.url, ctx.catalog.url)
    refs = [ref for ref in listed
            if not _INTERNAL.search(ref.name) and not (shared_catalog and _CATALOG_TABLES.match(ref.name))]
    return refs, default


def refresh(ctx: ToolContext) -> RefreshReport:
    """Register the warehouse's tables the assistant did not create, re-profile the changed ones and forget
    the vanished ones, for this tenant."""
    report = RefreshReport()
    if not ctx.settings.discover_warehouse:
        report.skipped.append("discovery is off (ETLA_DISCOVER_WAREHOUSE=false)")
        return report
    connection = warehouse_connection(ctx)
    store = DiscoveryStore(ctx.catalog)
    refs, default = _candidates(ctx, connection)
    ours = store.created_by_the_assistant()
    known = store.discovered(ctx.tenant)
    names = {ref.qualified: _registered_name(ref, default) for ref in refs}
    datasets = {ref.qualified: to_identifier(name, fallback="dataset") for ref, name in
                ((r, names[r.qualified]) for r in refs)}
    # Loaded or deployed by a tenant: registered (or private) already.
    candidates = [ref for ref in refs if names[ref.qualified] not in ours or names[ref.qualified] in known]
    shapes = table_shapes(connection, candidates)  # one reflection pass, not one per table
    deadline = time.monotonic() + ctx.settings.discover_budget_s  # profiling stops here; structure does not
    seen: set[str] = set()
    for ref in candidates:
        name = names[ref.qualified]
        seen.add(name)
        try:
            _register(ctx, connection, store, shapes[ref], name, datasets, known, report,
                      profile=time.monotonic() < deadline)
        except EtlError as exc:
            report.skipped.append(f"{name}: {exc}")
    for name in sorted(set(known) - seen):
        record = ctx.catalog.get_table(ctx.tenant, name)
        ctx.catalog.delete_table(ctx.tenant, name)
        ctx.catalog.delete_dataset(ctx.tenant, record.dataset if record and record.dataset else name)
        store.forget(ctx.tenant, name)
        report.removed.append(name)
    store.mark_refreshed(ctx.tenant)
    return report


def _register(ctx: ToolContext, connection: Connection, store: DiscoveryStore, shape: TableShape, name: str,
              datasets: dict[str, str], known: dict[str, tuple[str, bool]], report: RefreshReport, *,
              profile: bool) -> None:
    ref = shape.table
    digest = shape_digest(shape)
    before, was_profiled = known.get(name, (None, False))
    if before == digest and (was_profiled or not profile):
        report.unchanged += 1
        return
    dataset_name = datasets[ref.qualified]
    existing = ctx.catalog.get_dataset(ctx.tenant, dataset_name)
    if existing is not None and name not in known and existing.source != f"table:{name}":
        report.skipped.append(f"{name}: the dataset name {dataset_name!r} is taken by {existing.source}")
        return
    schema = describe_table(connection, ref, name=dataset_name,
                            sample_limit=ctx.settings.sample_rows if profile else 0,
                            timeout_s=ctx.settings.query_timeout_s, dataset_names=datasets, shape=shape)
    schema.source = f"table:{name}"
    ctx.catalog.save_dataset(ctx.tenant, schema)
    ctx.catalog.record_table(ctx.tenant, name, dataset_name, sql_dialect(connection),
                             table_ddl(shape, name, sql_dialect(connection)), schema.row_count)
    store.remember(ctx.tenant, name, digest, profile)
    if name not in known:
        report.added.append(name)
    elif before != digest:
        report.changed.append(name)
    else:
        report.profiled.append(name)
    if not profile:
        report.unprofiled.append(name)


def warehouse_tables(ctx: ToolContext, schema: str | None = None) -> list[TableRef]:
    """The warehouse's tables this tenant may know of: its own, plus (with discovery on) all but those
    another tenant owns or keeps in its namespace."""
    connection = warehouse_connection(ctx)
    default = default_schema(connection)
    mine = ({t.table for t in ctx.catalog.list_tables(ctx.tenant)}
            | {d.name for d in ctx.catalog.list_datasets(ctx.tenant)})
    others = DiscoveryStore(ctx.catalog).created_by_the_assistant() - mine
    return [ref for ref in _visible_tables(connection, default, schema)
            if (name := _registered_name(ref, default)) in mine
            or (ctx.settings.discover_warehouse and name not in others)]


def ensure_discovered(ctx: ToolContext) -> None:
    """Refresh once for a tenant that never did (its first question sees the warehouse's own tables)."""
    if not ctx.settings.discover_warehouse:
        return
    key = (ctx.catalog.url, ctx.tenant, ctx.warehouse.url)
    with _refreshed_lock:
        if key in _refreshed:
            return
    try:
        if DiscoveryStore(ctx.catalog).refreshed_at(ctx.tenant) is None:
            refresh(ctx)
    except EtlError as exc:  # the caller's own query reports an unreachable warehouse in its words
        log.warning("warehouse discovery skipped: %s", exc)
        return
    with _refreshed_lock:
        _refreshed.add(key)
