"""The semantic cache tells roles apart (issue 11, cause 8): real verify tool, embedded Chroma, chDB, a taxi
schema with pickup and dropoff zones and a flights schema with origin and destination. Each near miss is
checked to be similar enough to pass the threshold, so only the signature can stop it; paraphrases that the
parser reads as the same query hit even in other words."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date

import pytest

from etl_assistant.cache.semantic import PARSED_THRESHOLD, lookup
from etl_assistant.nl2sql.service import translate
from etl_assistant.retrieval.store import embed_texts
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.warehouse.chdb_engine import close_sessions
from tests.support.generalise_data import write_flights, write_taxi
from tests.test_retrieval_fixtures import settings_for

TODAY = date(2024, 12, 20)
VERIFIED = [
    "average pickup wait by zone",
    "trips from Midtown to Airport",
    "number of flights from JFK to LAX",
    "how many flights had a delay of more than 60 minutes",
]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolContext]:
    root = tmp_path_factory.mktemp("cache_roles")
    write_taxi(root, random.Random(1))
    write_flights(root, random.Random(2))
    ctx = ToolContext(settings=settings_for(root))
    for name in ("trips", "zones", "flights"):
        get_tool("infer_schema").run(ctx, {"path": str(root / f"{name}.csv")})
        get_tool("load_table").run(ctx, {"dataset": name})
    for question in VERIFIED:
        sql = translate(ctx, question, today=TODAY).sql
        assert sql is not None, question
        get_tool("verify").run(ctx, {"question": question, "sql": sql, "today": TODAY.isoformat()})
    yield ctx
    close_sessions()


def similarity(a: str, b: str) -> float:
    first, second = embed_texts([a, b])
    return float(first @ second)


@pytest.mark.parametrize(
    ("verified", "probe"),
    [
        ("average pickup wait by zone", "average dropoff wait by zone"),
        ("trips from Midtown to Airport", "trips from Airport to Midtown"),
        ("number of flights from JFK to LAX", "number of flights from LAX to JFK"),
        (
            "how many flights had a delay of more than 60 minutes",
            "how many flights had a delay of more than 60 miles",
        ),
    ],
)
def test_another_role_misses(ctx: ToolContext, verified: str, probe: str) -> None:
    # Similar enough for a sure parse's threshold: only the signature can stop it.
    assert similarity(verified, probe) >= min(ctx.settings.cache_threshold, PARSED_THRESHOLD)
    assert lookup(ctx, probe, TODAY) is None


@pytest.mark.parametrize(
    ("verified", "probe"),
    [
        ("average pickup wait by zone", "what is the average pickup wait per zone"),
        ("trips from Midtown to Airport", "how many trips from Midtown to Airport"),
        ("number of flights from JFK to LAX", "count of flights from JFK to LAX"),
        (
            "how many flights had a delay of more than 60 minutes",
            "number of flights delayed more than 60 minutes",
        ),
    ],
)
def test_a_paraphrase_hits(ctx: ToolContext, verified: str, probe: str) -> None:
    hit = lookup(ctx, probe, TODAY)
    assert hit is not None and hit.pair.question == verified
