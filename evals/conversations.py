"""The conversation evaluation: multi-turn conversations (a case, then follow-ups), each turn
with gold quotes of the points its answer should make.

For each follow-up it scores three answers: the follow-up sent with the conversation before it
(what the chat does), the same question with the case typed in full in one message, and the
follow-up alone (what a chat without context gave). It also scores the follow-up/new-case
decision, dev beside test: on the turns of the conversations, and on each conversation's
opening case sent after another conversation (which must read as a new case). The decision's
threshold is calibrated on dev only; the best dev threshold is reported beside the shipped one.

    hha eval --conversations     # this part alone; `hha eval` runs it too
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import yaml

from assistant import conversation as talk
from evals.dataset import DATA_DIR, SPLITS, Gold, Point
from evals.metrics import present


@dataclass(frozen=True)
class Turn:
    message: str
    follow_up: bool
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    area: str | None
    turns: tuple[Turn, ...]


def load_conversations(split: str = "dev") -> list[Conversation]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: {SPLITS}")
    rows: list[dict] = []
    for path in sorted((DATA_DIR / split).glob("conversations*.yaml")):
        rows.extend(yaml.safe_load(path.read_text(encoding="utf-8")) or [])
    return [
        Conversation(
            id=r["id"], title=r["title"], area=r.get("area"),
            turns=tuple(
                Turn(message=t["message"], follow_up=bool(t["follow_up"]),
                     points=tuple(Point(point=p["point"], facet=p.get("facet", ""),
                                        gold=tuple(Gold(doc=g["doc"], quote=g["quote"]) for g in p["gold"]))
                                  for p in t["points"]))
                for t in r["turns"]
            ),
        )
        for r in rows
    ]


def _shown(answer) -> str:
    return "\n".join(e.text for e in answer.all_extracts())


def coverage(answer, points: tuple[Point, ...]) -> float:
    text = _shown(answer)
    return sum(any(present(g.quote, text) for g in p.gold) for p in points) / len(points)


# -- the decision ---------------------------------------------------------------------------------------


def decisions(conversations: list[Conversation]) -> list[dict]:
    """Every message whose reading is a decision: each later turn of a conversation (after the
    turns before it), and each opening case after the whole of another conversation."""
    items = []
    for n, conv in enumerate(conversations):
        for i, turn in enumerate(conv.turns[1:], start=1):
            items.append({"kind": "turn", "id": f"{conv.id}#{i}", "context": [t.message for t in conv.turns[:i]],
                          "message": turn.message, "follow_up": turn.follow_up})
        before = conversations[n - 1]
        items.append({"kind": "new case after another", "id": f"{before.id}>{conv.id}",
                      "context": [t.message for t in before.turns], "message": conv.turns[0].message,
                      "follow_up": False})
    return items


def decision_scores(conversations: list[Conversation], areas, threshold: float | None = None) -> list[dict]:
    out = []
    for item in decisions(conversations):
        turn = talk.read_turn(item["context"], item["message"], areas=areas,
                              threshold=talk.THRESHOLD if threshold is None else threshold)
        score = float("-inf") if turn.score is None else turn.score
        out.append({**item, "score": score, "decided": turn.follow_up, "correct": turn.follow_up == item["follow_up"]})
    return out


def accuracy(rows: list[dict], kind: str | None = None) -> float | None:
    chosen = [r for r in rows if kind is None or r["kind"] == kind]
    return round(mean(r["correct"] for r in chosen), 4) if chosen else None


def best_threshold(rows: list[dict]) -> tuple[float, float]:
    """The threshold with the best accuracy on `rows` (dev), the middle of the best interval."""
    scores = sorted({r["score"] for r in rows if r["score"] != float("-inf")})
    cuts = [scores[0] - 1] + [(a + b) / 2 for a, b in zip(scores, scores[1:], strict=False)] + [scores[-1] + 1]
    scored = [(mean((r["score"] >= c) == r["follow_up"] for r in rows), c) for c in cuts]
    best = max(a for a, _ in scored)
    tied = [c for a, c in scored if a == best]
    return round(tied[len(tied) // 2], 3), round(best, 4)


# -- the answers -------------------------------------------------------------------------------------------


def evaluate(assistant, conversations: list[Conversation]) -> list[dict]:
    rows = []
    for conv in conversations:
        context: list[str] = []
        thread: list[str] = []
        for i, turn in enumerate(conv.turns):
            if not turn.follow_up:
                thread = []
            started = time.perf_counter()
            answer = assistant.answer(turn.message, area=conv.area, context=context)
            row = {"id": f"{conv.id}#{i}", "message": turn.message, "follow_up": turn.follow_up,
                   "read_as_follow_up": bool(answer.conversation and answer.conversation.follow_up),
                   "coverage": coverage(answer, turn.points), "ms": round((time.perf_counter() - started) * 1000),
                   "carried": answer.conversation.line if answer.conversation else None}
            if turn.follow_up and thread:
                full = assistant.answer(" ".join([*thread, turn.message]), area=conv.area)
                alone = assistant.answer(turn.message, area=conv.area)
                row["full_coverage"] = coverage(full, turn.points)
                row["alone_coverage"] = coverage(alone, turn.points)
            rows.append(row)
            context.append(turn.message)
            thread.append(turn.message)
    return rows


def summarise(rows: list[dict], decided: list[dict]) -> dict:
    follow = [r for r in rows if "full_coverage" in r]
    fresh = [r for r in rows if not r["follow_up"]]

    def avg(key, chosen):
        return round(mean(r[key] for r in chosen), 4) if chosen else None

    out = {
        "conversations": len({r["id"].split("#")[0] for r in rows}), "turns": len(rows), "follow_ups": len(follow),
        "case_coverage": avg("coverage", fresh),
        "follow_up_coverage": avg("coverage", follow),
        "full_coverage": avg("full_coverage", follow),
        "alone_coverage": avg("alone_coverage", follow),
        "decision_accuracy": accuracy(decided),
        "decision_accuracy_turns": accuracy(decided, "turn"),
        "decision_accuracy_new_cases": accuracy(decided, "new case after another"),
        "decisions": len(decided),
    }
    if out["full_coverage"]:
        out["follow_up_vs_full"] = round(out["follow_up_coverage"] / out["full_coverage"], 4)
    return out


KEYS = ("conversations", "turns", "follow_ups", "case_coverage", "follow_up_coverage", "full_coverage",
        "follow_up_vs_full", "alone_coverage", "decisions", "decision_accuracy", "decision_accuracy_turns",
        "decision_accuracy_new_cases")


def table(summaries: dict[str, dict]) -> str:
    lines = ["| metric | " + " | ".join(summaries) + " |", "|---|" + "---|" * len(summaries)]
    for key in KEYS:
        cells = [summaries[s].get(key) for s in summaries]
        lines.append(f"| {key} | " + " | ".join("n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
                                                 for v in cells) + " |")
    return "\n".join(lines)


def report(assistant, out_dir: Path) -> str:
    """Both splits evaluated; the Markdown report written to `out_dir` and returned."""
    areas = assistant.index.local_areas
    summaries, details = {}, {}
    for split in SPLITS:
        conversations = load_conversations(split)
        decided = decision_scores(conversations, areas)
        rows = evaluate(assistant, conversations)
        summaries[split] = summarise(rows, decided)
        details[split] = {"turns": rows, "decisions": decided}
    threshold, dev_best = best_threshold(details["dev"]["decisions"])
    wrong = {s: [f"{d['id']} ({'follow-up' if d['follow_up'] else 'new case'}, score {d['score']:.2f})"
                 for d in details[s]["decisions"] if not d["correct"]] for s in SPLITS}
    text = (
        "# Conversations: follow-ups answered with their case\n\n"
        "follow_up_coverage: the follow-up sent with the conversation before it; full_coverage: the same "
        "question with the case typed in full in one message; alone_coverage: the follow-up alone, with no "
        "context. decision_accuracy: follow-up or new case, on the later turns and on each opening case sent "
        "after another conversation.\n\n" + table(summaries) + "\n\n"
        f"Follow-up threshold shipped: {talk.THRESHOLD}; best on dev: {threshold} (dev accuracy {dev_best}).\n\n"
        + "".join(f"Misread on {s}: {', '.join(wrong[s]) or 'none'}.\n\n" for s in SPLITS)
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "conversations.md").write_text(text, encoding="utf-8")
    (out_dir / "conversations.json").write_text(
        json.dumps({"summary": summaries, "details": details}, indent=2, default=str), encoding="utf-8")
    return text


def main(settings, out_dir: Path | None = None) -> int:
    from assistant.core import Assistant
    from assistant.embed import Embedder
    from ingest.pipeline import run_ingest

    embedder = Embedder()
    print(run_ingest([settings.corpus_dir], settings.store, embedder=embedder).summary(), file=sys.stderr)
    text = report(Assistant(settings.store, embedder=embedder), out_dir or settings.data_dir / "eval")
    print(text)
    return 0
