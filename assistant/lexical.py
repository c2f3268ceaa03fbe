"""BM25 over passages, in memory. Pure numpy: postings per term, scored per query."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np


class BM25:
    def __init__(self, documents: list[list[str]], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.n = len(documents)
        self.lengths = np.array([len(d) for d in documents], dtype=np.float32)
        self.average = float(self.lengths.mean()) if self.n else 0.0
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for index, tokens in enumerate(documents):
            for term, tf in Counter(tokens).items():
                postings[term].append((index, tf))
        self._postings = {
            term: (np.array([i for i, _ in rows], dtype=np.int32), np.array([tf for _, tf in rows], dtype=np.float32))
            for term, rows in postings.items()
        }
        self._idf = {
            term: math.log(1 + (self.n - len(rows) + 0.5) / (len(rows) + 0.5)) for term, rows in postings.items()
        }
        self._norm = self.k1 * (1 - self.b + self.b * self.lengths / max(self.average, 1e-9))

    def idf(self, term: str) -> float:
        return self._idf.get(term, 0.0)

    def scores(self, query: list[str], weights: dict[str, float] | None = None) -> np.ndarray:
        out = np.zeros(self.n, dtype=np.float32)
        for term, qtf in Counter(query).items():
            posting = self._postings.get(term)
            if posting is None:
                continue
            idx, tf = posting
            weight = (weights or {}).get(term, 1.0) * self._idf[term] * (1 + 0.2 * (qtf - 1))
            out[idx] += weight * tf * (self.k1 + 1) / (tf + self._norm[idx])
        return out

    def top(self, query: list[str], n: int, weights: dict[str, float] | None = None) -> list[tuple[int, float]]:
        scores = self.scores(query, weights)
        if not self.n:
            return []
        n = min(n, self.n)
        idx = np.argpartition(-scores, n - 1)[:n]
        ranked = sorted(((int(i), float(scores[i])) for i in idx if scores[i] > 0), key=lambda x: -x[1])
        return ranked
