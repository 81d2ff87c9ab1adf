"""The conversation state the planner needs, derived from the message history alone (no hidden memory).

Previous tool calls (AIMessage.tool_calls) and their results (ToolMessage JSON) say which dataset, table, file
and dialect were talked about last, so follow-ups such as "now for postgres" resolve.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage


@dataclass
class ToolStep:
    """One tool call of the conversation and, once it ran, its result."""

    id: str
    name: str
    args: dict[str, Any]
    output: dict[str, Any] | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.output is not None or self.error is not None


@dataclass(frozen=True)
class AskedAnswer:
    """The last `ask` of the thread: what "save this" stores as a verified question->SQL pair."""

    question: str
    sql: str | None  # None when the answer was a question back
    today: str | None = None  # the date relative phrases referred to, when the ask call named one
    follow_up: bool = False  # answered with the previous answer's parse: the words alone do not stand


@dataclass
class ConversationState:
    last_intent: str | None = None  # name of the last tool called
    last_args: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    table: str | None = None
    path: str | None = None
    dialect: str | None = None
    datamart: str | None = None  # the last datamart designed
    deployed: str | None = None  # the first object of the last deploy (what "roll it back" means)
    ask_parse: dict[str, Any] | None = None  # the last answer's parse, passed back for follow-up questions
    asked: AskedAnswer | None = None  # the last successful ask (a failed one clears it)
    names: list[str] = field(default_factory=list)  # datasets/tables seen in this thread, newest last
    pipeline: str | None = None  # the last pipeline planned, created or acted on (what "pause it" means)

    def remember(self, name: str | None) -> None:
        if name:
            if name in self.names:
                self.names.remove(name)
            self.names.append(name)


def tool_steps(messages: list[BaseMessage]) -> list[ToolStep]:
    """Every tool call in order, paired with its ToolMessage result when there is one."""
    steps: dict[str, ToolStep] = {}
    for message in messages:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                call_id = call.get("id") or f"call_{len(steps)}"
                steps[call_id] = ToolStep(id=call_id, name=call["name"], args=dict(call.get("args") or {}))
        elif isinstance(message, ToolMessage) and message.tool_call_id in steps:
            step = steps[message.tool_call_id]
            text = message.content if isinstance(message.content, str) else json.dumps(message.content)
            if message.status == "error":
                step.error = text
            else:
                step.output = _as_dict(text)
    return list(steps.values())


def derive_state(messages: list[BaseMessage]) -> ConversationState:
    state = ConversationState()
    for step in tool_steps(messages):
        state.last_intent = step.name
        state.last_args = step.args
        if step.error is not None:
            if step.name == "ask":
                state.asked = None
            continue
        _apply(state, step.name, step.args, step.output or {})
    return state


def last_human_index(messages: list[BaseMessage]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], HumanMessage):
            return index
    return None


def message_text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)


def _apply(state: ConversationState, name: str, args: dict[str, Any], output: dict[str, Any]) -> None:
    if name in _PIPELINE_TOOLS:
        _apply_pipeline(state, name, args, output)
        return
    if name == "design_datamart":
        spec = output.get("spec") or {}
        state.datamart = spec.get("name")
        state.remember(state.datamart)
        output = {"dataset": spec.get("dataset"), "dialect": (output.get("definition") or {}).get("dialect")}
    elif name == "ask":
        state.ask_parse = output.get("parse")
        state.asked = AskedAnswer(
            question=str(args.get("question") or output.get("question") or ""),
            sql=output.get("sql"),
            today=args.get("today"),
            follow_up=bool(args.get("previous")),
        )
    elif name in ("deploy", "apply_deploy", "rollback"):
        steps = (output.get("result") or output).get("steps") or [{"target": output.get("target")}]
        state.deployed = steps[0].get("target") if steps else None
        state.remember(state.deployed)
        return
    dataset = output.get("dataset") if name != "infer_schema" else output.get("name")
    dataset = dataset or args.get("dataset") or args.get("name")
    if name == "infer_schema" and args.get("table"):
        state.table = args["table"]
    if dataset:
        state.dataset = dataset
        state.remember(dataset)
    if args.get("path"):
        state.path = args["path"]
    if output.get("dialect") or args.get("dialect"):
        state.dialect = output.get("dialect") or args.get("dialect")
    if name in ("load_table", "deploy") and output.get("table"):
        state.table = output["table"]
        state.remember(output["table"])
    elif name == "generate_ddl" and output.get("table"):
        state.remember(output["table"])


_PIPELINE_TOOLS = frozenset({"create_pipeline", "run_pipeline", "pause_pipeline", "resume_pipeline",
                             "pipeline_runs", "delete_pipeline", "export_pipeline"})


def _apply_pipeline(state: ConversationState, name: str, args: dict[str, Any],
                    output: dict[str, Any]) -> None:
    """The pipeline a step was about becomes the one "it" means; deleting it leaves none."""
    pipeline = output.get("pipeline")  # create_pipeline: the spec; run and runs: its name
    spec = pipeline if isinstance(pipeline, dict) else {}
    named = spec.get("name") or (pipeline if isinstance(pipeline, str) else None) or output.get("name")
    named = named or args.get("name")
    state.pipeline = None if name == "delete_pipeline" else named or state.pipeline
    target = spec.get("target_table")
    if target:
        state.table = target
        state.remember(target)


def _as_dict(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {"text": text}
    return value if isinstance(value, dict) else {"value": value}
