"""What an answer says beside each citation about the source itself: whose area's protocol it
is (another area's contacts are never shown unlabelled) and whether it is still current (past
its review date, or older than a configured age). Pure: dates in, fixed notes of ours out.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

from assistant.records import Answer, Citation, Document

_MONTHS = {m: n for n, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}


def parse_date(text: str, end_of_period: bool = False) -> date | None:
    """'March 2026', '1 March 2026', '2026-03-01', '03/2026', '01/03/2026', '2017', 'c. 2013'.
    A month or a year alone is read as its first day (or its last, with `end_of_period`)."""
    t = (text or "").strip().lower()
    if not t:
        return None
    m = re.search(r"\b(\d{4})-(\d{1,2})(?:-(\d{1,2}))?\b", t)
    if m:
        return _make(int(m.group(1)), int(m.group(2)), int(m.group(3)) if m.group(3) else None, end_of_period)
    m = re.search(r"\b(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})\b", t)
    if m:  # UK order: day/month/year
        return _make(int(m.group(3)), int(m.group(2)), int(m.group(1)), end_of_period)
    m = re.search(r"\b(\d{1,2})[/.\-](\d{4})\b", t)
    if m:
        return _make(int(m.group(2)), int(m.group(1)), None, end_of_period)
    m = re.search(r"\b(?:(\d{1,2})(?:st|nd|rd|th)?\s+)?([a-z]{3})[a-z]*\.?\s+(\d{4})\b", t)
    if m and m.group(2) in _MONTHS:
        day = int(m.group(1)) if m.group(1) else None
        return _make(int(m.group(3)), _MONTHS[m.group(2)], day, end_of_period)
    m = re.search(r"\b((?:19|20)\d\d)\b", t)
    if m:
        return _make(int(m.group(1)), 12 if end_of_period else 1, None, end_of_period)
    return None


def _make(year: int, month: int, day: int | None, end: bool) -> date | None:
    if not 1 <= month <= 12:
        return None
    if day is None:
        if not end:
            day = 1
        else:
            nxt = date(year + (month == 12), month % 12 + 1, 1)
            return date.fromordinal(nxt.toordinal() - 1)
    try:
        return date(year, month, day)
    except ValueError:
        return None


def currency_note(doc: Document, today: date, max_age_years: float | None = None) -> str | None:
    """A note when a source may be out of date, else None."""
    review = parse_date(doc.review_date, end_of_period=True)
    if review is not None and review < today:
        return f"past its review date ({doc.review_date}): check this is still the current version"
    if max_age_years:
        issued = parse_date(doc.date, end_of_period=True)
        if issued is not None and (today - issued).days > max_age_years * 365.25:
            years = int(max_age_years) if float(max_age_years).is_integer() else max_age_years
            return f"issued {doc.date}, more than {years} years ago: check this is still the current version"
    return None


def area_note(doc: Document | None, area: str | None) -> str | None:
    """The label of another area's local protocol (or of every local protocol when the user's
    area is not set); None for the user's own area and for national documents."""
    if doc is None or doc.scope != "local" or not doc.area or doc.area == "Not stated":
        return None
    if area is None:
        return f"{doc.area} local protocol"
    if doc.area != area:
        return f"{doc.area} local protocol: not your area"
    return None


def annotate(answer: Answer, documents: list[Document], today: date | None = None,
             max_age_years: float | None = None) -> Answer:
    """The answer with each citation's area label and currency note set."""
    by_id = {d.id: d for d in documents}
    today = today or date.today()
    citations: list[Citation] = []
    for c in answer.citations:
        doc = by_id.get(c.passage.doc_id)
        currency = currency_note(doc, today, max_age_years) if doc else None
        citations.append(replace(c, currency=currency, area_label=area_note(doc, answer.area)))
    return replace(answer, citations=tuple(citations))
