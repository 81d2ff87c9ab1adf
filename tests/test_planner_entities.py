"""Entity extraction (no model): paths, SQL, dialect spellings, dataset mentions, names, flags."""

from __future__ import annotations

import pytest

from etl_assistant.agent.planner.entities import extract

KNOWN = ["orders", "customers", "invoices_2024", "web_events"]


@pytest.mark.parametrize(("text", "paths"), [
    ("here is orders.csv", ["orders.csv"]),
    ("what's in sales_2024.csv?", ["sales_2024.csv"]),
    ('look at "Sales Q1.xlsx" please', ["Sales Q1.xlsx"]),
    ("infer ./raw/clicks.csv.gz.", ["./raw/clicks.csv.gz"]),
    (r"analyze C:\Users\ana\Desktop\orders.csv", [r"C:\Users\ana\Desktop\orders.csv"]),
    ("ddl for data/new_signups.csv (postgres)", ["data/new_signups.csv"]),
    ("compare a.parquet and ~/b.ndjson", ["a.parquet", "~/b.ndjson"]),
    ("make a table for orders", []),
])
def test_paths(text, paths):
    assert extract(text, KNOWN).paths == paths


@pytest.mark.parametrize(("text", "sql"), [
    ("select count(*) from orders", "select count(*) from orders"),
    ("run: SELECT 1;", "SELECT 1"),
    ("can you run `select max(amount) from orders`", "select max(amount) from orders"),
    ("```sql\nSELECT a\nFROM t\n```", "SELECT a\nFROM t"),
    ("how many rows? select count() from orders", "select count() from orders"),
    ("select the best customers for me", None),
    ("build a summary with revenue per region", None),
])
def test_sql_is_found_only_when_it_parses(text, sql):
    assert extract(text, KNOWN).sql == sql


@pytest.mark.parametrize(("text", "dialect"), [
    ("CH ddl", "clickhouse"), ("click house table", "clickhouse"), ("clickhous", "clickhouse"),
    ("mergetree table", "clickhouse"), ("pg please", "postgres"), ("postgresql", "postgres"),
    ("postgress", "postgres"), ("postgre", "postgres"), ("sqllite", "sqlite"), ("SQLite3", "sqlite"),
    ("print the posters", None), ("the sites list", None), ("make a table", None),
])
def test_dialect_spellings(text, dialect):
    assert extract(text, KNOWN).dialect == dialect


def test_mentions_targets_and_flags():
    ents = extract("reload custmers into table customers_raw, overwrite it; first 20 rows", KNOWN)
    assert ents.mentions == ["customers"]
    assert ents.target == "customers_raw" and ents.replace and ents.limit == 20
    assert extract("a mart for invoice totals", KNOWN).mentions == ["invoices_2024"]
    assert extract("load it into the warehouse", KNOWN).target is None
    assert extract("call the dataset stock", KNOWN).target == "stock"
    assert extract("go live with the web_events table", KNOWN).normalized == "go live with the dataset table"
