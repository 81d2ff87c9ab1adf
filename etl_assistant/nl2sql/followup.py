"""Conversation follow-ups: "and last year?", "only for EU", "now by month", "top 10 instead".

The new question is parsed on its own; what it states replaces or extends the previous parse, what it leaves
out is carried over.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from etl_assistant.nl2sql.model import QueryParse

if TYPE_CHECKING:
    from etl_assistant.nl2sql.parser import Parser

_CUE = re.compile(
    r"^\s*(and|what about|how about|now|only|just|same|but|exclude|excluding|instead|also|then|"
    r"as|in|for|per|by|break)\b",
    re.IGNORECASE,
)
_ADD = re.compile(r"\b(too|also|as well|and by|additionally)\b", re.IGNORECASE)
_REPLACE = re.compile(r"\b(now|instead|rather)\b", re.IGNORECASE)


def is_follow_up(question: str, parse: QueryParse, inherited: bool) -> bool:
    """A question that leans on the previous one: starts with a cue, or states no measure of its own."""
    return inherited or bool(_CUE.search(question)) or (parse.measure is None and not parse.columns)


def merge(previous: QueryParse, current: QueryParse, parser: Parser, inherited: bool) -> QueryParse:
    """The previous parse with what the current question states applied on top."""
    merged = previous.model_copy(deep=True)
    merged.question = current.question
    merged.clarify = None
    merged.notes = [*current.notes, "follow-up of: " + previous.question]
    states_measure = not inherited and current.measure is not None and _measure_stated(current)
    if states_measure:
        merged.measure = current.measure
        if current.base and current.base != merged.base:
            merged.base = current.base
    new_dims = [d for d in current.dimensions if d not in merged.dimensions]
    if new_dims:
        if _ADD.search(current.question) and not _REPLACE.search(current.question):
            merged.dimensions += new_dims
        elif (
            all(d.bucket for d in new_dims)
            and not any(d.bucket for d in merged.dimensions)
            and not _REPLACE.search(current.question)
        ):
            merged.dimensions += new_dims
        else:
            merged.dimensions = new_dims
    for new in current.filters:
        merged.filters = [f for f in merged.filters if f.ref != new.ref] + [new]
    if current.time is not None:  # resolved against the inherited base when the measure was inherited
        merged.time = current.time
    if current.having is not None:
        merged.having = current.having
    if current.order is not None:
        merged.order = current.order
    if current.limit is not None:
        merged.limit = current.limit
    if current.clarify and not (
        new_dims or current.filters or current.time or current.limit or states_measure
    ):
        merged.clarify = current.clarify
    merged.confidence = min(previous.confidence, current.confidence if not current.clarify else 1.0) * 0.95
    return _rebased(merged, parser)


def _measure_stated(parse: QueryParse) -> bool:
    """The question named what to compute (not just a table it fell back to counting)."""
    return parse.measure is not None and (
        parse.measure.ref is not None
        or parse.measure.agg != "count"
        or "how many" in parse.question.lower()
        or "number of" in parse.question.lower()
    )


def _rebased(parse: QueryParse, parser: Parser) -> QueryParse:
    """Filters and dimensions from the follow-up may live in a joined table; keep them only if reachable."""
    if parse.base is None:
        return parse
    reachable = set(parser.graph.reachable(parse.base)) | {parse.base}
    stray = sorted(parse.tables() - reachable)
    if stray:
        parse.clarify = f"I cannot relate {', '.join(stray)} to {parse.base}; ask the question in full."
        parse.confidence = 0.2
    return parse
