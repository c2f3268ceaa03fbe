"""The records that flow through the stages: made by ingest, stored, retrieved, cited.

A `Passage` is the unit of retrieval and citation. Its text is the cleaned source text,
never rewritten, so any sentence shown to a user can be checked against it verbatim.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

SECTION_SEPARATOR = " › "


def content_id(*parts: str, length: int = 16) -> str:
    """A stable id from content: the same text in the same place gets the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    publisher: str
    area: str
    scope: str  # "local" (a local protocol) or "national"
    date: str
    audience: str
    kind: str
    summary: str
    source_file: str
    sha256: str
    places: tuple[str, ...] = ()
    version: str = ""  # as the document states it, e.g. "2.0"
    review_date: str = ""  # when its publisher means to review it, e.g. "March 2026"
    added: str = ""  # when it was added to the library (YYYY-MM-DD)
    ocr_pages: tuple[int, ...] = ()  # pages read by OCR (a scanned PDF)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["places"] = list(self.places)
        d["ocr_pages"] = list(self.ocr_pages)
        return d


@dataclass(frozen=True)
class Passage:
    id: str
    doc_id: str
    title: str
    area: str
    section: tuple[str, ...]
    paragraph: str | None  # the source's own paragraph number, e.g. "9.2.2"
    page: int | None  # page where the passage starts; None when the source has no pages
    order: int  # position in its document, for the source viewer and neighbours
    text: str
    twin_of: str | None = None  # id of an earlier passage this one repeats verbatim
    ocr: bool = False  # read from a scanned page by OCR: check it against the printed page

    @property
    def section_label(self) -> str:
        parts = list(self.section)
        if self.paragraph and (not parts or not parts[-1].startswith(self.paragraph)):
            parts.append(self.paragraph)
        return SECTION_SEPARATOR.join(parts)

    @property
    def citation_label(self) -> str:
        where = self.section_label or "whole document"
        page = f", p. {self.page}" if self.page is not None else ""
        ocr = " (OCR text)" if self.ocr else ""
        return f"{self.title} — {where}{page}{ocr}"

    def to_dict(self) -> dict:
        # Field by field: `asdict` deep-copies every value, and an answer sends dozens of passages.
        return {
            "id": self.id, "doc_id": self.doc_id, "title": self.title, "area": self.area,
            "section": list(self.section), "paragraph": self.paragraph, "page": self.page, "order": self.order,
            "text": self.text, "twin_of": self.twin_of, "ocr": self.ocr,
            "section_label": self.section_label, "citation_label": self.citation_label,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Passage:
        fields_ = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        fields_["section"] = tuple(fields_.get("section", ()))
        return cls(**fields_)


@dataclass(frozen=True)
class ChecklistItem:
    """A checklist question from the corpus, kept with where it stands in its passage."""

    id: str
    passage_id: str
    doc_id: str
    topic: str  # the heading it sits under, e.g. "7. Health risks"
    section: tuple[str, ...]
    page: int | None
    text: str  # verbatim, == passage.text[start:end]
    start: int
    end: int

    def to_dict(self) -> dict:
        d = asdict(self)
        d["section"] = list(self.section)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ChecklistItem:
        fields_ = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        fields_["section"] = tuple(fields_["section"])
        return cls(**fields_)


@dataclass(frozen=True)
class Hit:
    """A passage as retrieval found it."""

    passage: Passage
    score: float  # fused score, higher is better
    similarity: float = 0.0  # cosine similarity of query and passage (0 when not dense-ranked)
    dense_rank: int | None = None
    lexical_rank: int | None = None
    facet: str | None = None
    sentence_rank: int | None = None  # its best sentence's rank among the passages' best sentences

    def retrieval(self) -> dict:
        """How the passage was found: the part of a hit a citation carries beside its passage."""
        return {"score": round(self.score, 6), "similarity": round(self.similarity, 4),
                "dense_rank": self.dense_rank, "sentence_rank": self.sentence_rank, "lexical_rank": self.lexical_rank,
                "facet": self.facet}

    def to_dict(self) -> dict:
        return {"passage": self.passage.to_dict(), "retrieval": self.retrieval()}


@dataclass(frozen=True)
class Citation:
    n: int
    passage: Passage
    hit: Hit | None = None  # the retrieval that brought the passage in, for trainers
    currency: str | None = None  # e.g. "past its review date (March 2024)": a fixed note of ours
    area_label: str | None = None  # e.g. "Northmoor local protocol: not your area"

    @property
    def label(self) -> str:
        """The passage's citation label, with the currency note when there is one."""
        return self.passage.citation_label + (f" — {self.currency}" if self.currency else "")

    def to_dict(self, quoted: list[dict] | None = None) -> dict:
        """`quoted`: the spans of the passage an answer quotes ({text, start, end}), in order."""
        return {
            "n": self.n,
            "passage": self.passage.to_dict(),
            "retrieval": self.hit.retrieval() if self.hit is not None else None,
            "currency": self.currency,
            "area_label": self.area_label,
            "label": self.label,
            "quoted": list(quoted or []),
        }


@dataclass(frozen=True)
class Extract:
    """One verbatim stretch of a cited passage: text == passage.text[start:end]."""

    text: str
    citation: int  # Citation.n
    passage_id: str
    start: int
    end: int
    score: float = 0.0

    def to_dict(self) -> dict:
        return {"text": self.text, "citation": self.citation, "passage_id": self.passage_id, "start": self.start,
                "end": self.end, "score": self.score}


@dataclass(frozen=True)
class ProseSentence:
    """A sentence written by the optional language model, kept only because the passages it
    cites support it (see assistant.llm)."""

    text: str
    citations: tuple[int, ...]
    support: float

    def to_dict(self) -> dict:
        return {"text": self.text, "citations": list(self.citations), "support": self.support}


@dataclass(frozen=True)
class AnswerPart:
    heading: str
    extracts: tuple[Extract, ...]
    note: str | None = None  # a fixed sentence of ours, never source text

    def to_dict(self) -> dict:
        return {
            "heading": self.heading,
            "note": self.note,
            "extracts": [e.to_dict() for e in self.extracts],
        }


@dataclass(frozen=True)
class CarryOver:
    """How a message of a conversation was read: as a follow-up of the case before it (and what
    of that case it carried), or as a new case. `line` is a fixed sentence of ours, shown above
    the answer; the earlier messages themselves are never kept."""

    follow_up: bool
    line: str | None
    facets: tuple[str, ...] = ()  # the case's facets carried over
    signals: tuple[str, ...] = ()  # the kinds of immediate risk carried over
    area: str | None = None
    area_from: str | None = None  # the words the area was read from, in this message or an earlier one
    action: str | None = None  # the follow-up action asked for ("What to do now", ...), if any

    def to_dict(self) -> dict:
        d = asdict(self)
        d["facets"], d["signals"] = list(self.facets), list(self.signals)
        return d


@dataclass(frozen=True)
class Answer:
    question: str
    area: str | None
    parts: tuple[AnswerPart, ...]  # guidance, grouped by facet for a case
    checklist: tuple[Extract, ...]
    urgent: AnswerPart | None
    citations: tuple[Citation, ...]
    abstained: bool
    notices: tuple[str, ...] = ()
    nearest_topics: tuple[str, ...] = ()
    facets: tuple[str, ...] = ()
    mode: str = "extractive"
    timings_ms: dict = field(default_factory=dict)
    prose: tuple[ProseSentence, ...] = ()
    conversation: CarryOver | None = None  # set when the message was read with earlier ones
    actions: tuple[str, ...] = ()  # follow-up requests offered under the answer ("Shorter", ...)

    def all_extracts(self) -> list[Extract]:
        out: list[Extract] = []
        if self.urgent:
            out.extend(self.urgent.extracts)
        for part in self.parts:
            out.extend(part.extracts)
        out.extend(self.checklist)
        return out

    def quoted(self) -> dict[int, list[dict]]:
        """Citation number -> the distinct spans of its passage quoted in this answer, in order."""
        out: dict[int, list[dict]] = {}
        for e in self.all_extracts():
            spans = out.setdefault(e.citation, [])
            if not any(s["start"] == e.start and s["end"] == e.end for s in spans):
                spans.append({"text": e.text, "start": e.start, "end": e.end})
        return {n: sorted(spans, key=lambda s: s["start"]) for n, spans in out.items()}

    def to_dict(self) -> dict:
        quoted = self.quoted()
        return {
            "question": self.question,
            "area": self.area,
            "mode": self.mode,
            "abstained": self.abstained,
            "urgent": self.urgent.to_dict() if self.urgent else None,
            "parts": [p.to_dict() for p in self.parts],
            "checklist": [e.to_dict() for e in self.checklist],
            "citations": [c.to_dict(quoted.get(c.n, [])) for c in self.citations],
            "notices": list(self.notices),
            "nearest_topics": list(self.nearest_topics),
            "facets": list(self.facets),
            "timings_ms": self.timings_ms,
            "prose": [s.to_dict() for s in self.prose],
            "conversation": self.conversation.to_dict() if self.conversation else None,
            "actions": list(self.actions),
        }
