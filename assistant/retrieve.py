"""Hybrid retrieval: MiniLM vectors in Chroma and BM25 in memory, fused by reciprocal rank,
preferring the user's own area, with repeated sections collapsed and documents diversified."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from assistant.facets import detect_area
from assistant.lexical import BM25
from assistant.records import SECTION_SEPARATOR, ChecklistItem, Document, Hit, Passage
from assistant.store import Build, Catalog, documents_from_record
from assistant.text import lexical_tokens
from assistant.vocabulary import expansions

RRF_K = 60
CANDIDATES = 40
LOCAL_BOOST = 1.25  # the user's own area's protocol
OTHER_AREA_FACTOR = 0.6  # another area's protocol: still shown, labelled, never as "yours"
SAME_DOC_DECAY = 0.85  # each further hit from one document counts a little less
EXPANSION_WEIGHT = 0.5
SENTENCE_WEIGHT = 1.0  # the best-sentence ranking, fused beside passage vectors and BM25


@dataclass
class Index:
    """A complete build loaded for reading."""

    build: Build
    documents: list[Document]
    passages: list[Passage]
    checklist: list[ChecklistItem]
    by_id: dict[str, Passage]
    bm25: BM25
    checklist_bm25: BM25
    record: dict
    sentence_spans: list[tuple[str, int, int]]  # (passage id, start, end) per row
    sentence_vectors: np.ndarray  # one row per guidance sentence
    sentence_owner: np.ndarray  # row -> index of its passage in `passages`
    sentences_of: dict[str, list[int]]  # passage id -> rows

    @classmethod
    def load(cls, catalog: Catalog, build_id: str | None = None) -> Index:
        build = catalog.open(build_id)
        record = catalog.current() if build_id is None else {"build": build_id}
        passages = build.passages()
        items = build.checklist()
        documents = documents_from_record(record or {})
        spans, matrix = build.sentences()
        position = {p.id: i for i, p in enumerate(passages)}
        keep = [i for i, (pid, _, _) in enumerate(spans) if pid in position]
        spans = [spans[i] for i in keep]
        matrix = matrix[keep] if len(keep) else np.zeros((0, 384), dtype=np.float32)
        sentences_of: dict[str, list[int]] = {}
        for row, (pid, _, _) in enumerate(spans):
            sentences_of.setdefault(pid, []).append(row)
        return cls(
            sentence_spans=spans,
            sentence_vectors=matrix,
            sentence_owner=np.array([position[pid] for pid, _, _ in spans], dtype=np.int64),
            sentences_of=sentences_of,
            build=build,
            documents=documents,
            passages=passages,
            checklist=items,
            by_id={p.id: p for p in passages},
            bm25=BM25([lexical_tokens(index_text(p)) for p in passages]),
            checklist_bm25=BM25([lexical_tokens(f"{i.topic} {i.text}") for i in items]),
            record=record or {},
        )

    @property
    def local_areas(self) -> dict[str, tuple[str, ...]]:
        areas: dict[str, tuple[str, ...]] = {}
        for d in self.documents:
            if d.scope == "local" and d.area and d.area != "Not stated":
                areas[d.area] = tuple(sorted(set(areas.get(d.area, ()) + d.places)))
        return areas

    @property
    def areas(self) -> list[str]:
        return sorted({d.area for d in self.documents if d.area and d.area != "Not stated"})

    def document(self, doc_id: str) -> Document | None:
        return next((d for d in self.documents if d.id == doc_id), None)

    def scope_of(self, passage: Passage) -> str:
        doc = self.document(passage.doc_id)
        return doc.scope if doc else "local"

    def neighbours(self, passage: Passage, before: int = 1, after: int = 1) -> list[Passage]:
        same = [p for p in self.passages if p.doc_id == passage.doc_id]
        i = next(i for i, p in enumerate(same) if p.id == passage.id)
        return same[max(0, i - before) : i + after + 1]


def index_text(p: Passage) -> str:
    """What BM25 sees: the section label carries words the text itself may not repeat."""
    return f"{SECTION_SEPARATOR.join(p.section)}\n{p.text}"


@dataclass(frozen=True)
class Query:
    text: str
    tokens: list[str]
    weights: dict[str, float]
    embed_text: str

    @classmethod
    def parse(cls, text: str, extra: str = "") -> Query:
        added = expansions(text)
        base = lexical_tokens(f"{text} {extra}")
        expanded = [t for t in lexical_tokens(" ".join(added)) if t not in base]
        weights = {t: EXPANSION_WEIGHT for t in expanded}
        embed_text = text if not added else f"{text} ({'; '.join(added)})"
        if extra:
            embed_text = f"{embed_text}. {extra}"
        return cls(text=text, tokens=base + expanded, weights=weights, embed_text=embed_text)


class Retriever:
    def __init__(self, index: Index, embedder):
        self.index = index
        self.embedder = embedder

    def embed(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1:
            return self.embedder.embed_query(texts[0])[None, :]
        return self.embedder.embed_documents(texts, batch_size=len(texts))

    def resolve_area(self, text: str, area: str | None) -> str | None:
        return area or detect_area(text, self.index.local_areas)

    def search(self, query: str, *, area: str | None = None, k: int = 8) -> list[Hit]:
        q = Query.parse(query)
        vectors = self.embed([q.embed_text])
        return self.search_vectors([q], vectors, area=area, k=k)[0]

    def search_vectors(
        self, queries: list[Query], vectors: np.ndarray, *, area: str | None, k: int, facet_names: list[str] | None = None
    ) -> list[list[Hit]]:
        dense_all = self.index.build.query(vectors, CANDIDATES)
        sentence_sims = self.sentence_similarities(vectors)
        out = []
        for n, (q, dense) in enumerate(zip(queries, dense_all, strict=True)):
            lexical = self.index.bm25.top(q.tokens, CANDIDATES, q.weights)
            hits = self.fuse(dense, lexical, area=area, sentences=self.best_by_sentence(sentence_sims[:, n]))
            facet = facet_names[n] if facet_names else None
            out.append([replace(h, facet=facet) for h in diversify(collapse_twins(hits), k)])
        return out

    def sentence_similarities(self, vectors: np.ndarray) -> np.ndarray:
        """Cosine similarity of every guidance sentence with each query (rows x queries)."""
        return self.index.sentence_vectors @ vectors.T

    def best_by_sentence(self, sims: np.ndarray, n: int = CANDIDATES) -> list[tuple[int, float]]:
        """Passages ranked by their best-matching sentence: a precise checklist question
        inside a long passage is found even when the passage as a whole is diluted."""
        if not len(sims):
            return []
        best = np.full(len(self.index.passages), -1.0, dtype=np.float32)
        np.maximum.at(best, self.index.sentence_owner, sims)
        n = min(n, len(best))
        top = np.argpartition(-best, n - 1)[:n]
        return sorted(((int(i), float(best[i])) for i in top if best[i] > -1), key=lambda x: -x[1])

    def fuse(
        self, dense: list[tuple[str, float]], lexical: list[tuple[int, float]], *, area: str | None,
        sentences: list[tuple[int, float]] = (),
    ) -> list[Hit]:
        scores: dict[str, float] = {}
        similarity: dict[str, float] = {}
        dense_rank: dict[str, int] = {}
        lexical_rank: dict[str, int] = {}
        for rank, (i, _best) in enumerate(sentences, start=1):
            pid = self.index.passages[i].id
            scores[pid] = scores.get(pid, 0.0) + SENTENCE_WEIGHT / (RRF_K + rank)
        for rank, (pid, sim) in enumerate(dense, start=1):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (RRF_K + rank)
            similarity[pid] = sim
            dense_rank[pid] = rank
        for rank, (i, _) in enumerate(lexical, start=1):
            pid = self.index.passages[i].id
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (RRF_K + rank)
            lexical_rank[pid] = rank
        hits = []
        for pid, score in scores.items():
            passage = self.index.by_id.get(pid)
            if passage is None:
                continue
            hits.append(
                Hit(
                    passage=passage,
                    score=score * self.area_factor(passage, area),
                    similarity=similarity.get(pid, 0.0),
                    dense_rank=dense_rank.get(pid),
                    lexical_rank=lexical_rank.get(pid),
                )
            )
        return sorted(hits, key=lambda h: -h.score)

    def area_factor(self, passage: Passage, area: str | None) -> float:
        if area is None or self.index.scope_of(passage) != "local":
            return 1.0
        return LOCAL_BOOST if passage.area == area else OTHER_AREA_FACTOR

    def checklist_for(
        self, q: Query, vector: np.ndarray, *, k: int = 5, area: str | None = None, prefer_topics: tuple[str, ...] = ()
    ) -> list[tuple[ChecklistItem, float]]:
        """Checklist questions that fit the query: dense and lexical, fused, twins merged."""
        items = self.index.checklist
        if not items:
            return []
        dense = self.index.build.query(vector[None, :], CANDIDATES, which="checklist")[0]
        by_id = {i.id: i for i in items}
        scores: dict[str, float] = {}
        sims: dict[str, float] = {}
        for rank, (iid, sim) in enumerate(dense, start=1):
            scores[iid] = scores.get(iid, 0.0) + 1.0 / (RRF_K + rank)
            sims[iid] = sim
        for rank, (i, _) in enumerate(self.index.checklist_bm25.top(q.tokens, CANDIDATES, q.weights), start=1):
            iid = items[i].id
            scores[iid] = scores.get(iid, 0.0) + 1.0 / (RRF_K + rank)
        ranked: list[tuple[ChecklistItem, float]] = []
        seen_text: set[str] = set()
        for iid, score in sorted(scores.items(), key=lambda kv: -kv[1]):
            item = by_id[iid]
            passage = self.index.by_id.get(item.passage_id)
            if passage is None or sims.get(iid, 0.0) < 0.3:
                continue
            key = " ".join(lexical_tokens(item.text))
            if key in seen_text:
                continue
            seen_text.add(key)
            factor = self.area_factor(passage, area)
            if prefer_topics and any(t.lower() in SECTION_SEPARATOR.join(item.section).lower() for t in prefer_topics):
                factor *= 1.5
            ranked.append((item, score * factor))
        ranked.sort(key=lambda x: -x[1])
        return ranked[:k]


def collapse_twins(hits: list[Hit]) -> list[Hit]:
    """Keep the best-scoring member of each group of repeated passages."""
    seen: set[str] = set()
    out = []
    for hit in hits:
        key = hit.passage.twin_of or hit.passage.id
        if key in seen:
            continue
        seen.add(key)
        out.append(hit)
    return out


def diversify(hits: list[Hit], k: int) -> list[Hit]:
    """Greedy re-ranking so one long document does not fill every slot."""
    remaining = list(hits)
    chosen: list[Hit] = []
    per_doc: dict[str, int] = {}
    while remaining and len(chosen) < k:
        best = max(remaining, key=lambda h: h.score * math.pow(SAME_DOC_DECAY, per_doc.get(h.passage.doc_id, 0)))
        remaining.remove(best)
        chosen.append(best)
        per_doc[best.passage.doc_id] = per_doc.get(best.passage.doc_id, 0) + 1
    return chosen
