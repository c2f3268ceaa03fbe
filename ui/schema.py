"""The API's contract: one pydantic model per record, in the JSON shape of the record's own
`to_dict()` (assistant/records.py), and the responses built from them. The service declares
them on its routes (so `/openapi.json` describes every response) and validates what it sends;
the client parses what it receives into them. A test checks each model against its record.

Models forbid fields they do not declare, so a record that grows a field without its model
fails that test instead of drifting silently.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- the records ---------------------------------------------------------------------------


class Passage(_Shape):
    id: str
    doc_id: str
    title: str
    area: str
    section: list[str]
    paragraph: str | None
    page: int | None = Field(description="Page where the passage starts; null when the source has no pages.")
    order: int
    text: str
    twin_of: str | None
    ocr: bool = Field(description="Read from a scanned page by OCR: check it against the printed page.")
    section_label: str
    citation_label: str


class Retrieval(_Shape):
    """How a passage was found: fused score, cosine similarity, its ranks, the facet it was found for."""

    score: float
    similarity: float
    dense_rank: int | None
    sentence_rank: int | None = None
    lexical_rank: int | None
    facet: str | None


class Hit(_Shape):
    passage: Passage
    retrieval: Retrieval


class Span(_Shape):
    text: str
    start: int
    end: int


class Citation(_Shape):
    n: int
    passage: Passage
    retrieval: Retrieval | None
    currency: str | None = Field(description="A note of ours when the source may be out of date.")
    area_label: str | None = Field(description="A note of ours when the source is another area's local protocol.")
    label: str = Field(description="The passage's citation label, with the currency note.")
    quoted: list[Span] = Field(description="The spans of the passage this answer quotes, in order.")


class Extract(_Shape):
    text: str = Field(description="Verbatim: the cited passage's text[start:end].")
    citation: int
    passage_id: str
    start: int
    end: int
    score: float


class ProseSentence(_Shape):
    text: str
    citations: list[int]
    support: float


class AnswerPart(_Shape):
    heading: str
    note: str | None
    extracts: list[Extract]


class CarryOver(_Shape):
    """How a message of a conversation was read: with the case before it, or as a new case."""

    follow_up: bool
    line: str | None = Field(description="The fixed line shown above the answer: what was carried over.")
    facets: list[str]
    signals: list[str]
    area: str | None
    area_from: str | None
    action: str | None = Field(description="The follow-up action asked for, if any.")


class Answer(_Shape):
    question: str
    area: str | None
    mode: str
    abstained: bool
    urgent: AnswerPart | None
    parts: list[AnswerPart]
    checklist: list[Extract]
    citations: list[Citation]
    notices: list[str]
    nearest_topics: list[str]
    facets: list[str]
    timings_ms: dict[str, float]
    prose: list[ProseSentence]
    conversation: CarryOver | None = None
    actions: list[str] = Field(default_factory=list, description="Follow-up requests offered under the answer.")


class Document(_Shape):
    id: str
    title: str
    publisher: str
    area: str
    scope: str
    date: str
    audience: str
    kind: str
    summary: str
    source_file: str
    sha256: str
    places: list[str]
    version: str
    review_date: str
    added: str
    ocr_pages: list[int]


class Source(_Shape):
    """A source of the live index and what it gave the index (`ingest.library.sources`)."""

    id: str
    title: str
    area: str
    scope: str
    kind: str
    pages: int | None
    passages: int | None
    checklist_items: int | None
    added: str
    date: str = Field(description="Issue date, as the source states it.")
    version: str
    review_date: str
    past_review: bool = Field(description="Its review date has passed.")
    places: list[str]
    file: str
    ocr_pages: list[int]
    in_library: bool = Field(description="Its file is in the library folder (false: built with --only).")
    warnings: list[str] = Field(description="What the ingest noticed in the file, e.g. hidden text not indexed.")


class FileReport(_Shape):
    file: str
    doc_id: str
    passages: int
    checklist_items: int
    pages: int | None
    warnings: list[str]
    title: str
    area: str


class IngestReport(_Shape):
    build: str
    unchanged: bool
    files: list[FileReport]
    skipped: list[tuple[str, str]] = Field(description="(file, reason) of each file left out.")
    passages: int
    checklist_items: int
    sentences: int
    twins: int
    seconds: float
    embedded: int
    reused: int
    word_pieces: dict[str, int] = Field(
        default_factory=dict, description="Word pieces the model ran in this build, per kind of text embedded.")
    timings: dict[str, float]


# -- responses -----------------------------------------------------------------------------


class AnswerResponse(Answer):
    markdown: str = Field(description="The whole answer as Markdown, citation markers [n], sources last.")


class SearchResponse(_Shape):
    hits: list[Hit]


class DocumentsResponse(_Shape):
    documents: list[Document]
    areas: list[str]


class DocumentResponse(_Shape):
    document: Document
    passages: list[Passage] = Field(description="Its passages in reading order.")


class FeedbackResponse(_Shape):
    stored: bool
    question_stored: bool


class Progress(_Shape):
    stage: str
    done: int
    total: int


class Health(_Shape):
    status: Literal["starting", "building", "loading", "ready", "failed"]
    progress: Progress | None = None
    detail: str | None = None
    build: str | None = None
    built_at: str | None = None
    documents: int | None = None
    passages: int | None = None
    areas: list[str] | None = None
    modes: list[str] | None = None


class Proposal(_Shape):
    """What a document says of itself, to pre-fill its library entry (`ingest.describe`)."""

    file: str
    title: str
    publisher: str
    area: str
    places: list[str]
    date: str
    version: str
    review_date: str
    pages: int | None
    reasons: dict[str, str] = Field(description="Where each proposal was found in the document.")


class Job(_Shape):
    """A change of the source library, run in the background, one at a time."""

    id: str
    action: Literal["add", "replace", "remove"]
    target: str = Field(description="The file added, or the id of the source removed or replaced.")
    state: Literal["running", "done", "failed"]
    stage: str
    done: int
    total: int
    started_at: str
    finished_at: str | None
    detail: str | None = Field(description="Why it failed, or what it did.")
    added: list[str]
    removed: list[str]
    assumed: dict[str, dict[str, str]]
    report: IngestReport | None


class SourcesResponse(_Shape):
    sources: list[Source]
    job: Job | None = Field(description="The library change running now, if any.")
    max_upload_bytes: int
