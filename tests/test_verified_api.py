"""`/v1/verified` over a real uvicorn server with httpx: the shipped app on a chDB warehouse holding `orders`
(loaded by the real tools). A saved pair is the verify tool's output, is listed for the tenant and answers
`ask` from the semantic cache; refused SQL is a 400 with the tool's sentence and stores nothing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from etl_assistant.server import create_app
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse.chdb_engine import close_sessions
from tests.support.live_server import live_server
from tests.test_retrieval_fixtures import build_warehouse, revenue_by_region

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

QUESTION = "revenue by region over all time"
SQL = "SELECT region, SUM(amount) AS revenue FROM orders GROUP BY region"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolContext]:
    yield build_warehouse(tmp_path_factory.mktemp("verified_api"), only=["orders"])
    close_sessions()


@pytest.fixture(scope="module")
def http(ctx: ToolContext) -> Iterator[httpx.Client]:
    with live_server(create_app(ctx.settings)) as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            yield client


def listed(http: httpx.Client) -> list[dict]:
    response = http.get("/v1/verified")
    assert response.status_code == 200, response.text
    return response.json()["pairs"]


def error_sentence(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and "Traceback" not in error["message"]
    return error["message"]


def test_save_lists_and_answers_the_question_from_the_cache(http: httpx.Client, ctx: ToolContext) -> None:
    assert listed(http) == []
    response = http.post("/v1/verified", json={"question": QUESTION, "sql": SQL})
    assert response.status_code == 201, response.text
    saved = response.json()
    version = ctx.catalog.schema_version("default", "orders")
    assert saved["question"] == QUESTION and saved["tables"] == {"orders": version}
    assert saved["sql"].startswith("SELECT region, SUM(amount) AS revenue FROM orders GROUP BY region LIMIT")
    assert saved["message"].startswith(f"Saved: questions like {QUESTION!r}")

    pairs = listed(http)
    assert [(p["id"], p["question"], p["sql"], p["tables"], p["dialect"]) for p in pairs] == [
        (saved["pair_id"], QUESTION, saved["sql"], {"orders": version}, "clickhouse")
    ]
    assert pairs[0]["verified_at"]

    answer = get_tool("ask").run(ctx, {"question": QUESTION})
    assert any(note.startswith("semantic cache:") for note in answer.parse["notes"])
    assert {row[0]: row[1] for row in answer.rows} == revenue_by_region()


def test_saving_the_same_question_again_replaces_it_newest_first(http: httpx.Client) -> None:
    again = http.post("/v1/verified", json={"question": f"  {QUESTION.upper()} ", "sql": SQL + " -- again"})
    other = http.post(
        "/v1/verified", json={"question": "how many orders", "sql": "SELECT COUNT(*) FROM orders"}
    )
    assert again.status_code == other.status_code == 201
    pairs = listed(http)
    assert [p["id"] for p in pairs] == [other.json()["pair_id"], again.json()["pair_id"]]
    assert len({p["question"].lower() for p in pairs}) == 2


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"question": "drop it", "sql": "DROP TABLE orders"}, "Only read-only SELECT"),
        ({"question": "salaries", "sql": "SELECT * FROM salaries"}, "is not one you can query"),
        ({"question": "   ", "sql": "SELECT 1"}, "The question is empty"),
        ({"question": "no sql"}, "Send a JSON object with the question in 'question' and its SQL in 'sql'."),
    ],
    ids=["write", "unknown-table", "empty-question", "no-sql"],
)
def test_a_refused_pair_is_a_400_sentence_and_stores_nothing(
    http: httpx.Client, body: dict, says: str
) -> None:
    before = listed(http)
    assert says in error_sentence(http.post("/v1/verified", json=body))
    assert listed(http) == before


def test_a_body_that_is_not_json_is_a_400_sentence(http: httpx.Client) -> None:
    # A text/plain body is a cross-site "simple request": the access guard refuses it (415) before this
    # route reads it (issue 12); a JSON-typed body that does not parse is still this route's 400 sentence.
    plain = http.post("/v1/verified", content=b"question=x", headers={"content-type": "text/plain"})
    assert plain.status_code == 415 and "Content-Type: application/json" in plain.json()["error"]["message"]
    response = http.post("/v1/verified", content=b"question=x", headers={"content-type": "application/json"})
    assert "Send a JSON object" in error_sentence(response)
