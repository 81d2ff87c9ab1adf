"""The SQL guard against hostile queries, through the run_query tool on real engines.

Every hostile case must be refused with a clear one-sentence message AND leave the warehouse exactly as it was
(tables, and every row of every table, compared before and after). The engines are real: chDB, SQLite and
the local PostgreSQL; the warehouse holds an allowed table (orders) and one that is not
(secrets), so a refusal that only works because a table is missing would not pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from etl_assistant.config import Settings
from etl_assistant.ddl import generate_ddl
from etl_assistant.errors import ToolError
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse import Warehouse, connect
from etl_assistant.warehouse.catalog import Catalog
from etl_assistant.warehouse.safety import guard
from tests.support.datasets import column, orders_schema
from tests.support.postgres import pg_schema, schema_url  # noqa: F401 - session fixture

SECRETS = orders_schema(name="secrets")
SECRETS.columns = [column("id", "integer", int_bits=8, signed=False), column("secret", "string")]
SECRETS.relationships = []
ORDER_ROWS = [(i, i % 7, f"{i * 1.25:.2f}", f"2024-01-{i:02d}", i % 2 == 0,
               None if i % 5 == 0 else f"note {i}") for i in range(1, 21)]


@dataclass
class Env:
    dialect: str
    warehouse: Warehouse
    catalog: Catalog
    ctx: ToolContext


def _create(warehouse: Warehouse, schema, rows: list[tuple]) -> str:  # noqa: ANN001
    result = generate_ddl(schema, warehouse.dialect)
    for statement in result.statements:
        warehouse.execute(statement)
    values = exp.values([tuple(exp.convert(v) for v in row) for row in rows])
    warehouse.execute(exp.insert(values, exp.to_identifier(result.table, quoted=True),
                                 columns=[c.identifier for c in schema.columns]).sql(warehouse.dialect))
    return result.ddl


def _build_env(dialect: str, warehouse_url: str, tmp: Path) -> Env:
    warehouse = connect(warehouse_url)
    catalog = Catalog(f"sqlite:///{tmp / 'catalog.db'}")
    ddl = _create(warehouse, orders_schema(row_count=len(ORDER_ROWS)), ORDER_ROWS)
    _create(warehouse, SECRETS, [(1, "root password"), (2, "api key")])
    catalog.record_table("default", "orders", "orders", dialect, ddl, len(ORDER_ROWS))
    catalog.save_dataset("other", orders_schema(name="secrets"))  # another tenant's dataset: never allowed
    ctx = ToolContext(settings=Settings(data_dir=tmp),
                      _overrides={"warehouse": warehouse, "catalog": catalog})
    return Env(dialect, warehouse, catalog, ctx)


@pytest.fixture(scope="module")
def chdb_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("safety-chdb")
    env = _build_env("clickhouse", f"chdb:///{tmp / 'warehouse'}", tmp)
    yield env
    env.warehouse.close()


@pytest.fixture(scope="module")
def sqlite_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("safety-sqlite")
    env = _build_env("sqlite", f"sqlite:///{tmp / 'warehouse.db'}", tmp)
    yield env
    env.warehouse.close()


@pytest.fixture(scope="module")
def postgres_env(tmp_path_factory: pytest.TempPathFactory, pg_schema: str) -> Iterator[Env]:  # noqa: F811
    env = _build_env("postgres", schema_url(pg_schema), tmp_path_factory.mktemp("safety-pg"))
    yield env
    env.warehouse.close()


ENGINES = {"clickhouse": "chdb_env", "sqlite": "sqlite_env", "postgres": "postgres_env"}


def snapshot(warehouse: Warehouse) -> dict[str, list[str]]:
    """Every table and every row in it (as text, sorted): equal snapshots mean nothing changed."""
    tables = sorted(warehouse.tables())
    return {table: sorted(repr(row) for row in warehouse.query(
        exp.select(exp.Star()).from_(exp.to_identifier(table, quoted=True)).sql(warehouse.dialect),
        read_only=False).rows) for table in tables}


def run_query(env: Env, sql: str, limit: int = 100):  # noqa: ANN201
    return get_tool("run_query").run(env.ctx, {"sql": sql, "limit": limit})


ALL = ("clickhouse", "sqlite", "postgres")
CH_SQLITE = ("clickhouse", "sqlite")
CH = ("clickhouse",)
PG = ("postgres",)
# (id, SQL, a fragment of the refusal, engines it is tried on)
HOSTILE: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("drop", "DROP TABLE orders", "Only read-only SELECT", ALL),
    ("delete", "DELETE FROM orders", "Only read-only SELECT", ALL),
    ("insert", "INSERT INTO orders SELECT * FROM orders", "Only read-only SELECT", ALL),
    ("update", "UPDATE orders SET amount = 0", "Only read-only SELECT", ALL),
    ("truncate", "TRUNCATE TABLE orders", "Only read-only SELECT", ALL),
    ("alter", "ALTER TABLE orders RENAME TO gone", "Only read-only SELECT", ALL),
    ("create-as", "CREATE TABLE evil AS SELECT * FROM orders", "Only read-only SELECT", ALL),
    ("grant", "GRANT ALL ON orders TO evil", "Only read-only SELECT", ALL),
    ("stacked", "SELECT 1; DROP TABLE orders", "Only one statement", ALL),
    ("commit-trick", "COMMIT; DROP TABLE orders", "Only one statement", ALL),
    ("stacked-after-block-comment", "SELECT * FROM orders /* x */; DELETE FROM orders", "Only one statement",
     ALL),
    ("stacked-after-line-comment", "SELECT 1 -- harmless\n; DROP TABLE orders", "Only one statement", ALL),
    ("stacked-select-secrets", "SELECT 1; SELECT * FROM secrets", "Only one statement", ALL),
    ("secrets", "SELECT * FROM secrets", "not one you can query", ALL),
    ("secrets-quoted", 'SELECT * FROM "secrets"', "not one you can query", ALL),
    ("secrets-subquery", "SELECT * FROM orders WHERE order_id IN (SELECT id FROM secrets)",
     "not one you can query", ALL),
    ("secrets-join", "SELECT o.order_id FROM orders o JOIN secrets s ON s.id = o.order_id",
     "not one you can query", ALL),
    ("secrets-union", "SELECT order_id FROM orders UNION ALL SELECT id FROM secrets", "not one you can query",
     ALL),
    ("cte-shadowing", "WITH orders AS (SELECT * FROM secrets) SELECT * FROM orders", "not one you can query",
     ALL),
    ("scalar-subquery", "SELECT (SELECT secret FROM secrets LIMIT 1) AS s FROM orders",
     "not one you can query", ALL),
    ("ch-system-tables", "SELECT name FROM system.tables", "System tables", ALL),
    ("ch-system-users-upper", "SELECT * FROM SYSTEM.users", "System tables", ALL),
    ("information-schema", "SELECT * FROM information_schema.tables", "System tables", ALL),
    ("sqlite-master", "SELECT sql FROM sqlite_master", "System tables", ALL),
    ("sqlite-schema-qualified", "SELECT sql FROM main.sqlite_schema", "System tables", ALL),
    ("pg-catalog", "SELECT * FROM pg_catalog.pg_authid", "System tables", ALL),
    ("pg-table-on-search-path", "SELECT * FROM pg_user", "System tables", ALL),
    ("file-table-function", "SELECT * FROM file('/etc/passwd', 'LineAsString')", "Table functions",
     CH_SQLITE),
    ("url-table-function", "SELECT * FROM url('http://127.0.0.1:9/x.csv', 'CSV')", "Table functions",
     CH_SQLITE),
    ("remote-table-function", "SELECT * FROM remote('127.0.0.1', 'system', 'users')", "Table functions",
     CH_SQLITE),
    ("s3-in-join", "SELECT * FROM orders JOIN s3('http://127.0.0.1:9/y.csv') AS s ON 1 = 1",
     "Table functions", CH_SQLITE),
    ("numbers-in-subquery", "SELECT * FROM orders WHERE order_id IN (SELECT number FROM numbers(10))",
     "Table functions", CH_SQLITE),
    ("merge-table-function", "SELECT * FROM merge(currentDatabase(), '^sec')", "Table functions", CH_SQLITE),
    ("sqlite-pragma-function", "SELECT * FROM pragma_table_info('secrets')", "Table functions", CH_SQLITE),
    ("scalar-file", "SELECT file('/etc/passwd') AS f", "function file()", CH),
    ("dict-get", "SELECT dictGet('secrets_dict', 'secret', toUInt64(1)) AS s", "function dictGet()",
     CH_SQLITE),
    ("join-get", "SELECT joinGet('secrets', 'secret', 1) AS s", "function joinGet()", CH_SQLITE),
    ("has-column-in-table", "SELECT hasColumnInTable('default', 'secrets', 'secret') AS h",
     "function hasColumnInTable()", CH_SQLITE),
    ("sleep", "SELECT sleep(3) AS s", "function sleep()", CH_SQLITE),
    ("in-bare-table", "SELECT 1 AS x WHERE 1 IN secrets", "IN followed by a bare table", CH_SQLITE),
    ("into-outfile", "SELECT * FROM orders INTO OUTFILE '/tmp/etla_leak.csv'", "INTO OUTFILE", CH_SQLITE),
    ("settings-override", "SELECT * FROM orders SETTINGS readonly = 0", "SETTINGS overrides", CH),
    ("format-clause", "SELECT * FROM orders FORMAT TabSeparated", "FORMAT clause", CH),
    ("select-into", "SELECT * INTO evil FROM orders", "SELECT INTO", ALL),
    ("for-update", "SELECT * FROM orders FOR UPDATE", "row locks", ALL),
    ("data-modifying-cte", "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", "data changes", ALL),
    ("pg-read-file", "SELECT pg_read_file('/etc/passwd') AS f", "function pg_read_file()", ALL),
    ("pg-set-config", "SELECT set_config('default_transaction_read_only', 'off', false) AS s",
     "function set_config()", ALL),
    ("pg-query-to-xml", "SELECT query_to_xml('select * from secrets', true, true, '') AS x",
     "function query_to_xml()", ALL),
    ("pg-nextval", "SELECT nextval('orders_seq') AS n", "function nextval()", ALL),
    ("sqlite-load-extension", "SELECT load_extension('/tmp/evil.so') AS e", "function load_extension()", ALL),
    ("pragma", "PRAGMA writable_schema = 1", "Only read-only SELECT", ALL),
    ("attach", "ATTACH DATABASE '/tmp/etla_evil.db' AS evil", "Only read-only SELECT", CH_SQLITE),
    ("set", "SET readonly = 0", "Only read-only SELECT", ALL),
    ("explain", "EXPLAIN SELECT * FROM secrets", "Only read-only SELECT", ALL),
    ("show", "SHOW TABLES", "Only read-only SELECT", ALL),
    ("vacuum-into", "VACUUM INTO '/tmp/etla_copy.db'", "Only read-only SELECT", ALL),
    ("optimize", "OPTIMIZE TABLE orders FINAL", "Only read-only SELECT", ALL),
    ("copy-to-program", "COPY orders TO PROGRAM 'rm -rf /'", "Only read-only SELECT", ALL),
    ("call", "CALL evil()", "Only read-only SELECT", ALL),
    ("prepare", "PREPARE p AS DELETE FROM orders", "Only read-only SELECT", ALL),
    ("reset", "RESET ALL", "Only read-only SELECT", ALL),
    ("begin", "BEGIN", "Only read-only SELECT", ALL),
    ("rollback-trick", "ROLLBACK; SELECT 1", "Only one statement", ALL),
    ("mixed-case-drop", "dRoP tAbLe orders", "Only read-only SELECT", ALL),
    ("do-block", "DO $$ BEGIN DELETE FROM orders; END $$", "Only read-only SELECT", PG),
    ("declare-cursor", "DECLARE c CURSOR FOR SELECT * FROM secrets", "Only read-only SELECT", PG),
    ("lock-table", "LOCK TABLE orders", "Only read-only SELECT", PG),
    ("table-shorthand", "TABLE secrets", "not one you can query", PG),
    ("only-secrets", "SELECT * FROM ONLY secrets", "not one you can query", ALL),
    ("lateral-secrets", "SELECT * FROM orders, LATERAL (SELECT * FROM secrets) s", "not one you can query",
     ALL),
    ("schema-qualified-secrets", "SELECT * FROM orders WHERE order_id = (SELECT max(id) FROM public.secrets)",
     "not one you can query", ALL),
    ("current-setting", "SELECT current_setting('is_superuser') AS s", "function current_setting()", ALL),
    ("dblink", "SELECT * FROM dblink('host=x', 'select 1') AS t(a int)", "Table functions", ALL),
    ("lo-import", "SELECT lo_import('/etc/passwd') AS o", "function lo_import()", ALL),
    ("pg-sleep", "SELECT pg_sleep(10) AS s", "function pg_sleep()", ALL),
    ("empty", "  ", "empty", ALL),
    ("only-semicolons", ";;", "empty", ALL),
    ("zero-width-space", "SELECT\u200b* FROM secrets", "invisible or look-alike character (U+200B", ALL),
    ("bidi-override-in-comment", "SELECT * FROM orders -- \u202e; DROP TABLE orders",
     "invisible or look-alike character (U+202E", ALL),
    ("no-break-space", "SELECT\u00a0* FROM orders", "invisible or look-alike character (U+00A0", ALL),
    ("fullwidth-name", "SELECT * FROM \uff53\uff45\uff43\uff52\uff45\uff54\uff53", "non-ASCII", ALL),
    ("cyrillic-look-alike", "SELECT * FROM \u043erders", "non-ASCII", ALL),
    ("fullwidth-semicolon", "SELECT 1 \uff1b DROP TABLE orders", "could not be parsed", ALL),
    ("unterminated-string", "SELECT * FROM orders WHERE note = 'x", "could not be", ALL),
]
PARAMS = [pytest.param(dialect, sql, fragment, id=f"{case}-{dialect}",
                       marks=[pytest.mark.postgres] if dialect == "postgres" else [])
          for case, sql, fragment, dialects in HOSTILE for dialect in dialects]


@pytest.mark.parametrize(("dialect", "sql", "fragment"), PARAMS)
def test_hostile_query_is_refused_and_changes_nothing(dialect: str, sql: str, fragment: str,
                                                      request: pytest.FixtureRequest) -> None:
    env: Env = request.getfixturevalue(ENGINES[dialect])
    before = snapshot(env.warehouse)
    with pytest.raises(ToolError) as refused:
        run_query(env, sql)
    message = str(refused.value)
    assert fragment in message
    assert "\n" not in message and message.endswith(".") and "Traceback" not in message
    assert snapshot(env.warehouse) == before


ENGINE_PARAMS = [pytest.param(d, marks=[pytest.mark.postgres] if d == "postgres" else []) for d in ALL]


def test_enough_hostile_cases() -> None:
    assert len(HOSTILE) >= 80 and len({case for case, *_ in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize("dialect", ENGINE_PARAMS)
def test_snapshot_sees_a_real_change(dialect: str, request: pytest.FixtureRequest) -> None:
    """The 'nothing changed' check can fail: a statement run directly does change the snapshot."""
    env: Env = request.getfixturevalue(ENGINES[dialect])
    before = snapshot(env.warehouse)
    canary = generate_ddl(SECRETS, dialect, table="canary")
    env.warehouse.execute(canary.statements[0])
    try:
        assert snapshot(env.warehouse) != before
    finally:
        env.warehouse.drop_table("canary")
    assert snapshot(env.warehouse) == before


@pytest.mark.parametrize("dialect", ENGINE_PARAMS)
def test_limit_is_enforced_and_truncation_reported(dialect: str, request: pytest.FixtureRequest) -> None:
    env: Env = request.getfixturevalue(ENGINES[dialect])
    result = run_query(env, "SELECT order_id FROM orders ORDER BY order_id LIMIT 1000", limit=5)
    assert result.rows == [[1], [2], [3], [4], [5]] and result.truncated
    assert result.sql.endswith("LIMIT 6")
    smaller = run_query(env, "SELECT order_id FROM orders ORDER BY order_id DESC LIMIT 3", limit=5)
    assert smaller.rows == [[20], [19], [18]] and not smaller.truncated
    whole = run_query(env, "SELECT order_id FROM orders", limit=20)
    assert len(whole.rows) == 20 and not whole.truncated


@pytest.mark.parametrize("dialect", ENGINE_PARAMS)
def test_allowed_queries_run_and_rows_are_json(dialect: str, request: pytest.FixtureRequest) -> None:
    env: Env = request.getfixturevalue(ENGINES[dialect])
    result = run_query(env, "WITH paid AS (SELECT * FROM orders WHERE paid) "
                            "SELECT count(*) AS n, sum(amount) AS total, max(ordered_on) AS last FROM paid")
    assert result.columns == ["n", "total", "last"]
    n, total, last = result.rows[0]
    expected = [r for r in ORDER_ROWS if r[4]]
    assert n == len(expected)
    assert float(total) == pytest.approx(sum(float(r[2]) for r in expected))
    assert last == "2024-01-20"
    json.dumps(result.model_dump())  # every value is JSON-able
    union = run_query(env, "SELECT order_id FROM orders WHERE order_id < 2 UNION ALL "
                           "SELECT order_id FROM orders WHERE order_id > 19")
    assert sorted(union.rows) == [[1], [20]]


@pytest.mark.parametrize("dialect", ENGINE_PARAMS)
def test_a_registered_dataset_that_exists_as_a_table_is_allowed(dialect: str,
                                                                 request: pytest.FixtureRequest) -> None:
    env: Env = request.getfixturevalue(ENGINES[dialect])
    _create(env.warehouse, orders_schema(name="customers_ds"), ORDER_ROWS[:3])
    try:
        with pytest.raises(ToolError, match="not one you can query"):
            run_query(env, "SELECT count(*) FROM customers_ds")
        env.catalog.save_dataset("default", orders_schema(name="customers_ds"))
        assert run_query(env, "SELECT count(*) AS n FROM customers_ds").rows == [[3]]
    finally:
        env.catalog.delete_dataset("default", "customers_ds")
        env.warehouse.drop_table("customers_ds")


@pytest.mark.parametrize(("dialect", "sql", "expected"), [
    ("clickhouse", "SELECT a FROM orders LIMIT 1 BY a",
     "SELECT * FROM (SELECT a FROM orders LIMIT 1 BY a) AS limited_rows LIMIT 10"),
    ("postgres", "SELECT * FROM orders FETCH FIRST 50 ROWS ONLY",
     "SELECT * FROM (SELECT * FROM orders FETCH FIRST 50 ROWS ONLY) AS limited_rows LIMIT 10"),
    ("postgres", "SELECT * FROM orders LIMIT ALL",
     "SELECT * FROM (SELECT * FROM orders LIMIT ALL) AS limited_rows LIMIT 10"),
    ("sqlite", "select * from ORDERS  -- trailing comment\n", "SELECT * FROM ORDERS LIMIT 10"),
    ("postgres", "(SELECT * FROM orders)", "SELECT * FROM orders LIMIT 10"),
    ("clickhouse", "SELECT * FROM orders WHERE note = 'x''; DROP TABLE orders; --'",
     "SELECT * FROM orders WHERE note = 'x''; DROP TABLE orders; --' LIMIT 10"),
])
def test_guard_renders_the_safe_query(dialect: str, sql: str, expected: str) -> None:
    assert guard(sql, dialect=dialect, allowed_tables={"orders"}, limit=10) == expected


def test_table_name_case_follows_the_engine() -> None:
    # PostgreSQL folds unquoted names; a quoted "Orders" is another table. ClickHouse is case-sensitive.
    assert guard("SELECT * FROM ORDERS", dialect="postgres", allowed_tables={"orders"}, limit=1)
    with pytest.raises(ToolError, match="not one you can query"):
        guard('SELECT * FROM "Orders"', dialect="postgres", allowed_tables={"orders"}, limit=1)
    with pytest.raises(ToolError, match="not one you can query"):
        guard("SELECT * FROM ORDERS", dialect="clickhouse", allowed_tables={"orders"}, limit=1)
    with pytest.raises(ToolError, match="not one you can query"):
        guard("SELECT * FROM public.orders", dialect="postgres", allowed_tables={"orders"}, limit=1)
    assert guard("SELECT * FROM public.orders", dialect="postgres", allowed_tables={"public.orders"}, limit=1)


def test_guard_output_always_reads_back_as_one_query() -> None:
    sql = guard("SELECT 1 /* a comment */ AS one -- another", dialect="clickhouse", allowed_tables=None,
                limit=5)
    assert "comment" not in sql
    parsed = sqlglot.parse(sql, read="clickhouse")
    assert len(parsed) == 1 and isinstance(parsed[0], exp.Select)
