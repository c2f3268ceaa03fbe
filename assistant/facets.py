"""Reading a question: which facets of a case it mentions, whether a child may be at risk now,
and which area it names. Pure functions over data files kept beside this module."""

from __future__ import annotations

import re
import tomllib
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
    r"\b(\d{1,2}\s*(yo|y/o|years?|months?|mths?|weeks?)|aged \d|kids?|children|son|daughter|baby|"
    r"partner|mum|dad|mother|father|service user|has (a|two|three)|lives with|referred)\b",
    re.I,
)


def is_case(text: str) -> bool:
    """A case description rather than a question: it describes people (ages, family roles)
    and touches several facets."""
    people = len(_CASE_MARKERS.findall(text))
    specific = [f for f in detect_facets(text) if f.name != "child-voice"]
    return (people >= 2 and len(specific) >= 2) or (len(text.split()) >= 35 and len(specific) >= 2)


# Signals that a child may be at risk now. Each is specific enough that a general question
# ("what does the guidance say about domestic violence?") does not trip it.
_URGENT = [
    r"\b(left|home|alone) (alone|on (his|her|their) own)\b",
    r"\bhome alone\b",
    r"\bleft (the )?(kids?|children|child|baby|toddler)\b.{0,30}\b(alone|on (his|her|their) own|unattended)",
    r"\bunattended\b",
    r"\b(found|is|was|lying) (unconscious|collapsed|unresponsive)",
    r"\b(can'?t|cannot|couldn'?t) (wake|rouse)\b",
    r"\bnot breathing\b",
    r"\boverdos(ed|e) (tonight|today|this morning|just now|now)\b",
    r"\b(has|just|have) (overdosed|od'?d)\b",
    r"\b(swallowed|drank|drunk|ingested|taken|took|got hold of|eaten|ate)\b.{0,40}\b(methadone|pills?|tablets?|drugs?|medication|script)",
    r"\b(child|kid|baby|toddler|son|daughter|boy|girl)\b.{0,40}\b(swallowed|drank|ingested|got hold of)",
    r"\b(bruis|injur|burn(s|ed|t)|broken (arm|leg|bone)|black eye|marks on)",
    r"\b(hit|hits|hitting|punched|kicked|strangled|threatened|attacked) (him|her|them|the (child|kid|baby|children)|my)\b",
    r"\b(knife|weapon|gun)\b",
    r"\b(right now|tonight|at the moment|currently)\b.{0,60}\b(drunk|high|intoxicated|off (his|her) face|violent|alone|unsafe)",
    r"\b(drunk|high|intoxicated|off (his|her) face|passed out|out of it)\b.{0,60}\b(right now|tonight|looking after|in charge of|with the (baby|kids?|children))",
    r"\b(immediate|imminent) (danger|risk)\b",
    r"\bnot safe to go home\b",
    r"\bscared to go home\b",
    r"\bdisclos(ed|es|ure)\b.{0,40}\b(abuse|hit|hurt|violence)",
    r"\bemergency\b",
]
_URGENT_RE = [re.compile(p, re.I) for p in _URGENT]


def urgent_signals(text: str) -> list[str]:
    """The phrases in the text that suggest a child may be at immediate risk."""
    found = []
    for pattern in _URGENT_RE:
        m = pattern.search(text)
        if m:
            found.append(m.group(0))
    return found


def detect_area(text: str, areas: dict[str, tuple[str, ...]]) -> str | None:
    """The area a question names ('in Luton', 'Dunstable', 'Stoke'), given each local area's
    place names. The longest name wins (so 'Central Bedfordshire' beats 'Bedford')."""
    best: tuple[int, str] | None = None
    for area, places in areas.items():
        for place in (area, *places):
            if re.search(rf"(?<![\w-]){re.escape(place)}(?![\w-])", text, re.I):
                if best is None or len(place) > best[0]:
                    best = (len(place), area)
    return best[1] if best else None
