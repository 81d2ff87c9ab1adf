"""An answer with a chart, in Slack: the reply is posted, then the chart as a PNG file in the same thread
(`files_upload_v2`). The shipped app (offline planner, real tools, chDB) under uvicorn on 127.0.0.1; Slack's
Web API is the recorder standing in for it (the external boundary, tests/support/slack_recorder.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from etl_assistant.config import Settings
from etl_assistant.server import create_app
from tests.support.live_server import LiveServer, live_server
from tests.support.slack_recorder import SlackRecorder
from tests.test_chart_images import ORDERS, png_facts
from tests.test_slack import (  # noqa: F401 - `recorder` is a shared fixture
    PLANNER_WAIT_S,
    SECRET,
    TOKEN,
    mention,
    post_event,
    posts_in,
    recorder,
    reply_text,
    unique,
)


@pytest.fixture
def shipped(recorder: SlackRecorder, tmp_path: Path) -> Iterator[LiveServer]:  # noqa: F811
    settings = Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path], slack_signing_secret=SECRET,
                        slack_bot_token=TOKEN, slack_api_url=recorder.api_url, _env_file=None)
    with live_server(create_app(settings)) as running:
        uploaded = httpx.post(f"{running.url}/v1/datasets", timeout=60,
                              files={"file": ("orders.csv", ORDERS.encode())})
        assert uploaded.status_code == 201, uploaded.text
        yield running


def test_a_chart_follows_the_answer_in_its_thread(shipped: LiveServer, recorder: SlackRecorder):  # noqa: F811
    channel = unique("CCHT")
    root = mention(channel, "revenue per region in 2024")
    assert post_event(shipped, root).status_code == 200
    [answer] = posts_in(recorder, channel, timeout=PLANNER_WAIT_S)
    assert "| region | revenue |" in reply_text(answer)
    in_thread = lambda c: c.args.get("channel_id") == channel  # noqa: E731
    [done] = recorder.wait_for("files.completeUploadExternal", in_thread)
    assert done.args["thread_ts"] == root["event"]["ts"]
    uploads = recorder.of("files.getUploadURLExternal")
    [asked] = [c for c in uploads if c.response["file_id"] in str(done.args["files"])]
    assert asked.args["filename"] == "chart.png"
    [upload] = recorder.of("file_upload", lambda c: c.args["file_id"] == asked.response["file_id"])
    width, height, variety = png_facts(upload.args["data"])
    assert width > 400 and height > 100 and variety > 20
    assert "revenue per region in 2024" in str(done.args["files"])
