"""The one internal stream of run events. Every channel encodes these in its own wire format.

Produced by `agent.runner` (mapping in `agent.stream_events`); consumed by channels/agent_protocol.py (SSE),
channels/openai_compat.py (chat completion chunks), channels/ai_sdk.py, the MCP and Slack channels, the CLI.
`text_delta` and `message` data also carry "metadata" ({"langgraph_node", "langgraph_step"?}) so a channel can
re-encode them as LangGraph messages-tuples; `interrupt` data also carries "interrupt_id".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

RunEventType = Literal[
    "metadata",  # data: {"run_id", "thread_id"}
    "values",  # data: full graph state after a step (JSON-able; messages as dicts)
    "updates",  # data: {node_name: partial state}
    "text_delta",  # data: {"id": message id, "delta": str} - streamed reply text
    "message",  # data: a finished message dict (type, content, id, tool_calls?)
    "tool_call",  # data: {"id", "name", "args"} - a tool is about to run on the server
    "tool_result",  # data: {"id", "name", "output": dict, "is_error": bool, "summary": str}
    "progress",  # data: {"tool", "done", "total", "message"}
    "interrupt",  # data: {"action_requests": [...], "review_configs": [...]}  (agent-chat-ui HITL shape)
    "error",  # data: {"error": class name, "message": str}
    "end",  # data: {"status": "success" | "interrupted" | "error"}
]


class RunEvent(BaseModel):
    type: RunEventType
    data: dict[str, Any] = Field(default_factory=dict)
