"""The corpus manifest (`corpus/manifest.toml`): each document's metadata, by file stem."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

from assistant.records import Document

MANIFEST_NAME = "manifest.toml"
_FIELDS = ("title", "publisher", "area", "scope", "date", "audience", "kind", "summary")


def read_manifest(folder: Path) -> dict[str, dict]:
    path = folder / MANIFEST_NAME
    if not path.exists():
        return {}
    with open(path, "rb") as f:
        return tomllib.load(f)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def doc_id_for(path: Path) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "document"


def make_document(path: Path, entry: dict | None, file_meta: dict, sha256: str) -> Document:
    """Manifest entry first; else what the file says of itself; else the file name."""
    entry = entry or {}
    pretty = re.sub(r"[_\-]+", " ", path.stem).strip().capitalize()
    values = {
        "title": entry.get("title") or file_meta.get("title") or pretty,
        "publisher": entry.get("publisher") or file_meta.get("publisher") or "Not stated",
        "area": entry.get("area") or "Not stated",
        "scope": entry.get("scope") or "local",
        "date": entry.get("date") or file_meta.get("date") or "not stated",
        "audience": entry.get("audience") or "Not stated",
        "kind": entry.get("kind") or "local protocol",
        "summary": entry.get("summary") or "Added without a manifest entry.",
    }
    return Document(
        id=doc_id_for(path),
        source_file=path.name,
        sha256=sha256,
        places=tuple(entry.get("places", ())),
        **{k: str(values[k]) for k in _FIELDS},
    )
