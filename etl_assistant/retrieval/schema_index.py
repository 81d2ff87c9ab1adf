"""Table and column documents in the vector store, so an LLM prompt gets only the tables a question is about.

One document per table (its name and column names) and one per column (name, type, role, sample values).
A table's documents are rewritten only when its fingerprint (schema version, columns, sampled values) moves;
a question's relevant tables are the best-scoring tables over all their documents.
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from etl_assistant.nl2sql.schema_graph import Column, SchemaGraph, Table
from etl_assistant.nl2sql.values import IndexedValue
from etl_assistant.retrieval.store import VectorStore, embed_texts

COLLECTION = "etla-schema"
SAMPLE_VALUES = 8  # per column, in documents and prompts
CANDIDATES_PER_TABLE = 4  # documents fetched per wanted table before ranking tables
# A table scoring below this share of the best table's similarity is noise, not context (measured on
# MiniLM: the table a question is about scores 0.4-0.65, unrelated tables 0.0-0.3).
RELATIVE_FLOOR = 0.75

_lock = threading.Lock()
_synced: dict[tuple[str, str], dict[str, str]] = {}  # (store location, tenant) -> table -> fingerprint


def sample_values(values: Iterable[IndexedValue]) -> dict[tuple[str, str], list[str]]:
    """(table, column) -> up to SAMPLE_VALUES stored values, in the index's order."""
    samples: dict[tuple[str, str], list[str]] = defaultdict(list)
    for value in values:
        bucket = samples[(value.table, value.column)]
        if len(bucket) < SAMPLE_VALUES:
            bucket.append(value.value)
    return samples


def _spoken(identifier: str) -> str:
    return identifier.replace("_", " ")


def column_text(column: Column, samples: list[str]) -> str:
    text = f"{_spoken(column.table)} {_spoken(column.name)}: {column.type} {column.role}"
    return text + (f", values {', '.join(samples)}" if samples else "")


def table_text(table: Table) -> str:
    return f"table {_spoken(table.name)} with columns " + ", ".join(_spoken(c.name) for c in table.columns)


def _fingerprint(table: Table, samples: dict[tuple[str, str], list[str]]) -> str:
    parts = [str(table.version)] + [
        f"{c.name}:{c.type}:{c.role}:{'|'.join(samples.get((table.name, c.name), []))}" for c in table.columns
    ]
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def sync_schema(store: VectorStore, tenant: str, graph: SchemaGraph, values: list[IndexedValue]) -> None:
    """Make the tenant's documents match `graph`: rewrite changed tables; forget tables that are gone."""
    samples = sample_values(values)
    wanted = {name: _fingerprint(table, samples) for name, table in graph.tables.items()}
    key = (store.location, tenant)
    with _lock:
        known = _synced.get(key)
    if known is None:
        known = _stored_fingerprints(store, tenant)
    if known == wanted:
        with _lock:
            _synced[key] = wanted
        return
    collection = store.collection(COLLECTION)
    for name in [n for n in known if wanted.get(n) != known[n]]:
        collection.delete(where={"$and": [{"tenant": tenant}, {"table": name}]})
    changed = [graph.tables[n] for n in wanted if known.get(n) != wanted[n]]
    ids, texts, metadatas = [], [], []
    for table in changed:
        entries = [("", table_text(table))] + [
            (c.name, column_text(c, samples.get((table.name, c.name), []))) for c in table.columns
        ]
        for column, text in entries:
            ids.append(f"{tenant}\x1f{table.name}\x1f{column}")
            texts.append(text)
            metadatas.append(
                {"tenant": tenant, "table": table.name, "column": column, "fingerprint": wanted[table.name]}
            )
    if ids:
        collection.upsert(
            ids=ids, embeddings=embed_texts(texts).tolist(), documents=texts, metadatas=metadatas
        )
    with _lock:
        _synced[key] = wanted


def _stored_fingerprints(store: VectorStore, tenant: str) -> dict[str, str]:
    found = store.collection(COLLECTION).get(where={"tenant": tenant}, include=["metadatas"])
    return {m["table"]: m["fingerprint"] for m in found["metadatas"] or []}


def relevant_tables(
    store: VectorStore,
    tenant: str,
    question: str,
    graph: SchemaGraph,
    k: int,
    vector: np.ndarray | None = None,
) -> list[str]:
    """Up to `k` tables of `graph` nearest to `question` (best first, close runners-up), then the tables they
    reference. `vector`: the question's embedding when the caller has it already."""
    if len(graph.tables) <= k:
        return list(graph.tables)
    vector = embed_texts([question])[0] if vector is None else vector
    hits = store.nearest(
        COLLECTION, vector, {"tenant": tenant}, min(k * CANDIDATES_PER_TABLE + len(graph.tables), 200)
    )
    best: dict[str, float] = {}
    for _, similarity, metadata, _ in hits:
        table = metadata.get("table", "")
        if table in graph.tables:
            best[table] = max(best.get(table, -1.0), similarity)
    ranked = sorted(best, key=lambda name: -best[name])
    if not ranked:
        return []
    chosen = [name for name in ranked if best[name] >= RELATIVE_FLOOR * best[ranked[0]]][:k]
    # The tables a chosen table references (customers for orders) let the model join to names and labels.
    for edge in graph.edges:
        if len(chosen) < k and edge.table in chosen and edge.ref_table not in chosen:
            chosen.append(edge.ref_table)
    return chosen
