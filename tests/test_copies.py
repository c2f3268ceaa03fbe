"""Copies of one text in many documents (every area's copy of national guidance, protocols from
one template): they share a rank, one of them enters the candidate pool, an answer cites one.
Pure parts on made-up passages; then the real retriever on the two small corpus documents
replicated past the pool's size (vectors copied, as `hha bench --scale` builds them)."""

from __future__ import annotations

import numpy as np
import pytest
from support import small_corpus

from assistant.copies import collapse, find_copies, sentence_stand_ins, shared_ranks, spread_best, template
from assistant.records import Hit, Passage

TEXT = ("Where a parent is prescribed methadone, ask where it is stored and whether a locked box is used "
        "when there are children in the home.")


def passage(doc: str, order: int, text: str, area: str = "UK") -> Passage:
    return Passage(id=f"{doc}:{order}", doc_id=doc, title=doc, area=area, section=(), paragraph=None, page=None,
                   order=order, text=text)


def test_a_template_drops_names_and_numbers_not_words():
    assert template("Call Luton MASH on 01582 547653, or Stoke-on-Trent City Council (01782) 235100.") == \
        template("Call Selwick 7 MASH on 01234 567890, or Ashbel 7 (01782) 111.") == "# on #, or #"
    assert template("Bedford Borough, Central Bedfordshire and Luton keep a list") == "# keep a list"
    assert template("ask where it is stored") != template("ask where it is kept")


def test_no_copies_in_a_library_of_distinct_texts():
    passages = [passage("a", 0, TEXT), passage("a", 1, TEXT), passage("b", 0, TEXT.replace("methadone", "pills"))]
    assert find_copies(passages, [False] * 3) is None  # a repeat inside one document is a twin


def test_copies_across_documents_share_a_group_and_short_texts_stay_apart():
    passages = [passage("a", 0, f"{TEXT} Tell Luton MASH."), passage("b", 0, f"{TEXT} Tell Selwick 7 MASH."),
                passage("a", 1, "Luton MASH: 01582 547653."), passage("b", 1, "Stoke MASH: 01782 235100."),
                passage("c", 0, "Children's Social Care ask where the methadone is kept in the family home now")]
    copies = find_copies(passages, [True, True, True, True, False])
    assert copies is not None
    assert copies.group[0] == copies.group[1]
    assert len({int(g) for g in copies.group[[0, 2, 3, 4]]}) == 4
    assert copies.count == 4


def test_copies_share_a_rank_and_one_enters_the_pool_with_the_areas_own():
    # Three groups: g0 = passages 0-3 (four areas' copies), g1 = 4-5, g2 = 6.
    passages = [passage(f"d{n}", 0, TEXT, area=f"A{n}") for n in range(4)]
    passages += [passage(f"d{n}", 1, TEXT.replace("methadone", "diazepam"), area=f"A{n}") for n in range(2)]
    passages += [passage("national", 0, TEXT.replace("methadone", "buprenorphine"))]
    copies = find_copies(passages, [True] * 6 + [False])
    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.7, 0.8, 0.6])
    ranks, pool = shared_ranks(scores, copies, limit=2, area=None)
    assert ranks.tolist() == [1, 1, 1, 1, 2, 2, 3]
    assert pool.tolist() == [1, 5]  # the best of each group within the limit
    ranks, pool = shared_ranks(scores, copies, limit=2, area="A3")
    assert pool.tolist() == [1, 3, 5]  # and the area's own copy
    ranks, pool = shared_ranks(np.array([0.5, 0.9, 0.5, 0.5, 0.0, 0.0, 0.6]), copies, limit=5, area=None,
                               positive=True)
    assert ranks.tolist() == [1, 1, 1, 1, 13, 13, 2] and pool.tolist() == [1, 6]
    best = np.array([[-1.0], [0.4], [-1.0], [-1.0], [0.2], [-1.0], [-1.0]])
    assert spread_best(best, copies)[:, 0].tolist() == [0.4, 0.4, 0.4, 0.4, 0.2, 0.2, -1.0]
    row_of = {p.id: n for n, p in enumerate(passages)}
    hits = [Hit(passage=passages[n], score=1.0 - n / 10, similarity=0.5) for n in (1, 0, 4, 6, 5)]
    assert [h.passage.id for h in collapse(hits, copies, row_of)] == ["d1:0", "d0:1", "national:0"]


def test_a_copys_sentences_are_searched_by_its_first_members_when_they_split_alike():
    passages = [passage("a", 0, TEXT), passage("b", 0, TEXT), passage("c", 0, TEXT), passage("c", 1, "Other.")]
    copies = find_copies(passages, [False] * 4)
    # Rows: a has two sentences, b two, c one (it split otherwise), c:1 one.
    spans = [("a:0", 0, 10), ("b:0", 0, 10), ("a:0", 11, 20), ("c:0", 0, 20), ("b:0", 11, 20), ("c:1", 0, 6)]
    assert sentence_stand_ins(copies, passages, spans).tolist() == [0, 0, 2, 3, 2, 5]


# -- the real retriever on a replicated library ----------------------------------------------------

COPIES = 45  # more than the pool takes from each ranking (retrieve.CANDIDATES)
QUESTIONS = [
    "where should methadone be kept at home when there are young children?",
    "how do I engage a parent who is using drugs in an assessment?",
    "what should I ask about needles and works when dad injects heroin?",
]


@pytest.fixture(scope="module")
def libraries(tmp_path_factory, embedder):
    from assistant.embed import TokenCounter
    from assistant.retrieve import Index, Retriever
    from assistant.store import Catalog, StoreLocation
    from evals.replicate import write_build_with_copied_vectors, write_replicated_corpus
    from ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp("copies")
    corpus = small_corpus(root / "corpus")
    one = StoreLocation(root / "one")
    run_ingest([corpus], one, embedder=embedder)
    many = StoreLocation(root / "many")
    write_build_with_copied_vectors(write_replicated_corpus(corpus, root / "replicated", COPIES), one, many,
                                    TokenCounter())
    return {name: Retriever(Index.load(Catalog(location), sentence_search="exact"), embedder)
            for name, location in (("one", one), ("many", many))}


@pytest.mark.slow
def test_copies_do_not_crowd_out_other_passages(libraries):
    one, many = libraries["one"], libraries["many"]
    assert one.index.copies is None and many.index.copies is not None
    assert len(many.index.passages) > 40 * len(one.index.passages) // 2
    # The exact sentence search holds each distinct sentence once, and reads as the full product.
    rows = many.index.sentence_rows
    assert rows is not None and many.index.sentence_vectors.shape[0] < len(many.index.sentence_spans) // 20
    vectors = many.embed(QUESTIONS)
    _, full = many.index.build.sentence_file()
    stand_ins = sentence_stand_ins(many.index.copies, many.index.passages, many.index.sentence_spans)
    assert many.sentence_similarities(vectors) == pytest.approx(np.asarray(full)[stand_ins] @ vectors.T, abs=1e-6)
    for question in QUESTIONS:
        alone = one.search(question, k=6)
        replicated = many.search(question, k=6)
        groups = [int(many.index.copies.group[many.index.row_of[h.passage.id]]) for h in replicated]
        assert len(set(groups)) == len(groups) == 6  # one copy of each text
        # The same texts as the library without copies (two near-tied ones, 0.001 apart here, may swap), at
        # about the same scores.
        assert {template(h.passage.text) for h in replicated[:3]} == {template(h.passage.text) for h in alone[:3]}
        assert [h.score for h in replicated[:3]] == pytest.approx([h.score for h in alone[:3]], abs=0.3)


@pytest.mark.slow
def test_a_question_on_the_replicated_library_is_answered_not_declined(libraries):
    from assistant.compose import Composer

    many = libraries["many"]
    for question in QUESTIONS:
        answer = Composer(many).answer(question)
        assert not answer.abstained and answer.all_extracts()
        for e in answer.all_extracts():
            assert many.index.by_id[e.passage_id].text[e.start : e.end] == e.text
