"""What a run carries besides its state: settings, the tenant, and the connections shared by every run.

Passed to the graph as LangGraph's run context (`context=`), so it is never checkpointed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from etl_assistant.config import Settings


class SharedResources(Mapping[str, Any]):
    """The warehouse and catalog, opened on first use and shared by every run of the process.

    `ToolContext` reads them through its `_overrides` mapping, so a tool that never touches the warehouse
    never opens it, and no run pays for a new connection.
    """

    def __init__(self, settings: Settings, factories: dict[str, Callable[[], Any]] | None = None) -> None:
        self._factories = factories or {"warehouse": self._open_warehouse, "catalog": self._open_catalog}
        self._settings = settings
        self._opened: dict[str, Any] = {}
        self._tenant_warehouses: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _open_warehouse(self) -> Any:
        from etl_assistant.warehouse import connect

        return connect(self._settings.resolved_warehouse_url,
                       query_memory_mb=self._settings.query_max_memory_mb)

    def _open_catalog(self) -> Any:
        from etl_assistant.warehouse.catalog import Catalog

        return Catalog(self._settings.resolved_catalog_url)

    def warehouse_for(self, tenant: str) -> Any:
        """The warehouse namespace of `tenant` (the configured one for ETLA_TENANT), opened once."""
        if tenant == self._settings.tenant or "warehouse" not in self._factories:
            return self["warehouse"]
        from etl_assistant.warehouse.namespaces import open_tenant_warehouse

        with self._lock:
            if tenant not in self._tenant_warehouses:
                url = self._settings.resolved_warehouse_url
                self._tenant_warehouses[tenant] = open_tenant_warehouse(url, tenant)
            return self._tenant_warehouses[tenant]

    def __getitem__(self, key: str) -> Any:
        if key not in self._factories:
            raise KeyError(key)
        with self._lock:
            if key not in self._opened:
                self._opened[key] = self._factories[key]()
            return self._opened[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)

    def close(self) -> None:
        """Close whatever was opened (adapters without a `close` hold nothing)."""
        with self._lock:
            for resource in [*self._opened.values(), *self._tenant_warehouses.values()]:
                closer = getattr(resource, "close", None)
                if callable(closer):
                    closer()
            self._opened.clear()
            self._tenant_warehouses.clear()


@dataclass
class RunContext:
    settings: Settings
    tenant: str = "default"
    resources: Mapping[str, Any] = field(default_factory=dict)
    llm: Any = None  # the chat model when it is a real LLM (openai path), for tools that can use one
    user: str | None = None  # who sent this run, when the channel says (Agent Protocol user_id, OpenAI user)
    # tool_call_id -> who approved that call; filled by the review node of this run, read when the call runs
    approvers: dict[str, str] = field(default_factory=dict)

    def user_for(self, tool_call_id: str | None) -> str | None:
        """Who a tool call acts for: the person who approved it, else the run's user."""
        return self.approvers.get(tool_call_id or "") or self.user
