"""The graph's nodes and routes: the model decides, approval-needing calls wait for a person, tools run."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, SystemMessage, ToolCall, ToolMessage
from langgraph.graph import END
from langgraph.runtime import get_runtime
from langgraph.types import Send, interrupt

from etl_assistant.agent.approval import apply_decisions, approval_request, approvers, parse_decisions
from etl_assistant.agent.context import RunContext
from etl_assistant.agent.state import AgentState
from etl_assistant.agent.tooling import is_fatal, to_langchain_tool
from etl_assistant.prompts import load_prompt
from etl_assistant.tools.base import Tool


def last_ai_message(messages: list[AnyMessage]) -> AIMessage | None:
    return next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)


def pending_calls(messages: list[AnyMessage]) -> list[ToolCall]:
    """Tool calls of the last AI message that have no result yet (rejected calls already have one)."""
    message = last_ai_message(messages)
    if message is None:
        return []
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    return [c for c in message.tool_calls if c["id"] not in answered]


def trailing_tool_results(messages: list[AnyMessage]) -> list[ToolMessage]:
    results: list[ToolMessage] = []
    for message in reversed(messages):
        if not isinstance(message, ToolMessage):
            break
        results.append(message)
    return results


class AgentNodes:
    """Holds the bound chat model and the tool records the nodes need; each method is one node or route."""

    def __init__(self, model: BaseChatModel, tools: list[Tool]) -> None:
        self.tools = {t.name: t for t in tools}
        self.model = model.bind_tools([to_langchain_tool(t) for t in tools]) if tools else model
        self.system = SystemMessage(load_prompt("system"))

    async def call_model(self, state: AgentState) -> dict[str, list[AnyMessage]]:
        response = await self.model.ainvoke([self.system, *state["messages"]])
        return {"messages": [response]}

    def _needs_approval(self, calls: list[ToolCall]) -> list[ToolCall]:
        tools = self.tools
        return [c for c in calls if c["name"] in tools and tools[c["name"]].requires_approval(c["args"])]

    def route_after_model(self, state: AgentState) -> str | list[Send]:
        calls = pending_calls(state["messages"])
        if not calls:
            return END
        if self._needs_approval(calls):
            return "review"
        return [Send("tools", calls)]

    def review(self, state: AgentState) -> dict[str, list[AnyMessage]]:
        """Pause for the person before any side effect; this node re-runs from its top on resume."""
        message = last_ai_message(state["messages"])
        assert message is not None  # routed here only after an AI message with tool calls
        calls = self._needs_approval(pending_calls(state["messages"]))
        resume = interrupt(approval_request(calls, self.tools))
        decisions = parse_decisions(resume, expected=len(calls), known_tools=self.tools)
        run = get_runtime(RunContext).context  # the approved calls run in this same run, for their approver
        run.approvers.update(approvers(calls, decisions, run.user))
        return {"messages": apply_decisions(message, calls, decisions)}

    def route_after_review(self, state: AgentState) -> str | list[Send]:
        calls = pending_calls(state["messages"])
        return [Send("tools", calls)] if calls else "agent"

    def route_after_tools(self, state: AgentState) -> str:
        if any(is_fatal(m) for m in trailing_tool_results(state["messages"])):
            return "report_failure"
        return "agent"

    def report_failure(self, state: AgentState) -> dict[str, list[AnyMessage]]:
        """A configuration or infrastructure failure goes to the person as one sentence, not to the model."""
        failed = [m for m in trailing_tool_results(state["messages"]) if is_fatal(m)]
        text = " ".join(f"I could not run {m.name}: {m.content}" for m in reversed(failed))
        return {"messages": [AIMessage(content=text)]}
