"""The planner's replies for connection tools: what was connected, which connections exist, which tables a
connection holds, what a refresh changed. URLs arrive redacted from the tools; only names and `***` show."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_TABLES_SHOWN = 60


def _connected(out: dict[str, Any]) -> str:
    connection = out.get("connection") or {}
    name, tables = connection.get("name"), int(out.get("tables") or 0)
    verb = "Connected" if out.get("created", True) else "Updated the connection"
    where = f" in {', '.join(out['schemas'])}" if out.get("schemas") else ""
    return (f"{verb} **{name}** ({connection.get('kind')}, `{connection.get('url')}`): "
            f"{tables} table{'s' if tables != 1 else ''} and views{where}. "
            f"Ask `what tables are in {name}?` to see them; the password is stored, never shown.")


def _connections(out: dict[str, Any]) -> str:
    connections = out.get("connections") or []
    if not connections:
        return "No connections yet. Say `connect to postgresql://user@host:5432/db` to add one."
    lines = [f"- **{c.get('name')}** ({c.get('kind')}, {c.get('origin')}): `{c.get('url')}`"
             for c in connections]
    return f"{len(connections)} connection{'s' if len(connections) != 1 else ''}:\n" + "\n".join(lines)


def _removed(out: dict[str, Any]) -> str:
    removed = out.get("removed") or {}
    return (f"Removed the connection **{removed.get('name')}**; pipelines naming it stop until it is "
            "added again.")


def _tables(out: dict[str, Any]) -> str:
    tables = out.get("tables") or []
    name = out.get("connection")
    if not tables:
        return f"**{name}** has no tables or views yet."
    by_schema: dict[str, list[str]] = {}
    for table in tables[:MAX_TABLES_SHOWN]:
        label = f"`{table.get('name')}`" + (" (view)" if table.get("kind") == "view" else "")
        by_schema.setdefault(table.get("schema_name") or "", []).append(label)
    lines = [f"- {schema}: {', '.join(names)}" if schema else f"- {', '.join(names)}"
             for schema, names in by_schema.items()]
    more = f"\n\n(first {MAX_TABLES_SHOWN} of {len(tables)} shown)" if len(tables) > MAX_TABLES_SHOWN else ""
    return (f"**{name}** has {len(tables)} table{'s' if len(tables) != 1 else ''} and views:\n"
            + "\n".join(lines) + more)


def _refreshed(out: dict[str, Any]) -> str:
    labels = (("added", "New"), ("changed", "Changed"), ("removed", "Gone"), ("profiled", "Profiled now"),
              ("unprofiled", "Not profiled yet (refresh again)"))
    parts = [f"{label}: {', '.join(f'`{n}`' for n in out[key])}" for key, label in labels if out.get(key)]
    parts.append(f"{out.get('unchanged', 0)} unchanged")
    parts += [f"Skipped {reason}" for reason in out.get("skipped") or []]
    return "Refreshed the warehouse's tables. " + "; ".join(parts) + "."


CONNECTION_WRITERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "add_connection": _connected,
    "connections": _connections,
    "remove_connection": _removed,
    "list_tables": _tables,
    "refresh": _refreshed,
}
