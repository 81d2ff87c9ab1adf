"""Verified question->SQL pairs: answers a person confirmed, per tenant, with the schema versions they read.

They serve twice: as worked examples in the LLM prompt, and as the semantic cache's entries (which also
compare the question's literal signature, kept here as metadata so the cache can filter on it exactly).
A pair is current only while every table it reads still has the schema version it was verified against.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from etl_assistant.retrieval.store import VectorStore, embed_texts

if TYPE_CHECKING:
    from etl_assistant.warehouse.catalog import Catalog

COLLECTION = "etla-verified-pairs"


@dataclass(frozen=True)
class VerifiedPair:
    id: str
    tenant: str
    question: str
    sql: str
    dialect: str
    versions: dict[str, int]  # table -> schema version when verified
    signature: str  # the question's literal signature (see cache.signature)
    similarity: float = 0.0  # to the question it was found for
    verified_at: str = ""  # ISO time it was (last) saved

    def is_current(self, catalog: Catalog) -> bool:
        return all(catalog.schema_version(self.tenant, t) == v for t, v in self.versions.items())


def pair_id(tenant: str, question: str, dialect: str) -> str:
    """Re-verifying the same question (same words, any case/spacing) replaces the earlier pair."""
    normalized = " ".join(question.lower().split())
    return hashlib.sha1(f"{tenant}\x1f{dialect}\x1f{normalized}".encode()).hexdigest()


def save_pair(
    store: VectorStore,
    *,
    tenant: str,
    question: str,
    sql: str,
    dialect: str,
    versions: dict[str, int],
    signature: str,
) -> VerifiedPair:
    pair = VerifiedPair(
        pair_id(tenant, question, dialect), tenant, question, sql, dialect, versions, signature
    )
    store.collection(COLLECTION).upsert(
        ids=[pair.id],
        embeddings=embed_texts([question]).tolist(),
        documents=[question],
        metadatas=[
            {
                "tenant": tenant,
                "sql": sql,
                "dialect": dialect,
                "versions": json.dumps(versions, sort_keys=True),
                "signature": signature,
                "verified_at": datetime.now(UTC).isoformat(),
            }
        ],
    )
    return pair


def _where(tenant: str, dialect: str, signature: str | None) -> dict:
    conditions: list[dict] = [{"tenant": tenant}, {"dialect": dialect}]
    if signature is not None:
        conditions.append({"signature": signature})
    return {"$and": conditions}


def has_pairs(store: VectorStore, tenant: str, dialect: str, signature: str | None = None) -> bool:
    """Whether the tenant has a pair for `dialect` (and `signature`): a metadata read, no embedding."""
    found = store.collection(COLLECTION).get(where=_where(tenant, dialect, signature), limit=1, include=[])
    return bool(found["ids"])


def get_pair(store: VectorStore, tenant: str, question: str, dialect: str) -> VerifiedPair | None:
    """The pair verified for exactly this question (any case or spacing), read by id: no embedding."""
    found = store.collection(COLLECTION).get(
        ids=[pair_id(tenant, question, dialect)], include=["metadatas", "documents"]
    )
    if not found["ids"]:
        return None
    return _pair(found["ids"][0], tenant, 1.0, found["metadatas"][0], found["documents"][0])


def _pair(item_id: str, tenant: str, similarity: float, metadata: dict, question: str) -> VerifiedPair:
    return VerifiedPair(
        item_id,
        tenant,
        question,
        metadata["sql"],
        metadata["dialect"],
        json.loads(metadata["versions"]),
        metadata["signature"],
        similarity,
        metadata.get("verified_at", ""),
    )


def list_pairs(store: VectorStore, tenant: str, dialect: str, limit: int = 1000) -> list[VerifiedPair]:
    """The tenant's pairs for `dialect`, newest first (a metadata read, no embedding)."""
    found = store.collection(COLLECTION).get(
        where=_where(tenant, dialect, None), limit=limit, include=["metadatas", "documents"]
    )
    pairs = [
        _pair(item_id, tenant, 0.0, metadata, question)
        for item_id, metadata, question in zip(
            found["ids"], found["metadatas"], found["documents"], strict=True
        )
    ]
    return sorted(pairs, key=lambda pair: pair.verified_at, reverse=True)


def similar_pairs(
    store: VectorStore,
    tenant: str,
    dialect: str,
    vector: np.ndarray,
    k: int,
    signature: str | None = None,
) -> list[VerifiedPair]:
    """The tenant's `k` pairs nearest to `vector` for `dialect` (and exactly `signature` when given)."""
    hits = store.nearest(COLLECTION, vector, _where(tenant, dialect, signature), k)
    return [
        _pair(item_id, tenant, similarity, metadata, question)
        for item_id, similarity, metadata, question in hits
    ]
