"""`/v1/datasets`: multipart uploads into the tenant's upload dir, inferred by the real infer_schema tool and
registered in the real SQLite catalog, over a real uvicorn server on 127.0.0.1 with httpx.

The chat model is the scripted test model (the upload API never calls it); everything else is the shipped app.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from etl_assistant.channels.datasets import safe_file_name
from etl_assistant.config import Settings
from etl_assistant.server import create_app
from etl_assistant.warehouse.catalog import Catalog
from tests.support.live_server import LiveServer, live_server
from tests.support.scripted_model import ScriptedChatModel, scripted_tools

ORDERS = "order_id,region,amount,ordered_at\n" + "\n".join(
    f"{i},{('north', 'south', 'east')[i % 3]},{i * 2.5:.2f},2024-03-{1 + i % 28:02d}" for i in range(1, 41)
) + "\n"
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"


def start(data_dir: Path, **settings: object) -> LiveServer:
    app = create_app(Settings(data_dir=data_dir, allowed_roots=[data_dir], _env_file=None, **settings),
                     model=ScriptedChatModel(), tools=scripted_tools(data_dir / "audit.db"))
    return live_server(app)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("datasets_api")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[LiveServer]:
    with start(data_dir) as running:
        yield running


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def upload(http: httpx.Client, file_name: str, content: bytes | str, **form: str) -> httpx.Response:
    files = {"file": (file_name, content, "application/octet-stream")}
    return http.post("/v1/datasets", files=files, data=form)


def registered(data_dir: Path) -> set[str]:
    catalog = Catalog(f"sqlite:///{data_dir / 'catalog.db'}")
    return {d.name for d in catalog.list_datasets("default")}


def uploads(data_dir: Path) -> list[str]:
    root = data_dir / "uploads"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def assert_openai_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["type"]
    assert "Traceback" not in error["message"]
    return error["message"]


def test_upload_infers_registers_and_lists_the_dataset(http: httpx.Client, data_dir: Path):
    response = upload(http, "orders.csv", ORDERS)
    assert response.status_code == 201, response.text
    schema = response.json()
    assert schema["name"] == "orders" and schema["format"] == "csv" and schema["row_count"] == 40
    types = {c["identifier"]: c["type"] for c in schema["columns"]}
    assert types["order_id"] == "integer" and types["region"] == "string"
    assert types["amount"] in ("decimal", "float") and types["ordered_at"] == "date"
    stored = data_dir / "uploads" / "default" / "orders.csv"
    assert Path(schema["source"]) == stored.resolve()
    assert stored.read_text() == ORDERS
    assert "orders" in registered(data_dir)

    listed = http.get("/v1/datasets").json()["datasets"]
    entry = next(d for d in listed if d["name"] == "orders")
    assert entry["row_count"] == 40 and entry["columns"] == ["order_id", "region", "amount", "ordered_at"]
    one = http.get("/v1/datasets/orders")
    assert one.status_code == 200 and one.json() == schema


def test_upload_under_a_chosen_name(http: httpx.Client, data_dir: Path):
    response = upload(http, "export (3).csv", ORDERS, name="sales")
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "sales"
    assert "sales" in registered(data_dir)
    assert "default/export_3_.csv" in uploads(data_dir)


def test_unknown_dataset_is_a_404_sentence(http: httpx.Client):
    message = assert_openai_error(http.get("/v1/datasets/nope"), 404)
    assert "nope" in message and "POST /v1/datasets" in message


@pytest.mark.parametrize(("file_name", "content"), [
    ("picture.csv", PNG_HEADER + bytes(range(256)) * 8),
    ("empty.csv", b""),
    ("blank.csv", b"\n\n   \n"),
])
def test_a_file_that_is_not_tabular_is_refused_and_nothing_is_registered(
        http: httpx.Client, data_dir: Path, file_name: str, content: bytes):
    before_files, before_names = uploads(data_dir), registered(data_dir)
    response = upload(http, file_name, content)
    message = assert_openai_error(response, response.status_code)
    assert 400 <= response.status_code < 500
    assert file_name in message
    assert registered(data_dir) == before_names
    assert uploads(data_dir) == before_files, "a refused upload must leave no file behind"


def test_a_bad_reupload_keeps_the_previous_file_and_schema(http: httpx.Client, data_dir: Path):
    first = upload(http, "regions.csv", "region,manager\nnorth,ann\nsouth,bob\n")
    assert first.status_code == 201, first.text
    response = upload(http, "regions.csv", PNG_HEADER * 20)
    assert 400 <= response.status_code < 500
    stored = data_dir / "uploads" / "default" / "regions.csv"
    assert stored.read_text() == "region,manager\nnorth,ann\nsouth,bob\n"
    assert http.get("/v1/datasets/regions").json() == first.json()


@pytest.mark.parametrize("raw_name",
                         ["../../escape.csv", "..\\..\\escape.csv", "/etc/escape.csv", ".escape.csv"])
def test_file_names_cannot_leave_the_tenant_dir(http: httpx.Client, data_dir: Path, raw_name: str):
    response = upload(http, raw_name, "a,b\n1,2\n3,4\n")
    assert response.status_code == 201, response.text
    assert Path(response.json()["source"]) == (data_dir / "uploads" / "default" / "escape.csv").resolve()
    assert not (data_dir / "escape.csv").exists() and not (data_dir.parent / "escape.csv").exists()


def test_safe_file_name_keeps_readable_names():
    assert safe_file_name("orders.csv") == "orders.csv"
    assert safe_file_name("Umsätze 2024.csv") == "Umsätze_2024.csv"
    assert safe_file_name("../../x.parquet") == "x.parquet"
    assert safe_file_name("...") == "upload"
    assert safe_file_name(None) == "upload"
    long = safe_file_name("a" * 300 + ".csv")
    assert len(long) <= 120 and long.endswith(".csv")


def test_requests_without_a_file_get_a_sentence(http: httpx.Client):
    no_file = http.post("/v1/datasets", data={"name": "x"}, files={"other": ("a", b"1")})
    message = assert_openai_error(no_file, 400)
    assert "'file'" in message
    message = assert_openai_error(http.post("/v1/datasets", json={"file": "orders.csv"}), 415)
    assert "multipart/form-data" in message


def test_uploads_over_the_size_limit_are_refused(tmp_path: Path):
    big = ("id,text\n" + "".join(f"{i},{'x' * 60}\n" for i in range(200))).encode()  # ~14 KiB
    with start(tmp_path, max_upload_mb=0.01) as running, \
            httpx.Client(base_url=running.url, timeout=60) as http:
        message = assert_openai_error(upload(http, "big.csv", big), 413)
        assert "0.01 MiB" in message and "ETLA_MAX_UPLOAD_MB" in message

        # Without a Content-Length (chunked transfer) the limit holds while the body streams in.
        boundary = "etlaboundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
                "Content-Type: text/csv\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        def body() -> Iterator[bytes]:
            yield head
            for start_at in range(0, len(big), 1024):
                yield big[start_at:start_at + 1024]
            yield tail

        chunked = http.post("/v1/datasets", content=body(),
                            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert "content-length" not in {k.lower() for k in chunked.request.headers}
        assert_openai_error(chunked, 413)

        small = upload(http, "small.csv", "id,text\n1,a\n2,b\n")
        assert small.status_code == 201, small.text
        assert registered(tmp_path) == {"small"}
        assert uploads(tmp_path) == ["default/small.csv"]
        assert json.loads(http.get("/v1/datasets").text)["datasets"][0]["name"] == "small"
