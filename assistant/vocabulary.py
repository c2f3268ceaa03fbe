"""Query expansion from the domain vocabulary kept as data in `vocabulary.toml`."""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path

VOCABULARY_FILE = Path(__file__).with_name("vocabulary.toml")


@lru_cache(maxsize=4)
def load_vocabulary(path: Path = VOCABULARY_FILE) -> dict[str, tuple[str, ...]]:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    return {k.lower(): tuple(v) for k, v in data.get("expansions", {}).items()}


@lru_cache(maxsize=4)
def _patterns(path: Path = VOCABULARY_FILE) -> list[tuple[str, re.Pattern, tuple[str, ...]]]:
    vocab = load_vocabulary(path)
    return [
        (key, re.compile(rf"(?<![\w-]){re.escape(key)}(?![\w-])", re.I), values)
        for key, values in sorted(vocab.items(), key=lambda kv: -len(kv[0]))
    ]


def expansions(query: str, path: Path = VOCABULARY_FILE) -> list[str]:
    """The protocols' words for what the query says in practitioners' words."""
    out: list[str] = []
    # A key can only match where it stands in the lower-cased text: a substring test first
    # spares most of the ~100 searches a query makes. Only where both are ASCII, since the
    # regex's case folding and str.lower() part ways on some other letters.
    lowered = query.lower() if query.isascii() else None
    for key, pattern, values in _patterns(path):
        if lowered is not None and key.isascii() and key not in lowered:
            continue
        if pattern.search(query):
            out.extend(v for v in values if v.lower() not in query.lower() and v not in out)
    return out


@lru_cache(maxsize=4)
def known_tokens(path: Path = VOCABULARY_FILE) -> frozenset[str]:
    """Lexical tokens of the vocabulary's keys: practitioners' words we know how to translate."""
    from assistant.text import lexical_tokens

    return frozenset(t for key in load_vocabulary(path) for t in lexical_tokens(key))
