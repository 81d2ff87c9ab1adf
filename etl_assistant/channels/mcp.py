"""The MCP channel: `tools.REGISTRY` as-is, the catalog as resources, two prompts, over stdio and HTTP.

Built on the official SDK's `MCPServer`. Transports:
- Streamable HTTP at `/mcp` inside the FastAPI app: `mount_mcp(app, settings)` adds the route and returns
  the lifespan hook the app must enter (FastAPI does not start a mounted sub-app's lifespan).
- stdio via `etl-assistant mcp`: `run_stdio(settings)`. The SDK points fd 1 at stderr while it serves, so
  stray output from engines cannot corrupt the wire; our logs go to stderr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from etl_assistant.access.mcp_auth import MCP_TENANT, TenantScope, authenticated
from etl_assistant.access.origin import is_loopback
from etl_assistant.agent.context import SharedResources
from etl_assistant.channels.mcp_resources import register_catalog_resources, register_prompts
from etl_assistant.channels.mcp_tools import ContextFactory, to_mcp_tool
from etl_assistant.config import Settings
from etl_assistant.tools import REGISTRY
from etl_assistant.tools.base import ProgressCallback, ToolContext

MCP_PATH = "/mcp"

MCP_CLIENT = "mcp-client"  # who approved, when an MCP call does not say
INSTRUCTIONS = (
    "etl-assistant: infer the schema of data files (CSV/TSV/JSON/Parquet/XLSX), design warehouse DDL "
    "for ClickHouse, PostgreSQL or SQLite, load tables and answer with read-only SQL. Start with "
    "infer_schema on a file path; registered datasets are listed at datasets:// and created tables at "
    "tables://."
)


def context_factory(settings: Settings, resources: Callable[[], Mapping[str, Any]]) -> ContextFactory:
    """Each call gets a fresh ToolContext for the request's tenant (its API key's over HTTP, else the
    configured one) on the process's shared connections
    (`resources()`: warehouse and catalog, opened once), reporting progress to its MCP client. The acting
    user is MCP_CLIENT: the IDE assistant names its person with apply_deploy's `approved_by`."""

    def make_context(progress: ProgressCallback) -> ToolContext:
        return ToolContext(settings=settings, tenant=MCP_TENANT.get() or settings.tenant, progress=progress,
                           _overrides=resources(),  # type: ignore[arg-type] - a read-only Mapping suffices
                           user=MCP_CLIENT)

    return make_context


def build_mcp_server(settings: Settings, make_context: ContextFactory) -> MCPServer:
    """An MCPServer exposing every registry tool, the catalog resources and the starter prompts."""
    server = MCPServer(
        name="etl-assistant",
        title="ETL assistant",
        version=version("etl-assistant"),
        instructions=INSTRUCTIONS,
        tools=[to_mcp_tool(tool, make_context) for tool in REGISTRY],
        log_level="WARNING",
        middleware=[TenantScope()],
    )
    register_catalog_resources(server, make_context)
    register_prompts(server)
    return server


def mount_mcp(app: FastAPI, settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Serve MCP over Streamable HTTP at exactly `/mcp` (no redirect to `/mcp/`); returns the lifespan hook
    that runs the SDK's session manager while the app serves.

    Tool calls share the agent's open connections (`app.state.agent.resources`). The SDK's app is a
    one-route Starlette app; its route goes straight into ours, behind the SDK's bearer authentication
    with our API keys (access.mcp_auth). On a loopback host (`settings.host` is the host actually served)
    the SDK turns on DNS-rebinding protection (only localhost Host/Origin headers are accepted).
    """
    server = build_mcp_server(settings, context_factory(settings, lambda: app.state.agent.resources))
    http_app = server.streamable_http_app(streamable_http_path=MCP_PATH, host=settings.host,
                                          transport_security=transport_security(settings))
    for route in http_app.routes:
        route.app = authenticated(route.app, app.state.keys)  # type: ignore[attr-defined]
    app.router.routes.extend(http_app.routes)
    return lambda _app: server.session_manager.run()


def transport_security(settings: Settings) -> TransportSecuritySettings | None:
    """The SDK's DNS-rebinding protection for a loopback served host, also accepting ETLA_ALLOWED_HOSTS and
    ETLA_CORS_ORIGINS (the app's guard accepts them too); None elsewhere: the SDK then checks nothing and the
    guard's Host and Origin rules apply alone."""
    if not is_loopback(settings.host):
        return None
    hosts = ["127.0.0.1", "localhost", "[::1]", *settings.allowed_hosts]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[pattern for host in hosts for pattern in (host, f"{host}:*")],
        allowed_origins=[f"{scheme}://{host}{port}" for host in hosts for scheme in ("http", "https")
                         for port in ("", ":*")] + settings.cors_origins,
    )


def run_stdio(settings: Settings) -> None:
    """Serve MCP on stdin/stdout until the client closes the pipe; every log line goes to stderr."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, force=True)
    resources = SharedResources(settings)
    try:
        build_mcp_server(settings, context_factory(settings, lambda: resources)).run("stdio")
    finally:
        resources.close()
