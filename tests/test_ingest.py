"""Ingest on the real corpus and on PDFs these tests make: structure, checklist bank, bad
files, the store's atomic builds and its lock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.errors import IndexLockedError, SkippedFile
from assistant.store import Catalog, StoreLocation
from ingest.manifest import read_manifest, sha256_file
from ingest.passages import MODEL_WINDOW, embedding_text
from ingest.pipeline import discover, process_file, run_ingest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"


@pytest.fixture(scope="module")
def corpus(token_counter):
    manifest = read_manifest(CORPUS)
    out = {}
    for path in discover([CORPUS]):
        doc, passages, items, _, _ = process_file(path, manifest.get(path.stem), sha256_file(path), token_counter)
        out[doc.id] = (doc, passages, items)
    return out


def test_every_corpus_document_has_its_manifest_metadata(corpus):
    assert set(corpus) == {
        "practice-tips-parental-drug-use", "staffs-stoke-protocol", "adfam-frontline-practice-2013",
        "beds-luton-guidance-2017", "wales-ssia-commissioning-2007",
    }
    doc = corpus["beds-luton-guidance-2017"][0]
    assert doc.area == "Bedford Borough, Central Bedfordshire and Luton"
    assert doc.scope == "local" and doc.date == "September 2017" and "Luton" in doc.places


def test_bedfordshire_paragraph_922_is_one_passage_with_its_section_path(corpus):
    passages = corpus["beds-luton-guidance-2017"][1]
    [p] = [p for p in passages if p.paragraph == "9.2.2"]
    assert p.section[0] == "9. Consent, Confidentiality & Information Sharing"
    assert p.section[1].startswith("9.2 Sharing information where there are concerns about significant harm")
    assert p.section_label.endswith("› 9.2.2")
    assert p.text.startswith("9.2.2 It is critical that where you have reasonable cause to believe")
    assert p.text.endswith("takes precedence over confidentiality for the adult service user")
    assert p.page == 8  # from the guidance's own contents list


def test_staffordshire_health_risks_sits_under_appendix_a(corpus):
    passages = corpus["staffs-stoke-protocol"][1]
    health = [p for p in passages if p.section[-1:] == ("7. Health risks",)]
    assert health and all(p.section[0].startswith("Appendix A") for p in health)


def test_practice_tips_have_their_pages(corpus):
    passages = corpus["practice-tips-parental-drug-use"][1]
    pages = {p.section[0].split(":")[0]: p.page for p in passages}
    assert pages == {f"Practice tip {n}": n for n in range(1, 6)}


def test_no_junk_no_lost_glyphs_and_every_passage_fits_the_model(corpus, token_counter):
    for doc, passages, _ in corpus.values():
        for p in passages:
            assert len(p.text.split()) >= 15, (doc.id, p.text)
            assert "�" not in p.text and "\uf0b7" not in p.text
            assert "](#)" not in p.text and "**" not in p.text
            assert token_counter(embedding_text(p, token_counter)) <= MODEL_WINDOW


def test_no_text_of_the_source_is_lost(corpus):
    """Every sentence of a plain, one-paragraph-per-line source lands in some passage."""
    import re

    from assistant.text import split_sentences
    from ingest.clean import strip_markdown

    text = (CORPUS / "beds-luton-guidance-2017.txt").read_text(encoding="utf-8")
    joined = " ".join(" ".join(p.text.split()) for p in corpus["beds-luton-guidance-2017"][1])
    for line in text.split("\n"):
        line = strip_markdown(re.sub(r"^[\s\-]+", "", line)).strip()
        if len(line.split()) < 4 or re.search(r"\t|Contents|Page$", line):
            continue  # the contents list is dropped on purpose
        for sentence in split_sentences(line):
            assert " ".join(sentence.split()) in joined, sentence


def test_bedfordshire_checklist_twin_is_marked(corpus):
    passages = corpus["beds-luton-guidance-2017"][1]
    twins = [p for p in passages if p.twin_of]
    by_id = {p.id: p for p in passages}
    assert len(twins) >= 5
    assert all(p.section[0].startswith("Appendix A") for p in twins)
    assert all(by_id[p.twin_of].section[0].startswith("4.") for p in twins)


def test_staffordshire_section_7_questions_are_all_in_the_checklist_bank(corpus):
    items = corpus["staffs-stoke-protocol"][2]
    bank = " ".join(i.text for i in items if i.topic == "7. Health risks")
    for question in [
        "Where in the household do parents store drugs / alcohol?",
        "Do they use methadone storage boxes appropriately?",
        "Do the children know where the drugs / alcohol are kept?",
        "What do parent/s know about the risks of children ingesting methadone and other harmful substances?",
        "Do parents know what to do if a child has consumed a large amount of alcohol?",
        "Is there a risk of HIV, Hepatitis B or Hepatitis C infection?",
        "Are parents aware of increased risk of cot death if baby is co-sleeping",
    ]:
        assert question in bank


def test_checklist_bank_spans_the_corpus(corpus):
    by_doc = {doc_id: items for doc_id, (_, _, items) in corpus.items()}
    tips = " ".join(i.text for i in by_doc["practice-tips-parental-drug-use"])
    assert "Is the assessment of parental drug use adequate?" in tips  # practice tip 2
    assert "Can the child wait?" in tips  # practice tip 4
    staffs_topics = {i.topic for i in by_doc["staffs-stoke-protocol"]}
    assert "12. Key areas that could be explored include the following:" in staffs_topics  # child-centred areas
    assert "13. Analysis: making sense of the information" in staffs_topics  # the analysis questions
    for doc_id, items in by_doc.items():
        passages = {p.id: p for p in corpus[doc_id][1]}
        for item in items:
            assert passages[item.passage_id].text[item.start : item.end] == item.text


# -- PDFs made by the tests ----------------------------------------------------------------


def make_pdf(path: Path, pages: list[list[str]], header: str | None = "Safeguarding Partnership — Protocol") -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    c.setTitle("Local protocol: parental substance misuse")
    c.setAuthor("Exampleshire Safeguarding Children Partnership")
    for n, lines in enumerate(pages, start=1):
        y = 800
        if header:
            c.drawString(72, 815, header)
        for line in lines:
            c.drawString(72, y - 20, line)
            y -= 16
        c.drawString(300, 30, str(n))
        c.showPage()
    c.save()
    return path


PROTOCOL_PAGES = [
    [
        "1. Introduction",
        "",
        "1.1 This protocol sets out how drug and alcohol services and children's social care in",
        "Exampleshire work together when a parent's drug or alcohol use affects their children.",
        "",
        "2. Referral",
        "",
        "2.1 If you are worried about a child's welfare, telephone the Exampleshire MASH on",
        "01234 567890 and follow up with a written referral within 24 hours of the call.",
    ],
    [
        "3. Safe storage",
        "",
        "3.1 Every parent on a substitute prescription must be offered a locked storage box for",
        "methadone, and workers should check at each home visit that it is being used properly.",
        "",
        "- Where are the medicines kept in the home and can the children reach them at all?",
        "- Do the children know where the methadone is kept in the family home?",
    ],
]


def test_pdf_ingests_with_pages_metadata_and_without_its_running_header(tmp_path, token_counter):
    pdf = make_pdf(tmp_path / "exampleshire-protocol.pdf", PROTOCOL_PAGES * 2)
    doc, passages, items, pages, warnings = process_file(pdf, None, sha256_file(pdf), token_counter)
    assert warnings == []
    assert doc.title == "Local protocol: parental substance misuse"  # from the PDF's own metadata
    assert doc.publisher == "Exampleshire Safeguarding Children Partnership"
    assert pages == 4
    assert all("Safeguarding Partnership — Protocol" not in p.text for p in passages)
    referral = next(p for p in passages if p.paragraph == "2.1")
    assert referral.page == 1 and referral.section == ("2. Referral",)
    assert "01234 567890 and follow up with a written referral within 24 hours" in referral.text
    storage = next(p for p in passages if p.paragraph == "3.1")
    assert storage.page == 2
    assert any("Do the children know where the methadone is kept" in i.text for i in items)


def _encrypted(path: Path, source: Path) -> Path:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(str(source)).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    with open(path, "wb") as f:
        writer.write(f)
    return path


def _image_only(path: Path) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for i in range(20):
        c.rect(50 + i * 10, 400, 8, 100 + i * 5, fill=1)
    c.showPage()
    c.save()
    return path


def test_bad_pdfs_are_skipped_with_reasons_and_never_abort_the_run(tmp_path, embedder):
    folder = tmp_path / "incoming"
    folder.mkdir()
    good = make_pdf(folder / "good.pdf", PROTOCOL_PAGES)
    _encrypted(folder / "encrypted.pdf", good)
    (folder / "corrupt.pdf").write_bytes(good.read_bytes()[:300] + b"garbage" * 50)
    (folder / "random.pdf").write_bytes(bytes(range(256)) * 10)
    (folder / "empty.pdf").write_bytes(b"")
    _image_only(folder / "scanned.pdf")
    (folder / "blank.txt").write_text("   \n")
    report = run_ingest([folder], StoreLocation(tmp_path / "data"), embedder=embedder)
    reasons = dict(report.skipped)
    assert [f.file for f in report.files] == ["good.pdf"]
    assert "encrypted" in reasons["encrypted.pdf"]
    assert "corrupt" in reasons["corrupt.pdf"] or "unreadable" in reasons["corrupt.pdf"]
    assert "corrupt" in reasons["random.pdf"] or "unreadable" in reasons["random.pdf"]
    assert reasons["empty.pdf"]
    assert "no extractable text" in reasons["scanned.pdf"]
    assert "empty" in reasons["blank.txt"]
    assert report.passages > 0


def test_encrypted_pdf_reason(tmp_path, token_counter):
    good = make_pdf(tmp_path / "g.pdf", PROTOCOL_PAGES)
    bad = _encrypted(tmp_path / "e.pdf", good)
    with pytest.raises(SkippedFile, match="password"):
        process_file(bad, None, sha256_file(bad), token_counter)


# -- the store: builds, no-op, atomic switch, lock -------------------------------------------


def _small_corpus(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("practice-tips-parental-drug-use.txt", "beds-luton-guidance-2017.txt"):
        (folder / name).write_text((CORPUS / name).read_text(encoding="utf-8") + extra, encoding="utf-8")
    (folder / "manifest.toml").write_text((CORPUS / "manifest.toml").read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def test_unchanged_reingest_is_a_noop_and_a_change_switches_atomically(tmp_path, embedder):
    corpus = _small_corpus(tmp_path / "corpus")
    location = StoreLocation(tmp_path / "data")
    first = run_ingest([corpus], location, embedder=embedder)
    assert not first.unchanged and first.passages > 50
    catalog = Catalog(location)
    assert catalog.current_id() == first.build

    started = time.perf_counter()
    again = run_ingest([corpus], location)  # no embedder given: a no-op must not need the model
    assert again.unchanged and again.build == first.build
    assert time.perf_counter() - started < 2.0

    _small_corpus(corpus, extra="\n\n15. Review\n\n15.1 This guidance will be reviewed every two years by the partnership board.\n")
    changed = run_ingest([corpus], location, embedder=embedder)
    assert changed.build != first.build and catalog.current_id() == changed.build
    builds = sorted(p.name for p in (location.index_dir / "builds").iterdir())
    assert builds == sorted([first.build, changed.build])  # the previous build is kept for readers
    passages = catalog.open().passages()
    assert any("reviewed every two years" in p.text for p in passages)


def test_second_writer_gets_a_clear_locked_error(tmp_path):
    location = StoreLocation(tmp_path / "data")
    catalog = Catalog(location)
    with catalog.write_lock():
        with pytest.raises(IndexLockedError, match="index is locked"):
            run_ingest([_small_corpus(tmp_path / "c")], location)
        # and from another process, through the CLI
        result = subprocess.run(
            [sys.executable, "-m", "ui.cli", "ingest", str(tmp_path / "c")],
            env={"HHA_DATA_DIR": str(location.data_dir), "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, cwd=ROOT, timeout=120,
        )
    assert result.returncode == 2
    assert "index is locked" in result.stderr and "Traceback" not in result.stderr


def test_partial_build_is_ignored_and_cleaned_up(tmp_path, embedder):
    corpus = _small_corpus(tmp_path / "corpus")
    location = StoreLocation(tmp_path / "data")
    report = run_ingest([corpus], location, embedder=embedder)
    partial = location.index_dir / "builds" / "deadbeef0000"
    (partial / "chroma").mkdir(parents=True)  # as a killed ingest leaves it: no COMPLETE marker
    assert Catalog(location).current_id() == report.build
    run_ingest([corpus], location, embedder=embedder, force=True)
    assert not partial.exists()


def test_ingest_and_answer_make_no_outbound_connection(tmp_path, embedder, no_network):
    from assistant.core import Assistant

    location = StoreLocation(tmp_path / "data")
    run_ingest([_small_corpus(tmp_path / "corpus")], location, embedder=embedder)
    answer = Assistant(location, embedder=embedder).answer("who do I phone out of hours in Luton?")
    assert answer.citations
    assert no_network == []


def test_importing_the_package_is_cheap():
    code = (
        "import sys, assistant, assistant.records, assistant.render\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'chromadb', 'streamlit', 'fastapi') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("numbered", [False, True], ids=["bulleted", "numbered"])
def test_question_lists_of_any_protocol_become_checklist_items_with_their_topic(tmp_path, token_counter, numbered):
    from tests.protocols import make_protocol_pdf, protocol_pages

    pdf = make_protocol_pdf(tmp_path / "northmoor.pdf", numbered=numbered)
    _, passages, items, _, _ = process_file(pdf, None, sha256_file(pdf), token_counter)
    questions = [text for kind, text in protocol_pages()[1] if kind == "bullet"]
    assert [i.text for i in items] == questions
    assert {i.topic for i in items} == {"3. Questions for drug and alcohol workers"}
    referral = next(p for p in passages if p.paragraph == "2.2")
    # a short PDF's wrapped lines are joined: the out-of-hours sentence is one sentence
    assert "telephone the Northmoor Emergency Duty Service on 01632 960999." in referral.text
