"""RunEvents -> the assistant's reply as markdown text, for channels that show a run as chat text.

Shared by the OpenAI-compatible channel (streamed as chunks) and Slack (posted when the run ends): streamed
text passes through, tool steps become quoted lines (`> running infer_schema (orders.csv)…`), progress shows
at quarter steps, and an approval request is rendered by the channel's own `approval` function (text chats
ask for "approve"/"reject", Slack adds buttons).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

from etl_assistant.agent.events import RunEvent

_ARG_PREVIEW_VALUES = 3
_ARG_PREVIEW_CHARS = 60
_PROGRESS_STEPS = 4  # a progress line at 25, 50 and 75 %; the result line says when it is done


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= _ARG_PREVIEW_CHARS else text[: _ARG_PREVIEW_CHARS - 1] + "…"


def describe_call(name: str, args: dict[str, Any]) -> str:
    """`infer_schema (orders.csv)`: the tool and its first few argument values (file names without dirs)."""
    shown = [PurePath(value).name if key == "path" and isinstance(value, str) else _preview(value)
             for key, value in args.items()
             if value not in (None, "", False, [], {}) and not isinstance(value, dict)]  # no JSON objects
    return f"{name} ({', '.join(shown[:_ARG_PREVIEW_VALUES])})" if shown else name


class ReplyTextEncoder:
    """Turns one run's RunEvents into the assistant's reply as markdown text pieces.

    Streamed text passes through; a finished message is written whole only if none of it was streamed; tool
    steps and approval requests become their own quoted paragraphs. A "running" line waits for the next
    event: if that is an approval request the call is not running yet, so the line is dropped.
    """

    def __init__(self, approval: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.approval = approval or approval_text  # how an approval request reads in this channel
        self.text = ""  # everything produced so far (for the conversation key)
        self.error: dict[str, Any] | None = None
        self._streamed: set[str] = set()
        self._progress_seen: dict[str, int] = {}
        self._waiting_calls: list[str] = []
        self._out: list[str] = []

    def encode(self, event: RunEvent) -> str:
        self._out = []
        if event.type == "interrupt" or (event.type == "updates" and "__interrupt__" in event.data):
            self._waiting_calls.clear()
        elif event.type != "values":
            for line in self._waiting_calls:
                self._paragraph(line)
            self._waiting_calls.clear()
        self._encode(event)
        return "".join(self._out)

    def _encode(self, event: RunEvent) -> None:
        data = event.data
        match event.type:
            case "text_delta":
                self._streamed.add(str(data.get("id")))
                self._emit(str(data.get("delta") or ""))
            case "message":
                text = data.get("content")
                if data.get("type") == "ai" and isinstance(text, str) and text.strip() \
                        and str(data.get("id")) not in self._streamed:
                    self._paragraph(text)
            case "tool_call":
                call = describe_call(data["name"], data.get("args") or {})
                self._waiting_calls.append(f"> running {call}…")
            case "tool_result":
                summary = " ".join(str(data.get("summary") or "").split())
                if data.get("is_error"):
                    self._paragraph(f"> {data.get('name')} failed: {summary}")
                elif summary:
                    self._paragraph(f"> {summary}")
            case "progress":
                self._progress(data)
            case "interrupt":
                self._paragraph(self.approval(data))
            case "error":
                self.error = data

    def _emit(self, piece: str) -> None:
        self.text += piece
        self._out.append(piece)

    def _paragraph(self, text: str) -> None:
        lead = "" if not self.text or self.text.endswith("\n\n") else ("\n" if self.text.endswith("\n")
                                                                          else "\n\n")
        self._emit(f"{lead}{text.strip()}\n\n")

    def _progress(self, data: dict[str, Any]) -> None:
        total, done = data.get("total"), data.get("done") or 0
        if not total:
            return
        tool = str(data.get("tool"))
        step = int(_PROGRESS_STEPS * min(done / total, 1))
        if step >= _PROGRESS_STEPS or step <= self._progress_seen.get(tool, 0):
            return
        self._progress_seen[tool] = step
        message = f" {data['message']}" if data.get("message") else ""
        self._paragraph(f"> {tool}:{message} {round(100 * step / _PROGRESS_STEPS)}%")


def approval_plan(request: dict[str, Any]) -> str:
    """What waits for approval: each action with its arguments and description."""
    lines = ["**Approval needed.**"]
    for action in request.get("action_requests", []):
        args = json.dumps(action.get("args") or {}, ensure_ascii=False, indent=2)
        lines += ["", f"`{action.get('name')}` with:", "```json", args, "```"]
        if action.get("description"):
            lines += [str(action["description"])]
    return "\n".join(lines)


def approval_text(request: dict[str, Any]) -> str:
    """The plan plus how to answer it in a text-only chat."""
    return approval_plan(request) + "\n\nReply **approve** to run it, or **reject** to cancel."
