"""The vector store: Chroma collections holding our own all-MiniLM-L6-v2 embeddings, scoped by tenant.

Embedded by default (a PersistentClient under data_dir), a Chroma server when `ETLA_CHROMA_URL` is set. Every
collection is created without an embedding function and in cosine space, so Chroma never embeds (or downloads
a model) on its own and `1 - distance` is the cosine similarity of our unit vectors. Tenants share a
collection and are kept apart by a `tenant` metadata filter on every read.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from etl_assistant.config import Settings
from etl_assistant.errors import EtlError

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

_lock = threading.Lock()
_stores: dict[str, VectorStore] = {}


def embed_texts(texts: list[str]) -> np.ndarray:
    """Unit vectors from the process-wide encoder the planner and the parser already share."""
    from etl_assistant.embeddings import embed  # lazily: loading the model takes seconds

    return embed(texts)


class VectorStore:
    """A handle on one Chroma location; collections are opened once and reused."""

    def __init__(self, client: ClientAPI, location: str) -> None:
        self.client = client
        self.location = location
        self._collections: dict[str, Collection] = {}
        self._lock = threading.Lock()

    def collection(self, name: str) -> Collection:
        with self._lock:
            if name not in self._collections:
                self._collections[name] = self.client.get_or_create_collection(
                    name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
                )
            return self._collections[name]

    def nearest(
        self, name: str, vector: np.ndarray, where: dict[str, Any], k: int
    ) -> list[tuple[str, float, dict[str, Any], str]]:
        """(id, cosine similarity, metadata, document) of the `k` nearest entries matching `where`."""
        found = self.collection(name).query(
            query_embeddings=[vector.tolist()],
            n_results=k,
            where=where,
            include=["distances", "metadatas", "documents"],
        )
        return [
            (item_id, 1.0 - float(distance), dict(metadata or {}), document or "")
            for item_id, distance, metadata, document in zip(
                found["ids"][0],
                found["distances"][0],
                found["metadatas"][0],
                found["documents"][0],
                strict=True,
            )
        ]


def _open_client(settings: Settings) -> tuple[ClientAPI, str]:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)  # nothing leaves the machine
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise EtlError(
                f"ETLA_CHROMA_URL={settings.chroma_url!r} is not a Chroma server address; use "
                "http://host:port, or leave it empty for the embedded store."
            )
        client = chromadb.HttpClient(
            host=url.hostname,
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
        return client, settings.chroma_url
    path = (settings.data_dir / "chroma").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings), str(path)


def vector_store(settings: Settings) -> VectorStore:
    """The store for these settings (one client per location and process)."""
    key = settings.chroma_url or str((settings.data_dir / "chroma").resolve())
    with _lock:
        if key not in _stores:
            try:
                client, location = _open_client(settings)
            except EtlError:
                raise
            except Exception as exc:  # chromadb raises plain ValueError/ConnectionError for a dead server
                raise EtlError(
                    f"The vector store at {key} cannot be opened ({exc}); check ETLA_CHROMA_URL or the data "
                    "directory."
                ) from exc
            _stores[key] = VectorStore(client, location)
        return _stores[key]
