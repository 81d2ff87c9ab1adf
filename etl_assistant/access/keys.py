"""API keys in the catalog: each key belongs to one tenant and only its SHA-256 hash is stored.

Keys are 256 random bits (`etla_` + 43 url-safe characters), so a plain hash cannot be brute-forced and a
lookup by hash is all verification needs. The first characters (`prefix`) are kept in clear so a list can
show which key is which; the key itself is printed once, at creation, and never again.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import Column, DateTime, MetaData, String, Table, func, select, update

from etl_assistant.access.tenants import check_tenant
from etl_assistant.errors import InputError
from etl_assistant.warehouse.catalog import Catalog, CatalogTables

KEY_PREFIX = "etla_"
PREFIX_CHARS = 12  # "etla_" and 7 random characters: enough to tell keys apart in a list
CACHE_S = 2.0  # how long "any keys?" and a key's record are remembered (a revoke counts after at most this)
_CACHED_KEYS = 10_000  # remembered verifications at most (unknown keys too, so guessing cannot flood the db)

metadata = MetaData()

keys_table = Table(
    "etla_api_keys", metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("prefix", String(PREFIX_CHARS), nullable=False, unique=True),
    Column("tenant", String(128), nullable=False, index=True),
    Column("name", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)


@dataclass(frozen=True)
class ApiKey:
    """A stored key as lists show it: never the key, only its prefix."""

    prefix: str
    tenant: str
    name: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore(CatalogTables):
    """Create, verify, list and revoke keys in the catalog database (SQLite or PostgreSQL)."""

    metadata = metadata

    def __init__(self, catalog: Catalog) -> None:
        super().__init__(catalog)
        self._any_active: tuple[float, bool] | None = None
        self._verified: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def create(self, tenant: str, name: str = "") -> tuple[ApiKey, str]:
        """A new key for `tenant`: the record and the key itself (shown once, stored only as a hash)."""
        check_tenant(tenant)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(prefix=key[:PREFIX_CHARS], tenant=tenant, name=name[:128],
                        created_at=datetime.now(UTC))
        with self._transaction() as conn:
            conn.execute(keys_table.insert().values(key_hash=hash_key(key), prefix=record.prefix,
                                                    tenant=tenant, name=record.name,
                                                    created_at=record.created_at))
        self._forget()
        return record, key

    def _forget(self) -> None:
        with self._lock:
            self._any_active = None
            self._verified.clear()

    def cached_verify(self, key: str) -> ApiKey | None | bool:
        """`verify`'s answer if it is fresh in memory (no database), else False."""
        with self._lock:
            seen = self._verified.get(hash_key(key))
        return seen[1] if seen is not None and time.monotonic() - seen[0] < CACHE_S else False

    def verify(self, key: str) -> ApiKey | None:
        """The active key record for `key`, or None (unknown, malformed or revoked)."""
        if not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        k = keys_table.c
        digest = hash_key(key)
        with self._transaction() as conn:
            row = conn.execute(select(keys_table).where(k.key_hash == digest, k.revoked_at.is_(None))).first()
        record = _record(row) if row is not None else None
        with self._lock:
            if len(self._verified) >= _CACHED_KEYS:
                self._verified.clear()
            self._verified[digest] = (time.monotonic(), record)
        return record

    def list(self, tenant: str | None = None) -> list[ApiKey]:
        query = select(keys_table).order_by(keys_table.c.created_at)
        if tenant is not None:
            query = query.where(keys_table.c.tenant == tenant)
        with self._transaction() as conn:
            return [_record(row) for row in conn.execute(query)]

    def revoke(self, prefix: str, tenant: str) -> ApiKey:
        """Revoke the tenant's key starting with `prefix` (the listed prefix, or the whole key)."""
        k = keys_table.c
        shown = prefix[:PREFIX_CHARS]
        with self._transaction() as conn:
            done = conn.execute(update(keys_table).where(k.prefix == shown, k.tenant == tenant,
                                                         k.revoked_at.is_(None))
                                .values(revoked_at=datetime.now(UTC)))
            if done.rowcount != 1:
                raise InputError(f"Tenant {tenant!r} has no active key {shown!r}; "
                                 f"see `etl-assistant keys list --tenant {tenant}`.")
            row = conn.execute(select(keys_table).where(k.prefix == shown)).one()
        self._forget()
        return _record(row)

    def cached_any_active(self) -> bool | None:
        """`any_active`'s answer if it is fresh in memory (no database), else None."""
        with self._lock:
            seen = self._any_active
        return seen[1] if seen is not None and time.monotonic() - seen[0] < CACHE_S else None

    def any_active(self) -> bool:
        """Is any key active? Remembered for a moment: every request asks, keys change rarely."""
        now = time.monotonic()
        cached = self.cached_any_active()
        if cached is not None:
            return cached
        with self._transaction() as conn:
            count = conn.execute(select(func.count()).select_from(keys_table)
                                 .where(keys_table.c.revoked_at.is_(None))).scalar_one()
        with self._lock:
            self._any_active = (now, count > 0)
        return count > 0


def _record(row) -> ApiKey:  # noqa: ANN001 - SQLAlchemy Row
    m = row._mapping
    return ApiKey(prefix=m["prefix"], tenant=m["tenant"], name=m["name"], created_at=m["created_at"],
                  revoked_at=m["revoked_at"])


@lru_cache(maxsize=16)
def key_store(catalog_url: str) -> KeyStore:
    """One KeyStore per catalog (its "any key?" answer is cached for a moment, for every request)."""
    return KeyStore(Catalog(catalog_url))
