"""BM25 over passages, in memory. Pure numpy: postings per term, scored per query.

Built from a stream of token lists, one document at a time, into flat arrays (a document id
and a term frequency per posting, grouped by term): a national library's tokens are never all
held as Python objects at once, and what stays is a few numbers per distinct (term, document)
plus one string per distinct term.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable

import numpy as np


class BM25:
    def __init__(self, documents: Iterable[list[str]], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        vocabulary: dict[str, int] = {}
        term_of, doc_of, tf_of, lengths = array("i"), array("i"), array("f"), array("f")
        n = 0
        for n, tokens in enumerate(documents, start=1):
            lengths.append(len(tokens))
            for term, tf in Counter(tokens).items():
                term_of.append(vocabulary.setdefault(term, len(vocabulary)))
                doc_of.append(n - 1)
                tf_of.append(tf)
        self.n = n
        self.lengths = np.frombuffer(lengths, dtype=np.float32).copy()
        self.average = float(self.lengths.mean()) if self.n else 0.0
        terms = np.frombuffer(term_of, dtype=np.int32)
        order = np.argsort(terms, kind="stable")  # postings grouped by term, documents in order
        self._docs = np.frombuffer(doc_of, dtype=np.int32)[order].copy()
        self._tfs = np.frombuffer(tf_of, dtype=np.float32)[order].copy()
        df = np.bincount(terms, minlength=len(vocabulary))
        self._start = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        self._vocabulary = vocabulary
        # Python floats, as before the arrays: scores stay bit-for-bit what they were.
        self._idf = [math.log(1 + (self.n - int(d) + 0.5) / (int(d) + 0.5)) for d in df]
        self._norm = self.k1 * (1 - self.b + self.b * self.lengths / max(self.average, 1e-9))

    def idf(self, term: str) -> float:
        t = self._vocabulary.get(term)
        return 0.0 if t is None else self._idf[t]

    def posting(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The documents holding `term` and its frequency in each (views, not copies)."""
        t = self._vocabulary.get(term)
        if t is None:
            return None
        a, b = self._start[t], self._start[t + 1]
        return self._docs[a:b], self._tfs[a:b]

    def scores(self, query: list[str], weights: dict[str, float] | None = None) -> np.ndarray:
        out = np.zeros(self.n, dtype=np.float32)
        for term, qtf in Counter(query).items():
            posting = self.posting(term)
            if posting is None:
                continue
            idx, tf = posting
            weight = (weights or {}).get(term, 1.0) * self.idf(term) * (1 + 0.2 * (qtf - 1))
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
