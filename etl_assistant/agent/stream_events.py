"""LangGraph stream chunks -> RunEvents. The one place that knows LangGraph's stream modes.

The graph is streamed with modes values, updates, messages and custom; each chunk becomes zero or more
RunEvents. Channels encode RunEvents only. Events that a channel may re-encode as LangGraph's
messages-tuple carry `metadata` (langgraph_node, langgraph_step) beside their own fields.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langgraph.types import Interrupt

from etl_assistant.agent.events import RunEvent
from etl_assistant.agent.serialize import to_jsonable
from etl_assistant.redact import redact_text, redact_values

STREAM_MODES = ["values", "updates", "messages", "custom"]
_SUMMARY_KEYS = ("name", "table", "dialect", "rows", "row_count", "format")


def summarize(name: str, message: ToolMessage) -> str:
    """One line for people: the error sentence, or the tool name with its headline figures."""
    if message.status == "error":
        return message.text
    output = message.artifact if isinstance(message.artifact, dict) else {}
    facts = [f"{k}={output[k]}" for k in _SUMMARY_KEYS if isinstance(output.get(k), str | int | float)]
    if isinstance(output.get("columns"), list):
        facts.append(f"{len(output['columns'])} columns")
    return f"{name}: " + (", ".join(facts) if facts else "done")


def _node_meta(node: str, step: int | None = None) -> dict[str, Any]:
    return {"langgraph_node": node} | ({"langgraph_step": step} if step is not None else {})


def _message_events(node: str, message: BaseMessage) -> list[RunEvent]:
    data = {**to_jsonable(message), "metadata": _node_meta(node)}
    events = [RunEvent(type="message", data=data)]
    if isinstance(message, AIMessage):
        events += [
            RunEvent(type="tool_call",
                     data={"id": c["id"], "name": c["name"], "args": redact_values(c["args"])})
            for c in message.tool_calls
        ]
    if isinstance(message, ToolMessage):
        name = message.name or ""
        events.append(
            RunEvent(
                type="tool_result",
                data={
                    "id": message.tool_call_id,
                    "name": name,
                    "output": redact_values(message.artifact) if isinstance(message.artifact, dict) else {},
                    "is_error": message.status == "error",
                    "summary": redact_text(summarize(name, message)),
                },
            )
        )
    return events


def _update_events(chunk: dict[str, Any]) -> list[RunEvent]:
    events = [RunEvent(type="updates", data=to_jsonable(chunk))]
    for node, update in chunk.items():
        if node == "__interrupt__":
            events += [
                RunEvent(type="interrupt", data={**to_jsonable(i.value), "interrupt_id": i.id})
                for i in update
                if isinstance(i, Interrupt) and isinstance(i.value, dict)
            ]
            continue
        messages = update.get("messages", []) if isinstance(update, dict) else []
        for message in messages:
            if isinstance(message, BaseMessage):
                events += _message_events(node, message)
    return events


def _message_chunk_events(message: Any, metadata: dict[str, Any]) -> list[RunEvent]:
    """Streamed model text becomes text_delta; whole messages arrive through updates instead."""
    if not isinstance(message, AIMessage) or metadata.get("langgraph_node") != "agent" or not message.text:
        return []
    return [
        RunEvent(
            type="text_delta",
            data={
                "id": message.id,
                "delta": redact_text(message.text),
                "metadata": _node_meta("agent", metadata.get("langgraph_step")),
            },
        )
    ]


def translate(mode: str, chunk: Any) -> list[RunEvent]:
    if mode == "values":
        return [RunEvent(type="values", data=to_jsonable(chunk))]
    if mode == "updates":
        return _update_events(chunk)
    if mode == "messages":
        message, metadata = chunk
        return _message_chunk_events(message, metadata)
    if mode == "custom" and isinstance(chunk, dict) and chunk.get("type") == "progress":
        return [RunEvent(type="progress", data={k: v for k, v in chunk.items() if k != "type"})]
    return []
