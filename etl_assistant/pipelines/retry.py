"""Which failures a run retries (the source or network was briefly away) and how long it waits between tries.

Transient: connection refused or reset, timeouts, a server starting up or shutting down, serialization
failures and deadlocks (SQLSTATE 40001, 40P01). Everything else (an unknown column, permission denied, a wrong
password, a missing table) fails at once: trying again cannot help.
"""

from __future__ import annotations

import re

import psycopg

TRANSIENT_SQLSTATES = frozenset(
    {"40001", "40P01", "57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006"}
)
_TRANSIENT_TEXT = re.compile(
    r"connection refused|connection reset|timed out|timeout|could not connect|server closed the connection|"
    r"terminating connection|the database system is (starting up|shutting down)|no route to host|"
    r"network is unreachable|could not serialize|deadlock detected|broken pipe|temporarily unavailable",
    re.IGNORECASE,
)
_PERMANENT_TEXT = re.compile(
    r"permission denied|password authentication failed|role .* does not exist|does not exist|unknown "
    r"(column|identifier|table)|syntax error|UNKNOWN_IDENTIFIER|UNKNOWN_TABLE|not allowed",
    re.IGNORECASE,
)


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def is_transient(exc: BaseException) -> bool:
    """Whether trying the run again may succeed."""
    chain = _chain(exc)
    for error in chain:
        if isinstance(error, psycopg.Error) and error.sqlstate:
            return error.sqlstate in TRANSIENT_SQLSTATES
    text = " ".join(str(e) for e in chain)
    if _PERMANENT_TEXT.search(text):
        return False
    return bool(_TRANSIENT_TEXT.search(text)) or any(
        isinstance(e, ConnectionError | TimeoutError | psycopg.OperationalError) for e in chain
    )


def backoff_s(attempt: int, base_s: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...): base, 2 x base, 4 x base..."""
    return base_s * 2 ** (attempt - 1)
