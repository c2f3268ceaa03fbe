"""The learned ranker: a logistic regression over generic features of a (query, passage) pair.

Hand-set fusion weights fitted the questions they were tuned on and lost to plain reciprocal-rank
fusion on new ones. These weights are learned from the development questions instead (a passage
is relevant when it holds a gold quote), with grouped cross-validation to choose the
regularisation, and shipped as package data (`ranker.json`, rebuilt by `hha train-ranker`,
which records its training data's hash and seed). The features say nothing about particular
questions or words: similarities, ranks, where the passage sits and what kind of source it is.

Pure numpy: no model library is needed for a dozen weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RANKER_FILE = Path(__file__).with_name("ranker.json")
DECLINE_FILE = Path(__file__).with_name("decline.json")  # the decision to decline, fitted the same way
QUESTION_KIND_FILE = Path(__file__).with_name("question_kind.json")  # one input of the decision to decline
EXTRACT_FILE = Path(__file__).with_name("extracts.json")  # which sentences of the top passages to show
URGENCY_FILE = Path(__file__).with_name("urgency.json")  # whether a child may be at risk now
RRF_K = 60  # the usual reciprocal-rank constant: ranks enter as 1 / (RRF_K + rank)

FEATURES = (
    "dense",  # cosine similarity of the query and the passage (embedded with its title and section path)
    "dense_gap",  # how far below the best passage of this query
    "sentence",  # cosine similarity of the query and the passage's best sentence
    "sentence_gap",
    "bm25",  # BM25 score over the passage and its section path, relative to the query's best
    "rr_dense",  # 1 / (RRF_K + rank) in each ranking; 0 when not in its candidates
    "rr_sentence",
    "rr_bm25",
    "heading",  # share of the query's (idf-weighted) words found in the title and section path
    "checklist",  # the passage holds checklist questions
    "guidance",  # share of its sentences that are guidance (not findings, illustrations, background)
    "local",  # a local protocol (scope), against national documents
    "area_match",  # the user's area's own protocol
    "other_area",  # another area's protocol, when the user's area is known
    "position",  # where the passage sits in its document, 0 (start) to 1 (end)
    "length",  # log of its length in words
)


@dataclass(frozen=True)
class Ranker:
    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    names: tuple[str, ...] = FEATURES
    meta: dict = field(default_factory=dict)

    def score(self, x: np.ndarray) -> np.ndarray:
        """Log-odds that each row's passage answers the query."""
        return ((x - self.mean) / self.scale) @ self.weights + self.bias

    def to_json(self) -> str:
        return json.dumps({
            "features": list(self.names), "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(float(self.bias), 6), "mean": [round(float(m), 6) for m in self.mean],
            "scale": [round(float(s), 6) for s in self.scale], "meta": self.meta,
        }, indent=2)

    @classmethod
    def load(cls, path: Path = RANKER_FILE, names: tuple[str, ...] = FEATURES) -> Ranker:
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["features"]) != names:
            raise ValueError(f"{path} was trained on other features; rebuild it with `hha train-ranker`")
        return cls(weights=np.array(data["weights"]), bias=float(data["bias"]), mean=np.array(data["mean"]),
                   scale=np.array(data["scale"]), names=names, meta=data.get("meta", {}))

    @classmethod
    def rrf(cls, rankings: tuple[str, ...] = ("rr_dense", "rr_sentence", "rr_bm25")) -> Ranker:
        """Plain reciprocal-rank fusion of the rankings named, as a ranker (the fallback and the
        ablations' baseline)."""
        weights = np.array([1.0 if n in rankings else 0.0 for n in FEATURES])
        return cls(weights=weights, bias=0.0, mean=np.zeros(len(FEATURES)), scale=np.ones(len(FEATURES)),
                   meta={"kind": "reciprocal-rank fusion"})


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, sample_weight: np.ndarray | None = None,
                 iterations: int = 50) -> Ranker:
    """L2-regularised logistic regression by Newton's method on standardised features."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    # A feature that barely varies carries nothing, and its spread would be rounded to 0 when
    # saved (three of MiniLM's 384 dimensions are under 1e-8 in every vector).
    scale[scale < 1e-6] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    sw = np.ones(len(x)) if sample_weight is None else sample_weight
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0  # the intercept is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        gradient = z.T @ (sw * (p - y)) + penalty * w
        hessian = (z * (sw * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-7:
            break
    return Ranker(weights=w[:-1], bias=float(w[-1]), mean=mean, scale=scale)


def with_meta(ranker: Ranker, names: tuple[str, ...], meta: dict) -> Ranker:
    return Ranker(weights=ranker.weights, bias=ranker.bias, mean=ranker.mean, scale=ranker.scale, names=names,
                  meta=meta)
