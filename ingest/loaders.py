"""Source files to pages. Text and Markdown here; PDFs in `ingest.pdf`."""

from __future__ import annotations

from pathlib import Path

from assistant.errors import SkippedFile
from ingest.clean import Page, split_text_pages

SUFFIXES = {".txt", ".md", ".pdf"}
MAX_TEXT_BYTES = 20_000_000


def load(path: Path) -> tuple[list[Page], dict]:
    """Pages of a source file and any metadata the file itself carries."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        from ingest.pdf import load_pdf

        return load_pdf(path)
    if suffix not in SUFFIXES:
        raise SkippedFile(f"unsupported file type {suffix or '(none)'}: use .txt, .md or .pdf")
    if path.stat().st_size > MAX_TEXT_BYTES:
        raise SkippedFile(f"text file larger than {MAX_TEXT_BYTES // 1_000_000} MB")
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise SkippedFile("binary file with a text extension")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    if not text.strip():
        raise SkippedFile("empty file")
    pages = split_text_pages(text) if suffix == ".txt" else [Page(None, text)]
    return pages, {}
