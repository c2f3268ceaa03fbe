"""The second stage of an answer: gathering evidence for a plan, and scoring the sentences that
could be shown.

Every query of an answer is embedded in one batched call: the text itself and each aspect of
a case (its own clauses: "bottle on the kitchen side", "drinks at weekends"); each facet a case
raises is a fixed query in the protocols' words, embedded once per process. Each query's
passages are ranked by the learned passage ranker; the sentences of the top passages are then
scored by a second small learned model (the extract scorer), from features that say nothing
about particular questions: how similar the sentence is to the text and to its closest aspect,
how well its passage ranked, what kind of sentence it is, and how often answers on dev needed
it, all of them and those of the dev items most like this text (`Demand`).
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.kinds import BACKGROUND, FINDING, GUIDANCE, ILLUSTRATION, asks_question
from assistant.plan import Plan
from assistant.rank import EXTRACT_FILE, Ranker
from assistant.records import Hit, Passage
from assistant.retrieve import Query, Retriever

MAX_ASPECTS = 10  # clauses of a case embedded as queries of their own, at most
_CLAUSE = re.compile(r"(?<=[.?!;\n])\s+|\s+[-–]\s+|\s*\+\s*")

EXTRACT_FEATURES = (
    "to_text",  # cosine similarity of the sentence and the whole question or case
    "to_aspect",  # ... and its closest facet or aspect query (to_text for a question)
    "passage_score",  # the passage ranker's best log-odds for this passage over the queries
    "passage_rank",  # 1 / (1 + best rank of the passage over the queries)
    "overlap",  # share of the text's idf weight among the sentence's words
    "guidance", "finding", "background",  # the sentence's kind (illustrations are never shown)
    "question",  # it is a question ("Is the child ...?"): a checklist item
    "length",  # log of its length in words
    "best_in_passage",  # how far below the passage's best sentence for the text
    "concern_rank",  # 1 / (1 + its rank among the candidates for the concern it is closest to)
    "concern_votes",  # for how many of the case's concerns it is among the three best candidates
    "demand",  # log(1 + how many dev questions and case points needed it or a sentence saying the same)
    "neighbour_demand",  # ... counting only the NEIGHBOURS dev items whose text is closest to this one
)
VOTE_TOP = 3
_CONCERN_RANK, _CONCERN_VOTES, _DEMAND, _NEIGHBOUR_DEMAND = (
    EXTRACT_FEATURES.index(n) for n in ("concern_rank", "concern_votes", "demand", "neighbour_demand"))
DEMAND_FILE = Path(__file__).with_name("demand.json")
# Sentences this close (cosine) share their demand: a copy in another area's protocol, or a
# protocol saying the same. Dev (before its last 75 questions and 14 cases), cross-validated
# shown coverage of the extract scorer in a first trial: 0.402 at 0.9, 0.403 for the same text
# only, 0.394 at 0.8 (0.380 without the feature).
DEMAND_SIMILARITY = 0.9
# The dev items (questions and cases) closest to a new text whose needs count for its
# neighbour demand. Dev, cross-validated shown coverage of the extract scorer (448 items, a
# first trial): 0.378 without it; with it 0.399 / 0.398 / 0.394 at 5 / 10 / 25 neighbours, and
# 0.396 with 15 weighted by similarity. 10: the middle of a tie.
NEIGHBOURS = 10
# A sentence that this many of those neighbours needed joins the candidates (with its passage's
# other sentences) even when no query ranked its passage near the top. Dev, cross-validated
# shown coverage (448 items, a first trial): 0.398 without; 0.449 / 0.459 / 0.442 / 0.409 when
# 1 / 2 / 3 / 5 of the 10 agree.
NEIGHBOURS_AGREE = 2


def sentence_key(text: str) -> str:
    return " ".join(text.split())


class Demand:
    """How often answers needed a sentence: the dev questions and case points whose gold quote
    lies in it, or in a sentence of the sources within DEMAND_SIMILARITY of it, as log(1 + n).
    A prior that knows nothing of the question, like a search engine's static rank: of the
    sentences relevant to a case, the ones practitioners' questions keep needing (the referral
    threshold, safe storage, the questions to ask) before the rest.

    And the same count over the NEIGHBOURS dev items whose text is closest to the new one
    (`near`): what was needed by questions and cases like this one, as a search engine learns
    from the clicks of similar queries: a case of a parent on a methadone script has the
    questions on children reaching the methadone and a locked safe box that dev's methadone
    cases needed.

    Learned from dev by `hha train-ranker` (`demand.json`: each needed sentence's text and
    count, each dev item's text vector and the sentences it needed); a sentence of a protocol
    added later has the demand of the sentences it repeats, else none."""

    def __init__(self, index, needed: dict[str, float], similarity: float = DEMAND_SIMILARITY,
                 items: tuple[np.ndarray, list[list[str]]] | None = None, neighbours: int = NEIGHBOURS,
                 agree: int = NEIGHBOURS_AGREE):
        self.index, self.similarity, self.neighbours, self.agree = index, similarity, neighbours, agree
        rows: dict[str, int] = {}
        for row, (pid, a, b) in enumerate(index.sentence_spans):
            key = sentence_key(index.by_id[pid].text[a:b])
            if key in needed:
                rows.setdefault(key, row)
        self._first_rows = np.array(list(rows.values()), dtype=int)  # each counted sentence's row
        self._needed = self._vectors(list(self._first_rows))
        self._counts = np.array([needed[k] for k in rows], dtype=np.float32)
        self._cache = np.full(len(index.sentence_spans), np.nan, dtype=np.float32)
        # Which dev items needed each counted sentence (sentences x items), and each item's text vector.
        item_vectors, needs = items if items is not None else (np.zeros((0, self._needed.shape[1])), [])
        self._item_vectors = np.asarray(item_vectors, dtype=np.float32)
        column = {key: n for n, key in enumerate(rows)}
        self._needed_by = np.zeros((len(rows), len(needs)), dtype=np.float32)
        for item, keys in enumerate(needs):
            for key in keys:
                if key in column:
                    self._needed_by[column[key], item] = 1.0
        # Per row, which items needed it (or its like), as bits: 56 bytes a row for 448 items.
        self._items_of = np.zeros((len(index.sentence_spans), (len(needs) + 7) // 8), dtype=np.uint8)

    def _vectors(self, rows: list[int]) -> np.ndarray:
        index = self.index
        if not rows:
            return np.zeros((0, index.sentence_vectors.shape[1]), dtype=np.float32)
        stored = index.sentence_rows[rows] if index.sentence_rows is not None else rows
        return np.asarray(index.sentence_vectors[np.asarray(stored)], dtype=np.float32)

    def of(self, rows: np.ndarray) -> np.ndarray:
        """Each row's demand, worked out when first asked and kept for the index's life."""
        values = self._cache[rows]
        missing = np.unique(rows[np.isnan(values)])
        if len(missing):
            close = ((self._vectors(list(missing)) @ self._needed.T) >= self.similarity).astype(np.float32)
            self._cache[missing] = np.log1p(close @ self._counts)
            self._items_of[missing] = np.packbits((close @ self._needed_by) > 0, axis=1)
            values = self._cache[rows]
        return values.astype(float)

    def nearest_items(self, vector: np.ndarray) -> np.ndarray:
        """The NEIGHBOURS dev items whose text is closest to the text of `vector`: found once
        per answer, read by `near` and `agreed`."""
        return closest(self._item_vectors, vector, self.neighbours)

    def near(self, nearest: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Each row's demand among the `nearest` dev items (`nearest_items`)."""
        if not len(self._item_vectors) or not len(rows):
            return np.zeros(len(rows))
        self.of(rows)
        needed_by = np.unpackbits(self._items_of[rows], axis=1, count=len(self._item_vectors))
        return np.log1p(needed_by[:, nearest].sum(axis=1).astype(float))

    def agreed(self, nearest: np.ndarray) -> np.ndarray:
        """The rows of the sentences that at least NEIGHBOURS_AGREE of the `nearest` dev items
        needed (each sentence at the first row of the index that holds its text)."""
        if not len(self._item_vectors):
            return np.zeros(0, dtype=int)
        return self._first_rows[self._needed_by[:, nearest].sum(axis=1) >= self.agree]

    @classmethod
    def load(cls, index, path: Path = DEMAND_FILE) -> Demand | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        texts = [s["text"] for s in data["sentences"]]
        items = data.get("items", [])
        vectors = np.array([decode_vector(i["vector"]) for i in items], dtype=np.float32).reshape(len(items), -1)
        return cls(index, {s["text"]: float(s["count"]) for s in data["sentences"]},
                   data["meta"].get("similarity", DEMAND_SIMILARITY),
                   items=(vectors, [[texts[n] for n in i["needs"]] for i in items]),
                   neighbours=data["meta"].get("neighbours", NEIGHBOURS),
                   agree=data["meta"].get("neighbours_agree", NEIGHBOURS_AGREE))


def encode_vector(vector: np.ndarray) -> str:
    """A text vector as stored in `demand.json`: half precision, base64 (0.8 KB, not 8 of digits)."""
    return base64.b64encode(np.asarray(vector, dtype="<f2").tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f2").astype(np.float32)


def as_stored(vector: np.ndarray) -> np.ndarray:
    """A vector as `encode_vector` keeps it: what training must use, so that the neighbours it
    finds are the ones the shipped file gives."""
    return np.asarray(vector, dtype=np.float16).astype(np.float32)


def closest(vectors: np.ndarray, vector: np.ndarray, k: int) -> np.ndarray:
    """The k rows of `vectors` most similar to `vector` (unit vectors: cosine), the closest
    first, ties in row order."""
    return np.argsort(-(vectors @ vector), kind="stable")[:k]


@dataclass(frozen=True)
class Evidence:
    """Query 0 is the question or case itself; then one query per facet of a case, in the
    plan's order; then one per aspect of a case."""

    queries: tuple[Query, ...]
    vectors: np.ndarray
    hits: tuple[tuple[Hit, ...], ...]
    sims: np.ndarray  # sentence rows x queries
    facets: int  # how many queries after the first are facet queries
    aspects: tuple[str, ...]

    @property
    def overall(self) -> tuple[Hit, ...]:
        return self.hits[0]


def aspects(text: str) -> tuple[str, ...]:
    """The clauses of a case description, each a concern of its own."""
    parts = [p.strip(" ,.;:\"'") for p in _CLAUSE.split(text)]
    return tuple(p for p in parts if len(p.split()) >= 3)[:MAX_ASPECTS]


def gather(plan: Plan, retriever: Retriever, k: int) -> Evidence:
    """The answer's own queries embedded in one batched call (the fixed facet queries once per
    process), then ranked."""
    queries = [retriever.parse(plan.focus or plan.text)]
    # Each facet is retrieved in the protocols' words alone: a fixed query, embedded once per
    # process. With the case's sentences about it added, the facet queries
    # were half of a case's word pieces, for no case coverage on dev (README, performance).
    queries.extend(retriever.parse_known(facet.query) for facet in plan.facets)
    case_aspects = aspects(plan.text) if plan.case else ()
    queries.extend(retriever.parse(a) for a in case_aspects)
    facets = len(plan.facets)
    own = retriever.embed([q.embed_text for q in (queries[0], *queries[1 + facets :])])
    vectors = np.vstack([own[:1], retriever.embed_known([q.embed_text for q in queries[1 : 1 + facets]]),
                         own[1:]]) if facets else own
    names = [None] + [f.name for f in plan.facets] + [None] * len(case_aspects)
    sims = retriever.sentence_similarities(vectors)  # once: ranking and extract scoring both read it
    hits = retriever.search_vectors(queries, vectors, area=plan.area, k=k, facet_names=names, sentence_sims=sims)
    return Evidence(queries=tuple(queries), vectors=vectors, hits=tuple(tuple(h) for h in hits),
                    sims=sims, facets=len(plan.facets), aspects=case_aspects)


@dataclass(frozen=True)
class Candidate:
    row: int  # the sentence's row in the index
    passage: Passage
    span: tuple[int, int]
    kind: str
    query: int  # the facet or aspect query it is closest to (0: the text itself)
    x: np.ndarray  # EXTRACT_FEATURES

    @property
    def text(self) -> str:
        return self.passage.text[self.span[0] : self.span[1]]

    @property
    def is_question(self) -> bool:
        """A checklist question: shown under *Questions to explore*, not as guidance."""
        return self.kind == GUIDANCE and asks_question(self.text)


def candidates(index, evidence: Evidence, hits_per_query: int, demand: Demand | None = None,
               area: str | None = None) -> list[Candidate]:
    """The sentences of each query's top passages, and of the passages holding a sentence the
    dev items closest to the text agreed they needed, with their features."""
    best_score: dict[str, float] = {}
    best_rank: dict[str, float] = {}
    for hits in evidence.hits:
        for rank, hit in enumerate(hits[:hits_per_query], start=1):
            pid = hit.passage.id
            best_score[pid] = max(best_score.get(pid, -math.inf), hit.score)
            best_rank[pid] = min(best_rank.get(pid, rank), rank)
    if not best_score:
        return []
    top = max(best_score.values())
    nearest = demand.nearest_items(evidence.vectors[0]) if demand is not None else None
    if demand is not None:
        # Ranked below every passage a query found (the features say so): a sentence dev's cases
        # like this one needed though this case's words did not bring its passage up. Never
        # another area's own arrangements.
        bottom = min(best_score.values()) - 1.0
        for row in demand.agreed(nearest):
            passage = index.by_id[index.sentence_spans[row][0]]
            if passage.id in best_score:
                continue
            if area is not None and passage.area != area and index.scope_of(passage) == "local":
                continue
            best_score[passage.id], best_rank[passage.id] = bottom, math.inf
    q = evidence.queries[0]
    terms = {t: index.bm25.idf(t) * q.weights.get(t, 1.0) for t in set(q.tokens)}
    total = sum(terms.values()) or 1.0
    sims = evidence.sims
    out = []
    for pid in best_score:
        passage = index.by_id[pid]
        rows = index.sentences_of.get(pid, [])
        if not rows:
            continue
        best_here = max(float(sims[r, 0]) for r in rows)
        for row in rows:
            kind = index.sentence_kinds[row]
            if kind == ILLUSTRATION:
                continue
            _, a, b = index.sentence_spans[row]
            text = passage.text[a:b]
            to_text = float(sims[row, 0])
            if sims.shape[1] > 1:
                j = int(np.argmax(sims[row, 1:])) + 1
                to_aspect = float(sims[row, j])
            else:
                j, to_aspect = 0, to_text
            words = index.sentence_words(row)  # tokenised once per index, not per answer
            x = np.array([
                to_text, to_aspect, best_score[pid] - top, 1.0 / (1 + best_rank[pid]),
                sum(w for t, w in terms.items() if t in words) / total,
                kind == GUIDANCE, kind == FINDING, kind == BACKGROUND, asks_question(text),
                math.log(1 + len(text.split())), best_here - to_text, 0.0, 0.0, 0.0, 0.0,
            ], dtype=float)
            out.append(Candidate(row=row, passage=passage, span=(a, b), kind=kind, query=j, x=x))
    if out:
        # How each candidate stands against the others for each concern: the best sentence for
        # one aspect of a case may be far from the case as a whole.
        own = np.array([c.row for c in out])
        columns = sims[own] if sims.shape[1] == 1 else np.asarray(sims[own])[:, 1:]
        ranks = np.argsort(np.argsort(-columns, axis=0, kind="stable"), axis=0)
        votes = (ranks < VOTE_TOP).sum(axis=1)
        needed = demand.of(own) if demand is not None else np.zeros(len(out))
        near = demand.near(nearest, own) if demand is not None else np.zeros(len(out))
        for n, c in enumerate(out):
            column = max(0, c.query - 1) if sims.shape[1] > 1 else 0
            c.x[_CONCERN_RANK] = 1.0 / (1 + ranks[n, column])
            c.x[_CONCERN_VOTES] = votes[n]
            c.x[_DEMAND] = needed[n]
            c.x[_NEIGHBOUR_DEMAND] = near[n]
    return out


def load_extract_scorer() -> Ranker:
    if EXTRACT_FILE.exists():
        return Ranker.load(EXTRACT_FILE, names=EXTRACT_FEATURES)
    return similarity_scorer()


def similarity_scorer() -> Ranker:
    """Before one is fitted: similarity to the text and to its closest aspect, equally."""
    weights = np.array([1.0 if n in ("to_text", "to_aspect") else 0.0 for n in EXTRACT_FEATURES])
    return Ranker(weights=weights, bias=0.0, mean=np.zeros(len(weights)), scale=np.ones(len(weights)),
                  names=EXTRACT_FEATURES, meta={"kind": "similarity"})
