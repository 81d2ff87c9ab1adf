"""Generalisation eval: questions over real public data the project was never tuned on (issue 11).

Each dataset of `evals.public_data` is written as CSV files and loaded as a person would load it:
`infer_schema` then `load_table` through the tool registry into a fresh embedded chDB warehouse, once per
load order of `LOAD_ORDERS` (dimensions first, and facts first). Every question goes to the `ask` tool,
exactly as a chat would send it. The gold SQL (SQLite dialect) runs on an independent SQLite copy of the
same CSV files, so a wrong type or a lost relationship in the project's own loading cannot make a wrong
answer look right.

Scoring (`judge`): a question with gold SQL is right when the answer's rows equal the gold rows: order-
insensitive unless the item says `ordered`, numbers within 1e-6 relative, column names ignored, each gold
column matched to a distinct answer column (an answer may show more columns), and a scalar equal to a 1x1
answer. A question whose gold is `clarify` is right only when `ask` asks back. An answer that ran SQL and is
not right is a wrong answer; at confidence >= HIGH_CONFIDENCE it is a wrong answer at high confidence.

The questions live in `data/generalisation/dev.jsonl` and `unseen.jsonl`: a third of each dataset's questions
drawn at random (a fixed seed per dataset) and kept out of sight of whoever changes the parser.
`holdout.jsonl` asks about three more datasets that nobody looked at while the parser was changed, written by
someone who never read the parser; it is not part of `all` (dev and unseen) and runs on its own, once, at the
end.
"""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from sqlglot import exp

from etl_assistant.config import Settings
from etl_assistant.errors import EtlError
from etl_assistant.evals.public_data import LOAD_ORDERS, write_dataset
from etl_assistant.nl2sql.parser import HIGH_CONFIDENCE
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.tools.run_query import jsonable

DATA_DIR = Path(__file__).parent / "data" / "generalisation"
SPLITS = ("dev", "unseen")  # `--split all`: the issue-11 set
HOLDOUT = "holdout"
ISSUE_11_DATASETS = ("flights", "lahman", "chinook", "penguins", "vega")
# The datasets each split asks about.
SPLIT_DATASETS = {"dev": ISSUE_11_DATASETS, "unseen": ISSUE_11_DATASETS,
                  HOLDOUT: ("routes", "movies", "superstore")}
REL_TOLERANCE = 1e-6
ANSWER_LIMIT = 1000
# "today" per dataset, just after its data ends, so 'last month' and 'last year' have rows.
TODAY = {
    "flights": date(2014, 1, 10),
    "lahman": date(2017, 3, 1),
    "chinook": date(2012, 1, 15),
    "penguins": date(2010, 3, 1),
    "vega": date(2016, 1, 15),
    "routes": date(2026, 8, 3),  # the routes flown in July 2026; the files hold no dates
    "movies": date(2015, 1, 15),
    "superstore": date(2018, 1, 2),  # the order lines hold no dates: any 'last month' must be asked back
}

Verdict = Literal["correct", "wrong", "clarified", "error"]


@dataclass
class Outcome:
    """What `ask` did with one question, as seen from outside."""

    clarified: bool
    rows: list[list[Any]]
    sql: str | None
    confidence: float
    reply: str = ""
    error: str | None = None


@dataclass
class ItemResult:
    id: str
    dataset: str
    split: str
    order: str
    category: str
    question: str
    verdict: Verdict
    correct: bool
    clarified: bool
    confidence: float
    sql: str | None
    reply: str
    ms: float


@dataclass
class Figures:
    items: int = 0
    correct: int = 0
    clarified: int = 0
    wrong: int = 0
    wrong_high_confidence: int = 0
    errors: int = 0

    def add(self, result: ItemResult) -> None:
        self.items += 1
        self.correct += result.correct
        self.clarified += result.clarified
        self.wrong += result.verdict == "wrong"
        self.wrong_high_confidence += result.verdict == "wrong" and result.confidence >= HIGH_CONFIDENCE
        self.errors += result.verdict == "error"

    def to_json(self) -> dict[str, Any]:
        n = max(1, self.items)
        return {**asdict(self), "accuracy": round(self.correct / n, 4),
                "clarify_rate": round(self.clarified / n, 4)}


@dataclass
class GeneralisationReport:
    model: str
    results: list[ItemResult] = field(default_factory=list)
    load_orders: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def figures(self, key: Callable[[ItemResult], str]) -> dict[str, dict[str, Any]]:
        groups: dict[str, Figures] = {}
        for result in self.results:
            groups.setdefault(key(result), Figures()).add(result)
        return {name: figures.to_json() for name, figures in sorted(groups.items())}

    @property
    def overall(self) -> dict[str, Any]:
        return self.figures(lambda r: "overall").get("overall", Figures().to_json())

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": "generalisation",
            "model": self.model,
            "high_confidence": HIGH_CONFIDENCE,
            "overall": self.overall,
            "per_split": self.figures(lambda r: r.split),
            "per_dataset_split": self.figures(lambda r: f"{r.dataset}/{r.split}"),
            "per_order": self.figures(lambda r: f"{r.dataset}/{r.order}"),
            "per_category": self.figures(lambda r: r.category),
            "load_orders": self.load_orders,
            "p50_ms": round(statistics.median(r.ms for r in self.results), 1) if self.results else 0.0,
            "failures": [asdict(r) for r in self.results if not r.correct],
        }


def load_items(splits: Iterable[str] = SPLITS) -> list[dict[str, Any]]:
    items = []
    for split in splits:
        with (DATA_DIR / f"{split}.jsonl").open(encoding="utf-8") as handle:
            items += [{**json.loads(line), "split": split} for line in handle if line.strip()]
    return items


# ---- scoring ---------------------------------------------------------------------------------------------

def _normal(value: Any) -> Any:
    """One comparable form: numbers as float, booleans as 0/1, text stripped, ISO text parsed, midnight times
    as dates."""
    value = jsonable(value)
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        value = value.strip()  # a loader may trim 'Edinburgh ' as it reads the CSV field
        for parse in (date.fromisoformat, datetime.fromisoformat):
            try:
                parsed = parse(value)
            except ValueError:
                continue
            if isinstance(parsed, datetime):
                parsed = parsed.replace(tzinfo=None)
                midnight = parsed.time() == datetime.min.time()
                return parsed.date().isoformat() if midnight else parsed.isoformat()
            return parsed.isoformat()
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL_TOLERANCE, abs_tol=1e-9)
    return a == b


def _sort_key(row: tuple) -> tuple:
    # Numbers sort by a rounded value, so two results that differ only within the tolerance sort alike.
    return tuple((0, float(f"{v:.6g}"), "") if isinstance(v, float) else (1, 0.0, str(v)) for v in row)


def _runs(rows: list[tuple]) -> list[list[tuple]]:
    """Consecutive rows whose last value (an ordered gold's sort key) is the same: ties, in any order."""
    runs: list[list[tuple]] = []
    for row in rows:
        if runs and _same(runs[-1][-1][-1], row[-1]):
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs


def _equal_rows(left: list[tuple], right: list[tuple]) -> bool:
    return all(_same(a, b) for lrow, rrow in zip(left, right, strict=True)
               for a, b in zip(lrow, rrow, strict=True))


def _equal_bags(left: list[tuple], right: list[tuple]) -> bool:
    return _equal_rows(sorted(left, key=_sort_key), sorted(right, key=_sort_key))


def rows_match(gold: list[tuple], got: list[tuple], ordered: bool) -> bool:
    """Gold rows equal to the answer's rows under some mapping of gold columns to distinct answer columns.
    Ordered: the rows must come in the gold's order, except that rows tied on the gold's last column (its
    sort key) may come in any order among themselves."""
    if len(gold) != len(got):
        return False
    if not gold:
        return True
    gold = [tuple(_normal(v) for v in row) for row in gold]
    got = [tuple(_normal(v) for v in row) for row in got]
    width = len(gold[0])
    if len(got[0]) < width:
        return False
    for mapping in itertools.permutations(range(len(got[0])), width):
        projected = [tuple(row[i] for i in mapping) for row in got]
        if not ordered:
            if _equal_bags(gold, projected):
                return True
            continue
        start, same = 0, True
        for run in _runs(gold):
            same = same and _equal_bags(run, projected[start:start + len(run)])
            start += len(run)
        if same:
            return True
    return False


def judge(golds: list[list[tuple]] | None, outcome: Outcome, ordered: bool) -> Verdict:
    """The verdict for one answer. `golds` is None when the right answer is to ask back; else the result sets
    of the accepted gold queries (any one of them matching is right)."""
    if outcome.error is not None:
        return "error"
    if outcome.clarified:
        return "correct" if golds is None else "clarified"
    if golds is None:
        return "wrong"  # it answered a question that cannot be answered from the data, or is ambiguous
    got = [tuple(row) for row in outcome.rows]
    return "correct" if any(rows_match(gold, got, ordered) for gold in golds) else "wrong"


# ---- loading ---------------------------------------------------------------------------------------------

def order_settings(root: Path, where: Path, overrides: dict[str, Any] | None = None) -> Settings:
    """A fresh embedded warehouse, catalog and vector store under `where` that may read the files under
    `root`. No .env file is read; ETLA_* environment variables apply (ETLA_MODEL=openai scores the LLM path),
    and `overrides` win over both."""
    return Settings(
        allowed_roots=[root],
        data_dir=where / "data",
        _env_file=None,
        warehouse_url=f"chdb://{where / 'warehouse'}",
        catalog_url=f"sqlite:///{where / 'catalog.db'}",
        **(overrides or {}),
    )


def load_as_a_user(ctx: ToolContext, paths: dict[str, Path], order: Iterable[str]) -> list[str]:
    """infer_schema + load_table through the registry, one table at a time in `order`; returns the order."""
    loaded = []
    for table in order:
        get_tool("infer_schema").run(ctx, {"path": str(paths[table]), "name": table})
        get_tool("load_table").run(ctx, {"dataset": table, "replace": True})
        loaded.append(table)
    return loaded


def _sqlite_column(column: pa.ChunkedArray) -> list[Any]:
    if pa.types.is_timestamp(column.type):
        column = pc.strftime(column, format="%Y-%m-%d %H:%M:%S")
    elif pa.types.is_date(column.type) or pa.types.is_time(column.type):
        column = pc.cast(column, pa.string())
    return column.to_pylist()


def gold_database(paths: dict[str, Path], target: str = ":memory:") -> sqlite3.Connection:
    """A SQLite database (in memory by default) of the same CSV files, read by Arrow, not by the project.
    An empty field is NULL, as a loader that infers nullable columns reads it."""
    connection = sqlite3.connect(target)
    for table, path in paths.items():
        data = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(strings_can_be_null=True))
        create = exp.Create(kind="TABLE", this=exp.Schema(
            this=exp.Table(this=exp.to_identifier(table, quoted=True)),
            expressions=[exp.ColumnDef(this=exp.to_identifier(c, quoted=True)) for c in data.column_names]))
        connection.execute(create.sql("sqlite"))
        insert = exp.insert(exp.values([tuple(exp.Placeholder() for _ in data.column_names)]),
                            exp.Table(this=exp.to_identifier(table, quoted=True)))
        columns = [_sqlite_column(data.column(i)) for i in range(data.num_columns)]
        connection.executemany(insert.sql("sqlite"), zip(*columns, strict=True))
    connection.commit()
    return connection


def gold_results(connection: sqlite3.Connection, item: dict[str, Any]) -> list[list[tuple]] | None:
    """The result set of each accepted gold query of `item`; None when the gold answer is to ask back."""
    gold = item["gold_sql"]
    if gold is None:
        return None
    queries = [gold] if isinstance(gold, str) else gold
    results = [connection.execute(query).fetchall() for query in queries]
    if item.get("gold_rows") is not None and len(results[0]) != item["gold_rows"]:
        raise EtlError(f"The gold SQL of {item['id']} returned {len(results[0])} rows, not the "
                       f"{item['gold_rows']} it returned when the set was frozen: the data has changed.")
    return results


# ---- asking ----------------------------------------------------------------------------------------------

def ask_tool(ctx: ToolContext, question: str, today: date) -> Outcome:
    """One question to the `ask` tool, as a chat would send it."""
    try:
        out = get_tool("ask").run(ctx, {"question": question, "today": today, "limit": ANSWER_LIMIT})
    except EtlError as exc:
        return Outcome(False, [], None, 0.0, error=str(exc))
    data = out.model_dump()
    return Outcome(clarified=data["clarification"] is not None, rows=data["rows"], sql=data["sql"],
                   confidence=data["confidence"], reply=data["answer"])


Asker = Callable[[ToolContext, dict[str, Any], date], Outcome]


def _ask_item(ctx: ToolContext, item: dict[str, Any], today: date) -> Outcome:
    return ask_tool(ctx, item["question"], today)


def run_dataset(root: Path, dataset: str, items: list[dict[str, Any]], report: GeneralisationReport,
                settings_overrides: dict[str, Any] | None = None, asker: Asker = _ask_item,
                orders: Iterable[str] | None = None) -> None:
    """Load `dataset` in each of its load orders and score every item on each; results go into `report`."""
    paths = write_dataset(dataset, root / "source" / dataset)
    gold_db = gold_database(paths)
    golds = {item["id"]: gold_results(gold_db, item) for item in items}
    gold_db.close()
    report.load_orders.setdefault(dataset, {})
    known = list(LOAD_ORDERS[dataset])
    for order_name in [o for o in known if orders is None or o in orders] or known[:1]:
        where = root / f"{dataset}-{order_name}"
        ctx = ToolContext(settings=order_settings(root, where, settings_overrides))
        report.load_orders[dataset][order_name] = load_as_a_user(ctx, paths, LOAD_ORDERS[dataset][order_name])
        for item in items:
            started = time.perf_counter()
            outcome = asker(ctx, item, TODAY[dataset])
            ms = (time.perf_counter() - started) * 1000
            verdict = judge(golds[item["id"]], outcome, item.get("ordered", False))
            report.results.append(ItemResult(
                id=item["id"], dataset=dataset, split=item["split"], order=order_name,
                category=item["category"], question=item["question"], verdict=verdict,
                correct=verdict == "correct", clarified=outcome.clarified, confidence=outcome.confidence,
                sql=outcome.sql, reply=outcome.error or outcome.reply, ms=round(ms, 1)))


def run(root: Path, items: list[dict[str, Any]], *, datasets: Iterable[str] | None = None,
        settings_overrides: dict[str, Any] | None = None, asker: Asker = _ask_item,
        orders: Iterable[str] | None = None) -> GeneralisationReport:
    """Score `items` dataset by dataset under `root` (a scratch directory). `orders`: only these load orders
    (a dataset with none of them is loaded in its first)."""
    report = GeneralisationReport(model=order_settings(root, root, settings_overrides).model)
    wanted = set(datasets) if datasets else None
    for dataset in LOAD_ORDERS:
        chosen = [item for item in items if item["dataset"] == dataset]
        if chosen and (wanted is None or dataset in wanted):
            run_dataset(root, dataset, chosen, report, settings_overrides, asker, orders)
    return report
