"""Reading the area a question names: the one-pass place matcher finds what a case-insensitive
whole-word regular expression per place name finds, on the real corpus's areas and on a
library of a hundred times as many made-up ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.facets import PlaceMatcher, find_area
from evals.dataset import load_cases, load_questions
from evals.replicate import made_up_name
from ingest.manifest import read_manifest

ROOT = Path(__file__).resolve().parent.parent


def real_areas() -> dict[str, tuple[str, ...]]:
    manifest = read_manifest(ROOT / "corpus")
    return {e["area"]: tuple(sorted(set(e.get("places", ())))) for e in manifest.values() if e.get("scope") == "local"}


def national_library(areas: dict[str, tuple[str, ...]], copies: int = 100) -> dict[str, tuple[str, ...]]:
    library = dict(areas)
    for replica in range(1, copies):
        for area, places in areas.items():
            library[made_up_name(area, replica)] = tuple(made_up_name(p, replica) for p in places)
    return library


TRICKY = {
    "Bedford Borough": ("Bedford", "Kempston"),
    "Central Bedfordshire": ("Bedfordshire", "Central Bedfordshire", "Dunstable"),
    "Stoke-on-Trent": ("Stoke", "Hanley"),
    "St. Albans": ("St. Albans", "Harpenden", "(Herts)"),
    "Newport": ("Newport",),
    "Newport Pagnell": ("Newport", "Olney"),  # a name two areas share: the first area wins
    "Zürich": ("Zürich", "Zurich"),
    "Milton Keynes": ("Milton Keynes", "Keynes Green", "MK"),
}

TEXTS = [
    "Who do I call in Luton?", "in bedford", "IN BEDFORD BOROUGH tonight", "Bedfordshire-wide policy",
    "Bedford's front door", "Central Bedfordshire or Bedford?", "Stoke-on-Trent MASH", "Stoke on Trent",
    "stoke-on-trent's out of hours", "Newport Pagnell and Newport", "newport", "in Milton Keynes Green",
    "Keynes Green, Milton Keynes", "St. Albans", "st albans", "(Herts) duty team", "Herts", "zürich", "ZURICH",
    "Zurich’s protocol", "mum in Dunstable – “Luton” EDT", "a_Luton", "Luton_", "Luton-based", "-Luton",
    "MK", "mk1", "", "   ", "Bedford Borough, Central Bedfordshire and Luton", "Kempston Kempston",
    "Selwick 7 and Luton", "Ashbelford 12", "Leighton Buzzard", "Leighton  Buzzard", "Staffordshire Stafford",
]


def _texts() -> list[str]:
    asked = [q.question for q in load_questions("dev") + load_questions("test")]
    cases = [c.vignette for c in load_cases("dev") + load_cases("test")]
    return TEXTS + asked + cases


@pytest.mark.parametrize("library", ["real", "national", "tricky"])
def test_one_pass_finds_what_a_pattern_per_name_finds(library):
    areas = {"real": real_areas, "national": lambda: national_library(real_areas()), "tricky": lambda: TRICKY}[library]()
    matcher = PlaceMatcher(tuple(areas.items()))
    texts = _texts()
    if library == "national":  # the made-up names themselves, in questions
        names = [p for _, p in matcher.names]
        texts += [f"who do I call in {names[n]}?" for n in range(0, len(names), 37)]
        texts += [f"{names[n].lower()} or {names[n + 1].upper()}" for n in range(0, len(names) - 1, 53)]
    found = [matcher.find(t) for t in texts]
    assert found == [matcher.search_each(t) for t in texts]
    assert any(f is not None for f in found)


def test_the_longest_name_wins_and_its_words_are_kept():
    assert find_area("mum lives in central bedfordshire near Bedford", TRICKY) == (
        "Central Bedfordshire", "central bedfordshire")
    assert find_area("Newport EDT", TRICKY) == ("Newport", "Newport")
    assert find_area("St. Albans or (Herts)", TRICKY) == ("St. Albans", "St. Albans")
    assert find_area("Luton-based", real_areas()) is None
    assert find_area("nowhere named", TRICKY) is None
