"""Semantic-cache probes: verified answers must be reused for paraphrases and never for other meanings.

Each probe of `data/generalisation/cache_probes.jsonl` saves one question->SQL pair with the `verify` tool
(as a person saying "save this" would) and then asks other questions with the `ask` tool: paraphrases that
should be served the verified answer ("hit"), and questions that differ in one thing that matters ("miss"):
the column a word links to (departure vs arrival delay), the role of a value (from JFK to LAX vs from LAX to
JFK), a year, more vs less than, the grouping, the number of rows asked for. Every verified SQL names its
result column `verified_<probe id>`, which the offline parser never writes, so an answer's SQL shows which
verified pair served it, from outside, without reading the cache.

All pairs of a dataset are verified before any question is asked, so each question meets every saved pair.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from etl_assistant.errors import EtlError
from etl_assistant.evals.generalisation import DATA_DIR, TODAY, load_as_a_user, order_settings
from etl_assistant.evals.public_data import LOAD_ORDERS, write_dataset
from etl_assistant.tools import ToolContext, get_tool

PROBES_PATH = DATA_DIR / "cache_probes.jsonl"
_SERVED_BY = re.compile(r"verified_(\w+)")


@dataclass
class ProbeResult:
    probe: str
    question: str
    expect: str  # "hit" or "miss"
    served_by: str | None  # the probe id whose verified SQL answered, None when the parser answered
    ok: bool


@dataclass
class CacheReport:
    results: list[ProbeResult] = field(default_factory=list)

    @property
    def false_hits(self) -> int:
        return sum(1 for r in self.results if r.expect == "miss" and r.served_by is not None)

    def to_json(self) -> dict[str, Any]:
        paraphrases = [r for r in self.results if r.expect == "hit"]
        different = [r for r in self.results if r.expect == "miss"]
        return {
            "suite": "cache",
            "must_not_share": len(different),
            "false_hits": self.false_hits,
            "paraphrases": len(paraphrases),
            "paraphrase_hits": sum(r.ok for r in paraphrases),
            "paraphrase_recall": round(sum(r.ok for r in paraphrases) / max(1, len(paraphrases)), 4),
            "failures": [asdict(r) for r in self.results if not r.ok],
        }


def load_probes(path: Path = PROBES_PATH) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def served_by(sql: str | None) -> str | None:
    """The probe whose verified SQL this answer ran (its `verified_<id>` column); None: the parser's SQL."""
    found = _SERVED_BY.search(sql or "")
    return found.group(1) if found else None


def probe_dataset(ctx: ToolContext, dataset: str, probes: list[dict[str, Any]], report: CacheReport) -> None:
    today = TODAY[dataset]
    for probe in probes:
        get_tool("verify").run(ctx, {**probe["verified"], "today": today})
    for probe in probes:
        for ask in probe["asks"]:
            try:
                out = get_tool("ask").run(ctx, {"question": ask["question"], "today": today})
                sql = out.model_dump()["sql"]
            except EtlError:
                sql = None
            by = served_by(sql)
            ok = by == probe["id"] if ask["expect"] == "hit" else by is None
            report.results.append(ProbeResult(probe["id"], ask["question"], ask["expect"], by, ok))


def run(root: Path, probes: list[dict[str, Any]] | None = None) -> CacheReport:
    """Load each probed dataset (dimensions first) under `root`, verify its pairs, ask every question."""
    probes = load_probes() if probes is None else probes
    report = CacheReport()
    for dataset, orders in LOAD_ORDERS.items():
        chosen = [p for p in probes if p["dataset"] == dataset]
        if not chosen:
            continue
        paths = write_dataset(dataset, root / "source" / dataset)
        ctx = ToolContext(settings=order_settings(root, root / f"cache-{dataset}", None))
        load_as_a_user(ctx, paths, next(iter(orders.values())))
        probe_dataset(ctx, dataset, chosen, report)
    return report
