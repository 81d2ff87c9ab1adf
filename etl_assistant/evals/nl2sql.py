"""NL->SQL eval: execution accuracy of the offline parser on the seeded retail sample.

`prepare_warehouse` writes the sample (orders, customers, products; fixed seed) and loads it through the real
tools (infer_schema registers relationships, load_table creates the tables) into a chDB warehouse. `run` asks
every question of `evals/data/nl2sql.jsonl` with "today" fixed, runs the gold SQL on the same warehouse and
compares result sets: order-insensitive unless the gold query orders, numbers within a tolerance, and the
answer may carry extra columns (a "top 5 customers" answer that also shows the revenue is right). A
should-clarify item is right only when the parser asks back; any other item that clarifies counts as wrong,
but not as "wrong with high confidence".
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from etl_assistant.config import Settings
from etl_assistant.errors import EtlError
from etl_assistant.evals.sample_data import write_retail
from etl_assistant.nl2sql.model import QueryParse
from etl_assistant.nl2sql.parser import HIGH_CONFIDENCE
from etl_assistant.nl2sql.service import ask, translate
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.tools.run_query import jsonable

DATA_PATH = Path(__file__).parent / "data" / "nl2sql.jsonl"
HOLDOUT_PATH = Path(__file__).parent / "data" / "nl2sql_holdout.jsonl"  # written after tuning on DATA_PATH
EVAL_TODAY = date(2024, 12, 20)
EVAL_ORDERS = 20_000
EVAL_SEED = 7
_ABS_TOLERANCE = 0.011  # gold percentages may be ClickHouse decimals cut to two places
_REL_TOLERANCE = 1e-6


@dataclass
class ItemResult:
    id: str
    category: str
    question: str
    correct: bool
    clarified: bool
    confidence: float
    sql: str | None
    reply: str = ""
    ms: float = 0.0


@dataclass
class Nl2SqlReport:
    items: int = 0
    correct: int = 0
    clarified: int = 0
    wrong_high_confidence: int = 0
    per_category: dict[str, dict[str, float]] = field(default_factory=dict)
    p50_ms: float = 0.0
    results: list[ItemResult] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.items if self.items else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": "nl2sql",
            "items": self.items,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
            "clarify_rate": round(self.clarified / max(1, self.items), 4),
            "wrong_high_confidence": self.wrong_high_confidence,
            "per_category": self.per_category,
            "p50_ms": round(self.p50_ms, 2),
            "failures": [asdict(r) for r in self.results if not r.correct],
        }


def load_items(path: Path = DATA_PATH) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def prepare_warehouse(root: Path, orders: int = EVAL_ORDERS) -> ToolContext:
    """The sample data loaded into a fresh chDB warehouse and SQLite catalog under `root`."""
    settings = Settings(
        allowed_roots=[root],
        data_dir=root / "data",
        _env_file=None,
        warehouse_url=f"chdb://{root / 'warehouse'}",
        catalog_url=f"sqlite:///{root / 'catalog.db'}",
    )
    ctx = ToolContext(settings=settings)
    paths = write_retail(root / "source", orders=orders, seed=EVAL_SEED)
    for name in ("customers", "products", "orders"):  # referenced tables first: inference finds the FKs
        get_tool("infer_schema").run(ctx, {"path": str(paths[name]), "name": name})
        get_tool("load_table").run(ctx, {"dataset": name, "replace": True})
    return ctx


def _value(value: Any) -> Any:
    value = jsonable(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        for parse in (date.fromisoformat, datetime.fromisoformat):
            try:
                parsed = parse(value)
            except ValueError:
                continue
            if isinstance(parsed, datetime) and parsed.time() == datetime.min.time():
                return parsed.date().isoformat()
            return parsed.isoformat() if isinstance(parsed, datetime) else value
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=_REL_TOLERANCE, abs_tol=_ABS_TOLERANCE)
    return a == b


def _sort_key(row: tuple) -> tuple:
    # The exact value breaks ties between rows that round alike, so close values pair up in order.
    return tuple((0, round(v, 1), v) if isinstance(v, float) else (1, str(v), 0.0) for v in row)


def results_match(gold: list[tuple], got: list[tuple], ordered: bool) -> bool:
    """Gold rows found in `got` under some mapping of gold columns to distinct answer columns."""
    if len(gold) != len(got):
        return False
    if not gold:
        return True
    gold = [tuple(_value(v) for v in row) for row in gold]
    got = [tuple(_value(v) for v in row) for row in got]
    width = len(gold[0])
    for mapping in itertools.permutations(range(len(got[0])), width):
        projected = [tuple(row[i] for i in mapping) for row in got]
        left, right = (
            (gold, projected) if ordered else (sorted(gold, key=_sort_key), sorted(projected, key=_sort_key))
        )
        if all(
            _same(a, b)
            for lrow, rrow in zip(left, right, strict=True)
            for a, b in zip(lrow, rrow, strict=True)
        ):
            return True
    return False


def _previous_parse(ctx: ToolContext, questions: list[str]) -> QueryParse | None:
    previous = None
    for question in questions:
        previous = translate(ctx, question, previous=previous, today=EVAL_TODAY).parse
    return previous


def score_item(ctx: ToolContext, item: dict[str, Any]) -> ItemResult:
    started = time.perf_counter()
    result = ItemResult(item["id"], item["category"], item["question"], False, False, 0.0, None)
    try:
        previous = _previous_parse(ctx, item.get("previous", []))
        answer = ask(ctx, item["question"], previous=previous, today=EVAL_TODAY, limit=1000)
    except EtlError as exc:
        result.reply, result.ms = f"error: {exc}", (time.perf_counter() - started) * 1000
        return result
    result.ms = (time.perf_counter() - started) * 1000
    parse = answer.translation.parse
    result.confidence, result.sql, result.reply = parse.confidence, answer.translation.sql, answer.summary
    result.clarified = parse.clarify is not None
    if item["gold_sql"] is None:
        result.correct = result.clarified
        return result
    if result.clarified:
        return result
    gold = ctx.warehouse.query(item["gold_sql"], limit=1000, read_only=True)
    result.correct = results_match(gold.rows, [tuple(r) for r in answer.rows], item.get("ordered", False))
    return result


def run(ctx: ToolContext, items: list[dict[str, Any]] | None = None) -> Nl2SqlReport:
    items = load_items() if items is None else items
    report = Nl2SqlReport(items=len(items))
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item in items:
        result = score_item(ctx, item)
        report.results.append(result)
        counts[result.category][0] += 1
        counts[result.category][1] += result.correct
        report.correct += result.correct
        report.clarified += result.clarified
        if not result.correct and not result.clarified and result.confidence >= HIGH_CONFIDENCE:
            report.wrong_high_confidence += 1
    report.per_category = {
        cat: {"items": n, "correct": ok, "accuracy": round(ok / n, 4)}
        for cat, (n, ok) in sorted(counts.items())
    }
    report.p50_ms = statistics.median(r.ms for r in report.results) if report.results else 0.0
    return report
