"""Scanned PDFs: an image-only PDF is read by OCR where `tesseract` is installed (the test
set-up installs Debian's tesseract-ocr), its passages flagged as OCR text in citations; without
it, the file is skipped with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import SkippedFile
from ingest import ocr
from ingest.manifest import sha256_file
from ingest.pipeline import process_file

LINES = [
    "Westbrook Safeguarding Children Partnership",
    "",
    "1. Making a referral",
    "",
    "1.1 If you are worried about a child, telephone the Westbrook",
    "children's services front door on 01632 960456 and confirm the",
    "referral in writing within one working day of the call.",
    "",
    "1.2 Out of hours, telephone the emergency duty team on",
    "01632 960789. If a child is in immediate danger, call 999.",
]


def _font(size: int):
    from PIL import ImageFont

    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def make_scanned_pdf(path: Path, lines: list[str] = LINES) -> Path:
    """A one-page PDF whose only content is a picture of printed text, as a scanner makes."""
    from PIL import Image, ImageDraw
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    image = Image.new("L", (1654, 2339), 255)  # A4 at 200 dpi
    draw = ImageDraw.Draw(image)
    font = _font(34)
    y = 160
    for line in lines:
        draw.text((140, y), line, fill=0, font=font)
        y += 52
    c = canvas.Canvas(str(path), pagesize=A4)
    c.drawImage(ImageReader(image), 0, 0, width=A4[0], height=A4[1])
    c.showPage()
    c.save()
    return path


@pytest.mark.skipif(not ocr.available(), reason="tesseract is not installed (scripts/test-setup.sh installs it)")
def test_an_image_only_pdf_is_read_by_ocr_and_flagged(tmp_path, token_counter):
    pdf = make_scanned_pdf(tmp_path / "westbrook-scanned.pdf")
    doc, passages, _, pages, warnings = process_file(pdf, None, sha256_file(pdf), token_counter)
    text = " ".join(" ".join(p.text.split()) for p in passages)
    assert "01632 960456" in text and "01632 960789" in text
    assert "emergency duty team" in text
    assert pages == 1 and doc.ocr_pages == (1,)
    assert passages and all(p.ocr for p in passages)
    assert all(p.citation_label.endswith("(OCR text)") for p in passages)
    assert any("read by OCR" in w for w in warnings)


def test_without_tesseract_a_scanned_pdf_is_skipped_with_the_reason(tmp_path, token_counter, monkeypatch):
    pdf = make_scanned_pdf(tmp_path / "scanned.pdf")
    monkeypatch.setattr(ocr, "available", lambda: False)
    with pytest.raises(SkippedFile, match="no extractable text.*install tesseract-ocr"):
        process_file(pdf, None, sha256_file(pdf), token_counter)
