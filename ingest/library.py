"""The source library: the corpus folder and its manifest, changed only when asked.

Adding a file COPIES it into the corpus folder (so the library does not depend on where the
file was, and a clean `hha ingest` rebuilds the same index) and writes its manifest entry;
removing one deletes the copy and its entry. Every change is made under the index's write
lock and followed by a build beside the live index that is switched in only when complete;
if the build fails, or the added file cannot be read, the folder is put back as it was.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from assistant.embed import Embedder
from assistant.errors import AssistantError, SkippedFile
from assistant.provenance import parse_date
from assistant.store import Catalog, StoreLocation
from ingest.describe import describe
from ingest.loaders import SUFFIXES
from ingest.manifest import (
    MANIFEST_NAME,
    doc_id_for,
    read_manifest,
    with_entry,
    without_entry,
    write_manifest_text,
)
from ingest.pipeline import IngestReport, build_locked, discover, read_pages

# Flags of `hha ingest` that describe a source: manifest keys.
METADATA_KEYS = ("title", "publisher", "area", "scope", "date", "version", "review_date", "audience", "kind",
                 "summary", "places")
# What a new version inherits from the source it replaces (unless given again).
INHERITED = ("title", "publisher", "area", "scope", "audience", "kind", "summary", "places")


class LibraryError(AssistantError):
    """A library change that cannot be made (unknown id, a file that cannot be read...)."""


@dataclass
class Change:
    """What a library command did, for the CLI to print."""

    report: IngestReport | None = None
    added: list[str] = field(default_factory=list)  # document ids
    removed: list[str] = field(default_factory=list)
    assumed: dict[str, dict[str, str]] = field(default_factory=dict)  # doc id -> field -> "value (why)"
    updated: list[str] = field(default_factory=list)  # of `added`: ids that were already in the library
    files: dict[str, str] = field(default_factory=dict)  # doc id -> file name in the library

    def summary(self) -> str:
        lines = []
        for doc_id in self.added:
            lines.append(f"{'updated' if doc_id in self.updated else 'added'} {doc_id}")
            for name, text in self.assumed.get(doc_id, {}).items():
                lines.append(f"  assumed {name}: {text}")
            if self.assumed.get(doc_id):
                lines.append(f"  to correct: hha ingest {self.files.get(doc_id, '<file>')} --area AREA --place PLACE "
                             f"[--title ... --kind ... --date ... --version ... --review-date ...]")
        lines.extend(f"removed {doc_id}" for doc_id in self.removed)
        if self.report is not None:
            lines.append(self.report.summary())
        return "\n".join(lines)


class Library:
    def __init__(self, folder: Path, location: StoreLocation):
        self.folder = folder
        self.location = location
        self.catalog = Catalog(location)

    # -- reading -------------------------------------------------------------------------
    def files(self) -> dict[str, Path]:
        return {doc_id_for(p): p for p in discover([self.folder])}

    def manifest(self) -> dict[str, dict]:
        return read_manifest(self.folder)

    # -- changing ------------------------------------------------------------------------
    def add(
        self,
        paths: list[Path],
        metadata: dict | None = None,
        replaces: str | None = None,
        embedder: Embedder | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        today: str | None = None,
    ) -> Change:
        """Add files (copied into the library folder) and rebuild. `metadata` applies to every
        file given; a file whose id is already in the library is updated in place. With
        `replaces`, the one file given becomes the new version of that source."""
        metadata = {k: v for k, v in (metadata or {}).items() if v not in (None, "", [], ())}
        if replaces and len(paths) != 1:
            raise LibraryError("--replaces takes exactly one new file")
        for path in paths:
            if not path.is_file():
                raise LibraryError(f"no such file: {path}")
            if path.suffix.lower() not in SUFFIXES:
                raise LibraryError(f"unsupported file type {path.suffix or '(none)'}: use .txt, .md or .pdf")
        change = Change()
        with self.catalog.write_lock(), self._transaction():
            manifest = self.manifest()
            files = self.files()
            if replaces and replaces not in files:
                raise LibraryError(f"no source with id {replaces!r} in the library: see `hha sources`")
            text = self._manifest_text()
            for path in paths:
                doc_id = doc_id_for(path)
                old_entry = dict(manifest.get(files[doc_id].stem, {})) if doc_id in files else {}
                if replaces:
                    previous = files[replaces]
                    old_entry = {k: v for k, v in manifest.get(previous.stem, {}).items() if k in INHERITED}
                    if previous.resolve() != (self.folder / path.name).resolve():
                        self._delete(previous)
                    text = without_entry(text, previous.stem)
                    if replaces != doc_id:
                        change.removed.append(replaces)
                try:
                    pages, stated = read_pages(path)
                except SkippedFile as exc:
                    raise LibraryError(f"{path.name} cannot be added: {exc}") from None
                entry, assumed = self._entry(path, pages, stated, old_entry, metadata)
                entry.setdefault("added", today or time.strftime("%Y-%m-%d"))
                if doc_id in files and doc_id != replaces and files[doc_id].name != path.name:
                    self._delete(files[doc_id])  # same id, other extension: the new file wins
                    text = without_entry(text, files[doc_id].stem)
                dest = self.folder / path.name
                if path.resolve() != dest.resolve():
                    self._copy(path, dest)
                text = with_entry(text, path.stem, entry)
                change.added.append(doc_id)
                change.files[doc_id] = str(dest)
                if doc_id in files and doc_id != replaces:
                    change.updated.append(doc_id)
                if assumed:
                    change.assumed[doc_id] = assumed
            write_manifest_text(self.folder, text)
            change.report = self._build(embedder, progress)
            built = {f.doc_id for f in change.report.files}
            lost = [d for d in change.added if d not in built]
            if lost:
                reasons = "; ".join(f"{n}: {r}" for n, r in change.report.skipped)
                raise LibraryError(f"{', '.join(lost)} could not be indexed, nothing was changed ({reasons})")
        return change

    def remove(self, doc_id: str, embedder: Embedder | None = None, progress=None) -> Change:
        with self.catalog.write_lock(), self._transaction():
            files = self.files()
            if doc_id not in files:
                raise LibraryError(f"no source with id {doc_id!r} in the library: see `hha sources`")
            if len(files) == 1:
                raise LibraryError("that is the only source: the library cannot be empty")
            path = files[doc_id]
            self._delete(path)
            write_manifest_text(self.folder, without_entry(self._manifest_text(), path.stem))
            return Change(report=self._build(embedder, progress), removed=[doc_id])

    def rebuild(self, embedder: Embedder | None = None, progress=None, force: bool = False) -> IngestReport:
        with self.catalog.write_lock():
            return self._build(embedder, progress, force)

    # -- internals -----------------------------------------------------------------------
    def _build(self, embedder, progress, force: bool = False) -> IngestReport:
        return build_locked([self.folder], self.catalog, manifest_dirs=[self.folder], embedder=embedder,
                            progress=progress, force=force)

    def _manifest_text(self) -> str:
        path = self.folder / MANIFEST_NAME
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def _entry(self, path: Path, pages, stated: dict, old: dict, flags: dict) -> tuple[dict, dict[str, str]]:
        """The manifest entry: the flags, else what the source had, else what the document says."""
        entry = {**old, **flags}
        assumed: dict[str, str] = {}
        told = describe(pages)
        proposals = {
            "title": stated.get("title") or told.title,
            "publisher": stated.get("publisher") or told.publisher,
            "area": told.area,
            "places": told.places,
            "date": told.date,
            "version": told.version,
            "review_date": told.review_date,
        }
        for name, value in proposals.items():
            if name in entry or not value:
                continue
            entry[name] = value
            why = "from the file's own metadata" if name in ("title", "publisher") and stated.get(name) else told.reasons.get(name, "from the document")
            assumed[name] = f"{', '.join(value) if isinstance(value, list) else value} ({why})"
        if "area" not in entry:
            assumed["area"] = "none found: give --area (and --place) so questions from your area find it"
        else:
            entry.setdefault("scope", "local")
            entry.setdefault("places", [entry["area"]])
        entry.setdefault("kind", "local protocol")
        if "title" in assumed and entry.get("area") and entry["area"] not in entry["title"]:
            entry["title"] = f"{entry['title']} ({entry['area']})"
            assumed["title"] = f"{entry['title']} ({told.reasons.get('title', 'from the file')}, with its area)"
        return entry, assumed

    # Every file operation of a change is recorded so that a failure puts the folder back.
    @contextmanager
    def _transaction(self):
        manifest = self.folder / MANIFEST_NAME
        self._undo: list[Callable[[], None]] = []
        before = manifest.read_bytes() if manifest.exists() else None
        try:
            yield
        except BaseException:
            for undo in reversed(self._undo):
                undo()
            if before is None:
                manifest.unlink(missing_ok=True)
            else:
                manifest.write_bytes(before)
            raise

    def _copy(self, source: Path, dest: Path) -> None:
        backup = dest.read_bytes() if dest.exists() else None
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(dest)
        self._undo.append(lambda: dest.write_bytes(backup) if backup is not None else dest.unlink(missing_ok=True))

    def _delete(self, path: Path) -> None:
        content = path.read_bytes()
        path.unlink()
        self._undo.append(lambda: path.write_bytes(content))


def propose(path: Path) -> dict:
    """What a file says of itself (title, area, places, dates, version), to pre-fill its library
    entry before it is added; a file that cannot be read raises `LibraryError` with the reason."""
    if path.suffix.lower() not in SUFFIXES:
        raise LibraryError(f"unsupported file type {path.suffix or '(none)'}: use .txt, .md or .pdf")
    try:
        pages, stated = read_pages(path)
    except SkippedFile as exc:
        raise LibraryError(f"{path.name} cannot be added: {exc}") from None
    if not any(p.text.strip() for p in pages):
        raise LibraryError(f"{path.name} cannot be added: no text after cleaning")
    told = describe(pages)
    return {
        "file": path.name, "title": stated.get("title") or told.title, "publisher": stated.get("publisher") or told.publisher,
        "area": told.area, "places": told.places, "date": told.date, "version": told.version,
        "review_date": told.review_date, "pages": stated.get("page_count"), "reasons": dict(told.reasons),
    }


def sources(catalog: Catalog, folder: Path | None = None, today: date | None = None) -> list[dict]:
    """Every source of the live index, with what it gave the index."""
    record = catalog.current() or {}
    files = {f["doc_id"]: f for f in record.get("report", {}).get("files", [])}
    today = today or date.today()
    out = []
    for d in record.get("documents", []):
        f = files.get(d["id"], {})
        added = d.get("added") or ""
        if not added and folder is not None and (folder / d["source_file"]).exists():
            added = time.strftime("%Y-%m-%d", time.localtime((folder / d["source_file"]).stat().st_mtime))
        out.append({
            "id": d["id"], "title": d["title"], "area": d["area"], "scope": d["scope"], "kind": d["kind"],
            "pages": f.get("pages"), "passages": f.get("passages"), "checklist_items": f.get("checklist_items"),
            "added": added or "not recorded", "date": d.get("date", ""), "version": d.get("version", ""),
            "review_date": d.get("review_date", ""), "places": d.get("places", []), "file": d["source_file"],
            "ocr_pages": d.get("ocr_pages", []), "in_library": folder is not None and (folder / d["source_file"]).exists(),
            "past_review": _past(d.get("review_date", ""), today), "warnings": list(f.get("warnings", [])),
        })
    return out


def _past(review_date: str, today: date) -> bool:
    review = parse_date(review_date, end_of_period=True)
    return review is not None and review < today
