"""The corpus manifest (`corpus/manifest.toml`): each document's metadata, by file stem."""

from __future__ import annotations

import hashlib
import json
import os
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
        places=tuple(str(p) for p in entry.get("places", ())),
        version=str(entry.get("version") or file_meta.get("version") or ""),
        review_date=str(entry.get("review_date") or file_meta.get("review_date") or ""),
        added=str(entry.get("added") or ""),
        **{k: str(values[k]) for k in _FIELDS},
    )


# -- writing entries (the library commands), keeping the file's comments and other entries ---

ENTRY_KEYS = ("title", "publisher", "area", "scope", "date", "version", "review_date", "audience", "kind",
              "summary", "source", "added", "places")


def _toml_value(value) -> str:
    # A JSON string is a valid TOML basic string (same escapes).
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(json.dumps(str(v), ensure_ascii=False) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def entry_block(stem: str, entry: dict) -> str:
    keys = [k for k in ENTRY_KEYS if k in entry] + sorted(k for k in entry if k not in ENTRY_KEYS)
    lines = [f"[{json.dumps(stem, ensure_ascii=False)}]"]
    lines += [f"{k} = {_toml_value(entry[k])}" for k in keys if entry[k] not in (None, "", [], ())]
    return "\n".join(lines) + "\n"


def _block_pattern(stem: str) -> re.Pattern:
    quoted = re.escape(json.dumps(stem, ensure_ascii=False))
    bare = re.escape(stem)
    return re.compile(rf"(?ms)^\[(?:{quoted}|{bare}|'{bare}')\][ \t]*\n.*?(?=^\[|\Z)")


def without_entry(text: str, stem: str) -> str:
    return _block_pattern(stem).sub("", text).rstrip() + "\n"


def with_entry(text: str, stem: str, entry: dict) -> str:
    """The manifest text with `stem`'s entry set to `entry` (replaced, or appended)."""
    text = without_entry(text, stem) if text.strip() else ""
    return (text.rstrip() + "\n\n" if text.strip() else "") + entry_block(stem, entry)


def write_manifest_text(folder: Path, text: str) -> None:
    path = folder / MANIFEST_NAME
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tomllib.loads(text)  # never write a manifest that cannot be read back
    os.replace(tmp, path)
