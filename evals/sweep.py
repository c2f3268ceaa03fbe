"""`hha eval --sweep`: search the composer's `Tuning` on the development set only.

A small grid over the numbers that shape case answers and extract selection; each setting is
scored on dev (coverage, case coverage, case precision, words). The locked test set is never
read here: the chosen values go into `assistant/tuning.py` by hand, with a comment.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from assistant.compose import Composer
from assistant.tuning import DEFAULT
from evals.dataset import load_cases, load_questions

GRID = {  # fields of `Tuning`
    "case_hits": (4, 6, 8),
    "per_passage": (3, 4),
    "case_reported_words": (100, 150),
}
KEYS = ("coverage", "case_coverage", "case_precision", "case_words_mean", "oos_declined", "answerable_answered")


class _Tuned:
    """The assistant with another composer, for the evaluation loop."""

    def __init__(self, assistant, tuning):
        self._assistant, self.index = assistant, assistant.index
        self._composer = Composer(assistant._current()[1], tuning)

    def search(self, query, *, area=None, k=8):
        return self._assistant.search(query, area=area, k=k)

    def answer(self, question, *, area=None, role="practitioner"):
        return self._composer.answer(question, area=area, role=role)


def sweep(assistant) -> str:
    from evals.run import evaluate

    questions, cases = load_questions("dev"), load_cases("dev")
    rows = []
    for values in itertools.product(*GRID.values()):
        tuning = replace(DEFAULT, **dict(zip(GRID, values, strict=True)))
        summary = evaluate(_Tuned(assistant, tuning), None, questions, cases).summary["ours"]
        rows.append((values, [summary.get(k) for k in KEYS]))
    rows.sort(key=lambda r: -(r[1][1] or 0) - (r[1][0] or 0))
    lines = ["| " + " | ".join(GRID) + " | " + " | ".join(KEYS) + " |", "|---" * (len(GRID) + len(KEYS)) + "|"]
    for values, scores in rows:
        lines.append("| " + " | ".join(map(str, values)) + " | " + " | ".join(f"{s}" for s in scores) + " |")
    return "\n".join(lines)
