"""Chat turns started from Slack: run after the 3-second ack, then answered in the Slack thread.

A Slack thread is one assistant thread (`slack:{team}:{channel}:{thread root ts}`; a DM outside threads is one
continuing conversation per DM channel). Turns run as tasks held by `BackgroundTasks`, which the app's
lifespan drains on shutdown, so none is garbage-collected mid-run or left running after the server stops.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from etl_assistant.agent.runner import AgentService
from etl_assistant.agent.threads import ThreadNotFound
from etl_assistant.channels.chart_images import ChartCollector, chart_png
from etl_assistant.channels.reply_text import ReplyTextEncoder, approval_plan
from etl_assistant.channels.slack_blocks import (
    ApprovalTicket,
    approval_message,
    decided_blocks,
    decision_note,
    reply_message,
)
from etl_assistant.channels.slack_dedupe import OnceGate
from etl_assistant.errors import InputError

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 30.0
HELP = "Ask me about your data, e.g. *what datasets do I have* or *infer data/orders.csv*."
BUSY = "I am still answering an earlier message in this thread; send this again after my reply."
NO_REPLY = "(The assistant finished without a reply.)"
ALREADY_DECIDED = "This approval was already answered."
NOT_MAPPED = ("This Slack workspace is not connected to a tenant of this server; ask its operator to add the "
              "workspace's team id to ETLA_SLACK_TENANTS.")
NOT_PENDING = "This approval request is no longer pending; a newer message in the thread replaced it."
NOT_IN_CHANNEL = "I cannot post in this channel; invite me with /invite and try again."
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


def message_text(raw: str, bot_user_id: str | None) -> str:
    """What the person asked: the bot's own mention removed, Slack's &amp;/&lt;/&gt; escapes undone."""
    if bot_user_id:
        raw = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", raw)
    else:
        raw = _MENTION.sub(" ", raw, count=1)
    return " ".join(html.unescape(raw).split())


@dataclass(frozen=True)
class SlackPlace:
    """Where a conversation lives in Slack: replies go to `thread_ts` (None: top level of a DM)."""

    team: str
    channel: str
    thread_ts: str | None

    @property
    def thread_id(self) -> str:
        return f"slack:{self.team}:{self.channel}:{self.thread_ts or 'dm'}"

    @classmethod
    def of_thread(cls, thread_id: str) -> SlackPlace:
        """The place a Slack thread id was made from."""
        prefix, team, channel, thread_ts = (thread_id.split(":", 3) + ["", "", ""])[:4]
        if prefix != "slack" or not (team and channel and thread_ts):
            raise InputError(f"Thread {thread_id} is not a Slack conversation; ask again in Slack.")
        return cls(team, channel, None if thread_ts == "dm" else thread_ts)

    def metadata(self) -> dict[str, Any]:
        return {"channel": "slack", "slack_team": self.team, "slack_channel": self.channel,
                "slack_thread_ts": self.thread_ts}


class BackgroundTasks:
    """Tasks that outlive the request that started them; each is held until done, errors are logged."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.closed = False

    def start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        if self.closed:  # a request that slipped in during shutdown: nothing may outlive the drain
            work.close()
            log.warning("Slack task %s not started: the server is shutting down", name)
            return
        task = asyncio.get_running_loop().create_task(work, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Slack task %s failed", task.get_name(), exc_info=task.exception())

    async def aclose(self, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        """Let running turns finish for `grace_s`, then cancel the rest (a run records a cancellation)."""
        self.closed = True
        if not self.tasks:
            return
        _, pending = await asyncio.wait(set(self.tasks), timeout=grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


class SlackTurns:
    """Runs turns for Slack and posts what they produced (`chat.postMessage` / `chat.update`)."""

    def __init__(self, app: FastAPI, client: AsyncWebClient, once: OnceGate) -> None:
        self.app = app
        self.client = client
        self.once = once

    @property
    def service(self) -> AgentService:
        return self.app.state.agent

    def tenant_of(self, team: str) -> str | None:
        """The workspace's tenant: ETLA_SLACK_TENANTS[team]; with no mapping every workspace is ETLA_TENANT's,
        with one an unmapped workspace has none (it is told so and nothing runs)."""
        settings = self.app.state.settings
        return settings.slack_tenants.get(team) if settings.slack_tenants else settings.tenant

    async def ask(self, place: SlackPlace, text: str) -> None:
        """A person's message: one turn, one reply in the thread."""
        tenant = self.tenant_of(place.team)
        if tenant is None:
            log.warning("Slack workspace %s is not mapped to a tenant (ETLA_SLACK_TENANTS)", place.team)
            await self._post(place, reply_message(NOT_MAPPED))
            return
        if not text:
            await self._post(place, reply_message(HELP))
            return
        await self.service.create_thread(tenant, thread_id=place.thread_id, if_exists="do_nothing",
                                         metadata=place.metadata())
        await self._run(place, tenant, {"input": {"messages": [{"role": "user", "content": text}]}})

    async def command(self, team: str, channel: str, user: str, text: str, response_url: str) -> None:
        """`/etl ...`: the question is posted as a thread root, the conversation continues in that thread."""
        root = await self._slack("the /etl thread root", self.client.chat_postMessage(
            channel=channel, text=f"<@{user}> asked: {text}"))
        if root is None:
            await AsyncWebhookClient(response_url).send(text=NOT_IN_CHANNEL, response_type="ephemeral")
            return
        await self.ask(SlackPlace(team, channel, str(root["ts"])), text)

    async def decide(self, ticket: ApprovalTicket, decision: Literal["approve", "reject"], user: str,
                     message: dict[str, Any]) -> None:
        """A button click: resume the thread once with the decision, then post the outcome."""
        place = SlackPlace.of_thread(ticket.thread_id)
        tenant = self.tenant_of(place.team)
        if tenant is None:
            return
        if not await self.once.first_time(f"decision:{ticket.interrupt_id}"):
            await self._tell(place, user, ALREADY_DECIDED)
            return
        if not await self._still_pending(ticket, tenant):
            await self._tell(place, user, NOT_PENDING)
            return
        await self._update(place, message, decision_note(decision, user))
        choice: dict[str, Any] = {"type": "approve", "user": user} if decision == "approve" \
            else {"type": "reject", "user": user, "message": f"Rejected in Slack by <@{user}>."}
        await self._run(place, tenant, {"command": {"resume": {"decisions": [choice] * ticket.actions}}})

    async def _still_pending(self, ticket: ApprovalTicket, tenant: str) -> bool:
        try:
            thread = await self.service.get_thread(ticket.thread_id, tenant)
        except ThreadNotFound:
            return False
        pending = [i.get("id") for waiting in thread["interrupts"].values() for i in waiting]
        return ticket.interrupt_id in pending

    async def _run(self, place: SlackPlace, tenant: str, run_arguments: dict[str, Any]) -> None:
        encoder = ReplyTextEncoder(approval=approval_plan)
        charts = ChartCollector()
        waiting: dict[str, Any] | None = None
        async for event in self.service.stream(place.thread_id, tenant=tenant, **run_arguments):
            encoder.encode(event)
            charts.add(event)
            if event.type == "interrupt":
                waiting = event.data
        text = encoder.text.strip()
        if encoder.error:
            sentence = BUSY if encoder.error.get("error") == "ThreadBusy" else encoder.error.get("message")
            await self._post(place, reply_message(f"{text}\n\n:warning: {sentence}".strip()))
        elif waiting is not None:
            ticket = ApprovalTicket(thread_id=place.thread_id, interrupt_id=str(waiting.get("interrupt_id")),
                                    actions=len(waiting.get("action_requests", [])) or 1)
            await self._post(place, approval_message(text, ticket))
        else:
            await self._post(place, reply_message(text or NO_REPLY))
            await self._charts(place, charts)

    async def _charts(self, place: SlackPlace, charts: ChartCollector) -> None:
        """The answer's charts as PNG files in the thread (Slack shows an uploaded image inline)."""
        for spec in charts.specs:
            png = await asyncio.to_thread(chart_png, spec)
            title = " ".join(str(spec.get("title") or "chart").split())
            await self._slack("a chart", self.client.files_upload_v2(
                channel=place.channel, thread_ts=place.thread_ts, content=png, filename="chart.png",
                title=title, alt_txt=f"chart: {title}"))

    async def _post(self, place: SlackPlace, message: dict[str, Any]) -> None:
        await self._slack("a reply", self.client.chat_postMessage(
            channel=place.channel, thread_ts=place.thread_ts, **message))

    async def _update(self, place: SlackPlace, message: dict[str, Any], note: str) -> None:
        blocks = decided_blocks(message.get("blocks", []), note)
        await self._slack("the decided approval", self.client.chat_update(
            channel=place.channel, ts=message["ts"], text=note, blocks=blocks))

    async def _tell(self, place: SlackPlace, user: str, text: str) -> None:
        """A note only the clicking person sees."""
        await self._slack("a note", self.client.chat_postEphemeral(
            channel=place.channel, user=user, text=text, thread_ts=place.thread_ts))

    @staticmethod
    async def _slack(what: str, call: Awaitable[AsyncSlackResponse]) -> AsyncSlackResponse | None:
        """Await a Web API call; Slack refusing it (not in channel, message gone) is logged, not raised."""
        try:
            return await call
        except SlackApiError as exc:
            log.warning("Slack refused %s: %s", what, exc.response.get("error"))
            return None
