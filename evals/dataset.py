"""The evaluation set: practitioner questions and case studies with gold quotes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).with_name("data")


@dataclass(frozen=True)
class Gold:
    doc: str
    quote: str


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    persona: str
    kind: str
    area: str | None
    urgent: bool
    documents: tuple[str, ...]
    gold: tuple[Gold, ...]
    slang: bool = False

    @property
    def answerable(self) -> bool:
        return self.kind != "out-of-scope"


@dataclass(frozen=True)
class Point:
    point: str
    facet: str
    gold: tuple[Gold, ...]


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    source: str
    persona: str
    area: str | None
    urgent: bool
    vignette: str
    points: tuple[Point, ...]


def _gold(rows) -> tuple[Gold, ...]:
    return tuple(Gold(doc=g["doc"], quote=g["quote"]) for g in rows or ())


SPLITS = ("dev", "test")  # dev: tune on it freely; test: locked, only reported


def _rows(split: str, stem: str) -> list[dict]:
    """Every `<stem>*.yaml` of a split's folder, in name order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: {SPLITS}")
    rows: list[dict] = []
    for path in sorted((DATA_DIR / split).glob(f"{stem}*.yaml")):
        rows.extend(yaml.safe_load(path.read_text(encoding="utf-8")) or [])
    return rows


def load_questions(split: str = "dev") -> list[Question]:
    rows = _rows(split, "questions")
    return [
        Question(
            id=r["id"], question=r["question"], persona=r["persona"], kind=r["kind"], area=r.get("area"),
            urgent=bool(r.get("urgent")), documents=tuple(r.get("documents") or ()), gold=_gold(r.get("gold")),
            slang=bool(r.get("slang")),
        )
        for r in rows
    ]


def load_cases(split: str = "dev") -> list[Case]:
    rows = _rows(split, "cases")
    return [
        Case(
            id=r["id"], title=r["title"], source=r["source"], persona=r["persona"], area=r.get("area"),
            urgent=bool(r.get("urgent")), vignette=r["vignette"],
            points=tuple(Point(point=p["point"], facet=p["facet"], gold=_gold(p["gold"])) for p in r["points"]),
        )
        for r in rows
    ]
