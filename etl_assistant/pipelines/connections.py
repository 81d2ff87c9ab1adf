"""Named connections to databases: from the `ETLA_CONNECTIONS` setting, or stored per tenant in the catalog.

A connection's URL carries its password, so it is a secret: everything a person, a log or a plan sees is the
`redacted` form (password replaced by `***`), and errors name connections, never URLs. Connections from the
setting are the operator's and are shared by every tenant; the ones added in chat or with the CLI belong to
the tenant that added them and live in the catalog database, next to its other tables; with
`ETLA_CONNECTIONS_KEY` set they are stored encrypted (Fernet), so the catalog alone gives no password away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote, unquote, urlsplit

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr
from sqlalchemy import (
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

from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.redact import assemble_url, redact_text, redact_url
from etl_assistant.warehouse.catalog import CatalogTables

if TYPE_CHECKING:
    from etl_assistant.tools.base import ToolContext

__all__ = [  # redact_url / redact_text live in etl_assistant.redact; importable from here as well
    "Connection", "ConnectionStore", "add_connection", "check_name", "list_connections", "name_from_url",
    "redact_text", "redact_url", "remove_connection", "resolve_connection", "url_kind",
    "warehouse_connection", "with_password",
]

Kind = Literal["postgresql", "clickhouse", "chdb", "sqlite"]
Origin = Literal["settings", "catalog"]

_KINDS: dict[str, Kind] = {
    "postgresql": "postgresql", "postgres": "postgresql", "postgresql+psycopg": "postgresql",
    "clickhouse": "clickhouse", "clickhouses": "clickhouse",
    "chdb": "chdb",
    "sqlite": "sqlite",
}
WAREHOUSE = "warehouse"  # what list_tables and refresh call the configured warehouse
URL_FORMS = ("postgresql://user:password@host:5432/db, clickhouse://user:password@host:8123/db, "
             "chdb:///abs/path or sqlite:///path.db")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")

metadata = MetaData()

connections_table = Table(
    "etla_connections", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(128), nullable=False),
    Column("name", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "name", name="uq_etla_connections_tenant_name"),
)


@dataclass(frozen=True, repr=False)
class Connection:
    """A named database. `url` is the secret; print, log and show `redacted`."""

    name: str
    kind: Kind
    secret: SecretStr = field(compare=False)
    origin: Origin = "catalog"

    @property
    def url(self) -> str:
        return self.secret.get_secret_value()

    @property
    def redacted(self) -> str:
        return redact_url(self.url)

    def __repr__(self) -> str:
        return (f"Connection(name={self.name!r}, kind={self.kind!r}, url={self.redacted!r}, "
                f"origin={self.origin!r})")

    __str__ = __repr__


def url_kind(url: str) -> Kind:
    """The engine a URL names; an unknown scheme is one sentence naming the accepted forms (URL not shown)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    kind = _KINDS.get(scheme)
    if kind is None:
        raise ToolError(f"That connection URL has {'the scheme ' + repr(scheme) if scheme else 'no scheme'}; "
                        f"give one of {URL_FORMS}.")
    return kind


def name_from_url(url: str) -> str:
    """A connection name from the URL: the database (or file) name, else the host."""
    parts = urlsplit(url)
    kind = url_kind(url)
    path = unquote(parts.path)
    if kind in ("chdb", "sqlite"):
        candidate = PurePath(path).stem or PurePath(path).name
    else:
        candidate = path.strip("/").split("/")[-1] or (parts.hostname or "")
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", candidate).strip("_")
    if not cleaned:
        cleaned = kind
    return cleaned if cleaned[0].isalpha() else f"db_{cleaned}"[:64]


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ToolError(f"The connection name {name!r} is not allowed; use letters, digits, '_' or '-', "
                        "starting with a letter (at most 64 characters).")
    return name


def with_password(url: str, password: str) -> str:
    """The URL with `password` set in its user info (the CLI reads a password apart from the URL)."""
    parts = urlsplit(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0] if userinfo else ""
    return assemble_url(parts.scheme, f"{user}:{quote(password, safe='')}@{host}", parts.path, parts.query,
                        parts.fragment)


class ConnectionStore(CatalogTables):
    """The tenant's stored connections, in the catalog database (created on first use)."""

    metadata = metadata

    def list(self, tenant: str) -> list[tuple[str, str]]:
        c = connections_table.c
        with self._transaction() as conn:
            rows = conn.execute(select(c.name, c.url).where(c.tenant == tenant).order_by(c.name)).all()
        return [(row.name, row.url) for row in rows]

    def save(self, tenant: str, name: str, url: str) -> bool:
        """Store or replace; returns whether the name was new."""
        c = connections_table.c
        now = datetime.now(UTC)
        with self._transaction() as conn:
            found = conn.execute(select(c.id).where(c.tenant == tenant, c.name == name)
                                 .with_for_update()).scalar()
            if found is None:
                conn.execute(insert(connections_table).values(tenant=tenant, name=name, url=url,
                                                              created_at=now, updated_at=now))
            else:
                conn.execute(update(connections_table).where(c.id == found).values(url=url, updated_at=now))
        return found is None

    def delete(self, tenant: str, name: str) -> bool:
        c = connections_table.c
        with self._transaction() as conn:
            return bool(conn.execute(delete(connections_table)
                                     .where(c.tenant == tenant, c.name == name)).rowcount)


_SEALED = "fernet:"  # prefix of a stored URL encrypted with ETLA_CONNECTIONS_KEY


def _fernet(ctx: ToolContext) -> Fernet | None:
    key = ctx.settings.connections_key
    if key is None:
        return None
    try:
        return Fernet(key.get_secret_value().encode())
    except ValueError:
        raise WarehouseError(
            "ETLA_CONNECTIONS_KEY is not a Fernet key; make one with `python -c \"from cryptography.fernet "
            "import Fernet; print(Fernet.generate_key().decode())\"`.") from None


def _seal(ctx: ToolContext, url: str) -> str:
    """The URL as stored: encrypted when a key is set, as is otherwise."""
    fernet = _fernet(ctx)
    return _SEALED + fernet.encrypt(url.encode()).decode() if fernet else url


def _unseal(ctx: ToolContext, name: str, stored: str) -> str:
    if not stored.startswith(_SEALED):
        return stored  # saved before a key was set
    fernet = _fernet(ctx)
    if fernet is None:
        raise WarehouseError(f"The connection {name!r} is stored encrypted; set ETLA_CONNECTIONS_KEY to the "
                             "key it was saved with.")
    try:
        return fernet.decrypt(stored.removeprefix(_SEALED).encode()).decode()
    except InvalidToken:
        raise WarehouseError(f"The connection {name!r} cannot be decrypted with ETLA_CONNECTIONS_KEY; set "
                             "the key it was saved with, or add the connection again.") from None


def _configured(ctx: ToolContext) -> dict[str, Connection]:
    found: dict[str, Connection] = {}
    for name, secret in ctx.settings.connections.items():
        try:
            found[name] = Connection(name, url_kind(secret.get_secret_value()), secret, "settings")
        except ToolError as exc:
            raise WarehouseError(f"ETLA_CONNECTIONS entry {name!r} is not usable: {exc}") from None
    return found


def list_connections(ctx: ToolContext) -> list[Connection]:
    """Every connection the tenant may use, by name: the configured ones, then its own stored ones."""
    found = _configured(ctx)
    for name, stored in ConnectionStore(ctx.catalog).list(ctx.tenant):
        if name not in found:
            url = _unseal(ctx, name, stored)
            found[name] = Connection(name, url_kind(url), SecretStr(url), "catalog")
    return [found[name] for name in sorted(found)]


def resolve_connection(ctx: ToolContext, name: str) -> Connection:
    """The connection called `name` (case-insensitive for people); unknown -> one sentence naming the known
    ones. Only this connection's URL is decrypted."""
    configured = _configured(ctx)
    stored = dict(ConnectionStore(ctx.catalog).list(ctx.tenant))
    names = sorted(set(configured) | set(stored))
    match = name if name in names else next((n for n in names if n.lower() == name.lower()), None)
    if match is None:
        known = ", ".join(names) or "none yet"
        raise ToolError(f"There is no connection named {name!r} (known: {known}); add it with add_connection "
                        "or `etl-assistant connections add NAME URL`.")
    if match in configured:
        return configured[match]
    url = _unseal(ctx, match, stored[match])
    return Connection(match, url_kind(url), SecretStr(url), "catalog")


def local_path(url: str, kind: Kind) -> Path | None:
    """The file (SQLite) or directory (chDB) a local URL names, as the adapters read it; None for servers."""
    if kind == "sqlite":
        return Path(url.removeprefix("sqlite://").removeprefix("/") or ":memory:").resolve()
    if kind == "chdb":
        return Path(url.removeprefix("chdb://")).resolve()
    return None


def _check_local(ctx: ToolContext, url: str, kind: Kind) -> None:
    """A local database a person adds must exist under ETLA_ALLOWED_ROOTS (opening one would create it)."""
    path = local_path(url, kind)
    if path is None:
        return
    roots = ctx.settings.resolved_allowed_roots
    if not any(path == root or path.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise ToolError(f"{path} is outside the allowed folders ({allowed}); connect a database there, or "
                        "ask the operator to add it to ETLA_CONNECTIONS.")
    if not (path.is_file() if kind == "sqlite" else path.is_dir()):
        what = "SQLite file" if kind == "sqlite" else "chDB directory"
        raise ToolError(f"There is no {what} at {path}; give the path of an existing one.")


def add_connection(ctx: ToolContext, name: str | None, url: str) -> tuple[Connection, bool]:
    """Store a connection for the tenant (named after its database when `name` is empty); returns it and
    whether it is new. A name the operator configured in ETLA_CONNECTIONS cannot be replaced, and a local
    database (SQLite, chDB) must exist under ETLA_ALLOWED_ROOTS."""
    url = url.strip()
    kind = url_kind(url)
    _check_local(ctx, url, kind)
    name = check_name(name or name_from_url(url))
    if name in _configured(ctx):
        raise ToolError(f"The connection {name!r} is configured by the server (ETLA_CONNECTIONS); "
                        "pick another name for this one.")
    created = ConnectionStore(ctx.catalog).save(ctx.tenant, name, _seal(ctx, url))
    return Connection(name, kind, SecretStr(url), "catalog"), created


def warehouse_connection(ctx: ToolContext) -> Connection:
    """The configured warehouse as a connection named `warehouse` (its URL as secret as any other)."""
    url = ctx.warehouse.url
    return Connection(WAREHOUSE, url_kind(url), SecretStr(url), "settings")


def remove_connection(ctx: ToolContext, name: str) -> Connection:
    """Forget a stored connection; configured or unknown names are one sentence saying so."""
    connection = resolve_connection(ctx, name)
    if connection.origin == "settings":
        raise ToolError(f"The connection {connection.name!r} comes from ETLA_CONNECTIONS; remove it from the "
                        "server's settings instead.")
    ConnectionStore(ctx.catalog).delete(ctx.tenant, connection.name)
    return connection
