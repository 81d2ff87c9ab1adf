"""The Slack channel's parts on their own: the once-only gate (in-process LRU, and the real local Redis at
127.0.0.1:6379), the background task holder's shutdown, Block Kit messages and inbound text."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from redis.asyncio import Redis

from etl_assistant.channels.slack_blocks import (
    MARKDOWN_LIMIT,
    NOTIFICATION_CHARS,
    ApprovalTicket,
    approval_message,
    decided_blocks,
    reply_message,
)
from etl_assistant.channels.slack_dedupe import LocalOnceGate, RedisOnceGate, once_gate
from etl_assistant.channels.slack_turns import BackgroundTasks, SlackPlace, message_text
from etl_assistant.errors import InputError

REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_local_gate_says_first_time_once_and_forgets_the_oldest():
    gate = LocalOnceGate(size=2)
    assert [await gate.first_time(k) for k in ("a", "a", "b", "a")] == [True, False, True, False]
    assert await gate.first_time("c")  # evicts "b", the least recently seen
    assert await gate.first_time("b")
    assert not await gate.first_time("c")
    assert isinstance(once_gate(None), LocalOnceGate)


@pytest.mark.redis
async def test_redis_gate_claims_a_key_once_across_clients_with_a_ttl():
    prefix = f"etla:test:slack:{uuid.uuid4().hex}:"
    first, second = (RedisOnceGate(REDIS_URL, prefix=prefix, ttl_s=60) for _ in range(2))
    check = Redis.from_url(REDIS_URL)
    try:
        claims = await asyncio.gather(*[gate.first_time("event:Ev1") for gate in (first, second, first)])
        assert sorted(claims) == [False, False, True], "exactly one claim wins, whoever asks"
        assert 0 < await check.ttl(prefix + "event:Ev1") <= 60
        assert await second.first_time("event:Ev2")
    finally:
        await check.delete(prefix + "event:Ev1", prefix + "event:Ev2")
        await check.aclose()
        await first.aclose()
        await second.aclose()


async def test_redis_gate_that_cannot_reach_redis_lets_the_event_through(caplog: pytest.LogCaptureFixture):
    gate = RedisOnceGate("redis://127.0.0.1:1/0")  # nothing listens on port 1
    with caplog.at_level(logging.WARNING):
        assert await gate.first_time("event:EvDown")
    assert "Redis is unreachable" in caplog.text
    await gate.aclose()


async def test_background_tasks_finish_within_the_grace_and_stragglers_are_cancelled():
    tasks = BackgroundTasks()
    finished: list[str] = []
    cancelled = asyncio.Event()

    async def quick() -> None:
        await asyncio.sleep(0.05)
        finished.append("quick")

    async def endless() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    tasks.start(quick(), name="quick")
    tasks.start(endless(), name="endless")
    assert len(tasks.tasks) == 2
    await tasks.aclose(grace_s=0.5)
    assert finished == ["quick"] and cancelled.is_set()
    assert not tasks.tasks
    late = quick()
    tasks.start(late, name="late")  # arrives during shutdown: refused, not leaked
    assert not tasks.tasks and late.cr_frame is None, "the refused coroutine is closed, never run"
    assert finished == ["quick"]


async def test_a_failing_background_task_is_logged_and_released(caplog: pytest.LogCaptureFixture):
    tasks = BackgroundTasks()

    async def broken() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR):
        tasks.start(broken(), name="broken-turn")
        await asyncio.sleep(0.05)
    assert not tasks.tasks
    assert "Slack task broken-turn failed" in caplog.text and "boom" in caplog.text


def test_reply_and_approval_messages_fit_slack_limits():
    long_text = "x" * (MARKDOWN_LIMIT + 500)
    message = reply_message(long_text)
    assert len(message["blocks"][0]["text"]) == MARKDOWN_LIMIT
    assert message["blocks"][0]["text"].endswith("_(shortened to fit one Slack message)_")
    assert len(message["text"]) == NOTIFICATION_CHARS
    assert reply_message("short")["blocks"] == [{"type": "markdown", "text": "short"}]
    ticket = ApprovalTicket(thread_id="slack:T1:C1:1.2", interrupt_id="abc", actions=2)
    blocks = approval_message("**Approval needed.**", ticket)["blocks"]
    buttons = blocks[-1]["elements"]
    assert [ApprovalTicket.decode(b["value"]) for b in buttons] == [ticket, ticket]
    assert all(len(b["value"]) <= 2000 for b in buttons)
    decided = decided_blocks(blocks, "Approved by <@U1>")
    assert [b["type"] for b in decided] == ["markdown", "context"]


def test_a_foreign_button_value_is_an_input_error():
    with pytest.raises(InputError, match="does not belong to an etl-assistant approval"):
        ApprovalTicket.decode('{"something": "else"}')
    with pytest.raises(InputError, match="not a Slack conversation"):
        SlackPlace.of_thread("openai-thread-1")


def test_places_round_trip_through_thread_ids():
    threaded = SlackPlace("T1", "C1", "1700000000.000100")
    assert threaded.thread_id == "slack:T1:C1:1700000000.000100"
    assert SlackPlace.of_thread(threaded.thread_id) == threaded
    direct = SlackPlace("T1", "D1", None)
    assert SlackPlace.of_thread(direct.thread_id) == direct


def test_message_text_drops_the_bots_mention_and_slack_escapes():
    escaped = "<@UBOT> rows where a &lt; 3 &amp;&amp; b &gt; 1"
    assert message_text(escaped, "UBOT") == "rows where a < 3 && b > 1"
    assert message_text("hey <@UBOT|etla>, ask <@UOTHER> too", "UBOT") == "hey , ask <@UOTHER> too"
    assert message_text("<@UBOT>   ", "UBOT") == ""
    assert message_text("<@UBOT> infer orders", None) == "infer orders"
