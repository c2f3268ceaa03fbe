"""A conversation: a follow-up answered in the light of the case it follows. Pure: the earlier
user messages of a conversation in (the client holds them), a plan and a fixed line saying what
was carried over out. Nothing here is kept between calls, written or logged.

1. Each message is read as a follow-up of the case before it, or as a new case, by a rule
   over its wording (`follow_up_score`): how short it is, whether it opens like a follow-up
   ("what about", "and if") or refers back ("he", "the grandparents"), how many of its words the
   case already used, and whether it introduces people of its own or says it is a new case.
   The threshold was calibrated on the development conversations (`hha eval`).
2. A follow-up is read together with its case: the case's facets, aspects and risk signals
   carry over, while the follow-up's own words are the answer's main query and its facets come
   first, so that it steers what is shown (dev: follow-up coverage 0.65 against 0.60 with the
   case and follow-up read as one text).
3. The area stays for the conversation once set or named, until another place is named or the
   user sets one.
4. Follow-up actions (`What to do now`, `Questions to explore only`, `Shorter`,
   `More on <facet>`) are ordinary follow-up messages, so every client sends them the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from assistant.compose import HEADING_GUIDANCE
from assistant.facets import Facet, detect_facets, find_area, is_case, load_facets, urgent_signals
from assistant.plan import CASE, Plan
from assistant.records import Answer, AnswerPart, CarryOver, Citation, Extract
from assistant.text import CHAT_WORDS, lexical_tokens, stem

MAX_CONTEXT_MESSAGES = 20  # earlier messages a request may carry
MAX_MERGED_CHARS = 4000  # a follow-up read with its case stays within one question's length

ACTION_NOW = "What to do now"
ACTION_QUESTIONS = "Questions to explore only"
ACTION_SHORTER = "Shorter"
ACTION_MORE = "More on "
NEW_CASE = "New case"
SHORTER_WORDS = 150  # extracts of a shorter answer, besides the route
SHORTER_QUESTIONS = 3

LINE_FOLLOW_UP = "Answering for the case above: {items}. Not the same case? Start afresh with \u201cNew case:\u201d."
LINE_NEW_CASE = "Read as a new case: nothing of the case above is carried over{area}."
LINE_AREA_KEPT = ", except the area: {area}"

# Short names for the facets a case raises, as the carried-over line lists them.
FACET_LABELS = {
    "substances": "drug or alcohol use", "prescription": "prescribed substitute", "injecting": "injecting",
    "young-children": "young child", "pregnancy": "pregnancy", "partners": "partner", "domestic-abuse": "domestic abuse",
    "mental-health": "mental health", "young-carer": "child caring", "extended-family": "wider family",
    "contact": "contact", "moving": "moving area", "criminal-justice": "offending", "school": "school",
    "basic-care": "basic care", "foster-care": "foster care", "supervision": "management oversight",
}

# -- follow-up or new case --------------------------------------------------------------------------

_OPENER = re.compile(
    r"^\W*(and|but|so|also|plus|then|ok(ay)?|right|what (about|if|else)|how about|what now|"
    r"(does|is|would|will|could|should) (that|it|this)|anything (else|more)|any (more|other)|tell me more|"
    r"more (on|about)|same)\b", re.I)
_BACK = re.compile(
    r"\b(he|she|they|him|her|them|his|their|it|this|that|these|those|"
    r"the (mum|mom|dad|mother|father|parents?|child|children|kids?|baby|toddler|boy|girl|son|daughter|family|case|"
    r"partner|boyfriend|grandparents?|nan|gran|grandma|grandad|carers?|household|school|nursery|bottle|script))\b",
    re.I)
_NEW = re.compile(
    r"^\W*(new case|another case|a different (case|family)|separate case|next case|unrelated|new referral|"
    r"something else|different (case|family|topic))\b|"
    r"\b(another|a different|a new|a separate|an unrelated) (family|case|referral|household)\b", re.I)
_AGE = re.compile(r"\b(\d{1,2})\s*(yo|y/o|-?years?(-old)?|-?yrs?|months?|mths?|weeks?)\b|\baged? (\d{1,2})\b", re.I)
_CHAT_STEMS = frozenset(stem(w) for w in CHAT_WORDS)

FEATURES = ("brevity", "opener", "refers_back", "overlap", "says_new", "new_people", "describes_case")
# How much each feature says "follow-up" (+) or "new case" (-): set by reading the development
# conversations, then the threshold below calibrated on them (`hha eval` prints the best one).
WEIGHTS = {"brevity": 1.5, "opener": 2.0, "refers_back": 1.0, "overlap": 2.0, "says_new": -4.0,
           "new_people": -1.5, "describes_case": -1.5}
# Calibrated on dev (`hha eval --conversations` prints the best): every dev reading is right for any
# threshold between 0.53 (the highest-scoring new case) and 1.5 (the lowest-scoring follow-up); this
# is their middle, rounded.
THRESHOLD = 1.0


def _topic_tokens(text: str) -> set[str]:
    return {t for t in lexical_tokens(text) if t not in _CHAT_STEMS and not t.isdigit()}


def _ages(text: str) -> set[str]:
    return {m.group(1) or m.group(4) for m in _AGE.finditer(text)}


def follow_up_features(message: str, thread: Sequence[str]) -> dict[str, float]:
    """What the follow-up decision looks at, each in [0, 1]."""
    words = len(message.split())
    before = " ".join(thread)
    own = _topic_tokens(message)
    return {
        "brevity": 1.0 if words <= 12 else 0.0 if words >= 30 else (30 - words) / 18,
        "opener": float(bool(_OPENER.search(message))),
        "refers_back": float(bool(_BACK.search(message))),
        "overlap": len(own & _topic_tokens(before)) / len(own) if own else 0.0,
        "says_new": float(bool(_NEW.search(message))),
        "new_people": float(bool(_ages(message) - _ages(before))),
        "describes_case": float(is_case(message)),
    }


def follow_up_score(message: str, thread: Sequence[str]) -> float:
    return sum(WEIGHTS[k] * v for k, v in follow_up_features(message, thread).items())


# -- follow-up actions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    name: str  # ACTION_NOW, ACTION_QUESTIONS, ACTION_SHORTER or ACTION_MORE
    facet: Facet | None = None  # for ACTION_MORE

    @property
    def message(self) -> str:
        return f"{ACTION_MORE}{self.facet.heading}" if self.facet else self.name


def _facet_named(words: str) -> Facet | None:
    key = words.strip(" .!?:").lower()
    for facet in load_facets():
        if key in (facet.heading.lower(), facet.name.replace("-", " "), FACET_LABELS.get(facet.name, "")):
            return facet
    found = [f for f in detect_facets(words) if f.name != "child-voice"]
    return found[0] if len(found) == 1 else None


def parse_action(message: str) -> Action | None:
    """A follow-up action, as the buttons send it (case and a closing full stop do not matter)."""
    text = message.strip().rstrip(".!").strip()
    for name in (ACTION_NOW, ACTION_QUESTIONS, ACTION_SHORTER):
        if text.lower() == name.lower():
            return Action(name)
    if text.lower().startswith(ACTION_MORE.lower()):
        facet = _facet_named(text[len(ACTION_MORE):])
        if facet is not None:
            return Action(ACTION_MORE, facet)
    return None


def starts_afresh(message: str) -> tuple[bool, str]:
    """("New case: mum, 30, ..." -> True, "mum, 30, ..."): the user's way to start afresh."""
    m = re.match(rf"^\s*{NEW_CASE}\b[\s:.,;!-]*", message, re.I)
    return (True, message[m.end():].strip()) if m else (False, message.strip())


def offered_actions(answer: Answer) -> tuple[str, ...]:
    """The follow-up requests offered under an answer: the narrower views, and more on each
    facet of the case it shows."""
    if answer.abstained and answer.urgent is None:
        return ()
    headings = {f.heading: f for f in load_facets()}
    more = [f"{ACTION_MORE}{p.heading}" for p in answer.parts if p.heading in headings]
    return (ACTION_NOW, *((ACTION_QUESTIONS,) if answer.checklist else ()), ACTION_SHORTER, *more)


# -- reading a conversation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """One message as read in its conversation."""

    message: str  # without a "New case:" opener
    follow_up: bool
    thread: tuple[str, ...]  # the case's messages it is read with, oldest first (empty: a new case)
    area: str | None
    area_from: str | None  # the words the area was read from; None when the user set it or none is known
    area_earlier: bool = False  # the area was named in an earlier message, not this one
    action: Action | None = None
    base: Turn | None = None  # for an action: the message it acts on
    score: float | None = None  # its follow-up score (None: there was no case before it, or it started afresh)

    @property
    def merged(self) -> str:
        """The follow-up's own words first, then its case, within one question's length."""
        text = self.message
        for earlier in self.thread:
            if len(text) + 1 + len(earlier) <= MAX_MERGED_CHARS:
                text = f"{text}\n{earlier}"
        return text


def _adds_to_case(message: str, thread: Sequence[str]) -> bool:
    """A follow-up that tells more of the case (a facet or a risk it had not raised) stays with
    it for the turns after; one that only asks ("who do I ring?") does not."""
    before = " ".join(thread)
    known = {f.name for f in detect_facets(before)}
    return any(f.name not in known for f in detect_facets(message) if f.name != "child-voice") or bool(
        urgent_signals(message))


def read_turn(context: Sequence[str], message: str, *, areas: dict[str, tuple[str, ...]],
              area: str | None = None, threshold: float = THRESHOLD) -> Turn:
    """How `message` reads after the earlier user messages `context` (oldest first). `area` set
    by the user wins; otherwise the last place named in the conversation sets it."""
    thread: list[str] = []
    last: Turn | None = None
    found_area: tuple[str, str] | None = None
    turn: Turn | None = None
    messages = [m for m in context if m and m.strip()][-MAX_CONTEXT_MESSAGES:]
    for raw in [*messages, message]:
        fresh, text = starts_afresh(raw)
        if fresh:
            thread, last = [], None
        if not text:
            continue
        action = parse_action(text)
        named = find_area(text, areas) if area is None and not action else None
        earlier_area = found_area
        found_area = named or found_area
        area_now = area if area is not None else (found_area[0] if found_area else None)
        area_from = None if area is not None or not found_area else found_area[1]
        area_earlier = area is None and named is None and earlier_area is not None
        if action is not None and last is not None:
            turn = Turn(message=text, follow_up=True, thread=tuple(thread), area=area_now, area_from=area_from,
                        area_earlier=area_earlier, action=action, base=replace(last, area=area_now,
                                                                               area_from=area_from))
            continue
        score = follow_up_score(text, thread) if thread and not fresh else None
        follow = score is not None and score >= threshold
        turn = Turn(message=text, follow_up=follow, thread=tuple(thread) if follow else (), area=area_now,
                    area_from=area_from, area_earlier=area_earlier,
                    score=score)
        if follow:
            if _adds_to_case(text, thread):
                thread.append(text)
        else:
            thread = [text]
        last = turn
    assert turn is not None, "a message is never empty here (validated by the caller)"
    return turn


# -- the plan of a turn ----------------------------------------------------------------------------------


Reader = Callable[[str, "str | None"], Plan]  # (text, area) -> Plan: the composer's own reading


def _signals(texts: Sequence[str]) -> tuple[str, ...]:
    """Risk signals of each message, one of each kind."""
    seen: dict[str, str] = {}
    for text in texts:
        for signal in urgent_signals(text):
            seen.setdefault(signal.split(":", 1)[0], signal)
    return tuple(seen.values())


def plan_turn(turn: Turn, read: Reader, max_facets: int) -> Plan | None:
    """The plan to answer `turn` with; None when it reads alone, as any single question does."""
    if turn.action is not None and turn.base is not None:
        return _action_plan(turn, read, max_facets)
    if not turn.follow_up:
        if not turn.area_earlier:
            return None
        return replace(read(turn.message, turn.area), area_from=turn.area_from)
    plan = read(turn.merged, turn.area)
    own = [f for f in detect_facets(turn.message) if f.name != "child-voice"]
    rest = [f for f in detect_facets(turn.merged) if f.name != "child-voice" and f not in own]
    opened_case = read(turn.thread[0], turn.area).case if turn.thread else False
    case = plan.case or opened_case
    return replace(plan, kind=CASE if case else plan.kind, facets=tuple(own + rest)[:max_facets] if case else (),
                   focus=turn.message if case else None,
                   signals=_signals([turn.message, *turn.thread]), area_from=turn.area_from)


def _action_plan(turn: Turn, read: Reader, max_facets: int) -> Plan:
    base = plan_turn(turn.base, read, max_facets) or read(turn.base.message, turn.area)
    base = replace(base, area=turn.area, area_from=turn.area_from)
    action = turn.action
    if action.name == ACTION_NOW:
        return replace(base, wants_route=True)
    if action.name == ACTION_MORE:
        case = "\n".join(turn.thread) or turn.base.message
        mentions = " ".join(s for s in re.split(r"(?<=[.?!\n])\s+", case) if action.facet.matches(s))
        # The facet in the protocols' words (each clause a query of its own), then what the case says of it.
        text = f"{action.facet.query.replace('; ', '. ')}\n{mentions}".strip()[:MAX_MERGED_CHARS]
        return replace(base, text=text, kind=CASE, facets=(action.facet,), signals=())
    return base


# -- the answer of a turn ---------------------------------------------------------------------------------


def carried_line(turn: Turn, had_context: bool) -> CarryOver | None:
    """What the answer says, above itself, of what it carried over (None for a lone message)."""
    if not turn.follow_up:
        if not had_context:
            return None
        kept = LINE_AREA_KEPT.format(area=_area_words(turn)) if turn.area_earlier and turn.area else ""
        return CarryOver(follow_up=False, line=LINE_NEW_CASE.format(area=kept), area=turn.area,
                         area_from=turn.area_from)
    thread = turn.thread or ((turn.base.message,) if turn.base else ())
    case = "\n".join(thread)
    items, names = [], []
    for facet in detect_facets(case):
        if facet.name == "child-voice":
            continue
        found = sorted((m.start(), m.group(0).strip().lower()) for p in facet.triggers for m in p.finditer(case))
        words = list(dict.fromkeys(w for _, w in found))  # in the order the case says them
        label = FACET_LABELS.get(facet.name, facet.name.replace("-", " "))
        quoted = ", ".join(f"\u201c{w}\u201d" for w in words[:2])
        items.append(f"{label} ({quoted})" if words else label)
        names.append(facet.name)
    signals = tuple(dict.fromkeys(s.split(":", 1)[0] for s in _signals(thread)))
    items += [f"risk now: {kind}" for kind in signals]
    if turn.area:
        items.append(f"area: {_area_words(turn)}")
    line = LINE_FOLLOW_UP.format(items="; ".join(items) or "the case as described")
    return CarryOver(follow_up=True, line=line, facets=tuple(names), signals=signals, area=turn.area,
                     area_from=turn.area_from, action=turn.action.message if turn.action else None)


def _area_words(turn: Turn) -> str:
    return f"{turn.area} (from \u201c{turn.area_from}\u201d)" if turn.area_from else turn.area


def finish(answer: Answer, turn: Turn, had_context: bool) -> Answer:
    """The composed answer as this turn asks for it: narrowed for an action, with the line of
    what was carried over, the follow-up actions to offer, and the user's own message as its question."""
    action = turn.action.name if turn.action is not None and turn.base is not None else None
    if action == ACTION_NOW:
        answer = narrow(answer, parts=False, checklist=False)
    elif action == ACTION_QUESTIONS:
        answer = narrow(answer, urgent=False, parts=False)
    elif action == ACTION_SHORTER:
        answer = shorten(answer)
    elif action == ACTION_MORE:
        answer = narrow(_under_facet(answer, turn.action.facet), urgent=False)
    answer = replace(answer, question=turn.message, conversation=carried_line(turn, had_context))
    return replace(answer, actions=offered_actions(answer))


def narrow(answer: Answer, *, urgent: bool = True, parts: bool = True, checklist: bool = True,
           keep: Callable[[Extract], bool] | None = None) -> Answer:
    """The answer with only the parts asked for (and, with `keep`, only the extracts it keeps),
    its citations renumbered in order of first use."""
    def kept(extracts):
        return tuple(e for e in extracts if keep is None or keep(e))

    now = answer.urgent if urgent else None
    if now is not None:
        now = replace(now, extracts=kept(now.extracts))
    shown = tuple(replace(p, extracts=kept(p.extracts)) for p in answer.parts) if parts else ()
    shown = tuple(p for p in shown if p.extracts)
    questions = kept(answer.checklist) if checklist else ()
    order: dict[int, int] = {}
    for e in [*(now.extracts if now else ()), *(e for p in shown for e in p.extracts), *questions]:
        order.setdefault(e.citation, len(order) + 1)

    def renumbered(extracts):
        return tuple(replace(e, citation=order[e.citation]) for e in extracts)

    citations: list[Citation] = sorted((replace(c, n=order[c.n]) for c in answer.citations if c.n in order),
                                       key=lambda c: c.n)
    return replace(
        answer, urgent=replace(now, extracts=renumbered(now.extracts)) if now else None,
        parts=tuple(replace(p, extracts=renumbered(p.extracts)) for p in shown),
        checklist=renumbered(questions), citations=tuple(citations),
    )


def _under_facet(answer: Answer, facet: Facet) -> Answer:
    """Everything asked for as more on a facet is shown under its heading (findings and
    background stay under their own labelled headings)."""
    general = [p for p in answer.parts if p.heading in (HEADING_GUIDANCE, facet.heading)]
    if not general:
        return answer
    merged = AnswerPart(heading=facet.heading, extracts=tuple(e for p in general for e in p.extracts))
    rest = [p for p in answer.parts if p not in general]
    return replace(answer, parts=(merged, *rest))


def shorten(answer: Answer, words: int = SHORTER_WORDS, questions: int = SHORTER_QUESTIONS) -> Answer:
    """The route as it was, then the best-scored extracts within `words`, and a few questions."""
    guidance = sorted((e for p in answer.parts for e in p.extracts), key=lambda e: -e.score)
    chosen: set[tuple[str, int]] = set()
    used = 0
    for e in guidance:
        n = len(e.text.split())
        if used + n <= words or not chosen:
            chosen.add((e.passage_id, e.start))
            used += n
    asked = {(e.passage_id, e.start) for e in sorted(answer.checklist, key=lambda e: -e.score)[:questions]}
    route = {(e.passage_id, e.start) for e in (answer.urgent.extracts if answer.urgent else ())}
    return narrow(answer, keep=lambda e: (e.passage_id, e.start) in chosen | asked | route)
