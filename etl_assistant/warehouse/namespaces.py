"""Each tenant's own corner of the warehouse: a ClickHouse database or a PostgreSQL schema per tenant.

The tenant named by `ETLA_TENANT` (local mode's `default`) uses the warehouse URL exactly as configured;
every other tenant gets `etla_<tenant>`, created on first use: `chdb:///dir?database=etla_acme`, the
ClickHouse server URL's database, the PostgreSQL search path (`options=-csearch_path=etla_acme`), or a
SQLite file of its own beside the configured one. Unqualified table names then resolve inside it, so one
tenant's tables are not even visible to another's introspection.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import urlsplit, urlunsplit

from etl_assistant.warehouse import Warehouse, connect
from etl_assistant.warehouse.statements import create_namespace

NAMESPACE_PREFIX = "etla_"


def namespace(tenant: str) -> str:
    return NAMESPACE_PREFIX + tenant


def tenant_url(url: str, tenant: str) -> str:
    """The warehouse URL whose unqualified names resolve in the tenant's own database/schema."""
    name = namespace(tenant)
    scheme = url.split("://", 1)[0].lower()
    if scheme == "chdb":
        return f"{url.split('?', 1)[0]}?database={name}"
    if scheme in ("clickhouse", "clickhouses"):
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path=f"/{name}"))
    if scheme.startswith("postgres"):
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        kept = [o for o in str(parsed.query.get("options", "")).split()
                if not o.replace(" ", "").startswith("-csearch_path")]
        options = " ".join([*kept, f"-csearch_path={name}"])
        return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)
    if scheme == "sqlite":
        path = PurePosixPath(url.removeprefix("sqlite:///"))
        suffix = path.suffix or ".db"
        return f"sqlite:///{path.with_name(f'{path.stem}.{name}{suffix}')}"
    return url  # connect() names the unknown scheme


def open_tenant_warehouse(url: str, tenant: str) -> Warehouse:
    """Connect to the tenant's namespace of `url`, creating its database/schema if it is new."""
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("clickhouse", "clickhouses") or scheme.startswith("postgres"):
        base = connect(url)
        base.execute(create_namespace(namespace(tenant), base.dialect))
    return connect(tenant_url(url, tenant))  # chDB creates its database when the session opens
