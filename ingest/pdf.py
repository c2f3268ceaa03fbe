"""PDF loading with pypdf: the only module that imports it.

A file that cannot be read is skipped with a reason, never half-ingested: encrypted (and no
empty password opens it), corrupt, empty, or with no extractable text (scanned or
image-only: OCR it first).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from assistant.errors import SkippedFile
from ingest.clean import Page
from ingest.hidden_text import HiddenTextFinder, summarise

# pypdf logs every recoverable oddity of a damaged file; the report says what matters.
logging.getLogger("pypdf").setLevel(logging.ERROR)

MAX_PAGES = 2000


def load_pdf(path: Path) -> tuple[list[Page], dict]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds here
                raise SkippedFile(f"encrypted PDF that cannot be opened without a password ({exc})") from None
            if not opened:
                raise SkippedFile("encrypted PDF: a password is needed to open it")
        count = len(reader.pages)
        if count == 0:
            raise SkippedFile("PDF has no pages")
        if count > MAX_PAGES:
            raise SkippedFile(f"PDF has {count} pages, more than the {MAX_PAGES} this tool ingests")
        pages, findings = [], []
        for number, page in enumerate(reader.pages, start=1):
            text, hidden = _visible_text(page, number)
            pages.append(Page(number, text))
            findings.extend(hidden)
        meta = _metadata(reader)
        warnings = ["hidden text not indexed: " + line for line in summarise(findings)]
        if not any(p.text.strip() for p in pages):
            pages, ocr_pages, ocr_warnings = _ocr(reader, pages)
            warnings.extend(ocr_warnings)
            if ocr_pages:
                meta["ocr_pages"] = ocr_pages
                warnings.append(f"{len(ocr_pages)} scanned page(s) read by OCR: quotes from them are flagged as "
                                f"OCR text; check them against the printed page")
        if warnings:
            meta["warnings"] = warnings
    except SkippedFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError,
            RecursionError, AssertionError, ZeroDivisionError, UnicodeError) as exc:
        raise SkippedFile(f"corrupt or unreadable PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file must never abort a whole ingest
        raise SkippedFile(f"unreadable PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not any(p.text.strip() for p in pages):
        from ingest import ocr

        hint = "run OCR on it first" if ocr.available() else "install tesseract-ocr to read it by OCR, or run OCR on it first"
        raise SkippedFile(f"no extractable text (scanned or image-only PDF: {hint})")
    return pages, meta


def _ocr(reader, pages: list[Page]) -> tuple[list[Page], list[int], list[str]]:
    """A PDF with no text layer at all: read its page images with tesseract, if installed."""
    from ingest import ocr

    if not ocr.available():
        return pages, [], []
    out, read, warnings = [], [], []
    for page, original in zip(reader.pages, pages, strict=True):
        try:
            text = ocr.read_page(page)
        except Exception as exc:  # noqa: BLE001 - one unreadable image must not lose the rest
            warnings.append(f"page {original.number}: OCR failed ({type(exc).__name__}: {str(exc)[:120]})")
            text = ""
        if text.strip():
            read.append(original.number)
        out.append(Page(original.number, text))
    return out, read, warnings


def _visible_text(page, number: int) -> tuple[str, list]:
    """The page's text without what a reader of the printed page cannot see (white, invisible,
    tiny, squeezed or off-page text: where planted instructions hide), and what was found."""
    box = tuple(float(v) for v in page.cropbox)
    finder = HiddenTextFinder(page_box=box)
    text = page.extract_text(visitor_operand_before=finder.operand) or ""
    findings = finder.findings(number)
    for finding in findings:
        if finding.text:
            text = text.replace(finding.text, "")
    return text, findings


def _metadata(reader) -> dict:
    meta = reader.metadata or {}
    out: dict = {}
    title = getattr(meta, "title", None) or meta.get("/Title") if meta else None
    if title and str(title).strip():
        out["title"] = str(title).strip()
    author = getattr(meta, "author", None) if meta else None
    if author and str(author).strip():
        out["publisher"] = str(author).strip()
    try:
        created = meta.creation_date if meta else None
    except Exception:  # noqa: BLE001 - a malformed date is not worth a skip
        created = None
    if isinstance(created, datetime):
        out["date"] = created.strftime("%B %Y")
    return out
