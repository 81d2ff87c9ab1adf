"""The routing eval runner: the real data set through the offline planner; fails below the measured floors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from etl_assistant.agent.planner.entities import extract
from etl_assistant.agent.planner.exemplars import EXEMPLARS
from etl_assistant.cli import app
from etl_assistant.evals.routing import DATA_PATH, EVAL_CATALOG, load_items, run

# Measured 2026-11-27 (see the planner report). dev: 99.5 % (tuned on). holdout: 88 % blind, 98 % after
# fixing the generic bugs it exposed. blind: 96.7 % on first run. new_intents: 91.7 % on first run.
# verify: 5/14 before the intent existed, 13/14 with it (the miss is "how many orders are there?" read as
# inspecting orders, an ask/infer tie that predates the intent).
# pipelines: 15/18 on first run, 18/18 after fixing the generic misses it exposed (inflected verbs such as
# "copied", a schedule compared by its cron rather than its words, "start it up again" after a pause).
# Floors sit a little under the measurements so a real regression fails and one noisy item does not.
DEV_FLOOR = 0.97
HOLDOUT_FLOOR = 0.94
BLIND_FLOOR = 0.93
NEW_INTENTS_FLOOR = 0.83
VERIFY_FLOOR = 0.85
PIPELINES_FLOOR = 0.9
OVERALL_FLOOR = 0.96


def test_cli_eval_routing_reports_per_tool_and_overall(tmp_path: Path):
    out = tmp_path / "routing.json"
    result = CliRunner().invoke(app, ["eval", "routing", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == json.loads(out.read_text())
    items = load_items()
    assert report["items"] == len(items) >= 250
    assert set(report["per_tool"]) == {item["expect"]["tool"] for item in items}
    assert sum(t["items"] for t in report["per_tool"].values()) == report["items"]
    assert report["correct"] == sum(t["correct"] for t in report["per_tool"].values())
    assert report["items"] - report["correct"] == len(report["failures"])
    assert report["accuracy"] >= OVERALL_FLOOR
    assert report["per_split"]["dev"]["accuracy"] >= DEV_FLOOR
    assert report["per_split"]["holdout"]["accuracy"] >= HOLDOUT_FLOOR
    assert report["per_split"]["blind"]["accuracy"] >= BLIND_FLOOR
    assert report["per_split"]["new_intents"]["accuracy"] >= NEW_INTENTS_FLOOR
    assert report["per_split"]["verify"]["accuracy"] >= VERIFY_FLOOR
    assert report["per_split"]["pipelines"]["accuracy"] >= PIPELINES_FLOOR


def test_scoring_counts_wrong_tools_and_wrong_arguments_as_misses():
    items = [
        {
            "id": "a",
            "text": "select count(*) from orders",
            "expect": {"tool": "run_query", "args": {"sql": "SELECT COUNT(*)  FROM orders"}},
        },
        {"id": "b", "text": "select count(*) from orders", "expect": {"tool": "ask", "args": {}}},
        {
            "id": "c",
            "text": "make a clickhouse table for orders",
            "expect": {"tool": "generate_ddl", "args": {"dataset": "orders", "dialect": "postgres"}},
        },
    ]
    report = run(items)
    assert report.correct == 1 and report.items == 3
    assert [f.id for f in report.failures] == ["b", "c"]
    assert report.failures[1].got_args == {"dataset": "orders", "dialect": "clickhouse"}
    assert report.per_tool["run_query"]["accuracy"] == 1.0 and report.per_tool["ask"]["accuracy"] == 0.0


def test_eval_set_shape():
    items = load_items(DATA_PATH)
    assert len({item["id"] for item in items}) == len(items)
    assert sum(1 for item in items if item.get("history")) >= 40
    splits = {item.get("split", "dev") for item in items}
    assert splits == {"dev", "holdout", "blind", "new_intents", "verify", "pipelines"}


def test_no_exemplar_is_an_eval_utterance():
    """The planner's exemplars must not copy eval items, even after the router's normalisation."""
    known = [*EVAL_CATALOG.dataset_names, *EVAL_CATALOG.tables, "refunds"]
    normalized = {extract(item["text"], known).normalized for item in load_items()}
    exemplars = {text for texts in EXEMPLARS.values() for text in texts}
    assert not normalized & exemplars


def test_unknown_suite_is_a_clear_error():
    result = CliRunner().invoke(app, ["eval", "nonsense"])
    assert result.exit_code == 2
    assert "Unknown eval suite 'nonsense'" in result.output
