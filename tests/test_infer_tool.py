"""The infer_schema tool on a real catalog (SQLite) and warehouse (SQLite): registration, relationships on
generated retail data, bad input, warehouse tables, and the `etl-assistant infer` command."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from etl_assistant.config import Settings
from etl_assistant.errors import InputError, ToolError
from etl_assistant.evals.sample_data import write_retail
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse import connect
from etl_assistant.warehouse.catalog import Catalog

INFER = get_tool("infer_schema")


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")


@pytest.fixture
def ctx(local_settings: Settings, catalog: Catalog) -> ToolContext:
    return ToolContext(settings=local_settings, tenant="acme", _overrides={"catalog": catalog})


@pytest.fixture(scope="module")
def retail(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_retail(tmp_path_factory.mktemp("retail"), orders=6000, seed=11)


def _settings_for(*roots: Path, data_dir: Path) -> Settings:
    return Settings(allowed_roots=list(roots), data_dir=data_dir, _env_file=None)


def test_registers_the_dataset_for_the_tenant(tmp_path: Path, ctx: ToolContext, catalog: Catalog) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,price\n1,2.50\n2,3.00\n")
    schema = INFER.run(ctx, {"path": str(path), "name": "Items"})
    assert schema.name == "items"
    stored = catalog.get_dataset("acme", "items")
    assert stored == schema
    assert catalog.get_dataset("other", "items") is None


def test_relationships_on_generated_retail_data(
    tmp_path: Path, catalog: Catalog, retail: dict[str, Path]
) -> None:
    settings = _settings_for(retail["orders"].parent, data_dir=tmp_path / "data")
    ctx = ToolContext(settings=settings, tenant="shop", _overrides={"catalog": catalog})
    customers = INFER.run(ctx, {"path": str(retail["customers"])})
    products = INFER.run(ctx, {"path": str(retail["products"])})
    assert customers.column("customer_id").unique and products.column("product_id").unique
    assert products.column("sku").type == "string"  # "007-123" style codes keep their zeros
    orders = INFER.run(ctx, {"path": str(retail["orders"])})
    found = {(r.column, r.ref_dataset, r.ref_column): r for r in orders.relationships}
    assert set(found) == {
        ("customer_id", "customers", "customer_id"),
        ("product_id", "products", "product_id"),
    }
    assert all(r.containment == 1.0 and r.name_similarity == 1.0 for r in found.values())
    types = {c.identifier: c.type for c in orders.columns}
    assert types == {
        "order_id": "integer",
        "customer_id": "integer",
        "product_id": "integer",
        "order_ts": "datetime",
        "order_date": "date",
        "status": "string",
        "quantity": "integer",
        "amount": "decimal",
        "discount": "decimal",
        "region": "string",
        "channel": "string",
    }
    assert orders.column("order_id").unique and not orders.column("customer_id").unique
    assert orders.column("discount").nullable and 0.5 < orders.column("discount").null_fraction < 0.9
    assert orders.row_count == 6000
    stored = {(r.column, r.ref_dataset) for r in catalog.get_dataset("shop", "orders").relationships}
    assert stored == {("customer_id", "customers"), ("product_id", "products")}


def test_no_relationship_when_values_are_not_contained(tmp_path: Path, ctx: ToolContext) -> None:
    (tmp_path / "customers.csv").write_text(
        "customer_id,name\n" + "".join(f"{i},n{i}\n" for i in range(1, 101))
    )
    (tmp_path / "visits.csv").write_text(
        "visit_id,customer_id\n" + "".join(f"{i},{i * 3}\n" for i in range(1, 61))
    )
    INFER.run(ctx, {"path": str(tmp_path / "customers.csv")})
    visits = INFER.run(ctx, {"path": str(tmp_path / "visits.csv")})
    assert visits.relationships == []  # only 33 of 60 customer ids exist: containment 0.55


def test_generic_id_column_links_by_dataset_name(tmp_path: Path, ctx: ToolContext) -> None:
    (tmp_path / "categories.csv").write_text("id,title\n1,a\n2,b\n3,c\n")
    (tmp_path / "things.csv").write_text("id,category_id\n1,1\n2,3\n3,3\n4,2\n")
    INFER.run(ctx, {"path": str(tmp_path / "categories.csv")})
    things = INFER.run(ctx, {"path": str(tmp_path / "things.csv")})
    assert [(r.column, r.ref_dataset, r.ref_column) for r in things.relationships] == [
        ("category_id", "categories", "id")
    ]


BAD_INPUTS = {
    "missing": (lambda d: d / "nope.csv", "does not exist"),
    "directory": (lambda d: d, "is a directory"),
    "binary": (lambda d: _write(d / "blob.csv", bytes(range(256)) * 40), "binary"),
    "empty": (lambda d: _write(d / "empty.csv", b""), "is empty"),
    "header_only": (lambda d: _write(d / "head.csv", b"a,b\n"), "no data rows"),
    "unreadable_encoding": (
        lambda d: _write(d / "enc.csv", b"id,name\n" + b"1,\x81\x8d\x8f\x90\x9d\x81\x8d\n" * 50),
        "encoding",
    ),
    "bad_json": (lambda d: _write(d / "bad.json", b'[{"a": 1}, {"a": '), "not valid JSON"),
    "truncated_gzip": (lambda d: _write(d / "cut.csv.gz", _truncated_gzip()), "could not be read"),
    "zip_archive": (lambda d: _write(d / "data.zip", b"PK\x03\x04" + b"\x00" * 100), "ZIP archive"),
}


def _truncated_gzip() -> bytes:
    whole = gzip.compress(b"a,b\n" + "".join(f"{i},{i * 7919 % 10007}\n" for i in range(20000)).encode())
    return whole[: len(whole) // 2]


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_is_one_clear_sentence_and_registers_nothing(
    case: str, tmp_path: Path, ctx: ToolContext, catalog: Catalog
) -> None:
    make, phrase = BAD_INPUTS[case]
    path = make(tmp_path)
    with pytest.raises(InputError) as error:
        INFER.run(ctx, {"path": str(path)})
    message = str(error.value)
    assert phrase in message
    assert "\n" not in message and message.endswith(".")
    assert "Traceback" not in message
    assert catalog.list_datasets("acme") == []


def test_path_outside_allowed_roots_is_refused(tmp_path: Path, catalog: Catalog) -> None:
    inside, outside = tmp_path / "inside", tmp_path / "outside"
    inside.mkdir(), outside.mkdir()
    secret = _write(outside / "secret.csv", b"a\n1\n")
    ctx = ToolContext(
        settings=_settings_for(inside, data_dir=inside / "data"),
        tenant="acme",
        _overrides={"catalog": catalog},
    )
    for path in (secret, inside / ".." / "outside" / "secret.csv"):
        with pytest.raises(InputError, match="outside the allowed folders"):
            INFER.run(ctx, {"path": str(path)})
    assert catalog.list_datasets("acme") == []


@pytest.mark.parametrize("args", [{}, {"path": "a.csv", "table": "t"}])
def test_exactly_one_of_path_or_table(args: dict[str, str], ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="exactly one of"):
        INFER.run(ctx, args)


def test_infer_a_warehouse_table(tmp_path: Path, local_settings: Settings, catalog: Catalog) -> None:
    warehouse = connect(f"sqlite:///{tmp_path / 'wh.db'}")
    warehouse.execute("CREATE TABLE sales (sale_id INTEGER, code TEXT, amount TEXT, sold_on TEXT)")
    warehouse.execute(
        "INSERT INTO sales VALUES (1, '007', '12.50', '2024-01-05'), (2, '010', '3.10', "
        "'2024-01-06'), (3, NULL, '4.00', '2024-02-01')"
    )
    ctx = ToolContext(
        settings=local_settings, tenant="acme", _overrides={"catalog": catalog, "warehouse": warehouse}
    )
    schema = INFER.run(ctx, {"table": "sales"})
    assert (schema.name, schema.source, schema.format, schema.row_count) == (
        "sales",
        "table:sales",
        "table",
        3,
    )
    assert {c.identifier: c.type for c in schema.columns} == {
        "sale_id": "integer",
        "code": "string",
        "amount": "decimal",
        "sold_on": "date",
    }
    assert schema.column("sale_id").unique and schema.column("code").nullable
    assert catalog.get_dataset("acme", "sales") == schema
    with pytest.raises(InputError, match="does not exist"):
        INFER.run(ctx, {"table": "missing"})
    warehouse.close()


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ETLA_DATA_DIR": str(cwd / "data"), "ETLA_ALLOWED_ROOTS": json.dumps([str(cwd)])}
    return subprocess.run(
        [sys.executable, "-m", "etl_assistant.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_infer_json_and_error(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("id;born;code\n1;05.01.1990;007\n2;31.12.1985;010\n")
    done = _cli(["infer", "people.csv", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert schema["dialect"]["delimiter"] == ";"
    assert [(c["identifier"], c["type"]) for c in schema["columns"]] == [
        ("id", "integer"),
        ("born", "date"),
        ("code", "string"),
    ]
    assert (
        Catalog(f"sqlite:///{tmp_path / 'data' / 'catalog.db'}").get_dataset("default", "people") is not None
    )
    failed = _cli(["infer", "missing.csv"], tmp_path)
    assert failed.returncode == 2
    message = " ".join(failed.stderr.split())  # rich wraps lines at the terminal width
    assert message.startswith("error: File ") and message.endswith(
        "does not exist; check the path and try again."
    )
    assert "Traceback" not in failed.stderr
    table = _cli(["infer", "people.csv"], tmp_path)
    assert table.returncode == 0 and "people: csv" in table.stdout and "born" in table.stdout


def test_relationship_checked_against_the_loaded_table_when_the_file_is_gone(
    tmp_path: Path, local_settings: Settings, catalog: Catalog
) -> None:
    warehouse = connect(f"sqlite:///{tmp_path / 'wh.db'}")
    ctx = ToolContext(
        settings=local_settings, tenant="acme", _overrides={"catalog": catalog, "warehouse": warehouse}
    )
    customers_file = tmp_path / "customers.csv"
    customers_file.write_text("customer_id,name\n" + "".join(f"{i},n{i}\n" for i in range(1, 51)))
    customers = INFER.run(ctx, {"path": str(customers_file)})
    warehouse.execute("CREATE TABLE customers_tbl (customer_id INTEGER, name TEXT)")
    warehouse.load_file("customers_tbl", customers)
    catalog.record_table("acme", "customers_tbl", "customers", "sqlite", "CREATE TABLE ...", 50)
    customers_file.unlink()
    warehouse.execute('CREATE TABLE Regions ("Region Code" TEXT, label TEXT)')
    warehouse.execute("INSERT INTO Regions VALUES ('EU', 'Europe'), ('AM', 'Americas'), ('AS', 'Asia')")
    INFER.run(ctx, {"table": "Regions", "name": "regions"})
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,customer_id,region_code\n"
        + "".join(f"{i},{i % 50 + 1},{['EU', 'AS'][i % 2]}\n" for i in range(1, 201))
    )
    schema = INFER.run(ctx, {"path": str(orders)})
    found = {(r.column, r.ref_dataset, r.ref_column, r.containment) for r in schema.relationships}
    assert found == {
        ("customer_id", "customers", "customer_id", 1.0),
        ("region_code", "regions", "region_code", 1.0),
    }
    warehouse.close()
