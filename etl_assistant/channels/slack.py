"""The Slack channel: `POST /slack/events` for the Events API, the `/etl` slash command and button clicks.

Built on slack-bolt's `AsyncApp` behind its FastAPI adapter, which verifies every request's signature
(`v0=` HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret, constant-time compare, timestamps older
than 5 minutes refused with 401) and answers `url_verification` with its challenge. Listeners only ack and
start the turn as a tracked background task (`slack_turns`), so Slack gets its 200 within 3 seconds and the
reply follows in the thread:
- an app mention, or a direct message -> a chat turn in the Slack thread's conversation;
- `/etl <question>` -> the question is posted as a thread root and answered in that thread;
- a run that ends waiting for approval posts the plan with Approve / Reject buttons; a click resumes it.
Slack's retries of an event (`X-Slack-Retry-Num`) are acked without a second run (dedupe by `event_id`).
Without `ETLA_SLACK_SIGNING_SECRET` and `ETLA_SLACK_BOT_TOKEN` the endpoint answers 503 with that sentence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from etl_assistant.channels.slack_blocks import APPROVE_ACTION, REJECT_ACTION, ApprovalTicket
from etl_assistant.channels.slack_dedupe import OnceGate, once_gate
from etl_assistant.channels.slack_turns import BackgroundTasks, SlackPlace, SlackTurns, message_text
from etl_assistant.config import Settings
from etl_assistant.errors import InputError

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
COMMAND = "/etl"
NOT_CONFIGURED = (
    "Slack is not configured on this server; set ETLA_SLACK_SIGNING_SECRET and ETLA_SLACK_BOT_TOKEN "
    "and restart it."
)
UNSIGNED = {"error": "invalid request"}  # what bolt answers a request that fails the signature check
USAGE = "Tell me what you need after the command, e.g. `/etl what datasets do I have`."
Ack = Callable[..., Awaitable[Any]]
LifespanHook = Callable[[FastAPI], AbstractAsyncContextManager[object]]


def mount_slack(app: FastAPI, settings: Settings) -> LifespanHook:
    """Add `POST /slack/events`; returns the lifespan hook that drains running Slack turns on shutdown."""
    if settings.slack_signing_secret is None or settings.slack_bot_token is None:
        app.add_api_route(EVENTS_PATH, _not_configured, methods=["POST"], tags=["slack"])
        return _nothing_running
    once = once_gate(settings.redis_url)
    tasks = BackgroundTasks()
    token = settings.slack_bot_token.get_secret_value()
    api_url = settings.slack_api_url.rstrip("/") + "/"  # the SDK urljoins method names onto it
    client = AsyncWebClient(token=token, base_url=api_url)
    bolt = build_bolt_app(settings.slack_signing_secret.get_secret_value(), client,
                          SlackTurns(app, client, once), tasks, once)
    handler = AsyncSlackRequestHandler(bolt)

    async def slack_events(request: Request) -> Response:
        timestamp = request.headers.get("x-slack-request-timestamp", "0")
        if not (timestamp.isascii() and timestamp.isdigit()):
            return JSONResponse(UNSIGNED, status_code=401)  # bolt would fail on int() with a 500
        return await handler.handle(request)

    app.add_api_route(EVENTS_PATH, slack_events, methods=["POST"], tags=["slack"])
    app.state.slack_tasks = tasks  # health and leak checks

    @asynccontextmanager
    async def running(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await tasks.aclose()
            await once.aclose()

    return running


async def _not_configured() -> JSONResponse:
    return JSONResponse({"error": NOT_CONFIGURED}, status_code=503)


@asynccontextmanager
async def _nothing_running(_app: FastAPI) -> AsyncIterator[None]:
    yield


def build_bolt_app(signing_secret: str, client: AsyncWebClient, turns: SlackTurns, tasks: BackgroundTasks,
                   once: OnceGate) -> AsyncApp:
    """The bolt app and its listeners. Every listener returns at once; the work runs in `tasks`."""
    bolt = AsyncApp(signing_secret=signing_secret, client=client, name="etl-assistant",
                    process_before_response=False)

    @bolt.middleware
    async def once_per_event(body: dict[str, Any], request: Any, next_: Callable[[], Awaitable[None]]
                             ) -> BoltResponse | None:
        """A retried delivery of an event already taken is acked (200) and goes no further."""
        event_id = body.get("event_id")
        if event_id and not await once.first_time(f"event:{event_id}"):
            retry = request.headers.get("x-slack-retry-num", ["?"])[0]
            log.info("Slack retry %s of event %s acked without a second run", retry, event_id)
            return BoltResponse(status=200, body="")
        await next_()
        return None

    @bolt.event("app_mention")
    async def on_mention(body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext) -> None:
        place = SlackPlace(str(body.get("team_id")), event["channel"], event.get("thread_ts") or event["ts"])
        text = message_text(event.get("text", ""), context.bot_user_id)
        tasks.start(turns.ask(place, text), name=f"slack-mention-{event['ts']}")

    @bolt.event({"type": "message", "channel_type": "im"})
    async def on_direct_message(body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
                                ) -> None:
        if event.get("subtype") or event.get("bot_id"):
            return  # edits, joins, other bots: not a question
        place = SlackPlace(str(body.get("team_id")), event["channel"], event.get("thread_ts"))
        text = message_text(event.get("text", ""), context.bot_user_id)
        tasks.start(turns.ask(place, text), name=f"slack-dm-{event['ts']}")

    @bolt.event(re.compile(".*"))
    async def on_other_event() -> None:
        """Other subscribed events (channel messages, edits) are acked and ignored: Slack must not retry."""

    @bolt.command(COMMAND)
    async def on_command(ack: Ack, command: dict[str, Any]) -> None:
        text = message_text(command.get("text", ""), None)
        if not text:
            await ack(text=USAGE, response_type="ephemeral")
            return
        await ack()
        tasks.start(turns.command(command["team_id"], command["channel_id"], command["user_id"], text,
                                  command["response_url"]), name=f"slack-command-{command['trigger_id']}")

    async def on_decision(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        try:
            ticket = ApprovalTicket.decode(action.get("value"))
        except InputError as exc:
            log.warning("Slack button ignored: %s", exc)
            return
        decision = "approve" if action["action_id"] == APPROVE_ACTION else "reject"
        tasks.start(turns.decide(ticket, decision, body["user"]["id"], body.get("message") or {}),
                    name=f"slack-decision-{ticket.interrupt_id}")

    bolt.action(APPROVE_ACTION)(on_decision)
    bolt.action(REJECT_ACTION)(on_decision)
    return bolt
