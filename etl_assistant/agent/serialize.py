"""Graph values to JSON-able dicts, in the shapes LangGraph's own server sends (messages as dicts).

This is where thread state leaves the process (stream events, state, history), so database URLs in it are
shown redacted: a person who typed "connect to postgresql://me:pw@host/db" never sees the password again.

Every step of a run streams the whole state, so a thread's earlier messages (tool results carry schemas and
rows) would be dumped and redacted again at every step of every turn: a message's JSON-able form is kept by
id while the message is equal to the one it was made from (one loaded again from the checkpoint is equal;
an edited one with the same id is made again)."""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, datetime
from enum import Enum
from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.types import Interrupt
from pydantic import BaseModel

from etl_assistant.redact import redact_text, redact_values

MESSAGES_KEPT = 4096  # JSON-able messages kept (about 100 conversations of 40 messages)
_messages: OrderedDict[str, tuple[BaseMessage, dict[str, Any]]] = OrderedDict()


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseMessage):
        return dict(_message(value))  # a copy: callers may add keys (metadata) to what they get
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


def _message(message: BaseMessage) -> dict[str, Any]:
    key = message.id
    if not isinstance(key, str):
        return redact_values(message.model_dump(mode="json"))
    known = _messages.get(key)
    if known is not None and (known[0] is message or known[0] == message):
        _messages[key] = (message, known[1])  # the newest object: the next step's lookup is by identity
        _messages.move_to_end(key)
        return known[1]
    made = redact_values(message.model_dump(mode="json"))
    _messages[key] = (message, made)
    while len(_messages) > MESSAGES_KEPT:
        _messages.popitem(last=False)
    return made
