"""The source library end to end through the CLI, with the real model and a real Chroma index:
a generated PDF protocol of a fictional area is added, found, answered from, replaced and
removed. Then the pieces: manifest writing, what a document says of itself, failed changes
left undone, the vectors reused by content hash."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from assistant.core import Assistant
from assistant.render import to_markdown
from assistant.store import Catalog, StoreLocation
from assistant.text import PHONE
from ingest.library import Library, LibraryError
from ingest.manifest import MANIFEST_NAME, with_entry, without_entry
from tests.protocols import DAYTIME, OUT_OF_HOURS, make_protocol_pdf, protocol_pages
from tests.support import FakeEmbedder, small_corpus

ROOT = Path(__file__).resolve().parent.parent
BEDS = "Bedford Borough, Central Bedfordshire and Luton"
STEMS = ("practice-tips-parental-drug-use", "beds-luton-guidance-2017")
OUT_OF_HOURS_Q = "Who do I ring out of hours about a child at risk?"
QUESTIONS = [line for kind, line in protocol_pages()[1] if kind == "bullet"]


@pytest.fixture
def cli(monkeypatch, tmp_path, embedder, capsys):
    """`hha` in this process (so the session's model is reused) over a library of its own."""
    from ui import cli as cli_module

    corpus = small_corpus(tmp_path / "corpus", STEMS)
    data = tmp_path / "data"
    monkeypatch.setenv("HHA_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("HHA_DATA_DIR", str(data))
    monkeypatch.setattr("ingest.pipeline.Embedder", lambda: embedder)
    monkeypatch.setattr("assistant.core.Embedder", lambda threads=None, lanes=None: embedder)

    def run(*args: str) -> str:
        code = cli_module.main(list(args))
        out = capsys.readouterr()
        assert code == 0, out.err
        return out.out

    run.corpus, run.location = corpus, StoreLocation(data)
    return run


def _ask(location: StoreLocation, embedder, question: str, area: str | None = None):
    assistant = Assistant(location, embedder=embedder)
    return assistant, assistant.answer(question, area=area)


def _unlabelled_foreign_numbers(markdown: str, own: set[str]) -> list[str]:
    """Lines of an answer that show a telephone number not of the user's area, without saying whose."""
    return [line for line in markdown.splitlines()
            if any(m.group(0) not in own for m in PHONE.finditer(line)) and "not your area" not in line]


def _comparable(answer) -> dict:
    d = answer.to_dict()
    d.pop("timings_ms")
    return d


@pytest.mark.slow
def test_a_local_protocol_added_through_the_cli_is_found_answered_replaced_and_removed(cli, embedder, tmp_path):
    cli("ingest")
    before_sources = {d["id"] for d in _sources(cli)}
    _, before = _ask(cli.location, embedder, OUT_OF_HOURS_Q, area=BEDS)
    assert before.urgent and "0300 300 8123" in " ".join(e.text for e in before.urgent.extracts)

    # -- add, with no flags: the area is proposed from the document and said
    (tmp_path / "incoming").mkdir()
    pdf = make_protocol_pdf(tmp_path / "incoming" / "northmoor.pdf")
    out = cli("ingest", str(pdf))
    assert "assumed area: Northmoor" in out and "Northmoor Safeguarding Children Partnership" in out
    assert re.search(r"vectors: \d+ embedded, \d+ reused", out)
    rows = {r["id"]: r for r in _sources(cli)}
    assert set(rows) == before_sources | {"northmoor"}  # the other sources are still there
    assert (rows["northmoor"]["area"], rows["northmoor"]["kind"], rows["northmoor"]["pages"]) == (
        "Northmoor", "local protocol", 2)
    assert rows["northmoor"]["checklist_items"] == 5 and rows["northmoor"]["version"] == "2.0"
    assert rows["northmoor"]["review_date"] == "March 2029" and rows["northmoor"]["added"]
    assert (cli.corpus / "northmoor.pdf").exists()
    listing = cli("sources")
    assert "northmoor" in listing and "checklist items: 5" in listing

    # -- the area is known at once: the picker's list, place detection, and its route
    assistant, with_area = _ask(cli.location, embedder, OUT_OF_HOURS_Q, area="Northmoor")
    assert "Northmoor" in assistant.index.areas and "Northmoor" in assistant.index.local_areas
    for answer in (with_area, assistant.answer("I work in Northmoor. " + OUT_OF_HOURS_Q)):
        assert answer.area == "Northmoor"
        assert answer.urgent is not None and answer.urgent.note is None
        urgent_text = " ".join(e.text for e in answer.urgent.extracts)
        assert OUT_OF_HOURS in urgent_text and DAYTIME in urgent_text
        cited = {c.n: c.passage for c in answer.citations}
        assert {cited[e.citation].area for e in answer.urgent.extracts} == {"Northmoor"}
        assert _unlabelled_foreign_numbers(to_markdown(answer), {OUT_OF_HOURS, DAYTIME}) == []
    bank = [i.text for i in assistant.index.checklist if i.doc_id == "northmoor"]
    assert bank == QUESTIONS
    assert {i.topic for i in assistant.index.checklist if i.doc_id == "northmoor"} == {
        "3. Questions for drug and alcohol workers"}
    md = cli("ask", "--area", "Northmoor", OUT_OF_HOURS_Q)
    assert md.index(OUT_OF_HOURS) < md.index("**Sources**")

    # -- a new version replaces it in one build: no duplicate passages left behind
    v3 = make_protocol_pdf(tmp_path / "incoming" / "northmoor-protocol-v3.pdf", version="3.0", issued="May 2025",
                           extra="This version adds the new referral hub hours.")
    out = cli("ingest", str(v3), "--replaces", "northmoor")
    rows = {r["id"]: r for r in _sources(cli)}
    assert set(rows) == before_sources | {"northmoor-protocol-v3"}
    assert rows["northmoor-protocol-v3"]["area"] == "Northmoor" and rows["northmoor-protocol-v3"]["version"] == "3.0"
    assert not (cli.corpus / "northmoor.pdf").exists()
    index = Assistant(cli.location, embedder=embedder).index
    texts = [p.text for p in index.passages]
    assert len({p.id for p in index.passages}) == len(index.passages)
    assert {p.doc_id for p in index.passages} == before_sources | {"northmoor-protocol-v3"}
    assert sum(OUT_OF_HOURS in t for t in texts) == 1  # the old version's passages are gone
    assert sum(i.doc_id == "northmoor-protocol-v3" for i in index.checklist) == 5
    assert "This version adds the new referral hub hours." in " ".join(texts)

    # -- removing it restores the previous answers
    out = cli("sources", "remove", "northmoor-protocol-v3", "--yes")
    assert "removed northmoor-protocol-v3" in out
    assert {d["id"] for d in _sources(cli)} == before_sources
    manifest = tomllib.loads((cli.corpus / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert set(manifest) == set(STEMS)
    assistant, after = _ask(cli.location, embedder, OUT_OF_HOURS_Q, area=BEDS)
    assert "Northmoor" not in assistant.index.areas
    assert _comparable(after) == _comparable(before)


def _sources(cli) -> list[dict]:
    import json

    return json.loads(cli("sources", "--json"))["sources"]


# -- the pieces, without the model -------------------------------------------------------------


@pytest.fixture
def library(tmp_path):
    corpus = small_corpus(tmp_path / "corpus", ("practice-tips-parental-drug-use",))
    return Library(corpus, StoreLocation(tmp_path / "data"))


def test_flags_write_the_manifest_entry_and_a_new_area_is_known(library, tmp_path):
    fake = FakeEmbedder()
    library.rebuild(embedder=fake)
    pdf = make_protocol_pdf(tmp_path / "np.pdf", area="Eastdale")
    change = library.add([pdf], {"area": "North Moor", "places": ["Northmoor", "North Moor"], "kind": "local protocol",
                                 "title": "Northmoor drug and alcohol protocol"}, embedder=fake, today="2026-01-02")
    assert change.added == ["np"] and "area" not in change.assumed.get("np", {})
    entry = tomllib.loads((library.folder / MANIFEST_NAME).read_text(encoding="utf-8"))["np"]
    assert entry["area"] == "North Moor" and entry["places"] == ["Northmoor", "North Moor"]
    assert entry["title"] == "Northmoor drug and alcohol protocol" and entry["added"] == "2026-01-02"
    assert entry["scope"] == "local" and entry["version"] == "2.0"
    from assistant.retrieve import Index

    index = Index.load(Catalog(library.location))
    assert index.local_areas["North Moor"] == ("North Moor", "Northmoor")
    # the same file again with other flags updates its entry in place
    library.add([pdf], {"places": ["Northmoor", "Moorside"]}, embedder=fake)
    entry = tomllib.loads((library.folder / MANIFEST_NAME).read_text(encoding="utf-8"))["np"]
    assert entry["places"] == ["Northmoor", "Moorside"] and entry["area"] == "North Moor"


def test_a_file_that_cannot_be_read_changes_nothing(library, tmp_path):
    fake = FakeEmbedder()
    first = library.rebuild(embedder=fake)
    manifest_before = (library.folder / MANIFEST_NAME).read_text(encoding="utf-8")
    files_before = sorted(p.name for p in library.folder.iterdir())
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 not really a pdf" * 10)
    with pytest.raises(LibraryError, match="broken.pdf cannot be added"):
        library.add([bad], {"area": "Nowhere"}, embedder=fake)
    with pytest.raises(LibraryError, match="no source with id"):
        library.remove("not-there", embedder=fake)
    with pytest.raises(LibraryError, match="only source"):
        library.remove("practice-tips-parental-drug-use", embedder=fake)
    assert (library.folder / MANIFEST_NAME).read_text(encoding="utf-8") == manifest_before
    assert sorted(p.name for p in library.folder.iterdir()) == files_before
    assert Catalog(library.location).current_id() == first.build


def test_a_failed_build_puts_the_folder_back(library, tmp_path, monkeypatch):
    fake = FakeEmbedder()
    first = library.rebuild(embedder=fake)
    manifest_before = (library.folder / MANIFEST_NAME).read_text(encoding="utf-8")

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("ingest.library.build_locked", crash)
    with pytest.raises(RuntimeError):
        library.add([make_protocol_pdf(tmp_path / "northmoor.pdf")], embedder=fake)
    assert not (library.folder / "northmoor.pdf").exists()
    assert (library.folder / MANIFEST_NAME).read_text(encoding="utf-8") == manifest_before
    assert Catalog(library.location).current_id() == first.build


def test_adding_one_source_embeds_only_that_source(library, tmp_path):
    class Counting(FakeEmbedder):
        def __init__(self):
            super().__init__()
            self.texts = 0

        def embed_each(self, texts, progress=None):
            self.texts += len(texts)
            return super().embed_each(texts, progress)

    fake = Counting()
    first = library.rebuild(embedder=fake)
    assert first.embedded == fake.texts and first.embedded > 100
    fake.texts = 0
    change = library.add([make_protocol_pdf(tmp_path / "northmoor.pdf")], embedder=fake)
    report = change.report
    northmoor = next(f for f in report.files if f.doc_id == "northmoor")
    assert 0 < report.embedded == fake.texts <= northmoor.passages * 4 + northmoor.checklist_items
    assert report.reused >= first.embedded
    assert 0 < sum(report.word_pieces.values()) < sum(first.word_pieces.values()) / 2
    fake.texts = 0
    removed = library.remove("northmoor", embedder=fake).report
    assert removed.embedded == 0 == fake.texts and removed.reused == first.embedded + first.reused
    assert removed.word_pieces == {"passages": 0, "checklist items": 0, "sentences": 0}
    assert library.rebuild(embedder=fake).unchanged


def test_remove_asks_first_and_refuses_without_an_answer(tmp_path):
    env = {"HHA_DATA_DIR": str(tmp_path / "data"), "HHA_CORPUS_DIR": str(tmp_path / "corpus"),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "ui.cli", "sources", "remove", "anything"], env=env,
                            capture_output=True, text=True, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "--yes" in result.stderr
    listing = subprocess.run([sys.executable, "-m", "ui.cli", "sources"], env=env, capture_output=True, text=True,
                             cwd=ROOT, timeout=60)
    assert listing.returncode == 0 and "no index yet" in listing.stdout


def test_manifest_entries_are_written_without_touching_the_others():
    text = '# comment kept\n["a"]\ntitle = "A"\n\n["b"]\ntitle = "B"\n'
    added = with_entry(text, "c", {"title": 'Say "hi"', "places": ["X", "Y"], "area": "Z"})
    assert tomllib.loads(added) == {"a": {"title": "A"}, "b": {"title": "B"},
                                    "c": {"title": 'Say "hi"', "area": "Z", "places": ["X", "Y"]}}
    assert added.startswith("# comment kept\n")
    replaced = with_entry(added, "a", {"title": "A2"})
    assert tomllib.loads(replaced)["a"] == {"title": "A2"} and replaced.count('["a"]') == 1
    assert set(tomllib.loads(without_entry(replaced, "b"))) == {"a", "c"}


def test_what_a_document_says_of_itself(tmp_path):
    from ingest.describe import describe
    from ingest.pdf import load_pdf

    pages, _ = load_pdf(make_protocol_pdf(tmp_path / "p.pdf", area="Eastdale", version="4.1", issued="2 June 2025",
                                          review="June 2027"))
    d = describe(pages)
    assert (d.area, d.publisher, d.places) == ("Eastdale", "Eastdale Safeguarding Children Partnership", ["Eastdale"])
    assert (d.version, d.date, d.review_date) == ("4.1", "2 June 2025", "June 2027")
    assert d.title == "Parental drug and alcohol misuse: multi-agency protocol"


def test_only_builds_from_exactly_the_given_files_and_leaves_the_library(tmp_path, monkeypatch, capsys):
    from ui import cli

    corpus = small_corpus(tmp_path / "corpus", ("practice-tips-parental-drug-use",))
    manifest_before = (corpus / MANIFEST_NAME).read_text(encoding="utf-8")
    monkeypatch.setenv("HHA_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("HHA_DATA_DIR", str(tmp_path / "data"))
    fake = FakeEmbedder()
    monkeypatch.setattr("ingest.pipeline.Embedder", lambda: fake)
    pdf = make_protocol_pdf(tmp_path / "northmoor.pdf")
    assert cli.main(["ingest", "--only", str(pdf)]) == 0
    assert cli.main(["sources"]) == 0
    out = capsys.readouterr().out
    assert "northmoor" in out and "practice-tips" not in out.split("built index")[-1].split("\n", 1)[-1]
    assert "not in the library folder (built with --only)" in out
    assert sorted(p.name for p in corpus.iterdir()) == ["manifest.toml", "practice-tips-parental-drug-use.txt"]
    assert (corpus / MANIFEST_NAME).read_text(encoding="utf-8") == manifest_before
    assert cli.main(["ingest", str(pdf), str(corpus), "--area", "Northmoor"]) == 2  # a folder goes alone
