"""The evaluation data is honest: every gold quote is verbatim in the corpus, and findable in
the passages ingest makes of it (whatever the chunking)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from evals.dataset import load_cases, load_questions
from evals.metrics import present

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
KINDS = {"factual", "procedural", "checklist", "judgement", "local contact", "multi-document", "out-of-scope"}
PERSONAS = {"practitioner", "manager", "trainer", "foster carer", "commissioner"}


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def raw_texts():
    return {p.stem: collapse(p.read_text(encoding="utf-8")) for p in CORPUS.glob("*.txt")}


def all_gold():
    for q in load_questions():
        for g in q.gold:
            yield q.id, g
    for c in load_cases():
        for p in c.points:
            for g in p.gold:
                yield c.id, g


def test_every_gold_quote_is_an_exact_substring_of_its_document(raw_texts):
    missing = [(owner, g.doc, g.quote) for owner, g in all_gold() if collapse(g.quote) not in raw_texts[g.doc]]
    assert missing == []
    assert sum(1 for _ in all_gold()) >= 300


def test_every_gold_quote_survives_ingest(corpus_assistant):
    by_doc: dict[str, str] = {}
    for p in corpus_assistant.index.passages:
        by_doc[p.doc_id] = by_doc.get(p.doc_id, "") + "\n" + p.text
    lost = [(owner, g.quote) for owner, g in all_gold() if not any(
        present(g.quote, p.text) for p in corpus_assistant.index.passages if p.doc_id == g.doc
    )]
    assert lost == []


def test_question_set_shape():
    questions = load_questions()
    assert len(questions) >= 50 and len({q.id for q in questions}) == len(questions)
    kinds = Counter(q.kind for q in questions)
    assert set(kinds) == KINDS and kinds["out-of-scope"] >= 8
    assert {q.persona for q in questions} == PERSONAS
    assert {d for q in questions for d in q.documents} == {p.stem for p in CORPUS.glob("*.txt")}
    for q in questions:
        assert bool(q.gold) == q.answerable, q.id


def test_case_set_shape():
    cases = load_cases()
    assert len(cases) >= 9
    titles = " ".join(c.title for c in cases)
    for name in ("Imran", "Abby", "Tom"):
        assert name in titles
    for c in cases:
        assert 4 <= len(c.points) <= 8 and all(p.gold for p in c.points), c.id
