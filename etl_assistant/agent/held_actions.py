"""Calls held for a person's approval on channels without an interrupt (MCP): stored, then run once.

MCP has no pause-and-resume, so a call that needs approval (`Tool.requires_approval`) is not run: it is
stored under a random approval id for its tenant and the client is told to show it to the person and call
`approve_action` with that id. Taking an action marks it used in the same transaction, so it runs at most
once; an id of another tenant is simply unknown.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, select, update

from etl_assistant.errors import ToolError
from etl_assistant.warehouse.catalog import CatalogTables

HOLD_FOR = timedelta(hours=24)  # an approval not given within a day must be asked for again

metadata = MetaData()

held_table = Table(
    "etla_held_actions", metadata,
    Column("approval_id", String(64), primary_key=True),
    Column("tenant", String(128), nullable=False),
    Column("tool", String(128), nullable=False),
    Column("args_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("taken_at", DateTime(timezone=True)),
)


class HeldActions(CatalogTables):

    metadata = metadata

    def hold(self, tenant: str, tool: str, arguments: dict[str, Any]) -> str:
        approval_id = "approve_" + secrets.token_urlsafe(12)
        with self._transaction() as conn:
            conn.execute(held_table.insert().values(approval_id=approval_id, tenant=tenant, tool=tool,
                                                    args_json=json.dumps(arguments),
                                                    created_at=datetime.now(UTC)))
        return approval_id

    def take(self, tenant: str, approval_id: str) -> tuple[str, dict[str, Any]]:
        """(tool, arguments) of the tenant's unused, recent held call, now marked used; else a ToolError."""
        h = held_table.c
        now = datetime.now(UTC)
        with self._transaction() as conn:
            row = conn.execute(select(h.tool, h.args_json, h.created_at).where(
                h.approval_id == approval_id, h.tenant == tenant, h.taken_at.is_(None))).first()
            fresh = row is not None and _aware(row.created_at) > now - HOLD_FOR
            if fresh:
                conn.execute(update(held_table).where(h.approval_id == approval_id).values(taken_at=now))
        if not fresh:
            raise ToolError(f"No action waits for approval under {approval_id!r} (unknown, already run, or "
                            "older than a day); call the tool again to get a new approval id.")
        return row.tool, json.loads(row.args_json)


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back; they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
