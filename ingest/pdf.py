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
        pages = [Page(i + 1, page.extract_text() or "") for i, page in enumerate(reader.pages)]
        meta = _metadata(reader)
    except SkippedFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError,
            RecursionError, AssertionError, ZeroDivisionError, UnicodeError) as exc:
        raise SkippedFile(f"corrupt or unreadable PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file must never abort a whole ingest
        raise SkippedFile(f"unreadable PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not any(p.text.strip() for p in pages):
        raise SkippedFile("no extractable text (scanned or image-only PDF: run OCR on it first)")
    return pages, meta


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
