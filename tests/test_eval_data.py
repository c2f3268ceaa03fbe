"""The evaluation data is honest: every gold quote is verbatim in the corpus, and findable in
the passages ingest makes of it (whatever the chunking). The dev set is tuned on; the test set
is locked, and has the shape the quality issue asks of it."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from evals.dataset import DATA_DIR, SPLITS, load_cases, load_questions
from evals.metrics import present

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
KINDS = {"factual", "procedural", "checklist", "judgement", "local contact", "multi-document", "out-of-scope"}
PERSONAS = {"practitioner", "manager", "trainer", "foster carer", "commissioner"}


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def raw_texts():
    return {p.stem: collapse(p.read_text(encoding="utf-8")) for p in CORPUS.glob("*.txt")}


def all_gold(split: str):
    for q in load_questions(split):
        for g in q.gold:
            yield q.id, g
    for c in load_cases(split):
        for p in c.points:
            for g in p.gold:
                yield c.id, g


@pytest.mark.parametrize("split", SPLITS)
def test_every_gold_quote_is_an_exact_substring_of_its_document(raw_texts, split):
    missing = [(owner, g.doc, g.quote) for owner, g in all_gold(split) if collapse(g.quote) not in raw_texts[g.doc]]
    assert missing == []
    assert sum(1 for _ in all_gold(split)) >= 300


@pytest.mark.parametrize("split", SPLITS)
def test_every_gold_quote_survives_ingest(corpus_assistant, split):
    """In one passage, or (a table row read as a heading) across two neighbouring passages of
    its document: never lost by cleaning or splitting."""
    passages = corpus_assistant.index.passages
    pairs = [a.text + "\n" + b.text for a, b in zip(passages, passages[1:], strict=False) if a.doc_id == b.doc_id]
    straddling = []
    lost = []
    for owner, g in all_gold(split):
        if any(present(g.quote, p.text) for p in passages if p.doc_id == g.doc):
            continue
        if any(present(g.quote, text) for text in pairs):
            straddling.append(owner)
        else:
            lost.append((owner, g.quote))
    assert lost == []
    assert len(straddling) <= 3, straddling  # a quote split by a passage boundary is rare


@pytest.mark.parametrize("split", SPLITS)
def test_question_set_shape(split):
    questions = load_questions(split)
    assert len(questions) >= 60 and len({q.id for q in questions}) == len(questions)
    kinds = Counter(q.kind for q in questions)
    assert set(kinds) == KINDS and kinds["out-of-scope"] >= 12
    personas = Counter(q.persona for q in questions)
    assert set(personas) == PERSONAS
    assert sum(q.slang and q.answerable for q in questions) >= 18
    assert sum(q.urgent for q in questions) >= 10
    for q in questions:
        assert bool(q.gold) == q.answerable, q.id


def test_the_splits_share_no_question_or_case():
    dev, test = load_questions("dev"), load_questions("test")
    assert not {collapse(q.question) for q in dev} & {collapse(q.question) for q in test}
    assert not {c.id for c in load_cases("dev")} & {c.id for c in load_cases("test")}


def test_test_set_shape():
    questions = load_questions("test")
    assert {q.persona for q in questions if q.answerable} == PERSONAS
    assert min(Counter(q.persona for q in questions).values()) >= 6
    cases = load_cases("test")
    titles = " ".join(c.title for c in cases)
    for name in ("Imran", "Abby", "Tom"):  # the Adfam report's Appendix I cases are test cases
        assert name in titles
    written = [c for c in cases if not c.source.startswith("adfam")]
    assert len(written) >= 10 and all(6 <= len(c.points) <= 10 for c in written)
    assert all(p.gold for c in cases for p in c.points)
    assert sum(c.urgent for c in cases) >= 3


def test_sentence_labels_are_sentences_of_the_corpus(corpus_assistant):
    rows = yaml.safe_load((DATA_DIR / "sentence_labels.yaml").read_text(encoding="utf-8"))
    index = corpus_assistant.index
    sentences = {index.by_id[pid].text[a:b] for pid, a, b in index.sentence_spans}
    assert len(rows) >= 200
    assert [r["text"] for r in rows if r["text"] not in sentences] == []
    assert {r["label"] for r in rows} == {"guidance", "finding", "illustration", "background"}


def test_the_shipped_demand_counts_sentences_of_the_corpus_from_dev_alone(corpus_assistant):
    """`demand.json` holds sentences of the sources (as the index cuts them) with how many dev
    questions and case points needed each: a count no larger than dev's items, fitted on dev as
    it stands, and matched to the index when loaded."""
    import json

    from assistant.evidence import DEMAND_FILE, Demand, decode_vector, sentence_key
    from evals.train_ranker import data_hash

    data = json.loads(DEMAND_FILE.read_text(encoding="utf-8"))
    index = corpus_assistant.index
    sentences = {sentence_key(index.by_id[pid].text[a:b]) for pid, a, b in index.sentence_spans}
    assert [s["text"] for s in data["sentences"] if s["text"] not in sentences] == []
    assert all(1 <= s["count"] <= data["meta"]["items"] for s in data["sentences"])
    assert data["meta"]["data_sha256"] == data_hash(load_questions("dev"), load_cases("dev"))
    demand = Demand.load(index)
    values = demand.of(np.arange(len(index.sentence_spans)))
    assert (values > 0).sum() >= len(data["sentences"]) and (values == 0).any()
    # One entry per dev item for the neighbour demand: a text vector and the counted sentences it needed.
    assert len(data["items"]) == data["meta"]["items"]
    assert all(0 <= n < len(data["sentences"]) for item in data["items"] for n in item["needs"])
    needs = Counter(n for item in data["items"] for n in item["needs"])
    assert [needs[n] for n in range(len(data["sentences"]))] == [s["count"] for s in data["sentences"]]
    first = decode_vector(data["items"][0]["vector"])
    assert first.shape == (index.sentence_vectors.shape[1],) and abs(float(first @ first) - 1.0) < 0.01
    own = demand.near(demand.nearest_items(first), np.arange(len(index.sentence_spans)))
    assert ((own > 0) <= (values > 0)).all() and (own > 0).any()  # its neighbours' needs, a part of all
