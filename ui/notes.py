"""An answer as a note to keep: Markdown, and a PDF built from that Markdown. Pure functions
of the API's answer JSON; no framework, no I/O but the font file.

The Markdown is the service's own (source text already escaped); the PDF reads it line by
line, undoes the escapes and sets the text with reportlab, so the two say the same thing."""

from __future__ import annotations

import importlib.util
import io
import re
from datetime import date
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from assistant.render import escape

NOTE_TITLE = "Hidden Harm guidance note"
NOTE_FOOTER = (
    "Every sentence under a heading is quoted word for word from the source it cites; the headings and notes "
    "are the assistant's. Follow your own area's procedures."
)


def note_markdown(answer: dict, *, today: date | None = None) -> str:
    """The answer as a Markdown note: the question, the area, the answer with its sources."""
    question = "  \n".join(escape(line) for line in answer.get("question", "").splitlines() if line.strip())
    area = escape(answer.get("area") or "not set")
    lines = [
        f"# {NOTE_TITLE}",
        "",
        f"**Question:** {question}",
        "",
        f"**Area:** {area}  ",
        f"**Date:** {(today or date.today()).isoformat()}",
        "",
        "---",
        "",
        answer.get("markdown", "").strip(),
        "",
        "---",
        "",
        f"_{NOTE_FOOTER}_",
    ]
    return "\n".join(lines) + "\n"


# -- PDF ------------------------------------------------------------------------------------------



def _inline(md: str) -> str:
    """Markdown inline text (escapes, **bold**, _italics_) as reportlab paragraph markup."""
    out: list[str] = []
    bold = italic = False
    i = 0
    while i < len(md):
        if md[i] == "\\" and i + 1 < len(md):
            out.append(xml_escape(md[i + 1]))
            i += 2
        elif md.startswith("**", i):
            out.append("</b>" if bold else "<b>")
            bold = not bold
            i += 2
        elif md[i] == "_":  # source text has its underscores escaped: a bare one is our emphasis
            out.append("</i>" if italic else "<i>")
            italic = not italic
            i += 1
        else:
            out.append(xml_escape(md[i]))
            i += 1
    if italic:
        out.append("</i>")
    if bold:
        out.append("</b>")
    return "".join(out)


@cache
def _fonts() -> tuple[str, str, str]:
    """DejaVu Sans (it has the sources' dashes, quotes and bullets), found in matplotlib's
    package data; reportlab's Helvetica when it is not there."""
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    spec = importlib.util.find_spec("matplotlib")
    folder = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" if spec and spec.origin else None
    files = {"": "DejaVuSans.ttf", "-Bold": "DejaVuSans-Bold.ttf", "-Oblique": "DejaVuSans-Oblique.ttf"}
    if folder is None or not all((folder / f).exists() for f in files.values()):
        return "Helvetica", "Helvetica-Bold", "Helvetica-Oblique"
    for suffix, name in files.items():
        pdfmetrics.registerFont(TTFont(f"NoteSans{suffix}", str(folder / name)))
    addMapping("NoteSans", 0, 0, "NoteSans")
    addMapping("NoteSans", 1, 0, "NoteSans-Bold")
    addMapping("NoteSans", 0, 1, "NoteSans-Oblique")
    addMapping("NoteSans", 1, 1, "NoteSans-Bold")
    return "NoteSans", "NoteSans-Bold", "NoteSans-Oblique"


def _styles():
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    regular, bold, italic = _fonts()
    body = ParagraphStyle("body", fontName=regular, fontSize=10.5, leading=14, spaceAfter=4)
    return {
        "title": ParagraphStyle("title", parent=body, fontName=bold, fontSize=17, leading=21, spaceAfter=10),
        "heading": ParagraphStyle("heading", parent=body, fontName=bold, fontSize=12.5, leading=16, spaceBefore=8),
        "body": body,
        "bullet": ParagraphStyle("bullet", parent=body, leftIndent=14, bulletIndent=2),
        "source": ParagraphStyle("source", parent=body, fontSize=9.5, leading=12.5, leftIndent=18, bulletIndent=0),
        "note": ParagraphStyle("note", parent=body, fontName=italic, textColor=colors.HexColor("#333333")),
        "warning": ParagraphStyle("warning", parent=body, fontName=bold, borderColor=colors.HexColor("#b00020"),
                                  borderWidth=1, borderPadding=6, spaceBefore=6, spaceAfter=10),
    }


def _flowables(markdown: str, styles) -> list:
    from reportlab.lib import colors
    from reportlab.platypus import HRFlowable, Paragraph

    out = []
    for raw in markdown.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == "---":
            out.append(HRFlowable(width="100%", thickness=0.6, color=colors.grey, spaceBefore=4, spaceAfter=8))
        elif line.startswith("# "):
            out.append(Paragraph(_inline(line[2:]), styles["title"]))
        elif line.startswith("> "):
            out.append(Paragraph(_inline(line[2:]), styles["warning"]))
        elif line.startswith("- "):
            out.append(Paragraph(_inline(line[2:]), styles["bullet"], bulletText="•"))
        elif m := re.match(r"(\d+)\. (.*)", line):
            out.append(Paragraph(_inline(m.group(2)), styles["source"], bulletText=f"{m.group(1)}."))
        elif line.startswith("**") and line.endswith("**") and line.count("**") == 2:
            out.append(Paragraph(_inline(line), styles["heading"]))
        elif len(line) > 2 and line.startswith("_") and line.endswith("_"):
            out.append(Paragraph(_inline(line[1:-1]), styles["note"]))
        else:
            out.append(Paragraph(_inline(line.removesuffix("  ")), styles["body"]))
    return out


def note_pdf(answer: dict, *, today: date | None = None) -> bytes:
    """The Markdown note as an A4 PDF."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=NOTE_TITLE, author="", subject="",
                            leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm, bottomMargin=18 * mm)
    doc.build(_flowables(note_markdown(answer, today=today), _styles()))
    return buffer.getvalue()
