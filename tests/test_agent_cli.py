"""`etl-assistant chat`: one turn in-process through AgentService.stream with the shipped offline planner."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from etl_assistant.cli import app
from etl_assistant.config import get_settings


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "weather.csv").write_text("id,city,temp\n1,Oslo,3.5\n2,Rome,18.2\n3,Oslo,4.1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ETLA_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_chat_streams_a_turn_and_continues_the_thread(workdir: Path):
    runner = CliRunner()
    first = runner.invoke(app, ["chat", "What is the schema of weather.csv?"])
    assert first.exit_code == 0, first.output
    assert "-> infer_schema" in first.stderr and "<- infer_schema: name=weather" in first.stderr
    assert "| `city` | string |" in first.stdout
    thread_id = re.search(r"thread: (\S+)", first.stderr).group(1)
    second = runner.invoke(app, ["chat", "what datasets do I have?", "--thread", thread_id])
    assert second.exit_code == 0, second.output
    assert "-> list_datasets" in second.stderr and "weather" in second.stdout
    assert f"thread: {thread_id}" in second.stderr


def test_chat_refuses_bad_arguments_with_a_sentence(workdir: Path):
    runner = CliRunner()
    both = runner.invoke(app, ["chat", "hi", "--decision", "approve", "--thread", "t"])
    assert both.exit_code == 2 and "Give a message, or --decision" in both.stderr
    unknown = runner.invoke(app, ["chat", "--decision", "approve", "--thread", "no-such-thread"])
    assert unknown.exit_code == 1
    assert "Thread no-such-thread was not found" in unknown.stderr and "Traceback" not in unknown.output
