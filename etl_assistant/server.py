"""Composition root: builds the FastAPI app from settings, mounts every channel, owns the lifespan.

The lifespan opens one AgentService (checkpointer, thread registry, compiled graph, shared connections)
on `app.state.agent` and closes it on shutdown. Channels are plain routers that read `app.state`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from langchain_core.language_models import BaseChatModel
from prometheus_client import CollectorRegistry

from etl_assistant.access.install import install_access
from etl_assistant.agent.metrics import RunMetrics
from etl_assistant.agent.runner import AgentService
from etl_assistant.channels import agent_protocol, ai_sdk, datasets, openai_compat, verified, web_page
from etl_assistant.channels.agent_runs import router as agent_runs_router
from etl_assistant.channels.mcp import mount_mcp
from etl_assistant.channels.ops import install_ops
from etl_assistant.channels.run_registry import run_registry
from etl_assistant.channels.slack import mount_slack
from etl_assistant.channels.warehouse_view import router as warehouse_router
from etl_assistant.config import Settings, get_settings
from etl_assistant.pipelines.scheduler import lifespan_hook as pipeline_scheduler
from etl_assistant.recovery import recover
from etl_assistant.tools.base import Tool
from etl_assistant.warehouse.engine_share import share_engine

log = logging.getLogger(__name__)

# Extra things a channel needs running while the app serves (e.g. the MCP session manager).
LifespanHook = Callable[[FastAPI], AbstractAsyncContextManager[object]]


def create_app(
    settings: Settings | None = None,
    *,
    model: BaseChatModel | None = None,
    tools: Sequence[Tool] | None = None,
) -> FastAPI:
    """The whole server. `model`/`tools` replace the configured chat model and the tool registry (tests)."""
    settings = settings or get_settings()
    registry = CollectorRegistry()
    hooks: list[LifespanHook] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            app.state.agent = await AgentService.create(
                settings, model=model, tools=tools, metrics=RunMetrics(registry)
            )
            stack.push_async_callback(app.state.agent.aclose)
            # What a killed process left half-done is cleaned or finished before requests are served.
            app.state.recovery = await recover(app.state.agent, settings)
            stack.push_async_callback(_settle_all, app.state.recovery.tasks)
            if settings.resolved_warehouse_url.startswith("chdb:"):
                # chDB locks its directory: the CLI and stdio MCP on this data dir go through this process.
                await stack.enter_async_context(share_engine(lambda: app.state.agent.resources["warehouse"]))
            # The planner's embedding model loads in the background: tools, MCP and /health answer at once,
            # and a chat turn that arrives early waits on the same load instead of starting a second one.
            app.state.warming = asyncio.create_task(app.state.agent.warm_up())
            stack.push_async_callback(_settle, app.state.warming)
            for hook in hooks:
                await stack.enter_async_context(hook(app))
            yield

    app = FastAPI(title="etl-assistant", lifespan=lifespan)
    app.state.settings = settings
    hooks.append(install_access(app, settings))
    install_ops(app, registry)
    include_channels(app, settings, hooks)
    hooks.append(pipeline_scheduler(settings))
    return app


async def _settle(warming: asyncio.Task[None]) -> None:
    """Let a warm-up still running at shutdown finish (a thread cannot be cancelled), logging its failure."""
    try:
        await warming
    except Exception:  # a failed warm-up is retried by the first turn, which reports the error itself
        log.exception("warming up the chat model failed")


async def _settle_all(tasks: list[asyncio.Task[None]]) -> None:
    """Runs that recovery carried on finish before the service closes (their failures are logged)."""
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, BaseException):
            log.error("a recovered run failed: %s", outcome)


def include_channels(app: FastAPI, settings: Settings, hooks: list[LifespanHook]) -> None:
    """Every channel, one line each. A channel that needs something running during serving appends a
    lifespan hook (an async context manager factory taking the app) to `hooks`."""
    app.include_router(agent_protocol.router)
    app.include_router(agent_runs_router)
    app.include_router(warehouse_router)
    hooks.append(run_registry)
    app.include_router(ai_sdk.router)
    app.include_router(openai_compat.router)
    app.include_router(datasets.router)
    app.include_router(verified.router)
    app.include_router(web_page.router)
    hooks.append(mount_mcp(app, settings))
    hooks.append(mount_slack(app, settings))
