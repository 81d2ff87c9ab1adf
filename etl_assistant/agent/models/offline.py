"""`offline`, the default chat model: the deterministic planner behind LangChain's BaseChatModel interface.

It emits real `AIMessage.tool_calls`, so the same LangGraph graph, ToolNode, interrupts and streaming serve it
and an OpenAI-compatible LLM alike. No network, no randomness: the same conversation gives the same answer.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.runnables.config import ensure_config
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from etl_assistant.agent.planner import CatalogView, Decision, Planner, shared_router
from etl_assistant.agent.planner.catalog_view import planner_view
from etl_assistant.config import Settings, get_settings

# Our canonical argument names -> the names a bound tool might use instead (first one it accepts wins).
_ARG_SYNONYMS: dict[str, tuple[str, ...]] = {
    "question": ("question", "request", "text", "prompt", "query"),
    "request": ("request", "question", "description", "text", "prompt", "goal"),
    "dataset": ("dataset", "name", "source"),
}
_TOKEN = re.compile(r"\S+\s*|\s+")
WORDS_PER_CHUNK = 8  # a streamed piece: each piece costs a callback, a stream event and an SSE write


class OfflinePlanner(BaseChatModel):
    """Deterministic planner: a request becomes a tool call or one question; results become the reply."""

    settings: Settings = Field(default_factory=get_settings)

    @property
    def _llm_type(self) -> str:
        return "etl-assistant-offline"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": "offline-planner"}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bound tools reach `_generate` as `tools=[openai tool dicts]`; only their names are ever called."""
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)

    def warm_up(self) -> None:
        """Load the embedding model and exemplars now (call at server start so the first reply is fast)."""
        shared_router().warm_up()

    # --- the decision ---------------------------------------------------------------------------------------

    def _decide(
        self,
        messages: list[BaseMessage],
        tools: list[dict[str, Any]] | None,
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
    ) -> AIMessage:
        parameters = {t["function"]["name"]: t["function"].get("parameters") or {} for t in tools or []}
        tenant = self._tenant(run_manager)
        catalog = planner_view(self.settings, tenant)  # per turn: uploads and new connections appear at once
        planner = Planner(warehouse_dialect=_warehouse_dialect(self.settings.resolved_warehouse_url))
        decision = planner.decide(messages, catalog, list(parameters) if tools is not None else None)
        return _to_message(decision, parameters, catalog)

    def _tenant(self, run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None) -> str:
        """The run's tenant: `configurable.tenant` of the run config, else its metadata, else the settings."""
        configurable = ensure_config().get("configurable") or {}
        metadata = run_manager.metadata if run_manager else {}
        return str(configurable.get("tenant") or metadata.get("tenant") or self.settings.tenant)

    # --- BaseChatModel hooks --------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._decide(messages, kwargs.get("tools"), run_manager)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = await asyncio.to_thread(self._decide, messages, kwargs.get("tools"), run_manager)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._decide(messages, kwargs.get("tools"), run_manager)
        for chunk in _chunks(message):
            if run_manager and isinstance(chunk.message.content, str) and chunk.message.content:
                run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        message = await asyncio.to_thread(self._decide, messages, kwargs.get("tools"), run_manager)
        for chunk in _chunks(message):
            if run_manager and isinstance(chunk.message.content, str) and chunk.message.content:
                await run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
            yield chunk


def _to_message(decision: Decision, parameters: dict[str, dict[str, Any]], catalog: CatalogView) -> AIMessage:
    if not decision.calls:
        return AIMessage(content=decision.text)
    calls = [
        {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "name": step.tool,
            "args": _adapt(_locate(step.args, catalog), parameters.get(step.tool)),
            "type": "tool_call",
        }
        for step in decision.calls
    ]
    return AIMessage(content=decision.text, tool_calls=calls)  # text: what the person approves (a plan)


def _locate(args: dict[str, Any], catalog: CatalogView) -> dict[str, Any]:
    """A file typed by name after an upload ("here is orders.csv") is the registered source of that name.

    Uploads live under the data dir, not the server's working directory the tools resolve relative paths
    against; a path that exists as typed, is absolute, or matches no single source is kept as typed.
    """
    typed = args.get("path")
    if not typed:
        return args
    candidate = Path(typed).expanduser()
    if candidate.is_absolute() or candidate.exists():
        return args
    sources = {
        d.source
        for d in catalog.datasets
        if d.source and Path(d.source).parts[-len(candidate.parts) :] == candidate.parts
    }
    return {**args, "path": sources.pop()} if len(sources) == 1 else args


def _adapt(args: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any]:
    """Our arguments under the names the bound tool's schema accepts (dropping what it does not take)."""
    properties = (schema or {}).get("properties")
    if not properties:
        return dict(args)
    adapted: dict[str, Any] = {}
    for key, value in args.items():
        for name in _ARG_SYNONYMS.get(key, (key,)):
            if name in properties and name not in adapted:
                adapted[name] = value
                break
    return adapted


def _chunks(message: AIMessage) -> Iterator[ChatGenerationChunk]:
    """Tool calls as one chunk each (tool_call_chunks merge back into tool_calls); the text a few words at a
    time. The planner has the whole reply at once, so the pieces only pace what a reader sees: one per word
    made a DDL reply ~220 stream events, each paying the callback, event and SSE encoding path."""
    tokens = _TOKEN.findall(str(message.content))
    for start in range(0, len(tokens), WORDS_PER_CHUNK):
        piece = "".join(tokens[start : start + WORDS_PER_CHUNK])
        yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
    if message.tool_calls:
        for index, call in enumerate(message.tool_calls):
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        {
                            "id": call["id"],
                            "name": call["name"],
                            "args": json.dumps(call["args"]),
                            "index": index,
                            "type": "tool_call_chunk",
                        }
                    ],
                )
            )


def _warehouse_dialect(url: str) -> str:
    scheme = url.split(":", 1)[0].lower()
    if scheme.startswith("postgres"):
        return "postgres"
    if scheme.startswith("sqlite"):
        return "sqlite"
    return "clickhouse"
