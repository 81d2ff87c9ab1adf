"""The LangGraph StateGraph: model -> (review ->) tools -> model ... -> answer. Wiring only."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from etl_assistant.agent.context import RunContext
from etl_assistant.agent.nodes import AgentNodes
from etl_assistant.agent.state import AgentState
from etl_assistant.agent.tooling import build_tool_node
from etl_assistant.tools.base import Tool


def build_graph(
    model: BaseChatModel, tools: list[Tool], checkpointer: Checkpointer = None
) -> CompiledStateGraph:
    nodes = AgentNodes(model, tools)
    builder = StateGraph(AgentState, context_schema=RunContext)
    builder.add_node("agent", nodes.call_model)
    builder.add_node("review", nodes.review)
    builder.add_node("tools", build_tool_node(tools))
    builder.add_node("report_failure", nodes.report_failure)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", nodes.route_after_model, ["review", "tools", END])
    builder.add_conditional_edges("review", nodes.route_after_review, ["tools", "agent"])
    builder.add_conditional_edges("tools", nodes.route_after_tools, ["agent", "report_failure"])
    builder.add_edge("report_failure", END)
    return builder.compile(checkpointer=checkpointer, name="etl-assistant")
