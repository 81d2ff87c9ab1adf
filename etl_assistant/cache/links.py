"""What a question's words link to, for the cache signature: the columns and values the offline parser reads
them as, with the role each value plays, and (when the parse is sure) the query's shape.

Lexical word checks miss the difference between "average pickup wait by zone" and "average dropoff wait by
zone" (neither names every word of `pickup_wait_minutes`) and between "trips from A to B" and "from B to A"
(the same two values). The parser's linker tells them apart: `pickup` links to one column, `dropoff` to
another, and "from"/"to" (or a role word) routes a value through a different key. Paraphrases that link to the
same things ("revenue per region", "revenue for each region") keep one signature.
"""

from __future__ import annotations

from datetime import date

from etl_assistant.nl2sql import lexicon
from etl_assistant.nl2sql.model import ColumnRef, QueryParse
from etl_assistant.nl2sql.parser import HIGH_CONFIDENCE, Parser

_ROLE_WORDS = set(lexicon.DIRECTION_WORDS)


def question_links(parser: Parser, question: str, today: date) -> dict[str, list[str]]:
    """{"mentions": what each linked span means, "query": the parse's shape ([] unless the parse is sure)}."""
    tokens, _time, _cues, linked, _fixed = parser.read(question, today)
    parse = parser.parse(question, today)
    mentions = []
    for mention in linked:
        before = tokens[mention.start - 1].low if mention.start > 0 else ""
        role = before if before in _ROLE_WORDS else ""
        if mention.kind == "table":
            mentions.append(f"table:{mention.table}")
        elif mention.kind == "value":
            column = mention.column
            mentions.append(f"value:{role}:{column.table}.{column.name}={mention.value}")
        elif mention.column is not None:
            mentions.append(f"{mention.kind}:{mention.column.table}.{mention.column.name}")
    sure = parse.clarify is None and parse.confidence >= HIGH_CONFIDENCE
    return {"mentions": sorted(set(mentions)), "query": query_shape(parse) if sure else []}


def query_shape(parse: QueryParse) -> list[str]:
    """The parse as comparable text: measure, groupings, filters with their routes, order and limit."""

    def ref(r: ColumnRef | None) -> str:
        return "" if r is None else f"{r.table}.{r.column}" + (f"@{r.via}" if r.via else "")

    shape = [f"base:{parse.base}"]
    if parse.measure is not None:
        m = parse.measure
        shape.append(f"measure:{m.agg}:{ref(m.ref)}:{m.share_of or ''}:{ref(m.per)}")
    shape += [f"column:{ref(c)}" for c in parse.columns]
    shape += [f"group:{ref(d.ref)}:{d.bucket or ''}" for d in parse.dimensions]
    shape += [
        f"{kind}:{ref(f.ref)}:{f.op}:{'|'.join(sorted(str(v) for v in f.values))}"
        for kind, filters in (("filter", parse.filters), ("part", parse.share_condition))
        for f in filters
    ]
    if parse.having is not None:
        shape.append(f"having:{parse.having.op}:{parse.having.value:g}")
    shape.append(f"order:{parse.order or ''}:{ref(parse.order_by)}:{parse.limit or ''}")
    return sorted(shape)
