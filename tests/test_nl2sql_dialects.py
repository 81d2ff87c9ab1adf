"""The parser on a schema it has never seen (flights + carriers, written here), rendered for every engine:
chDB (ClickHouse), SQLite and PostgreSQL. The tables are inferred and loaded through the real tools; expected
answers come from DuckDB over the same CSV files."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from etl_assistant.config import Settings
from etl_assistant.errors import ToolError
from etl_assistant.evals.nl2sql import results_match
from etl_assistant.nl2sql.parser import HIGH_CONFIDENCE
from etl_assistant.nl2sql.service import ask
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse.catalog import Catalog
from tests.support.postgres import pg_schema  # noqa: F401 - pytest fixture
from tests.support.warehouses import ENGINES, clickhouse_fake_fixture, open_warehouse  # noqa: F401 - fixture

TODAY = date(2024, 12, 20)
CARRIERS = [
    ("UA", "United Airlines", "US"),
    ("LH", "Lufthansa", "DE"),
    ("AF", "Air France", "FR"),
    ("DL", "Delta Air Lines", "US"),
    ("BA", "British Airways", "GB"),
]
AIRPORTS = ["JFK", "LAX", "FRA", "CDG", "LHR", "ORD"]


def write_flights(root: Path, rows: int = 1500) -> None:
    rng = random.Random(11)
    with (root / "carriers.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["carrier_code", "carrier_name", "home_country"])
        writer.writerows(CARRIERS)
    with (root / "flights.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "flight_id",
                "carrier_code",
                "origin",
                "dest",
                "dep_delay_min",
                "distance_km",
                "flight_date",
                "cancelled",
            ]
        )
        for flight_id in range(1, rows + 1):
            origin, dest = rng.sample(AIRPORTS, 2)
            day = date(2024, 1, 1) + timedelta(days=rng.randint(0, 365))
            writer.writerow(
                [
                    flight_id,
                    rng.choice(CARRIERS)[0],
                    origin,
                    dest,
                    max(-10, int(rng.gauss(10, 30))),
                    rng.randint(300, 9000),
                    day.isoformat(),
                    "true" if rng.random() < 0.05 else "false",
                ]
            )


@pytest.fixture(params=ENGINES)
def flights(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ToolContext, duckdb.DuckDBPyConnection]]:
    write_flights(tmp_path)
    warehouse = open_warehouse(request.param, tmp_path, request)
    before = set(warehouse.tables())
    ctx = ToolContext(
        settings=Settings(allowed_roots=[tmp_path], data_dir=tmp_path / "data", _env_file=None),
        tenant="flights",
        _overrides={"warehouse": warehouse, "catalog": Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")},
    )
    for name in ("carriers", "flights"):
        get_tool("infer_schema").run(ctx, {"path": str(tmp_path / f"{name}.csv")})
        get_tool("load_table").run(ctx, {"dataset": name})
    oracle = duckdb.connect()
    for name in ("carriers", "flights"):
        oracle.execute(f"CREATE VIEW {name} AS SELECT * FROM read_csv_auto('{tmp_path / name}.csv')")
    yield ctx, oracle
    oracle.close()
    for table in set(warehouse.tables()) - before:
        warehouse.drop_table(table)
    warehouse.close()


QUESTIONS = [
    ("how many flights", "SELECT count(*) FROM flights"),
    ("average delay by carrier", "SELECT carrier_code, avg(dep_delay_min) FROM flights GROUP BY 1"),
    (
        "average departure delay per carrier name",
        "SELECT c.carrier_name, avg(f.dep_delay_min) FROM flights f JOIN carriers c USING (carrier_code) "
        "GROUP BY 1",
    ),
    (
        "flights to LAX last month",
        "SELECT count(*) FROM flights WHERE dest = 'LAX' "
        "AND flight_date BETWEEN '2024-11-01' AND '2024-11-30'",
    ),
    ("how many flights from JFK", "SELECT count(*) FROM flights WHERE origin = 'JFK'"),
    ("how many destinations", "SELECT count(DISTINCT dest) FROM flights"),
    ("flights with a delay over 60 minutes", "SELECT count(*) FROM flights WHERE dep_delay_min > 60"),
    ("how many cancelled flights", "SELECT count(*) FROM flights WHERE cancelled"),
    (
        "share of flights that were cancelled",
        "SELECT 100.0 * count(*) FILTER (WHERE cancelled) / count(*) FROM flights",
    ),
    (
        "average delay for Lufthansa",
        "SELECT avg(dep_delay_min) FROM flights f JOIN carriers c USING (carrier_code) "
        "WHERE c.carrier_name = 'Lufthansa'",
    ),
    (
        "total distance by origin in Q3 2024",
        "SELECT origin, sum(distance_km) FROM flights "
        "WHERE flight_date BETWEEN '2024-07-01' AND '2024-09-30' GROUP BY 1",
    ),
    ("flights per month", "SELECT date_trunc('month', flight_date), count(*) FROM flights GROUP BY 1"),
    (
        "how many flights by US carriers",
        "SELECT count(*) FROM flights f JOIN carriers c USING (carrier_code) WHERE c.home_country = 'US'",
    ),
]
RANKED = [
    (
        "top 3 origins by number of flights",
        "SELECT origin, count(*) n FROM flights GROUP BY 1 ORDER BY n DESC LIMIT 3",
    ),
    (
        "which carrier has the longest average delay",
        "SELECT carrier_code, avg(dep_delay_min) a FROM flights GROUP BY 1 ORDER BY a DESC LIMIT 1",
    ),
]


def _check(
    ctx: ToolContext, oracle: duckdb.DuckDBPyConnection, question: str, sql: str, ordered: bool, previous=None
) -> object:  # noqa: ANN001
    answer = ask(ctx, question, today=TODAY, previous=previous, limit=1000)
    parse = answer.translation.parse
    assert parse.clarify is None, (question, parse.clarify)
    expected = oracle.execute(sql).fetchall()
    assert results_match(expected, [tuple(r) for r in answer.rows], ordered), (
        ctx.warehouse.dialect,
        question,
        answer.translation.sql,
        answer.rows[:4],
        expected[:4],
    )
    return answer


def test_unseen_schema_on_every_engine(flights) -> None:  # noqa: ANN001
    ctx, oracle = flights
    for question, sql in QUESTIONS:
        _check(ctx, oracle, question, sql, ordered=False)
    for question, sql in RANKED:
        _check(ctx, oracle, question, sql, ordered=True)


def test_follow_up_and_clarification_on_every_engine(flights) -> None:  # noqa: ANN001
    ctx, oracle = flights
    first = _check(
        ctx,
        oracle,
        "flights per month",
        "SELECT date_trunc('month', flight_date), count(*) FROM flights GROUP BY 1",
        ordered=False,
    )
    _check(
        ctx,
        oracle,
        "only united",
        "SELECT date_trunc('month', flight_date), count(*) FROM flights f "
        "JOIN carriers c USING (carrier_code) WHERE c.carrier_name = 'United Airlines' GROUP BY 1",
        ordered=False,
        previous=first.translation.parse,
    )
    longest = ask(ctx, "longest flight", today=TODAY).translation.parse
    assert longest.clarify and "dep_delay_min or distance_km" in longest.clarify
    vague = ask(ctx, "what is the average", today=TODAY).translation.parse
    assert vague.clarify and "dep_delay_min or distance_km" in vague.clarify
    missing = ask(ctx, "profit by origin", today=TODAY).translation.parse
    assert missing.clarify.startswith("I don't have 'profit'") and "dep_delay_min" in missing.clarify
    assert missing.confidence < HIGH_CONFIDENCE


def test_median_per_dialect(flights) -> None:  # noqa: ANN001
    ctx, oracle = flights
    if ctx.warehouse.dialect == "sqlite":
        with pytest.raises(ToolError, match="median is not available on SQLite"):
            ask(ctx, "median delay", today=TODAY)
        return
    _check(
        ctx, oracle, "median delay", "SELECT quantile_cont(dep_delay_min, 0.5) FROM flights", ordered=False
    )


def test_timeout_says_so_and_suggests_narrowing(flights) -> None:  # noqa: ANN001
    ctx, _ = flights
    if ctx.warehouse.dialect != "sqlite":
        pytest.skip("only SQLite can stop a query within microseconds (the others round up to a second)")
    hurried = ToolContext(
        settings=ctx.settings.model_copy(update={"query_timeout_s": 1e-6}),
        tenant=ctx.tenant,
        _overrides=ctx._overrides,
    )
    with pytest.raises(ToolError, match=r"ran longer than .*narrow it down"):
        ask(hurried, "average delay by carrier and month", today=TODAY)
