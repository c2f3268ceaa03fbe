"""Every number the composer uses, in one frozen record. Each says where it came from.

"dev" means chosen on the development set (`evals/data/dev`) by `hha eval --sweep` or by
reading dev results; nothing here was chosen by looking at the locked test set. The learned
parts (the passage ranker, the extract scorer, the decline model) are package data fitted by
`hha train-ranker` on dev.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tuning:
    hits: int = 8  # passages kept per query (the ranker's top)

    # -- which sentences are shown (all answers) --------------------------------------------------
    # No floor or window on the scorer's log-odds: on dev, the budgets below choose better than
    # any floor did (shown coverage 0.55 / 0.32 for questions / cases against 0.52 / 0.31 with one).
    extract_floor: float = -99.0
    extract_window: float = 99.0
    per_passage: int = 4  # extracts from one passage at most (dev: 4 > 3 > 2)
    min_reported_words: int = 8  # a finding or background extract is a sentence, not a table cell

    # -- questions --------------------------------------------------------------------------------
    question_hits: int = 6  # passages of the question's ranking whose sentences are candidates (dev)
    # Words of extracts at most (an answer read in about a minute). Longer does not pay: dev
    # coverage 0.386 at 300 words, 0.394 at 450.
    question_words: int = 300
    question_sources: int = 8  # distinct passages cited at most
    question_checklist: int = 5  # questions to explore at most
    question_reported_words: int = 300  # of which findings and background, at most

    # -- cases (readable in two minutes) ----------------------------------------------------------
    # Passages per facet or aspect query whose sentences are candidates. Dev case coverage (38
    # cases, `hha eval --sweep`, the scorer fitted at 6): 0.264 / 0.253 / 0.250 at 4 / 6 / 8;
    # 0.259 at 4 with the extract scorer refitted there.
    case_hits: int = 4
    case_words: int = 450  # words of extracts at most, all parts together
    case_sources: int = 10  # distinct passages cited at most
    case_checklist: int = 6  # questions to explore at most
    # Of which findings and background, at most: they are context, guidance is what the reader
    # acts on (dev: case coverage 0.305 at 150 against 0.299 uncapped).
    case_reported_words: int = 150
    case_facets: int = 5  # facet headings at most; each only when the case raises it

    # -- a child at risk now ----------------------------------------------------------------------
    # Used only when no fitted urgency model ships (assistant/urgency.json is fitted on dev, and
    # found 87% of urgent dev texts at 8% false alarms under cross-validation, against 74% / 7.5%
    # for the typed signals plus this similarity). A text this similar to one of the kinds of
    # immediate risk (facets.URGENT_PROTOTYPES) is urgent.
    urgent_similarity: float = 0.60

    # When the user's area is unknown, each local area's referral route is quoted, labelled, up
    # to this many areas; past that (a national library) the answer asks for the area instead.
    # This corpus has 2 local areas; the 100x benchmark library 100 (500 route extracts, 1.9 s).
    routes_unset_area: int = 4

    # -- declining --------------------------------------------------------------------------------
    # Used only when no fitted decline model ships (assistant/decline.json is fitted on dev).
    decline_similarity: float = 0.36
    # Declined whatever the model says: no sentence of the sources comes this close (cosine of
    # the best). Every answerable dev question has one at 0.44 or more; questions on other
    # subjects altogether (a recipe, football, a password) 0.25-0.29, a mileage rate and a
    # dose 0.32 and 0.39. The fitted model alone answered the recipe: it is far from the kinds
    # of near-domain question too.
    decline_floor: float = 0.40


DEFAULT = Tuning()
