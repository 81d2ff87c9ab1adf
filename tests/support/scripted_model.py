"""A tiny deterministic chat model for agent tests (pydantic-ai TestModel style) and the tools it calls.

It is not the product's offline planner: it maps a few command words to tool calls so tests can drive every
path of the graph (plain answer, tool result, model-fixable error, infrastructure error, approval).
Rules on the last human message: "echo X" -> echo(text=X); "record X" -> record_row(value=X) (needs
approval); "slow N" -> sleepy(steps=N) (N progress events, 50 ms apart); "fail" -> echo with an argument
the tool rejects; "down" -> warehouse_down(); anything else -> a text answer.
After tool results it answers "Result: ..." or "The tool failed: ...".
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import BaseModel

from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.tools.base import Tool, ToolContext


class ScriptedChatModel(BaseChatModel):
    @property
    def _llm_type(self) -> str:
        return "scripted-test-model"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            results = []
            for m in reversed(messages):
                if not isinstance(m, ToolMessage):
                    break
                results.append(m)
            failed = [m for m in results if m.status == "error"]
            if failed:
                return AIMessage(content=f"The tool failed: {failed[0].text}")
            return AIMessage(content="Result: " + "; ".join(m.text for m in reversed(results)))
        text = last.text.strip() if isinstance(last, HumanMessage) else ""
        word, _, rest = text.partition(" ")
        call_id = f"call_{uuid.uuid4().hex[:8]}"
        if word == "echo":
            return AIMessage(content="", tool_calls=[{"id": call_id, "name": "echo", "args": {"text": rest}}])
        if word == "fail":
            return AIMessage(
                content="", tool_calls=[{"id": call_id, "name": "echo", "args": {"text": "!bad"}}]
            )
        if word == "slow":
            return AIMessage(
                content="", tool_calls=[{"id": call_id, "name": "sleepy", "args": {"steps": int(rest)}}]
            )
        if word == "down":
            return AIMessage(content="", tool_calls=[{"id": call_id, "name": "warehouse_down", "args": {}}])
        if word == "record":
            return AIMessage(
                content="", tool_calls=[{"id": call_id, "name": "record_row", "args": {"value": rest}}]
            )
        return AIMessage(content=f"You said: {text}. I can echo things.")

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from self._chunks(self._reply(messages))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._reply(messages)):
            if run_manager:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    @staticmethod
    def _chunks(message: AIMessage) -> Iterator[ChatGenerationChunk]:
        """Word by word, so streaming is observable; tool calls travel in the first chunk."""
        words = message.text.split(" ") if message.text else [""]
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            if i == 0 and message.tool_calls:
                chunk = AIMessageChunk(
                    content=piece,
                    tool_call_chunks=[
                        {"id": c["id"], "name": c["name"], "args": json.dumps(c["args"]), "index": n}
                        for n, c in enumerate(message.tool_calls)
                    ],
                )
            else:
                chunk = AIMessageChunk(content=piece)
            if i == len(words) - 1:
                chunk.chunk_position = "last"
            yield ChatGenerationChunk(message=chunk)


class EchoInput(BaseModel):
    text: str


class EchoOutput(BaseModel):
    text: str
    length: int


def echo(ctx: ToolContext, args: EchoInput) -> EchoOutput:
    """Repeat a text back (test tool)."""
    if args.text.startswith("!"):
        raise ToolError("The text must not start with '!'; remove it and call echo again.")
    ctx.progress(1, 2, "echoing")
    ctx.progress(2, 2, "echoed")
    return EchoOutput(text=args.text, length=len(args.text))


class SleepyInput(BaseModel):
    steps: int


def sleepy(ctx: ToolContext, args: SleepyInput) -> EchoOutput:
    """Work slowly, reporting progress every 50 ms (test tool for disconnects)."""
    for step in range(args.steps):
        time.sleep(0.05)
        ctx.progress(step + 1, args.steps, "sleeping")
    return EchoOutput(text="rested", length=args.steps)


class NoInput(BaseModel):
    pass


def warehouse_down(ctx: ToolContext, args: NoInput) -> EchoOutput:
    """Always fails like an unreachable warehouse (test tool)."""
    raise WarehouseError(
        "The warehouse at chdb:///nowhere is unreachable; start it or set ETLA_WAREHOUSE_URL."
    )


class RecordInput(BaseModel):
    value: str


class RecordOutput(BaseModel):
    value: str
    rows: int


def record_tool(db_path: Path) -> Tool:
    """A needs-approval tool that inserts one row into a real SQLite table at `db_path`."""

    def record_row(ctx: ToolContext, args: RecordInput) -> RecordOutput:
        """Write one row to the audit table (test tool with a side effect)."""
        with sqlite3.connect(db_path) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS audit (value TEXT, tenant TEXT, user TEXT)")
            conn.execute("INSERT INTO audit VALUES (?, ?, ?)", (args.value, ctx.tenant, ctx.user))
            rows = conn.execute("SELECT count(*) FROM audit").fetchone()[0]
        return RecordOutput(value=args.value, rows=rows)

    return Tool(
        name="record_row",
        fn=record_row,
        input_model=RecordInput,
        output_model=RecordOutput,
        read_only=False,
        needs_approval=True,
    )


def audit_rows(db_path: Path, columns: str = "value, tenant") -> list[tuple[str, str]]:
    """The audit rows; `columns="value, user"` gives who each row was written for (its approver)."""
    if not db_path.exists():
        return []
    with sqlite3.connect(db_path) as conn:
        try:
            return conn.execute(f"SELECT {columns} FROM audit").fetchall()
        except sqlite3.OperationalError:
            return []


def scripted_tools(db_path: Path) -> list[Tool]:
    return [
        Tool(name="echo", fn=echo, input_model=EchoInput, output_model=EchoOutput),
        Tool(name="sleepy", fn=sleepy, input_model=SleepyInput, output_model=EchoOutput),
        Tool(name="warehouse_down", fn=warehouse_down, input_model=NoInput, output_model=EchoOutput),
        record_tool(db_path),
    ]
