"""`hha eval`: score our retrieval and answers, and the naive baseline's, on the development
and the locked test set in one run; write the report; optionally gate on committed thresholds
(the gate reads the test figures). `--sweep` searches the composer's `Tuning` on dev only."""

from __future__ import annotations

import json
import sys
import time
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, median

from assistant.records import Answer
from assistant.routes import asks_for_route
from evals.dataset import SPLITS, Case, Question, load_cases, load_questions
from evals.metrics import K_VALUES, average, present, retrieval_scores

THRESHOLDS_FILE = Path(__file__).with_name("thresholds.toml")


def shown_text(answer: Answer) -> str:
    return "\n".join(e.text for e in answer.all_extracts())


def citation_validity(answer: Answer, by_id: dict) -> tuple[int, int]:
    """(valid, total) extracts: each must be verbatim at its offsets in the passage it cites."""
    cited = {c.n: c.passage.id for c in answer.citations}
    valid = total = 0
    for e in answer.all_extracts():
        total += 1
        passage = by_id.get(e.passage_id)
        if passage is not None and cited.get(e.citation) == e.passage_id and passage.text[e.start : e.end] == e.text:
            valid += 1
    return valid, total


def _matching_extract(answer: Answer, quotes: list[str]) -> tuple[str, str] | None:
    labels = {c.n: c.passage.citation_label for c in answer.citations}
    for e in answer.all_extracts():
        if any(present(q, e.text) or present(e.text, q) and len(e.text.split()) >= 6 for q in quotes):
            return e.text, labels.get(e.citation, "")
    text = shown_text(answer)
    if any(present(q, text) for q in quotes):
        return "(across several extracts)", ""
    return None


@dataclass
class Results:
    questions: list[dict] = field(default_factory=list)
    cases: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    breakdown: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


def evaluate(assistant, baseline, questions: list[Question], cases: list[Case]) -> Results:
    index = assistant.index
    results = Results()
    for q in questions:
        quotes = [g.quote for g in q.gold]
        t0 = time.perf_counter()
        hits = assistant.search(q.question, area=q.area, k=8)
        t1 = time.perf_counter()
        answer = assistant.answer(q.question, area=q.area)
        t2 = time.perf_counter()
        row: dict = {
            "id": q.id, "kind": q.kind, "persona": q.persona, "documents": list(q.documents),
            "answerable": q.answerable, "urgent": q.urgent, "slang": q.slang, "asks_route": asks_for_route(q.question),
            "ours": {
                "abstained": answer.abstained, "urgent_shown": answer.urgent is not None,
                "top_similarity": round(hits[0].similarity, 4) if hits else 0.0,
                "words": len(shown_text(answer).split()), "search_ms": (t1 - t0) * 1000, "answer_ms": (t2 - t1) * 1000,
            },
        }
        valid, total = citation_validity(answer, index.by_id)
        row["ours"]["citations_valid"], row["ours"]["citations_total"] = valid, total
        if baseline is not None:
            t3 = time.perf_counter()
            base_hits = baseline.search(q.question, k=8)
            t4 = time.perf_counter()
            base_answer = "\n".join(t for _, t in base_hits[:4])
            row["baseline"] = {"words": len(base_answer.split()), "search_ms": (t4 - t3) * 1000, "abstained": False}
        if q.answerable:
            row["ours"].update(retrieval_scores(quotes, [h.passage.text for h in hits]))
            text = shown_text(answer)
            row["ours"]["coverage"] = sum(present(g, text) for g in quotes) / len(quotes)
            if baseline is not None:
                row["baseline"].update(retrieval_scores(quotes, [t for _, t in base_hits]))
                row["baseline"]["coverage"] = sum(present(g, base_answer) for g in quotes) / len(quotes)
        results.questions.append(row)

    for case in cases:
        t0 = time.perf_counter()
        answer = assistant.answer(case.vignette, area=case.area)
        elapsed = (time.perf_counter() - t0) * 1000
        text = shown_text(answer)
        base_text = "\n".join(t for _, t in baseline.answer(case.vignette)) if baseline is not None else ""
        points = []
        for p in case.points:
            quotes = [g.quote for g in p.gold]
            met = _matching_extract(answer, quotes)
            points.append({
                "point": p.point, "facet": p.facet, "met": met is not None,
                "evidence": met[0] if met else None, "source": met[1] if met else None,
                "baseline_met": any(present(q, base_text) for q in quotes),
            })
        valid, total = citation_validity(answer, index.by_id)
        # Case precision: the share of extracts that come from passages holding an expected point.
        all_quotes = [g.quote for p in case.points for g in p.gold]
        extracts = answer.all_extracts()
        on_point = sum(any(present(q, index.by_id[e.passage_id].text) for q in all_quotes) for e in extracts)
        results.cases.append({
            "precision": on_point / len(extracts) if extracts else 0.0, "urgent": case.urgent,
            "sources": len(answer.citations), "questions_to_explore": len(answer.checklist),
            "id": case.id, "title": case.title, "source": case.source, "persona": case.persona,
            "coverage": sum(p["met"] for p in points) / len(points),
            "baseline_coverage": sum(p["baseline_met"] for p in points) / len(points),
            "points": points, "words": len(text.split()), "baseline_words": len(base_text.split()),
            "answer_ms": elapsed, "citations_valid": valid, "citations_total": total,
            "facets": list(answer.facets), "urgent_shown": answer.urgent is not None,
        })
    summarise(results, baseline is not None)
    return results


def _system_summary(rows: list[dict], cases: list[dict], system: str) -> dict:
    answerable = [r[system] for r in rows if r["answerable"]]
    oos = [r[system] for r in rows if not r["answerable"]]
    keys = [f"hit@{k}" for k in K_VALUES] + [f"recall@{k}" for k in K_VALUES] + ["mrr", "coverage"]
    out = average([{k: r[k] for k in keys} for r in answerable])
    out["oos_declined"] = round(mean(r["abstained"] for r in oos), 4) if oos else None
    out["answerable_answered"] = round(mean(not r["abstained"] for r in answerable), 4) if answerable else None
    out["words_median"] = median(r[system]["words"] for r in rows)
    cov_key = "coverage" if system == "ours" else "baseline_coverage"
    out["case_coverage"] = round(mean(c[cov_key] for c in cases), 4) if cases else None
    slang = [r[system] for r in rows if r["answerable"] and r.get("slang")]
    out["slang_answered"] = round(mean(not r["abstained"] for r in slang), 4) if slang else None
    if system == "ours" and cases:
        out["case_precision"] = round(mean(c["precision"] for c in cases), 4)
        out["case_words_mean"] = round(mean(c["words"] for c in cases), 1)
        out["case_words_max"] = max(c["words"] for c in cases)
        out["case_sources_max"] = max(c["sources"] for c in cases)
    if system == "ours":
        # Urgent recall: "What to do now" shown when a question or case has an immediate-risk signal.
        # A question that asks whom to call gets the route too, as it should: not a false alarm.
        flagged = [(r["urgent"], r["ours"]["urgent_shown"], r.get("asks_route", False)) for r in rows]
        flagged += [(c["urgent"], c["urgent_shown"], False) for c in cases]
        urgent = [shown for u, shown, _ in flagged if u]
        calm = [shown for u, shown, route in flagged if not u and not route]
        out["urgent_recall"] = round(mean(urgent), 4) if urgent else None
        out["false_urgent"] = round(mean(calm), 4) if calm else None
    if system == "ours":
        valid = sum(r["ours"]["citations_valid"] for r in rows) + sum(c["citations_valid"] for c in cases)
        total = sum(r["ours"]["citations_total"] for r in rows) + sum(c["citations_total"] for c in cases)
        out["citation_validity"] = round(valid / total, 4) if total else None
        out["citations_checked"] = total
        out["answer_ms_median"] = round(median(r["ours"]["answer_ms"] for r in rows), 1)
    out["search_ms_median"] = round(median(r[system]["search_ms"] for r in rows), 1)
    return out


def summarise(results: Results, with_baseline: bool) -> None:
    systems = ["ours"] + (["baseline"] if with_baseline else [])
    results.summary = {s: _system_summary(results.questions, results.cases, s) for s in systems}
    groups: dict[str, dict[str, list[dict]]] = {"kind": defaultdict(list), "document": defaultdict(list),
                                                 "persona": defaultdict(list)}
    for r in results.questions:
        if not r["answerable"]:
            continue
        groups["kind"][r["kind"]].append(r)
        groups["persona"][r["persona"]].append(r)
        for d in r["documents"]:
            groups["document"][d].append(r)
    breakdown: dict = {}
    for name, by in groups.items():
        breakdown[name] = {}
        for key, rows in sorted(by.items()):
            breakdown[name][key] = {"n": len(rows)}
            for s in systems:
                breakdown[name][key][s] = average([{k: r[s][k] for k in ("hit@5", "recall@8", "mrr", "coverage")}
                                                   for r in rows])
    results.breakdown = breakdown
    oos_sims = [r["ours"]["top_similarity"] for r in results.questions if not r["answerable"]]
    ans_sims = [r["ours"]["top_similarity"] for r in results.questions if r["answerable"]]
    results.meta["similarity"] = {
        "answerable_min": min(ans_sims) if ans_sims else None,
        "answerable_p10": sorted(ans_sims)[len(ans_sims) // 10] if ans_sims else None,
        "out_of_scope_max": max(oos_sims) if oos_sims else None,
        "out_of_scope_values": oos_sims,
    }


def check_gate(summary: dict, thresholds_file: Path = THRESHOLDS_FILE) -> list[str]:
    """The test split's figures against the committed bounds (`at_least`, `at_most`)."""
    with open(thresholds_file, "rb") as f:
        thresholds = tomllib.load(f)["test"]
    failures = []
    ours = summary["ours"]
    for key, minimum in thresholds.get("at_least", {}).items():
        value = ours.get(key)
        if value is None or value < minimum:
            failures.append(f"{key} = {value} is below the committed threshold {minimum}")
    for key, maximum in thresholds.get("at_most", {}).items():
        value = ours.get(key)
        if value is None or value > maximum:
            failures.append(f"{key} = {value} is above the committed bound {maximum}")
    return failures


def summary_table(summary: dict) -> str:
    keys = ["hit@1", "hit@5", "recall@5", "recall@8", "mrr", "coverage", "case_coverage", "case_precision",
            "case_words_mean", "case_words_max", "case_sources_max", "citation_validity", "oos_declined",
            "answerable_answered", "slang_answered", "urgent_recall", "false_urgent", "words_median",
            "search_ms_median"]
    systems = list(summary)
    lines = ["| metric | " + " | ".join(systems) + " |", "|---|" + "---|" * len(systems)]
    for k in keys:
        cells = []
        for s in systems:
            v = summary[s].get(k)
            cells.append("n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v)))
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def evaluate_splits(assistant, baseline) -> dict[str, Results]:
    return {split: evaluate(assistant, baseline, load_questions(split), load_cases(split)) for split in SPLITS}


def side_by_side(results: dict[str, Results]) -> str:
    """One table: each split, ours beside the baseline built in the same run."""
    merged = {f"{split} {system}": r.summary[system] for split, r in results.items() for system in r.summary}
    return summary_table(merged)


def main(settings, *, gate: bool = False, baseline: bool = True, out_dir: Path | None = None,
         sweep: bool = False) -> int:
    from assistant.core import Assistant
    from assistant.embed import Embedder
    from evals.baseline import Baseline
    from evals.report import write_report
    from ingest.pipeline import discover, run_ingest

    started = time.perf_counter()
    embedder = Embedder()
    report = run_ingest([settings.corpus_dir], settings.store, embedder=embedder)
    print(report.summary(), file=sys.stderr)
    assistant = Assistant(settings.store, embedder=embedder)
    if sweep:
        from evals.sweep import sweep as run_sweep

        print(run_sweep(assistant))
        return 0
    base = Baseline(discover([settings.corpus_dir]), embedder) if baseline else None
    try:
        results = evaluate_splits(assistant, base)
    finally:
        meta = {"baseline_chunks": base.chunks, "baseline_ingest_s": round(base.ingest_seconds, 1)} if base else {}
        if base is not None:
            base.close()
    out_dir = out_dir or settings.data_dir / "eval"
    for split, split_results in results.items():
        split_results.meta.update(meta)
        split_results.meta["split"] = split
        split_results.meta["index_passages"] = len(assistant.index.passages)
        split_results.meta["seconds"] = round(time.perf_counter() - started, 1)
        write_report(split_results, out_dir / split)
        (out_dir / split / "results.json").write_text(json.dumps(split_results.__dict__, indent=2, default=str),
                                                      encoding="utf-8")
    from evals.conversations import report as conversation_report
    from evals.labels import labelling_scores

    table = side_by_side(results)
    conversations = conversation_report(assistant, out_dir)
    labelling = labelling_scores()
    label_lines = ["| sample half | sentences | guidance precision | guidance recall | accuracy |", "|---|---|---|---|---|"]
    label_lines += [f"| {k} | {v['sentences']} | {v['guidance_precision']} | {v['guidance_recall']} | {v['accuracy']} |"
                    for k, v in labelling.items()]
    from evals.ablation import ablation, ablation_table

    parts = ablation_table(ablation(assistant))
    (out_dir / "summary.md").write_text(
        "# Evaluation: dev and the locked test set\n\n" + table + "\n\n## Sentence kinds (hand-labelled sample)\n\n"
        + "\n".join(label_lines) + "\n\n## Ablations (retrieval, same run)\n\n" + parts + "\n\n"
        + conversations.replace("# ", "## ", 1), encoding="utf-8")
    print(table)
    print("\n" + conversations)
    print("\n" + "\n".join(label_lines))
    print("\n" + parts)
    print(f"\nreports: {out_dir / 'dev' / 'report.md'}\n         {out_dir / 'test' / 'report.md'}")
    if gate:
        failures = check_gate(results["test"].summary)
        for failure in failures:
            print(f"GATE: {failure}", file=sys.stderr)
        return 1 if failures else 0
    return 0
