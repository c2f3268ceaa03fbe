"""Hybrid retrieval: three rankings of the passages (MiniLM passage vectors, each passage's
best-matching sentence, BM25), their top candidates pooled and ordered by the learned ranker
(`assistant.rank`), with repeated sections collapsed."""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from assistant.copies import Copies, collapse, find_copies, runs, sentence_stand_ins, shared_ranks, spread_best
from assistant.facets import detect_area
from assistant.kinds import guidance_share, sentence_kind
from assistant.lexical import BM25
from assistant.rank import FEATURES, RANKER_FILE, RRF_K, Ranker
from assistant.records import SECTION_SEPARATOR, ChecklistItem, Document, Hit, Passage
from assistant.store import Build, Catalog, documents_from_record
from assistant.text import lexical_tokens, library_tokens
from assistant.vocabulary import expansions

CANDIDATES = 40  # each ranking's top this many are pooled for the ranker
# Past this many sentences the sentence search stops being a matrix product over every sentence
# held in memory and asks Chroma's HNSW index instead (`hha bench` measures both sides: at 1x,
# ~1,800 sentences, the product takes 0.1 ms; at 100x, ~180,000, it takes ~50 ms and 280 MB).
SENTENCE_ANN_FROM = 50_000
SENTENCE_NEIGHBOURS = 200  # sentences the HNSW search returns per query, grouped into passages
EXPANSION_WEIGHT = 0.5  # a vocabulary word added to the lexical query counts half
# Columns of the feature matrix, by name (see assistant.rank.FEATURES).
_RR_DENSE, _RR_SENTENCE, _RR_BM25 = FEATURES.index("rr_dense"), FEATURES.index("rr_sentence"), FEATURES.index("rr_bm25")
_LOCAL, _AREA_MATCH, _OTHER_AREA = FEATURES.index("local"), FEATURES.index("area_match"), FEATURES.index("other_area")
STATIC_FEATURES = ("checklist", "guidance", "local", "area_match", "other_area", "position", "length")
assert FEATURES[9:] == STATIC_FEATURES, "static features are the tail of the feature vector"


def load_ranker() -> Ranker:
    return Ranker.load() if RANKER_FILE.exists() else Ranker.rrf()


@dataclass
class Index:
    """A complete build loaded for reading."""

    build: Build
    documents: list[Document]
    passages: list[Passage]
    checklist: list[ChecklistItem]
    by_id: dict[str, Passage]
    bm25: BM25
    record: dict
    sentence_spans: list[tuple[str, int, int]]  # (passage id, start, end) per row
    # One row per guidance sentence: in memory for the exact search; memory-mapped from the
    # build's file for the HNSW search (rows read from disk when touched).
    sentence_vectors: np.ndarray
    sentence_owner: np.ndarray  # row -> index of its passage in `passages`
    sentences_of: dict[str, list[int]]  # passage id -> rows
    sentence_kinds: list[str]  # per row: guidance, finding, illustration or background (assistant.kinds)
    passage_vectors: np.ndarray  # one row per passage, in the order of `passages`
    static_features: np.ndarray  # per passage: the query-independent ranker features
    heading_tokens: list[frozenset[str]]  # per passage: words of its title and section path
    checklist_vectors: np.ndarray  # one row per checklist item, in the order of `checklist`
    sentence_search: str = "exact"  # "exact" (matrix product) or "ann" (Chroma's HNSW index)
    row_of: dict[str, int] = field(default_factory=dict)  # passage id -> index in `passages`
    copies: Copies | None = None  # passages repeating other documents' text (None: there are none)
    # Exact search with copies: row -> row of `sentence_vectors`, which holds distinct sentences only.
    sentence_rows: np.ndarray | None = None
    _sentence_words: dict[int, frozenset[str]] = field(default_factory=dict, repr=False, compare=False)

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
        doc_scope = {d.id: d.scope for d in documents}
        copies = find_copies(passages, [doc_scope.get(p.doc_id, "local") == "local" for p in passages])
        if sentence_search == "auto" and copies is None:
            sentence_search = "ann" if build.count("sentences") > SENTENCE_ANN_FROM else "exact"
        spans, matrix = build.sentence_file()
        position = {p.id: i for i, p in enumerate(passages)}
        keep = [i for i, (pid, _, _) in enumerate(spans) if pid in position]
        if len(keep) < len(spans):
            spans = [spans[i] for i in keep]
            matrix = matrix[keep]
        # With copies, a copy's sentence is searched by its group's first member's vector: the
        # search's size is the library's distinct sentences, not its copies.
        stand_ins = sentence_stand_ins(copies, passages, spans) if copies is not None else None
        distinct = np.unique(stand_ins) if stand_ins is not None else None
        if sentence_search == "auto":
            sentence_search = "ann" if len(distinct) > SENTENCE_ANN_FROM else "exact"
        sentence_rows = None
        if sentence_search == "exact":  # every row is read by every query: in memory
            if distinct is None:
                matrix = np.array(matrix, dtype=np.float32)
            else:
                matrix = np.array(matrix[distinct], dtype=np.float32)
                sentence_rows = np.searchsorted(distinct, stand_ins)
        sentences_of: dict[str, list[int]] = {}
        for row, (pid, _, _) in enumerate(spans):
            sentences_of.setdefault(pid, []).append(row)
        doc_kind = {d.id: d.kind for d in documents}
        by_id = {p.id: p for p in passages}
        kinds = sentence_kinds(spans, by_id, doc_kind)
        ids, vectors = build.vectors("passages")
        row_of = {pid: i for i, pid in enumerate(ids)}
        passage_vectors = vectors[[row_of[p.id] for p in passages]] if passages else np.zeros((0, 384), np.float32)
        item_ids, item_vectors = build.vectors("checklist")
        build.forget_reading()  # the records read; the index keeps its own objects
        item_row = {iid: i for i, iid in enumerate(item_ids)}
        return cls(
            checklist_vectors=item_vectors[[item_row[i.id] for i in items]] if items else np.zeros((0, 384), np.float32),
            passage_vectors=passage_vectors,
            sentence_kinds=kinds,
            static_features=static_features(passages, items, documents, spans, kinds),
            heading_tokens=[frozenset(t) for t in library_tokens(f"{p.title}\n{SECTION_SEPARATOR.join(p.section)}"
                                                                  for p in passages)],
            sentence_spans=spans,
            sentence_vectors=matrix,
            sentence_owner=np.array([position[pid] for pid, _, _ in spans], dtype=np.int64),
            sentences_of=sentences_of,
            build=build,
            documents=documents,
            passages=passages,
            checklist=items,
            by_id=by_id,
            # A generator: one passage's tokens at a time (see `BM25`).
            bm25=BM25(library_tokens(index_text(p) for p in passages)),
            record=record or {},
            sentence_search=sentence_search,
            row_of=position,
            copies=copies,
            sentence_rows=sentence_rows,
        )

    # What every answer reads of the documents is worked out once per index load, not per
    # question (an index is never changed once loaded: a new build is a new Index).
    @cached_property
    def _local_areas(self) -> dict[str, tuple[str, ...]]:
        areas: dict[str, tuple[str, ...]] = {}
        for d in self.documents:
            if d.scope == "local" and d.area and d.area != "Not stated":
                areas[d.area] = tuple(sorted(set(areas.get(d.area, ()) + d.places)))
        return areas

    @property
    def local_areas(self) -> dict[str, tuple[str, ...]]:
        """Each local area's place names (a copy: the caller may change it)."""
        return dict(self._local_areas)

    @cached_property
    def _areas(self) -> tuple[str, ...]:
        return tuple(sorted({d.area for d in self.documents if d.area and d.area != "Not stated"}))

    @property
    def areas(self) -> list[str]:
        return list(self._areas)

    @cached_property
    def _document_of(self) -> dict[str, Document]:
        out: dict[str, Document] = {}
        for d in self.documents:
            out.setdefault(d.id, d)  # the first of an id, as a search in order finds it
        return out

    def document(self, doc_id: str) -> Document | None:
        return self._document_of.get(doc_id)

    @cached_property
    def heading_rows(self) -> dict[str, np.ndarray]:
        """Each word of a title or heading -> the passages (rows) that have it there."""
        rows: dict[str, list[int]] = {}
        for i, words in enumerate(self.heading_tokens):
            for t in words:
                rows.setdefault(t, []).append(i)
        return {t: np.array(r, dtype=np.int64) for t, r in rows.items()}

    def sentence_words(self, row: int) -> frozenset[str]:
        """The lexical tokens of one sentence row, tokenised when first read and kept."""
        words = self._sentence_words.get(row)
        if words is None:
            pid, a, b = self.sentence_spans[row]
            words = self._sentence_words[row] = frozenset(lexical_tokens(self.by_id[pid].text[a:b]))
        return words

    def scope_of(self, passage: Passage) -> str:
        doc = self.document(passage.doc_id)
        return doc.scope if doc else "local"

    def neighbours(self, passage: Passage, before: int = 1, after: int = 1) -> list[Passage]:
        same = [p for p in self.passages if p.doc_id == passage.doc_id]
        i = next(i for i, p in enumerate(same) if p.id == passage.id)
        return same[max(0, i - before) : i + after + 1]


def sentence_kinds(spans: list[tuple[str, int, int]], by_id: dict[str, Passage], doc_kind: dict[str, str]) -> list[str]:
    """Each sentence row's kind; a sentence repeated in the same setting is read once."""
    known: dict[tuple, str] = {}
    out = []
    for pid, a, b in spans:
        p = by_id[pid]
        key = (p.text[a:b], p.section, doc_kind.get(p.doc_id, ""))
        if key not in known:
            known[key] = sentence_kind(*key)
        out.append(known[key])
    return out


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
    def parse(cls, text: str, expand: bool = True) -> Query:
        added = expansions(text) if expand else []
        base = lexical_tokens(text)
        expanded = [t for t in lexical_tokens(" ".join(added)) if t not in base]
        weights = {t: EXPANSION_WEIGHT for t in expanded}
        embed_text = text if not added else f"{text} ({'; '.join(added)})"
        return cls(text=text, tokens=base + expanded, weights=weights, embed_text=embed_text)


class Retriever:
    def __init__(self, index: Index, embedder, ranker: Ranker | None = None, expand: bool = True):
        self.index = index
        self.embedder = embedder
        self.ranker = ranker or load_ranker()
        self.expand = expand
        # With the HNSW sentence search: each recent search's best sentence similarity per query,
        # by its query vectors, so that `sentence_similarities(vectors)[:, n].max()` costs nothing.
        self._recent: OrderedDict[bytes, list[float]] = OrderedDict()
        self._recent_lock = threading.Lock()
        self._known: dict[str, np.ndarray] = {}  # vectors of our own fixed queries (see embed_known)
        self._parsed: dict[str, Query] = {}  # and their parsing (see parse_known)

    def embed(self, texts: list[str]) -> np.ndarray:
        """All the queries of one answer in one batched call (far cheaper than one call each)."""
        if hasattr(self.embedder, "embed_queries"):  # packed, and shared with concurrent answers
            return self.embedder.embed_queries(texts)
        if len(texts) == 1:
            return self.embedder.embed_query(texts[0])[None, :]
        return self.embedder.embed_documents(texts, batch_size=len(texts))

    def embed_known(self, texts: list[str]) -> np.ndarray:
        """Vectors of fixed queries of ours (a facet's query in the protocols' words, never a
        user's text), each embedded once per process and kept."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._known))
        if missing:
            self._known.update(zip(missing, self.embed(missing), strict=True))
        if not texts:
            return np.zeros((0, getattr(self.embedder, "dimensions", 0)), dtype=np.float32)
        return np.vstack([self._known[t] for t in texts]).astype(np.float32, copy=False)

    def parse(self, text: str) -> Query:
        return Query.parse(text, expand=self.expand)

    def parse_known(self, text: str) -> Query:
        """`parse` of a fixed query of ours (never a user's text), read once per process."""
        if text not in self._parsed:
            self._parsed[text] = self.parse(text)
        return self._parsed[text]

    def resolve_area(self, text: str, area: str | None) -> str | None:
        return area or detect_area(text, self.index.local_areas)

    def search(self, query: str, *, area: str | None = None, k: int = 8) -> list[Hit]:
        q = self.parse(query)
        vectors = self.embed([q.embed_text])
        return self.search_vectors([q], vectors, area=area, k=k)[0]

    def search_vectors(
        self, queries: list[Query], vectors: np.ndarray, *, area: str | None, k: int, facet_names: list[str] | None = None,
        sentence_sims=None,
    ) -> list[list[Hit]]:
        """`sentence_sims`: `sentence_similarities(vectors)`, when the caller has it already."""
        best_sentences = self.best_sentences(vectors, sentence_sims)
        out = []
        for n, q in enumerate(queries):
            ids, x, dense = self.candidates(q, vectors[n], best_sentences[:, n], area)
            scores = self.ranker.score(x) if len(ids) else np.zeros(0)
            order = np.argsort(-scores, kind="stable")
            facet = facet_names[n] if facet_names else None

            def hit(i: int, facet=facet, ids=ids, scores=scores, dense=dense, x=x) -> Hit:
                return Hit(passage=self.index.passages[ids[i]], score=float(scores[i]), similarity=float(dense[i]),
                           dense_rank=_rank(x[i, _RR_DENSE]), sentence_rank=_rank(x[i, _RR_SENTENCE]),
                           lexical_rank=_rank(x[i, _RR_BM25]), facet=facet)

            if self.index.copies is None:  # collapse_twins(...)[:k], without making the hits it drops
                passages = self.index.passages
                out.append(first_distinct(order, k, key=lambda i, ids=ids: twin_key(passages[ids[i]]), make=hit))
            else:
                out.append(collapse(collapse_twins([hit(i) for i in order]), self.index.copies, self.index.row_of)[:k])
        return out

    def candidates(
        self, q: Query, vector: np.ndarray, best_sentence: np.ndarray, area: str | None
    ) -> tuple[list[int], np.ndarray, np.ndarray]:
        """The passages any of the three rankings puts near the top, with their features.
        `best_sentence`: each passage's best sentence similarity with this query (-1: unknown)."""
        index = self.index
        if index.copies is None:
            dense = index.passage_vectors @ vector
        else:  # a copy is scored by its group's first member's vector, as its sentences are
            dense = (index.passage_vectors[index.copies.leads] @ vector)[index.copies.group]
        bm25 = index.bm25.scores(q.tokens, q.weights)
        if index.copies is None:
            ranks = [_ranks(dense), _ranks(best_sentence), _ranks(bm25, positive=True)]
            pool = sorted(set().union(*(np.flatnonzero(r <= CANDIDATES) for r in ranks)))
        else:  # copies share a rank, and one of each group (or of the area's own) enters the pool
            shared = [shared_ranks(s, index.copies, CANDIDATES, area, positive)
                      for s, positive in ((dense, False), (best_sentence, False), (bm25, True))]
            ranks = [r for r, _ in shared]
            pool = np.union1d(np.union1d(shared[0][1], shared[1][1]), shared[2][1]).tolist()
        if not pool:
            return [], np.zeros((0, len(FEATURES))), np.zeros(0)
        ids = np.array(pool)
        top_dense, top_sentence = float(dense.max()), float(best_sentence.max())
        top_bm25 = float(bm25.max()) or 1.0
        heading = _heading_overlap(q, index, ids)
        x = np.zeros((len(ids), len(FEATURES)))
        x[:, 0] = dense[ids]
        x[:, 1] = top_dense - dense[ids]
        x[:, 2] = best_sentence[ids]
        x[:, 3] = top_sentence - best_sentence[ids]
        x[:, 4] = bm25[ids] / top_bm25
        for column, r in zip((5, 6, 7), ranks, strict=True):
            rank = r[ids]
            x[:, column] = np.where(rank <= CANDIDATES, 1.0 / (RRF_K + rank), 0.0)
        x[:, 8] = heading
        x[:, 9:] = index.static_features[ids]
        if area is not None:
            local = index.static_features[ids, _LOCAL - 9] > 0
            same = np.array([index.passages[i].area == area for i in ids])
            x[:, _AREA_MATCH] = local & same
            x[:, _OTHER_AREA] = local & ~same
        return ids.tolist(), x, dense[ids]

    # -- the sentence search -----------------------------------------------------------
    def best_sentences(self, vectors: np.ndarray, sims=None) -> np.ndarray:
        """Each passage's best-matching sentence, per query (passages x queries; -1 where the
        search saw none of its sentences): a precise checklist question inside a long passage
        is found even when the passage as a whole is diluted."""
        best = np.full((len(self.index.passages), len(vectors)), -1.0, dtype=np.float32)
        if self.index.sentence_search == "exact":
            sims = self.sentence_similarities(vectors) if sims is None else sims
            if len(sims):
                owners, order, starts = self._owners
                best[owners] = np.maximum(best[owners], np.maximum.reduceat(np.asarray(sims)[order], starts, axis=0))
            return best
        found_all = self.index.build.query(vectors, SENTENCE_NEIGHBOURS, which="sentences")
        for n, found in enumerate(found_all):
            for sid, sim in found:
                row = self.index.row_of.get(sid.rsplit(":", 2)[0])
                if row is not None and sim > best[row, n]:
                    best[row, n] = sim
        self._remember(vectors, [f[0][1] if f else 0.0 for f in found_all])
        return best if self.index.copies is None else spread_best(best, self.index.copies)

    @cached_property
    def _owners(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(passages with sentences, sentence rows sorted by passage, where each passage's run
        starts): each passage's best sentence in one pass over the rows."""
        owner = self.index.sentence_owner
        order, starts = runs(owner)
        return owner[order][starts], order, starts

    def sentence_similarities(self, vectors: np.ndarray):
        """Cosine similarity of every guidance sentence with each query (rows x queries).

        Exact search: a numpy array. HNSW search: an `OnDemandSimilarities` read the same way
        (`sims[row, n]`, `sims[row, 1:]`, `sims[:, n].max()`, `.shape`, `.size`), a passage's
        sentences computed when one of them is first read: never a product over every sentence."""
        if self.index.sentence_search == "exact":
            if self.index.sentence_rows is not None:
                return (self.index.sentence_vectors @ vectors.T)[self.index.sentence_rows]
            return self.index.sentence_vectors @ vectors.T
        return OnDemandSimilarities(self, vectors, self._recall(vectors))

    def sentence_scores(self, vectors: np.ndarray, rows: list[int]) -> np.ndarray:
        """Cosine similarity of the given sentence rows with each query (len(rows) x queries)."""
        if self.index.sentence_rows is not None:
            rows = self.index.sentence_rows[list(rows)]
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


def static_features(passages: list[Passage], items: list[ChecklistItem], documents: list[Document],
                    spans: list[tuple[str, int, int]], kinds: list[str]) -> np.ndarray:
    """The query-independent features of each passage (columns: STATIC_FEATURES; the two area
    columns are filled per query)."""
    with_items = {i.passage_id for i in items}
    scope = {d.id: d.scope for d in documents}
    per_doc: dict[str, int] = {}
    for p in passages:
        per_doc[p.doc_id] = max(per_doc.get(p.doc_id, 0), p.order)
    sentences: dict[str, list[str]] = {}
    for (pid, _, _), kind in zip(spans, kinds, strict=True):
        sentences.setdefault(pid, []).append(kind)
    out = np.zeros((len(passages), len(STATIC_FEATURES)))
    for i, p in enumerate(passages):
        out[i] = (
            p.id in with_items,
            guidance_share(sentences.get(p.id, [])),
            scope.get(p.doc_id, "local") == "local",
            0.0,
            0.0,
            p.order / max(1, per_doc[p.doc_id]),
            math.log(1 + len(p.text.split())),
        )
    return out


def _rank(reciprocal: float) -> int | None:
    """A ranking's rank back from its feature 1 / (RRF_K + rank); None when not among its candidates."""
    return int(reciprocal and round(1 / reciprocal - RRF_K)) or None


def _ranks(scores: np.ndarray, positive: bool = False) -> np.ndarray:
    """1-based rank of each entry by descending score (entries <= 0 rank last when `positive`)."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order] = np.arange(1, len(scores) + 1)
    if positive:
        ranks[scores <= 0] = len(scores) + CANDIDATES + 1
    return ranks


def _heading_overlap(q: Query, index: Index, ids: np.ndarray) -> np.ndarray:
    """Share of the query's idf weight found among each passage's title and heading words."""
    terms = {t: index.bm25.idf(t) * q.weights.get(t, 1.0) for t in set(q.tokens)}
    total = sum(terms.values()) or 1.0
    found = np.zeros(len(ids))
    for t, w in terms.items():  # in the order a sum over the terms adds them: the same bits
        rows = index.heading_rows.get(t)
        if rows is not None:
            found += np.where(np.isin(ids, rows), w, 0.0)
    return found / total


def twin_key(passage: Passage) -> str:
    return passage.twin_of or passage.id


def first_distinct(items, k: int, key, make) -> list:
    """`make(item)` for the first k items whose `key` no item before them had."""
    seen: set = set()
    out = []
    for item in items:
        if len(out) >= k:
            break
        if (kept := key(item)) not in seen:
            seen.add(kept)
            out.append(make(item))
    return out


def collapse_twins(hits: list[Hit]) -> list[Hit]:
    """Keep the best-scoring member of each group of repeated passages."""
    return first_distinct(hits, len(hits), key=lambda h: twin_key(h.passage), make=lambda h: h)


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
            return self.row(int(row))[query] if isinstance(query, slice) else float(self.row(int(row))[query])
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
