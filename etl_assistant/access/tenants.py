"""Tenant names: short lowercase words, because each one also names a warehouse database or schema."""

from __future__ import annotations

import re

from etl_assistant.errors import InputError

_TENANT = re.compile(r"[a-z][a-z0-9_]{0,47}")


def check_tenant(name: str) -> str:
    """The tenant name if it is usable as a database/schema suffix; else one sentence saying what to use."""
    if not _TENANT.fullmatch(name or ""):
        raise InputError(f"The tenant name {name!r} is not usable; use 1-48 lowercase letters, digits or "
                         "underscores, starting with a letter (e.g. acme or team_2).")
    return name
