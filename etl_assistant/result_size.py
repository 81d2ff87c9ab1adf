"""Fit a tool result into the size one reply may have (`ETLA_MAX_TOOL_RESULT_KB`).

A 2,000-column schema or a page of wide rows is megabytes of JSON: MCP clients refuse messages that large,
and a model's context (and every checkpoint of the thread) would carry it on each turn. A result over the
budget is summarised: its longest lists are cut to the items that fit, and the result says so in its own
`warnings` (or `truncated`) field with the way to get the rest. A result that cannot carry that note, or that
is still too large after cutting, is refused with one sentence instead of being sent whole.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel

from etl_assistant.errors import ToolError

M = TypeVar("M", bound=BaseModel)
MIN_ITEMS = 1


def size_of(data: Any) -> int:
    return len(json.dumps(data, separators=(",", ":"), default=str).encode())


def fit_result(output: M, max_bytes: int, tool_name: str) -> M:
    """`output` itself when it fits, else a copy whose longest lists are cut to fit, saying so."""
    data = output.model_dump(mode="json")  # nulls too: MCP structured content carries them
    whole = size_of(data)
    if whole <= max_bytes:
        return output
    fields = type(output).model_fields
    can_say = "warnings" in fields or "truncated" in fields
    cuts: list[str] = []
    budget = int(max_bytes * 0.9)  # room for the note itself
    while can_say and size_of(data) > budget:
        found = _longest_list(data)
        if found is None:
            break
        parent, key, items = found
        keep = _items_that_fit(data, parent, key, items, budget)
        if keep >= len(items):
            break
        parent[key] = items[:keep]
        cuts.append(f"the first {keep:,} of {len(items):,} {key}")
    if not cuts or size_of(data) > max_bytes:
        raise ToolError(
            f"The {tool_name} result is {whole / 1024:,.0f} KiB, over the {max_bytes / 1024:,.0f} KiB limit "
            "for one reply; narrow the request (fewer rows or columns) or raise ETLA_MAX_TOOL_RESULT_KB."
        )
    if "warnings" in fields:
        data["warnings"] = [*data.get("warnings", []), (
            f"This reply shows {', '.join(cuts)} (the whole result is {whole / 1024:,.0f} KiB, over the "
            f"{max_bytes / 1024:,.0f} KiB limit for one reply); the HTTP API and the CLI's --json give it "
            "whole."
        )]
    if "truncated" in fields:
        data["truncated"] = True
    return type(output).model_validate(data)


def _longest_list(node: Any) -> tuple[Any, Any, list[Any]] | None:
    """(container, key, list) of the list holding the most bytes anywhere in `node`."""
    best: tuple[int, Any, Any, list[Any]] | None = None
    stack = [node]
    while stack:
        current = stack.pop()
        entries = current.items() if isinstance(current, dict) else enumerate(current)
        for key, value in entries:
            if isinstance(value, list) and len(value) > MIN_ITEMS:
                size = size_of(value)
                if best is None or size > best[0]:
                    best = (size, current, key, value)
            if isinstance(value, dict | list):
                stack.append(value)
    return None if best is None else best[1:]


def _items_that_fit(data: Any, parent: Any, key: Any, items: list[Any], budget: int) -> int:
    """How many leading `items` keep the whole of `data` within `budget` (binary search)."""
    low, high = MIN_ITEMS, len(items)
    while low < high:
        middle = (low + high + 1) // 2
        parent[key] = items[:middle]
        if size_of(data) <= budget:
            low = middle
        else:
            high = middle - 1
    parent[key] = items
    return low
