"""Reading a question: which facets of a case it mentions, whether a child may be at risk now,
and which area it names. Pure functions over data files kept beside this module."""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

FACETS_FILE = Path(__file__).with_name("facets.toml")


@dataclass(frozen=True)
class Facet:
    name: str
    heading: str
    query: str
    triggers: tuple[re.Pattern, ...]

    def matches(self, text: str) -> bool:
        return any(p.search(text) for p in self.triggers)


@lru_cache(maxsize=2)
def load_facets(path: Path = FACETS_FILE) -> tuple[Facet, ...]:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    return tuple(
        Facet(
            name=row["name"],
            heading=row["heading"],
            query=row["query"],
            triggers=tuple(re.compile(t, re.I) for t in row["triggers"]),
        )
        for row in data["facet"]
    )


def detect_facets(text: str) -> list[Facet]:
    return [f for f in load_facets() if f.matches(text)]


_CASE_MARKERS = re.compile(
    r"\b(\d{1,2}[\s-]*(yo|y/o|years?|months?|mths?|weeks?)|aged \d|kids?|children|son|daughter|baby|"
    r"partner|mum|dad|mother|father|service user|has (a|two|three)|lives with|referred)\b",
    re.I,
)


def is_case(text: str) -> bool:
    """A case description rather than a question: it describes people (ages, family roles)
    and touches a facet, or it runs to case-note length."""
    people = len(_CASE_MARKERS.findall(text))
    specific = [f for f in detect_facets(text) if f.name != "child-voice"]
    words = len(text.split())
    return (people >= 2 and len(specific) >= 1) or words >= 30 or (words >= 20 and len(specific) >= 2)


# Whether the only children a text speaks of are unborn or babies: the sources' questions about
# a child's school, friends or understanding then do not apply. An adult's age ("a pregnant
# 19-year-old") is not a child's; "kids", "son" or "daughter" may be of any age, so they count as older.
_INFANT = re.compile(r"\b(pregnan\w*|unborn|expecting|baby|newborn|new-born|infant|\d{1,2} ?(weeks?|wks|months?|mths?)[- ]old)\b", re.I)
_OLDER = re.compile(r"\b(kids?|children|child|sons?|daughters?|boy|girl|toddler|siblings?|brothers?|sisters?|teen\w*|"
                    r"school|pupil|nursery|yr \d|year \d|(?:[2-9]|1[0-7]) ?(yo|y/o|years?( old)?|-years?-old))\b", re.I)


def infants_only(text: str) -> bool:
    """The text speaks of an unborn child or a baby, and of no older child."""
    return bool(_INFANT.search(text)) and not _OLDER.search(text)


# Signals that a child may be at risk now, by kind of risk (the kinds the referral guidance of
# the protocols names), as practitioners type them. Each is specific enough that a general
# question ("what does the guidance say about domestic violence?") does not trip it.
_CHILD = r"(child|kid|baby|toddler|infant|son|daughter|boy|girl|little one|\d{1,2} ?(yo|y/o|mths?|months?)|\d{1,2}-year-old|he|she)"
_DRUG = r"(methadone|meth|pills?|tablets?|meds|medication|drugs?|script|bottle|subutex|bupe|heroin|diazepam|valium)"
_URGENT = {
    "took a parent's drugs": [
        rf"\b(swallowed|drank|drunk|ingested|taken|took|got hold of|got into|eaten|ate|chewing|had a (swig|sip|mouthful))\b.{{0,40}}\b{_DRUG}",
        rf"\b{_CHILD}\b.{{0,40}}\b(swallowed|ingested|got hold of|got into|chewing|had a (swig|sip))",
        r"\b(lid off|bottle (open|empty)|third gone|half gone)\b",
        # Within a child's reach: the child could have taken it.
        rf"\b{_DRUG}\b.{{0,40}}\b(on the (kitchen |bathroom )?(side|table|floor|counter|worktop|sofa|bed)|"
        r"within (his|her|their|the child's|a child's) reach|in reach|lying (around|about)|left out)\b",
    ],
    "left alone": [
        r"\bhome alone\b", r"\bunattended\b",
        r"\b(left|leaves|leaving)\b.{0,30}\b(alone|on (his|her|their) own|by (him|her|them)sel(f|ves))\b",
        r"\bon (his|her|their|our) own\b.{0,20}\b(night|home|tonight|all day)\b",
        r"\b(mum|dad|mother|father|parents?)\b[^.]{0,40}\b(went|gone|has gone|have gone) out\b",
        r"\b(no|nobody|no one|no-one) (else|adult|grown-?up)s? (here|there|in|at home|with them)\b",
    ],
    "violence": [
        r"\b(da|dv) (notification|incident|call-?out|report)\b", r"\bdomestic (abuse|violence) (notification|incident)\b",
        r"\bpolice (were |was |got )?(called|came|attended|called out|call-?out|log)\b",
        r"\b(drunk|drinking)\b.{0,30}\b(fighting|fight)\b",
        r"\b(hit|hits|hitting|punched|kicked|slapped|strangled|choked|threatened|attacked|assaulted|beat|beating|smashing)"
        r"\b.{0,25}\b(him|her|them|mum|dad|me|my|the (child|kid|kids|baby|children|place)|in front)\b",
        r"\bkick(ed|s|ing) off\b", r"\b(bruis|injur|black eye|marks on|broken (arm|leg|bone))",
        r"\b(knife|weapon|gun)\b", r"\b(scared|frightened|afraid|too scared) to (go|going) (back )?home\b",
        r"\bnot safe to go home\b", r"\bdisclos(ed|es|ure)\b.{0,40}\b(abuse|hit|hurt|violence)",
    ],
    "parent unable to care": [
        r"\b(passed out|unconscious|collapsed|unresponsive|not breathing|flat out|out cold|comatose)\b",
        r"\b(can'?t|cannot|couldn'?t|won'?t) (wake|rouse)|\bhard to (wake|rouse)\b",
        r"\b(nodding off|gouching|gouching out|slurring|unsteady on (his|her) feet)\b",
        r"\b(just|has|have|'s|is) (overdosed|od'?d)\b|\bafter an overdose\b|\btook too much\b", r"\bin a ?& ?e\b",
        r"\b(drunk|high|intoxicated|off (his|her|their) face|wasted|out of it|stinking of (drink|booze|alcohol))\b"
        r".{0,60}\b(looking after|in charge of|on (his|her) own with|with the (baby|kids?|children|toddler)|has the|"
        r"(baby|kids?|children)('s| is| are) (here|with))",
    ],
    "drink or drug driving": [
        r"\b(drunk|drinking|drink|pints?|beers?|had a few|stinking|smells? (strongly )?of (alcohol|drink)|high|stoned)\b"
        r".{0,80}\b(driv(e|ing)|car keys|in the car|behind the wheel)",
    ],
    "a parent's suicidal words": [
        r"\b(can'?t|cannot) see the point\b", r"\b(end it|end it all|kill (my|her|him)sel(f|ves)|take (my|her|his) (own )?life)\b",
        r"\bbetter off without (me|her|him)\b", r"\b(suicidal|suicide note|wants to die|want to die)\b",
        r"\bdoesn'?t want to (be here|live)\b",
    ],
    "immediate danger": [r"\b(immediate|imminent) (danger|risk)\b", r"\bemergency\b"],
}
_URGENT_RE = {kind: [re.compile(p, re.I) for p in patterns] for kind, patterns in _URGENT.items()}
# A signal read in a text about the past, or in a general or training question, is not "now".
_PAST = re.compile(r"\b(years? ago|last year|used to|in the past|historic(al|ally)?|history of|before (she|he|they) "
                   r"(got|was|were) (clean|stable)|resolved|since then|months ago|weeks ago|weeks back|last week|usually|"
                   r"\d+ (yrs?|years) ago|not (a crisis|urgent|an emergency))\b", re.I)
_GENERAL = re.compile(r"\b(training|slide|briefing|policy|induction|session|planning|what do(es)? (the )?(staffs? "
                      r"|beds? |local )?(documents?|protocol|guidance|reports?|research) (actually )?say|"
                      r"is there a (known )?link)\b", re.I)
_NOW = re.compile(r"\b(right now|just now|today|tonight|this (morning|afternoon|evening)|last night|overnight|just|"
                  r"currently|at the moment|at the (door|house)|in front of me|\d{1,2}[:.]\d{2}|\d{1,2} ?(am|pm))\b",
                  re.I)


# The kinds of immediate risk, described in plain words: a text close in meaning to one of them
# is read as urgent even when none of the typed signals above matches its wording.
URGENT_PROTOTYPES = (
    "a toddler may have swallowed the parent's methadone or pills and is drowsy",
    "the child got hold of the parent's drugs or medication today",
    "young children have been left home alone with no adult",
    "the kids are on their own tonight while mum is out drinking or scoring",
    "police were called to a domestic violence incident last night with the children in the house",
    "dad hit mum in front of the baby and he is still in the house",
    "the parent is unconscious, passed out or collapsed and cannot look after the child",
    "the parent has overdosed and the children are at home",
    "a drunk parent is about to drive the children in the car",
    "the parent says she wants to end her life and cannot go on",
    "the child is scared to go home because of violence",
    "the child has injuries and says a parent hurt them",
)


def past_or_general(text: str) -> bool:
    """A text about the past, or a general or training question, with nothing said of now."""
    return bool((_PAST.search(text) or _GENERAL.search(text)) and not speaks_of_now(text))


def speaks_of_now(text: str) -> bool:
    """The text says when, and it is now ("tonight", "right now", "just", a clock time)."""
    return bool(_NOW.search(text))


def urgent_signals(text: str) -> list[str]:
    """The phrases in the text that suggest a child may be at immediate risk, each with its kind."""
    found = []
    for kind, patterns in _URGENT_RE.items():
        for pattern in patterns:
            m = pattern.search(text)
            if m:
                found.append(f"{kind}: {m.group(0)}")
                break
    return [] if found and past_or_general(text) else found


def find_area(text: str, areas: dict[str, tuple[str, ...]]) -> tuple[str, str] | None:
    """(area, the place name it was read from) for the area a question names ('in Luton',
    'Dunstable', 'Stoke'), given each local area's place names. The longest name wins (so
    'Central Bedfordshire' beats 'Bedford'); between names of one length, the first area."""
    return _place_matcher(tuple(areas.items())).find(text)


class PlaceMatcher:
    """Every local area's place names, matched in one pass over a question: each stretch of
    words that could be a name is looked up in a table, so the cost grows with the question,
    not with the library (a national library names thousands of places). Matches what one
    case-insensitive whole-word regular expression per name finds, searched in turn (kept for
    the rare text or name the table cannot decide, `search_each`)."""

    _STARTS = re.compile(r"(?<![\w-])(?=\w)")
    _ENDS = re.compile(r"(?<=\w)(?![\w-])")

    def __init__(self, areas: tuple[tuple[str, tuple[str, ...]], ...]):
        # (area, place) in the order the names are tried: an area's own name, then its places.
        self.names = [(area, place) for area, places in areas for place in (area, *places)]
        self.patterns = [re.compile(rf"(?<![\w-]){re.escape(place)}(?![\w-])", re.I) for _, place in self.names]
        self.table: dict[str, int] = {}  # lower-cased name -> its first position in `names`
        # Names the table cannot decide: not plain ASCII, or not starting and ending in a word character.
        self.others: list[int] = []
        for n, (_, place) in enumerate(self.names):
            if place.isascii() and place and (place[0].isalnum() or place[0] == "_") \
                    and (place[-1].isalnum() or place[-1] == "_"):
                self.table.setdefault(place.lower(), n)
            else:
                self.others.append(n)
        self.longest = max((len(k) for k in self.table), default=0)

    def find(self, text: str) -> tuple[str, str] | None:
        if any(c.isalpha() and not c.isascii() for c in text):
            return self.search_each(text)  # where lower-casing and the regex's case folding may part
        found: dict[int, str] = {}  # position in `names` -> its first occurrence in the text
        ends = [m.start() for m in self._ENDS.finditer(text)]
        for start in (m.start() for m in self._STARTS.finditer(text)):
            for end in ends[bisect_right(ends, start):]:
                if end - start > self.longest:
                    break
                n = self.table.get(text[start:end].lower())
                if n is not None and n not in found:
                    found[n] = text[start:end]
        for n in self.others:
            m = self.patterns[n].search(text)
            if m:
                found.setdefault(n, m.group(0))
        if not found:
            return None
        # The longest name; between equals, the first tried (as the regex-per-name search does).
        n = min(found, key=lambda n: (-len(found[n]), n))
        return self.names[n][0], found[n]

    def search_each(self, text: str) -> tuple[str, str] | None:
        best: tuple[str, str] | None = None
        for (area, place), pattern in zip(self.names, self.patterns, strict=True):
            m = pattern.search(text)
            if m and (best is None or len(place) > len(best[1])):
                best = (area, m.group(0))
        return best


@lru_cache(maxsize=8)
def _place_matcher(areas: tuple[tuple[str, tuple[str, ...]], ...]) -> PlaceMatcher:
    """Built once per library."""
    return PlaceMatcher(areas)


def detect_area(text: str, areas: dict[str, tuple[str, ...]]) -> str | None:
    found = find_area(text, areas)
    return found[0] if found else None
