"""The pipeline store on both catalog engines: specs, runs, cursor state, slots and the file manifest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.pipelines.spec import PipelineSpec, validate_spec
from etl_assistant.pipelines.store import LoadedFile, PipelineStore, decode_cursor, encode_cursor
from etl_assistant.warehouse.catalog import Catalog
from tests.support.postgres import schema_url, temporary_schema


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PipelineStore]:
    if request.param == "sqlite":
        yield PipelineStore(Catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))
        return
    with temporary_schema("etla_pipe_store") as schema:
        catalog = Catalog(schema_url(schema))
        yield PipelineStore(catalog)
        catalog.engine.dispose()


def _spec(name: str = "sales_sync", tenant: str = "default", **extra: object) -> PipelineSpec:
    return PipelineSpec.model_validate({
        "name": name, "tenant": tenant, "source": {"connection": "shop", "table": "sales"},
        "target_table": "sales", "mode": "incremental", "cursor": "updated_at", "primary_key": ["id"],
        "schedule": {"cron": "0 2 * * *", "timezone": "UTC"}, **extra})


def test_save_get_list_delete_are_tenant_scoped(store: PipelineStore) -> None:
    store.save(_spec())
    store.save(_spec(tenant="other", mode="full_refresh"))
    assert store.get("default", "sales_sync").mode == "incremental"
    assert store.get("other", "sales_sync").mode == "full_refresh"
    assert [s.name for s in store.list("default")] == ["sales_sync"]
    store.save(_spec(lag=60))
    assert store.get("default", "sales_sync").lag == 60
    assert store.delete("default", "sales_sync") is True
    assert store.get("default", "sales_sync") is None
    assert store.get("other", "sales_sync") is not None
    with pytest.raises(ToolError, match="no pipeline named 'sales_sync'"):
        store.require("default", "sales_sync")


def test_pause_is_stored(store: PipelineStore) -> None:
    store.save(_spec())
    assert store.set_paused("default", "sales_sync", True).paused
    assert store.get("default", "sales_sync").paused


def test_runs_record_rows_cursor_and_errors_newest_first(store: PipelineStore) -> None:
    store.save(_spec())
    first = store.start_run("default", "sales_sync", "manual", None)
    store.finish_run(first, "succeeded", rows_read=10, rows_written=10,
                     cursor_after=datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC))
    second = store.start_run("default", "sales_sync", "schedule", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    store.finish_run(second, "failed", error="The source is down.", attempts=3)
    runs = store.runs("default", "sales_sync")
    assert [r.status for r in runs] == ["failed", "succeeded"]
    assert runs[1].cursor_after == "2026-01-02T03:04:05.123456+00:00"
    assert runs[1].rows_written == 10 and runs[1].ended_at is not None
    assert runs[0].error == "The source is down." and runs[0].attempts == 3
    assert store.runs("other", "sales_sync") == []


def test_running_rows_left_by_a_dead_process_become_interrupted(store: PipelineStore) -> None:
    store.save(_spec())
    store.start_run("default", "sales_sync", "cli", None)
    assert store.mark_interrupted("default", "sales_sync") == 1
    assert store.runs("default", "sales_sync")[0].status == "interrupted"


def test_cursor_commits_in_batch_order(store: PipelineStore) -> None:
    store.save(_spec())
    assert store.state("default", "sales_sync").batch == 0
    stamp = datetime(2026, 5, 1, 12, 0, 0, 999999, tzinfo=UTC)
    store.commit_batch("default", "sales_sync", 1, stamp)
    state = store.state("default", "sales_sync")
    assert (state.batch, state.cursor) == (1, stamp)
    with pytest.raises(WarehouseError, match="stale"):
        store.commit_batch("default", "sales_sync", 1, stamp + timedelta(seconds=1))
    store.commit_batch("default", "sales_sync", 2, 42)
    assert store.state("default", "sales_sync").cursor == 42
    store.reset_state("default", "sales_sync")
    assert store.state("default", "sales_sync").batch == 0


def test_file_manifest_is_remembered_with_its_batch(store: PipelineStore) -> None:
    store.save(_spec(source={"path": "/data/in/*.csv"}, mode="append", cursor=None, primary_key=[]))
    f = LoadedFile(path="/data/in/a.csv", size=10, mtime_ns=123, sha256="ab" * 32, rows=3, batch=1)
    store.commit_batch("default", "sales_sync", 1, None, files=[f])
    assert store.loaded_files("default", "sales_sync") == [f]
    store.delete("default", "sales_sync")
    assert store.loaded_files("default", "sales_sync") == []


def test_a_slot_is_claimed_once(store: PipelineStore) -> None:
    store.save(_spec())
    slot = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    assert store.claim_slot("default", "sales_sync", slot, None) is True
    assert store.claim_slot("default", "sales_sync", slot, None) is False  # a second scheduler lost
    assert store.last_slot("default", "sales_sync") == slot
    later = slot + timedelta(days=1)
    assert store.claim_slot("default", "sales_sync", later, slot) is True
    assert store.claim_slot("default", "sales_sync", later + timedelta(days=1), slot) is False


@pytest.mark.parametrize("value", [datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC), 7, Decimal("1.50"), "b"])
def test_cursor_values_keep_their_type(value: object) -> None:
    assert decode_cursor(encode_cursor(value)) == value


def test_invalid_specs_get_one_sentence() -> None:
    base = {"name": "p", "source": {"connection": "shop", "table": "sales"}, "target_table": "sales"}
    with pytest.raises(ToolError, match="incremental mode needs a cursor column"):
        validate_spec({**base, "mode": "incremental"})
    with pytest.raises(ToolError, match="upsert mode needs a primary key"):
        validate_spec({**base, "mode": "upsert"})
    with pytest.raises(ToolError, match="exactly one of a table"):
        validate_spec({**base, "source": {"connection": "shop", "table": "a", "path": "x.csv"}})
    with pytest.raises(ToolError, match="letters, digits and underscores"):
        validate_spec({**base, "target_table": "drop table x;"})
    with pytest.raises(ToolError, match="rename transform needs to"):
        validate_spec({**base, "transforms": [{"kind": "rename", "column": "a"}]})
