"""Human approval of tool calls that change things (deploy): the interrupt payload and the decisions.

The shapes are the ones agent-chat-ui renders and sends back:
payload `{action_requests: [{name, args, description}], review_configs: [{action_name, allowed_decisions}]}`,
resume `{"decisions": [{"type": "approve"} | {"type": "edit", "edited_action": {"name", "args"}}
| {"type": "reject", "message": str}]}` - one decision per action request, in order. A decision may name who
made it (`"user": "U123"`); an approved or edited call then runs for that person (deployments record them).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any, Literal

from langchain_core.messages import AIMessage, ToolCall, ToolMessage
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from etl_assistant.errors import InputError
from etl_assistant.tools.base import Tool

DECISIONS = ["approve", "edit", "reject"]


class EditedAction(BaseModel):
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class _Decided(BaseModel):
    user: str | None = Field(default=None, min_length=1, max_length=256)  # who decided, when the client says


class Approve(_Decided):
    type: Literal["approve"]


class Edit(_Decided):
    type: Literal["edit"]
    edited_action: EditedAction


class Reject(_Decided):
    type: Literal["reject"]
    message: str = ""


Decision = Annotated[Approve | Edit | Reject, Field(discriminator="type")]


class Resume(BaseModel):
    decisions: list[Decision]


_RESUME = TypeAdapter(Resume)


def _first_sentence(text: str) -> str:
    """The docstring's opening sentence, unwrapped (its first line alone can stop mid-sentence)."""
    paragraph = " ".join(text.split("\n\n", 1)[0].split())
    head, dot, _ = paragraph.partition(". ")
    return head + "." if dot else paragraph


def approval_request(calls: list[ToolCall], tools: dict[str, Tool]) -> dict[str, Any]:
    """The interrupt payload for the calls that need a person's approval."""
    return {
        "action_requests": [
            {
                "name": c["name"],
                "args": c["args"],
                "description": f"{_first_sentence(tools[c['name']].description)} Approve to run it as shown.",
            }
            for c in calls
        ],
        "review_configs": [{"action_name": c["name"], "allowed_decisions": DECISIONS} for c in calls],
    }


def parse_decisions(
    resume: Any, expected: int, known_tools: Collection[str]
) -> list[Approve | Edit | Reject]:
    """Validate a resume value; a wrong shape is the client's to fix, said in one sentence.

    The runner checks before resuming (a resume value the graph has consumed cannot be taken back); the review
    node checks again because it is the one that acts on it."""
    try:
        decisions = _RESUME.validate_python(resume).decisions
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(
            f"Resume with {{'decisions': [...]}} holding one approve/edit/reject decision per "
            f"action ({where}: {first['msg']})."
        ) from None
    if len(decisions) != expected:
        raise InputError(
            f"Resume with exactly {expected} decision(s), one per action awaiting approval; "
            f"got {len(decisions)}."
        )
    for decision in decisions:
        if isinstance(decision, Edit) and decision.edited_action.name not in known_tools:
            raise InputError(
                f"The edited action names an unknown tool {decision.edited_action.name!r}; "
                f"use one of {sorted(known_tools)}."
            )
    return decisions


def approvers(
    calls: list[ToolCall], decisions: list[Approve | Edit | Reject], run_user: str | None
) -> dict[str, str]:
    """tool_call_id -> who approved it, for the calls that will run: the decision's user, else the run's."""
    found: dict[str, str] = {}
    for call, decision in zip(calls, decisions, strict=True):
        who = decision.user or run_user
        if call["id"] and who and not isinstance(decision, Reject):
            found[call["id"]] = who
    return found


def apply_decisions(
    message: AIMessage, calls: list[ToolCall], decisions: list[Approve | Edit | Reject]
) -> list[AIMessage | ToolMessage]:
    """Messages that record the decisions: the AI message with edited arguments (same id, so it replaces the
    original) and a rejection result for every rejected call. Approved calls stay pending for the tools."""
    edits: dict[str, EditedAction] = {}
    rejections: list[ToolMessage] = []
    for call, decision in zip(calls, decisions, strict=True):
        if isinstance(decision, Edit):
            edits[call["id"]] = decision.edited_action
        elif isinstance(decision, Reject):
            reason = f": {decision.message}" if decision.message else "."
            rejections.append(
                ToolMessage(
                    content=f"The person rejected {call['name']}{reason}",
                    name=call["name"],
                    tool_call_id=call["id"],
                    status="error",
                )
            )
    updates: list[AIMessage | ToolMessage] = []
    if edits:
        edited_calls = [
            {**c, "name": edits[c["id"]].name, "args": edits[c["id"]].args} if c["id"] in edits else c
            for c in message.tool_calls
        ]
        updates.append(message.model_copy(update={"tool_calls": edited_calls}))
    return updates + rejections
