"""A uniquely named PostgreSQL schema per test session on the local server, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def schema_url(schema: str) -> str:
    """A URL whose connections see `schema` first on the search path (libpq `options`)."""
    return f"{ADMIN_URL}?options=-csearch_path%3D{schema}"


@contextmanager
def temporary_schema(prefix: str = "etla_test") -> Iterator[str]:
    """Create `<prefix>_<random>` and drop it, with everything in it, on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    """One schema for the whole test session."""
    with temporary_schema() as name:
        yield name
