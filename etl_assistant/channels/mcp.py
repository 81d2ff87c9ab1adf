"""The MCP channel: `tools.REGISTRY` as-is, the catalog as resources, two prompts, over stdio and HTTP.

Built on the official SDK's `MCPServer`. Transports:
- Streamable HTTP at `/mcp` inside the FastAPI app: `mount_mcp(app, server)`, and the app's lifespan must
  run `server.session_manager.run()` (FastAPI does not start a mounted sub-app's lifespan).
- stdio via `etl-assistant mcp`: `run_stdio(settings)`. The SDK points fd 1 at stderr while it serves, so
  stray output from engines cannot corrupt the wire; our logs go to stderr.
"""

from __future__ import annotations

import logging
import sys
from importlib.metadata import version

from fastapi import FastAPI
from mcp.server.mcpserver import MCPServer

from etl_assistant.channels.mcp_resources import register_catalog_resources, register_prompts
from etl_assistant.channels.mcp_tools import ContextFactory, to_mcp_tool
from etl_assistant.config import Settings
from etl_assistant.tools import REGISTRY
from etl_assistant.tools.base import ProgressCallback, ToolContext

MCP_PATH = "/mcp"

INSTRUCTIONS = (
    "etl-assistant: infer the schema of data files (CSV/TSV/JSON/Parquet/XLSX), design warehouse DDL "
    "for ClickHouse, PostgreSQL or SQLite, load tables and answer with read-only SQL. Start with "
    "infer_schema on a file path; registered datasets are listed at datasets:// and created tables at "
    "tables://."
)


def settings_context_factory(settings: Settings) -> ContextFactory:
    """Each call gets a fresh ToolContext for the configured tenant, reporting progress to its MCP client."""

    def make_context(progress: ProgressCallback) -> ToolContext:
        return ToolContext(settings=settings, tenant=settings.tenant, progress=progress)

    return make_context


def build_mcp_server(settings: Settings, make_context: ContextFactory | None = None) -> MCPServer:
    """An MCPServer exposing every registry tool, the catalog resources and the starter prompts."""
    make_context = make_context or settings_context_factory(settings)
    server = MCPServer(
        name="etl-assistant",
        title="ETL assistant",
        version=version("etl-assistant"),
        instructions=INSTRUCTIONS,
        tools=[to_mcp_tool(tool, make_context) for tool in REGISTRY],
        log_level="WARNING",
    )
    register_catalog_resources(server, make_context)
    register_prompts(server)
    return server


def mount_mcp(app: FastAPI, server: MCPServer, host: str = "127.0.0.1") -> None:
    """Serve `server` over Streamable HTTP at exactly `/mcp` (no redirect to `/mcp/`).

    The SDK's app is a one-route Starlette app; its route goes straight into ours. On a loopback `host` the
    SDK turns on DNS-rebinding protection (only localhost Host/Origin headers are accepted).
    """
    http_app = server.streamable_http_app(streamable_http_path=MCP_PATH, host=host)
    app.router.routes.extend(http_app.routes)


def run_stdio(settings: Settings) -> None:
    """Serve MCP on stdin/stdout until the client closes the pipe; every log line goes to stderr."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, force=True)
    build_mcp_server(settings).run("stdio")
