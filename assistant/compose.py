"""Composing an answer from verbatim sentences of retrieved passages. No text is generated:
every extract is `passage.text[start:end]` of the passage its citation names.

Headings and notices are fixed strings of ours, kept apart from extracts so that a reader
(and a test) can always tell the sources' words from the tool's.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np

from assistant.errors import BadQuestionError, UnknownAreaError
from assistant.facets import Facet, detect_facets, is_case, urgent_signals
from assistant.records import Answer, AnswerPart, Citation, Extract, Hit, Passage
from assistant.retrieve import Query, Retriever
from assistant.routes import asks_for_route
from assistant.text import CHAT_WORDS, lexical_tokens, stem
from assistant.vocabulary import known_tokens

CHAT_STEMS = frozenset(stem(w) for w in CHAT_WORDS)

MAX_QUESTION_CHARS = 4000

# Evidence below this cosine similarity (best passage for the question) means the sources do
# not cover the question. Calibrated on the evaluation questions: see evals/ and the README.
ABSTAIN_SIMILARITY = 0.36
ABSTAIN_SIMILARITY_UNCOVERED = 0.48
SENTENCE_FLOOR = 0.3  # no extract less similar than this to the question
SENTENCE_WINDOW = 0.2  # nor much less similar than the best one

HEADING_GUIDANCE = "Guidance that applies"
HEADING_CHECKLIST = "Questions to explore"
HEADING_NOW = "What to do now"
HEADING_SUPERVISION = "Questions a supervisor would ask"
SUPERVISION_TOPICS = ("social work managers", "Analysis")
# What a good supervisor checks a case summary for (Practice tip 2), as facet names.
SUPERVISION_GAPS = (
    ("substances", "what drugs or alcohol are used, how, and their effect on parenting"),
    ("partners", "partners, fathers or other adults in the household"),
    ("extended-family", "the extended family"),
    ("child-voice", "the child's own experience (has the child been seen and spoken to?)"),
    ("supervision", "a chronology or the history of referrals"),
)

NOTICE_DECIDE = "This guidance supports professional judgement; it does not make the decision."
NOTICE_DANGER = "If a child is in immediate danger, call the police on 999."
NOTICE_AREA_UNKNOWN = (
    "Your area is not set, so your own local procedures apply. Below is what each local protocol "
    "in these sources says, labelled by area: use your own area's route."
)
NOTICE_OTHER_AREA = (
    "Some extracts come from another area's local protocol: its contacts and procedures are not yours."
)
NOTICE_NOT_COVERED = (
    "The sources do not cover this question. Nothing below answers it; these are the nearest topics they do cover."
)
NOTICE_NOT_COVERED_BEYOND_NOW = "Beyond the referral route above, the sources do not cover this question."

REFERRAL_QUERY = (
    "worried about a child's welfare: prompt referral by telephone to the MASH Team, children's social care; "
    "emergencies outside office hours Emergency Duty Team telephone number; refer concerns to children's social "
    "care or the police where a child may be suffering significant harm"
)


@dataclass(frozen=True)
class Options:
    max_extracts: int = 8
    max_words: int = 260
    max_checklist: int = 5
    case_facets: int = 7
    case_extracts_per_facet: int = 3
    case_checklist: int = 10


def validate_question(question: str) -> str:
    text = (question or "").strip()
    if not text:
        raise BadQuestionError("the question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise BadQuestionError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    return text


class Composer:
    def __init__(self, retriever: Retriever, options: Options | None = None):
        self.retriever = retriever
        self.options = options or Options()
        self._referrals: dict[str | None, list[tuple[Passage, list[tuple[int, int]]]]] = {}

    @property
    def index(self):
        return self.retriever.index

    # -- entry point ---------------------------------------------------------------------
    def answer(self, question: str, *, area: str | None = None, role: str = "practitioner") -> Answer:
        started = time.perf_counter()
        text = validate_question(question)
        if area is not None and area not in self.index.areas:
            raise UnknownAreaError(area, self.index.areas)
        area = self.retriever.resolve_area(text, area)
        facets = detect_facets(text)
        case = is_case(text) or (role == "manager" and len(text.split()) > 12)
        signals = urgent_signals(text)
        q = Query.parse(text)
        builder = _Builder(self.index)

        if case:
            chosen = self._case_facets(facets)
            # Each facet is retrieved in the protocols' words plus what the case says of it.
            queries = [q] + [Query.parse(f.query, extra=facet_context(f, text)) for f in chosen]
            vectors = self.retriever.embed([x.embed_text for x in queries])
            results = self.retriever.search_vectors(
                queries, vectors, area=area, k=4, facet_names=[None] + [f.name for f in chosen]
            )
            overall = results[0]
            abstain = False
        else:
            chosen = []
            vectors = self.retriever.embed([q.embed_text])
            results = self.retriever.search_vectors([q], vectors, area=area, k=6)
            overall = results[0]
            abstain = self._weak_evidence(q, overall)
        timings = {"retrieve": round((time.perf_counter() - started) * 1000, 1)}
        for hits in results:
            for hit in hits:
                builder.hits.setdefault(hit.passage.id, hit)

        sims = self.retriever.sentence_similarities(vectors)
        urgent_part = self._what_to_do_now(builder, area) if signals or asks_for_route(text) else None
        if abstain and urgent_part is None:
            nearest = tuple(dict.fromkeys(f"{h.passage.title} — {h.passage.section_label}" for h in overall[:3]))
            return Answer(
                question=text, area=area, parts=(), checklist=(), urgent=None, citations=(), abstained=True,
                notices=(NOTICE_NOT_COVERED,), nearest_topics=nearest, facets=tuple(f.name for f in facets),
                timings_ms=timings,
            )

        parts: list[AnswerPart] = []
        if case:
            used: set[str] = set()
            overall_extracts = self._select(builder, q, overall, used, sims[:, 0], max_extracts=3, max_words=90,
                                            per_passage=1)
            if overall_extracts:
                parts.append(AnswerPart(heading=HEADING_GUIDANCE, extracts=tuple(overall_extracts)))
            for n, (facet, hits) in enumerate(zip(chosen, results[1:], strict=True), start=1):
                facet_q = Query.parse(facet.query)
                extracts = self._select(builder, facet_q, hits, used, sims[:, n],
                                        max_extracts=self.options.case_extracts_per_facet, max_words=110, per_passage=1)
                if extracts:
                    parts.append(AnswerPart(heading=facet.heading, extracts=tuple(extracts)))
        elif not abstain:
            extracts = self._select(builder, q, overall, set(), sims[:, 0], max_extracts=self.options.max_extracts,
                                    max_words=self.options.max_words, per_passage=3)
            if extracts:
                parts.append(AnswerPart(heading=HEADING_GUIDANCE, extracts=tuple(extracts)))

        checklist = () if abstain else self._checklist(builder, q, vectors, chosen, area, role, case)
        if role == "manager" and not abstain:
            parts.insert(0, self._supervision(builder, q, vectors[0], text))
        notices = [NOTICE_DECIDE]
        if signals:
            notices.insert(0, NOTICE_DANGER)
        if area is not None and any(
            self.index.scope_of(c.passage) == "local" and c.passage.area != area for c in builder.citations
        ):
            notices.append(NOTICE_OTHER_AREA)
        timings["total"] = round((time.perf_counter() - started) * 1000, 1)
        return Answer(
            question=text,
            area=area,
            parts=tuple(parts),
            checklist=tuple(checklist),
            urgent=urgent_part,
            citations=tuple(builder.citations),
            abstained=abstain,
            notices=tuple(notices) + ((NOTICE_NOT_COVERED_BEYOND_NOW,) if abstain else ()),
            facets=tuple(f.name for f in facets),
            timings_ms=timings,
        )

    # -- pieces --------------------------------------------------------------------------
    def _case_facets(self, facets: list[Facet]) -> list[Facet]:
        specific = [f for f in facets if f.name != "child-voice"]
        voice = [f for f in facets if f.name == "child-voice"]
        return (specific[: self.options.case_facets - 1] + voice)[: self.options.case_facets]

    def uncovered_terms(self, q: Query) -> list[str]:
        """Topic words of the question that the sources never use (and that are not
        practitioners' shorthand we translate, nor informal chat)."""
        known = known_tokens()
        return [
            t for t in dict.fromkeys(q.tokens)
            if q.weights.get(t, 1.0) == 1.0 and self.index.bm25.idf(t) == 0.0 and t not in known
            and t not in CHAT_STEMS and len(t) >= 3 and not any(c.isdigit() for c in t)
        ]

    def _weak_evidence(self, q: Query, hits: list[Hit]) -> bool:
        """Decline when the best passage is far from the question, or when the question's
        topic is a word the sources never use and the match is only middling."""
        if not hits:
            return True
        similarity = hits[0].similarity
        if similarity < ABSTAIN_SIMILARITY:
            return True
        return bool(self.uncovered_terms(q)) and similarity < ABSTAIN_SIMILARITY_UNCOVERED

    def _select(
        self, builder: _Builder, q: Query, hits: list[Hit], used: set[str], sims: np.ndarray, *, max_extracts: int,
        max_words: int, per_passage: int,
    ) -> list[Extract]:
        """The sentences of the top passages closest in meaning to the query (a little help
        from shared rare words), in reading order within each passage."""
        query_terms = {t: q.weights.get(t, 1.0) for t in q.tokens}
        candidates: list[tuple[float, int, Passage, tuple[int, int]]] = []
        for rank, hit in enumerate(hits[:6]):
            passage = hit.passage
            if passage.id in used or is_illustration(passage):
                continue
            for row in self.index.sentences_of.get(passage.id, []):
                _, a, b = self.index.sentence_spans[row]
                if builder.repeats(passage.text[a:b]) or echoes(passage.text[a:b], q.text):
                    continue
                lexical = min(self._sentence_score(passage.text[a:b], query_terms), 8.0)
                score = float(sims[row]) + 0.01 * lexical - 0.015 * rank
                candidates.append((score, rank, passage, (a, b)))
        if not candidates:
            return []
        candidates.sort(key=lambda c: -c[0])
        floor = max(SENTENCE_FLOOR, candidates[0][0] - SENTENCE_WINDOW)
        picked: list[tuple[float, int, Passage, tuple[int, int]]] = []
        per: dict[str, int] = {}
        words = 0
        for score, rank, passage, span in candidates:
            if score < floor or len(picked) >= max_extracts:
                break
            if per.get(passage.id, 0) >= per_passage:
                continue
            n_words = len(passage.text[span[0] : span[1]].split())
            if picked and words + n_words > max_words:
                continue
            picked.append((score, rank, passage, span))
            per[passage.id] = per.get(passage.id, 0) + 1
            words += n_words
        kept = []
        for candidate in picked:
            if not any(_near_duplicate(candidate[2].text[candidate[3][0]:candidate[3][1]],
                                       k[2].text[k[3][0]:k[3][1]]) for k in kept):
                kept.append(candidate)
        picked = kept
        for _, _, passage, _ in picked:
            used.add(passage.id)
        picked.sort(key=lambda c: (c[1], c[3][0]))
        return [builder.extract(p, span, score) for score, _, p, span in picked]

    def _sentence_score(self, sentence: str, query_terms: dict[str, float]) -> float:
        tokens = set(lexical_tokens(sentence))
        if not tokens:
            return 0.0
        overlap = sum(self.index.bm25.idf(t) * w for t, w in query_terms.items() if t in tokens)
        return overlap / (len(tokens) ** 0.3)

    def _supervision(self, builder: _Builder, q: Query, vector: np.ndarray, text: str) -> AnswerPart:
        """For a manager: the questions the protocols ask of a case in supervision (the
        managers' checklist and the analysis questions), and what the summary leaves out."""
        by_id = {i.id: i for i in self.index.checklist}
        nearest = self.index.build.query(vector[None, :], len(by_id), which="checklist")[0]
        items = [
            by_id[iid] for iid, _ in nearest
            if iid in by_id and any(t.lower() in " ".join(by_id[iid].section).lower() for t in SUPERVISION_TOPICS)
        ]
        extracts = [builder.extract(self.index.by_id[i.passage_id], (i.start, i.end), 1.0) for i in items[:8]]
        mentioned = {f.name for f in detect_facets(text)}
        gaps = [label for name, label in SUPERVISION_GAPS if name not in mentioned]
        note = f"The summary does not mention: {'; '.join(gaps)}." if gaps else None
        return AnswerPart(heading=HEADING_SUPERVISION, extracts=tuple(extracts), note=note)

    def _checklist(self, builder, q: Query, vectors: np.ndarray, facets: list[Facet], area, role, case) -> list[Extract]:
        prefer = ("social work managers", "Analysis") if role == "manager" else ()
        if not case:
            items = self.retriever.checklist_for(q, vectors[0], k=self.options.max_checklist, area=area,
                                                 prefer_topics=prefer)
        else:
            items, seen = [], set()
            per_facet = max(1, self.options.case_checklist // max(1, len(facets)))
            for facet, vector in zip(facets, vectors[1:], strict=True):
                for item, score in self.retriever.checklist_for(Query.parse(facet.query), vector, k=per_facet + 2,
                                                                area=area, prefer_topics=prefer):
                    if item.id not in seen and sum(1 for i in items if i[2] == facet.name) < per_facet:
                        seen.add(item.id)
                        items.append((item, score, facet.name))
            items = [(i, s) for i, s, _ in items][: self.options.case_checklist]
        out = []
        for item, score in items:
            if item.text.rstrip().endswith(":") or any(_near_duplicate(item.text, e.text) for e in out):
                continue
            passage = self.index.by_id[item.passage_id]
            out.append(builder.extract(passage, (item.start, item.end), score))
        return out

    def _what_to_do_now(self, builder: _Builder, area: str | None) -> AnswerPart:
        from assistant.routes import no_route_note

        if area not in self._referrals:
            self._referrals[area] = self._referral_spans(area)
        extracts = [builder.extract(p, span, 1.0) for p, spans in self._referrals[area] for span in spans]
        note = NOTICE_AREA_UNKNOWN if area is None else (None if extracts else no_route_note(area))
        return AnswerPart(heading=HEADING_NOW, extracts=tuple(extracts), note=note)

    def _referral_spans(self, area: str | None) -> list[tuple[Passage, list[tuple[int, int]]]]:
        """The referral route of the user's area (or of each area, labelled, when unknown),
        quoted from its own local protocols (see assistant.routes). Fixed per area."""
        from assistant.routes import route_spans

        return route_spans(self.index, area)


def _trigrams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i : i + 3]) for i in range(max(1, len(words) - 2))}


def _near_duplicate(a: str, b: str, threshold: float = 0.8) -> bool:
    """The same checklist question as printed by two protocols, or twice by one."""
    ta, tb = _trigrams(a), _trigrams(b)
    return bool(ta and tb) and len(ta & tb) >= threshold * min(len(ta), len(tb))


def echoes(sentence: str, question: str) -> bool:
    """A sentence the user's own text repeats (a case study quoted from the sources is not
    guidance about itself)."""
    ts = _trigrams(sentence)
    return len(ts) >= 3 and len(ts & _trigrams(question)) >= 0.6 * len(ts)


_ILLUSTRATION = re.compile(r"^case study \d|\bsurvey\b|\bquestionnaire\b", re.I)


def is_illustration(passage: Passage) -> bool:
    """A case study or survey printed in a report illustrates; it is not guidance to quote."""
    return any(_ILLUSTRATION.search(heading) for heading in passage.section)


def facet_context(facet: Facet, text: str) -> str:
    """The sentences of a case description that mention a facet."""
    sentences = [s for s in re.split(r"(?<=[.?!\n])\s+", text) if facet.matches(s)]
    return " ".join(sentences)[:400]


class _Builder:
    """Numbers citations in order of first use and makes verified extracts."""

    def __init__(self, index):
        self.index = index
        self.hits: dict[str, Hit] = {}
        self.citations: list[Citation] = []
        self._numbers: dict[str, int] = {}
        self._texts: list[str] = []

    def repeats(self, text: str) -> bool:
        return any(_near_duplicate(text, e) for e in self._texts)

    def extract(self, passage: Passage, span: tuple[int, int], score: float) -> Extract:
        if passage.id not in self._numbers:
            self._numbers[passage.id] = len(self.citations) + 1
            self.citations.append(Citation(n=self._numbers[passage.id], passage=passage, hit=self.hits.get(passage.id)))
        start, end = span
        self._texts.append(passage.text[start:end])
        return Extract(
            text=passage.text[start:end], citation=self._numbers[passage.id], passage_id=passage.id,
            start=start, end=end, score=round(float(score), 4),
        )
