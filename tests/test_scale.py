"""Scale: BM25 built from a stream into flat arrays, and the sentence search on Chroma's HNSW
index (what a library past `SENTENCE_ANN_FROM` sentences uses) against the exact matrix
product, on a real index of two corpus documents built with the real MiniLM, locally and
through a real `chroma run` server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import ROOT, small_corpus

from assistant.lexical import BM25

QUESTIONS = [
    "where should methadone be kept at home when there are young children?",
    "how do I engage a parent who is using drugs in an assessment?",
    "Stoke: dad injects heroin, what should I ask about needles and works?",
]

DOCS = [["methadon", "box", "lock", "box"], ["child", "see", "alon"], [], ["methadon", "child"]]


def test_bm25_from_a_stream_is_the_bm25_of_the_list():
    listed, streamed = BM25(DOCS), BM25(iter(DOCS))
    for query in (["methadon"], ["box", "box", "child"], ["nothing"], []):
        assert listed.scores(query).tolist() == streamed.scores(query).tolist()
    assert listed.top(["box", "child"], 10) == streamed.top(["box", "child"], 10)
    docs, tfs = listed.posting("box")
    assert docs.tolist() == [0] and tfs.tolist() == [2.0]
    assert listed.posting("nothing") is None and listed.idf("nothing") == 0.0
    assert listed.idf("methadon") == pytest.approx(np.log(1 + (4 - 2 + 0.5) / (2 + 0.5)))


def test_bm25_of_nothing():
    empty = BM25(iter([]))
    assert empty.n == 0 and empty.top(["x"], 5) == [] and empty.scores(["x"]).shape == (0,)


def test_bm25_keeps_flat_arrays_not_a_python_object_per_token():
    big = BM25(["methadon", "child", f"term{i % 50}"] * 20 for i in range(2_000))
    assert big.n == 2_000
    assert isinstance(big._docs, np.ndarray) and big._docs.dtype == np.int32 and len(big._docs) == 2_000 * 3
    assert len(big._vocabulary) == 52


def test_library_tokens_are_each_texts_lexical_tokens():
    from assistant.text import lexical_tokens, library_tokens

    texts = ["She's got the parents' pills", "won’t DON'T a-b/c", "", "Injecting carers' methadone box",
             (ROOT / "corpus" / "staffs-stoke-protocol.txt").read_text(encoding="utf-8")]
    assert list(library_tokens(iter(texts))) == [lexical_tokens(t) for t in texts]


# -- the sentence search on HNSW ----------------------------------------------------------------


def _indexes(location, embedder):
    from assistant.retrieve import Index, Retriever
    from assistant.store import Catalog

    catalog = Catalog(location)
    return {mode: Retriever(Index.load(catalog, sentence_search=mode), embedder) for mode in ("exact", "ann")}


@pytest.fixture(scope="module")
def small_location(tmp_path_factory, embedder):
    from assistant.store import StoreLocation
    from ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp("scale")
    location = StoreLocation(root / "data")
    run_ingest([small_corpus(root / "corpus")], location, embedder=embedder)
    return location


def _check_ann_matches_exact(retrievers, embedder) -> None:
    exact, ann = retrievers["exact"], retrievers["ann"]
    assert exact.index.sentence_search == "exact" and ann.index.sentence_search == "ann"
    assert exact.index.sentence_spans == ann.index.sentence_spans
    assert isinstance(ann.index.sentence_vectors, np.memmap)  # rows read from the build's file when touched
    vectors = embedder.embed_documents(QUESTIONS)
    full = exact.sentence_similarities(vectors)
    exact_best, ann_best = exact.best_sentences(vectors), ann.best_sentences(vectors)
    for n in range(len(QUESTIONS)):
        # HNSW is approximate: the best passages agree, with the same scores.
        exact_top = np.argsort(-exact_best[:, n], kind="stable")[:5]
        ann_top = np.argsort(-ann_best[:, n], kind="stable")[:5]
        assert ann_top.tolist() == exact_top.tolist()
        assert ann_best[ann_top, n] == pytest.approx(exact_best[exact_top, n], abs=1e-5)
        assert float(ann_best[:, n].max()) == pytest.approx(float(full[:, n].max()), abs=1e-5)
    # The composer's view: the same numbers, read on demand.
    exact.search_vectors([_q(t) for t in QUESTIONS], vectors, area=None, k=6)
    ann.search_vectors([_q(t) for t in QUESTIONS], vectors, area=None, k=6)
    lazy = ann.sentence_similarities(vectors)
    assert lazy.shape == full.shape and lazy.size == full.size
    rows = [0, 7, len(full) // 2, len(full) - 1]
    for n in range(len(QUESTIONS)):
        column = lazy[:, n]
        assert [column[r] for r in rows] == pytest.approx(full[rows, n].tolist(), abs=1e-5)
        assert column.max() == pytest.approx(float(full[:, n].max()), abs=1e-5)
        assert lazy[rows[1], n] == pytest.approx(float(full[rows[1], n]), abs=1e-5)
    assert ann.sentence_scores(vectors, rows) == pytest.approx(exact.sentence_scores(vectors, rows), abs=1e-5)
    # Several rows at once, as numpy would index them.
    assert lazy[rows, 1] == pytest.approx(full[rows, 1], abs=1e-5)
    assert lazy[:, 2][np.array(rows)] == pytest.approx(full[rows, 2], abs=1e-5)
    assert lazy[rows] == pytest.approx(full[rows], abs=1e-5)
    with pytest.raises(IndexError, match="out of range"):
        lazy[len(full)]


def _q(text):
    from assistant.retrieve import Query

    return Query.parse(text)


@pytest.mark.slow
def test_the_hnsw_sentence_search_agrees_with_the_exact_one(small_location, embedder):
    retrievers = _indexes(small_location, embedder)
    _check_ann_matches_exact(retrievers, embedder)
    build = retrievers["ann"].index.build.id
    files = sorted(p.name for p in (small_location.index_dir / "builds" / build).glob("*-sentences.*"))
    assert files == [f"{build}-sentences.ids", f"{build}-sentences.npy"]  # written once, beside the build


@pytest.mark.slow
def test_answers_from_the_hnsw_sentence_search_cite_verbatim(small_location, embedder):
    from assistant.compose import Composer

    ann = _indexes(small_location, embedder)["ann"]
    for question in QUESTIONS:
        answer = Composer(ann).answer(question)
        extracts = answer.all_extracts()
        assert extracts and not answer.abstained
        for e in extracts:
            assert ann.index.by_id[e.passage_id].text[e.start : e.end] == e.text


def test_a_bad_sentence_search_mode_is_a_clear_error(tmp_path):
    from assistant.retrieve import Index
    from assistant.store import Catalog, StoreLocation

    with pytest.raises(ValueError, match="sentence_search must be auto, exact or ann"):
        Index.load(Catalog(StoreLocation(tmp_path)), sentence_search="fast")


@pytest.mark.server
@pytest.mark.slow
def test_the_hnsw_sentence_search_through_a_chroma_server(tmp_path, embedder):
    from live_servers import PYTHON, free_port, process, wait_for

    from assistant.store import StoreLocation
    from ingest.pipeline import run_ingest

    port = free_port()
    chroma = [str(Path(PYTHON).parent / "chroma"), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1",
              "--port", str(port)]
    with process(chroma, env={"ANONYMIZED_TELEMETRY": "False"}, log=tmp_path / "chroma.log") as proc:
        wait_for(f"http://127.0.0.1:{port}/api/v2/heartbeat", 60, process=proc)
        location = StoreLocation(tmp_path / "data", host="127.0.0.1", port=port)
        run_ingest([small_corpus(tmp_path / "corpus")], location, embedder=embedder)
        _check_ann_matches_exact(_indexes(location, embedder), embedder)
