"""The referral route of an area, found in its own local protocol: the sentences that say whom to
call and how (children's social care, the MASH or front door, the out-of-hours or emergency
duty service, the police on 999) and their telephone numbers. Pure: no model, no I/O, so any
protocol added to the library has its route found the same way, whatever its layout.

A route is only ever taken from the area's own local protocols. When they hold none that can
be found, `Route.found` is False and the answer says so rather than borrow another area's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.records import Passage
from assistant.text import PHONE, guidance_spans

MAX_SPANS = 8  # per area
MAX_PER_PASSAGE = 6
MIN_SCORE = 4.0

_SERVICE = re.compile(
    r"\b(MASH|multi[- ]agency safeguarding hub|front door|referral hub|advice and referral|children['’]s social care|"
    r"social care|social services|emergency duty|EDT|duty team|out[- ]of[- ]hours|outside (normal |office )?hours|"
    r"evenings?|weekends?|bank holidays?|first response|access and referral|police|999)\b",
    re.I,
)
_CALL = re.compile(r"\b(telephone|phone|call|ring|contact(ed)?)\b", re.I)
_REFER = re.compile(r"\b(refer(ral|rals|red)?|report)\b", re.I)
_WORRIED = re.compile(r"\b(worried|concern(s|ed)?) (about|for) (a|the) child|at risk of (significant )?harm|"
                      r"immediate danger", re.I)
_EMERGENCY = re.compile(r"\b(999|emergency duty|out[- ]of[- ]hours|outside (normal |office )?hours|EDT)\b", re.I)
_SECTION = re.compile(r"refer|contact|MASH|safeguarding hub|out of hours|emergenc|concerns? about a child|"
                      r"worried about a child|front door", re.I)
# A question asking whom to call, which is a route question even without a sign of danger.
ROUTE_QUESTION = re.compile(
    r"\b(who|what number|which number|number)\b.{0,40}\b(ring|call|phone|telephone|contact|refer)\b|"
    r"\b(out[- ]of[- ]hours|emergency duty|EDT|MASH|front door)\b.{0,60}\?|"
    r"\bhow (do|can|should) i (refer|make a referral|report)\b|"
    r"\b(do|should|shall|must|can) (i|we) (have to |need to )?(refer|make a referral)\b|"
    r"\b(where|who) (do|should|can) (i|we) (refer|report)\b",
    re.I,
)


@dataclass(frozen=True)
class Route:
    """One area's referral route: passages and the spans of each to quote, in reading order."""

    area: str
    spans: tuple[tuple[Passage, tuple[tuple[int, int], ...]], ...] = field(default_factory=tuple)

    @property
    def found(self) -> bool:
        return bool(self.spans)


def asks_for_route(text: str) -> bool:
    return bool(ROUTE_QUESTION.search(text))


def sentence_score(sentence: str, section: tuple[str, ...] = ()) -> float:
    """How much a sentence reads as part of a referral route (0 when it is not one)."""
    phone = bool(PHONE.search(sentence))
    services = {m.group(0).lower() for m in _SERVICE.finditer(sentence)}
    call, refer = bool(_CALL.search(sentence)), bool(_REFER.search(sentence))
    if not phone and not (services and (call or refer)):
        return 0.0
    score = 4.0 * phone + 1.5 * min(len(services), 3) + 1.5 * call + 0.5 * refer
    score += 1.5 * bool(_EMERGENCY.search(sentence)) + 1.5 * bool(_WORRIED.search(sentence))
    score += 1.5 * any(_SECTION.search(h) for h in section)
    return score


def area_route(passages: list[Passage], area: str) -> Route:
    """The route in `passages` (the area's own local protocols)."""
    scored: list[tuple[float, Passage, tuple[int, int]]] = []
    for passage in passages:
        for a, b in guidance_spans(passage.text, passage.section):
            score = sentence_score(passage.text[a:b], passage.section)
            if score >= MIN_SCORE:
                scored.append((score, passage, (a, b)))
    scored.sort(key=lambda s: (-s[0], s[1].order, s[2][0]))
    chosen: dict[str, list[tuple[int, int]]] = {}
    by_id: dict[str, Passage] = {}
    total = 0
    for _, passage, span in scored:
        if total >= MAX_SPANS or len(chosen.get(passage.id, [])) >= MAX_PER_PASSAGE:
            continue
        if passage.twin_of and passage.twin_of in chosen:
            continue
        chosen.setdefault(passage.id, []).append(span)
        by_id[passage.id] = passage
        total += 1
    ordered = sorted(chosen, key=lambda pid: (by_id[pid].doc_id, by_id[pid].order))
    return Route(area, tuple((by_id[pid], tuple(sorted(chosen[pid]))) for pid in ordered))


def referral_route(index, area: str | None) -> list[Route]:
    """The route of `area` (one Route, found or not), or of every local area when the area is
    unknown (one Route per area that has one, each to be labelled with its area). `index`
    needs `passages`, `local_areas` and `scope_of(passage)` (an `assistant.retrieve.Index`)."""
    areas = [area] if area is not None else list(index.local_areas)
    own: dict[str, list[Passage]] = {name: [] for name in areas}
    for p in index.passages:  # one pass, whatever the number of areas
        if p.area in own and index.scope_of(p) == "local":
            own[p.area].append(p)
    routes = []
    for name in areas:
        route = area_route(own[name], name)
        if route.found or area is not None:
            routes.append(route)
    return routes


def route_spans(index, area: str | None) -> list[tuple[Passage, list[tuple[int, int]]]]:
    """`referral_route` flattened to (passage, spans) pairs, the shape the composer quotes."""
    return [(p, list(spans)) for route in referral_route(index, area) for p, spans in route.spans]


def no_route_note(area: str) -> str:
    return (f"The protocols in these sources for {area} give no referral route that could be found: follow your "
            f"own local procedures. If a child is in immediate danger, call the police on 999.")
