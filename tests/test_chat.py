"""The Streamlit chat (`ui/chat.py`) through `AppTest`, against the real API served by uvicorn in
a thread over the real index; and the downloadable note, without any framework."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from live_servers import ROOT, api_in_thread, free_port, tiny_corpus, wait_for

from assistant.settings import Settings

CHAT = str(ROOT / "ui" / "chat.py")
QUESTION = "mum on a methadone script, two kids under five, what should I check?"
BEDFORD = "Bedford Borough, Central Bedfordshire and Luton"


@pytest.fixture(scope="module")
def service(tmp_path_factory, corpus_assistant):
    from ui.api import create_app

    settings = Settings(data_dir=tmp_path_factory.mktemp("chat-service"))
    with api_in_thread(create_app(settings, assistant=corpus_assistant)) as base:
        yield base, settings


def _app(monkeypatch, url: str, data_dir):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("HHA_API_URL", url)
    monkeypatch.delenv("HHA_API_TOKEN", raising=False)
    monkeypatch.setenv("HHA_DATA_DIR", str(data_dir))
    at = AppTest.from_file(CHAT, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def app(service, monkeypatch, tmp_path):
    return _app(monkeypatch, service[0], tmp_path)


def _ask(at, text: str):
    at.chat_input[0].set_value(text).run()
    assert not at.exception, at.exception
    return at


def _last_answer(at):
    return at.session_state["messages"][-1]["answer"]


@pytest.mark.slow
def test_sidebar_has_area_role_and_clear(app, corpus_assistant):
    area = app.sidebar.selectbox(key="area")
    assert area.label == "Your area"
    assert area.options == ["Not set", *corpus_assistant.index.areas]
    assert area.value == "Not set"
    role = app.sidebar.radio(key="role_label")
    assert role.options == ["Practitioner", "Manager", "Trainer"]
    assert role.value == "Practitioner"
    assert [b.label for b in app.sidebar.button] == ["Clear conversation"]
    about = next(e for e in app.expander if e.label == "About the sources")
    text = " ".join(m.value for m in about.markdown)
    for doc in corpus_assistant.index.documents:
        assert doc.area in text and doc.date in text and doc.kind in text


@pytest.mark.slow
def test_a_question_gets_a_cited_answer(app, corpus_assistant):
    _ask(app, QUESTION)
    assert [m.name for m in app.chat_message] == ["user", "assistant"]
    reply = app.chat_message[1]
    answer_md = reply.markdown[0].value
    assert "[1]" in answer_md and "**Sources**" not in answer_md  # sources are the expanders below
    answer = _last_answer(app)
    labels = [e.label for e in reply.expander]
    for c in answer.citations:
        label = next(label for label in labels if label.startswith(f"[{c.n}] "))
        assert c.passage.title in label.replace("\\", "")
    first = next(e for e in reply.expander if e.label.startswith("[1] "))
    shown = " ".join(m.value for m in first.markdown)
    quoted = answer.citations[0].quoted[0].text
    assert "**" in shown and quoted.split()[0] in shown  # the quoted sentence, in bold, in its passage
    passage = corpus_assistant.index.by_id[answer.citations[0].passage.id]
    neighbours = corpus_assistant.index.neighbours(passage)
    if len(neighbours) > 1:
        assert first.caption[1:], "a neighbouring passage for context"
    assert [d.label for d in reply.download_button] == ["Download note (Markdown)", "Download note (PDF)"]
    assert len(reply.get("feedback")) == 1
    assert reply.checkbox[0].label == "Include my question with my feedback" and reply.checkbox[0].value is False


@pytest.mark.slow
def test_area_and_role_go_with_the_question_and_are_remembered(app):
    app.sidebar.selectbox(key="area").set_value(BEDFORD).run()
    app.sidebar.radio(key="role_label").set_value("Manager").run()
    assert any("Supervision" in i.value for i in app.info)
    _ask(app, "Case summary: father uses crack cocaine daily, mother drinks, baby of 8 months, missed health visits.")
    assert _last_answer(app).area == BEDFORD
    assert app.session_state["messages"][-1]["role_name"] == "manager"
    app.run()
    assert app.sidebar.selectbox(key="area").value == BEDFORD
    assert app.sidebar.radio(key="role_label").value == "Manager"


@pytest.mark.slow
def test_clear_conversation(app):
    _ask(app, QUESTION)
    assert len(app.chat_message) == 2
    app.sidebar.button[0].click().run()
    assert len(app.chat_message) == 0
    assert app.session_state["messages"] == []


@pytest.mark.slow
def test_feedback_is_sent_without_the_question_by_default(app, service):
    _ask(app, QUESTION)
    path = service[1].data_dir / "feedback.jsonl"
    before = path.read_text(encoding="utf-8").count("\n") if path.exists() else 0
    app.chat_message[1].get("feedback")[0].set_value(1).run()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == before + 1
    assert lines[-1]["rating"] == "up" and "question" not in lines[-1]
    assert lines[-1]["passage_ids"] == [c.passage.id for c in _last_answer(app).citations]
    assert any("not included" in c.value for c in app.chat_message[1].caption)


@pytest.mark.slow
def test_trainer_sees_the_evidence_and_how_to_get_the_report(app):
    app.sidebar.radio(key="role_label").set_value("Trainer").run()
    report = next(e for e in app.expander if e.label == "Latest evaluation report")
    assert "hha eval" in report.info[0].value
    _ask(app, QUESTION)
    evidence = next(e for e in app.chat_message[1].expander if e.label.startswith("For trainers"))
    text = " ".join(m.value for m in evidence.markdown)
    assert "Sentence score" in text and "retrieval score" in text and "dense rank" in text


@pytest.mark.slow
def test_trainer_sees_the_latest_report(service, monkeypatch, tmp_path):
    from PIL import Image

    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "report.md").write_text("# Evaluation report\n\nRecall@5: 0.91\n\n![recall](recall_at_k.png)\n")
    Image.new("RGB", (40, 30), "white").save(tmp_path / "eval" / "recall_at_k.png")
    at = _app(monkeypatch, service[0], tmp_path)
    at.sidebar.radio(key="role_label").set_value("Trainer").run()
    report = next(e for e in at.expander if e.label == "Latest evaluation report")
    assert "Recall@5: 0.91" in " ".join(m.value for m in report.markdown)
    assert [img.captions for img in report.get("image")] == [["recall at k"]]


@pytest.mark.slow
def test_an_unreachable_service_is_explained(monkeypatch, tmp_path):
    at = _app(monkeypatch, f"http://127.0.0.1:{free_port()}", tmp_path)
    assert "not reachable" in at.error[0].value and "hha run" in at.error[0].value
    assert at.chat_input[0].proto.disabled


def test_a_bad_setting_is_explained_not_a_traceback(monkeypatch, tmp_path):
    monkeypatch.setenv("HHA_WORKERS", "-1")
    at = _app(monkeypatch, f"http://127.0.0.1:{free_port()}", tmp_path)
    assert not at.exception
    assert "HHA_WORKERS must be a whole number" in at.error[0].value


@pytest.mark.slow
def test_an_index_being_built_is_shown_with_progress(monkeypatch, tmp_path, embedder):
    from assistant.core import Assistant
    from assistant.store import Catalog, StoreLocation
    from ui.api import create_app

    corpus = tiny_corpus(tmp_path / "corpus")
    location = StoreLocation(tmp_path / "data")
    app = create_app(Settings(data_dir=location.data_dir, corpus_dir=corpus), Assistant(location, embedder=embedder))
    lock = Catalog(location).write_lock()
    lock.__enter__()  # another writer holds the index, so the service stays "building"
    try:
        with api_in_thread(app, status="building") as base:
            at = _app(monkeypatch, base, tmp_path)
            assert any("being built" in i.value for i in at.info)
            assert at.chat_input[0].proto.disabled
            lock.__exit__(None, None, None)
            wait_for(f"{base}/api/health", 120, ok=lambda r: r.json()["status"] == "ready")
            at.run()
            assert not at.chat_input[0].proto.disabled
    finally:
        lock.__exit__(None, None, None)


# -- the note, without the framework -------------------------------------------------------------------

ANSWER = {
    "question": "Dad drinks <b>every</b> night; kids 4 & 7 — what should I check?",
    "area": None,
    "markdown": (
        "> **If a child is in immediate danger, call the police on 999.**\n\n"
        "**Guidance that applies**\n\n"
        "- Is there a drug-free/sober parent/carer, supportive partner, or relative? [1]\n"
        "- The child\\'s views \\[and\\] feelings \\<matter\\> — see § 9.2 › Appendix A. [2]\n\n"
        "_This guidance supports professional judgement; it does not make the decision._\n\n"
        "**Sources**\n\n"
        "1. Working with Parents who Misuse Substances — Appendix A › 7. Health risks\n"
        "2. Practice tips: working with parents who use drugs — Practice tip 2, p. 2\n"
    ),
    "citations": [],
}


def test_note_markdown_carries_the_question_escaped_and_the_answer():
    from ui.notes import note_markdown

    note = note_markdown(ANSWER, today=date(2025, 1, 31))
    assert note.startswith("# Hidden Harm guidance note\n")
    assert "**Question:** Dad drinks \\<b\\>every\\</b\\> night" in note
    assert "**Date:** 2025-01-31" in note and "**Area:** not set" in note
    assert ANSWER["markdown"].strip() in note


def test_note_pdf_is_a_pdf_with_the_text():
    from pypdf import PdfReader

    from ui.notes import note_pdf

    pdf = note_pdf(ANSWER, today=date(2025, 1, 31))
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert reader.metadata.title == "Hidden Harm guidance note"
    for expected in (
        "Hidden Harm guidance note",
        "Dad drinks <b>every</b> night; kids 4 & 7 — what should I check?",
        "If a child is in immediate danger, call the police on 999.",
        "Guidance that applies",
        "Is there a drug-free/sober parent/carer, supportive partner, or relative? [1]",
        "The child's views [and] feelings <matter> — see § 9.2 › Appendix A. [2]",
        "Working with Parents who Misuse Substances — Appendix A › 7. Health risks",
        "Date: 2025-01-31",
    ):
        assert expected in text, expected
    assert "\\" not in text  # Markdown escapes undone


# -- the chat's Markdown, without the framework -------------------------------------------------------


def test_highlight_marks_the_quoted_spans_and_keeps_the_source_inert():
    from ui.markup import highlight

    text = "7. Health risks\n• Where are drugs stored? See [the box](http://x.example) <b>now</b>.\n    - Is it locked?"
    start = text.index("Where")
    end = text.index("?", start) + 1
    assert highlight(text, [(start, end)]).split("  \n") == [
        "7\\. Health risks",
        "• :orange-background[**Where are drugs stored?**] See \\[the box\\](http\\://x.example) \\<b\\>now\\</b\\>.",
        "\\- Is it locked?",
    ]


def test_highlight_across_lines_and_with_nothing_quoted():
    from ui.markup import highlight

    text = "First line ends\nand goes on. Other."
    quoted = (6, text.index(".") + 1)
    assert highlight(text, [quoted]) == ("First :orange-background[**line ends**]  \n"
                                         ":orange-background[**and goes on.**] Other.")
    assert highlight(text, []) == "First line ends  \nand goes on. Other."


def test_inert_lines_citation_label_and_sources():
    from dataclasses import replace

    from assistant.records import Citation, Passage
    from ui import schema
    from ui.markup import citation_label, clip, inert_lines, without_sources

    assert inert_lines("1) one\n\n+ two\n===\n<img src=x>") == "1\\) one  \n\\+ two  \n\\===  \n\\<img src=x\\>"
    passage = Passage(id="p1", doc_id="d", title="Protocol [draft]", area="A", section=("A", "2. Risks"),
                      paragraph=None, page=7, order=0, text="Ask.")
    citation = schema.Citation(**Citation(n=3, passage=passage).to_dict())
    assert citation_label(citation) == "[3] Protocol \\[draft\\] — A › 2. Risks, p. 7"
    unplaced = Citation(n=3, passage=replace(passage, section=(), page=None), currency="past its review date")
    assert citation_label(schema.Citation(**unplaced.to_dict())) == (
        "[3] Protocol \\[draft\\] — whole document — past its review date")
    assert without_sources("**Guidance**\n\n- a [1]\n\n**Sources**\n\n1. T — S\n") == "**Guidance**\n\n- a [1]\n"
    assert clip("one two three four", 9) == "one two …"
    assert clip("one two three four", 9, tail=True) == "… four"
