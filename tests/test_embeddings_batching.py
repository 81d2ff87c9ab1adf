"""The shared embedder on the real model: concurrent callers' texts go through shared encoder passes and each
caller gets its own vectors (equal to encoding its text alone); a text is encoded once per process."""

from __future__ import annotations

import threading

import numpy as np

from etl_assistant import embeddings


def test_concurrent_callers_get_their_own_vectors_and_texts_are_encoded_once(monkeypatch):
    passes: list[list[str]] = []
    real = embeddings._encode

    def counted(texts: list[str]) -> np.ndarray:
        passes.append(list(texts))
        return real(texts)

    monkeypatch.setattr(embeddings, "_encode", counted)  # counts passes; the real model still encodes
    texts = [f"total amount by region for batch test {i}" for i in range(40)]
    results: dict[str, np.ndarray] = {}
    errors: list[BaseException] = []

    def caller(text: str) -> None:
        try:
            results[text] = embeddings.embed([text, "a sentence every caller shares"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(t,)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    alone = real(texts)
    for index, text in enumerate(texts):
        assert np.allclose(results[text][0], alone[index], atol=1e-5)
    encoded = [text for one_pass in passes for text in one_pass]
    assert sorted(t for t in encoded if t in results) == sorted(texts)  # each caller's text exactly once
    assert all(one_pass.count("a sentence every caller shares") <= 1 for one_pass in passes)  # deduplicated
    assert len(passes) < len(texts)  # callers that queued shared a pass
    before = len(passes)
    again = embeddings.embed([texts[0]])
    assert len(passes) == before and np.array_equal(again[0], results[texts[0]][0])
