"""Passwords out of sight: database URLs with their password (user info or a secret query parameter) replaced
by `***`, alone or wherever they appear in a text. Every place that shows a person, a log or a client what a
URL-bearing string holds (replies, tool results, thread state, errors) goes through here."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

# Query parameters that hold secrets in libpq / clickhouse-connect URLs.
_SECRET_PARAMS = frozenset({"password", "passwd", "pwd", "secret", "token", "access_token", "sslpassword"})
_MASK = "***"
# A URL inside free text (a chat message, an engine error): scheme://[user[:password]@]rest
URL_IN_TEXT = re.compile(r"\b(?:postgres(?:ql)?(?:\+psycopg)?|clickhouses?|chdb|sqlite)://[^\s'\"`<>]+",
                         re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with its password (in the user info or a secret query parameter) replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:{_MASK}@{host}" if has_password else netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key.lower() in _SECRET_PARAMS for key, _ in pairs):
            query = urlencode([(k, _MASK if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return assemble_url(parts.scheme, netloc, parts.path, query, parts.fragment)


def assemble_url(scheme: str, netloc: str, path: str, query: str, fragment: str) -> str:
    """urlunsplit drops the empty authority of `chdb:///path`; keep `scheme://` always."""
    return (f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")
            + (f"#{fragment}" if fragment else ""))


def redact_text(text: str) -> str:
    """`text` with every database URL in it redacted (for replies and logs that quote what a person typed)."""
    return URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


def redact_values(value: Any) -> Any:
    """JSON-like data (dicts, lists, strings) with every URL in its strings redacted."""
    if isinstance(value, str):
        return redact_text(value) if "://" in value else value
    if isinstance(value, dict):
        return {k: redact_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_values(v) for v in value]
    return value
