"""Markdown for the chat, pure: source text made inert (no links, HTML, lists or headings of
its own), quoted spans highlighted, citation labels. Tested without Streamlit."""

from __future__ import annotations

import re

from assistant.render import escape

_LIST_NUMBER = re.compile(r"(\d{1,9})([.)])")


def _no_block(line: str) -> str:
    """An escaped line that cannot start a list, a heading underline or a code block."""
    line = line.lstrip()
    if m := _LIST_NUMBER.match(line):
        return f"{m.group(1)}\\{m.group(2)}{line[m.end():]}"
    return "\\" + line if line[:1] in ("-", "+", "=") else line


def inert_lines(text: str) -> str:
    """Plain text as inert Markdown, keeping its line breaks."""
    return "  \n".join(_no_block(escape(line)) for line in text.splitlines() if line.strip())


def highlight(text: str, spans: list[tuple[int, int]]) -> str:
    """A passage as inert Markdown, its quoted spans (start, end) highlighted (bold, on a tint), line by line."""
    marks = sorted(spans)
    out: list[str] = []
    offset = 0
    for line in text.split("\n"):
        start, end = offset, offset + len(line)
        offset = end + 1
        pieces, cursor = [], start
        for a, b in marks:
            a, b = max(a, cursor), min(b, end)
            if a >= b:
                continue
            pieces.append(escape(text[cursor:a]))
            segment = text[a:b]
            core = segment.strip()
            if core:
                lead = segment[: len(segment) - len(segment.lstrip())]
                trail = segment[len(segment.rstrip()) :]
                pieces.append(f"{lead}:orange-background[**{escape(core)}**]{trail}")
            cursor = b
        pieces.append(escape(text[cursor:end]))
        if "".join(pieces).strip():
            out.append(_no_block("".join(pieces)))
    return "  \n".join(out)


def citation_label(c) -> str:
    """An expander's label: the citation's number and its label (`ui.schema.Citation.label`), inert."""
    return f"[{c.n}] " + escape(c.label)


def without_sources(markdown: str) -> str:
    """The answer without its closing source list: the chat shows each source as an expander."""
    return re.split(r"\n\*\*Sources\*\*\n", markdown, maxsplit=1)[0]


def clip(text: str, n: int, tail: bool = False) -> str:
    text = " ".join(text.split())
    if len(text) <= n:
        return text
    return "… " + text[-n:].split(" ", 1)[-1] if tail else text[:n].rsplit(" ", 1)[0] + " …"
