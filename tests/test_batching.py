"""Concurrent answers share model calls: the batcher hands each caller its own rows and runs
at most `lanes` calls at once; a query's vector is the same bit for bit whether it is embedded
alone, packed with other queries, or with other requests; and concurrent answers equal the
ones given one at a time."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from assistant.batching import Batcher


def _rows(texts: list[str]) -> np.ndarray:
    return np.array([[len(t), sum(map(ord, t))] for t in texts], dtype=np.float32)


def _groups(groups: list[list[str]]) -> list[np.ndarray]:
    return [_rows(g) for g in groups]


def test_one_caller_runs_at_once_and_gets_its_rows():
    batcher = Batcher(_groups, lanes=1)
    started = time.perf_counter()
    assert np.array_equal(batcher.run(["ab", "c"]), _rows(["ab", "c"]))
    assert time.perf_counter() - started < 0.5
    assert (batcher.calls, batcher.texts) == (1, 2)


def test_callers_waiting_for_a_busy_lane_share_the_next_call():
    gate, inside = threading.Event(), threading.Event()
    seen: list[list[str]] = []

    def slow(groups):
        seen.append([t for g in groups for t in g])
        inside.set()
        gate.wait(10)
        return _groups(groups)

    batcher = Batcher(slow, lanes=1, max_texts=32)
    results: dict[str, np.ndarray] = {}
    first = threading.Thread(target=lambda: results.update(first=batcher.run(["first"])))
    first.start()
    assert inside.wait(10)
    texts = [f"text {i}" * (i + 1) for i in range(6)]
    others = [threading.Thread(target=lambda t=t: results.update({t: batcher.run([t, t + "!"])})) for t in texts]
    for t in others:
        t.start()
    deadline = time.monotonic() + 10
    while len(batcher._waiting) < len(texts) and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.set()
    for t in [first, *others]:
        t.join(10)
    assert batcher.calls == 2  # the first alone, then all six waiting together
    assert sorted(seen[1]) == sorted(x for t in texts for x in (t, t + "!"))
    for t in texts:
        assert np.array_equal(results[t], _rows([t, t + "!"]))
    assert np.array_equal(results["first"], _rows(["first"]))


def test_no_more_calls_at_once_than_lanes_and_batches_are_bounded():
    lock = threading.Lock()
    running, most, sizes = [0], [0], []

    def counted(groups):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            sizes.append(sum(len(g) for g in groups))
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return _groups(groups)

    batcher = Batcher(counted, lanes=2, max_texts=4)
    threads = [threading.Thread(target=batcher.run, args=([f"q{i}"],)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert most[0] == 2
    assert max(sizes) <= 4 and sum(sizes) == 24


def test_an_error_reaches_every_caller_of_that_call_and_the_batcher_goes_on():
    def fails(groups):
        if ["bad"] in groups:
            raise RuntimeError("model failed")
        return _groups(groups)

    batcher = Batcher(fails)
    with pytest.raises(RuntimeError, match="model failed"):
        batcher.run(["bad"])
    assert np.array_equal(batcher.run(["good"]), _rows(["good"]))


@pytest.mark.parametrize("lanes, max_texts", [(0, 4), (1, 0)])
def test_bad_sizes_are_clear_errors(lanes, max_texts):
    with pytest.raises(ValueError, match="at least 1"):
        Batcher(_groups, lanes=lanes, max_texts=max_texts)


# -- the real model ----------------------------------------------------------------------------

TEXTS = [
    "hi",  # 3 word pieces: embedded alone (see assistant.embed.PACK_FROM_TOKENS)
    "naloxone",
    "where should methadone be kept at home?",
    "mum on a methadone script, two kids under five, what should I check?",
    "Dad drinks most evenings; the eldest (9) gets her brothers to school and the school says she is often late "
    "and tired. Mum works nights. What should the health visitor ask at the next contact?",
    " ".join(["the parent is drinking heavily and the children are not being supervised"] * 30),  # over 256 pieces
]


@pytest.fixture(scope="module")
def one_thread_embedder():
    """An embedder as the service runs it: torch on one thread (restored afterwards)."""
    import torch

    from assistant.embed import Embedder

    threads = torch.get_num_threads()
    embedder = Embedder(threads=1, lanes=2).load()
    yield embedder
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_vectors_are_those_of_sentence_transformers_bit_for_bit_however_requests_are_packed(one_thread_embedder):
    embedder = one_thread_embedder
    model = embedder._model  # sentence-transformers itself, as ingest uses it
    assert embedder.packs_exactly
    alone = np.vstack([model.encode([t], normalize_embeddings=True) for t in TEXTS])
    assert np.array_equal(np.vstack([embedder.embed_query(t) for t in TEXTS]), alone)
    # An answer's queries, each as encode() makes it alone: no padding to the longest of them.
    requests = [TEXTS[2:5], TEXTS[:2], TEXTS[5:], TEXTS[3:4], TEXTS[::-1]]
    batches = [np.vstack([model.encode([t], normalize_embeddings=True) for t in r]) for r in requests]
    for request, batch in zip(requests, batches, strict=True):
        assert np.array_equal(embedder.embed_queries(request), batch)
    for got, batch in zip(embedder._embed_groups(requests), batches, strict=True):  # all in one model call
        assert np.array_equal(got, batch)
    assert embedder.embed_queries([]).shape == (0, 384)


@pytest.mark.slow
def test_index_texts_are_embedded_as_each_alone_without_padding(one_thread_embedder, monkeypatch):
    import torch

    import assistant.embed

    embedder = one_thread_embedder
    model = embedder._model
    texts = TEXTS + [t.upper() for t in TEXTS[2:]] + ["the same text twice", "the same text twice"]
    monkeypatch.setattr(assistant.embed, "INDEX_CALL_PIECES", 60)  # several calls, shared by the lanes
    done: list[int] = []
    torch.set_num_threads(2)
    try:
        got = embedder.embed_each(texts, progress=done.append)
        assert torch.get_num_threads() == 2  # the caller's setting is given back
    finally:
        torch.set_num_threads(1)
    alone = np.vstack([model.encode([t], normalize_embeddings=True) for t in texts])
    assert np.array_equal(got, alone) and sum(done) == len(texts) and len(done) > 2
    # Within float rounding of a padded batch, as ingest embedded before: an index built either way is the same.
    assert np.allclose(got, model.encode(texts, batch_size=64, normalize_embeddings=True), atol=1e-6, rtol=0)
    assert embedder.embed_each([]).shape == (0, 384)


@pytest.mark.slow
def test_concurrent_answers_equal_sequential_ones_and_share_model_calls(one_thread_embedder, corpus_location):
    from assistant.core import Assistant
    from evals.bench import pick_questions

    assistant = Assistant(corpus_location, embedder=one_thread_embedder)
    questions = pick_questions(24)

    def answer(q) -> dict:
        return {k: v for k, v in assistant.answer(q.question, area=q.area).to_dict().items() if k != "timings_ms"}

    sequential = [answer(q) for q in questions]
    batcher = one_thread_embedder.batcher
    calls, texts = batcher.calls, batcher.texts
    concurrent: dict[int, dict] = {}
    start = threading.Barrier(8, timeout=30)

    def client(first: int) -> None:
        start.wait()
        for i in range(first, len(questions), 8):
            concurrent[i] = answer(questions[i])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [concurrent[i] for i in range(len(questions))] == sequential
    assert batcher.calls - calls < len(questions), "concurrent answers never shared a model call"
    assert batcher.texts - texts >= len(questions)


def test_query_lanes_leave_a_core_to_the_rest_of_an_answer(monkeypatch):
    from assistant.embed import query_lanes

    monkeypatch.delenv("HHA_QUERY_LANES", raising=False)
    for cores, lanes in ((None, 1), (1, 1), (2, 1), (8, 7)):
        monkeypatch.setattr("os.cpu_count", lambda cores=cores: cores)
        assert query_lanes() == lanes
    for value, lanes in (("3", 3), ("0", 7), ("two", 7), ("", 7)):
        monkeypatch.setenv("HHA_QUERY_LANES", value)
        assert query_lanes() == lanes
