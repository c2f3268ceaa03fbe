"""What a case description embeds per answer: its own text and its clauses; a facet's query is
the protocols' words alone, embedded once per process. Fast: a counting fake embedder."""

from __future__ import annotations

import numpy as np

from assistant.evidence import aspects, gather
from assistant.plan import read_question
from assistant.rank import Ranker
from assistant.retrieve import Retriever
from assistant.tuning import DEFAULT

CASE = ("Dad is the sole carer of a 2 year old, on methadone with take-home doses, drinks at weekends; "
        "the health visitor found the methadone bottle on the kitchen side")


class CountingEmbedder:
    def __init__(self):
        self.calls: list[list[str]] = []

    def embed_queries(self, texts):
        self.calls.append(list(texts))
        return np.array([[len(t), sum(map(ord, t)) % 97, 1.0] for t in texts], dtype=np.float32)


class NoSearch(Retriever):
    """The retriever's query side only: searching returns nothing."""

    def sentence_similarities(self, vectors):
        return np.zeros((0, len(vectors)), dtype=np.float32)

    def search_vectors(self, queries, vectors, **kwargs):
        return [[] for _ in queries]


def test_fixed_queries_are_embedded_once_and_returned_in_order():
    embedder = CountingEmbedder()
    retriever = Retriever(None, embedder, ranker=Ranker.rrf())
    first = retriever.embed_known(["storage of methadone", "domestic abuse", "storage of methadone"])
    again = retriever.embed_known(["domestic abuse", "storage of methadone"])
    assert embedder.calls == [["storage of methadone", "domestic abuse"]]
    assert np.array_equal(first[[1, 0]], again) and np.array_equal(first[0], first[2])
    assert retriever.embed_known([]).shape[0] == 0


def test_a_case_embeds_its_text_and_clauses_and_each_facet_query_once_per_process():
    embedder = CountingEmbedder()
    retriever = NoSearch(None, embedder, ranker=Ranker.rrf())
    plan = read_question(CASE, area=None, role="practitioner", areas={}, max_facets=DEFAULT.case_facets)
    assert plan.case and plan.facets
    evidence = gather(plan, retriever, k=8)
    facet_texts = [retriever.parse(f.query).embed_text for f in plan.facets]
    assert [retriever.parse_known(f.query) for f in plan.facets] == [retriever.parse(f.query) for f in plan.facets]
    own = [retriever.parse(CASE).embed_text] + [retriever.parse(a).embed_text for a in aspects(CASE)]
    assert embedder.calls == [own, facet_texts]
    # The vectors in the order of the queries: the text, each facet, each clause.
    expected = embedder.embed_queries(own[:1] + facet_texts + own[1:])
    assert np.array_equal(evidence.vectors, expected)
    assert evidence.facets == len(plan.facets) and len(evidence.queries) == len(expected)
    embedder.calls.clear()
    gather(plan, retriever, k=8)
    assert embedder.calls == [own]  # the facet queries are not embedded again
