"""What an index works out once per load gives, bit for bit, what each answer used to work out
again: the heading-overlap feature, the twins collapsed, the words of a sentence. Fast: no
model, hand-made passages."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np

from assistant.records import Hit, Passage
from assistant.retrieve import Index, Query, _heading_overlap, collapse_twins, first_distinct
from assistant.text import lexical_tokens

WORDS = ["methadone", "storage", "child", "alcohol", "referral", "safeguard", "parent", "home", "risk", "school"]


class Idf:
    def __init__(self, seed: int):
        rng = random.Random(seed)
        self.values = {w: rng.uniform(0.0, 3.0) for w in WORDS}

    def idf(self, term: str) -> float:
        return self.values.get(term, 0.0)


def test_heading_overlap_equals_the_sum_over_each_passage_bit_for_bit():
    rng = random.Random(7)
    headings = [frozenset(rng.sample(WORDS, rng.randint(0, 5))) for _ in range(60)]
    index = SimpleNamespace(bm25=Idf(3), heading_tokens=headings)
    index.heading_rows = Index.heading_rows.func(index)
    for _ in range(50):
        tokens = rng.sample(WORDS + ["unknown"], rng.randint(1, 8))
        weights = {t: 0.5 for t in tokens if rng.random() < 0.3}
        q = Query(text="", tokens=tokens, weights=weights, embed_text="")
        ids = np.array(sorted(rng.sample(range(60), 25)))
        terms = {t: index.bm25.idf(t) * q.weights.get(t, 1.0) for t in set(q.tokens)}
        total = sum(terms.values()) or 1.0
        plain = np.array([sum(w for t, w in terms.items() if t in headings[i]) / total for i in ids])
        assert np.array_equal(_heading_overlap(q, index, ids), plain)


def _passage(n: int, twin_of: str | None = None) -> Passage:
    return Passage(id=f"p{n}", doc_id="d", title="t", area="a", section=(), paragraph=None, page=None, order=n,
                   text=f"text {n}", twin_of=twin_of)


def test_only_the_hits_kept_are_made_and_they_are_those_collapse_twins_keeps():
    passages = [_passage(0), _passage(1, "p0"), _passage(2), _passage(3, "p2"), _passage(4), _passage(5, "p0")]
    hits = [Hit(passage=p, score=-n) for n, p in enumerate(passages)]
    for k in range(0, 6):
        made = []
        kept = first_distinct(range(len(hits)), k, key=lambda i: hits[i].passage.twin_of or hits[i].passage.id,
                              make=lambda i, made=made: made.append(i) or hits[i])
        assert kept == collapse_twins(hits)[:k]
        assert len(made) == len(kept)
    assert [h.passage.id for h in collapse_twins(hits)] == ["p0", "p2", "p4"]


def test_a_sentence_is_tokenised_once_and_as_lexical_tokens_does():
    text = "Store methadone out of reach. Children can die from a small amount."
    p = _passage(0)
    p = Passage(**{**p.__dict__, "text": text})
    index = SimpleNamespace(sentence_spans=[("p0", 0, 29), ("p0", 30, len(text))], by_id={"p0": p},
                            _sentence_words={})
    words = Index.sentence_words(index, 1)
    assert words == frozenset(lexical_tokens(text[30:]))
    assert Index.sentence_words(index, 1) is words


def test_vocabulary_expansions_equal_one_search_per_key():
    from assistant.vocabulary import _patterns, expansions
    from evals.dataset import SPLITS, load_cases, load_questions

    def searched(query: str) -> list[str]:
        out: list[str] = []
        for _, pattern, values in _patterns():
            if pattern.search(query):
                out.extend(v for v in values if v.lower() not in query.lower() and v not in out)
        return out

    texts = [q.question for s in SPLITS for q in load_questions(s)] + [c.vignette for s in SPLITS for c in load_cases(s)]
    texts += ["Is the baby safe with a DV perp in the house?", "KIDS LEFT HOME ALONE", "naïve café user on bupe"]
    assert sum(bool(expansions(t)) for t in texts) > 20  # the vocabulary is used at all
    assert all(expansions(t) == searched(t) for t in texts)
