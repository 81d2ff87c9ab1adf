"""A real server with API keys for two tenants, and the clients of every channel holding one key each."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from etl_assistant.access.keys import KeyStore
from etl_assistant.config import Settings
from etl_assistant.server import create_app
from etl_assistant.warehouse import Warehouse
from etl_assistant.warehouse.catalog import Catalog
from etl_assistant.warehouse.namespaces import open_tenant_warehouse
from tests.support.live_server import LiveServer, live_server

LLM_SECRET = "sk-test-llm-secret-7f3a9"  # configured, never used (offline model), must never be shown


@dataclass
class Tenant:
    name: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class KeyedServer:
    server: LiveServer
    settings: Settings
    acme: Tenant
    globex: Tenant
    log: io.StringIO  # everything the server logged while it ran

    @property
    def url(self) -> str:
        return self.server.url

    def http(self, tenant: Tenant | None = None, **kwargs: Any) -> httpx.Client:
        headers = tenant.headers if tenant else {}
        return httpx.Client(base_url=self.url, timeout=120, headers=headers, **kwargs)

    def warehouse(self, tenant: str) -> Warehouse:
        return open_tenant_warehouse(self.settings.resolved_warehouse_url, tenant)

    def secrets(self) -> list[str]:
        return [self.acme.key, self.globex.key, LLM_SECRET]


def keyed_settings(root: Path, **overrides: Any) -> Settings:
    return Settings(allowed_roots=[root], data_dir=root / "data", llm_api_key=SecretStr(LLM_SECRET),
                    _env_file=None, **overrides)


@contextmanager
def keyed_server(root: Path, **overrides: Any) -> Iterator[KeyedServer]:
    """The whole app on 127.0.0.1 with keys for tenants acme and globex; the server's log is captured."""
    settings = keyed_settings(root, **overrides)
    keys = KeyStore(Catalog(settings.resolved_catalog_url))
    acme = Tenant("acme", keys.create("acme", "test")[1])
    globex = Tenant("globex", keys.create("globex", "test")[1])
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root_logger = logging.getLogger()
    root_logger.addHandler(handler)
    old_level = root_logger.level
    root_logger.setLevel(logging.INFO)
    try:
        with live_server(create_app(settings)) as server:
            yield KeyedServer(server, settings, acme, globex, captured)
    finally:
        root_logger.removeHandler(handler)
        root_logger.setLevel(old_level)


@asynccontextmanager
async def mcp_client(url: str, tenant: Tenant | None) -> Any:
    """The official MCP client over Streamable HTTP, sending the tenant's key."""
    headers = tenant.headers if tenant else {}
    async with httpx2.AsyncClient(headers=headers, timeout=120) as http, \
            Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy",
                   read_timeout_seconds=120) as client:
        yield client


def upload(http: httpx.Client, file_name: str, content: str) -> httpx.Response:
    return http.post("/v1/datasets", files={"file": (file_name, content.encode(), "text/csv")})


def orders_csv(rows: int, start: int = 1) -> str:
    lines = ["order_id,region,amount"]
    lines += [f"{i},{['north', 'south', 'east'][i % 3]},{i * 1.5:.2f}" for i in range(start, start + rows)]
    return "\n".join(lines) + "\n"


def ai_sdk_body(chat_id: str, text: str) -> dict[str, Any]:
    """What useChat posts to /api/chat for one user message."""
    parts = [{"type": "text", "text": text}]
    return {"id": chat_id, "messages": [{"id": "u1", "role": "user", "parts": parts}]}


def openai_answer(url: str, key: str, text: str) -> str:
    """One turn through the official openai client."""
    import openai

    with openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120) as client:
        reply = client.chat.completions.create(model="etl-assistant",
                                               messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content or ""


def user_input(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}
