"""Routing eval: does the offline planner pick the right tool (or chat/clarify) with the right key arguments?

Runs `evals/data/routing.jsonl` through the planner alone (no graph, no tools run) against a fixed catalog.
Items carry a split: "dev" (the first 204, written before the planner, used while tuning it), "holdout"
(written after the first tuning pass), "blind" (written after the holdout fixes), "new_intents" (written
before the rollback/deployments intents existed) or "verify" (written before the chat intent that saves
the last answer's question->SQL pair existed) or "pipelines" (written before the pipeline intents were
tuned); the report gives each. An item is correct when the intent
matches and every expected argument equals the planner's (paths exactly, SQL after sqlglot normalisation,
names ignoring case).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from sqlglot.errors import SqlglotError

from etl_assistant.agent.planner import CatalogView, DatasetInfo, Decision, Planner
from etl_assistant.errors import EtlError
from etl_assistant.pipelines.schedule import parse_schedule

DATA_PATH = Path(__file__).parent / "data" / "routing.jsonl"

# The catalog every item sees: datasets the person "has", two of them loaded as warehouse tables.
EVAL_CATALOG = CatalogView(
    datasets=(
        DatasetInfo(
            "customers",
            "/data/uploads/customers.csv",
            ("customer_id", "name", "email", "country", "signup_date"),
        ),
        DatasetInfo(
            "invoices_2024",
            "/data/uploads/invoices_2024.xlsx",
            ("invoice_id", "customer_id", "issued_at", "total"),
        ),
        DatasetInfo(
            "orders",
            "/data/uploads/orders.csv",
            ("order_id", "customer_id", "order_date", "region", "status", "amount"),
        ),
        DatasetInfo(
            "products", "/data/uploads/products.parquet", ("product_id", "sku", "title", "category", "price")
        ),
        DatasetInfo(
            "web_events",
            "/data/uploads/web_events.ndjson",
            ("event_id", "user_id", "event_type", "event_time", "url"),
        ),
    ),
    tables=("customers", "orders"),
    pipelines=("sales_sync",),
    connections=("shop",),
    connection_kinds=(("shop", "postgresql"),),
)


@dataclass
class ItemResult:
    id: str
    text: str
    expected_tool: str
    expected_args: dict[str, Any]
    got_tool: str
    got_args: dict[str, Any]
    correct: bool
    reply: str = ""
    scores: list[tuple[str, float]] = field(default_factory=list)  # the router's best three, for debugging


@dataclass
class RoutingReport:
    items: int
    correct: int
    per_tool: dict[str, dict[str, float]] = field(default_factory=dict)
    per_split: dict[str, dict[str, float]] = field(default_factory=dict)
    failures: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.items if self.items else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": "routing",
            "items": self.items,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
            "per_tool": self.per_tool,
            "per_split": self.per_split,
            "seconds": round(self.seconds, 2),
            "failures": [vars(f) for f in self.failures],
        }


def load_items(path: Path = DATA_PATH) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def to_messages(item: dict[str, Any]) -> list[BaseMessage]:
    """The item's prior turns as LangChain messages (a tool entry = an AI tool call + its ToolMessage), then
    the utterance."""
    messages: list[BaseMessage] = []
    for turn in item.get("history", []):
        if "user" in turn:
            messages.append(HumanMessage(turn["user"]))
        elif "assistant" in turn:
            messages.append(AIMessage(turn["assistant"]))
        else:
            call_id = f"call_{uuid.uuid4().hex[:12]}"
            messages.append(
                AIMessage("", tool_calls=[{"id": call_id, "name": turn["tool"], "args": turn["args"]}])
            )
            if "error" in turn:
                messages.append(
                    ToolMessage(turn["error"], tool_call_id=call_id, name=turn["tool"], status="error")
                )
            else:
                messages.append(
                    ToolMessage(json.dumps(turn["output"]), tool_call_id=call_id, name=turn["tool"])
                )
    messages.append(HumanMessage(item["text"]))
    return messages


def run(
    items: list[dict[str, Any]] | None = None,
    planner: Planner | None = None,
    catalog: CatalogView = EVAL_CATALOG,
) -> RoutingReport:
    items = load_items() if items is None else items
    planner = planner or Planner()
    started = time.perf_counter()
    by_tool: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_split: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    report = RoutingReport(items=len(items), correct=0)
    for item in items:
        result = _score(item, planner.decide(to_messages(item), catalog))
        for counts in (by_tool[result.expected_tool], by_split[item.get("split", "dev")]):
            counts[0] += 1
            counts[1] += result.correct
        if result.correct:
            report.correct += 1
        else:
            report.failures.append(result)
    report.per_tool, report.per_split = _accuracies(by_tool), _accuracies(by_split)
    report.seconds = time.perf_counter() - started
    return report


def _accuracies(counts: dict[str, list[int]]) -> dict[str, dict[str, float]]:
    return {
        key: {"items": n, "correct": ok, "accuracy": round(ok / n, 4)}
        for key, (n, ok) in sorted(counts.items())
    }


def _score(item: dict[str, Any], decision: Decision) -> ItemResult:
    expected = item["expect"]
    got_args = decision.args if decision.intent not in ("chat", "clarify") else {}
    correct = decision.intent == expected["tool"] and all(
        _same(key, value, got_args.get(key)) for key, value in expected.get("args", {}).items()
    )
    return ItemResult(
        id=item.get("id", ""),
        text=item["text"],
        expected_tool=expected["tool"],
        expected_args=expected.get("args", {}),
        got_tool=decision.intent,
        got_args=got_args,
        correct=correct,
        reply=decision.text[:200],
        scores=[(intent, round(score, 3)) for intent, score in decision.route.scores[:3]]
        if decision.route
        else [],
    )


def _same(key: str, expected: Any, got: Any) -> bool:
    if got is None:
        return False
    if key == "sql":
        return _normal_sql(expected) == _normal_sql(got)
    if key == "path":
        return expected == got
    if key == "schedule":  # the same schedule in other words ("on weekdays at 7" = "weekdays at 7")
        return _cron(expected) == _cron(got)
    if isinstance(expected, str):
        return isinstance(got, str) and expected.lower() == got.lower()
    return expected == got


def _cron(phrase: str) -> str:
    try:
        return parse_schedule(phrase, "UTC").cron
    except EtlError:
        return phrase.lower()


def _normal_sql(sql: str) -> str:
    try:
        return sqlglot.parse_one(sql).sql(normalize=True).lower()
    except SqlglotError:
        return " ".join(sql.lower().split())
