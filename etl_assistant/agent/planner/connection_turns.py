"""Connection turns the planner recognises by rule, before intent routing: a database URL in the message
("connect to postgresql://…") adds a connection, and "what tables are in shop?" naming a known connection
lists its tables. Rules rather than exemplars: a URL or a connection's name is unambiguous, and leaving the
router's exemplars alone keeps every other intent's routing as it was."""

from __future__ import annotations

import re

from etl_assistant.agent.planner.entities import Entities
from etl_assistant.redact import URL_IN_TEXT

_TABLES = re.compile(r"\b(tables?|views?)\b", re.IGNORECASE)
# A URL alone, or with words about connecting, is a new connection; "load sales from postgresql://… daily"
# is a pipeline request that only mentions one.
_CONNECT = re.compile(r"\b(connect\w*|add|use|register|save|remember|store|new)\b", re.IGNORECASE)
_WORD = re.compile(r"\w+")
_FEW_WORDS = 2
_TRAILING = ".,;:!?)]}>\"'`"


def database_url(text: str) -> str | None:
    """The first database URL in the message, without the sentence's punctuation after it."""
    found = URL_IN_TEXT.search(text)
    return found.group(0).rstrip(_TRAILING) if found else None


def named_connection(text: str, connections: tuple[str, ...]) -> str | None:
    """The known connection the message names as a word ("in shop?", "of `crm`"), longest name first."""
    for name in sorted(connections, key=len, reverse=True):
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE):
            return name
    return None


def connection_intent(ents: Entities, connections: tuple[str, ...]) -> str | None:
    """`add_connection` for a database URL alone or with words about connecting, `list_tables` for a question
    about the tables of a known connection; None for everything else (the router decides)."""
    url = database_url(ents.text)
    if url is not None:
        rest = ents.text.replace(url, " ")
        if _CONNECT.search(rest) or len(_WORD.findall(rest)) <= _FEW_WORDS:
            return "add_connection"
        return None
    if _TABLES.search(ents.text) and named_connection(ents.text, connections):
        return "list_tables"
    return None
