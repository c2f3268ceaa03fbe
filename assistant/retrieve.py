"""Hybrid retrieval: MiniLM vectors in Chroma and BM25 in memory, fused by reciprocal rank,
preferring the user's own area, with repeated sections collapsed and documents diversified."""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace

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
# Past this many sentences the sentence search stops being a matrix product over every sentence
# held in memory and asks Chroma's HNSW index instead (`hha bench` measures both sides: at 1x,
# ~1,800 sentences, the product takes 0.1 ms; at 100x, ~180,000, it takes ~50 ms and 280 MB).
SENTENCE_ANN_FROM = 50_000
SENTENCE_NEIGHBOURS = 200  # sentences the HNSW search returns per query, grouped into passages


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
    # One row per guidance sentence: in memory for the exact search; memory-mapped from the
    # build's file for the HNSW search (rows read from disk when touched).
    sentence_vectors: np.ndarray
    sentence_owner: np.ndarray  # row -> index of its passage in `passages`
    sentences_of: dict[str, list[int]]  # passage id -> rows
    sentence_search: str = "exact"  # "exact" (matrix product) or "ann" (Chroma's HNSW index)
    row_of: dict[str, int] = field(default_factory=dict)  # passage id -> index in `passages`

    @classmethod
    def load(cls, catalog: Catalog, build_id: str | None = None, sentence_search: str = "auto") -> Index:
        """`sentence_search`: "exact", "ann", or "auto" (ann past SENTENCE_ANN_FROM sentences)."""
        if sentence_search not in ("auto", "exact", "ann"):
            raise ValueError(f"sentence_search must be auto, exact or ann, not {sentence_search!r}")
        build = catalog.open(build_id)
        record = catalog.current() if build_id is None else {"build": build_id}
        passages = build.passages()
        items = build.checklist()
        documents = documents_from_record(record or {})
        if sentence_search == "auto":
            sentence_search = "ann" if build.count("sentences") > SENTENCE_ANN_FROM else "exact"
        spans, matrix = build.sentence_file()
        if sentence_search == "exact":
            matrix = np.array(matrix, dtype=np.float32)  # every row is read by every query: in memory
        position = {p.id: i for i, p in enumerate(passages)}
        keep = [i for i, (pid, _, _) in enumerate(spans) if pid in position]
        if len(keep) < len(spans):
            spans = [spans[i] for i in keep]
            matrix = matrix[keep]
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
            # A generator: one passage's tokens at a time (see `BM25`).
            bm25=BM25(lexical_tokens(index_text(p)) for p in passages),
            checklist_bm25=BM25(lexical_tokens(f"{i.topic} {i.text}") for i in items),
            record=record or {},
            sentence_search=sentence_search,
            row_of=position,
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
        # With the HNSW sentence search: each recent search's best sentence similarity per query,
        # by its query vectors, so that `sentence_similarities(vectors)[:, n].max()` costs nothing.
        self._recent: OrderedDict[bytes, list[float]] = OrderedDict()
        self._recent_lock = threading.Lock()

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
        by_sentence, best = self.sentence_rankings(vectors)
        out = []
        for n, (q, dense) in enumerate(zip(queries, dense_all, strict=True)):
            lexical = self.index.bm25.top(q.tokens, CANDIDATES, q.weights)
            hits = self.fuse(dense, lexical, area=area, sentences=by_sentence[n])
            facet = facet_names[n] if facet_names else None
            out.append([replace(h, facet=facet) for h in diversify(collapse_twins(hits), k)])
        if self.index.sentence_search == "ann":
            self._remember(vectors, best)
        return out

    # -- the sentence search -----------------------------------------------------------
    def sentence_rankings(self, vectors: np.ndarray) -> tuple[list[list[tuple[int, float]]], list[float]]:
        """For each query, passages ranked by their best-matching sentence (see
        `best_by_sentence`), and each query's best sentence similarity."""
        if self.index.sentence_search == "exact":
            sims = self.sentence_similarities(vectors)
            best = [float(sims[:, n].max()) if len(sims) else 0.0 for n in range(len(vectors))]
            return [self.best_by_sentence(sims[:, n]) for n in range(len(vectors))], best
        rankings, best = [], []
        for found in self.index.build.query(vectors, SENTENCE_NEIGHBOURS, which="sentences"):
            top: dict[int, float] = {}
            for sid, sim in found:
                row = self.index.row_of.get(sid.rsplit(":", 2)[0])
                if row is not None and sim > top.get(row, -1.0):
                    top[row] = sim
            rankings.append(sorted(top.items(), key=lambda x: -x[1])[:CANDIDATES])
            best.append(found[0][1] if found else 0.0)
        return rankings, best

    def sentence_similarities(self, vectors: np.ndarray):
        """Cosine similarity of every guidance sentence with each query (rows x queries).

        Exact search: a numpy array. HNSW search: an `OnDemandSimilarities` read the same way
        (`sims[:, n][row]`, `sims[row, n]`, `sims[:, n].max()`, `.shape`, `.size`), a passage's
        sentences computed when one of them is first read: never a product over every sentence."""
        if self.index.sentence_search == "exact":
            return self.index.sentence_vectors @ vectors.T
        return OnDemandSimilarities(self, vectors, self._recall(vectors))

    def sentence_scores(self, vectors: np.ndarray, rows: list[int]) -> np.ndarray:
        """Cosine similarity of the given sentence rows with each query (len(rows) x queries):
        what a composer needs for the sentences of its candidate passages, at any size."""
        return np.asarray(self.index.sentence_vectors[list(rows)]) @ vectors.T

    @staticmethod
    def _key(vectors: np.ndarray) -> bytes:
        return hashlib.blake2b(np.ascontiguousarray(vectors, dtype=np.float32).tobytes(), digest_size=16).digest()

    def _remember(self, vectors: np.ndarray, best: list[float]) -> None:
        with self._recent_lock:
            self._recent[self._key(vectors)] = best
            while len(self._recent) > 64:
                self._recent.popitem(last=False)

    def _recall(self, vectors: np.ndarray) -> list[float] | None:
        with self._recent_lock:
            return self._recent.get(self._key(vectors))

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


class OnDemandSimilarities:
    """The (sentences x queries) similarities of the HNSW sentence search, read like the exact
    search's array but computed a passage's sentences at a time when first read. `best`: each
    query's best sentence similarity, when a search of the same vectors found it already."""

    ndim = 2

    def __init__(self, retriever: Retriever, vectors: np.ndarray, best: list[float] | None):
        self._retriever, self._vectors = retriever, vectors
        self._index = retriever.index
        self._rows: dict[int, np.ndarray] = {}
        self._best = best
        self.shape = (len(self._index.sentence_spans), len(vectors))
        self.size = self.shape[0] * self.shape[1]

    def __len__(self) -> int:
        return self.shape[0]

    def row(self, row: int) -> np.ndarray:
        """One sentence's similarity with each query."""
        if row not in self._rows:
            if not 0 <= row < self.shape[0]:
                raise IndexError(f"sentence row {row} out of range (0..{self.shape[0] - 1})")
            pid = self._index.sentence_spans[row][0]
            rows = [r for r in self._index.sentences_of.get(pid, [row]) if r not in self._rows]
            self._rows.update(zip(rows, self._retriever.sentence_scores(self._vectors, rows), strict=True))
        return self._rows[row]

    def rows(self, rows) -> np.ndarray:
        """Several sentences' similarities with each query (len(rows) x queries), the missing
        ones computed in one product."""
        rows = [int(r) for r in rows]
        bad = [r for r in rows if not 0 <= r < self.shape[0]]
        if bad:
            raise IndexError(f"sentence row {bad[0]} out of range (0..{self.shape[0] - 1})")
        missing = sorted({r for r in rows if r not in self._rows})
        if missing:
            self._rows.update(zip(missing, self._retriever.sentence_scores(self._vectors, missing), strict=True))
        return np.array([self._rows[r] for r in rows]).reshape(len(rows), self.shape[1])

    def best(self, query: int) -> float:
        """The best similarity of any sentence with query `query` (the HNSW search's first hit)."""
        if self._best is None:
            found = self._index.build.query(self._vectors, 1, which="sentences")
            self._best = [f[0][1] if f else 0.0 for f in found]
        return self._best[query]

    def __getitem__(self, key):
        if isinstance(key, tuple):
            row, query = key
            if isinstance(row, slice) and row == slice(None):
                return _Column(self, int(query))
            if _many(row):
                return self.rows(row)[:, query]
            return float(self.row(int(row))[query])
        return self.rows(key) if _many(key) else self.row(int(key))


def _many(key) -> bool:
    return isinstance(key, (list, tuple, np.ndarray))


class _Column:
    """One query's similarities: `column[row]`, `column.max()`."""

    def __init__(self, sims: OnDemandSimilarities, query: int):
        self._sims, self._query = sims, query
        self.shape = (sims.shape[0],)
        self.size = sims.shape[0]

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, row):
        if _many(row):
            return self._sims.rows(row)[:, self._query]
        return float(self._sims.row(int(row))[self._query])

    def max(self) -> float:
        return self._sims.best(self._query)
