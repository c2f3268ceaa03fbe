"""What a document says of itself on its first pages: the partnership or council that publishes
it (and so its area), the places it names, its title, issue date, version and review date.
Pure functions: no I/O.

These are proposals, printed when a source is added without flags so the user can correct
them; the manifest entry (or the flags) always win.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.clean import Page

_NAME = r"[A-Z][\w'’\-]*(?:[ \-](?:(?:and|&|of|upon|on|under|in|the)[ \-])?[A-Z][\w'’\-]*)*"
_PUBLISHER = re.compile(
    rf"\b(?P<place>{_NAME})\s+(?P<body>(?:Local\s+)?Safeguarding\s+(?:Children(?:'s)?\s+)?(?:Partnership|Board|"
    r"Arrangements)|(?:County|Borough|City|District|Metropolitan Borough|Unitary)\s+Council)\b"
)
_NOT_PLACES = {
    "The", "This", "These", "Our", "All", "Every", "Local", "Children", "Children's", "Safeguarding", "Multi",
    "Drug", "Alcohol", "Adult", "Adults", "Police", "Health", "NHS", "Appendix", "Section", "Version", "Review",
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January", "February", "March",
    "April", "May", "June", "July", "August", "September", "October", "November", "December", "England", "Wales",
    "UK", "Scotland", "Britain", "If", "When", "Where", "A", "An", "In", "On", "At",
}
_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
          r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)")
DATE = rf"(?:\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}\s+\d{{4}}|{_MONTH}\s+\d{{4}}|\d{{1,2}}[/.\-]\d{{1,2}}[/.\-]\d{{4}}|\d{{1,2}}[/.\-]\d{{4}}|\d{{4}}-\d{{2}}(?:-\d{{2}})?|(?:19|20)\d\d)"
_VERSION = re.compile(r"\b(?:Version|Ver\.)\s*(?:no\.?|number)?\s*:?\s*(\d+(?:\.\d+)*)\b", re.I)
_ISSUED = re.compile(rf"\b(?:Issued|Issue date|Date of issue|Published|Publication date|Approved|Date approved|"
                     rf"Effective from|Date)\s*(?:on|:)?\s*({DATE})", re.I)
_REVIEW = re.compile(rf"\b(?:Review date|Date of (?:next )?review|Next review(?: date)?|(?:To be |Due to be )?reviewed"
                     rf"(?: by| in| on)?|Review due(?: by)?|Review)\s*(?::|by|in|on)?\s*({DATE})", re.I)
FIRST_PAGES = 2


@dataclass
class Description:
    title: str = ""
    publisher: str = ""
    area: str = ""
    places: list[str] = field(default_factory=list)
    date: str = ""
    version: str = ""
    review_date: str = ""
    reasons: dict[str, str] = field(default_factory=dict)  # field -> where it was found

    def as_meta(self) -> dict:
        """The file-level metadata these give (the manifest entry still wins)."""
        out = {k: getattr(self, k) for k in ("date", "version", "review_date") if getattr(self, k)}
        return out


def _front(pages: list[Page]) -> str:
    return "\n".join(p.text for p in pages[:FIRST_PAGES])


def describe(pages: list[Page]) -> Description:
    front = _front(pages)
    d = Description()
    for found in _PUBLISHER.finditer(" ".join(front.split())):
        # "Northmoor Safeguarding Children Partnership"; "The Northmoor ..." loses its article.
        place = re.sub(r"^(?:(?:The|Our|This|Working with|Working together with)\s+)+", "", found.group("place").strip())
        if not place or place.split()[0] in _NOT_PLACES:
            continue
        d.publisher = f"{place} {' '.join(found.group('body').split())}"
        d.area = place
        d.reasons["area"] = f"named as the publisher on its first pages: {d.publisher!r}"
        d.reasons["publisher"] = "named on its first pages"
        break
    if d.area:
        # Only the area's own name(s): a place name guessed from running text ("in Education")
        # would send other users' questions to this protocol. `--place` adds the rest.
        parts = [p.strip() for p in re.split(r"\s+(?:and|&)\s+|,\s*", d.area) if p.strip()]
        d.places = list(dict.fromkeys(parts))
        d.reasons["places"] = "the area's own name"
    lines = [line.strip() for line in pages[0].text.split("\n")] if pages else []
    for n, line in enumerate(lines):
        words = line.split()
        if 3 <= len(words) <= 16 and line[:1].isupper() and not re.search(r"\d{3}|@|www\.|http", line) \
                and not line.endswith((".", ",", ";")) and not (d.publisher and line.startswith(d.publisher)):
            # A title wrapped over two lines continues in lower case.
            while n + 1 < len(lines) and lines[n + 1][:1].islower() and len(line.split()) < 20:
                n += 1
                line = f"{line} {lines[n]}"
            d.title = line.rstrip(":")
            d.reasons["title"] = "the first title-like line of page 1"
            break
    for name, pattern in (("version", _VERSION), ("date", _ISSUED), ("review_date", _REVIEW)):
        m = pattern.search(" ".join(front.split()))
        if m:
            setattr(d, name, m.group(1))
            d.reasons[name] = f"stated on its first pages: {m.group(0)!r}"
    return d
