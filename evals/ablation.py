"""Each part of the retrieval earns its place: the same questions searched with parts taken
away, on dev and on the locked test set, in the same run as the full pipeline."""

from __future__ import annotations

from assistant.rank import Ranker
from assistant.retrieve import Retriever
from evals.dataset import SPLITS, load_questions
from evals.metrics import average, retrieval_scores

KEYS = ("hit@1", "hit@5", "recall@8", "mrr")


def variants() -> dict[str, dict]:
    return {
        "full pipeline": {"ranker": None, "expand": True},
        "without the vocabulary": {"ranker": None, "expand": False},
        "plain RRF of the three rankings (no learned ranker)": {"ranker": Ranker.rrf(), "expand": True},
        "plain RRF of BM25 and passage vectors only": {
            "ranker": Ranker.rrf(("rr_dense", "rr_bm25")), "expand": False},
    }


def ablation(assistant) -> dict[str, dict[str, dict[str, float]]]:
    """variant -> split -> retrieval figures over the split's answerable questions."""
    index, retriever, _ = assistant._current()
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, parts in variants().items():
        r = Retriever(index, retriever.embedder, ranker=parts["ranker"] or retriever.ranker, expand=parts["expand"])
        out[name] = {}
        for split in SPLITS:
            rows = []
            for q in load_questions(split):
                if not q.answerable:
                    continue
                hits = r.search(q.question, area=q.area, k=8)
                scores = retrieval_scores([g.quote for g in q.gold], [h.passage.text for h in hits])
                rows.append({k: scores[k] for k in KEYS})
            out[name][split] = average(rows)
    return out


def ablation_table(figures: dict[str, dict[str, dict[str, float]]]) -> str:
    columns = [(split, key) for split in SPLITS for key in ("hit@5", "mrr")]
    lines = ["| retrieval | " + " | ".join(f"{s} {k}" for s, k in columns) + " |", "|---|" + "---|" * len(columns)]
    for name, by_split in figures.items():
        lines.append(f"| {name} | " + " | ".join(f"{by_split[s][k]:.3f}" for s, k in columns) + " |")
    return "\n".join(lines)
