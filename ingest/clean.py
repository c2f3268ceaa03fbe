"""Cleaning of text-extraction artefacts, page by page. Pure functions: no I/O.

What the corpus shows (see corpus/README.md): lost bullet glyphs (`�`, `•`, ``), a leading
space where a PDF page began, footnote numbers glued to words (`problem3.`), footnote blocks
at the foot of a page, markdown left over from a conversion (`[text](#)`, `**bold**`), and in
PDFs the same header or footer line on every page.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    number: int | None  # 1-based; None when the source has no pages
    text: str


# Bullet glyphs as they survive extraction: replacement char, bullets, private-use glyphs.
# DEL (\x7f) is what pypdf gives for the bullet of reportlab and other PDF writers using the
# standard fonts.
BULLET_CHARS = "�•\uf0b7\uf0a7\uf076\uf0d8▪●◦‣∙·\x7f"
_SUPERSCRIPTS = "¹²³⁴⁵⁶⁷⁸⁹⁰"
_MD_LINK = re.compile(r"\[([^\]]*)\]\((?:#|[^)\s]*)\)")
_MD_ANGLE_URL = re.compile(r"<((?:https?://|www\.)[^>\s]+)>")
_MD_EMPHASIS = re.compile(r"\*\*(.+?)\*\*|(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])")
_MD_ESCAPE = re.compile(r"\\([()\[\]*_#])")
_MD_HEADING = re.compile(r"^#{1,6}\s+")
# A footnote number glued to the end of a word: "problem3." or "drugs2 ". Lower-case letter
# (or closing quote/bracket) straight before, so "V1.5" and "H2O" stay as they are.
_GLUED_FOOTNOTE = re.compile(r"(?<=[a-z\)’”])(\d{1,2})(?=[.,;:]?(?:\s|$))")
_YEAR_OR_URL = re.compile(r"\((?:19|20)\d\d\)|\b(?:19|20)\d\d\b|https?://|www\.")
_BARE_NUMBER = re.compile(r"^\d{1,3}$")
_MIN_PAGE_LINES = 8
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$", re.I)


def normalise_characters(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\t", " ").replace("\u200b", "")
    text = text.replace("\ufb01", "fi").replace("\ufb02", "fl")
    return "\n".join(line.rstrip() for line in text.split("\n"))


def strip_markdown(line: str) -> str:
    line = _MD_HEADING.sub("", line)
    line = _MD_LINK.sub(r"\1", line)
    line = _MD_ANGLE_URL.sub(r"\1", line)
    line = _MD_EMPHASIS.sub(lambda m: m.group(1) or m.group(2), line)
    line = _MD_ESCAPE.sub(r"\1", line)
    return line


def strip_footnote_marks(line: str) -> str:
    line = re.sub(f"[{_SUPERSCRIPTS}]+", "", line)
    return _GLUED_FOOTNOTE.sub("", line)


def drop_footnote_block(lines: list[str]) -> list[str]:
    """Drop the footnotes at the foot of a page: a bare number line in the lower part of the
    page after which most lines are references (a year in brackets, or a URL)."""
    content = [i for i, line in enumerate(lines) if line.strip()]
    if len(content) < 4:
        return lines
    lower_part = content[len(content) // 4]
    for i in content:
        if i < lower_part or not _BARE_NUMBER.match(lines[i].strip()):
            continue
        rest = [lines[j].strip() for j in content if j > i]
        refs = [r for r in rest if not _BARE_NUMBER.match(r)]
        if refs and sum(bool(_YEAR_OR_URL.search(r)) for r in refs) >= 0.5 * len(refs):
            return lines[:i]
    return lines


def drop_footnote_lines(lines: list[str]) -> list[str]:
    """Drop footnote lines marked with a superscript number ("¹ Joint Strategic Needs
    Assessment 2017") and the bare references that follow them."""
    out: list[str] = []
    in_note = False
    for line in lines:
        stripped = line.strip()
        if stripped and stripped[0] in _SUPERSCRIPTS:
            in_note = True
            continue
        if in_note and stripped and _YEAR_OR_URL.search(stripped) and len(stripped.split()) <= 8:
            continue
        if stripped:
            in_note = False
        out.append(line)
    return out


def clean_page_text(text: str) -> str:
    lines = normalise_characters(text).split("\n")
    lines = drop_footnote_lines(lines)
    lines = drop_footnote_block(lines)
    lines = [strip_footnote_marks(strip_markdown(line)) for line in lines]
    return "\n".join(lines)


def drop_repeated_margins(pages: list[Page], *, min_pages: int = 3) -> list[Page]:
    """Remove header and footer lines that a PDF repeats on most pages, and bare page numbers.

    A line counts as a margin line when it is among the first or last two non-empty lines of
    a page and the same line (digits ignored) stands there on at least half of the pages."""
    if len(pages) < min_pages:
        return [Page(p.number, _drop_page_numbers(p.text)) for p in pages]

    def key(line: str) -> str:
        return re.sub(r"\d+", "#", line.strip().lower())

    margins: Counter[str] = Counter()
    for page in pages:
        content = [line for line in page.text.split("\n") if line.strip()]
        for line in set(content[:2] + content[-2:]):
            margins[key(line)] += 1
    repeated = {
        k for k, n in margins.items() if n >= max(min_pages, len(pages) // 2) and k and len(k.split()) <= 15
    }
    cleaned: list[Page] = []
    for page in pages:
        lines = page.text.split("\n")
        content_idx = [i for i, line in enumerate(lines) if line.strip()]
        edge = set(content_idx[:2] + content_idx[-2:])
        kept = [line for i, line in enumerate(lines) if not (i in edge and key(line) in repeated)]
        cleaned.append(Page(page.number, _drop_page_numbers("\n".join(kept))))
    return cleaned


def _drop_page_numbers(text: str) -> str:
    lines = text.split("\n")
    content_idx = [i for i, line in enumerate(lines) if line.strip()]
    edge = set(content_idx[:1] + content_idx[-1:])
    return "\n".join(
        line for i, line in enumerate(lines) if not (i in edge and _PAGE_NUMBER.match(line.strip()))
    )


def split_text_pages(text: str) -> list[Page]:
    """Split text extracted from a PDF into pages where the extraction marked them: a form
    feed, or (as in the corpus) a line that begins with a single space. Text with no marks
    is one page of unknown number."""
    text = normalise_characters_keep_lead(text)
    if "\f" in text:
        return [Page(i + 1, chunk) for i, chunk in enumerate(text.split("\f"))]
    lines = text.split("\n")
    starts: list[int] = []
    content_since = 0
    seen_content = False
    for i, line in enumerate(lines):
        # A run of indented lines (survey tick-boxes, say) is not a run of pages: a page
        # holds at least a few lines of text. The very first line may open page 1.
        if re.match(r"^ (?=[^\s\-*])", line) and (content_since >= _MIN_PAGE_LINES or not seen_content):
            starts.append(i)
            content_since = 0
        if line.strip():
            content_since += 1
            seen_content = True
    if not starts:
        return [Page(None, text)]
    bounds = sorted({0, *starts, len(lines)})
    pages: list[Page] = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        chunk = lines[a:b]
        if a in starts:
            chunk[0] = chunk[0][1:]
        if pages or "\n".join(chunk).strip():
            pages.append(Page(len(pages) + 1, "\n".join(chunk)))
    return pages


def normalise_characters_keep_lead(text: str) -> str:
    """Like normalise_characters, but keeps leading spaces (they mark page starts)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    return "\n".join(line.rstrip() for line in text.split("\n"))
