"""`POST /slack/events` end to end: the real app under uvicorn, requests signed exactly as Slack signs them.

Slack's Web API is the one thing mocked: it is an external boundary, so `ETLA_SLACK_API_URL` points at
tests/support/slack_recorder.py, a real HTTP server on 127.0.0.1 that records `auth.test`,
`chat.postMessage`, `chat.update`, `chat.postEphemeral` and response_url posts. The chat model is the scripted
test model standing in for a remote LLM (its `record_row` tool writes a real SQLite row and needs approval);
one test runs the shipped offline planner with the real tools.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import redis

from etl_assistant.channels.slack import NOT_CONFIGURED, USAGE
from etl_assistant.channels.slack_blocks import APPROVE_ACTION, REJECT_ACTION
from etl_assistant.channels.slack_turns import ALREADY_DECIDED, BUSY, NOT_PENDING
from etl_assistant.config import Settings
from etl_assistant.server import create_app
from tests.support.live_server import LiveServer, live_server
from tests.support.scripted_model import ScriptedChatModel, audit_rows, scripted_tools
from tests.support.slack_recorder import (
    BOT_USER_ID,
    TEAM_ID,
    SlackCall,
    SlackRecorder,
    Where,
    slack_recorder,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"
PERSON = "U0PERSON1"
REDIS_URL = "redis://127.0.0.1:6379/0"
PLANNER_WAIT_S = 240  # the shipped planner's first turn loads its embedding model; the machine is shared
_ids = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_ids):04d}"


def new_event_id() -> str:
    """Unique across runs too: with Redis the dedupe gate remembers event ids for an hour."""
    return f"Ev{uuid.uuid4().hex}"


def signed_post(url: str, body: bytes, content_type: str, *, secret: str = SECRET,
                timestamp: int | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST like Slack: `X-Slack-Signature: v0=` + hex HMAC-SHA256(secret, `v0:{ts}:{raw body}`)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return httpx.post(url, content=body, timeout=30, headers={
        "Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature,
        **(headers or {})})


def post_event(server: LiveServer, payload: dict[str, Any], **kwargs: Any) -> httpx.Response:
    body = json.dumps(payload).encode()
    return signed_post(f"{server.url}/slack/events", body, "application/json", **kwargs)


def post_form(server: LiveServer, fields: dict[str, str], **kwargs: Any) -> httpx.Response:
    return signed_post(f"{server.url}/slack/events", urlencode(fields).encode(),
                       "application/x-www-form-urlencoded", **kwargs)


def mention(channel: str, text: str, *, event_id: str | None = None, ts: str | None = None,
            thread_ts: str | None = None) -> dict[str, Any]:
    ts = ts or f"{int(time.time())}.{next(_ids):06d}"
    event = {"type": "app_mention", "user": PERSON, "text": f"<@{BOT_USER_ID}> {text}", "ts": ts,
             "channel": channel, "event_ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return {"token": "unused", "team_id": TEAM_ID, "api_app_id": "A0APP0001", "type": "event_callback",
            "event": event, "event_id": event_id or new_event_id(), "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}]}


def click(recorder: SlackRecorder, approval: SlackCall, action_id: str, user: str = PERSON) -> dict[str, str]:
    """The block_actions payload Slack sends when `user` clicks a button on our posted approval."""
    button = next(e for b in approval.args["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == action_id)
    channel, thread_ts = approval.args["channel"], approval.args["thread_ts"]
    ts = approval.response["ts"]
    payload = {
        "type": "block_actions", "team": {"id": TEAM_ID, "domain": "test"},
        "user": {"id": user, "team_id": TEAM_ID}, "api_app_id": "A0APP0001", "token": "unused",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "thread_ts": thread_ts},
        "trigger_id": unique("trigger."), "channel": {"id": channel, "name": "data"},
        "message": {"type": "message", "ts": ts, "thread_ts": thread_ts, "text": approval.args["text"],
                    "blocks": approval.args["blocks"]},
        "response_url": f"{recorder.url}/response/{unique('r')}",
        "actions": [{"type": "button", "action_id": action_id, "block_id": "etla_approval",
                     "value": button["value"], "action_ts": str(time.time())}],
    }
    return {"payload": json.dumps(payload)}


def in_channel(channel: str) -> Where:
    return lambda call: call.args.get("channel") == channel


def posts_in(recorder: SlackRecorder, channel: str, count: int = 1, timeout: float = 60) -> list[SlackCall]:
    return recorder.wait_for("chat.postMessage", in_channel(channel), count, timeout)


def reply_text(call: SlackCall) -> str:
    return "\n".join(b["text"] for b in call.args["blocks"] if b["type"] == "markdown")


def rows_of(data_dir: Path, value: str) -> list[tuple[str, str]]:
    """Rows the approval-gated test tool wrote for `value` (a real SQLite table)."""
    return [r for r in audit_rows(data_dir / "audit.db") if r[0] == value]


def human_turns(server: LiveServer, thread_id: str) -> list[str]:
    state = server.call(server.config.app.state.agent.get_state(thread_id))
    return [m["content"] for m in state["values"]["messages"] if m["type"] == "human"]


@pytest.fixture(scope="module")
def recorder() -> Iterator[SlackRecorder]:
    with slack_recorder() as running:
        yield running


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("slack")


@pytest.fixture(scope="module")
def server(recorder: SlackRecorder, data_dir: Path) -> Iterator[LiveServer]:
    settings = Settings(data_dir=data_dir, slack_signing_secret=SECRET, slack_bot_token=TOKEN,
                        slack_api_url=recorder.api_url, _env_file=None)
    app = create_app(settings, model=ScriptedChatModel(), tools=scripted_tools(data_dir / "audit.db"))
    with live_server(app) as running:
        yield running


# ---- configuration and signatures ------------------------------------------------------------------------


def test_without_slack_settings_the_endpoint_says_so_and_the_rest_works(tmp_path: Path):
    app = create_app(Settings(data_dir=tmp_path / "data", _env_file=None), model=ScriptedChatModel(),
                     tools=scripted_tools(tmp_path / "audit.db"))
    with live_server(app) as running:
        refused = httpx.post(f"{running.url}/slack/events",
                             json={"type": "url_verification", "challenge": "c"})
        assert refused.status_code == 503
        assert refused.json() == {"error": NOT_CONFIGURED}
        assert httpx.get(f"{running.url}/v1/models", timeout=30).status_code == 200
        chat = httpx.post(f"{running.url}/v1/chat/completions", timeout=60,
                          json={"messages": [{"role": "user", "content": "hello"}]})
        assert chat.json()["choices"][0]["message"]["content"] == "You said: hello. I can echo things."


def test_url_verification_echoes_the_challenge(server: LiveServer):
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    response = post_event(server, {"token": "unused", "challenge": challenge, "type": "url_verification"})
    assert response.status_code == 200
    assert response.json() == {"challenge": challenge}


@pytest.mark.parametrize("how", ["wrong secret", "stale timestamp", "future timestamp", "no signature",
                                 "body changed", "timestamp not a number"])
def test_requests_not_signed_by_slack_are_refused(server: LiveServer, recorder: SlackRecorder, how: str):
    channel = unique("CBAD")
    payload = mention(channel, "echo should never run")
    body = json.dumps(payload).encode()
    url = f"{server.url}/slack/events"
    if how == "wrong secret":
        response = signed_post(url, body, "application/json", secret="not-the-secret")
    elif how == "stale timestamp":
        response = signed_post(url, body, "application/json", timestamp=int(time.time()) - 600)
    elif how == "future timestamp":
        response = signed_post(url, body, "application/json", timestamp=int(time.time()) + 600)
    elif how == "no signature":
        response = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
    elif how == "timestamp not a number":
        sig = "v0=" + hmac.new(SECRET.encode(), b"v0:soon:" + body, hashlib.sha256).hexdigest()
        response = httpx.post(url, content=body, headers={"Content-Type": "application/json",
                                                          "X-Slack-Request-Timestamp": "soon",
                                                          "X-Slack-Signature": sig})
    else:
        signed = signed_post(url, b"{}", "application/json")  # a valid signature, for another body
        assert signed.status_code in (200, 404)
        ts = str(int(time.time()))
        sig = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + b"{}", hashlib.sha256).hexdigest()
        response = httpx.post(url, content=body, headers={"Content-Type": "application/json",
                                                          "X-Slack-Request-Timestamp": ts,
                                                          "X-Slack-Signature": sig})
    assert response.status_code == 401
    time.sleep(0.3)
    assert not recorder.of("chat.postMessage", in_channel(channel))


def test_a_timestamp_just_inside_the_window_is_accepted(server: LiveServer):
    response = post_event(server, {"token": "unused", "challenge": "c", "type": "url_verification"},
                          timestamp=int(time.time()) - 280)
    assert response.status_code == 200 and response.json() == {"challenge": "c"}


# ---- mentions, retries, DMs, the slash command -----------------------------------------------------------


def test_a_mention_is_acked_at_once_and_answered_once_in_its_thread(server: LiveServer,
                                                                     recorder: SlackRecorder):
    channel = unique("CMEN")
    payload = mention(channel, "slow 30")  # the tool takes 1.5 s: the ack must not wait for it
    started = time.monotonic()
    response = post_event(server, payload)
    acked_after = time.monotonic() - started
    assert response.status_code == 200
    assert acked_after < 1.0, f"ack took {acked_after:.2f}s"
    assert not recorder.of("chat.postMessage", in_channel(channel))
    [reply] = posts_in(recorder, channel)
    assert reply.token == TOKEN
    assert reply.args["thread_ts"] == payload["event"]["ts"]
    text = reply_text(reply)
    assert "> running sleepy (30)…" in text
    assert text.rstrip().endswith('Result: {"text":"rested","length":30}')
    assert reply.args["text"].startswith("> running sleepy (30)…")
    assert [b["type"] for b in reply.args["blocks"]] == ["markdown"]
    thread_id = f"slack:{TEAM_ID}:{channel}:{payload['event']['ts']}"
    assert human_turns(server, thread_id) == ["slow 30"]
    thread = server.call(server.config.app.state.agent.get_thread(thread_id))
    assert thread["metadata"]["channel"] == "slack" and thread["metadata"]["slack_channel"] == channel
    time.sleep(0.3)
    assert len(recorder.of("chat.postMessage", in_channel(channel))) == 1


def test_a_retried_event_is_acked_without_a_second_run(server: LiveServer, recorder: SlackRecorder):
    channel = unique("CRET")
    payload = mention(channel, "echo once only")
    first = post_event(server, payload)
    retry = post_event(server, payload,
                       headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert first.status_code == 200 and retry.status_code == 200
    [reply] = posts_in(recorder, channel)
    assert "Result:" in reply_text(reply)
    again = post_event(server, payload,
                       headers={"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_error"})
    assert again.status_code == 200
    time.sleep(0.5)
    assert len(recorder.of("chat.postMessage", in_channel(channel))) == 1
    assert human_turns(server, f"slack:{TEAM_ID}:{channel}:{payload['event']['ts']}") == ["echo once only"]


def test_replies_in_a_thread_continue_its_conversation(server: LiveServer, recorder: SlackRecorder):
    channel = unique("CTHR")
    root = mention(channel, "echo first")
    post_event(server, root)
    posts_in(recorder, channel)
    root_ts = root["event"]["ts"]
    post_event(server, mention(channel, "echo second", thread_ts=root_ts))
    second = posts_in(recorder, channel, 2)[1]
    assert second.args["thread_ts"] == root_ts
    assert human_turns(server, f"slack:{TEAM_ID}:{channel}:{root_ts}") == ["echo first", "echo second"]


def test_a_failing_tool_is_answered_with_its_sentence(server: LiveServer, recorder: SlackRecorder):
    channel = unique("CERR")
    post_event(server, mention(channel, "down"))
    [reply] = posts_in(recorder, channel)
    text = reply_text(reply)
    assert "> warehouse_down failed: The warehouse at chdb:///nowhere is unreachable" in text
    assert "Traceback" not in text


def test_a_bare_mention_gets_help_without_a_run(server: LiveServer, recorder: SlackRecorder):
    channel = unique("CHLP")
    payload = mention(channel, "")
    post_event(server, payload)
    [reply] = posts_in(recorder, channel)
    assert "what datasets do I have" in reply_text(reply)
    with pytest.raises(Exception, match="was not found"):
        server.call(server.config.app.state.agent.get_thread(f"slack:{TEAM_ID}:{channel}:{payload['event']['ts']}"))


def test_a_direct_message_is_answered_and_the_bots_own_messages_are_not(server: LiveServer,
                                                                         recorder: SlackRecorder):
    channel = unique("DIM")

    def dm(text: str, **extra: Any) -> dict[str, Any]:
        ts = f"{int(time.time())}.{next(_ids):06d}"
        event = {"type": "message", "channel_type": "im", "channel": channel, "user": PERSON, "text": text,
                 "ts": ts, "event_ts": ts, **extra}
        return {"team_id": TEAM_ID, "api_app_id": "A0APP0001", "type": "event_callback", "event": event,
                "event_id": new_event_id(), "event_time": int(time.time()), "token": "unused"}

    assert post_event(server, dm("echo in private")).status_code == 200
    [reply] = posts_in(recorder, channel)
    assert reply.args.get("thread_ts") is None, "a DM outside threads is answered at its top level"
    assert "Result:" in reply_text(reply)
    own = dm("Result: something", user=BOT_USER_ID, bot_id="BBOT0001")
    edited = dm("echo edited", subtype="message_changed")
    assert post_event(server, own).status_code == 200
    assert post_event(server, edited).status_code == 200
    post_event(server, dm("echo again"))
    posts_in(recorder, channel, 2)
    time.sleep(0.3)
    assert len(recorder.of("chat.postMessage", in_channel(channel))) == 2
    assert human_turns(server, f"slack:{TEAM_ID}:{channel}:dm") == ["echo in private", "echo again"]


def test_other_events_are_acked_so_slack_does_not_retry(server: LiveServer):
    payload = {"team_id": TEAM_ID, "type": "event_callback", "event_id": new_event_id(), "token": "unused",
               "event": {"type": "reaction_added", "user": PERSON, "reaction": "eyes", "event_ts": "1.2"}}
    assert post_event(server, payload).status_code == 200


def slash(recorder: SlackRecorder, channel: str, text: str) -> dict[str, str]:
    return {"token": "unused", "team_id": TEAM_ID, "team_domain": "test", "channel_id": channel,
            "channel_name": "data", "user_id": PERSON, "user_name": "person", "command": "/etl", "text": text,
            "api_app_id": "A0APP0001", "response_url": f"{recorder.url}/response/{unique('r')}",
            "trigger_id": unique("trigger.")}


def test_slash_command_opens_a_thread_and_answers_in_it(server: LiveServer, recorder: SlackRecorder):
    channel = unique("CCMD")
    response = post_form(server, slash(recorder, channel, "echo from the command"))
    assert response.status_code == 200
    root, reply = posts_in(recorder, channel, 2)
    assert root.args["text"] == f"<@{PERSON}> asked: echo from the command"
    assert "thread_ts" not in root.args or root.args["thread_ts"] is None
    assert reply.args["thread_ts"] == root.response["ts"]
    assert "Result:" in reply_text(reply)
    thread_id = f"slack:{TEAM_ID}:{channel}:{root.response['ts']}"
    assert human_turns(server, thread_id) == ["echo from the command"]


def test_slash_command_without_text_answers_usage_in_the_ack(server: LiveServer, recorder: SlackRecorder):
    channel = unique("CUSE")
    response = post_form(server, slash(recorder, channel, "  "))
    assert response.status_code == 200
    assert response.json() == {"text": USAGE, "response_type": "ephemeral"}
    time.sleep(0.3)
    assert not recorder.of("chat.postMessage", in_channel(channel))


# ---- approvals -------------------------------------------------------------------------------------------


def ask_for_approval(server: LiveServer, recorder: SlackRecorder, value: str) -> tuple[str, SlackCall]:
    channel = unique("CAPR")
    post_event(server, mention(channel, f"record {value}"))
    [approval] = posts_in(recorder, channel)
    return channel, approval


def test_approval_buttons_approve_runs_the_tool_exactly_once(server: LiveServer, recorder: SlackRecorder,
                                                             data_dir: Path):
    channel, approval = ask_for_approval(server, recorder, "approved-row")
    text = reply_text(approval)
    assert "**Approval needed.**" in text and '"value": "approved-row"' in text
    assert "Reply **approve**" not in text, "Slack answers with buttons, not words"
    [actions] = [b for b in approval.args["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == [APPROVE_ACTION, REJECT_ACTION]
    assert not rows_of(data_dir, "approved-row"), "nothing runs before approval"

    approver = "U42"  # not the person who asked: the row is written for the one who clicked
    assert post_form(server, click(recorder, approval, APPROVE_ACTION, approver)).status_code == 200
    double = post_form(server, click(recorder, approval, APPROVE_ACTION, approver))  # an impatient 2nd click
    assert double.status_code == 200
    [update] = recorder.wait_for("chat.update", in_channel(channel))
    assert update.args["ts"] == approval.response["ts"]
    assert [b["type"] for b in update.args["blocks"]] == ["markdown", "context"]
    assert f"Approved by <@{approver}>" in update.args["blocks"][-1]["elements"][0]["text"]
    _, result = posts_in(recorder, channel, 2)
    assert result.args["thread_ts"] == approval.args["thread_ts"]
    assert "Result:" in reply_text(result) and "approved-row" in reply_text(result)
    [note] = recorder.wait_for("chat.postEphemeral", in_channel(channel))
    assert note.args["text"] == ALREADY_DECIDED and note.args["user"] == approver
    time.sleep(0.3)
    assert rows_of(data_dir, "approved-row") == [("approved-row", "default")]
    assert ("approved-row", approver) in audit_rows(data_dir / "audit.db", "value, user")
    assert len(recorder.of("chat.postMessage", in_channel(channel))) == 2


def test_reject_button_cancels_without_running(server: LiveServer, recorder: SlackRecorder, data_dir: Path):
    channel, approval = ask_for_approval(server, recorder, "rejected-row")
    assert post_form(server, click(recorder, approval, REJECT_ACTION)).status_code == 200
    [update] = recorder.wait_for("chat.update", in_channel(channel))
    assert f"Rejected by <@{PERSON}>" in update.args["text"]
    _, result = posts_in(recorder, channel, 2)
    assert "The tool failed: The person rejected record_row" in reply_text(result)
    assert not rows_of(data_dir, "rejected-row")


def test_a_button_whose_request_was_replaced_does_nothing(server: LiveServer, recorder: SlackRecorder,
                                                          data_dir: Path):
    channel, approval = ask_for_approval(server, recorder, "stale-row")
    post_event(server, mention(channel, "echo never mind", thread_ts=approval.args["thread_ts"]))
    posts_in(recorder, channel, 2)
    assert post_form(server, click(recorder, approval, APPROVE_ACTION)).status_code == 200
    [note] = recorder.wait_for("chat.postEphemeral", in_channel(channel))
    assert note.args["text"] == NOT_PENDING
    assert not rows_of(data_dir, "stale-row")
    assert not [c for c in recorder.of("chat.update") if c.args.get("channel") == channel]


def test_a_message_while_the_thread_is_busy_gets_a_sentence(server: LiveServer, recorder: SlackRecorder):
    channel = unique("CBSY")
    root = mention(channel, "slow 30")
    post_event(server, root)
    agent = server.config.app.state.agent
    deadline = time.monotonic() + 30
    while not agent.is_busy(f"slack:{TEAM_ID}:{channel}:{root['event']['ts']}"):
        assert time.monotonic() < deadline, "the first turn never started"
        time.sleep(0.01)
    post_event(server, mention(channel, "echo too soon", thread_ts=root["event"]["ts"]))
    busy = posts_in(recorder, channel)[0]
    assert BUSY in reply_text(busy)
    assert "Result:" in reply_text(posts_in(recorder, channel, 2)[1])


def test_no_slack_task_is_left_running(server: LiveServer):
    tasks = server.config.app.state.slack_tasks
    deadline = time.monotonic() + 30
    while tasks.tasks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not tasks.tasks
    assert not server.config.app.state.agent.active_runs


def test_shutdown_lets_a_running_turn_post_its_reply(recorder: SlackRecorder, tmp_path: Path):
    """A turn acked just before the server stops is drained by the lifespan, not dropped or left running."""
    settings = Settings(data_dir=tmp_path / "data", slack_signing_secret=SECRET, slack_bot_token=TOKEN,
                        slack_api_url=recorder.api_url, _env_file=None)
    app = create_app(settings, model=ScriptedChatModel(), tools=scripted_tools(tmp_path / "audit.db"))
    channel = unique("CEND")
    with live_server(app) as running:
        assert post_event(running, mention(channel, "slow 20")).status_code == 200
        deadline = time.monotonic() + 5
        while not app.state.slack_tasks.tasks and time.monotonic() < deadline:
            time.sleep(0.01)  # the listener starts the turn just after the ack
        assert len(app.state.slack_tasks.tasks) == 1
        assert not recorder.of("chat.postMessage", in_channel(channel))
    [reply] = recorder.of("chat.postMessage", in_channel(channel))
    assert 'Result: {"text":"rested","length":20}' in reply_text(reply)
    assert not app.state.slack_tasks.tasks


# ---- the shipped assistant (offline planner, real tools) with Redis dedupe ---------------------------------


@pytest.fixture(scope="module")
def shipped_server(recorder: SlackRecorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("slack_shipped")
    settings = Settings(data_dir=data_dir, allowed_roots=[data_dir], slack_signing_secret=SECRET,
                        slack_bot_token=TOKEN, slack_api_url=recorder.api_url, redis_url=REDIS_URL,
                        _env_file=None)
    with live_server(create_app(settings)) as running:
        yield running


def test_shipped_assistant_infers_an_uploaded_file_and_remembers_it_in_the_thread(
        shipped_server: LiveServer, recorder: SlackRecorder):
    rows = "\n".join(f"{i},{('north', 'south')[i % 2]},{i * 1.5:.2f}" for i in range(1, 31))
    uploaded = httpx.post(f"{shipped_server.url}/v1/datasets", timeout=60,
                          files={"file": ("orders.csv", f"order_id,region,amount\n{rows}\n")})
    assert uploaded.status_code == 201, uploaded.text
    channel = unique("CSHP")
    root = mention(channel, "Show me the schema of orders")
    assert post_event(shipped_server, root).status_code == 200
    [schema] = posts_in(recorder, channel, timeout=PLANNER_WAIT_S)
    text = reply_text(schema)
    assert text.startswith("> running infer_schema (orders.csv)…\n\n"
                           "> infer_schema: name=orders, row_count=30")
    assert "| `order_id` | integer | no | 30 | yes |" in text and "| `region` | string | no | 2 |" in text
    post_event(shipped_server, mention(channel, "what datasets do I have?", thread_ts=root["event"]["ts"]))
    listing = reply_text(posts_in(recorder, channel, 2, timeout=PLANNER_WAIT_S)[1])
    assert "> running list_datasets…" in listing and "`orders`" in listing


@pytest.mark.redis
def test_with_redis_a_retry_is_deduplicated_through_redis(shipped_server: LiveServer,
                                                          recorder: SlackRecorder):
    channel = unique("CRDS")
    payload = mention(channel, "what datasets do I have?", event_id=new_event_id())
    key = f"etla:slack:once:event:{payload['event_id']}"
    check = redis.Redis.from_url(REDIS_URL)
    try:
        assert post_event(shipped_server, payload).status_code == 200
        assert post_event(shipped_server, payload, headers={"X-Slack-Retry-Num": "1"}).status_code == 200
        posts_in(recorder, channel, timeout=PLANNER_WAIT_S)
        assert check.exists(key) == 1 and 0 < check.ttl(key) <= 3600
        time.sleep(0.5)
        assert len(recorder.of("chat.postMessage", in_channel(channel))) == 1
        thread_id = f"slack:{TEAM_ID}:{channel}:{payload['event']['ts']}"
        assert human_turns(shipped_server, thread_id) == ["what datasets do I have?"]
    finally:
        check.delete(key)
        check.close()
