"""The tool contract: a typed function (pydantic in, pydantic out) plus the context it runs in.

Every channel reads the same `Tool` records from `tools.REGISTRY`: the LangGraph graph binds them to the
chat model, MCP registers them as-is, and the CLI calls the deterministic ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from etl_assistant.config import Settings

if TYPE_CHECKING:
    from etl_assistant.warehouse.base import Warehouse
    from etl_assistant.warehouse.catalog import Catalog

# progress(done, total, message): total may be None when unknown.
ProgressCallback = Callable[[float, float | None, str], None]


def _no_progress(done: float, total: float | None, message: str) -> None:
    return None


@dataclass
class ToolContext:
    """What a tool may use. Built once per request by the channel; tools never know which channel called."""

    settings: Settings
    tenant: str = "default"
    progress: ProgressCallback = _no_progress
    chat_model: Any = None  # BaseChatModel when the LLM path is on; tools must work without it
    _overrides: dict[str, Any] = field(default_factory=dict)
    # Who is acting, as the channel knows them: the person who approved this call, else the run's user
    # (Agent Protocol user_id, OpenAI `user`, Slack user id, "mcp-client"); None when the channel has no one.
    user: str | None = None

    @property
    def approver(self) -> str:
        """The name a deployment records as its approver: the acting user, else the tenant."""
        return self.user or self.tenant

    @cached_property
    def warehouse(self) -> Warehouse:
        if "warehouse" in self._overrides:
            return self._overrides["warehouse"]
        from etl_assistant.warehouse import connect

        settings = self.settings
        return connect(settings.resolved_warehouse_url, query_memory_mb=settings.query_max_memory_mb)

    @cached_property
    def catalog(self) -> Catalog:
        if "catalog" in self._overrides:
            return self._overrides["catalog"]
        from etl_assistant.warehouse.catalog import Catalog

        return Catalog(self.settings.resolved_catalog_url)


@dataclass(frozen=True)
class Tool:
    """One capability. `fn(ctx, args) -> output`; the docstring of `fn` is the description models read."""

    name: str
    fn: Callable[[ToolContext, BaseModel], BaseModel]
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    read_only: bool = True
    needs_approval: bool = False
    destructive: bool = False

    @property
    def description(self) -> str:
        return (self.fn.__doc__ or self.name).strip()

    def run(self, ctx: ToolContext, arguments: dict[str, Any] | BaseModel) -> BaseModel:
        args = arguments if isinstance(arguments, BaseModel) else self.input_model.model_validate(arguments)
        return self.fn(ctx, args)
