"""The evaluation runs on the real corpus, beats the naive baseline built in the same run,
and stays above the committed quality thresholds."""

from __future__ import annotations

from pathlib import Path

from evals.baseline import Baseline
from evals.dataset import load_cases, load_questions
from evals.report import write_report
from evals.run import check_gate, evaluate

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def test_evaluation_gate_and_report(corpus_assistant, embedder, tmp_path):
    baseline = Baseline(sorted(CORPUS.glob("*.txt")), embedder)
    try:
        results = evaluate(corpus_assistant, baseline, load_questions(), load_cases())
    finally:
        baseline.close()
    ours, base = results.summary["ours"], results.summary["baseline"]
    print({k: ours[k] for k in ("hit@5", "recall@8", "coverage", "case_coverage", "oos_declined")})
    print({k: base[k] for k in ("hit@5", "recall@8", "coverage", "case_coverage")})
    assert check_gate(results.summary) == []
    # clearly better than the quickstart pipeline on retrieval, with far shorter answers
    assert ours["hit@5"] >= base["hit@5"] + 0.1
    assert ours["recall@8"] >= base["recall@8"] + 0.08
    assert ours["case_coverage"] > base["case_coverage"]
    assert ours["words_median"] < base["words_median"]
    paths = write_report(results, tmp_path)
    report = paths["markdown"].read_text(encoding="utf-8")
    assert "| hit@5 |" in report and "baseline" in report
    assert "Imran and Jennifer" in report and ("✅ met" in report)
    assert (tmp_path / "coverage_per_case.png").stat().st_size > 1000
    assert "<table>" in paths["html"].read_text(encoding="utf-8")
