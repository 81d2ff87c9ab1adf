"""The `openai` chat model path: ChatOpenAI against a local OpenAI-format fake server (the one allowed mock),
streaming through the real graph and not streaming; plus the guard that keeps tests off real endpoints."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest
from pydantic import BaseModel

from etl_assistant.agent.models import get_chat_model
from etl_assistant.agent.runner import AgentService
from etl_assistant.agent.tooling import to_langchain_tool
from etl_assistant.config import Settings
from etl_assistant.errors import EtlError
from etl_assistant.prompts import load_prompt
from etl_assistant.tools.base import Tool, ToolContext
from tests.support.no_network_models import NetworkBlocked
from tests.support.openai_fake import Reply, openai_fake
from tests.support.scripted_model import audit_rows, scripted_tools


def openai_settings(tmp_path: Path, url: str) -> Settings:
    # LLM fields are read by their env names (validation aliases), so they are passed that way
    return Settings(
        data_dir=tmp_path,
        model="openai",
        ETLA_LLM_BASE_URL=url,
        ETLA_LLM_API_KEY="sk-test",
        ETLA_LLM_MODEL="fake-gpt",
    )


def say(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


async def test_streamed_tool_call_and_answer_through_the_graph(tmp_path: Path):
    replies = [Reply(tool_calls=[("echo", {"text": "hi"})]), Reply(content="The echo tool said hi back.")]
    with openai_fake(replies) as fake:
        service = await AgentService.create(
            openai_settings(tmp_path, fake.url), tools=scripted_tools(tmp_path / "a")
        )
        try:
            events = [e async for e in service.stream("o1", input=say("please echo hi"))]
        finally:
            await service.aclose()
    assert service.model_name == "fake-gpt"
    calls = [e.data for e in events if e.type == "tool_call"]
    assert calls == [{"id": "call_1_0", "name": "echo", "args": {"text": "hi"}}]
    assert [e.data["output"] for e in events if e.type == "tool_result"] == [{"text": "hi", "length": 2}]
    deltas = [e.data["delta"] for e in events if e.type == "text_delta"]
    assert len(deltas) == 6 and "".join(deltas) == "The echo tool said hi back."
    assert events[-1].data == {"status": "success"}

    first, second = fake.requests
    assert first["stream"] is True and first["model"] == "fake-gpt"
    assert first["messages"][0] == {"role": "system", "content": load_prompt("system")}
    assert first["messages"][1] == {"role": "user", "content": "please echo hi"}
    assert {t["function"]["name"] for t in first["tools"]} == {
        "echo",
        "sleepy",
        "warehouse_down",
        "record_row",
    }
    echo_schema = next(t["function"] for t in first["tools"] if t["function"]["name"] == "echo")
    assert echo_schema["description"] == "Repeat a text back (test tool)."
    assert echo_schema["parameters"]["required"] == ["text"]
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_1_0"
    assert json.loads(tool_message["content"]) == {"text": "hi", "length": 2}


async def test_approval_with_the_openai_model(tmp_path: Path):
    replies = [
        Reply(content="I will record it.", tool_calls=[("record_row", {"value": "v1"})]),
        Reply(content="Done."),
    ]
    with openai_fake(replies) as fake:
        service = await AgentService.create(
            openai_settings(tmp_path, fake.url), tools=scripted_tools(tmp_path / "a")
        )
        try:
            events = [e async for e in service.stream("o2", input=say("record v1"))]
            assert events[-1].data == {"status": "interrupted"} and audit_rows(tmp_path / "a") == []
            assert len(fake.requests) == 1
            events = [
                e
                async for e in service.stream("o2", command={"resume": {"decisions": [{"type": "approve"}]}})
            ]
        finally:
            await service.aclose()
    assert audit_rows(tmp_path / "a") == [("v1", "default")]
    assert fake.requests[1]["messages"][-1]["tool_call_id"] == "call_1_0"
    assert [e.data["content"] for e in events if e.type == "message" and e.data["type"] == "ai"] == ["Done."]


async def test_not_streaming_returns_parsed_tool_calls(tmp_path: Path):
    with openai_fake([Reply(tool_calls=[("echo", {"text": "x"})])]) as fake:
        model = get_chat_model(openai_settings(tmp_path, fake.url))
        tool = to_langchain_tool(scripted_tools(tmp_path / "a")[0])
        message = await model.bind_tools([tool]).ainvoke("echo x")
    assert fake.requests[0].get("stream") in (None, False)
    assert message.tool_calls[0]["name"] == "echo" and message.tool_calls[0]["args"] == {"text": "x"}


def test_openai_model_needs_an_endpoint_or_a_key(tmp_path: Path):
    with pytest.raises(EtlError, match="ETLA_LLM_API_KEY"):
        get_chat_model(Settings(data_dir=tmp_path, model="openai"))


async def test_the_guard_stops_a_real_endpoint_under_tests(tmp_path: Path):
    model = get_chat_model(Settings(data_dir=tmp_path, model="openai", ETLA_LLM_API_KEY="sk-not-real"))
    with pytest.raises(openai.APIConnectionError) as failure:
        await model.ainvoke("hello")
    causes = []
    error: BaseException | None = failure.value
    while error is not None:
        causes.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(c, NetworkBlocked) for c in causes)


class ProbeInput(BaseModel):
    pass


class ProbeOutput(BaseModel):
    model: str | None


def probe(ctx: ToolContext, args: ProbeInput) -> ProbeOutput:
    """Report which chat model the tool context carries (test tool)."""
    return ProbeOutput(model=getattr(ctx.chat_model, "model_name", None))


async def test_tools_get_the_llm_on_the_openai_path(tmp_path: Path):
    tool = Tool(name="probe", fn=probe, input_model=ProbeInput, output_model=ProbeOutput)
    with openai_fake([Reply(tool_calls=[("probe", {})]), Reply(content="ok")]) as fake:
        service = await AgentService.create(openai_settings(tmp_path, fake.url), tools=[tool])
        try:
            events = [e async for e in service.stream("o3", input=say("probe"))]
        finally:
            await service.aclose()
    assert [e.data["output"] for e in events if e.type == "tool_result"] == [{"model": "fake-gpt"}]
