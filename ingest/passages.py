"""From structured blocks to passages and checklist items. Pure functions: no I/O.

A passage never crosses a heading; a numbered paragraph starts its own passage; a bullet with
its sub-bullets and explanation is never split; passages fit MiniLM's window (the caller's
token counter decides, so the limit is the real tokenizer's, not a guess from words).
Every block's text lands in exactly one passage: nothing is lost, nothing rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.records import SECTION_SEPARATOR, ChecklistItem, Document, Passage, content_id
from assistant.text import split_sentences
from ingest.structure import Block

TokenCounter = Callable[[str], int]

MAX_PASSAGE_TOKENS = 200  # of passage text; the embedded string adds the section label
MODEL_WINDOW = 254  # MiniLM's 256 less [CLS] and [SEP]
MIN_PASSAGE_WORDS = 15
_LEAD_IN = re.compile(r"question|explore|consider|ask\b|check|suggestion|assist", re.I)
_QUESTIONS_HEADING = re.compile(r"\bquestions\b|checklist", re.I)


@dataclass
class Unit:
    kind: str  # heading | para | bullets
    lines: list[str]
    page: int | None
    section: tuple[str, ...]
    number: str | None = None
    checklist: bool = False
    topic: str = ""
    prefixes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(p + line for p, line in zip(self.prefixes, self.lines, strict=True))


def units_from_blocks(blocks: list[Block]) -> list[Unit]:
    units: list[Unit] = []
    path: list[tuple[int, str]] = []
    lead_in = ""  # the last heading or paragraph before a run of bullets

    def section() -> tuple[str, ...]:
        return tuple(text for _, text in path)

    def topic() -> str:
        plain = [text for level, text in path if level < 50]
        return plain[-1] if plain else (path[-1][1] if path else "")

    questions = _numbered_questions(blocks)
    for n, block in enumerate(blocks):
        if n in questions and (
            (lead_in.endswith(":") and _LEAD_IN.search(lead_in)) or _QUESTIONS_HEADING.search(topic())
        ):
            # "1. Who looks after the children when you are drinking?" under a lead-in that
            # asks (not a survey's numbered questions): a checklist like a bulleted one.
            units.append(Unit("bullets", [block.text], block.page, section(), checklist=True, topic=topic(),
                              prefixes=[""]))
        elif block.kind == "heading":
            while path and path[-1][0] >= block.level:
                path.pop()
            path.append((block.level, block.text))
            units.append(Unit("heading", [block.text], block.page, section(), prefixes=[""]))
            lead_in = block.text
        elif block.kind == "bullet" and block.level == 0:
            is_item = "?" in block.text or (lead_in.endswith(":") and bool(_LEAD_IN.search(lead_in)))
            units.append(
                Unit("bullets", [block.text], block.page, section(), checklist=is_item, topic=topic(), prefixes=["• "])
            )
        elif units and units[-1].kind == "bullets" and (
            block.kind == "bullet" or (not block.gap_before and block.number is None)
        ):
            # A sub-bullet or the explanation under a bullet belongs to it.
            units[-1].lines.append(block.text)
            units[-1].prefixes.append("◦ " if block.kind == "bullet" else "")
        else:
            if block.number and "." in block.number:
                # "9.3" closes section 9.2 (and any unnumbered heading under it).
                depth = block.number.count(".") + 1
                while path and path[-1][0] >= depth:
                    path.pop()
            units.append(Unit("para", [block.text], block.page, section(), number=block.number, prefixes=[""]))
            lead_in = block.text
    return _complete_question_lists(units)


def _numbered_questions(blocks: list[Block]) -> set[int]:
    """Positions of numbered paragraphs that ask a question, in runs of two or more."""
    asks = [b.kind == "para" and b.number is not None and b.text.rstrip().endswith("?") for b in blocks]
    return {
        i for i, a in enumerate(asks)
        if a and ((i > 0 and asks[i - 1]) or (i + 1 < len(asks) and asks[i + 1]))
    }


def _complete_question_lists(units: list[Unit]) -> list[Unit]:
    """In a list where most bullets are questions, the few that lost their question mark
    ("Are parents aware of increased risk of cot death if ...") are questions too."""
    i = 0
    while i < len(units):
        j = i
        while j < len(units) and units[j].kind == "bullets" and units[j].section == units[i].section:
            j += 1
        run = units[i:j]
        if run and sum(u.checklist for u in run) >= 0.6 * len(run):
            for u in run:
                u.checklist = True
        i = max(j, i + 1)
    return units


def split_oversized(unit: Unit, count: TokenCounter, limit: int) -> list[Unit]:
    """A unit too long for the window is cut at sentence ends (then at words, as a last
    resort) into consecutive units with the same number and section."""
    if count(unit.text) <= limit:
        return [unit]
    pieces: list[str] = []
    for line, prefix in zip(unit.lines, unit.prefixes, strict=True):
        for sentence in split_sentences(line):
            pieces.extend(_cut_words(prefix + sentence if not pieces else sentence, count, limit))
    chunks: list[list[str]] = []
    for piece in pieces:
        if chunks and count(" ".join([*chunks[-1], piece])) <= limit:
            chunks[-1].append(piece)
        else:
            chunks.append([piece])
    _balance_tail(chunks, count, limit)
    return [_piece(unit, " ".join(chunk)) for chunk in chunks if chunk]


def _balance_tail(chunks: list[list[str]], count: TokenCounter, limit: int) -> None:
    """A last piece too short to stand as a passage (and too big to join its full neighbour)
    would be dropped as a fragment: move sentences, then words, from the piece before it."""
    def words(chunk: list[str]) -> int:
        return sum(len(p.split()) for p in chunk)

    while len(chunks) > 1 and words(chunks[-1]) < MIN_PASSAGE_WORDS:
        prev, last = chunks[-2], chunks[-1]
        if len(prev) > 1:
            moved, rest = prev[-1], prev[:-1]
        else:
            head, _, moved = prev[0].rpartition(" ")
            if not head:
                return
            rest = [head]
        if count(" ".join([moved, *last])) > limit:
            return
        chunks[-2], chunks[-1] = rest, [moved, *last]


def _cut_words(text: str, count: TokenCounter, limit: int) -> list[str]:
    if count(text) <= limit:
        return [text]
    words, out, current = text.split(" "), [], []
    for word in words:
        if current and count(" ".join([*current, word])) > limit:
            out.append(" ".join(current))
            current = []
        current.append(word)
    if current:
        out.append(" ".join(current))
    return out


def _piece(unit: Unit, text: str) -> Unit:
    prefix = ""
    if text.startswith(("• ", "◦ ")):
        prefix, text = text[:2], text[2:]
    return Unit(unit.kind, [text], unit.page, unit.section, unit.number, unit.checklist, unit.topic, [prefix])


def pack(units: list[Unit], count: TokenCounter, limit: int) -> list[list[Unit]]:
    groups: list[list[Unit]] = []
    current: list[Unit] = []
    tokens = 0
    for unit in units:
        has_content = any(u.kind != "heading" for u in current)
        unit_tokens = count(unit.text)
        if current and (
            (unit.kind == "heading" and has_content)
            or (unit.number is not None and unit.kind == "para" and has_content)
            or (has_content and tokens + unit_tokens > limit)
            or (not has_content and tokens + unit_tokens > limit)
        ):
            groups.append(current)
            current, tokens = [], 0
        current.append(unit)
        tokens += unit_tokens + 1
    if current:
        groups.append(current)
    return _merge_small(groups, count, limit)


def _words(group: list[Unit]) -> int:
    return sum(len(u.text.split()) for u in group)


def _merge_small(groups: list[list[Unit]], count: TokenCounter, limit: int) -> list[list[Unit]]:
    """A passage under MIN_PASSAGE_WORDS joins a neighbour in the same top-level section
    when the window allows; a fragment that cannot (a stray heading with nothing under it)
    is dropped rather than indexed as junk."""
    out: list[list[Unit]] = []
    for group in groups:
        if out and (_words(group) < MIN_PASSAGE_WORDS or _words(out[-1]) < MIN_PASSAGE_WORDS):
            prev = out[-1]
            same_top = prev[0].section[:1] == group[0].section[:1]
            merged_text = "\n".join(u.text for u in prev + group)
            if same_top and count(merged_text) <= limit and not _heading_only(group):
                out[-1] = prev + group
                continue
        out.append(group)
    return [g for g in out if _words(g) >= MIN_PASSAGE_WORDS and not _heading_only(g)]


def _heading_only(group: list[Unit]) -> bool:
    return all(u.kind == "heading" for u in group)


def build_passages(
    blocks: list[Block], doc: Document, count: TokenCounter, limit: int = MAX_PASSAGE_TOKENS
) -> tuple[list[Passage], list[ChecklistItem]]:
    units: list[Unit] = []
    for unit in units_from_blocks(blocks):
        units.extend(split_oversized(unit, count, limit))
    passages: list[Passage] = []
    items: list[ChecklistItem] = []
    seen_ids: dict[str, int] = {}
    for order, group in enumerate(pack(units, count, limit)):
        content = [u for u in group if u.kind != "heading"] or group
        section = content[0].section
        text_parts: list[str] = []
        offsets: list[tuple[Unit, int]] = []
        position = 0
        for unit in group:
            offsets.append((unit, position))
            text_parts.append(unit.text)
            position += len(unit.text) + 1
        text = "\n".join(text_parts)
        numbers = [u.number for u in group if u.number]
        page = next((u.page for u in group if u.page is not None), None)
        label = SECTION_SEPARATOR.join(section)
        pid = content_id(doc.id, label, text)
        if pid in seen_ids:
            # The same text under the same heading again (a section printed twice): the
            # first keeps the plain id, each repeat gets its occurrence number.
            seen_ids[pid] += 1
            pid = content_id(doc.id, label, text, str(seen_ids[pid]))
        seen_ids.setdefault(pid, 1)
        passage = Passage(
            id=pid,
            doc_id=doc.id,
            title=doc.title,
            area=doc.area,
            section=section,
            paragraph=numbers[0] if numbers else None,
            page=page,
            order=order,
            text=text,
        )
        passages.append(passage)
        for unit, start in offsets:
            if unit.kind == "bullets" and unit.checklist:
                for begin, end in checklist_spans(unit, start):
                    items.append(
                        ChecklistItem(
                            id=content_id(passage.id, str(begin)),
                            passage_id=passage.id,
                            doc_id=doc.id,
                            topic=unit.topic,
                            section=unit.section,
                            page=unit.page,
                            text=text[begin:end],
                            start=begin,
                            end=end,
                        )
                    )
    return mark_twins(passages), items


CHECKLIST_ITEM_MAX_WORDS = 80
_ITEM_NUMBER = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*\.?|\(?[a-z]\)|[a-z]\.)\s+(?=\S)")


def checklist_spans(unit: Unit, start: int) -> list[tuple[int, int]]:
    """Where a bullet's checklist question(s) stand in the passage text. A bullet with its
    explanation is one item; a long bullet with sub-questions gives one item per line that
    asks something, so no "question to explore" is a wall of text."""
    if len(unit.text.split()) <= CHECKLIST_ITEM_MAX_WORDS:
        number = _ITEM_NUMBER.match(unit.lines[0])
        skip = len(unit.prefixes[0]) + (number.end() if number and number.end() < len(unit.lines[0]) else 0)
        return [(start + skip, start + len(unit.text))]
    spans, position = [], start
    for prefix, line in zip(unit.prefixes, unit.lines, strict=True):
        if "?" in line:
            spans.append((position + len(prefix), position + len(prefix) + len(line)))
        position += len(prefix) + len(line) + 1
    return spans


def _shingles(text: str, n: int = 4) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i : i + n]) for i in range(max(0, len(words) - n + 1))}


def mark_twins(passages: list[Passage], threshold: float = 0.8) -> list[Passage]:
    """Mark a passage that repeats earlier text of its document (the Bedfordshire guidance
    prints its checklist twice) so retrieval can show one of the pair."""
    from dataclasses import replace

    out: list[Passage] = []
    seen: list[tuple[Passage, set]] = []
    for passage in passages:
        grams = _shingles(passage.text)
        twin = None
        if len(grams) >= 5:
            union: set = set()
            best, best_overlap = None, 0
            for earlier, earlier_grams in seen:
                overlap = len(grams & earlier_grams)
                union |= earlier_grams
                if overlap > best_overlap:
                    best, best_overlap = earlier, overlap
            if best is not None and len(grams & union) >= threshold * len(grams):
                twin = best.twin_of or best.id
        marked = replace(passage, twin_of=twin) if twin else passage
        out.append(marked)
        seen.append((marked, grams))
    return out


def embedding_text(passage: Passage, count: TokenCounter) -> str:
    """What the model embeds: the section label for context, then the text. The label is
    shortened from the left (keeping the deepest heading) if the pair would not fit the
    window; the text itself always fits, by construction."""
    parts = [passage.title.split(" (")[0], *passage.section]
    while parts:
        candidate = SECTION_SEPARATOR.join(parts) + "\n" + passage.text
        if count(candidate) <= MODEL_WINDOW:
            return candidate
        parts = parts[1:]
    if count(passage.text) > MODEL_WINDOW:
        raise ValueError(f"passage {passage.id} exceeds the model window")
    return passage.text
