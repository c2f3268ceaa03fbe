"""From cleaned pages to structured blocks: paragraphs re-joined, bullets found, headings and
their levels recognised, numbered paragraphs numbered. Pure functions: no I/O.

The corpus mixes two shapes of text: hard-wrapped PDF extractions (one line per printed
line, paragraphs ended by a short line) and one-paragraph-per-line text (the local
protocols). The wrap width is measured per document, so both go through the same code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ingest.clean import BULLET_CHARS, Page

_BULLET = re.compile(rf"^\s*(?:[{BULLET_CHARS}]|[-*](?=\s)|o(?=\s{{2,}}))\s*")
_SUB_BULLET = re.compile(r"^\s+[-*◦o]\s")
_LONE_BULLETS = re.compile(rf"^(?:[{BULLET_CHARS}\-*]\s*)+$")
NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})(\.?)\s+(?=[A-Z‘“'\"(])")
_LABEL = re.compile(
    r"^(?:Appendix|Annex|Annexe|Practice tip|Case study|Part|Chapter|Section|Schedule)"
    r"\s+[A-Z0-9IVX]{1,4}\b[.:]?",
    re.I,
)
_TERMINAL = ".?!:;)”’\"'"
_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class Block:
    text: str
    page: int | None
    kind: str = "para"  # para | bullet | heading
    level: int = 0  # bullet nesting for bullets; heading level for headings
    gap_before: bool = True  # a blank line stood before it in the source
    number: str | None = None  # "9.2.2" for numbered paragraphs and headings


def wrap_width(lines: list[str]) -> int | None:
    """The printed line width of a hard-wrapped extraction, or None if the text is not
    hard-wrapped (one paragraph per line)."""
    lengths = sorted(len(line) for line in lines if line.strip())
    if len(lengths) < 20:
        return None
    width = lengths[int(0.9 * len(lengths))]
    near_margin = sum(1 for n in lengths if n >= 0.75 * width) / len(lengths)
    return width if width <= 160 and near_margin >= 0.3 else None


def paragraphs(pages: list[Page]) -> list[Block]:
    """Re-join wrapped lines into paragraphs and bullets."""
    all_lines = [line for page in pages for line in page.text.split("\n")]
    width = wrap_width([line for line in all_lines if not _LONE_BULLETS.match(line.strip())])
    vocabulary = {w.lower() for w in _WORD.findall(" ".join(all_lines))}
    blocks: list[Block] = []
    current: list[str] = []
    current_meta: dict = {}
    pending_bullets = 0
    gap = True
    previous_len = 0

    def close() -> None:
        nonlocal current
        if current:
            text = join_lines(current, vocabulary)
            if text:
                blocks.append(Block(text=text, **current_meta))
        current = []

    for page in pages:
        for raw in page.text.split("\n"):
            line = raw.strip()
            if not line:
                close()
                gap = True
                previous_len = 0
                continue
            if _LONE_BULLETS.match(line):
                # A run of bullet glyphs whose texts follow as the next paragraphs.
                close()
                pending_bullets += max(1, sum(line.count(c) for c in BULLET_CHARS + "-*"))
                gap = True
                continue
            bullet = _BULLET.match(raw)
            sub = bool(_SUB_BULLET.match(raw))
            starts_new = (
                not current
                or bullet
                or width is None
                or previous_len < 0.7 * width
                # PDFs give no blank line before a numbered section: "...children.\n2. Referral"
                or (NUMBERED.match(line) is not None and current[-1].endswith((".", ":", "?")))
            )
            if starts_new:
                close()
                kind, level = "para", 0
                if bullet:
                    kind, level = "bullet", 1 if sub else 0
                    line = line[bullet.end() - (len(raw) - len(raw.lstrip())) :].strip()
                elif pending_bullets:
                    kind = "bullet"
                    pending_bullets -= 1
                current_meta = {"page": page.number, "kind": kind, "level": level, "gap_before": gap}
                if line:
                    current.append(line)
            else:
                current.append(line)
            gap = False
            previous_len = len(raw.rstrip())
        close()
        previous_len = 0
    return merge_broken_paragraphs(blocks, vocabulary)


def join_lines(lines: list[str], vocabulary: set[str]) -> str:
    text = ""
    for line in lines:
        if not text:
            text = line
        elif re.search(r"[A-Za-z]-$", text) and line[:1].islower():
            text = dehyphenate(text, line, vocabulary)
        else:
            text = f"{text} {line}"
    return re.sub(r"\s{2,}", " ", text).strip()


def dehyphenate(left: str, right: str, vocabulary: set[str]) -> str:
    """Join a word split across lines. Keep the hyphen when the document spells the word
    with one ("over-arching"), drop it when it spells it whole ("commissioning")."""
    head = re.search(r"([A-Za-z]+)-$", left).group(1)
    tail = re.match(r"[A-Za-z]+", right).group(0)
    if (head + tail).lower() in vocabulary:
        return left[:-1] + right
    return left + right


def merge_broken_paragraphs(blocks: list[Block], vocabulary: set[str]) -> list[Block]:
    """A paragraph cut by a page break or a stray blank line continues in lower case."""
    out: list[Block] = []
    for block in blocks:
        if (
            out
            and block.kind == "para"
            and (block.text[:1].islower() or out[-1].text.endswith((" –", " -", " —")))
            and out[-1].kind in ("para", "bullet")
            and not out[-1].text.endswith(tuple(_TERMINAL))
        ):
            prev = out[-1]
            joined = join_lines([prev.text, block.text], vocabulary)
            out[-1] = replace(prev, text=joined)
        else:
            out.append(block)
    return out


def _is_label_value(text: str) -> bool:
    """'Bedford: 01234 718700' or 'Service user: Imran, 32' is a label with its value, not a
    heading; 'Analysis: making sense of the information' is a heading."""
    head, sep, tail = text.partition(":")
    return bool(sep) and bool(tail.strip()) and not tail.strip()[:1].islower()


def _short_heading_like(text: str) -> bool:
    words = text.split()
    if not words or len(words) > 14 or len(text) > 110:
        return False
    if not text[0].isupper():
        return False
    if text.endswith((".", ",", ";", "?", "!")) or re.search(r"https?:|www\.|@", text):
        return False
    if sum(c.isdigit() for c in text) >= 4 or _is_label_value(text):
        return False
    return True


def _is_numbered_paragraph(match: re.Match, text: str) -> bool:
    """'9.2.2 It is critical...' or '10 Parental substance use...' is numbered; '21 The
    Crescent, Bedford MK40 2RT, Tel: 01234 352220' is an address."""
    if match.group(2) or "." in match.group(1):
        return True
    rest = text[match.end() :]
    return sum(c.isdigit() for c in rest) < 4


def classify(blocks: list[Block]) -> list[Block]:
    """Mark headings (with levels) and numbered paragraphs."""
    out: list[Block] = []
    n = len(blocks)
    for i, block in enumerate(blocks):
        nxt = blocks[i + 1] if i + 1 < n else None
        if block.kind == "bullet":
            out.append(block)
            continue
        text = block.text
        words = len(text.split())
        label = _LABEL.match(text)
        numbered = NUMBERED.match(text)
        if label and words <= 18:
            # "Appendix A Assessment of ... 1. Parental substance misuse": two headings in one line.
            split = re.search(r"\s(1\.\s+[A-Z].*)$", text)
            if split and split.start() > label.end():
                out.append(replace(block, text=text[: split.start()].strip(), kind="heading", level=0))
                out.append(
                    replace(block, text=split.group(1), kind="heading", level=1, number="1", gap_before=False)
                )
            else:
                out.append(replace(block, kind="heading", level=0))
            continue
        if numbered and _is_numbered_paragraph(numbered, text):
            number = numbered.group(1)
            depth = number.count(".") + 1
            next_number = NUMBERED.match(nxt.text).group(1) if nxt and NUMBERED.match(nxt.text) else None
            dotted = bool(numbered.group(2)) or "." in number
            heading = dotted and not text.endswith("?") and (
                (words <= 20 and next_number is not None and next_number.startswith(number + "."))
                or (words <= 12 and nxt is not None and nxt.kind == "bullet")
                or (depth == 1 and words <= 15 and (not text.endswith(".") or words <= 14))
            )
            if heading:
                out.append(replace(block, kind="heading", level=depth, number=number))
            else:
                out.append(replace(block, number=number))
            continue
        if _short_heading_like(text) and nxt is not None and not nxt.text[:1].islower():
            out.append(replace(block, kind="heading", level=40 if not text.endswith(":") else 50))
            continue
        out.append(block)
    return _demote_lists(_join_label_headings(out))


def _join_label_headings(blocks: list[Block]) -> list[Block]:
    """'Practice tip 1' followed by 'Engagement and assessment' is one heading."""
    out: list[Block] = []
    for block in blocks:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.kind == "heading"
            and prev.level == 0
            and block.kind == "heading"
            and block.level == 40
            and len(prev.text.split()) <= 3
        ):
            out[-1] = replace(prev, text=f"{prev.text.rstrip('.:')}: {block.text}")
        else:
            out.append(block)
    return out


def _demote_lists(blocks: list[Block]) -> list[Block]:
    """Three or more one-to-three-word 'headings' in a row are a list or a table (survey
    answers such as Yes / No / Sometimes), not headings."""
    out = list(blocks)
    i = 0
    while i < len(out):
        j = i
        while j < len(out) and out[j].kind == "heading" and out[j].level >= 40 and len(out[j].text.split()) <= 3:
            j += 1
        if j - i >= 3:
            for k in range(i, j):
                out[k] = replace(out[k], kind="para", level=0)
        i = max(j, i + 1)
    return out


def structure(pages: list[Page]) -> list[Block]:
    return apply_contents_pages(classify(paragraphs(pages)))


_TOC_ENTRY = re.compile(r"^(\d{1,2})\.?\s+.+?\s(\d{1,3})$")


def apply_contents_pages(blocks: list[Block]) -> list[Block]:
    """Drop a table of contents, and where the source has no page marks use it to give each
    numbered section the page the contents list gives it."""
    out: list[Block] = []
    toc: dict[str, int] = {}
    in_toc = False
    for block in blocks:
        if block.kind == "heading" and re.match(r"^(table of )?contents\b", block.text, re.I):
            in_toc = True
            continue
        if in_toc:
            entry = _TOC_ENTRY.match(block.text)
            if entry:
                toc[entry.group(1)] = int(entry.group(2))
                continue
            in_toc = False
        out.append(block)
    if not toc or any(b.page is not None for b in out):
        return out
    paged: list[Block] = []
    page: int | None = None
    for block in out:
        if block.kind == "heading" and block.number and "." not in block.number and block.level == 1:
            page = toc.get(block.number, page)
        elif block.kind == "heading" and block.level == 0:
            page = None  # appendices are not in the contents list
        paged.append(replace(block, page=page))
    return paged
