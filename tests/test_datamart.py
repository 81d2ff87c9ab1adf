"""design_datamart: words -> spec, definitions executed on chDB and the local PostgreSQL, totals equal to the
same aggregates computed in Python from the source CSV, kept current on insert / by refresh."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from etl_assistant.datamart import DatamartSpec, Measure, build_definition, parse_request
from etl_assistant.errors import ToolError
from etl_assistant.schema.model import DatasetSchema
from tests.support.datasets import column
from tests.support.deploy_env import (  # noqa: F401 - pytest fixture
    ENGINES,
    DeployEnv,
    close_env,
    deploy_pg_schema,
    make_env,
    revenue_by,
    source_rows,
)


@pytest.fixture(params=ENGINES)
def env(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201 - DeployEnv generator
    made = make_env(request.param, tmp_path, request)
    yield made
    close_env(made)


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> DatasetSchema:
    from etl_assistant.config import Settings
    from etl_assistant.evals.sample_data import write_retail
    from etl_assistant.tools import get_tool
    from etl_assistant.tools.base import ToolContext

    root = tmp_path_factory.mktemp("words")
    files = write_retail(root, orders=500)
    ctx = ToolContext(settings=Settings(data_dir=root / "data", allowed_roots=[root], _env_file=None))
    return get_tool("infer_schema").run(ctx, {"path": str(files["orders"])})


WORDS = [
    (
        "daily revenue and order count per region from orders",
        "day",
        "order_date",
        ["region"],
        [("revenue", "sum", "amount"), ("order_count", "count", None)],
    ),
    (
        "monthly average amount by channel",
        "month",
        "order_date",
        ["channel"],
        [("avg_amount", "avg", "amount")],
    ),
    (
        "weekly total quantity per status and region",
        "week",
        "order_date",
        ["status", "region"],
        [("total_quantity", "sum", "quantity")],
    ),
    (
        "number of distinct customers per region",
        None,
        None,
        ["region"],
        [("distinct_customer_id", "count_distinct", "customer_id")],
    ),
    (
        "max amount and min discount by region",
        None,
        None,
        ["region"],
        [("max_amount", "max", "amount"), ("min_discount", "min", "discount")],
    ),
    ("sales per day by region", "day", "order_date", ["region"], [("sales", "sum", "amount")]),
    ("orders per month by channel", "month", "order_date", ["channel"], [("order_count", "count", None)]),
    ("daily revenue by region by order_ts", "day", "order_ts", ["region"], [("revenue", "sum", "amount")]),
]


@pytest.mark.parametrize(("text", "grain", "time_column", "dimensions", "measures"), WORDS)
def test_words_become_a_spec_linked_to_columns(
    orders: DatasetSchema,
    text: str,
    grain: str | None,
    time_column: str | None,
    dimensions: list[str],
    measures: list[tuple],
) -> None:
    spec = parse_request(text, orders)
    assert (spec.dataset, spec.grain, spec.time_column, spec.dimensions) == (
        "orders",
        grain,
        time_column,
        dimensions,
    )
    assert [(m.name, m.agg, m.column) for m in spec.measures] == measures


def test_default_name_says_what_it_holds(orders: DatasetSchema) -> None:
    assert parse_request("daily revenue per region", orders).name == "daily_revenue_by_region"
    assert parse_request("daily revenue per region", orders, name="rev").name == "rev"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("daily revenue per id", ["order_id", "customer_id", "product_id"]),  # several columns fit 'id'
        ("daily revenue per planet", ["region", "channel", "status"]),  # nothing fits: the columns are listed
        ("average region by channel", ["amount", "quantity"]),  # avg needs a numeric column
    ],
)
def test_ambiguous_or_unknown_words_name_the_candidates(
    orders: DatasetSchema, text: str, named: list[str]
) -> None:
    with pytest.raises(ToolError) as error:
        parse_request(text, orders)
    assert all(name in str(error.value) for name in named)
    assert "\n" not in str(error.value)


def test_two_date_columns_without_a_hint_are_ambiguous() -> None:
    schema = DatasetSchema(
        name="events",
        source="/tmp/events.csv",
        format="csv",
        row_count=0,
        columns=[
            column("created_on", "date"),
            column("shipped_on", "date"),
            column("amount", "decimal", precision=9, scale=2),
        ],
    )
    with pytest.raises(ToolError, match="created_on, shipped_on"):
        parse_request("daily amount", schema)
    assert parse_request("daily amount by shipped_on", schema).time_column == "shipped_on"


def test_no_measure_is_a_clear_error(orders: DatasetSchema) -> None:
    with pytest.raises(ToolError, match="no measure"):
        parse_request("per region", orders)


def _statements(definition) -> list[str]:  # noqa: ANN001 - DatamartDefinition
    return [
        *definition.create,
        *filter(None, [definition.backfill]),
        *definition.keep_current,
        definition.read_query,
        *definition.view,
    ]


def test_every_statement_round_trips_through_sqlglot(orders: DatasetSchema) -> None:
    spec = parse_request("daily revenue and average quantity per region", orders).model_copy(
        update={"with_view": True}
    )
    for dialect in ("clickhouse", "postgres"):
        definition = build_definition(spec, orders, dialect, "orders")
        for statement in _statements(definition):
            parsed = sqlglot.parse_one(statement, read=dialect)
            assert not isinstance(parsed, exp.Command) and parsed.sql(dialect=dialect) == statement
    pg = build_definition(spec, orders, "postgres", "orders")
    assert pg.refresh == 'REFRESH MATERIALIZED VIEW CONCURRENTLY "daily_revenue_by_region"'
    assert pg.create[1].startswith("CREATE UNIQUE INDEX") and '("day", "region")' in pg.create[1]


def test_engine_choice_follows_the_measures(orders: DatasetSchema) -> None:
    sums = build_definition(
        parse_request("daily revenue and order count per region", orders), orders, "clickhouse", "orders"
    )
    assert sums.engine == "SummingMergeTree" and "sum(" in sums.read_query
    states = build_definition(
        parse_request("daily average amount per region", orders), orders, "clickhouse", "orders"
    )
    assert states.engine == "AggregatingMergeTree" and "avgState(" in states.backfill
    assert "avgMerge(" in states.read_query and "AggregateFunction(avg" in states.create[0]
    nullable_sum = build_definition(
        parse_request("daily total discount per region", orders), orders, "clickhouse", "orders"
    )
    assert nullable_sum.engine == "AggregatingMergeTree"  # discount has nulls: no SummingMergeTree
    assert 'TO "daily_total_discount_by_region"' in nullable_sum.keep_current[1]


def _build(env: DeployEnv, spec: DatamartSpec) -> object:
    definition = env.tool("design_datamart", spec=spec.model_dump()).definition
    for statement in [
        *definition.create,
        *filter(None, [definition.backfill]),
        *definition.keep_current,
        *definition.view,
    ]:
        env.warehouse.execute(statement)
    return definition


def _rows(env: DeployEnv, query: str) -> list[tuple]:
    return env.warehouse.query(query, read_only=False).rows


def test_datamart_totals_equal_the_source_and_stay_current(env: DeployEnv) -> None:
    env.tool("load_table", dataset="orders")
    design = env.tool(
        "design_datamart", request="daily revenue and order count per region from orders", with_view=True
    )
    assert design.spec.name == "daily_revenue_by_region"
    definition = _build(env, design.spec)
    expected = revenue_by(source_rows(env.files["orders"]), "order_date", "region")
    got = {
        (str(day), region): (Decimal(str(revenue)), count)
        for day, region, revenue, count in _rows(env, definition.read_query)
    }
    assert got == expected
    view = {
        (str(r[0]), r[1]): (Decimal(str(r[2])), r[3])
        for r in _rows(env, 'SELECT * FROM "daily_revenue_by_region_view"')
    }
    assert view == expected

    # new rows in the source: ClickHouse's materialized view adds them on insert, PostgreSQL on refresh
    _copy_orders(env, source_rows(env.files["orders"]), up_to=40)
    if definition.refresh:
        env.warehouse.execute(definition.refresh)
    doubled = source_rows(env.files["orders"])
    doubled += [r for r in doubled if int(r["order_id"]) <= 40]
    got = {
        (str(day), region): (Decimal(str(revenue)), count)
        for day, region, revenue, count in _rows(env, definition.read_query)
    }
    assert got == revenue_by(doubled, "order_date", "region")


def test_aggregating_states_average_distinct_and_filters(env: DeployEnv) -> None:
    env.tool("load_table", dataset="orders")
    spec = DatamartSpec(
        name="region_stats",
        dataset="orders",
        grain="month",
        time_column="order_date",
        dimensions=["region"],
        measures=[
            Measure(name="avg_amount", agg="avg", column="amount"),
            Measure(name="customers", agg="count_distinct", column="customer_id"),
            Measure(name="biggest", agg="max", column="amount"),
            Measure(name="discounts", agg="sum", column="discount"),
        ],
        filters=[{"column": "status", "op": "=", "value": "completed"}],
    )
    definition = _build(env, spec)
    rows = source_rows(env.files["orders"])
    _assert_region_stats(env, definition.read_query, rows)
    # more rows: aggregate states merge them in (ClickHouse on insert, PostgreSQL on refresh)
    _copy_orders(env, rows, up_to=300)
    if definition.refresh:
        env.warehouse.execute(definition.refresh)
    _assert_region_stats(env, definition.read_query, rows + [r for r in rows if int(r["order_id"]) <= 300])


def _copy_orders(env: DeployEnv, rows: list[dict[str, str]], up_to: int) -> None:
    """Insert copies of the first orders under new ids (the test's own SQL, straight to the engine)."""
    copied = ", ".join('"order_id" + 1000000' if c == "order_id" else f'"{c}"' for c in rows[0])
    env.warehouse.execute(f'INSERT INTO "orders" SELECT {copied} FROM "orders" WHERE "order_id" <= {up_to}')


def _assert_region_stats(env: DeployEnv, read_query: str, source: list[dict[str, str]]) -> None:
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in source:
        if row["status"] == "completed":
            groups[(row["order_date"][:7] + "-01", row["region"])].append(row)
    got = {(str(r[0]), r[1]): r[2:] for r in _rows(env, read_query)}
    assert set(got) == set(groups)
    for key, members in groups.items():
        amounts = [Decimal(r["amount"]) for r in members]
        avg, customers, biggest, discounts = got[key]
        assert float(avg) == pytest.approx(float(sum(amounts) / len(amounts)), rel=1e-9)
        assert customers == len({r["customer_id"] for r in members})
        assert Decimal(str(biggest)) == max(amounts)
        assert Decimal(str(discounts or 0)) == sum(Decimal(r["discount"] or 0) for r in members)


def test_design_without_a_dataset_picks_the_one_that_fits(env: DeployEnv) -> None:
    out = env.tool("design_datamart", request="weekly revenue per region")
    assert out.spec.dataset == "orders"  # customers has a region but nothing that is revenue
    with pytest.raises(ToolError, match="customers, orders|orders, customers"):
        env.tool("design_datamart", request="count per region")
    with pytest.raises(ToolError, match="Unknown dataset 'shipments'"):
        env.tool("design_datamart", request="daily revenue per region from shipments")
    assert env.tool(
        "design_datamart", request="monthly revenue per region", dialect="postgres"
    ).definition.refresh


def test_design_refuses_sqlite_and_an_empty_request(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    made = make_env("chdb", tmp_path, request, orders=200)
    try:
        with pytest.raises(ToolError, match="ClickHouse or PostgreSQL, not sqlite"):
            made.tool("design_datamart", request="daily revenue per region", dialect="sqlite")
        with pytest.raises(ToolError, match="Describe the datamart"):
            made.tool("design_datamart")
    finally:
        close_env(made)
