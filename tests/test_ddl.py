"""DDL generation, table-driven like sqlglot's validate_all: hand-built profiles -> expected DDL per dialect.

Every generated statement is then executed on the real engines (chDB, SQLite, the local PostgreSQL) and the
created columns are checked by introspection.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import sqlglot
from psycopg import sql as pgsql
from sqlglot import exp

from etl_assistant.config import Settings
from etl_assistant.ddl import generate_ddl, resolve_target
from etl_assistant.ddl.builder import render
from etl_assistant.errors import EtlError, ToolError
from etl_assistant.schema.model import ColumnProfile, DatasetSchema, Relationship, TypeDetails
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse import connect
from etl_assistant.warehouse.catalog import Catalog
from tests.support.postgres import ADMIN_URL, pg_schema  # noqa: F401 - session fixture

DIALECTS = ("clickhouse", "postgres", "sqlite")


def col(identifier: str, type_: str, *, distinct: int = 0, nullable: bool = False, unique: bool = False,
        min: str | None = None, max: str | None = None, **details: object) -> ColumnProfile:  # noqa: A002
    return ColumnProfile(name=identifier, identifier=identifier, type=type_, details=TypeDetails(**details),
                         nullable=nullable, null_fraction=0.1 if nullable else 0.0, distinct_count=distinct,
                         min=min, max=max, unique=unique)


def dataset(name: str, rows: int, *columns: ColumnProfile, relationships: list[Relationship] | None = None,
            ) -> DatasetSchema:
    return DatasetSchema(name=name, source=f"/data/{name}.csv", format="csv", row_count=rows,
                         columns=list(columns), relationships=relationships or [])


# A large append-only fact table: 50M rows over two years.
EVENTS = dataset(
    "events", 50_000_000,
    col("event_id", "uuid", distinct=50_000_000, unique=True),
    col("event_time", "datetime", distinct=40_000_000, min="2023-01-01T00:00:00.123",
        max="2024-12-31T23:59:59.999", fraction_digits=3),
    col("region", "string", distinct=12, max_length=10),
    col("status", "string", distinct=4, max_length=9),
    col("user_id", "integer", distinct=2_000_000, min="1", max="2000000", int_bits=32, signed=False),
    col("quantity", "integer", distinct=200, min="1", max="200", int_bits=8, signed=False),
    col("amount", "decimal", distinct=90_000, precision=12, scale=2),
    col("note", "string", distinct=60_000, nullable=True, max_length=200),
    col("payload", "json", distinct=50_000_000),
    relationships=[Relationship(column="user_id", ref_dataset="users", ref_column="user_id", containment=1.0,
                                name_similarity=1.0, confidence=0.9)],
)

# A small keyed table updated in place.
CUSTOMERS = dataset(
    "customers", 500,
    col("customer_id", "integer", distinct=500, unique=True, min="1", max="40000", int_bits=16, signed=False),
    col("email", "string", distinct=500, unique=True, max_length=40),
    col("full_name", "string", distinct=498, max_length=30),
    col("country", "string", distinct=20, max_length=2),
    col("status", "string", distinct=3, max_length=8),
    col("signup_date", "date", distinct=400, min="2019-03-01", max="2024-06-30"),
    col("updated_at", "datetime", distinct=500, min="2024-01-01T00:00:00", max="2024-06-30T10:00:00",
        fraction_digits=0),
    col("balance", "decimal", distinct=450, precision=10, scale=2),
    col("vip", "boolean", distinct=2),
    col("phone", "string", distinct=300, nullable=True, max_length=15),
)

# Edge types: huge integers, pre-1970 dates, zoned nanosecond timestamps, times of day.
WIDE = dataset(
    "wide_types", 1_000,
    col("big_unsigned", "integer", distinct=1_000, min="0", max="18446744073709551615", int_bits=64,
        signed=False),
    col("huge", "integer", distinct=1_000, min="-1", max=str(2**100), int_bits=128, signed=True),
    col("born_on", "date", distinct=900, min="1901-05-01", max="2001-01-01"),
    col("seen_at", "datetime", distinct=1_000, min="2024-01-01T00:00:00.123456789+00:00",
        max="2024-02-01T00:00:00.5+00:00", fraction_digits=9, timezone=True),
    col("opens_at", "time", distinct=24, fraction_digits=0),
    col("ratio", "float", distinct=1_000, nullable=True),
)

# Nothing to sort or key by: only measures.
READINGS = dataset("2024 Sensor Readings!", 10, col("value", "float", distinct=10), col("weight", "float",
                                                                                          distinct=10))


@dataclass
class Case:
    schema: DatasetSchema
    # dialect -> exact DDL (when given) and fragments the DDL must contain
    ddl: dict[str, str] = field(default_factory=dict)
    fragments: dict[str, list[str]] = field(default_factory=dict)
    # dialect -> column -> the type the engine reports after running the DDL
    engine_types: dict[str, dict[str, str]] = field(default_factory=dict)


CASES = {
    "events": Case(
        EVENTS,
        ddl={"clickhouse": (
            'CREATE TABLE "events" ("event_id" UUID, "event_time" DateTime64(3), '
            '"region" LowCardinality(String), "status" LowCardinality(String), "user_id" UInt32, '
            '"quantity" UInt8, "amount" Decimal(18, 2), "note" Nullable(String), "payload" String) '
            'ENGINE=MergeTree PARTITION BY toYYYYMM("event_time") '
            'ORDER BY ("status", "region", "event_time");')},
        fragments={
            "postgres": ['"event_time" TIMESTAMP(3) NOT NULL', '"user_id" BIGINT NOT NULL',
                         '"quantity" SMALLINT NOT NULL', '"amount" DECIMAL(18, 2) NOT NULL', '"note" TEXT,',
                         '"payload" JSONB NOT NULL', 'PRIMARY KEY ("event_id", "event_time")',
                         'PARTITION BY RANGE("event_time")',
                         """CREATE TABLE "events_p202301" PARTITION OF "events" """
                         """FOR VALUES FROM ('2023-01-01') TO ('2023-02-01')""",
                         """CREATE TABLE "events_p202412" PARTITION OF "events" """
                         """FOR VALUES FROM ('2024-12-01') TO ('2025-01-01')""",
                         'CREATE TABLE "events_default" PARTITION OF "events" DEFAULT',
                         'CREATE INDEX "events_user_id_idx" ON "events"("user_id")'],
            "sqlite": ['"event_id" TEXT NOT NULL PRIMARY KEY', '"amount" REAL NOT NULL',
                       'CREATE INDEX "events_user_id_idx" ON "events"("user_id")'],
        },
        engine_types={
            "clickhouse": {"event_time": "DateTime64(3)", "region": "LowCardinality(String)",
                           "note": "Nullable(String)", "user_id": "UInt32", "quantity": "UInt8",
                           "amount": "Decimal(18, 2)", "event_id": "UUID"},
            "postgres": {"event_time": "timestamp(3) without time zone", "amount": "numeric(18,2)",
                         "quantity": "smallint", "payload": "jsonb", "event_id": "uuid"},
            "sqlite": {"event_id": "TEXT", "amount": "REAL", "quantity": "INTEGER"},
        },
    ),
    "customers": Case(
        CUSTOMERS,
        ddl={"postgres": (
            'CREATE TABLE "customers" ("customer_id" INT NOT NULL, "email" TEXT NOT NULL, '
            '"full_name" TEXT NOT NULL, "country" TEXT NOT NULL, "status" TEXT NOT NULL, '
            '"signup_date" DATE NOT NULL, "updated_at" TIMESTAMP(0) NOT NULL, '
            '"balance" DECIMAL(18, 2) NOT NULL, '
            '"vip" BOOLEAN NOT NULL, "phone" TEXT, PRIMARY KEY ("customer_id"));')},
        fragments={
            "clickhouse": ['"customer_id" UInt32', '"country" LowCardinality(String)',
                           '"updated_at" DateTime,',
                           '"phone" Nullable(String)', 'ORDER BY ("status", "country", "signup_date")'],
            "sqlite": ['"signup_date" TEXT NOT NULL', '"vip" INTEGER NOT NULL',
                       '"phone" TEXT)', '"customer_id" INTEGER NOT NULL PRIMARY KEY'],
        },
        engine_types={
            "clickhouse": {"customer_id": "UInt32", "updated_at": "DateTime", "signup_date": "Date",
                           "balance": "Decimal(18, 2)",
                           "vip": "Bool", "phone": "Nullable(String)"},
            "postgres": {"customer_id": "integer", "country": "text",
                         "updated_at": "timestamp(0) without time zone", "vip": "boolean", "email": "text"},
            "sqlite": {"customer_id": "INTEGER", "balance": "REAL"},
        },
    ),
    "wide_types": Case(
        WIDE,
        fragments={
            "clickhouse": ['"big_unsigned" UInt64', '"huge" Int128', '"born_on" Date32',
                           """"seen_at" DateTime64(9, 'UTC')""", '"opens_at" String',
                           '"ratio" Nullable(Float64)',
                           'ORDER BY "seen_at"'],
            "postgres": ['"big_unsigned" DECIMAL(20, 0) NOT NULL', '"huge" DECIMAL(39, 0) NOT NULL',
                         '"seen_at" TIMESTAMPTZ(6) NOT NULL', '"opens_at" TIME(0) NOT NULL',
                         '"ratio" DOUBLE PRECISION)'],
            "sqlite": ['"big_unsigned" TEXT NOT NULL', '"huge" TEXT NOT NULL', '"ratio" REAL)'],
        },
        engine_types={
            "clickhouse": {"huge": "Int128", "born_on": "Date32", "seen_at": "DateTime64(9, 'UTC')"},
            "postgres": {"big_unsigned": "numeric(20,0)", "seen_at": "timestamp(6) with time zone",
                         "opens_at": "time(0) without time zone"},
            "sqlite": {"huge": "TEXT"},
        },
    ),
    "readings": Case(
        READINGS,
        ddl={"clickhouse": 'CREATE TABLE "t_2024_sensor_readings" ("value" Float64, "weight" Float64) '
                           'ENGINE=MergeTree ORDER BY tuple();',
             "sqlite": 'CREATE TABLE "t_2024_sensor_readings" '
                       '("value" REAL NOT NULL, "weight" REAL NOT NULL);'},
        engine_types={"clickhouse": {"value": "Float64"}, "postgres": {"value": "double precision"},
                      "sqlite": {"value": "REAL"}},
    ),
}

PARAMS = [pytest.param(name, dialect, id=f"{name}-{dialect}") for name in CASES for dialect in DIALECTS]


@pytest.mark.parametrize(("name", "dialect"), PARAMS)
def test_generated_ddl(name: str, dialect: str) -> None:
    case = CASES[name]
    result = generate_ddl(case.schema, dialect)
    assert result.dialect == dialect and result.recommendation is None
    assert result.ddl == "\n\n".join(f"{s};" for s in result.statements)
    if dialect in case.ddl:
        assert result.ddl == case.ddl[dialect]
    for fragment in case.fragments.get(dialect, []):
        assert fragment in result.ddl, f"missing {fragment!r} in\n{result.ddl}"
    assert result.explanation and all(s.endswith(".") for s in result.explanation)
    for statement in result.statements:  # every statement reads back as itself, never as an opaque Command
        parsed = sqlglot.parse_one(statement, read=dialect)
        assert not parsed.find(exp.Command) and parsed.sql(dialect=dialect) == statement


# --- the engines ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chdb_warehouse(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    warehouse = connect(f"chdb:///{tmp_path_factory.mktemp('ddl-chdb')}")
    yield warehouse
    warehouse.close()


@pytest.mark.parametrize("name", list(CASES))
def test_clickhouse_ddl_runs_on_chdb(name: str, chdb_warehouse) -> None:  # noqa: ANN001
    result = generate_ddl(CASES[name].schema, "clickhouse")
    for statement in result.statements:
        chdb_warehouse.execute(statement)
    types = {c.name: c.type for c in chdb_warehouse.columns(result.table)}
    assert list(types) == [c.identifier for c in CASES[name].schema.columns]
    for column, expected in CASES[name].engine_types["clickhouse"].items():
        assert types[column] == expected, column


@pytest.mark.parametrize("name", list(CASES))
def test_sqlite_ddl_runs_on_sqlite(name: str, tmp_path: Path) -> None:
    result = generate_ddl(CASES[name].schema, "sqlite")
    with sqlite3.connect(tmp_path / "ddl.db") as conn:
        for statement in result.statements:
            conn.execute(statement)
        info = conn.execute(f'PRAGMA table_info("{result.table}")').fetchall()
    types = {row[1]: row[2] for row in info}
    not_null = {row[1] for row in info if row[3]}
    assert list(types) == [c.identifier for c in CASES[name].schema.columns]
    assert not_null == {c.identifier for c in CASES[name].schema.columns if not c.nullable}
    for column, expected in CASES[name].engine_types["sqlite"].items():
        assert types[column] == expected, column


@pytest.fixture
def pg(pg_schema: str):  # noqa: ANN201, F811 - the session fixture imported above
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(pg_schema)))
        yield conn


def _pg_columns(conn: psycopg.Connection, table: str) -> dict[str, tuple[str, bool]]:
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (table,)).fetchall()
    return {name: (type_, not_null) for name, type_, not_null in rows}


@pytest.mark.postgres
@pytest.mark.parametrize("name", list(CASES))
def test_postgres_ddl_runs_on_postgres(name: str, pg: psycopg.Connection) -> None:
    result = generate_ddl(CASES[name].schema, "postgres")
    for statement in result.statements:
        pg.execute(statement)
    columns = _pg_columns(pg, result.table)
    assert list(columns) == [c.identifier for c in CASES[name].schema.columns]
    for column in CASES[name].schema.columns:
        assert columns[column.identifier][1] == (not column.nullable), column.identifier
    for column, expected in CASES[name].engine_types["postgres"].items():
        assert columns[column][0] == expected, column


@pytest.mark.postgres
def test_partitioned_postgres_table_accepts_rows_in_range(pg: psycopg.Connection) -> None:
    result = generate_ddl(EVENTS, "postgres", table="events_partitioned")
    for statement in result.statements:
        pg.execute(statement)
    insert = ("INSERT INTO events_partitioned (event_id, event_time, region, status, user_id, quantity, "
              "amount, payload) VALUES (gen_random_uuid(), %s, 'eu', 'paid', 7, 2, 9.99, '{}')")
    for moment in ("2023-01-01 00:00:00", "2023-06-15 12:30:00.250", "2024-12-31 23:59:59.999",
                   "2026-03-01 00:00:00"):
        pg.execute(insert, (moment,))
    placed = dict(pg.execute("SELECT tableoid::regclass::text, count(*) FROM events_partitioned "
                             "GROUP BY 1").fetchall())
    assert placed == {"events_partitioned_p202301": 1, "events_partitioned_p202306": 1,
                      "events_partitioned_p202412": 1, "events_partitioned_default": 1}
    partitions = pg.execute("SELECT count(*) FROM pg_inherits "
                            "WHERE inhparent = 'events_partitioned'::regclass").fetchone()[0]
    assert partitions == 24 + 1


# --- design choices and their explanations ------------------------------------------------------------------

def test_explanation_cites_the_evidence_for_each_choice() -> None:
    text = " ".join(generate_ddl(EVENTS, "clickhouse").explanation)
    assert "ascending cardinality (status 4, region 12)" in text
    assert "50,000,000 rows over 24 months gives 24 partitions" in text
    assert "LowCardinality for region (12), status (4)" in text
    assert "Nullable only for note" in text
    small = " ".join(generate_ddl(CUSTOMERS, "clickhouse").explanation)
    assert "No partitioning: 500 rows is below the ~10,000,000" in small
    short = dataset("short", 20_000_000, col("day", "date", distinct=40, min="2024-01-01", max="2024-02-09"))
    assert "day spans only 2 month(s)" in " ".join(generate_ddl(short, "clickhouse").explanation)
    pg_text = " ".join(generate_ddl(EVENTS, "postgres").explanation)
    assert "must include the partition column event_time" in pg_text
    assert "reference users.user_id" in pg_text


def test_small_table_is_never_partitioned_and_sort_key_stays_short() -> None:
    many_dimensions = dataset("facts", 5_000, *(col(f"dim_{i}", "string", distinct=10 + i) for i in range(8)),
                              col("day", "date", distinct=300, min="2024-01-01", max="2024-10-31"))
    result = generate_ddl(many_dimensions, "clickhouse")
    assert 'ORDER BY ("dim_0", "dim_1", "dim_2", "day")' in result.ddl
    assert "PARTITION BY" not in result.ddl
    assert "PARTITION BY" not in generate_ddl(many_dimensions, "postgres").ddl


def test_unique_id_is_the_sort_key_only_when_nothing_better_exists() -> None:
    keyed = dataset("things", 100, col("thing_id", "integer", distinct=100, unique=True, int_bits=8,
                                       signed=False), col("weight", "float", distinct=100))
    assert 'ORDER BY "thing_id"' in generate_ddl(keyed, "clickhouse").ddl
    assert '"event_id"' not in generate_ddl(EVENTS, "clickhouse").ddl.split("ORDER BY")[1]


def test_recommends_clickhouse_for_a_big_append_only_fact_table() -> None:
    result = generate_ddl(EVENTS, None)
    assert result.recommendation is not None and result.recommendation.dialect == "clickhouse"
    assert result.dialect == "clickhouse" and "ENGINE=MergeTree" in result.ddl
    reason = result.recommendation.reason
    assert "50,000,000 rows" in reason and "event_time" in reason and "region" in reason
    assert 2 <= reason.count(". ") + 1 <= 3


def test_recommends_postgres_for_a_small_keyed_customer_table() -> None:
    result = generate_ddl(CUSTOMERS, None)
    assert result.recommendation is not None and result.recommendation.dialect == "postgres"
    assert result.dialect == "postgres" and 'PRIMARY KEY ("customer_id")' in result.ddl
    reason = result.recommendation.reason
    assert "500 rows" in reason and "customer_id" in reason and "updated_at" in reason and "status" in reason


def test_table_names_are_sanitized() -> None:
    result = generate_ddl(CUSTOMERS, "postgres", table='Bad"; DROP TABLE x; --')
    assert result.table == "bad_drop_table_x"
    assert result.statements[0].startswith('CREATE TABLE "bad_drop_table_x" (')
    assert any("normalized to bad_drop_table_x" in s for s in result.explanation)


def test_unknown_dialect_and_empty_schema_are_clear_tool_errors() -> None:
    with pytest.raises(ToolError, match="Unknown dialect 'oracle'; use one of clickhouse, postgres, sqlite"):
        generate_ddl(CUSTOMERS, "oracle")
    assert resolve_target("PostgreSQL").name == "postgres" and resolve_target("chdb").name == "clickhouse"
    with pytest.raises(ToolError, match="has no columns"):
        generate_ddl(dataset("empty", 0), "sqlite")


def test_a_statement_sqlglot_cannot_read_back_is_refused() -> None:
    with pytest.raises(EtlError, match="round trip"):
        render(exp.Command(this="VACUUM", expression=exp.Literal.string("x")), "postgres")


# --- the generate_ddl tool ----------------------------------------------------------------------------------

def test_tool_generates_ddl_for_a_catalog_dataset(tmp_path: Path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog.save_dataset("default", CUSTOMERS)
    ctx = ToolContext(settings=Settings(data_dir=tmp_path), _overrides={"catalog": catalog})
    tool = get_tool("generate_ddl")
    result = tool.run(ctx, {"dataset": "customers", "dialect": "postgres", "table": "crm_customers"})
    assert result == generate_ddl(CUSTOMERS, "postgres", "crm_customers")
    recommended = tool.run(ctx, {"dataset": "customers"})
    assert recommended.recommendation is not None and recommended.dialect == "postgres"
    with pytest.raises(ToolError, match=r"^Unknown dataset 'custmers'; known datasets: customers\.$"):
        tool.run(ctx, {"dataset": "custmers"})
    other_tenant = ToolContext(settings=ctx.settings, tenant="acme", _overrides={"catalog": catalog})
    with pytest.raises(ToolError, match="none yet: upload or inspect a file first"):
        tool.run(other_tenant, {"dataset": "customers"})


def test_only_values_that_repeat_make_a_sort_key_dimension() -> None:
    sales = dataset("sales", 5_000, col("channel", "string", distinct=2),
                    col("customer_email", "string", distinct=2_400),
                    col("sold_at", "datetime", distinct=5_000, min="2024-01-01T00:00:00",
                        max="2024-10-01T00:00:00"))
    result = generate_ddl(sales, "clickhouse")
    assert 'ORDER BY ("channel", "sold_at")' in result.ddl
    assert '"customer_email" LowCardinality(String)' in result.ddl  # still under 10k distinct values
    assert "customer_email" not in generate_ddl(sales, None).recommendation.reason


def test_integer_widths_from_details_or_the_observed_range() -> None:
    ints = dataset("ints", 10, col("odd_width", "integer", int_bits=24), col("from_range", "integer", min="1",
                   max="300"), col("negative", "integer", min="-5", max="100"),
                   col("beyond_256", "integer", int_bits=512, signed=False))
    assert generate_ddl(ints, "clickhouse").statements[0].startswith(
        'CREATE TABLE "ints" ("odd_width" Int32, "from_range" UInt16, "negative" Int8, "beyond_256" String)')
    assert '"beyond_256" DECIMAL(155, 0)' in generate_ddl(ints, "postgres").ddl


def test_keys_get_32_bit_headroom_and_postgres_keeps_numeric_and_text_open() -> None:
    small = dataset("items", 100, col("item_id", "integer", distinct=100, unique=True, min="1", max="100"),
                    col("shop_id", "integer", distinct=5, min="1", max="5"),
                    col("qty", "integer", distinct=9, min="1", max="9"),
                    col("code", "string", distinct=3, max_length=2),
                    col("price", "decimal", distinct=50, precision=5, scale=2))
    clickhouse = generate_ddl(small, "clickhouse")
    assert '"item_id" UInt32' in clickhouse.ddl and '"shop_id" UInt32' in clickhouse.ddl
    assert '"qty" UInt8' in clickhouse.ddl  # a measure keeps the smallest width
    assert any("ids grow" in line and "item_id" in line for line in clickhouse.explanation)
    postgres = generate_ddl(small, "postgres")
    assert '"item_id" INT NOT NULL' in postgres.ddl and '"shop_id" INT NOT NULL' in postgres.ddl
    assert '"code" TEXT NOT NULL' in postgres.ddl  # no VARCHAR(2) that the next longer code would break
    assert '"price" DECIMAL(18, 2) NOT NULL' in postgres.ddl
