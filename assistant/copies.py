"""Passages that repeat another document's text, but for its names and numbers: the same
national guidance held once per area, or local protocols written from one template. A library
of every area's protocols holds many such copies; ranked one by one, the copies of the few
best passages fill every ranking's candidate pool and push everything else out (at 100 copies
of each document every plain question was declined: each passage's rank in two of the three
rankings fell past the pool).

Copies share one rank (their content's rank among distinct contents), only the best member
of each group (and the members from the question's own area) enter the pool, and an answer
shows one member of a group. A library with no copies is ranked exactly as before: `groups`
returns None and the retriever skips all of this. Pure numpy, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from assistant.records import Passage

# What may differ between copies: runs of capitalised words (names of places, services, people)
# and numbers (telephone numbers, dates): "Luton", "Selwick 7", "Stoke-on-Trent City Council
# (01782) 235100", "Bedford Borough, Central Bedfordshire and Luton" each become one mark. What is left is the text's template.
_NAME = r"(?:\b[A-Z][\w'’-]*|\d[\d./-]*)"
_NAMES = re.compile(rf"\(?{_NAME}(?:(?:[\s(),]+|\s+(?:and|&)\s+){_NAME})*\)?")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[a-z]{2,}")
MIN_WORDS = 8  # words of a template, at least, for its passages to count as copies


def template(text: str) -> str:
    """A passage's text without its names and numbers, lower-cased, spaces collapsed."""
    return _SPACE.sub(" ", _NAMES.sub("#", text)).strip().lower()


@dataclass(frozen=True)
class Copies:
    """Per passage, its group (passages of other documents with the same template share one;
    groups are numbered in order of their first member); `local_area`: per passage, an index
    into `areas` for a local passage, -1 otherwise; `order`: the passages sorted by group (in
    passage order within one), each group's run starting at `starts[group]`."""

    group: np.ndarray
    count: int  # groups
    local_area: np.ndarray
    areas: dict[str, int]
    order: np.ndarray
    starts: np.ndarray

    @property
    def leads(self) -> np.ndarray:
        """Each group's first member."""
        return self.order[self.starts]


def find_copies(passages: list[Passage], is_local: list[bool]) -> Copies | None:
    """Group passages that share a template; None when no group holds two documents (a repeat
    within one document is a twin, which the retriever collapses already)."""
    first: dict[str, int] = {}
    docs: dict[int, str] = {}
    group = np.empty(len(passages), dtype=np.int64)
    shared = False
    for n, p in enumerate(passages):
        key = template(p.text)
        if len(_WORD.findall(key)) < MIN_WORDS:
            key = f"\x00{n}"  # too little left to tell a copy from another text: a group of its own
        g = first.setdefault(key, len(first))
        if g in docs and docs[g] != p.doc_id:
            shared = True
        docs.setdefault(g, p.doc_id)
        group[n] = g
    if not shared:
        return None
    count = int(group.max()) + 1 if len(group) else 0
    areas: dict[str, int] = {}
    local_area = np.array([areas.setdefault(p.area, len(areas)) if local else -1
                           for p, local in zip(passages, is_local, strict=True)], dtype=np.int64)
    order, starts = runs(group)
    return Copies(group=group, count=count, local_area=local_area, areas=areas, order=order, starts=starts)


def runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the positions sorted by key, stable; where each key's run starts in that order): with
    `np.maximum.reduceat`, a maximum per key in one pass."""
    order = np.argsort(keys, kind="stable")
    starts = np.flatnonzero(np.r_[True, keys[order][1:] != keys[order][:-1]]) if len(keys) else keys[:0]
    return order, starts


def sentence_stand_ins(copies: Copies, passages: list[Passage], spans: list[tuple[str, int, int]]) -> np.ndarray:
    """Per sentence row, the row whose vector stands for it: a copy's n-th sentence is its
    group's first member's n-th sentence, when the two have as many sentences (a copy that
    splits otherwise keeps its own)."""
    position = {p.id: n for n, p in enumerate(passages)}
    rows_of: dict[int, list[int]] = {}
    for row, (pid, _, _) in enumerate(spans):
        rows_of.setdefault(position[pid], []).append(row)
    first: dict[int, int] = {}  # group -> its first member with sentences
    out = np.arange(len(spans), dtype=np.int64)
    for n in sorted(rows_of):
        g = int(copies.group[n])
        lead = first.setdefault(g, n)
        if lead != n and len(rows_of[lead]) == len(rows_of[n]):
            out[rows_of[n]] = rows_of[lead]
    return out


def shared_ranks(scores: np.ndarray, copies: Copies, limit: int, area: str | None,
                 positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(rank of each passage: its group's 1-based rank by the group's best score; the pool:
    the best member of each group ranked within `limit`, and every member of those groups from
    `area`'s own local protocols). `positive`: scores <= 0 rank last and never enter the pool.
    Sorted by group, not by passage: the work grows with the distinct texts."""
    n = len(scores)
    in_order = scores[copies.order]
    best = np.maximum.reduceat(in_order, copies.starts)  # per group
    groups = copies.group[copies.order]
    top = np.flatnonzero(in_order == best[groups])  # members at their group's best, by group
    first = top[np.r_[True, groups[top][1:] != groups[top][:-1]]]
    best_member = copies.order[first]  # per group: its first member at the group's best
    group_rank = np.empty(copies.count, dtype=np.int64)
    group_rank[np.argsort(-best, kind="stable")] = np.arange(1, copies.count + 1)
    ranks = group_rank[copies.group]
    chosen = group_rank <= limit
    if positive:
        ranks[scores <= 0] = n + limit + 1
        chosen &= best > 0
    pool = best_member[chosen]
    if area is not None and area in copies.areas:
        own = np.flatnonzero((copies.local_area == copies.areas[area]) & (ranks <= limit))
        pool = np.union1d(pool, own)
    return ranks, np.sort(pool)


def spread_best(best: np.ndarray, copies: Copies) -> np.ndarray:
    """Each passage's best sentence similarity per query (passages x queries, -1 unknown) made
    the best of its group's: the approximate search finds a sentence in one copy, not in all."""
    return np.maximum.reduceat(best[copies.order], copies.starts, axis=0)[copies.group]


def collapse(hits: list, copies: Copies, row_of: dict[str, int]) -> list:
    """Keep the best-scoring member of each group of copies (hits in order of score)."""
    seen: set[int] = set()
    out = []
    for hit in hits:
        g = int(copies.group[row_of[hit.passage.id]])
        if g in seen:
            continue
        seen.add(g)
        out.append(hit)
    return out
