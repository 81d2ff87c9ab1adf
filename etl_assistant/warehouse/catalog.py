"""The catalog: what datasets, warehouse tables and relationships each tenant has, with schema versions.

SQLite by default, PostgreSQL by URL (SQLAlchemy Core, psycopg 3). Tables are created on first use and every
write happens in one transaction. Versions only move when something a consumer depends on changed, so the
semantic cache can compare `schema_version()` to decide whether a stored SQL is still valid.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from etl_assistant.errors import WarehouseError
from etl_assistant.schema.model import DatasetSchema, Relationship

P = ParamSpec("P")
R = TypeVar("R")

metadata = MetaData()

datasets_table = Table(
    "etla_datasets", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(128), nullable=False),
    Column("name", String(256), nullable=False),
    Column("source", Text, nullable=False),
    Column("format", String(32), nullable=False),
    Column("schema_json", Text, nullable=False),
    Column("shape_digest", String(64), nullable=False),
    Column("fingerprint", String(128)),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "name", name="uq_etla_datasets_tenant_name"),
)

tables_table = Table(
    "etla_tables", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(128), nullable=False),
    Column("table_name", String(256), nullable=False),
    Column("dataset", String(256)),
    Column("dialect", String(32), nullable=False),
    Column("ddl", Text, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "table_name", name="uq_etla_tables_tenant_table"),
)

relationships_table = Table(
    "etla_relationships", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(128), nullable=False),
    Column("dataset", String(256), nullable=False),
    Column("column_name", String(256), nullable=False),
    Column("ref_dataset", String(256), nullable=False),
    Column("ref_column", String(256), nullable=False),
    Column("containment", Float, nullable=False),
    Column("name_similarity", Float, nullable=False),
    Column("confidence", Float, nullable=False),
)

schema_versions_table = Table(
    "etla_schema_versions", metadata,
    Column("tenant", String(128), primary_key=True),
    Column("object_name", String(256), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class TableRecord:
    """A warehouse table we created, with the DDL that made it and the rows loaded last."""

    tenant: str
    table: str
    dataset: str | None
    dialect: str
    ddl: str
    row_count: int
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class RelationshipRecord:
    """A foreign-key candidate between two datasets of one tenant."""

    dataset: str
    relationship: Relationship


def _now() -> datetime:
    return datetime.now(UTC)


def shape_digest(schema: DatasetSchema) -> str:
    """Hash of what DDL and queries depend on (format, dialect, columns); row statistics are left out."""
    shape = {
        "format": schema.format,
        "compression": schema.compression,
        "dialect": schema.dialect.model_dump() if schema.dialect else None,
        "columns": [
            {"name": c.name, "identifier": c.identifier, "type": c.type, "nullable": c.nullable,
             "details": c.details.model_dump(exclude={"max_length"})}
            for c in schema.columns
        ],
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


def sqlalchemy_url(url: str) -> str:
    """Map our catalog URLs to SQLAlchemy ones: PostgreSQL always through the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def describe_url(url: str) -> str:
    """The URL without its password, for error sentences."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


@lru_cache(maxsize=16)
def _engine(url: str) -> Engine:
    """One pooled engine per catalog URL, tables created on first use."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise WarehouseError(
            f"The catalog URL {url!r} is not valid; set ETLA_CATALOG_URL to sqlite:///path or postgresql://..."
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    try:
        metadata.create_all(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise WarehouseError(
            f"Cannot open the catalog at {describe_url(url)}: {_first_line(exc)}; check ETLA_CATALOG_URL."
        ) from exc
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI connection
    """WAL, a busy timeout, and transactions begun by us (see `_sqlite_begin_immediate`), not by pysqlite."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    """Take the write lock up front: two deferred transactions upgrading to write at once fail at once
    with 'database is locked' instead of waiting their turn."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


_WATCHERS: dict[str, tuple[sqlite3.Connection, threading.Lock, int]] = {}
_WATCHERS_LOCK = threading.Lock()
_WATCHERS_OPENED = itertools.count(1)
WATCHERS_KEPT = 16  # catalog files watched at once (as many as `_engine` keeps engines); the oldest closes


def _sqlite_data_version(path: str) -> int | None:
    """SQLite's `PRAGMA data_version` on a connection of our own that never writes, so that it changes on
    every commit by anyone: this process's pool or another process (`serve --workers`). None: unreadable.
    The count is per connection, so the watcher's own number goes with it (a reopened watcher counts anew)."""
    with _WATCHERS_LOCK:
        watcher = _WATCHERS.get(path)
        if watcher is None:
            try:
                connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            except sqlite3.Error:
                return None
            while len(_WATCHERS) >= WATCHERS_KEPT:
                oldest, (old, old_lock, _) = next(iter(_WATCHERS.items()))
                del _WATCHERS[oldest]
                with old_lock:
                    old.close()
            watcher = _WATCHERS[path] = (connection, threading.Lock(), next(_WATCHERS_OPENED))
    connection, lock, opened = watcher
    try:
        with lock:
            return opened << 40 | int(connection.execute("PRAGMA data_version").fetchone()[0])
    except sqlite3.Error:
        return None


def _retry_on_conflict(method: Callable[P, R]) -> Callable[P, R]:
    """Run a write once more when a concurrent writer inserted the same key first (it is then an update)."""
    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except WarehouseError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            return method(*args, **kwargs)
    return wrapper


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Catalog:
    """Per-tenant registry of datasets, warehouse tables, relationships and schema versions."""

    def __init__(self, url: str) -> None:
        self.url = sqlalchemy_url(url)
        self.engine = _engine(self.url)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise WarehouseError(
                f"The catalog at {describe_url(self.url)} failed: {_first_line(exc)}; "
                "check that it is reachable and writable."
            ) from exc

    def data_version(self) -> int | None:
        """A number that changes whenever anything is committed to the catalog (by this process or another),
        for caches of what is read from it; None when the backend cannot say (PostgreSQL, in memory): then
        read it again each time."""
        parsed = self.engine.url
        if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
            return None
        return _sqlite_data_version(parsed.database)

    # --- datasets -------------------------------------------------------------------------------------------

    @_retry_on_conflict
    def save_dataset(self, tenant: str, schema: DatasetSchema) -> int:
        """Store or update a dataset and its relationships; returns its version (bumped on a shape change)."""
        digest = shape_digest(schema)
        now = _now()
        values = {"source": schema.source, "format": schema.format, "schema_json": schema.model_dump_json(),
                  "shape_digest": digest, "fingerprint": schema.fingerprint, "updated_at": now}
        with self._transaction() as conn:
            row = conn.execute(
                select(datasets_table.c.id, datasets_table.c.version, datasets_table.c.shape_digest)
                .where(datasets_table.c.tenant == tenant, datasets_table.c.name == schema.name)
                .with_for_update()  # concurrent savers of one dataset take turns (SQLite: BEGIN IMMEDIATE)
            ).first()
            if row is None:
                version = 1
                conn.execute(insert(datasets_table).values(tenant=tenant, name=schema.name, version=version,
                                                           created_at=now, **values))
            else:
                version = row.version + (row.shape_digest != digest)
                conn.execute(update(datasets_table).where(datasets_table.c.id == row.id)
                             .values(version=version, **values))
            if row is None or row.shape_digest != digest:
                self._bump(conn, tenant, schema.name)
            self._replace_relationships(conn, tenant, schema)
        return version

    def get_dataset(self, tenant: str, name: str) -> DatasetSchema | None:
        with self._transaction() as conn:
            text = conn.execute(
                select(datasets_table.c.schema_json)
                .where(datasets_table.c.tenant == tenant, datasets_table.c.name == name)
            ).scalar()
        return DatasetSchema.model_validate_json(text) if text is not None else None

    def list_datasets(self, tenant: str) -> list[DatasetSchema]:
        with self._transaction() as conn:
            texts = conn.execute(
                select(datasets_table.c.schema_json)
                .where(datasets_table.c.tenant == tenant).order_by(datasets_table.c.name)
            ).scalars().all()
        return [DatasetSchema.model_validate_json(text) for text in texts]

    def last_saved_dataset(self, tenant: str) -> str | None:
        """The name of the dataset saved most recently (None when there is none)."""
        with self._transaction() as conn:
            return conn.execute(
                select(datasets_table.c.name).where(datasets_table.c.tenant == tenant)
                .order_by(datasets_table.c.updated_at.desc(), datasets_table.c.id.desc()).limit(1)
            ).scalar()

    def dataset_version(self, tenant: str, name: str) -> int:
        """The dataset's own version (0 when unknown)."""
        with self._transaction() as conn:
            version = conn.execute(
                select(datasets_table.c.version)
                .where(datasets_table.c.tenant == tenant, datasets_table.c.name == name)
            ).scalar()
        return version or 0

    @_retry_on_conflict
    def delete_dataset(self, tenant: str, name: str) -> bool:
        """Forget a dataset and its outgoing relationships; returns whether it existed."""
        with self._transaction() as conn:
            deleted = conn.execute(
                delete(datasets_table).where(datasets_table.c.tenant == tenant, datasets_table.c.name == name)
            ).rowcount
            conn.execute(delete(relationships_table).where(relationships_table.c.tenant == tenant,
                                                           relationships_table.c.dataset == name))
            if deleted:
                self._bump(conn, tenant, name)
        return bool(deleted)

    def _replace_relationships(self, conn: Connection, tenant: str, schema: DatasetSchema) -> None:
        conn.execute(delete(relationships_table).where(relationships_table.c.tenant == tenant,
                                                       relationships_table.c.dataset == schema.name))
        if schema.relationships:
            conn.execute(insert(relationships_table), [
                {"tenant": tenant, "dataset": schema.name, "column_name": rel.column,
                 "ref_dataset": rel.ref_dataset, "ref_column": rel.ref_column, "containment": rel.containment,
                 "name_similarity": rel.name_similarity, "confidence": rel.confidence}
                for rel in schema.relationships
            ])

    def list_relationships(self, tenant: str, dataset: str | None = None) -> list[RelationshipRecord]:
        """Foreign-key candidates of a tenant, those touching `dataset` (either side) when given."""
        rel = relationships_table.c
        stmt = select(relationships_table).where(rel.tenant == tenant).order_by(rel.dataset, rel.column_name)
        if dataset is not None:
            stmt = stmt.where((rel.dataset == dataset) | (rel.ref_dataset == dataset))
        with self._transaction() as conn:
            rows = conn.execute(stmt).all()
        return [RelationshipRecord(row.dataset, Relationship(
            column=row.column_name, ref_dataset=row.ref_dataset, ref_column=row.ref_column,
            containment=row.containment, name_similarity=row.name_similarity, confidence=row.confidence))
            for row in rows]

    # --- warehouse tables ----------------------------------------------------------------------------------

    @_retry_on_conflict
    def record_table(self, tenant: str, table: str, dataset: str | None, dialect: str, ddl: str,
                     row_count: int) -> int:
        """Record a created/loaded table; its version (and schema version) moves only when the DDL changed."""
        now = _now()
        t = tables_table.c
        with self._transaction() as conn:
            row = conn.execute(select(t.id, t.version, t.ddl, t.dialect)
                               .where(t.tenant == tenant, t.table_name == table).with_for_update()).first()
            values = {"dataset": dataset, "dialect": dialect, "ddl": ddl, "row_count": row_count,
                      "updated_at": now}
            if row is None:
                version = 1
                conn.execute(insert(tables_table).values(tenant=tenant, table_name=table, version=version,
                                                         created_at=now, **values))
            else:
                changed = row.ddl != ddl or row.dialect != dialect
                version = row.version + changed
                conn.execute(update(tables_table).where(t.id == row.id).values(version=version, **values))
            if row is None or row.ddl != ddl or row.dialect != dialect:
                self._bump(conn, tenant, table)
        return version

    def get_table(self, tenant: str, table: str) -> TableRecord | None:
        t = tables_table.c
        with self._transaction() as conn:
            row = conn.execute(select(tables_table).where(t.tenant == tenant, t.table_name == table)).first()
        return _table_record(row) if row is not None else None

    def list_tables(self, tenant: str) -> list[TableRecord]:
        t = tables_table.c
        with self._transaction() as conn:
            rows = conn.execute(select(tables_table).where(t.tenant == tenant).order_by(t.table_name)).all()
        return [_table_record(row) for row in rows]

    @_retry_on_conflict
    def delete_table(self, tenant: str, table: str) -> bool:
        """Forget a table record (after a drop); returns whether it existed."""
        t = tables_table.c
        with self._transaction() as conn:
            stmt = delete(tables_table).where(t.tenant == tenant, t.table_name == table)
            deleted = conn.execute(stmt).rowcount
            if deleted:
                self._bump(conn, tenant, table)
        return bool(deleted)

    # --- schema versions -----------------------------------------------------------------------------------

    def schema_version(self, tenant: str, name: str) -> int:
        """Version of a named object (dataset, table, datamart); 0 when never seen. Any change bumps it."""
        v = schema_versions_table.c
        with self._transaction() as conn:
            stmt = select(v.version).where(v.tenant == tenant, v.object_name == name)
            version = conn.execute(stmt).scalar()
        return version or 0

    @_retry_on_conflict
    def bump_schema_version(self, tenant: str, name: str) -> int:
        """Mark an object as changed (deploys call this); returns the new version."""
        with self._transaction() as conn:
            return self._bump(conn, tenant, name)

    def _bump(self, conn: Connection, tenant: str, name: str) -> int:
        """Increment in the database (no read-then-write, so concurrent bumps are never lost)."""
        v = schema_versions_table.c
        bumped = conn.execute(
            update(schema_versions_table).where(v.tenant == tenant, v.object_name == name)
            .values(version=v.version + 1, updated_at=_now()).returning(v.version)
        ).scalar()
        if bumped is not None:
            return bumped
        conn.execute(insert(schema_versions_table).values(tenant=tenant, object_name=name, version=1,
                                                          updated_at=_now()))
        return 1


def _table_record(row) -> TableRecord:  # noqa: ANN001 - SQLAlchemy Row
    return TableRecord(tenant=row.tenant, table=row.table_name, dataset=row.dataset, dialect=row.dialect,
                       ddl=row.ddl, row_count=row.row_count, version=row.version, updated_at=row.updated_at)


class CatalogTables:
    """Base of a store that keeps its own tables in the catalog database (keys, connections, pipelines,
    deploys, held approvals, discovery): created once per engine; a failed transaction is one sentence."""

    metadata: MetaData  # the store's tables, set by each subclass
    _created: set[tuple[int, int]] = set()  # (engine, metadata) pairs whose tables exist

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.engine = catalog.engine
        key = (id(self.engine), id(self.metadata))
        if key not in CatalogTables._created:
            with self._transaction() as conn:
                self.metadata.create_all(conn, checkfirst=True)
            CatalogTables._created.add(key)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            where = describe_url(self.catalog.url)
            raise WarehouseError(f"The catalog at {where} failed: {_first_line(exc)}; "
                                 "check that it is reachable and writable.") from exc
