"""An `Answer` as Markdown, as a person reads it. Pure: no framework, no I/O.

Source text is escaped so that nothing in a document (a link, an image, HTML) becomes
active content in the chat or a downloaded note."""

from __future__ import annotations

import re

from assistant.records import Answer, AnswerPart, Extract

# Enough to make links, images, HTML, emphasis, code and tables inert; parentheses alone
# cannot form a link without a bracket before them.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#!<>|~])")


_LINE_START = re.compile(r"^(\d+)([.)])(?=\s|$)|^([-+=])(?=\s|$)")


def escape(text: str) -> str:
    """Markdown- and HTML-inert text: every character that could start markup is escaped,
    and a leading "7." or "-" cannot turn a quoted line into a list."""
    text = _MD_SPECIAL.sub(r"\\\1", text).replace("\n", " ")
    # Bare addresses that a GitHub-flavoured renderer (Streamlit's) would turn into live links.
    text = re.sub(r"\b(https?|ftp|mailto):", r"\1\\:", text)
    text = re.sub(r"\bwww\.", r"www\\.", text, flags=re.I)
    text = text.replace("@", "\\@")
    return _LINE_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}" if m.group(1) else f"\\{m.group(3)}", text)


_CONTACT = re.compile(r"\b0\d{3,4} ?\d{3} ?\d{3,4}\b|\b999\b|\S+@\S+|\b(?:MASH|EDT)\b|emergency duty|out[- ]of[- ]hours")


def _grouped(extracts: tuple[Extract, ...]) -> list[tuple[str, int]]:
    """Sentences that stand next to each other in one passage read as one bullet; separate
    checklist questions stay separate."""
    out: list[tuple[str, int]] = []
    previous: Extract | None = None
    for e in extracts:
        adjacent = previous is not None and previous.passage_id == e.passage_id and 0 <= e.start - previous.end <= 2
        if out and adjacent:
            out[-1] = (f"{out[-1][0]} {escape(e.text)}", e.citation)
        else:
            out.append((escape(e.text), e.citation))
        previous = e
    return out


def _part(part: AnswerPart, labels: dict[int, str] | None = None, label_all: bool = False) -> list[str]:
    """A part as a list. `labels` name the area of another area's protocol (by citation): a
    bullet quoting its contacts (or any bullet, with `label_all`) says whose they are."""
    lines = [f"**{part.heading}**", ""]
    if part.note:
        lines += [f"_{escape(part.note)}_", ""]  # a note may name a source's title
    for text, n in _grouped(part.extracts):
        label = (labels or {}).get(n)
        if label and (label_all or _CONTACT.search(text)):
            lines.append(f"- {text} [{n}] _({escape(label)})_")
        else:
            lines.append(f"- {text} [{n}]")
    return lines + [""]


def to_markdown(answer: Answer, *, sources: bool = True) -> str:
    lines: list[str] = []
    carried = answer.conversation.line if answer.conversation else None
    if carried:
        lines += [f"_{escape(carried)}_", ""]  # it quotes the user's words: inert like any text
    if answer.abstained and not answer.urgent:
        lines += [f"**{answer.notices[-1]}**", ""]
        if answer.nearest_topics:
            lines += ["Nearest topics the sources cover:", ""]
            lines += [f"- {escape(t)}" for t in answer.nearest_topics]
        return "\n".join(lines).strip() + "\n"
    for notice in answer.notices:
        if notice.startswith("If a child is in immediate danger"):
            lines += [f"> **{notice}**", ""]
    labels = {c.n: c.area_label for c in answer.citations if getattr(c, "area_label", None)}
    if answer.urgent:
        lines += _part(answer.urgent, labels, label_all=True)
    if answer.prose:
        lines += ["**In short** _(rewritten by a local language model; each sentence checked against its sources)_", ""]
        lines += [" ".join(f"{escape(s.text)} [{', '.join(map(str, s.citations))}]" for s in answer.prose), ""]
    for part in answer.parts:
        lines += _part(part, labels)
    if answer.checklist:
        lines += _part(AnswerPart(heading="Questions to explore", extracts=answer.checklist), labels)
    for notice in answer.notices:
        if not notice.startswith("If a child is in immediate danger"):
            lines += [f"_{notice}_", ""]
    if sources and answer.citations:
        lines += ["**Sources**", ""]
        for c in answer.citations:
            currency = getattr(c, "currency", None)
            lines.append(f"{c.n}. {escape(c.passage.citation_label)}" + (f" — _{escape(currency)}_" if currency else ""))
    return "\n".join(lines).strip() + "\n"
