"""Warehouse DDL from an inferred schema: idiomatic per engine, validated by sqlglot, every choice explained.

`generate_ddl(schema, dialect, table)` is the pure entry point; the `generate_ddl` tool adds the catalog.
Being pure, its results are kept by (schema, dialect, table): rendering and proving each statement by a
sqlglot round trip was most of a "make a table for it" turn, asked again for the same dataset.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from etl_assistant.ddl.builder import build, render, table_name
from etl_assistant.ddl.notes import Notes
from etl_assistant.ddl.recommend import recommend
from etl_assistant.ddl.result import DDLResult, Recommendation
from etl_assistant.ddl.targets import ALIASES, TARGETS, Target
from etl_assistant.errors import ToolError
from etl_assistant.schema.model import DatasetSchema


def resolve_target(dialect: str) -> Target:
    """The target for a dialect name or a common alias (postgresql, pg, chdb...); ToolError otherwise."""
    key = dialect.strip().lower()
    target = TARGETS.get(ALIASES.get(key, key))
    if target is None:
        raise ToolError(f"Unknown dialect {dialect!r}; use one of {', '.join(TARGETS)} (or omit it to get a "
                        f"recommendation).")
    return target


RESULTS_KEPT = 256
_results: OrderedDict[tuple[str, str | None, str | None], DDLResult] = OrderedDict()
_results_lock = threading.Lock()  # tools run in worker threads


def generate_ddl(schema: DatasetSchema, dialect: str | None = None, table: str | None = None) -> DDLResult:
    """DDL creating a table for `schema`; with no dialect, recommend a target first and generate for it."""
    key = (schema.model_dump_json(), dialect, table)
    with _results_lock:
        kept = _results.get(key)
        if kept is not None:
            _results.move_to_end(key)
    if kept is None:
        kept = _generate(schema, dialect, table)
        with _results_lock:
            _results[key] = kept
            while len(_results) > RESULTS_KEPT:
                _results.popitem(last=False)
    return kept.model_copy(deep=True)  # a copy: the caller owns what it gets


def _generate(schema: DatasetSchema, dialect: str | None, table: str | None) -> DDLResult:
    if not schema.columns:
        raise ToolError(f"Dataset {schema.name!r} has no columns; infer it again from a non-empty source.")
    recommendation = recommend(schema) if not dialect else None
    target = resolve_target(recommendation.dialect if recommendation else dialect or "")
    notes = Notes()
    name = table_name(table or schema.name, target.max_identifier_length)
    if name != (table or schema.name):
        notes.say(f"Table name {table or schema.name!r} was normalized to {name}.")
    statements = [render(stmt, target.name) for stmt in build(schema, target, name, notes)]
    return DDLResult(dataset=schema.name, dialect=target.name, table=name, statements=statements,
                     ddl="\n\n".join(f"{s};" for s in statements), explanation=notes.sentences(),
                     recommendation=recommendation)


__all__ = ["DDLResult", "Recommendation", "generate_ddl", "resolve_target"]
