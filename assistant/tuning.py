"""Every number the composer uses, in one frozen record. Each says where it came from.

"dev" means chosen on the development set (`evals/data/dev`) by `hha eval --sweep` or by
reading dev results; nothing here was chosen by looking at the locked test set.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tuning:
    # -- questions ------------------------------------------------------------------------
    question_hits: int = 6  # passages an answer to a question draws on (dev: coverage flat past 6)
    question_extracts: int = 8  # extracts at most in an answer to a question
    question_words: int = 260  # words of extracts at most (an answer read in under a minute)
    per_passage: int = 3  # extracts from one passage at most, in an answer to a question
    sentence_floor: float = 0.30  # no extract less similar than this to the question (dev)
    sentence_window: float = 0.20  # nor this much less similar than the best one (dev)
    lexical_bonus: float = 0.01  # per unit of idf-weighted word overlap, capped below (dev)
    lexical_cap: float = 8.0
    rank_penalty: float = 0.015  # per rank of the passage the sentence comes from (dev)
    question_checklist: int = 5  # questions to explore for a question
    findings: int = 2  # labelled findings at most, beside the guidance of a question

    # -- cases (issue: readable in two minutes) -------------------------------------------
    case_words: int = 450  # words of extracts at most, all parts together
    case_sources: int = 10  # distinct passages cited at most
    case_checklist: int = 6  # questions to explore at most
    case_facets: int = 5  # facet headings at most; each only when the case raises it
    case_per_facet: int = 2  # extracts under one facet heading at most
    case_overall_min: int = 3  # extracts for the case as a whole ("Guidance that applies"), at least ...
    case_overall_max: int = 9  # ... and at most, less what its facets take (dev)
    case_hits: int = 6  # passages per facet query the extracts are drawn from
    case_weight: float = 0.5  # relevance = (1 - w) * similarity to the facet + w * similarity to the case (dev)
    case_floor: float = 0.25  # an extract must be at least this similar to the case itself (dev)
    facet_floor: float = 0.30  # ... and to its facet's query (dev)
    checklist_floor: float = 0.30  # a checklist question must be this similar to the case or question (dev)

    # -- what to do now --------------------------------------------------------------------
    route_words: int = 110  # words of the referral route at most, per area
    route_sentences: int = 6

    # -- declining --------------------------------------------------------------------------
    # Used only when no fitted decline model ships (assistant/decline.json is fitted on dev).
    decline_similarity: float = 0.36


DEFAULT = Tuning()
