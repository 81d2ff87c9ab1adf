"""Intent routing: cosine similarity to exemplar utterances plus keyword cues."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import numpy as np

from etl_assistant.agent.planner.exemplars import CUES, EXEMPLARS
from etl_assistant.embeddings import embed


@dataclass(frozen=True)
class Route:
    scores: tuple[tuple[str, float], ...]  # (intent, score), best first
    cued: frozenset[str] = frozenset()  # intents a keyword cue fired for (evidence beyond similarity)

    @property
    def intent(self) -> str:
        return self.scores[0][0]

    @property
    def score(self) -> float:
        return self.scores[0][1]

    def score_of(self, intent: str) -> float:
        return dict(self.scores)[intent]

    def rank(self, intents: set[str]) -> list[tuple[str, float]]:
        return [(i, s) for i, s in self.scores if i in intents]


class Router:
    """Scores every intent for a normalised message. The exemplar matrix is embedded once per process."""

    # An intent's similarity = the mean of its best 3 exemplar matches (one lucky exemplar is not enough).
    TOP_K = 3

    def __init__(
        self,
        exemplars: dict[str, tuple[str, ...]] = EXEMPLARS,
        cues: dict[str, tuple[tuple[str, float], ...]] = CUES,
    ) -> None:
        self.intents = list(exemplars)
        self._texts = [text for intent in self.intents for text in exemplars[intent]]
        self._owner = np.array([i for i, intent in enumerate(self.intents) for _ in exemplars[intent]])
        self._cues = {intent: [(re.compile(p), w) for p, w in rules] for intent, rules in cues.items()}
        self._matrix: np.ndarray | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the model and embed the exemplars now rather than on the first message (~5-10 s cold)."""
        self._exemplar_matrix()

    def _exemplar_matrix(self) -> np.ndarray:
        with self._lock:
            if self._matrix is None:
                self._matrix = embed(self._texts)
            return self._matrix

    def route(self, normalized: str) -> Route:
        vector = embed([normalized])[0]
        similarity = self._exemplar_matrix() @ vector
        scores: dict[str, float] = {}
        cued: set[str] = set()
        for index, intent in enumerate(self.intents):
            own = np.sort(similarity[self._owner == index])[::-1][: self.TOP_K]
            bonus = sum(w for pattern, w in self._cues.get(intent, ()) if pattern.search(normalized))
            scores[intent] = float(own.mean()) + bonus
            if bonus:
                cued.add(intent)
        return Route(tuple(sorted(scores.items(), key=lambda kv: -kv[1])), frozenset(cued))


_shared: Router | None = None
_shared_lock = threading.Lock()


def shared_router() -> Router:
    """One router per process (its exemplar embeddings are computed on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Router()
        return _shared
