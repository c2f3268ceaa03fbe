"""A cited page as printed: a PDF page rendered with pypdfium2 (the only module that imports
it), with the quoted extract highlighted where at least half of its words are found on the page.

A citation names the page its passage starts on; a quote may sit on the next one, so both are
tried and the page holding more of it is shown. Where less than half of a quote can be found
on either (extraction joined words differently, or the page is a scan), the page is shown alone
rather than with a highlight in the wrong place.

Matching is on words, in order: the indexed text is cleaned (hyphenation, spacing, repeated
headers) and never matches the page's raw characters exactly.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

MIN_FOUND = 0.5  # share of a quote's words that must be found on a page to highlight it
SCALE = 1.6  # 72 dpi * 1.6: an A4 page about 950 px wide, readable in the chat
HIGHLIGHT = (255, 196, 0, 96)  # RGBA: a marker-pen yellow the printed text shows through
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class PageImage:
    png: bytes
    page: int  # 1-based
    found: float  # share of the quoted words found on this page (0..1)
    highlighted: bool


@dataclass(frozen=True)
class _Word:
    text: str  # lower case
    boxes: tuple[tuple[float, float, float, float], ...]  # (left, bottom, right, top), PDF units


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def locate(page_words: list[str], quote_words: list[str]) -> list[int]:
    """Indices of the page words that match the quote, in order: the longest run of words in
    common and the shorter runs near it (a word split or joined by extraction breaks a run).
    Single common words far from that run ("the", "child") are not the quote."""
    if not quote_words or not page_words:
        return []
    matcher = SequenceMatcher(None, page_words, quote_words, autojunk=False)
    blocks = [b for b in matcher.get_matching_blocks() if b.size]
    if not blocks:
        return []
    anchor = max(blocks, key=lambda b: b.size)
    reach = 2 * len(quote_words)
    minimum = 1 if len(quote_words) <= 3 else 2
    kept = [b for b in blocks
            if (b.size >= minimum or b is anchor) and anchor.a - reach <= b.a <= anchor.a + anchor.size + reach]
    return [i for b in kept for i in range(b.a, b.a + b.size)]


def found_share(page_words: list[str], quote_words: list[str]) -> float:
    return len(locate(page_words, quote_words)) / len(quote_words) if quote_words else 0.0


def _page_words(textpage) -> list[_Word]:
    import pypdfium2.raw as raw

    out: list[_Word] = []
    current, boxes = [], []
    for i in range(textpage.count_chars()):
        char = chr(raw.FPDFText_GetUnicode(textpage, i) or 32)
        if char.isalnum() or char == "_":
            current.append(char.lower())
            boxes.append(textpage.get_charbox(i))
        elif current:
            out.append(_Word("".join(current), tuple(boxes)))
            current, boxes = [], []
    if current:
        out.append(_Word("".join(current), tuple(boxes)))
    return out


def _lines(boxes: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """Character boxes merged into one rectangle per stretch of a line."""
    merged: list[list[float]] = []
    for left, bottom, right, top in sorted(boxes, key=lambda b: (-round(b[3]), b[0])):
        last = merged[-1] if merged else None
        height = max(top - bottom, 1.0)
        if last and abs(last[3] - top) < height * 0.6 and left - last[2] < height * 1.5:
            last[0], last[1], last[2], last[3] = min(last[0], left), min(last[1], bottom), max(last[2], right), max(
                last[3], top)
        else:
            merged.append([left, bottom, right, top])
    return [tuple(m) for m in merged]


def page_count(pdf: Path) -> int:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    try:
        return len(doc)
    finally:
        doc.close()


def render_cited_page(pdf: Path, page: int, quotes: list[str], scale: float = SCALE) -> PageImage:
    """Page `page` (1-based) of `pdf`, or the next one if it holds more of the quotes, as a PNG
    with every quote highlighted that is at least half found there."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    try:
        if not 1 <= page <= len(doc):
            raise ValueError(f"page {page} is not in the document (it has {len(doc)})")
        quoted = [words(q) for q in quotes if words(q)]
        total = sum(len(q) for q in quoted)
        best: tuple[float, int, list[_Word]] | None = None
        for number in (page, page + 1):
            if number > len(doc) or (best is not None and total == 0):
                continue
            textpage = doc[number - 1].get_textpage()
            try:
                page_words = _page_words(textpage)
            finally:
                textpage.close()
            texts = [w.text for w in page_words]
            share = sum(len(locate(texts, q)) for q in quoted) / total if total else 0.0
            if best is None or share > best[0]:
                best = (share, number, page_words)
        share, number, page_words = best
        pdf_page = doc[number - 1]
        image = pdf_page.render(scale=scale).to_pil().convert("RGBA")
        boxes: list[tuple[float, float, float, float]] = []
        if pdf_page.get_rotation() == 0:  # a rotated page's coordinates are not drawn on
            texts = [w.text for w in page_words]
            for q in quoted:
                hit = locate(texts, q)
                if len(hit) >= MIN_FOUND * len(q):
                    boxes.extend(box for i in hit for box in page_words[i].boxes)
        if boxes:
            from PIL import Image, ImageDraw

            left, _, _, top = pdf_page.get_bbox()
            overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
            draw = ImageDraw.Draw(overlay)
            pad = 1.5
            for x0, y0, x1, y1 in _lines(boxes):
                draw.rectangle(((x0 - left - pad) * scale, (top - y1 - pad) * scale,
                                (x1 - left + pad) * scale, (top - y0 + pad) * scale), fill=HIGHLIGHT)
            image = Image.alpha_composite(image, overlay)
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG", optimize=True)
        return PageImage(buffer.getvalue(), number, round(share, 3), bool(boxes))
    finally:
        doc.close()
