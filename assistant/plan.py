"""The first stage of an answer: reading the question into a plan. Pure: text in, plan out.

A plan says whether the text is a question or a case description, which facets of a case it
raises, which words suggest a child may be at risk now, which area it is about (and from which
words), and who is asking.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.facets import Facet, detect_facets, find_area, infants_only, is_case, urgent_signals

QUESTION, CASE = "question", "case"


@dataclass(frozen=True)
class Plan:
    text: str
    kind: str  # QUESTION or CASE
    facets: tuple[Facet, ...]  # the facets the text raises, in the order they are shown
    signals: tuple[str, ...]  # the phrases that suggest a child may be at risk now
    area: str | None
    area_from: str | None  # the words the area was read from; None when set by the user or unknown
    role: str
    focus: str | None = None  # a follow-up's own words: query 0 of the answer, while the case gives the aspects
    wants_route: bool = False  # the referral route is asked for by a follow-up action, whatever the words
    infants_only: bool = False  # the only children spoken of are unborn or babies

    @property
    def urgent(self) -> bool:
        return bool(self.signals)

    @property
    def case(self) -> bool:
        return self.kind == CASE


def read_question(text: str, *, area: str | None, role: str, areas: dict[str, tuple[str, ...]],
                  max_facets: int) -> Plan:
    """`areas`: each local area's place names; `area` set by the user wins over any place named."""
    facets = detect_facets(text)
    case = is_case(text) or (role == "manager" and len(text.split()) > 12)
    area_from = None
    if area is None:
        found = find_area(text, areas)
        if found:
            area, area_from = found
    chosen = tuple(f for f in facets if f.name != "child-voice")[:max_facets] if case else ()
    return Plan(text=text, kind=CASE if case else QUESTION, facets=chosen, signals=tuple(urgent_signals(text)),
                area=area, area_from=area_from, role=role, infants_only=infants_only(text))
