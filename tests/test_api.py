"""The HTTP API against the real index of the real corpus, through FastAPI's TestClient."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest
from fastapi.testclient import TestClient
from live_servers import free_port, tiny_corpus

from assistant.settings import Settings

pytestmark = pytest.mark.slow

QUESTION = "mum on a methadone script, two kids under five, what should I check?"
CASE_1 = (
    "Imran, 32, is working with me on his heroin problem. His partner Jennifer, 30, drinks frequently but is "
    "not in contact with services. They have two children, David and Misha, aged 3 and 5."
)
CANARY = "zebra-canary-7f3a"


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return Settings(data_dir=tmp_path_factory.mktemp("api-data"))


@pytest.fixture(scope="module")
def client(settings, corpus_assistant):
    from ui.api import create_app

    with TestClient(create_app(settings, assistant=corpus_assistant)) as c:
        yield c


def _check_cited(body: dict, index) -> None:
    """Every citation resolves to its passage; every quote is verbatim at its offsets."""
    assert body["citations"], "a cited answer"
    numbers = {c["n"] for c in body["citations"]}
    for c in body["citations"]:
        passage = index.by_id[c["passage"]["id"]]
        assert c["passage"] == passage.to_dict()
        assert c["label"].startswith(passage.citation_label)
        assert c["quoted"], f"citation [{c['n']}] quotes nothing"
        for q in c["quoted"]:
            assert passage.text[q["start"] : q["end"]] == q["text"]
        assert f"[{c['n']}]" in body["markdown"]
    parts = ([body["urgent"]] if body["urgent"] else []) + body["parts"]
    extracts = [e for p in parts for e in p["extracts"]] + body["checklist"]
    assert extracts
    for e in extracts:
        assert e["citation"] in numbers
        assert index.by_id[e["passage_id"]].text[e["start"] : e["end"]] == e["text"]


@pytest.mark.parametrize("question", [QUESTION, CASE_1], ids=["question", "case"])
def test_ask_gives_a_cited_answer(client, corpus_assistant, question):
    response = client.post("/api/ask", json={"question": question})
    assert response.status_code == 200
    body = response.json()
    assert {"markdown", "citations", "checklist", "urgent", "abstained", "parts", "notices"} <= body.keys()
    assert body["abstained"] is False
    _check_cited(body, corpus_assistant.index)
    assert "**Sources**" in body["markdown"]
    assert response.headers["x-request-id"]


def test_ask_as_trainer_adds_retrieval_ranks(client, corpus_assistant):
    body = client.post("/api/ask", json={"question": QUESTION, "role": "trainer"}).json()
    _check_cited(body, corpus_assistant.index)
    ranked = [c["retrieval"] for c in body["citations"] if c["retrieval"]]
    keys = {"score", "similarity", "dense_rank", "sentence_rank", "lexical_rank", "facet"}
    assert ranked and all(keys <= r.keys() for r in ranked)
    # Every cited passage was found by at least one of the three rankings, and says which.
    assert all(r["dense_rank"] or r["sentence_rank"] or r["lexical_rank"] for r in ranked)


def test_ask_with_an_area(client, corpus_assistant):
    area = "Bedford Borough, Central Bedfordshire and Luton"
    body = client.post("/api/ask", json={"question": QUESTION, "area": area, "role": "manager"}).json()
    assert body["area"] == area
    _check_cited(body, corpus_assistant.index)


def test_a_question_the_sources_do_not_cover_abstains(client):
    body = client.post("/api/ask", json={"question": "What is the capital of Peru?"}).json()
    assert body["abstained"] is True
    assert body["citations"] == []
    assert "do not cover" in body["markdown"]


def test_search(client, corpus_assistant):
    query = "safe storage of methadone at home"
    response = client.post("/api/search", json={"query": query, "k": 5})
    assert response.status_code == 200
    hits = response.json()["hits"]
    assert len(hits) == 5
    expected = corpus_assistant.search(query, k=5)
    assert [h["passage"] for h in hits] == [h.passage.to_dict() for h in expected]
    assert [h["retrieval"]["score"] for h in hits] == [round(h.score, 6) for h in expected]


def test_documents(client, corpus_assistant):
    body = client.get("/api/documents").json()
    index = corpus_assistant.index
    assert body["documents"] == [d.to_dict() for d in index.documents]
    assert body["areas"] == index.areas


def test_document_by_id(client, corpus_assistant):
    doc = corpus_assistant.index.documents[0]
    body = client.get(f"/api/documents/{doc.id}").json()
    expected = [p.id for p in corpus_assistant.index.passages if p.doc_id == doc.id]
    assert body["document"] == doc.to_dict()
    assert [p["id"] for p in body["passages"]] == expected
    orders = [p["order"] for p in body["passages"]]
    assert orders == sorted(orders)


def test_unknown_document_is_404(client):
    response = client.get("/api/documents/no-such-document")
    assert response.status_code == 404
    assert "No document" in response.json()["detail"]


def test_health(client, corpus_assistant):
    body = client.get("/api/health").json()
    index = corpus_assistant.index
    assert body["status"] == "ready"
    assert (body["build"], body["documents"], body["passages"]) == (
        index.record["build"], len(index.documents), len(index.passages))


def test_openapi_docs(client):
    page = client.get("/docs")
    assert page.status_code == 200
    # Swagger UI comes from this machine, not from a CDN
    assert "cdn" not in page.text.lower() and "/docs-static/swagger-ui-bundle.js" in page.text
    assert client.get("/docs-static/swagger-ui-bundle.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/search", "/api/documents", "/api/documents/{doc_id}", "/api/health",
            "/api/feedback", "/api/sources", "/api/sources/{source_id}", "/api/sources/jobs/{job_id}",
            "/api/sources/proposal", "/api/passages/{passage_id}/page"} <= paths.keys()


def test_every_route_describes_its_response(client):
    """Each route's success response names a model (or is an image), so clients know what comes back."""
    schema = client.get("/openapi.json").json()
    models = schema["components"]["schemas"]
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            code = next(c for c in operation["responses"] if c.startswith("2"))
            (media, body), = operation["responses"][code]["content"].items()
            if media == "image/png":
                continue
            ref = body["schema"].get("$ref", "")
            assert ref.startswith("#/components/schemas/"), (method, path, body)
            assert models[ref.rsplit("/", 1)[1]]["properties"], (method, path)


# -- bad input: a clear 4xx, and never the question back ---------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/ask", {"question": ""}, 422),
        ("/api/ask", {"question": "   \n  "}, 422),
        ("/api/ask", {"question": CANARY + "x" * (4001 - len(CANARY))}, 422),
        ("/api/ask", {"question": CANARY, "role": "boss"}, 422),
        ("/api/ask", {"question": CANARY, "mode": "poetry"}, 422),
        ("/api/ask", {"area": "Wales"}, 422),
        ("/api/ask", [CANARY], 422),
        ("/api/search", {"query": ""}, 422),
        ("/api/search", {"query": CANARY, "k": 0}, 422),
        ("/api/search", {"query": CANARY, "k": 51}, 422),
        ("/api/feedback", {"rating": "meh", "passage_ids": [], "question": CANARY}, 422),
        ("/api/feedback", {"rating": "up", "passage_ids": [CANARY + " <script>"]}, 422),
    ],
    ids=["empty", "blank", "4001-chars", "bad-role", "bad-mode", "no-question", "not-an-object", "empty-query",
         "k-0", "k-51", "bad-rating", "bad-passage-id"],
)
def test_bad_input_is_a_clear_4xx_without_the_input(client, path, body, status):
    response = client.post(path, json=body)
    assert response.status_code == status
    assert response.json()["detail"]
    assert CANARY not in response.text


def test_bad_json_is_422(client):
    response = client.post("/api/ask", content=b'{"question": "' + CANARY.encode() + b'",',
                           headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
    assert CANARY not in response.text


def test_unknown_area_is_422_listing_the_known_ones(client, corpus_assistant):
    response = client.post("/api/ask", json={"question": CANARY + " methadone storage", "area": "Atlantis"})
    assert response.status_code == 422
    body = response.json()
    assert body["known_areas"] == corpus_assistant.index.areas
    for area in corpus_assistant.index.areas:
        assert area in body["detail"]
    assert CANARY not in response.text
    search = client.post("/api/search", json={"query": "methadone", "area": "Atlantis"})
    assert search.status_code == 422 and search.json()["known_areas"] == corpus_assistant.index.areas


def test_oversized_body_is_413(client):
    big = json.dumps({"question": CANARY + "x" * 100_000}).encode()
    response = client.post("/api/ask", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert CANARY not in response.text


def test_oversized_body_without_a_length_is_413(client):
    def chunks():  # sent chunked: no Content-Length, so the body itself is counted
        for _ in range(10):
            yield b"x" * 10_000

    response = client.post("/api/ask", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


def test_the_question_never_reaches_the_logs(client, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    question = f"{CANARY}: dad drinks every evening and the children are 4 and 7, what should I look for?"
    assert client.post("/api/ask", json={"question": question}).status_code == 200
    assert client.post("/api/search", json={"query": question}).status_code == 200
    assert client.post("/api/ask", json={"question": question, "area": "Atlantis"}).status_code == 422
    assert client.post("/api/ask", json={"question": question + "x" * 4000}).status_code == 422
    assert client.post("/api/feedback", json={"rating": "up", "question": question}).status_code == 200
    captured = capsys.readouterr()
    assert CANARY not in caplog.text + captured.out + captured.err
    access = [r.getMessage() for r in caplog.records if r.name == "hha.api"]
    assert any(re.fullmatch(r"[0-9a-f]{12} POST /api/ask 200 \d+ms", line) for line in access), access
    assert any(re.fullmatch(r"[0-9a-f]{12} POST /api/ask 422 \d+ms", line) for line in access), access


# -- feedback ---------------------------------------------------------------------------------------


def _feedback_lines(settings) -> list[dict]:
    path = settings.data_dir / "feedback.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def test_feedback_keeps_no_question_unless_asked(client, settings, corpus_assistant):
    ids = [p.id for p in corpus_assistant.index.passages[:2]]
    before = len(_feedback_lines(settings))
    response = client.post("/api/feedback", json={"rating": "down", "passage_ids": ids, "question": CANARY,
                                                  "store_question": False})
    assert response.json() == {"stored": True, "question_stored": False}
    line = _feedback_lines(settings)[before]
    assert (line["rating"], line["passage_ids"], "question" in line) == ("down", ids, False)
    assert line["build"] == corpus_assistant.index.record["build"]
    assert CANARY not in (settings.data_dir / "feedback.jsonl").read_text(encoding="utf-8")

    response = client.post("/api/feedback", json={"rating": "up", "passage_ids": ids, "question": CANARY,
                                                  "store_question": True})
    assert response.json() == {"stored": True, "question_stored": True}
    assert _feedback_lines(settings)[before + 1]["question"] == CANARY


# -- a token, and where the service may listen ------------------------------------------------------------


def test_bearer_token_when_configured(tmp_path, corpus_assistant):
    from ui.api import create_app

    app = create_app(Settings(data_dir=tmp_path, api_token="s3cret-token"), assistant=corpus_assistant)
    with TestClient(app) as c:
        assert c.post("/api/ask", json={"question": QUESTION}).status_code == 401
        assert c.get("/api/documents", headers={"Authorization": "Bearer wrong"}).status_code == 401
        denied = c.post("/api/feedback", json={"rating": "up"})
        assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
        ok = {"Authorization": "Bearer s3cret-token"}
        assert c.get("/api/documents", headers=ok).status_code == 200
        assert c.post("/api/ask", json={"question": QUESTION}, headers=ok).status_code == 200
        assert c.get("/api/health").status_code == 200  # readiness stays open; it shows no content
    assert not (tmp_path / "feedback.jsonl").exists()


def test_refuses_to_listen_beyond_loopback_without_a_token(tmp_path):
    from ui.api import UnsafeBindError, is_loopback, serve

    with pytest.raises(UnsafeBindError, match="HHA_API_TOKEN"):
        serve(Settings(data_dir=tmp_path), host="0.0.0.0", port=1)
    assert [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "192.168.1.5", "example.org")] == [
        True, True, True, False, False, False]


# -- no index yet: built in the background, 503 meanwhile ------------------------------------------------


def test_builds_a_missing_index_in_the_background(tmp_path, embedder):
    from assistant.core import Assistant
    from assistant.store import Catalog, StoreLocation
    from ui.api import create_app

    corpus = tiny_corpus(tmp_path / "corpus")
    location = StoreLocation(tmp_path / "data")
    settings = Settings(data_dir=location.data_dir, corpus_dir=corpus)
    lock = Catalog(location).write_lock()
    lock.__enter__()  # another writer holds the index: the build waits, so "building" can be seen
    try:
        with TestClient(create_app(settings, assistant=Assistant(location, embedder=embedder))) as c:
            health = c.get("/api/health").json()
            assert health["status"] == "building" and "progress" in health
            busy = c.post("/api/ask", json={"question": CANARY + " where is methadone kept?"})
            assert busy.status_code == 503 and "being built" in busy.json()["detail"]
            assert CANARY not in busy.text
            lock.__exit__(None, None, None)
            deadline = time.monotonic() + 120
            while c.get("/api/health").json()["status"] != "ready" and time.monotonic() < deadline:
                time.sleep(0.2)
            health = c.get("/api/health").json()
            assert (health["status"], health["documents"]) == ("ready", 1)
            body = c.post("/api/ask", json={"question": "where should methadone be kept at home?"}).json()
            assert any("locked box" in cited["passage"]["text"] for cited in body["citations"])
    finally:
        lock.__exit__(None, None, None)


def test_a_store_that_cannot_be_opened_is_reported_not_raised(tmp_path):
    from ui.api import create_app

    settings = Settings(data_dir=tmp_path, chroma_host="127.0.0.1", chroma_port=free_port())  # no server there
    with TestClient(create_app(settings)) as c:
        health = c.get("/api/health").json()
        assert health["status"] == "failed" and "Chroma" in health["detail"]
        response = c.post("/api/ask", json={"question": CANARY + " methadone"})
        assert response.status_code == 503 and "not available" in response.json()["detail"]
        assert CANARY not in response.text
