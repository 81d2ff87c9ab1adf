"""The pipeline room's pure parts: transforms as sqlglot, retry classification, scheduler slots, lifespan."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from etl_assistant.config import Settings
from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.pipelines.retry import backoff_s, is_transient
from etl_assistant.pipelines.scheduler import due_slot
from etl_assistant.pipelines.spec import PipelineSpec, Transform
from etl_assistant.pipelines.transforms import project
from etl_assistant.server import create_app


def test_transforms_render_as_one_select_in_both_dialects() -> None:
    projection = project(["id", "amount", "note"], [
        Transform(kind="rename", column="note", to="comment"),
        Transform(kind="filter", expression="comment <> 'x' AND amount > 0"),
        Transform(kind="derive", to="doubled", expression="amount * 2"),
        Transform(kind="dedupe", columns=["comment"])])
    from sqlglot import exp

    select = projection.select(exp.to_table("sales"), order_for_dedupe="id")
    assert select.sql("postgres") == (
        'SELECT "id", "amount", "comment", "doubled" FROM (SELECT "id", "amount", "note" AS "comment", '
        '"amount" * 2 AS "doubled", ROW_NUMBER() OVER (PARTITION BY "note" ORDER BY "id" DESC NULLS LAST) AS '
        '_etla_rank FROM sales WHERE "note" <> \'x\' AND "amount" > 0) AS _etla_ranked WHERE _etla_rank = 1')
    assert "ROW_NUMBER() OVER (PARTITION BY \"note\"" in select.sql("clickhouse")


@pytest.mark.parametrize("expression, message", [
    ("nosuch > 1", "refers to column 'nosuch'"),
    ("(SELECT max(id) FROM t)", "only use the columns and values of one row"),
    ("sum(amount)", "only use the columns and values of one row"),
    ("a, b", "must be one expression"),
])
def test_bad_transform_expressions_are_one_sentence(expression: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        project(["id", "amount"], [Transform(kind="filter", expression=expression)])


def test_a_rename_to_an_existing_column_and_reserved_names_are_refused() -> None:
    with pytest.raises(ToolError, match="clashes with the existing column id"):
        project(["id", "amount"], [Transform(kind="rename", column="amount", to="id")])
    with pytest.raises(ToolError, match="reserved"):
        project(["id"], [Transform(kind="derive", to="_etla_batch", expression="id")])


def _psycopg_error(sqlstate: str) -> psycopg.Error:
    error = psycopg.errors.lookup(sqlstate)("boom")
    return error


def test_transient_failures_are_retried_permanent_ones_are_not() -> None:
    assert is_transient(_psycopg_error("40001"))  # serialization failure
    assert is_transient(_psycopg_error("40P01"))  # deadlock
    assert not is_transient(_psycopg_error("42703"))  # undefined column
    assert not is_transient(_psycopg_error("42501"))  # insufficient privilege
    refused = WarehouseError("Cannot reach the source shop: connection refused.")
    refused.__cause__ = psycopg.OperationalError("connection to server failed: Connection refused")
    assert is_transient(refused)
    assert is_transient(WarehouseError("chDB refused a generated statement: Timeout exceeded: elapsed 30 s."))
    assert not is_transient(WarehouseError("chDB refused a generated statement: Unknown expression "
                                           "identifier `x` (UNKNOWN_IDENTIFIER)."))
    assert not is_transient(ToolError("The source of pipeline p no longer gives column(s) region."))
    assert [backoff_s(n, 0.5) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def _spec(cron: str, timezone: str, paused: bool = False) -> PipelineSpec:
    return PipelineSpec.model_validate({"name": "p", "source": {"connection": "shop", "table": "t"},
                                        "target_table": "t", "schedule": {"cron": cron, "timezone": timezone},
                                        "paused": paused})


def test_the_due_slot_is_the_latest_cron_time_in_the_schedules_zone() -> None:
    now = datetime(2026, 7, 1, 12, 0, 30, tzinfo=UTC)
    assert due_slot(_spec("0 2 * * *", "UTC"), now) == datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
    assert due_slot(_spec("0 2 * * *", "America/New_York"), now) == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
    assert due_slot(_spec("*/15 * * * *", "UTC"), now) == datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    exact = datetime(2026, 7, 1, 12, 15, tzinfo=UTC)
    assert due_slot(_spec("*/15 * * * *", "UTC"), exact) == exact
    assert due_slot(_spec("0 2 * * *", "UTC", paused=True), now) is None


def test_the_server_lifespan_starts_and_stops_the_scheduler(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path], _env_file=None)
    app = create_app(settings)
    with TestClient(app):
        scheduler = app.state.scheduler
        assert scheduler._task is not None and not scheduler._task.done()
    assert scheduler._task is None
    off = create_app(Settings(data_dir=tmp_path / "data", scheduler=False, _env_file=None))
    with TestClient(off):
        assert not hasattr(off.state, "scheduler")
