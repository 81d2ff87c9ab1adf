"""What the CLI prints for machines: SQL scripts, JSON and CSV, written as-is (never wrapped to a width).

`etl-assistant ddl orders.csv > schema.sql` must give a file `psql -f` runs: the reasons go in as `--`
comment lines, one per sentence group, however long. `--json` prints the tool's output model; `--csv`
prints a query's columns and rows (RFC 4180, `\\n` line ends).
"""

from __future__ import annotations

import csv
import json
import sys
from typing import Any

from pydantic import BaseModel

from etl_assistant.agent.events import RunEvent
from etl_assistant.ddl.result import DDLResult


def write_json(value: BaseModel | dict[str, Any] | list[Any]) -> None:
    if isinstance(value, BaseModel):
        sys.stdout.write(value.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def write_csv(columns: list[str], rows: list[list[Any]]) -> None:
    """A header row and the rows; NULL is an empty field."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([["" if value is None else value for value in row] for row in rows])


def sql_comment(text: str) -> str:
    """Text as SQL comment lines: every line of it starts with `-- `, so no part of it reads as SQL."""
    return "\n".join(f"-- {line}".rstrip() for line in text.splitlines() or [""])


def ddl_script(result: DDLResult) -> str:
    """The DDL as one runnable script: the recommendation and the reasons as comments about the statements."""
    parts = []
    if result.recommendation is not None:
        recommendation = result.recommendation
        parts.append(sql_comment(f"Recommended: {recommendation.dialect}. {recommendation.reason}"))
    parts.append(result.ddl.strip())
    if result.explanation:
        parts.append("\n".join(sql_comment(line) for line in result.explanation))
    return "\n\n".join(parts) + "\n"


class ChatTranscript:
    """One chat turn for `chat --json`: the reply, the tool calls with their results, approvals, errors."""

    def __init__(self, thread_id: str) -> None:
        self.thread_id = thread_id
        self.status = "error"
        self.reply = ""
        self.tools: list[dict[str, Any]] = []
        self.approvals: list[dict[str, Any]] = []
        self.error: str | None = None
        self._streamed: set[str] = set()

    def add(self, event: RunEvent) -> None:
        data = event.data
        if event.type == "text_delta":
            self._streamed.add(str(data["id"]))
            self.reply += str(data["delta"])
        elif event.type == "message" and data.get("type") == "ai" and isinstance(data.get("content"), str):
            if str(data.get("id")) not in self._streamed and data["content"]:
                self.reply += data["content"]
        elif event.type == "tool_call":
            self.tools.append({"id": data["id"], "name": data["name"], "args": data["args"], "output": None})
        elif event.type == "tool_result":
            for tool in self.tools:
                if tool["id"] == data["id"]:
                    error = data["summary"] if data["is_error"] else None
                    tool.update(output=data.get("output"), error=error)
        elif event.type == "interrupt":
            self.approvals.extend(data.get("action_requests", []))
        elif event.type == "error":
            self.error = data.get("message")
        elif event.type == "end":
            self.status = str(data.get("status"))

    def to_json(self) -> dict[str, Any]:
        return {"thread_id": self.thread_id, "status": self.status, "reply": self.reply, "tools": self.tools,
                "approvals_waiting": self.approvals, "error": self.error}
