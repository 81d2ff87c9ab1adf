"""A uniquely named PostgreSQL database on the local server, with a shop schema created by plain SQL.

Source-database tests need what a real database has and our own loads never make: several schemas, views,
declared primary, unique and foreign keys, and tables created outside the assistant.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from tests.support.postgres import ADMIN_URL

SERVER = "postgresql://postgres@127.0.0.1:5432"

SHOP_SQL = """
CREATE TABLE customers (
    customer_id integer PRIMARY KEY,
    email varchar(120) NOT NULL UNIQUE,
    name text NOT NULL,
    country text,
    signed_up date NOT NULL
);
CREATE TABLE orders (
    order_id bigint PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (customer_id),
    status text NOT NULL,
    amount numeric(10, 2) NOT NULL,
    ordered_at timestamp with time zone NOT NULL
);
CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100;
CREATE SCHEMA archive;
CREATE TABLE archive.orders_2019 (order_id bigint PRIMARY KEY, amount numeric(10, 2));
INSERT INTO customers VALUES
    (1, 'ann@example.com', 'Ann', 'Germany', '2024-01-05'),
    (2, 'bob@example.com', 'Bob', 'France', '2024-02-11'),
    (3, 'cy@example.com', 'Cy', NULL, '2024-03-20');
INSERT INTO orders VALUES
    (10, 1, 'shipped', 120.50, '2024-04-01 10:00:00+00'),
    (11, 1, 'shipped', 80.00, '2024-04-02 11:30:00+00'),
    (12, 2, 'cancelled', 15.25, '2024-04-03 09:15:00+00'),
    (13, 2, 'shipped', 210.00, '2024-04-05 16:45:00+00'),
    (14, 3, 'pending', 42.00, '2024-04-06 08:00:00+00');
"""


@contextmanager
def temporary_database(setup_sql: str = SHOP_SQL, prefix: str = "etla_src") -> Iterator[str]:
    """Create `<prefix>_<random>`, run `setup_sql` in it and yield its URL; drop it on exit (WITH FORCE ends
    the sessions pools still hold)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{SERVER}/{name}"
    try:
        if setup_sql:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(setup_sql)
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
