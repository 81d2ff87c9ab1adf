"""Registry tools as MCP tools: same names, the input model's JSON schema, the output model's as outputSchema.

The SDK builds a tool from a typed function; ours are records (`Tool.input_model` / `output_model`), so the
MCP tool is built from those records directly. The SDK's argument model only passes the call's arguments
through: the tool's own input model validates them, so a bad call comes back as one sentence naming the field
and the expected call instead of a pydantic dump. Every failure the person or model can act on is raised as
the SDK's `ToolError`, which the SDK turns into a result with `isError: true`; anything else stays on the
server (logged) and the client reads only "Error executing tool <name>".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError as McpToolError
from mcp.server.mcpserver.tools import Tool as McpTool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, ValidationError

from etl_assistant.agent.held_actions import HeldActions
from etl_assistant.errors import EtlError, ToolError
from etl_assistant.result_size import fit_result
from etl_assistant.tools.base import ProgressCallback, Tool, ToolContext

# Builds the context one call runs in, given the progress callback that reaches the MCP client.
ContextFactory = Callable[[ProgressCallback], ToolContext]

_CONTEXT_KWARG = "mcp_context"

log = logging.getLogger(__name__)


class PassThroughArguments(ArgModelBase):
    """Accepts any arguments object and hands it on untouched; the registry tool's input model checks it."""

    model_config = ConfigDict(extra="allow")

    def model_dump_one_level(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def explain_invalid_arguments(tool: Tool, exc: ValidationError) -> str:
    """One sentence: which arguments are wrong and the shape of a correct call."""
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "arguments"
        if error["type"] == "missing":
            problems.append(f"`{field}` is required")
        elif error["type"] == "extra_forbidden":
            problems.append(f"`{field}` is not an argument of this tool")
        else:
            message = error["msg"]
            problems.append(f"`{field}`: {message[:1].lower()}{message[1:]}")
    fields = tool.input_model.model_fields
    expected = ", ".join(name if info.is_required() else f"{name}?" for name, info in fields.items())
    call = f"{tool.name}({{{expected}}})"
    return f"Invalid arguments for {tool.name}: {'; '.join(problems)}; call it as {call}."


def annotations_for(tool: Tool) -> ToolAnnotations:
    """Hints MCP hosts use to decide what to confirm with the person before calling."""
    title = tool.name.replace("_", " ").capitalize()
    if tool.read_only:
        return ToolAnnotations(title=title, read_only_hint=True)
    # The spec's default for a writing tool is destructiveHint=true, so say explicitly when it is not.
    return ToolAnnotations(title=title, read_only_hint=False, destructive_hint=tool.destructive)


def _progress_to_client(mcp_context: Context, token: anyio.lowlevel.EventLoopToken) -> ProgressCallback:
    """A sync progress callback for the tool's worker thread that sends MCP progress notifications.

    The SDK sends nothing when the client gave no progressToken, so tools may report unconditionally. A
    notification that cannot be delivered (the client went away) must not abort the work half-way.
    """

    def report(done: float, total: float | None, message: str) -> None:
        try:
            anyio.from_thread.run(mcp_context.report_progress, done, total, message or None, token=token)
        except Exception as exc:  # noqa: BLE001 - progress is best effort, the tool's result is not
            log.debug("progress notification not delivered: %s", exc)

    return report


def hold_for_approval(tool: Tool, ctx: ToolContext, args: BaseModel) -> str:
    """Keep the call for approve_action instead of running it; the sentence the client shows the person.
    MCP has no interrupt, so this is its plan/apply form: the held call plans, approve_action applies."""
    arguments = args.model_dump(mode="json", exclude_unset=True)
    approval_id = HeldActions(ctx.catalog).hold(ctx.tenant, tool.name, arguments)
    return (f"{tool.name}({json.dumps(arguments)}) needs the person's approval and has not run; nothing has "
            f"changed. Show them this call and, once they approve, call approve_action with "
            f"approval_id={approval_id!r}.")


def to_mcp_tool(tool: Tool, make_context: ContextFactory) -> McpTool:
    """Wrap one registry tool: validate, run in a worker thread, translate our errors to isError results."""

    async def call(mcp_context: Context, **arguments: Any) -> BaseModel:
        try:
            args = tool.input_model.model_validate(arguments)
        except ValidationError as exc:
            raise McpToolError(explain_invalid_arguments(tool, exc)) from None
        ctx = make_context(_progress_to_client(mcp_context, anyio.lowlevel.current_token()))
        try:
            if tool.requires_approval(args) and not tool.approval_by_plan:
                raise McpToolError(await anyio.to_thread.run_sync(hold_for_approval, tool, ctx, args))
            output = await anyio.to_thread.run_sync(tool.run, ctx, args)
            return fit_result(output, ctx.settings.max_tool_result_kb * 1024, tool.name)
        except ToolError as exc:
            raise McpToolError(str(exc)) from exc
        except EtlError as exc:
            raise McpToolError(f"{exc} (a server-side problem: other arguments will not help)") from exc

    annotations = annotations_for(tool)
    return McpTool(
        fn=call,
        name=tool.name,
        title=annotations.title,
        description=tool.description,
        parameters=tool.input_model.model_json_schema(),
        fn_metadata=FuncMetadata(arg_model=PassThroughArguments, output_model=tool.output_model),
        is_async=True,
        context_kwarg=_CONTEXT_KWARG,
        annotations=annotations,
    )
