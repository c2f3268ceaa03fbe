"""Evaluation metrics. Pure functions: texts in, numbers out.

A gold quote counts as present in a text when (nearly) all of its word trigrams are in the
text, so that a quote is found whatever the chunk boundaries and however the text's
whitespace, bullets or footnote marks were cleaned."""

from __future__ import annotations

import re
from collections.abc import Sequence
from statistics import mean

_WORD = re.compile(r"[a-z0-9]+")
PRESENT = 0.9
K_VALUES = (1, 3, 5, 8)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def trigrams(tokens: list[str]) -> set[tuple[str, ...]]:
    if len(tokens) < 3:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)}


def containment(quote: str, text: str) -> float:
    q = trigrams(words(quote))
    if not q:
        return 0.0
    return len(q & trigrams(words(text))) / len(q)


def present(quote: str, text: str) -> bool:
    return containment(quote, text) >= PRESENT


def first_rank(quotes: Sequence[str], passages: Sequence[str]) -> int | None:
    """1-based rank of the first passage holding any gold quote."""
    for rank, text in enumerate(passages, start=1):
        if any(present(q, text) for q in quotes):
            return rank
    return None


def recall_at(quotes: Sequence[str], passages: Sequence[str], k: int) -> float:
    if not quotes:
        return 0.0
    top = passages[:k]
    return sum(1 for q in quotes if any(present(q, t) for t in top)) / len(quotes)


def hit_at(quotes: Sequence[str], passages: Sequence[str], k: int) -> float:
    rank = first_rank(quotes, passages)
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(quotes: Sequence[str], passages: Sequence[str]) -> float:
    rank = first_rank(quotes, passages)
    return 1.0 / rank if rank else 0.0


def retrieval_scores(quotes: Sequence[str], passages: Sequence[str]) -> dict[str, float]:
    out = {f"hit@{k}": hit_at(quotes, passages, k) for k in K_VALUES}
    out.update({f"recall@{k}": recall_at(quotes, passages, k) for k in K_VALUES})
    out["mrr"] = reciprocal_rank(quotes, passages)
    return out


def average(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {}
    keys = rows[0].keys()
    return {k: round(mean(r[k] for r in rows), 4) for k in keys}
