"""Relationship discovery does not depend on load order: the infer_schema tool (real SQLite catalog and
warehouse) finds keys in both directions, keys whose names say nothing (`ship_to` -> `depots.code`), several
keys to one table (pickup/dropoff -> zones) and both sides of a link table; and it invents none between
numbers that merely overlap (`passengers` 1-5 inside `zone_id` 1-5)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from etl_assistant.config import Settings
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse import connect
from etl_assistant.warehouse.catalog import Catalog
from tests.support.generalise_data import LOAD_ORDER, WRITERS

EXPECTED = {
    "logistics": {
        ("shipments", "carrier_id", "carriers", "carrier_id"),
        ("shipments", "ship_to", "depots", "code"),
    },
    "taxi": {
        ("trips", "pickup_zone_id", "zones", "zone_id"),
        ("trips", "dropoff_zone_id", "zones", "zone_id"),
    },
    "books": {
        ("book_authors", "book_id", "books", "book_id"),
        ("book_authors", "author_id", "authors", "author_id"),
    },
}


def _relationships(root: Path, schema: str, order: tuple[str, ...], tenant: str) -> set[tuple[str, ...]]:
    ctx = ToolContext(
        settings=Settings(allowed_roots=[root], data_dir=root / "data", _env_file=None),
        tenant=tenant,
        _overrides={
            "catalog": Catalog(f"sqlite:///{root / 'catalog.db'}"),
            "warehouse": connect(f"sqlite:///{root / 'warehouse.db'}"),
        },
    )
    for name in order:
        get_tool("infer_schema").run(ctx, {"path": str(root / f"{name}.csv")})
    return {
        (r.dataset, r.relationship.column, r.relationship.ref_dataset, r.relationship.ref_column)
        for r in ctx.catalog.list_relationships(tenant)
    }


@pytest.mark.parametrize("schema", sorted(EXPECTED))
def test_every_load_order_finds_the_same_keys(tmp_path: Path, schema: str) -> None:
    WRITERS[schema](tmp_path, random.Random(3))
    for number, order in enumerate(itertools.permutations(LOAD_ORDER[schema])):
        assert _relationships(tmp_path, schema, order, f"t{number}") == EXPECTED[schema], order


def test_a_changed_dimension_is_checked_again(tmp_path: Path) -> None:
    """Re-inferring depots with codes the shipments no longer find drops the value-only link."""
    WRITERS["logistics"](tmp_path, random.Random(3))
    assert ("shipments", "ship_to", "depots", "code") in _relationships(
        tmp_path, "logistics", ("shipments", "depots"), "acme"
    )
    (tmp_path / "depots.csv").write_text("code,city,capacity\nXXX,Nowhere,1\nYYY,Elsewhere,2\nZZZ,Far,3\n")
    assert _relationships(tmp_path, "logistics", ("depots",), "acme") == set()


@pytest.mark.parametrize(("column", "found"), [("plane_id", True), ("aircraft", False)])
def test_a_same_named_key_may_miss_some_values(tmp_path: Path, column: str, found: bool) -> None:
    """80% of the tail numbers are in planes: a key of the same name still joins, another name does not."""
    (tmp_path / "planes.csv").write_text("plane_id,seats\n" + "".join(f"P{i},{100 + i}\n" for i in range(8)))
    rows = "".join(f"{n},P{n % 10}\n" for n in range(200))
    (tmp_path / "legs.csv").write_text(f"leg,{column}\n{rows}")
    relationships = _relationships(tmp_path, "legs", ("legs", "planes"), "acme")
    assert (("legs", column, "planes", "plane_id") in relationships) is found
