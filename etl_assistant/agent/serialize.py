"""Graph values to JSON-able dicts, in the shapes LangGraph's own server sends (messages as dicts).

This is where thread state leaves the process (stream events, state, history), so database URLs in it are
shown redacted: a person who typed "connect to postgresql://me:pw@host/db" never sees the password again."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.types import Interrupt
from pydantic import BaseModel

from etl_assistant.redact import redact_text, redact_values


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseMessage):
        return redact_values(value.model_dump(mode="json"))
    if isinstance(value, Interrupt):
        return {"value": to_jsonable(value.value), "id": value.id}
    if isinstance(value, BaseModel):
        return redact_values(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str):
        return redact_text(value) if "://" in value else value
    if value is None or isinstance(value, int | float | bool):
        return value
    return str(value)
