"""The source library over HTTP, with the real model and a real Chroma index over a temporary
copy of part of the corpus: a generated PDF protocol is uploaded, found, answered from, shown
as its printed page and removed; a token guards it; an upload over the limit is a 413; a
second change while one runs is a 409; a corrupt or unreadable upload is a 4xx and changes
nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.settings import Settings
from assistant.store import Catalog, StoreLocation
from ingest.manifest import MANIFEST_NAME
from tests.protocols import DAYTIME, OUT_OF_HOURS, make_protocol_pdf
from tests.support import small_corpus

pytestmark = pytest.mark.slow

STEMS = ("practice-tips-parental-drug-use", "beds-luton-guidance-2017")
OUT_OF_HOURS_Q = "Who do I ring out of hours about a child at risk?"
TOKEN = "library-token-5c1e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def built(tmp_path_factory, embedder):
    """A small library and its index, built once; each test works on its own copy."""
    from ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp("library")
    corpus = small_corpus(root / "corpus", STEMS)
    run_ingest([corpus], StoreLocation(root / "data"), manifest_dirs=[corpus], embedder=embedder)
    return root


@pytest.fixture
def library(built, tmp_path, embedder):
    """(client, settings) over a fresh copy of the small library and its index (token set)."""
    import shutil

    from assistant.core import Assistant
    from ui.api import create_app

    shutil.copytree(built / "corpus", tmp_path / "corpus")
    shutil.copytree(built / "data", tmp_path / "data")
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=tmp_path / "corpus", api_token=TOKEN,
                        max_upload_mb=0.2)
    with TestClient(create_app(settings, assistant=Assistant(settings.store, embedder=embedder))) as client:
        yield client, settings


def _state(settings: Settings) -> tuple:
    """What a failed change must leave as it was: the folder, the manifest, the live build."""
    folder = settings.corpus_dir
    return (sorted(p.name for p in folder.iterdir()), (folder / MANIFEST_NAME).read_text(encoding="utf-8"),
            Catalog(settings.store).current_id())


def _upload(client, path: Path, **fields):
    with open(path, "rb") as f:
        return client.post("/api/sources", files={"file": (path.name, f.read())}, data=fields, headers=AUTH)


def _wait(client, job_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/sources/jobs/{job_id}", headers=AUTH).json()
        if job["state"] != "running":
            return job
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} still running after {timeout} s")


def _urgent_text(body: dict) -> str:
    return " ".join(e["text"] for e in (body["urgent"] or {"extracts": []})["extracts"])


def test_upload_answer_page_and_remove(library, tmp_path):
    client, settings = library
    before = _state(settings)
    ids_before = {s["id"] for s in client.get("/api/sources", headers=AUTH).json()["sources"]}
    answer_before = client.post("/api/ask", json={"question": OUT_OF_HOURS_Q}, headers=AUTH).json()
    assert OUT_OF_HOURS not in answer_before["markdown"]

    pdf = make_protocol_pdf(tmp_path / "northmoor.pdf")
    proposal = client.post("/api/sources/proposal", files={"file": ("northmoor.pdf", pdf.read_bytes())},
                           headers=AUTH).json()
    assert (proposal["area"], proposal["places"], proposal["version"], proposal["review_date"], proposal["pages"]) == (
        "Northmoor", ["Northmoor"], "2.0", "March 2029", 2)
    assert _state(settings) == before  # proposing changes nothing

    response = _upload(client, pdf, area="Northmoor", places="Northmoor, North Moor", kind="local protocol")
    assert response.status_code == 202, response.text
    job = _wait(client, response.json()["id"])
    assert job["state"] == "done", job
    assert (job["action"], job["added"]) == ("add", ["northmoor"])
    northmoor = next(f for f in job["report"]["files"] if f["doc_id"] == "northmoor")
    assert (northmoor["checklist_items"], northmoor["pages"]) == (5, 2)

    listing = client.get("/api/sources", headers=AUTH).json()
    rows = {s["id"]: s for s in listing["sources"]}
    assert set(rows) == ids_before | {"northmoor"} and listing["job"] is None
    row = rows["northmoor"]
    assert (row["area"], row["places"], row["kind"], row["version"], row["date"], row["review_date"]) == (
        "Northmoor", ["Northmoor", "North Moor"], "local protocol", "2.0", "March 2024", "March 2029")
    assert (row["pages"], row["checklist_items"], row["past_review"], row["in_library"]) == (2, 5, False, True)
    assert rows["beds-luton-guidance-2017"]["past_review"] is False or rows["beds-luton-guidance-2017"]["review_date"]

    body = client.post("/api/ask", json={"question": OUT_OF_HOURS_Q, "area": "Northmoor"}, headers=AUTH).json()
    assert OUT_OF_HOURS in _urgent_text(body) and DAYTIME in _urgent_text(body)
    cited = next(c for c in body["citations"] if OUT_OF_HOURS in c["passage"]["text"])
    quote = next(q for q in cited["quoted"] if OUT_OF_HOURS in q["text"])
    page = client.get(f"/api/passages/{cited['passage']['id']}/page", params={"span": f"{quote['start']}:{quote['end']}"},
                      headers=AUTH)
    assert page.status_code == 200 and page.headers["content-type"] == "image/png"
    assert page.content.startswith(b"\x89PNG") and page.headers["x-page"] == "1"
    assert page.headers["x-highlighted"] == "true" and float(page.headers["x-quote-found"]) >= 0.5
    cache = list((settings.data_dir / "cache" / "pages").glob("*.png"))
    assert len(cache) == 1 and cache[0].read_bytes() == page.content
    again = client.get(f"/api/passages/{cited['passage']['id']}/page",
                       params={"span": f"{quote['start']}:{quote['end']}"}, headers=AUTH)
    assert again.content == page.content  # from the cache
    txt = next(c for c in answer_before["citations"])
    assert client.get(f"/api/passages/{txt['passage']['id']}/page", headers=AUTH).status_code == 404

    # a new version in its place: it inherits the area, and the old one's passages go
    v3 = make_protocol_pdf(tmp_path / "northmoor-v3.pdf", version="3.0", issued="May 2025")
    replaced = _upload(client, v3, replaces="northmoor")
    assert replaced.status_code == 202 and replaced.json()["action"] == "replace"
    job = _wait(client, replaced.json()["id"])
    assert (job["state"], job["added"], job["removed"]) == ("done", ["northmoor-v3"], ["northmoor"])
    rows = {s["id"]: s for s in client.get("/api/sources", headers=AUTH).json()["sources"]}
    assert set(rows) == ids_before | {"northmoor-v3"}
    assert (rows["northmoor-v3"]["area"], rows["northmoor-v3"]["places"], rows["northmoor-v3"]["version"]) == (
        "Northmoor", ["Northmoor", "North Moor"], "3.0")

    removed = client.delete("/api/sources/northmoor-v3", headers=AUTH)
    assert removed.status_code == 202
    assert _wait(client, removed.json()["id"])["state"] == "done"
    assert {s["id"] for s in client.get("/api/sources", headers=AUTH).json()["sources"]} == ids_before
    assert _state(settings)[:2] == before[:2]
    after = client.post("/api/ask", json={"question": OUT_OF_HOURS_Q}, headers=AUTH).json()
    assert after["markdown"] == answer_before["markdown"]


def test_the_library_needs_the_token(library, tmp_path):
    client, settings = library
    pdf = make_protocol_pdf(tmp_path / "northmoor.pdf")
    before = _state(settings)
    for method, path in (("GET", "/api/sources"), ("DELETE", "/api/sources/practice-tips-parental-drug-use"),
                         ("GET", "/api/sources/jobs/0123456789ab"), ("GET", "/api/passages/x/page")):
        assert client.request(method, path).status_code == 401, path
    anonymous = client.post("/api/sources", files={"file": ("northmoor.pdf", pdf.read_bytes())})
    assert anonymous.status_code == 401
    wrong = client.get("/api/sources", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert _state(settings) == before
    assert client.get("/api/sources", headers=AUTH).status_code == 200


def test_an_upload_over_the_limit_is_413(library, tmp_path):
    client, settings = library
    before = _state(settings)
    big = tmp_path / "big.txt"
    big.write_text("Practitioners should ask where medication is kept. " * 6000, encoding="utf-8")  # ~300 KB
    response = _upload(client, big, area="Bigtown")
    assert response.status_code == 413
    assert "over 0.2 MB" in response.json()["detail"] and "HHA_MAX_UPLOAD_MB" in response.json()["detail"]
    assert _state(settings) == before


@pytest.mark.parametrize(("name", "content", "status", "says"), [
    ("broken.pdf", b"%PDF-1.4 not really a pdf" * 10, 422, "broken.pdf cannot be added"),
    ("empty.txt", b"", 422, "empty"),
    ("binary.txt", b"\x00\x01\x02" * 100, 422, "binary file"),
    ("protocol.docx", b"PK\x03\x04 word", 415, "Unsupported file type .docx"),
], ids=["corrupt-pdf", "empty", "binary-as-text", "docx"])
def test_an_unreadable_upload_is_a_clear_4xx_and_changes_nothing(library, name, content, status, says):
    client, settings = library
    before = _state(settings)
    response = client.post("/api/sources", files={"file": (name, content)}, data={"area": "Nowhere"}, headers=AUTH)
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]
    assert _state(settings) == before
    assert not list((settings.data_dir / "uploads").glob("*/*")) if (settings.data_dir / "uploads").exists() else True


def test_a_second_change_while_one_runs_is_409(library, tmp_path, monkeypatch):
    from ingest.library import Library

    client, settings = library
    release, entered = threading.Event(), threading.Event()
    original = Library.add

    def held(self, *args, **kwargs):
        entered.set()
        assert release.wait(60)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Library, "add", held)
    first = _upload(client, make_protocol_pdf(tmp_path / "northmoor.pdf"), area="Northmoor")
    assert first.status_code == 202 and entered.wait(30)
    try:
        second = _upload(client, make_protocol_pdf(tmp_path / "eastdale.pdf", area="Eastdale"), area="Eastdale")
        assert second.status_code == 409
        assert "northmoor.pdf" in second.json()["detail"] and second.json()["job"]["id"] == first.json()["id"]
        assert client.delete("/api/sources/practice-tips-parental-drug-use", headers=AUTH).status_code == 409
        running = client.get("/api/sources", headers=AUTH).json()["job"]
        assert (running["id"], running["state"]) == (first.json()["id"], "running")
        assert client.post("/api/ask", json={"question": OUT_OF_HOURS_Q}, headers=AUTH).status_code == 200
    finally:
        release.set()
    assert _wait(client, first.json()["id"])["state"] == "done"
    assert not (settings.corpus_dir / "eastdale.pdf").exists()


def test_a_failed_ingest_leaves_the_library_as_it_was_and_says_why(library, tmp_path, monkeypatch):
    client, settings = library
    before = _state(settings)

    def crash(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr("ingest.library.build_locked", crash)
    response = _upload(client, make_protocol_pdf(tmp_path / "northmoor.pdf"), area="Northmoor")
    assert response.status_code == 202
    job = _wait(client, response.json()["id"])
    assert job["state"] == "failed" and "No space left on device" in job["detail"] and "unchanged" in job["detail"]
    assert _state(settings) == before
    assert client.get("/api/sources/jobs/ffffffffffff", headers=AUTH).status_code == 404
    assert client.delete("/api/sources/not-there", headers=AUTH).status_code == 404
    replaces_nothing = _upload(client, make_protocol_pdf(tmp_path / "v2.pdf"), replaces="not-there")
    assert replaces_nothing.status_code == 404 and "not-there" in replaces_nothing.json()["detail"]


def test_the_report_flags_hidden_text_and_the_listing_keeps_the_warning(library, tmp_path):
    from tests.support import PLANTED, make_poisoned_pdf

    client, _ = library
    pdf = make_poisoned_pdf(tmp_path / "poisoned-protocol.pdf")
    job = _wait(client, _upload(client, pdf, area="Eastdale").json()["id"])
    assert job["state"] == "done", job
    warnings = next(f for f in job["report"]["files"] if f["doc_id"] == "poisoned-protocol")["warnings"]
    assert any("hidden text not indexed" in w and "white text" in w for w in warnings), warnings
    row = next(s for s in client.get("/api/sources", headers=AUTH).json()["sources"] if s["id"] == "poisoned-protocol")
    assert row["warnings"] == warnings
    texts = client.get("/api/documents/poisoned-protocol", headers=AUTH).json()["passages"]
    assert not any(planted in p["text"] for p in texts for planted in PLANTED.values())
