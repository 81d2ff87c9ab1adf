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

    def __post_init__(self) -> None:
        """A key holder's tenant sees only its own files (see access.tenancy)."""
        from etl_assistant.access.tenancy import settings_for

        self.settings = settings_for(self.settings, self.tenant)

    @property
    def approver(self) -> str:
        """The name a deployment records as its approver: the acting user, else the tenant."""
        return self.user or self.tenant

    @cached_property
    def warehouse(self) -> Warehouse:
        shared = self._overrides
        if "warehouse" in shared:
            # the process's shared connections open one warehouse namespace per tenant
            tenant_view = getattr(shared, "warehouse_for", None)
            return tenant_view(self.tenant) if tenant_view is not None else shared["warehouse"]
        from etl_assistant.access.tenancy import is_operator
        from etl_assistant.warehouse import connect
        from etl_assistant.warehouse.namespaces import open_tenant_warehouse

        url = self.settings.resolved_warehouse_url
        if is_operator(self.settings, self.tenant):
            warehouse = connect(url)
        else:
            warehouse = open_tenant_warehouse(url, self.tenant)
        warehouse.query_memory_mb = self.settings.query_max_memory_mb
        return warehouse

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
    # Approval for some calls only: True for arguments that destroy or replace something (e.g. replace=true).
    # The graph's review node and MCP both ask `requires_approval`, so a tool opts in here and nowhere else.
    approval_if: Callable[[Any], bool] | None = None
    # Its argument names what the person approved (apply_deploy's plan_id from plan_deploy, approve_action's
    # approval_id): over MCP this second call is the approval step itself, so it is not held again.
    approval_by_plan: bool = False

    @property
    def description(self) -> str:
        return (self.fn.__doc__ or self.name).strip()

    def requires_approval(self, arguments: dict[str, Any] | BaseModel) -> bool:
        """Must a person approve this call before it runs? Invalid arguments never run, so they need none."""
        if self.needs_approval:
            return True
        if self.approval_if is None:
            return False
        if isinstance(arguments, BaseModel):
            return self.approval_if(arguments)
        try:
            return self.approval_if(self.input_model.model_validate(arguments))
        except ValueError:
            return False

    def run(self, ctx: ToolContext, arguments: dict[str, Any] | BaseModel) -> BaseModel:
        args = arguments if isinstance(arguments, BaseModel) else self.input_model.model_validate(arguments)
        return self.fn(ctx, args)
