"""The API's models against the records they describe: each record's JSON (`to_dict()`) is
valid for its model and comes back from it unchanged, so there is one JSON shape per record
and the schema says what every response holds. Also the page locator, without a PDF."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from assistant.records import Answer, AnswerPart, Citation, Document, Extract, Hit, Passage, ProseSentence
from ui import schema

PASSAGE = Passage(id="p1", doc_id="northmoor", title="Northmoor protocol", area="Northmoor",
                  section=("2. Making a referral",), paragraph="2.2", page=1, order=3,
                  text="2.2 Out of hours, telephone the Emergency Duty Service on 01632 960999.", ocr=True)
HIT = Hit(PASSAGE, score=0.8123456789, similarity=0.61234, dense_rank=1, lexical_rank=None, facet="urgent")
EXTRACT = Extract(text=PASSAGE.text[4:48], citation=1, passage_id="p1", start=4, end=48, score=0.5)
CITATION = Citation(n=1, passage=PASSAGE, hit=HIT, currency="past its review date (March 2024)",
                    area_label="Northmoor local protocol")
ANSWER = Answer(question="who do I ring?", area="Northmoor", parts=(AnswerPart("Guidance that applies", (EXTRACT,)),),
                checklist=(), urgent=AnswerPart("What to do now", (EXTRACT,), note="If in danger, call 999."),
                citations=(CITATION, Citation(n=2, passage=PASSAGE)), abstained=False, notices=("a notice",),
                facets=("urgent",), timings_ms={"total": 12.5}, prose=(ProseSentence("Ring them.", (1,), 0.9),))
DOCUMENT = Document(id="northmoor", title="Northmoor protocol", publisher="Northmoor SCP", area="Northmoor",
                    scope="local", date="March 2024", audience="all", kind="local protocol", summary="s",
                    source_file="northmoor.pdf", sha256="ab" * 32, places=("Northmoor", "North Moor"),
                    version="2.0", review_date="March 2029", added="2026-01-02", ocr_pages=(2,))


@pytest.mark.parametrize(("model", "record"), [
    (schema.Passage, PASSAGE), (schema.Hit, HIT), (schema.Extract, EXTRACT), (schema.Citation, CITATION),
    (schema.AnswerPart, ANSWER.urgent), (schema.Answer, ANSWER), (schema.Document, DOCUMENT),
    (schema.ProseSentence, ANSWER.prose[0]),
], ids=lambda v: type(v).__name__ if not isinstance(v, type) else v.__name__)
def test_each_record_has_one_json_shape_and_its_model_describes_it(model, record):
    data = record.to_dict()
    assert model.model_validate(data).model_dump(mode="json") == data


def test_a_citation_is_its_passage_and_the_retrieval_of_its_hit():
    data = CITATION.to_dict([{"text": EXTRACT.text, "start": 4, "end": 48}])
    assert data["passage"] == PASSAGE.to_dict() == HIT.to_dict()["passage"]
    assert data["retrieval"] == HIT.to_dict()["retrieval"] == {
        "score": 0.812346, "similarity": 0.6123, "dense_rank": 1, "sentence_rank": None, "lexical_rank": None,
        "facet": "urgent"}
    assert data["label"] == ("Northmoor protocol — 2. Making a referral › 2.2, p. 1 (OCR text) — past its review date "
                             "(March 2024)")
    quoted = ANSWER.to_dict()["citations"]
    assert quoted[0]["quoted"] == [{"text": EXTRACT.text, "start": 4, "end": 48}] and quoted[1]["quoted"] == []


def test_a_model_refuses_a_field_its_record_does_not_have():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="extra"):
        schema.Passage.model_validate({**PASSAGE.to_dict(), "document_id": "northmoor"})
    with pytest.raises(ValidationError):
        schema.Passage.model_validate({k: v for k, v in PASSAGE.to_dict().items() if k != "page"})


def test_the_library_listing_report_and_proposal_fit_their_models(tmp_path):
    from assistant.store import Catalog, StoreLocation
    from ingest.library import Library, propose, sources
    from tests.protocols import make_protocol_pdf
    from tests.support import FakeEmbedder, small_corpus

    library = Library(small_corpus(tmp_path / "corpus", ("practice-tips-parental-drug-use",)),
                      StoreLocation(tmp_path / "data"))
    library.rebuild(embedder=FakeEmbedder())
    pdf = make_protocol_pdf(tmp_path / "northmoor.pdf", review="March 2020")
    proposal = propose(pdf)
    assert schema.Proposal.model_validate(proposal).model_dump() == proposal
    change = library.add([pdf], embedder=FakeEmbedder())
    report = change.report.to_dict()
    assert schema.IngestReport.model_validate(report).model_dump(mode="json") == {
        **report, "skipped": [list(s) for s in report["skipped"]]}
    rows = sources(Catalog(library.location), library.folder)
    for row in rows:
        assert schema.Source.model_validate(row).model_dump() == row
    northmoor = next(r for r in rows if r["id"] == "northmoor")
    assert northmoor["past_review"] is True and northmoor["review_date"] == "March 2020"
    assert asdict(change.report.files[0]).keys() == schema.FileReport.model_fields.keys()


def test_the_quote_is_located_among_the_page_words():
    from assistant.page_images import found_share, locate, words

    page = words("2.1 If you are worried, telephone the Hub. 2.2 Out of hours, at week-\nends, telephone the "
                 "Emergency Duty Service on 01632 960999. 2.3 Call 999.")
    quote = words("Out of hours, at weekends, telephone the Emergency Duty Service on 01632 960999.")
    hit = locate(page, quote)
    assert [page[i] for i in hit] == ["out", "of", "hours", "at", "telephone", "the", "emergency", "duty",
                                      "service", "on", "01632", "960999"]
    assert found_share(page, quote) == 12 / 13  # "weekends" was split by the line break
    assert found_share(page, words("Nothing here matches the protocol, the child or the hub at all.")) < 0.5
    assert locate(page, []) == [] and locate([], quote) == []
