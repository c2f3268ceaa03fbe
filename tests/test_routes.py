"""Referral routes found in any area's protocol, labels of other areas' contacts, and the
currency of sources. Pure parts, on generated protocols and the real corpus text."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pytest

from assistant.provenance import annotate, area_note, currency_note, parse_date
from assistant.records import Answer, AnswerPart, Citation, Document, Extract, Passage
from assistant.render import to_markdown
from assistant.routes import area_route, asks_for_route, referral_route
from ingest.manifest import read_manifest, sha256_file
from ingest.pipeline import process_file
from tests.protocols import DAYTIME, OUT_OF_HOURS, make_protocol_pdf

ROOT = Path(__file__).resolve().parent.parent
BEDS = "Bedford Borough, Central Bedfordshire and Luton"


@dataclass
class FakeIndex:
    passages: list[Passage]
    documents: list[Document]

    @property
    def local_areas(self) -> dict[str, tuple[str, ...]]:
        return {d.area: d.places for d in self.documents if d.scope == "local"}

    def scope_of(self, passage: Passage) -> str:
        return next(d.scope for d in self.documents if d.id == passage.doc_id)


def _protocol(tmp_path, token_counter, name: str, area: str, **kwargs):
    pdf = make_protocol_pdf(tmp_path / f"{name}.pdf", area=area, **kwargs)
    entry = {"area": area, "scope": "local", "places": [area]}
    doc, passages, items, _, _ = process_file(pdf, entry, sha256_file(pdf), token_counter)
    return doc, passages


@pytest.fixture(scope="module")
def beds(token_counter):
    path = ROOT / "corpus" / "beds-luton-guidance-2017.txt"
    doc, passages, _, _, _ = process_file(path, read_manifest(ROOT / "corpus")[path.stem], sha256_file(path),
                                          token_counter)
    return doc, passages


def _quoted(route) -> str:
    return " ".join(p.text[a:b] for p, spans in route.spans for a, b in spans)


def test_a_new_areas_route_is_found_in_its_own_protocol(tmp_path, token_counter, beds):
    doc, passages = _protocol(tmp_path, token_counter, "northmoor", "Northmoor")
    index = FakeIndex(passages + beds[1], [doc, beds[0]])
    [route] = referral_route(index, "Northmoor")
    text = _quoted(route)
    assert route.found and DAYTIME in text and OUT_OF_HOURS in text and "call the police on 999" in text
    assert {p.area for p, _ in route.spans} == {"Northmoor"}
    assert "pregnant" not in text  # the pregnancy section is not a route
    [beds_route] = referral_route(index, BEDS)
    beds_text = _quoted(beds_route)
    assert "0300 300 8123" in beds_text and "MASH" in beds_text and "01632" not in beds_text
    both = referral_route(index, None)  # area unknown: every area's route, each its own
    assert [r.area for r in both] == ["Northmoor", BEDS] or [r.area for r in both] == [BEDS, "Northmoor"]


def test_a_protocol_without_a_route_says_so_and_borrows_none(tmp_path, token_counter, beds):
    doc, passages = _protocol(tmp_path, token_counter, "southfell", "Southfell")
    no_numbers = [p for p in passages if not p.section or "referral" not in p.section[0].lower()]
    index = FakeIndex(no_numbers + beds[1], [doc, beds[0]])
    [route] = referral_route(index, "Southfell")
    assert not route.found and route.area == "Southfell"
    assert area_route([], "Nowhere").spans == ()


def test_route_questions_are_recognised():
    for q in ("who do I ring out of hours?", "What number do I call for the MASH?",
              "how do I refer a child to children's social care", "is the EDT open at weekends?",
              "pregnant 19-year-old using cannabis daily, do I refer?", "where do we refer a young carer?"):
        assert asks_for_route(q), q
    for q in ("what does the guidance say about methadone storage?", "who is a young carer?",
              "what does the guidance say about referral?"):
        assert not asks_for_route(q), q


def _doc(**kw) -> Document:
    base = dict(id="d", title="T", publisher="p", area="Northmoor", scope="local", date="March 2020", audience="a",
                kind="local protocol", summary="s", source_file="d.pdf", sha256="0")
    return Document(**{**base, **kw})


def test_dates_and_currency():
    assert parse_date("March 2026") == date(2026, 3, 1)
    assert parse_date("March 2026", end_of_period=True) == date(2026, 3, 31)
    assert parse_date("2 June 2025") == date(2025, 6, 2)
    assert parse_date("01/03/2024") == date(2024, 3, 1)
    assert parse_date("2024-11") == date(2024, 11, 1)
    assert parse_date("c. 2013") == date(2013, 1, 1)
    assert parse_date("not stated") is None
    today = date(2026, 11, 27)
    assert "past its review date (March 2026)" in currency_note(_doc(review_date="March 2026"), today)
    assert currency_note(_doc(review_date="November 2026"), today) is None  # due this month, not past
    assert currency_note(_doc(), today) is None  # no review date, no age limit
    assert "more than 5 years ago" in currency_note(_doc(date="c. 2013"), today, max_age_years=5)
    assert currency_note(_doc(date="March 2024"), today, max_age_years=5) is None


def test_other_areas_contacts_are_labelled_and_stale_sources_flagged():
    ours = Passage(id="p1", doc_id="north", title="Northmoor protocol", area="Northmoor", section=("Referral",),
                   paragraph=None, page=1, order=0, text="Telephone the Emergency Duty Service on 01632 960999.")
    theirs = replace(ours, id="p2", doc_id="beds", title="Beds guidance", area=BEDS,
                     text="The Emergency Duty Team (EDT) telephone number is: 0300 300 8123")
    docs = [_doc(id="north", review_date="January 2020"), _doc(id="beds", area=BEDS)]

    def extract(p: Passage, n: int) -> Extract:
        return Extract(text=p.text, citation=n, passage_id=p.id, start=0, end=len(p.text))

    answer = Answer(question="q", area="Northmoor", urgent=AnswerPart("What to do now", (extract(ours, 1),)),
                    parts=(AnswerPart("Guidance that applies", (extract(theirs, 2),)),), checklist=(),
                    citations=(Citation(1, ours), Citation(2, theirs)), abstained=False)
    md = to_markdown(annotate(answer, docs, today=date(2026, 11, 27)))
    [own_line] = [line for line in md.splitlines() if "01632 960999" in line]
    [their_line] = [line for line in md.splitlines() if "0300 300 8123" in line]
    assert "not your area" not in own_line
    assert their_line.endswith(f"_({BEDS} local protocol: not your area)_")
    assert "1. Northmoor protocol — Referral, p. 1 — _past its review date (January 2020)" in md
    assert area_note(_doc(scope="national", area="England"), "Northmoor") is None
    assert area_note(_doc(area=BEDS), None) == f"{BEDS} local protocol"


def test_progress_bars_start_when_their_stage_starts(capsys):
    import time

    from ui.cli import _progress

    update = _progress(mininterval=0)
    update("embedding", 0, 100)  # the stage starts: the bar (and its clock) with it
    time.sleep(0.2)
    update("embedding", 50, 100)
    err = capsys.readouterr().err
    assert "50/100" in err and "done by" in err
    rate = float(err.split("50/100")[1].split("text/s")[0].split(",")[-1])
    assert rate < 1000  # 50 texts in 0.2 s, not the huge rate of a bar made when work was done
    update("embedding", 100, 100)


def test_the_chat_source_label_carries_ocr_and_currency():
    from assistant.records import Citation, Passage
    from ui.markup import citation_label
    from ui.schema import Citation as CitationModel

    passage = Passage(id="p", doc_id="northmoor", title="Northmoor protocol", area="Northmoor",
                      section=("2. Referral",), paragraph=None, page=1, order=0, text="Ring.", ocr=True)
    c = CitationModel(**Citation(n=2, passage=passage, currency="past its review date (January 2020): check this "
                                                                 "is still the current version").to_dict())
    assert citation_label(c) == ("[2] Northmoor protocol — 2. Referral, p. 1 (OCR text) — past its review date "
                                 "(January 2020): check this is still the current version")
