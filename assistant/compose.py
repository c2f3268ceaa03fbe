"""Composing an answer from verbatim sentences of retrieved passages. No text is generated:
every extract is `passage.text[start:end]` of the passage its citation names.

An answer is a chain of stages sharing one frozen `Tuning`:
1. `read_question` (assistant.plan): question or case, facets, risk signals, area, role;
2. `gather`: every query of the answer embedded in one batch, retrieved and ranked;
3. one builder per part: what to do now, guidance (by facet for a case), findings,
   questions to explore, supervision.

Headings and notices are fixed strings of ours, kept apart from extracts so that a reader
(and a test) can always tell the sources' words from the tool's.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from functools import lru_cache

import numpy as np

from assistant.embed import DIMENSIONS
from assistant.errors import BadQuestionError, UnknownAreaError
from assistant.evidence import (
    Candidate,
    Demand,
    Evidence,
    candidates,
    closest,
    decode_vector,
    gather,
    load_extract_scorer,
)
from assistant.facets import URGENT_PROTOTYPES, detect_facets, find_area, past_or_general, speaks_of_now
from assistant.kinds import BACKGROUND, FINDING, GUIDANCE
from assistant.plan import Plan, read_question
from assistant.records import Answer, AnswerPart, Citation, Extract, Hit, Passage
from assistant.retrieve import Query, Retriever
from assistant.routes import asks_for_route, no_route_note, route_spans
from assistant.text import CHAT_WORDS, lexical_tokens, sentence_spans, stem
from assistant.tuning import DEFAULT, Tuning
from assistant.vocabulary import known_tokens

CHAT_STEMS = frozenset(stem(w) for w in CHAT_WORDS)

MAX_QUESTION_CHARS = 4000

HEADING_GUIDANCE = "Guidance that applies"
HEADING_FINDINGS = "What research and reports found"
HEADING_BACKGROUND = "Background"
HEADING_CHECKLIST = "Questions to explore"
HEADING_NOW = "What to do now"
HEADING_SUPERVISION = "Questions a supervisor would ask"
SUPERVISION_TOPICS = ("social work managers", "Analysis")
# What a good supervisor checks a case summary for (Practice tip 2), as facet names.
SUPERVISION_GAPS = (
    ("substances", "what drugs or alcohol are used, how, and their effect on parenting"),
    ("partners", "partners, fathers or other adults in the household"),
    ("extended-family", "the extended family"),
    ("supervision", "a chronology or the history of referrals"),
)

NOTICE_DECIDE = "This guidance supports professional judgement; it does not make the decision."
NOTICE_DANGER = "If a child is in immediate danger, call the police on 999."
NOTICE_AREA_UNKNOWN = (
    "Your area is not set, so your own local procedures apply. Below is what each local protocol "
    "in these sources says, labelled by area: use your own area's route."
)
NOTICE_AREA_ASK = (
    "Your area is not set, and these sources hold the local protocols of {areas} areas: set your area "
    "(or name your town) to see its referral route. If a child is in immediate danger, call the police on 999."
)
NOTICE_OTHER_AREA = (
    "Some extracts come from another area's local protocol: its contacts and procedures are not yours."
)
NOTICE_NOT_COVERED = (
    "The sources do not cover this question. Nothing below answers it; these are the nearest topics they do cover."
)
NOTICE_NOT_COVERED_BEYOND_NOW = "Beyond the referral route above, the sources do not cover this question."
NOTICE_PARTLY = "The sources do not mention: {terms}. Nothing below speaks to that part of the question."
NOTICE_AREA_FROM = "Area assumed: {area} (from \u201c{words}\u201d). Set your area if this is wrong."



def validate_question(question: str) -> str:
    text = (question or "").strip()
    if not text:
        raise BadQuestionError("the question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise BadQuestionError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    return text


# -- the composer -----------------------------------------------------------------------------------


class Composer:
    def __init__(self, retriever: Retriever, tuning: Tuning = DEFAULT, decline=None, scorer=None, urgency=None):
        self.retriever = retriever
        self.tuning = tuning
        self.scorer = scorer if scorer is not None else load_extract_scorer()
        self._prototypes: np.ndarray | None = None  # URGENT_PROTOTYPES, embedded once
        # `decline=False`: no fitted model (while fitting one); None: the shipped model, if any.
        self.decline = load_decline() if decline is None else (decline or None)
        self.question_kind = load_question_kind() if decline is None else None  # one of the decline model's inputs
        self.urgency = load_urgency() if urgency is None else (urgency or None)
        # The dev texts the urgency model counts neighbours among, kept in its meta.
        self.urgent_neighbours = UrgentNeighbours.from_meta(self.urgency.meta) if self.urgency is not None else None
        self._demand: Demand | None | bool = True  # True: `demand.json`, loaded when first needed
        self._routes: dict[str | None, list[tuple[Passage, list[tuple[int, int]]]]] = {}

    @property
    def index(self):
        return self.retriever.index

    @property
    def demand(self) -> Demand | None:
        """How often dev answers needed each sentence (`demand.json`), matched to this index's
        sentences when first needed; set to None for none (while fitting one)."""
        if self._demand is True:
            self._demand = Demand.load(self.index)
        return self._demand or None

    @demand.setter
    def demand(self, value: Demand | None) -> None:
        self._demand = value if value is not None else False

    def plan(self, question: str, *, area: str | None = None, role: str = "practitioner") -> Plan:
        text = validate_question(question)
        if area is not None and area not in self.index.areas:
            raise UnknownAreaError(area, self.index.areas)
        return read_question(text, area=area, role=role, areas=self.index.local_areas,
                             max_facets=self.tuning.case_facets)

    def answer(self, question: str, *, area: str | None = None, role: str = "practitioner",
               plan: Plan | None = None) -> Answer:
        """`plan`: one read already (a follow-up read with the case it follows); else the question is read."""
        started = time.perf_counter()
        plan = plan or self.plan(question, area=area, role=role)
        evidence = gather(plan, self.retriever, k=self.tuning.hits)
        plan = self.read_risk(plan, evidence)
        timings = {"retrieve": round((time.perf_counter() - started) * 1000, 1)}
        builder = _Builder(self.index, evidence, self.tuning)
        # The route first when a child may be at risk now, or when the question asks whom to call.
        urgent = (self.what_to_do_now(builder, plan)
                  if plan.urgent or plan.wants_route or asks_for_route(plan.text) else None)
        declined = self.declines(plan, evidence) if declinable(plan) else self.declines_ask(plan, evidence)
        notices = self.notices(plan, builder, declined)
        if declined and urgent is None:
            nearest = tuple(dict.fromkeys(f"{h.passage.title} — {h.passage.section_label}"
                                          for h in evidence.overall[:3]))
            return Answer(question=plan.text, area=plan.area, parts=(), checklist=(), urgent=None, citations=(),
                          abstained=True, notices=(NOTICE_NOT_COVERED,), nearest_topics=nearest,
                          facets=tuple(f.name for f in plan.facets), timings_ms=timings)
        parts: list[AnswerPart] = []
        checklist: list[Extract] = []
        if not declined:
            if plan.role == "manager":
                parts.append(self.supervision(builder, plan, evidence))
            chosen = self.choose(builder, plan, evidence)
            parts += self.guidance_parts(builder, plan, evidence, chosen)
            checklist = [builder.extract(c.passage, c.span, s) for s, c in chosen if c.is_question]
        if plan.area is not None and any(
            self.index.scope_of(c.passage) == "local" and c.passage.area != plan.area for c in builder.citations
        ):
            notices.append(NOTICE_OTHER_AREA)
        timings["total"] = round((time.perf_counter() - started) * 1000, 1)
        return Answer(
            question=plan.text, area=plan.area, parts=tuple(parts), checklist=tuple(checklist), urgent=urgent,
            citations=tuple(builder.citations), abstained=declined,
            notices=tuple(notices) + ((NOTICE_NOT_COVERED_BEYOND_NOW,) if declined else ()),
            facets=tuple(f.name for f in plan.facets), timings_ms=timings,
        )

    # -- a child at risk now ---------------------------------------------------------------------
    def urgent_similarity(self, evidence: Evidence) -> tuple[float, str]:
        """How close the text (or one aspect of a case) comes to a kind of immediate risk."""
        sims = self.prototype_similarities(evidence)
        best = int(np.argmax(sims))
        return float(sims[best]), URGENT_PROTOTYPES[best]

    def prototype_similarities(self, evidence: Evidence) -> np.ndarray:
        """Each kind of immediate risk's best similarity with the text or one aspect of a case."""
        if self._prototypes is None:
            self._prototypes = self.retriever.embed(list(URGENT_PROTOTYPES))
        own = [0] + list(range(1 + evidence.facets, len(evidence.queries)))
        return (evidence.vectors[own] @ self._prototypes.T).max(axis=0)

    def read_risk(self, plan: Plan, evidence: Evidence) -> Plan:
        """Whether a child may be at risk now: a model fitted on dev (assistant/urgency.json)
        weighs the typed signals, whether the text speaks of the past or in general, and how
        close it comes to each kind of immediate risk. Without one, the typed signals decide,
        or a text very close to a kind of risk."""
        if self.urgency is not None:
            near = self.urgent_neighbours.share(evidence.vectors[0]) if self.urgent_neighbours else 0.0
            x = urgency_features(plan, self.prototype_similarities(evidence), near)
            if self.urgency.score(x[None, :])[0] < self.urgency.meta["threshold"]:
                return replace(plan, signals=())
            if plan.signals:
                return plan
            kind = URGENT_PROTOTYPES[int(np.argmax(x[len(URGENCY_SUMMARY):]))]
            return replace(plan, signals=(f"close to: {kind}",))
        if plan.signals or past_or_general(plan.text):
            return plan
        similarity, kind = self.urgent_similarity(evidence)
        if similarity >= self.tuning.urgent_similarity:
            return replace(plan, signals=(f"close to: {kind}",))
        return plan

    # -- declining ---------------------------------------------------------------------------
    def uncovered_terms(self, q: Query) -> list[str]:
        """Topic words of the question that the sources never use (and that are not
        practitioners' shorthand we translate, nor informal chat)."""
        known = known_tokens()
        return [
            t for t in dict.fromkeys(q.tokens)
            if q.weights.get(t, 1.0) == 1.0 and self.index.bm25.idf(t) == 0.0 and t not in known
            and t not in CHAT_STEMS and len(t) >= 3 and not any(c.isdigit() for c in t)
        ]

    def declines(self, plan: Plan, evidence: Evidence) -> bool:
        """Decline when the evidence is too weak for the question (a model fitted on dev)."""
        if not evidence.overall:
            return True
        if self.decline is None:
            return evidence.overall[0].similarity < self.tuning.decline_similarity
        x = decline_features(self, evidence)
        if x[DECLINE_FEATURES.index("top_sentence")] < self.tuning.decline_floor:
            return True  # nothing comes close, though far from the near-domain kinds too
        return self.below_threshold(x)

    def declines_ask(self, plan: Plan, evidence: Evidence) -> bool:
        """A case description is declined when the question it asks would be, asked alone ("mum's
        on 60ml methadone and breastfeeding the baby (3 wks old), is that dose safe for the
        baby ...?"): the last of its clauses
        that is a question, already a query of the answer, weighed by the same model and
        threshold, when the text shows no sign of risk now and the question is specific enough
        to come close to some sentence of the sources (a vague one, "does that count?", leans on
        the case, which the sources do cover). Not a follow-up in a conversation: its "her", "the
        pills" and "that" are the case's, and alone it reads as vaguer than it is."""
        asks = [n for n, aspect in enumerate(evidence.aspects) if aspect.endswith("?")]
        if self.decline is None or plan.urgent or plan.focus or not asks:
            return False
        query = 1 + evidence.facets + asks[-1]
        if not evidence.hits[query]:
            return False
        x = decline_features(self, evidence, query)
        if x[DECLINE_FEATURES.index("top_sentence")] < self.tuning.decline_floor:
            return False
        return self.below_threshold(x)

    def below_threshold(self, x: np.ndarray) -> bool:
        """The fitted decline model's verdict on one query's `decline_features`."""
        return bool(self.decline.score(x[None, :])[0] < self.decline.meta["threshold"])

    def notices(self, plan: Plan, builder: _Builder, declined: bool) -> list[str]:
        notices = [NOTICE_DECIDE]
        if plan.urgent:
            notices.insert(0, NOTICE_DANGER)
        if plan.area_from:
            notices.append(NOTICE_AREA_FROM.format(area=plan.area, words=plan.area_from))
        if not declined and not plan.case:
            named = set(lexical_tokens(plan.area_from or ""))  # the place the area was read from
            missing = [t for t in self.uncovered_terms(builder.evidence.queries[0]) if t not in named]
            if missing:
                notices.append(NOTICE_PARTLY.format(terms=", ".join(missing)))
        return notices

    # -- guidance ------------------------------------------------------------------------------
    def choose(self, builder: _Builder, plan: Plan, evidence: Evidence) -> list[tuple[float, Candidate]]:
        """The sentences to show, best first, within the answer's budgets: words, sources,
        questions to explore, extracts per passage. A sentence that leans on the one before it
        comes with it."""
        t = self.tuning
        found = candidates(self.index, evidence, t.case_hits if plan.case else t.question_hits, self.demand,
                           area=plan.area)
        if not found:
            return []
        scores = self.scorer.score(np.vstack([c.x for c in found]))
        order = np.argsort(-scores, kind="stable")
        words = t.case_words if plan.case else t.question_words
        sources = t.case_sources if plan.case else t.question_sources
        questions = t.case_checklist if plan.case else t.question_checklist
        floor = max(t.extract_floor, float(scores[order[0]]) - t.extract_window)
        chosen: list[tuple[float, Candidate]] = []
        per_passage: dict[str, int] = {}
        asked = 0
        reported, reported_words = 0, t.case_reported_words if plan.case else t.question_reported_words
        for i in order:
            c, score = found[i], float(scores[i])
            if score < floor:
                break
            span = with_context(c.passage, c.span)
            c = Candidate(row=c.row, passage=c.passage, span=span, kind=c.kind, query=c.query, x=c.x)
            text = c.text
            if (c.is_question and asked >= questions) or per_passage.get(c.passage.id, 0) >= t.per_passage:
                continue
            if builder.words + len(text.split()) > words or not builder.can_cite(c.passage, sources):
                continue
            if builder.repeats(text) or echoes(text, plan.text):
                continue
            if plan.case and contact_line(text):
                continue  # contacts belong to the route part
            if plan.infants_only and presumes_older_child(text):
                continue  # a school, friends or a child's understanding: not an unborn child's or a baby's
            if plan.area is not None and c.passage.area != plan.area and names_own_place(self.index, c.passage, text):
                continue  # another area's own arrangements ("In Luton, ..."): the notice says they are not yours
            if c.kind != GUIDANCE and (len(text.split()) < t.min_reported_words or reference_entry(text, c.passage.section)):
                continue  # a table cell, a survey's answer option or a document's title, not a finding or background
            if c.kind != GUIDANCE and reported + len(text.split()) > reported_words:
                continue  # findings and background are context; guidance is what the reader acts on
            if any(k.passage.id == c.passage.id and k.span[0] < span[1] and span[0] < k.span[1] for _, k in chosen):
                continue  # overlaps an extract already chosen (a widened one)
            builder.reserve(text, c.passage)
            per_passage[c.passage.id] = per_passage.get(c.passage.id, 0) + 1
            asked += c.is_question
            reported += len(text.split()) if c.kind != GUIDANCE else 0
            chosen.append((score, c))
        return chosen

    def guidance_parts(self, builder: _Builder, plan: Plan, evidence: Evidence,
                       chosen: list[tuple[float, Candidate]]) -> list[AnswerPart]:
        """Guidance under the facet it speaks to (a case) or as one part (a question); findings
        and background apart, labelled; parts in the order of their best extract."""
        groups: dict[str, list[tuple[float, Candidate]]] = {}
        for score, c in chosen:
            if c.is_question:
                continue  # a question to explore
            if c.kind == FINDING:
                heading = HEADING_FINDINGS
            elif c.kind == BACKGROUND:
                heading = HEADING_BACKGROUND
            elif 1 <= c.query <= evidence.facets and plan.facets[c.query - 1].matches(c.text):
                # Under a facet's heading only a sentence that speaks of it: the closest facet of
                # "The checklist is also set out as Appendix A" is not its subject.
                heading = plan.facets[c.query - 1].heading
            else:
                heading = HEADING_GUIDANCE
            groups.setdefault(heading, []).append((score, c))
        ordered = sorted(groups, key=lambda h: (h in (HEADING_FINDINGS, HEADING_BACKGROUND),
                                                -max(s for s, _ in groups[h])))
        parts = []
        for heading in ordered:
            # The passage with the best extract first; a passage's extracts in reading order.
            best: dict[str, float] = {}
            for score, c in groups[heading]:
                best[c.passage.id] = max(best.get(c.passage.id, -np.inf), score)
            items = sorted(groups[heading], key=lambda sc: (-best[sc[1].passage.id], sc[1].span[0]))
            extracts = [builder.extract(c.passage, c.span, s) for s, c in items]
            note = _labelled(extracts, builder) if heading in (HEADING_FINDINGS, HEADING_BACKGROUND) else None
            parts.append(AnswerPart(heading=heading, extracts=tuple(extracts), note=note))
        return parts

    def supervision(self, builder: _Builder, plan: Plan, evidence: Evidence) -> AnswerPart:
        """For a manager: the questions the protocols ask of a case in supervision (the
        managers' checklist and the analysis questions), and what the summary leaves out."""
        rows = [n for n, i in enumerate(self.index.checklist)
                if any(s.lower() in " ".join(i.section).lower() for s in SUPERVISION_TOPICS)]
        items = [self.index.checklist[n] for n in rows]
        extracts = []
        if items:
            sims = self.index.checklist_vectors[rows] @ evidence.vectors[0]
            for j in np.argsort(-sims)[:6]:
                item = items[j]
                passage = self.index.by_id.get(item.passage_id)
                text = passage.text[item.start : item.end] if passage else ""
                if passage is None or builder.repeats(text):
                    continue
                builder.reserve(text, passage)
                extracts.append(builder.extract(passage, (item.start, item.end), float(sims[j])))
        mentioned = {f.name for f in detect_facets(plan.text)}  # plan.facets holds only a case's first few
        gaps = [label for name, label in SUPERVISION_GAPS if name not in mentioned]
        note = f"The summary does not mention: {'; '.join(gaps)}." if gaps else None
        return AnswerPart(heading=HEADING_SUPERVISION, extracts=tuple(extracts), note=note)

    # -- what to do now -------------------------------------------------------------------------
    def what_to_do_now(self, builder: _Builder, plan: Plan) -> AnswerPart:
        """The referral route of the user's area (or of each area, labelled, when unknown), quoted
        from its own local protocols (assistant.routes). Fixed per area, so found once."""
        areas = len(self.index.local_areas)
        if plan.area is None and areas > self.tuning.routes_unset_area:
            # A national library: every area's route would bury the one that applies.
            return AnswerPart(heading=HEADING_NOW, extracts=(), note=NOTICE_AREA_ASK.format(areas=areas))
        if plan.area not in self._routes:
            self._routes[plan.area] = route_spans(self.index, plan.area)
        extracts = []
        for passage, spans in self._routes[plan.area]:
            for span in spans:
                builder.reserve(passage.text[span[0] : span[1]], passage)
                extracts.append(builder.extract(passage, span, 1.0))
        note = NOTICE_AREA_UNKNOWN if plan.area is None else (None if extracts else no_route_note(plan.area))
        return AnswerPart(heading=HEADING_NOW, extracts=tuple(extracts), note=note)


# -- declining --------------------------------------------------------------------------------------

DECLINE_FEATURES = ("top_score", "top_similarity", "top_sentence", "top_bm25", "uncovered", "asks_amount",
                    "amount_in_evidence", "out_of_scope_kind", "question_kind")
# The kinds of near-domain question that safeguarding protocols do not answer, in plain words
# (the issue's list: doses, benefits and allowances, legal limits, first aid, other countries'
# law, named services; then drug testing, local statistics, staff employment, welfare rights).
# The question's best similarity with any of them is one feature of the fitted model, weighed
# against how strong the evidence is: a protocol added on any of these raises the evidence
# too. Cross-validated on dev, at the same answerable questions declined (3 of 225), it
# declines 0.59 of the out-of-scope questions against 0.42 without it (0.54 with the
# issue's six kinds alone; no single kind carries it).
OUT_OF_SCOPE_KINDS = (
    "how much money a benefit, allowance or payment is worth per week",
    "what dose of a medicine in mg or ml is safe, usual or the maximum",
    "first aid: what to do for someone who has collapsed, CPR or the recovery position",
    "what the law says: a legal age, a legal limit, a criminal offence or a sentence",
    "how child protection works in another country such as Scotland, Ireland or the United States",
    "the phone number or opening hours of a national helpline or charity",
    "how long a drug stays in the body or shows up in a urine, blood or hair test",
    "statistics: how many people, or what percentage, in a particular area",
    "staff employment matters: pay, expenses, registration or disciplinary rules",
    "housing, immigration or welfare rights entitlements",
)
# A question that asks for an amount (a dose, a rate, a limit, a sum of money, a duration): the
# sources rarely give one, and a near-domain question the sources do not answer often asks one.
_AMOUNT = re.compile(r"\b(how (much|many|long|often)|max(imum)?|min(imum)?|dose|dosage|rate|limit|amount|"
                     r"per (week|day|month|year)|mg|ml|units?)\b|£", re.I)


def declinable(plan: Plan) -> bool:
    """A question may be declined on its evidence; a case description is answered with what the
    sources hold, unless the question it asks is one they do not cover (`Composer.declines_ask`)."""
    return not plan.case


def decline_features(composer: Composer, evidence: Evidence, query: int = 0) -> np.ndarray:
    """What the decision to decline looks at, for one query of the answer (the question itself,
    or the clause of a case that asks one): how strong the best evidence is, whether the
    question's topic words appear in the sources at all, whether it asks for an amount the
    best passages do not hold, how close it comes to a kind of question the sources do not
    answer, and what a model of the question's own vector says of it (0 without one)."""
    q = evidence.queries[query]
    hits = evidence.hits[query]
    top = hits[0] if hits else None
    sentence = float(evidence.sims[:, query].max()) if evidence.sims.size else 0.0
    bm25 = composer.index.bm25.scores(q.tokens, q.weights)
    topic = [t for t in dict.fromkeys(q.tokens) if t not in CHAT_STEMS]
    uncovered = len(composer.uncovered_terms(q)) / max(1, len(topic))
    amount = bool(_AMOUNT.search(q.text))
    numbers = any(re.search(r"\d", h.passage.text) for h in hits[:3])
    kinds = composer.retriever.embed_known(list(OUT_OF_SCOPE_KINDS))  # fixed texts: embedded once per process
    vector = evidence.vectors[query]
    model = composer.question_kind
    kind = float(model.score(vector[None, :])[0]) if model is not None and len(model.mean) == len(vector) else 0.0
    return np.array([top.score if top else -10.0, top.similarity if top else 0.0, sentence,
                     float(np.log1p(bm25.max())) if len(bm25) else 0.0, uncovered, amount, amount and numbers,
                     float((kinds @ vector).max()), kind])


def load_decline():
    from assistant.rank import DECLINE_FILE, Ranker

    return Ranker.load(DECLINE_FILE, names=DECLINE_FEATURES) if DECLINE_FILE.exists() else None


# The question's own vector, weighed by a logistic regression fitted on dev questions (answerable
# or not): the kinds of question that lie outside these protocols, learned from examples rather
# than listed. Its log-odds is one input of the decline model, beside the evidence: a protocol a
# user adds on such a subject still raises the evidence.
QUESTION_KIND_FEATURES = tuple(f"dim_{i}" for i in range(DIMENSIONS))


def load_question_kind():
    from assistant.rank import QUESTION_KIND_FILE, Ranker

    return Ranker.load(QUESTION_KIND_FILE, names=QUESTION_KIND_FEATURES) if QUESTION_KIND_FILE.exists() else None


# -- a child at risk now --------------------------------------------------------------------------

# "speaks_of_now": the text says when, and it is now ("tonight", "right now", "this morning",
# "just", a clock time). Dev, cross-validated at the same 8% false alarms: urgent recall 0.81 →
# 0.92 with it.
# "near_urgent": the share of the URGENT_NEIGHBOURS dev texts closest to this one (cosine of
# their vectors) that are urgent, as fitted: how people who typed something like this meant it.
# Dev, cross-validated at the same 8% false alarms: urgent recall 0.92 → 1.00 with it (1.00 with
# 5 neighbours, 0.99 with 20).
URGENCY_SUMMARY = ("typed_signal", "past_or_general", "closest_kind", "speaks_of_now", "near_urgent")
URGENCY_FEATURES = URGENCY_SUMMARY + tuple(f"kind_{n}" for n in range(len(URGENT_PROTOTYPES)))
URGENT_NEIGHBOURS = 10


def urgency_features(plan: Plan, similarities: np.ndarray, near_urgent: float = 0.0) -> np.ndarray:
    """The typed signals, the past or general tense, the similarity to each kind of risk,
    whether the text speaks of now, and how many of the dev texts most like it were urgent."""
    return np.concatenate([[bool(plan.signals), past_or_general(plan.text), float(similarities.max()),
                            speaks_of_now(plan.text), near_urgent], similarities]).astype(float)


class UrgentNeighbours:
    """The dev texts the urgency model was fitted on: each one's vector (half precision, in the
    model's `meta`) and whether a child was at risk now."""

    def __init__(self, vectors: np.ndarray, urgent: np.ndarray, k: int = URGENT_NEIGHBOURS):
        self.vectors, self.urgent, self.k = np.asarray(vectors, dtype=np.float32), np.asarray(urgent, float), k

    def share(self, vector: np.ndarray) -> float:
        """The share of the k dev texts closest to the text of `vector` that are urgent."""
        if not len(self.urgent):
            return 0.0
        return float(self.urgent[closest(self.vectors, vector, self.k)].mean())

    @classmethod
    def from_meta(cls, meta: dict) -> UrgentNeighbours | None:
        data = meta.get("neighbours")
        if not data:
            return None
        vectors = np.array([decode_vector(v) for v in data["vectors"]], dtype=np.float32)
        return cls(vectors, np.array(data["urgent"], dtype=float), int(data["k"]))


def load_urgency():
    from assistant.rank import URGENCY_FILE, Ranker

    return Ranker.load(URGENCY_FILE, names=URGENCY_FEATURES) if URGENCY_FILE.exists() else None


# -- extracts -----------------------------------------------------------------------------------------

# A sentence that leans on the one before it: shown with it, or not at all.
_DEPENDENT = re.compile(r"^(this|these|that|those|such|it|they|he|she|there|however|therefore|also|and|but|or|"
                        r"otherwise|in (such|these|this|that) (cases?|circumstances|situations?)|if so|if not|"
                        r"as a result|for example)\b", re.I)
# A condition put to the reader ("where you have reasonable cause to believe ...") governs what follows it.
_CONDITION = re.compile(r"\b(where|if|when|unless) (you|there is|there are|a child|the child)\b", re.I)


# A bracketed note that ends its line, after a sentence on that line or alone on the next.
_NOTE_AFTER = re.compile(r"[ \t]*\n?[ \t]*([(\[][^()\[\]\n]*[)\]])[ \t]*(?=\n|$)")


@lru_cache(maxsize=65536)  # fixed per passage and sentence: worked out once, not per answer
def with_context(passage: Passage, span: tuple[int, int]) -> tuple[int, int]:
    """The span widened back over the one sentence before it, in the same paragraph, when the
    sentence leans on it: it opens with "this", "in such cases" and the like, or the sentence
    before sets a condition ("where you have reasonable cause to believe ... . Sharing ...
    takes precedence over confidentiality"), or it is a bracketed note on that sentence, on its
    line or the next ("[NB This also applies if sleeping on sofa or chair etc]"); and forward
    over such a note on the sentence itself ("Recreational? i.e. ... on nights out." and its
    "(Some agencies are getting away from using this term, gives a feel of safety)")."""
    a, b = span
    note = passage.text[a] in "(["
    if not note and (after := _NOTE_AFTER.match(passage.text, b)):
        b = after.end(1)
    paragraph_start = passage.text.rfind("\n", 0, a) + 1
    if note and paragraph_start > 0:  # a bracketed note may qualify the line before it
        paragraph_start = passage.text.rfind("\n", 0, paragraph_start - 1) + 1
    def sentences_before(start: int) -> list[tuple[int, int]]:
        """The sentences from `start` up to the span; a list item's own glyph ("• ") is none."""
        return [(s, e) for s, e in sentence_spans(passage.text[start:a]) if re.search(r"\w", passage.text[start + s : start + e])]

    previous = sentences_before(paragraph_start)  # on its line or paragraph
    dependent = bool(_DEPENDENT.match(passage.text[a:b]))
    new_item = passage.text[paragraph_start:a].strip() in ("•", "◦")  # a list item starts afresh
    if not previous and dependent and paragraph_start > 0 and not new_item:
        # It opens its line, and leans on the line before: a wrapped paragraph or a list item's
        # follow-up ("• Find out whether drug use is the 'only' parental problem." / "If so, then
        # prospects for success are higher."). Not a heading, not across a blank line.
        line_start = passage.text.rfind("\n", 0, paragraph_start - 1) + 1
        line = passage.text[line_start : paragraph_start - 1]
        last = sentence_spans(line)[-1:] if line.strip() and line.strip() not in passage.section else []
        if last and len(line[last[0][0] : last[0][1]].split()) >= 3:  # not a page or footnote number
            paragraph_start = line_start
            previous = sentences_before(paragraph_start)
    if not previous:
        return (a, b)
    start, end = previous[-1]
    before = passage.text[paragraph_start + start : paragraph_start + end]
    if note or dependent or _CONDITION.search(before):
        start += 2 if before.startswith(("• ", "◦ ")) else 0  # the bullet glyph, as in guidance_spans
        return (paragraph_start + start, b)
    return (a, b)


def _labelled(extracts: list[Extract], builder: _Builder) -> str:
    titles = list(dict.fromkeys(builder.citations[e.citation - 1].passage.title for e in extracts))
    return "From: " + "; ".join(titles) + ". What these sources report or describe, not guidance to follow."


def _trigrams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i : i + 3]) for i in range(max(1, len(words) - 2))}


def _overlapping(ta: set, tb: set, threshold: float = 0.8) -> bool:
    """Texts with these trigrams are the same checklist question as printed by two protocols,
    or twice by one."""
    return bool(ta and tb) and len(ta & tb) >= threshold * min(len(ta), len(tb))


# Contact details: phone numbers, email and web addresses, postcodes, street addresses.
_CONTACT = re.compile(r"\b0\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4}\b|\S+@\S+|https?://\S+|www\.\S+|"
                      r"\b[A-Z]{1,2}\d{1,2}[A-Z]? ?\d[A-Z]{2}\b|\b(tel|telephone|fax|email|e-mail|secure email)\b:?", re.I)
_CONTACT_WORDS = 6  # fewer words than this besides contact details: a line of a contact list


# A reading list: a protocol's "legal and policy framework", references, further reading.
_READING_LIST = re.compile(r"\b(legal|legislation|policy framework|references|bibliography|further (reading|information)|"
                           r"related (documents|guidance|policies)|useful (links|resources))\b", re.I)
_DATED = re.compile(r"(\(([A-Za-z]+\.? ?)*(19|20)\d{2}\)|\b(19|20)\d{2})\s*[;.]?\s*$|;\s*$")


def reference_entry(sentence: str, section: tuple[str, ...]) -> bool:
    """An entry of a reading list: a document's title and date ("Munro review of child
    protection: final report - a child centred system 2011;"), which says nothing itself."""
    if not section or not _READING_LIST.search(section[-1]):
        return False
    words = re.findall(r"[A-Za-z][A-Za-z'’-]*", sentence)
    capitalised = sum(w[0].isupper() for w in words) >= 0.5 * len(words) if words else False
    return bool(_DATED.search(sentence.strip())) or capitalised


# What only a child of nursery or school age has: school, friends, their own understanding or views.
_OLDER_CHILD = re.compile(r"\b(school|education(al)?|homework|peers?|friends|teenagers?|adolescen\w*|college|bully\w*|"
                          r"young carers?|caring responsibilities|responsibilities beyond)\b|"
                          r"\b(child|children|young person)(['’]s|s['’])? (understanding|views|wishes|feelings)\b", re.I)


def presumes_older_child(sentence: str) -> bool:
    return bool(_OLDER_CHILD.search(sentence))


def names_own_place(index, passage: Passage, sentence: str) -> bool:
    """A sentence of a local protocol that names one of its own area's places (read as the area
    of a question is, with the library's one place matcher: a matcher per area would be rebuilt
    for every sentence of a national library's hundred areas)."""
    if index.scope_of(passage) != "local":
        return False
    found = find_area(sentence, index.local_areas)
    return found is not None and found[0] == passage.area


def contact_line(sentence: str) -> bool:
    """A line of contact details ("Luton: 01582 547653", an address) rather than a sentence of
    guidance: in a case answer the route part carries the contacts that apply."""
    if not _CONTACT.search(sentence):
        return False
    rest = re.findall(r"[A-Za-z]{3,}", _CONTACT.sub(" ", sentence))
    return len(rest) < _CONTACT_WORDS


def echoes(sentence: str, question: str) -> bool:
    """A sentence the user's own text repeats (a case study quoted from the sources is not
    guidance about itself)."""
    ts = _trigrams(sentence)
    return len(ts) >= 3 and len(ts & _trigrams(question)) >= 0.6 * len(ts)


class _Builder:
    """Numbers citations in order of first use, makes verified extracts, and keeps count of
    the words an answer has used."""

    def __init__(self, index, evidence: Evidence, tuning: Tuning):
        self.index = index
        self.evidence = evidence
        self.tuning = tuning
        self.hits: dict[str, Hit] = {}
        for hits in evidence.hits:
            for hit in hits:
                self.hits.setdefault(hit.passage.id, hit)
        self.citations: list[Citation] = []
        self._numbers: dict[str, int] = {}
        self._texts: list[str] = []
        self._grams: list[set[tuple[str, ...]]] = []  # the trigrams of each of `_texts`
        self._cited: set[str] = set()
        self.words = 0

    def repeats(self, text: str) -> bool:
        # Each reserved text's trigrams are made once, when it is reserved, not per pair.
        ta = _trigrams(text)
        return any(_overlapping(ta, tb) for tb in self._grams)

    def can_cite(self, passage: Passage, limit: int) -> bool:
        return passage.id in self._cited or len(self._cited) < limit

    def reserve(self, text: str, passage: Passage) -> None:
        """Count an extract chosen now and made later (parts are built in reading order)."""
        self._texts.append(text)
        self._grams.append(_trigrams(text))
        self._cited.add(passage.id)
        self.words += len(text.split())

    def extract(self, passage: Passage, span: tuple[int, int], score: float) -> Extract:
        if passage.id not in self._numbers:
            self._numbers[passage.id] = len(self.citations) + 1
            self.citations.append(Citation(n=self._numbers[passage.id], passage=passage, hit=self.hits.get(passage.id)))
        start, end = span
        return Extract(
            text=passage.text[start:end], citation=self._numbers[passage.id], passage_id=passage.id,
            start=start, end=end, score=round(float(score), 4),
        )
