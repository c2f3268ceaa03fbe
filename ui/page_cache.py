"""Cited pages as printed, made on demand and kept on disk for the next reader.

A page image is keyed by the source file's content hash, the page and the quoted source text
(never anything a user typed), so it holds nothing of a question and is right for any answer
that quotes the same spans. The folder is pruned to its newest files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from assistant.page_images import PageImage
from assistant.records import content_id

KEEP_FILES = 400
_hashes: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    from ingest.manifest import sha256_file

    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _hashes:
        _hashes[key] = sha256_file(path)
    return _hashes[key]


def cached_page(folder: Path, pdf: Path, sha256: str, page: int, quotes: list[str],
                render: Callable[[Path, int, list[str]], PageImage]) -> PageImage:
    """The page image from the cache, else rendered and kept. `FileNotFoundError` when `pdf`
    is no longer the file the index was built from (its hash differs)."""
    if _sha256(pdf) != sha256:
        raise FileNotFoundError(pdf)
    key = content_id(sha256, str(page), *quotes, length=24)
    png, meta = folder / f"{key}.png", folder / f"{key}.json"
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        return PageImage(png.read_bytes(), int(info["page"]), float(info["found"]), bool(info["highlighted"]))
    except (OSError, ValueError, KeyError):
        pass
    image = render(pdf, page, quotes)
    folder.mkdir(parents=True, exist_ok=True)
    tag = f".{os.getpid()}.tmp"
    png.with_name(png.name + tag).write_bytes(image.png)
    os.replace(png.with_name(png.name + tag), png)
    meta.with_name(meta.name + tag).write_text(
        json.dumps({"page": image.page, "found": image.found, "highlighted": image.highlighted}), encoding="utf-8")
    os.replace(meta.with_name(meta.name + tag), meta)
    _prune(folder)
    return image


def _prune(folder: Path) -> None:
    files = sorted(folder.glob("*.png"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP_FILES:]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
