"""The semantic cache: a new question answered by re-running the SQL of a verified pair that means the same.

A hit needs all of: cosine similarity of the questions >= `cache_threshold`, the same tenant and dialect, the
same literal signature (cache.signature), and every table the SQL reads still at the schema version it was
verified against (a deploy bumps versions, which retires the entry). When the signature holds the parser's
sure reading of the question (cache.links), equal signatures already mean the same query, so similarity
need only pass PARSED_THRESHOLD: paraphrases in other words ("broken down by" for "by") still hit. The cache
holds SQL, not rows: a hit runs the SQL again through the guard, so the answer is as fresh as the data.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import date

from etl_assistant.cache.links import question_links
from etl_assistant.cache.signature import literal_signature
from etl_assistant.errors import ToolError
from etl_assistant.nl2sql.llm import result_answer
from etl_assistant.nl2sql.model import QueryParse
from etl_assistant.nl2sql.service import Answer, Translation, parser_for
from etl_assistant.retrieval.pairs import VerifiedPair, get_pair, has_pairs, similar_pairs
from etl_assistant.retrieval.store import embed_texts, vector_store
from etl_assistant.tools.base import ToolContext
from etl_assistant.tools.run_query import allowed_tables
from etl_assistant.warehouse.safety import guard

log = logging.getLogger(__name__)
CANDIDATES = 3  # nearest pairs with the same signature checked for similarity and freshness
PARSED_THRESHOLD = 0.7  # similarity needed when both questions parse surely to the same query


@dataclass(frozen=True)
class CacheHit:
    pair: VerifiedPair
    signature: str


def question_signature(ctx: ToolContext, question: str, today: date, allowed: set[str]) -> str:
    """The literal signature with what the words link to in the tenant's schema (columns, stored values and
    their roles, the parse's shape; the parser and value index are cached per schema version). With no table
    there is nothing to link: the literals alone (such a pair is never served until tables exist)."""
    if not allowed:
        return literal_signature(question, today)
    parser = parser_for(ctx, allowed)
    links = question_links(parser, question, today)
    return literal_signature(question, today, parser.graph, parser.linker.values, links)


def lookup(
    ctx: ToolContext, question: str, today: date | None = None, allowed: set[str] | None = None
) -> CacheHit | None:
    """The verified pair that answers `question` for this tenant now, or None."""
    store = vector_store(ctx.settings)
    dialect = ctx.warehouse.dialect
    if not has_pairs(store, ctx.tenant, dialect):
        return None  # nothing verified yet: no linking cost on the way to the parser
    allowed = allowed_tables(ctx) if allowed is None else allowed
    if not allowed:
        return None
    signature = question_signature(ctx, question, today or date.today(), allowed)
    if not has_pairs(store, ctx.tenant, dialect, signature):
        return None  # most misses end here, before the embedding (the costly step)
    exact = get_pair(store, ctx.tenant, question, dialect)  # the verified question asked again
    if exact is not None and exact.signature == signature and _usable(ctx, exact, allowed):
        return CacheHit(exact, signature)
    vector = embed_texts([question])[0]
    candidates = similar_pairs(store, ctx.tenant, dialect, vector, CANDIDATES, signature)
    threshold = ctx.settings.cache_threshold
    if json.loads(signature).get("links", {}).get("query"):
        threshold = min(threshold, PARSED_THRESHOLD)
    for pair in candidates:
        if pair.similarity < threshold:
            break  # nearest first: the rest are further away
        if _usable(ctx, pair, allowed):
            return CacheHit(pair, signature)
    return None


def _usable(ctx: ToolContext, pair: VerifiedPair, allowed: set[str]) -> bool:
    """Every table it reads is still the tenant's and at the schema version it was verified against."""
    return set(pair.versions) <= allowed and pair.is_current(ctx.catalog)


def cached_answer(
    ctx: ToolContext, question: str, *, today: date | None = None, limit: int = 100
) -> Answer | None:
    """A cache hit's answer, its SQL re-run through the guard now; None on a miss or when it fails now."""
    allowed = allowed_tables(ctx)
    try:
        hit = lookup(ctx, question, today, allowed)
    except Exception as exc:  # the cache only saves work: an unreachable vector store must not stop answers
        log.warning("semantic cache skipped: %s", exc)
        return None
    if hit is None:
        return None
    started = time.perf_counter()
    limit = max(1, min(limit, ctx.settings.query_row_limit))
    dialect = ctx.warehouse.dialect
    try:
        sql = guard(hit.pair.sql, dialect=dialect, allowed_tables=allowed, limit=limit + 1,
                    max_depth=ctx.settings.max_sql_depth)
        result = ctx.warehouse.query(
            sql, limit=limit + 1, timeout_s=ctx.settings.query_timeout_s, read_only=True
        )
    except ToolError:
        return None  # the parser or the LLM answers instead
    parse = QueryParse(
        question=question,
        base=next(iter(hit.pair.versions), None),
        confidence=1.0,
        notes=[
            f"semantic cache: the verified answer to {hit.pair.question!r} "
            f"(similarity {hit.pair.similarity:.3f})"
        ],
    )
    elapsed = (time.perf_counter() - started) * 1000
    return result_answer(Translation(parse, sql, dialect, 0.0), result, limit, elapsed)
