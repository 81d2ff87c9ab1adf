"""Slack workspaces mapped to tenants (`ETLA_SLACK_TENANTS`), end to end on the real app under uvicorn with
requests signed as Slack signs them. Slack's Web API is the mocked external boundary (the local recorder of
tests/support/slack_recorder.py); the chat model is the scripted test model standing in for a remote LLM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from etl_assistant.agent.threads import ThreadNotFound
from etl_assistant.channels.slack_turns import NOT_MAPPED, SlackPlace
from etl_assistant.config import Settings
from etl_assistant.server import create_app
from tests.support.live_server import LiveServer, live_server
from tests.support.scripted_model import ScriptedChatModel, scripted_tools
from tests.support.slack_recorder import TEAM_ID, SlackRecorder, slack_recorder
from tests.test_slack import SECRET, TOKEN, mention, post_event, posts_in, reply_text, unique


@pytest.fixture(scope="module")
def recorder() -> Iterator[SlackRecorder]:
    with slack_recorder() as running:
        yield running


@pytest.fixture(scope="module")
def server(recorder: SlackRecorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("slack_tenants")
    settings = Settings(data_dir=data_dir, slack_signing_secret=SECRET, slack_bot_token=TOKEN,
                        slack_api_url=recorder.api_url, slack_tenants={TEAM_ID: "acme"}, _env_file=None)
    app = create_app(settings, model=ScriptedChatModel(), tools=scripted_tools(data_dir / "audit.db"))
    with live_server(app) as running:
        yield running


def test_a_mapped_workspace_talks_as_its_tenant(server: LiveServer, recorder: SlackRecorder) -> None:
    channel = unique("CMAP")
    event = mention(channel, "echo hello from acme")
    assert post_event(server, event).status_code == 200
    assert "hello from acme" in reply_text(posts_in(recorder, channel)[0])
    thread_id = SlackPlace(TEAM_ID, channel, event["event"]["ts"]).thread_id
    agent = server.config.app.state.agent
    assert server.call(agent.get_thread(thread_id, "acme"))["metadata"]["slack_team"] == TEAM_ID
    with pytest.raises(ThreadNotFound):
        server.call(agent.get_thread(thread_id, "default"))


def test_an_unmapped_workspace_is_told_and_nothing_runs(server: LiveServer, recorder: SlackRecorder) -> None:
    channel = unique("CSTRANGE")
    event = mention(channel, "echo should not run")
    event["team_id"] = "T0STRANGER"
    assert post_event(server, event).status_code == 200
    assert reply_text(posts_in(recorder, channel)[0]) == NOT_MAPPED
    thread_id = SlackPlace("T0STRANGER", channel, event["event"]["ts"]).thread_id
    agent = server.config.app.state.agent
    for tenant in ("acme", "default"):
        with pytest.raises(ThreadNotFound):
            server.call(agent.get_thread(thread_id, tenant))


def test_the_default_is_one_workspace_for_etla_tenant(tmp_path: Path) -> None:
    from etl_assistant.channels.slack_turns import SlackTurns

    app = create_app(Settings(data_dir=tmp_path, _env_file=None))
    turns = SlackTurns(app, client=None, once=None)  # type: ignore[arg-type] - only the mapping is read
    assert turns.tenant_of("T0ANY") == "default"
