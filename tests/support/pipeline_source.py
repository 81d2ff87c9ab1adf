"""A source PostgreSQL database for pipeline tests, on the local server, whose TimeZone is not UTC.

The database is created per test module under a unique name and dropped with FORCE afterwards (chDB's
postgresql() keeps pooled connections to it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from tests.support.postgres import ADMIN_URL

SOURCE_TIMEZONE = "America/New_York"  # a source whose sessions are not in UTC, to prove we read in UTC


@contextmanager
def source_database(prefix: str = "etla_pipe_src") -> Iterator[str]:
    """A fresh database (TimeZone America/New_York) with an empty `sales` table; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("ALTER DATABASE {} SET timezone TO {}").format(
            sql.Identifier(name), sql.Literal(SOURCE_TIMEZONE)))
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE sales (id integer PRIMARY KEY, region text NOT NULL, "
                         "amount numeric(12, 2) NOT NULL, updated_at timestamptz NOT NULL)")
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def execute(url: str, statement: str, params: tuple = ()) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement, params)


def seed_sales(url: str, first: int, last: int) -> None:
    """Rows first..last, updated_at one second apart from 2026-01-01 00:00 UTC plus a microsecond part."""
    execute(url, "INSERT INTO sales SELECT g, (ARRAY['north','south','east','west'])[g %% 4 + 1], g * 1.25, "
                 "timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second' "
                 "+ (g %% 7) * interval '1 us' FROM generate_series(%s::int, %s::int) g", (first, last))


def source_rows(url: str, table: str = "sales") -> list[tuple]:
    """(id, region, amount, updated_at as UTC epoch microseconds) of every source row, by id."""
    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(
            sql.SQL("SELECT id, region, amount, (extract(epoch FROM updated_at) * 1000000)::bigint "
                    "FROM {} ORDER BY id").format(sql.Identifier(table))).fetchall()]
