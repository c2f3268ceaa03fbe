"""`hha ingest`: source files in, a complete index build out (or nothing changed).

The build id is a hash of every input that shapes the index (file contents, manifest
entries, this pipeline's version, the model), so an unchanged corpus is recognised without
loading the model: a no-op in well under a second.

A changed corpus embeds only what is new: every vector is stored with a key (a hash of the
exact text embedded and the model), and the previous build's vectors are reused by key, so
adding one protocol embeds that protocol alone. What is embedded runs through the model
without padding (`Embedder.embed_each`), while chromadb is imported on a thread beside it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from assistant.embed import MODEL_NAME, Embedder, TokenCounter
from assistant.errors import NothingToIndexError, SkippedFile
from assistant.records import ChecklistItem, Document, Passage, content_id
from assistant.store import Catalog, StoreLocation, import_chromadb
from assistant.text import guidance_spans
from ingest.clean import Page, clean_page_text, drop_repeated_margins
from ingest.describe import describe
from ingest.loaders import SUFFIXES, load
from ingest.manifest import MANIFEST_NAME, doc_id_for, make_document, read_manifest, sha256_file
from ingest.passages import build_passages, embedding_text
from ingest.structure import structure

PIPELINE_VERSION = "12"


@dataclass
class FileReport:
    file: str
    doc_id: str
    passages: int
    checklist_items: int
    pages: int | None
    warnings: list[str] = field(default_factory=list)
    title: str = ""
    area: str = ""


@dataclass
class IngestReport:
    build: str
    unchanged: bool
    files: list[FileReport] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    passages: int = 0
    checklist_items: int = 0
    sentences: int = 0
    twins: int = 0
    seconds: float = 0.0
    embedded: int = 0  # texts run through the model in this build
    reused: int = 0  # vectors taken from the previous build (or shared by identical texts)
    # Word pieces run through the model in this build, per kind of text ([CLS] and [SEP] included):
    # the embedding's cost grows with these, not with the number of texts.
    word_pieces: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)  # seconds per stage

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        if self.unchanged:
            return f"index unchanged (build {self.build}): nothing to do [{self.seconds:.2f} s]"
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())
        lines = [
            f"built index {self.build}: {len(self.files)} files, {self.passages} passages "
            f"({self.twins} marked as repeats), {self.checklist_items} checklist items, {self.sentences} sentences "
            f"in {self.seconds:.1f} s",
            f"  vectors: {self.embedded} embedded, {self.reused} reused" + (f" [{stages}]" if stages else ""),
        ]
        if self.word_pieces:
            lines.append("  word pieces embedded: " + ", ".join(f"{k} {v:,}" for k, v in self.word_pieces.items()))
        for f in self.files:
            lines.append(f"  {f.file} ({f.doc_id}): {f.passages} passages, {f.checklist_items} checklist items")
            lines.extend(f"    warning: {w}" for w in f.warnings)
        for name, reason in self.skipped:
            lines.append(f"  skipped {name}: {reason}")
        return "\n".join(lines)


def discover(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in SUFFIXES and p.name.lower() not in ("readme.md", MANIFEST_NAME)
                and not p.name.startswith(".")
            )
        elif path.exists():
            found.append(path)
    seen, unique = set(), []
    for p in found:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            unique.append(p)
    return unique


def read_pages(path: Path) -> tuple[list[Page], dict]:
    """A file's cleaned pages and what the file says of itself (PDF metadata, then its text)."""
    pages, file_meta = load(path)
    cleaned = [Page(p.number, clean_page_text(p.text)) for p in pages]
    if path.suffix.lower() == ".pdf":
        cleaned = drop_repeated_margins(cleaned)
    stated = describe(cleaned).as_meta()
    # The issue date printed in the document beats the PDF's creation date.
    return cleaned, {**file_meta, **stated, "page_count": len(pages) if pages and pages[0].number is not None else None}


def process_file(
    path: Path, entry: dict | None, sha: str, count
) -> tuple[Document, list[Passage], list[ChecklistItem], int | None, list[str]]:
    cleaned, file_meta = read_pages(path)
    ocr_pages = tuple(file_meta.get("ocr_pages", ()))
    doc = make_document(path, entry, file_meta, sha)
    if ocr_pages:
        doc = replace(doc, ocr_pages=ocr_pages)
    passages, items = build_passages(structure(cleaned), doc, count)
    if not passages:
        raise SkippedFile("no usable text after cleaning")
    if ocr_pages:
        passages = [replace(p, ocr=True) if p.page in ocr_pages else p for p in passages]
    return doc, passages, items, file_meta["page_count"], file_meta.get("warnings", [])


def vector_key(text: str) -> str:
    """What a vector is reused by: the exact text embedded and the model that embedded it."""
    return content_id(MODEL_NAME, text, length=32)


def embed_with_reuse(
    embedder: Embedder | None, texts: list[str], cache: dict[str, np.ndarray], progress=None,
    timings: dict | None = None,
) -> tuple[np.ndarray, list[str], list[str]]:
    """Vectors of `texts` (rows in order), their keys, and the keys embedded now: a text whose
    key is in `cache` (or that repeats another text) is not embedded again."""
    keys = [vector_key(t) for t in texts]
    missing: dict[str, str] = {}
    for key, text in zip(keys, texts, strict=True):
        if key not in cache and key not in missing:
            missing[key] = text
    order = sorted(missing, key=lambda k: len(missing[k]), reverse=True)
    if order:
        if embedder is None:
            embedder = Embedder()
        mark = time.perf_counter()
        embedder.load()  # before the bar starts: loading is not embedding
        if timings is not None:
            timings["model load"] = round(time.perf_counter() - mark, 2)
        mark = time.perf_counter()
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress("embedding", done, len(order))

        if progress:
            progress("embedding", 0, len(order))
        # The store's library loads meanwhile (seconds of imports): the model's work releases the GIL.
        threading.Thread(target=import_chromadb, daemon=True).start()
        vectors = embedder.embed_each([missing[k] for k in order], progress=tick)
        cache = {**cache, **dict(zip(order, vectors, strict=True))}
        if timings is not None:
            timings["embed"] = round(time.perf_counter() - mark, 2)
    matrix = np.stack([cache[k] for k in keys]).astype(np.float32) if keys else np.zeros((0, 384), np.float32)
    return matrix, keys, order


def word_pieces_embedded(texts: list[str], keys: list[str], embedded: set[str], cuts: tuple[int, int],
                         count: TokenCounter) -> dict[str, int]:
    """Word pieces the model ran per kind of text (each text embedded counted once, under the
    first kind that holds it)."""
    first: dict[str, int] = {}
    for n, key in enumerate(keys):
        if key in embedded:
            first.setdefault(key, n)
    rows = sorted(first.values())
    pieces = count.model_pieces([texts[n] for n in rows])
    out = {"passages": 0, "checklist items": 0, "sentences": 0}
    for n, size in zip(rows, pieces, strict=True):
        out["passages" if n < cuts[0] else "checklist items" if n < cuts[1] else "sentences"] += size
    return out


def _previous_vectors(catalog: Catalog, current: dict) -> dict[str, np.ndarray]:
    if not current or current.get("model") != MODEL_NAME:
        return {}
    try:
        return catalog.load_vectors(current["build"])
    except Exception:  # noqa: BLE001 - a missing or damaged previous build only costs time
        return {}


def run_ingest(
    paths: list[Path],
    location: StoreLocation,
    manifest_dirs: list[Path] | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    force: bool = False,
    manifest: dict[str, dict] | None = None,
) -> IngestReport:
    """Build the index from exactly these files and folders (their manifests, or `manifest`)."""
    catalog = Catalog(location)
    with catalog.write_lock():
        return build_locked(paths, catalog, manifest_dirs=manifest_dirs, embedder=embedder, progress=progress,
                            force=force, manifest=manifest)


def build_locked(
    paths: list[Path],
    catalog: Catalog,
    manifest_dirs: list[Path] | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    force: bool = False,
    manifest: dict[str, dict] | None = None,
) -> IngestReport:
    """`run_ingest` for a caller that already holds the catalog's write lock."""
    started = time.perf_counter()
    files = discover(paths)
    if manifest is None:
        manifest = {}
        for folder in manifest_dirs or sorted({p.parent for p in files}):
            manifest.update(read_manifest(folder))
    hashes = {p: sha256_file(p) for p in files}
    fingerprint = [PIPELINE_VERSION, MODEL_NAME] + [
        f"{doc_id_for(p)}:{hashes[p]}:{json.dumps(manifest.get(p.stem), sort_keys=True)}" for p in files
    ]
    digest = content_id(*fingerprint, length=16)
    current = catalog.current() or {}
    if current.get("fingerprint") == digest and not force:
        return IngestReport(build=current["build"], unchanged=True, seconds=time.perf_counter() - started)
    # A fresh id per build, even of the same content: a reader may hold the old one open.
    build_id = f"{digest[:10]}{time.time_ns() & 0xFFFFFF:06x}"
    count = embedder.count_tokens if embedder is not None else TokenCounter()
    report = IngestReport(build=build_id, unchanged=False)
    documents: list[Document] = []
    passages: list[Passage] = []
    items: list[ChecklistItem] = []
    for n, path in enumerate(files):
        if progress:
            progress("reading", n, len(files))
        try:
            doc, doc_passages, doc_items, pages, warnings = process_file(
                path, manifest.get(path.stem), hashes[path], count
            )
        except SkippedFile as exc:
            report.skipped.append((path.name, str(exc)))
            continue
        if any(d.id == doc.id for d in documents):
            report.skipped.append((path.name, f"another file already has the document id {doc.id!r}"))
            continue
        documents.append(doc)
        passages.extend(doc_passages)
        items.extend(doc_items)
        report.files.append(FileReport(path.name, doc.id, len(doc_passages), len(doc_items), pages, warnings,
                                       doc.title, doc.area))
    if progress:
        progress("reading", len(files), len(files))
    if not passages:
        # Never make an empty index live: the previous one (if any) keeps serving.
        skipped = "; ".join(f"{n}: {r}" for n, r in report.skipped) or "no .txt, .md or .pdf files found"
        raise NothingToIndexError(f"nothing to index, the current index is unchanged ({skipped})")
    report.timings["read"] = round(time.perf_counter() - started, 2)

    mark = time.perf_counter()
    cache = _previous_vectors(catalog, current)
    report.timings["previous vectors"] = round(time.perf_counter() - mark, 2)
    passage_text = {p.id: p.text for p in passages}
    sentences = [(p.id, a, b) for p in passages for a, b in guidance_spans(p.text, p.section)]
    texts = (
        [embedding_text(p, count) for p in passages]
        + [i.text for i in items]
        + [passage_text[pid][a:b] for pid, a, b in sentences]
    )
    matrix, keys, embedded = embed_with_reuse(embedder, texts, cache, progress, timings=report.timings)
    report.embedded, report.reused = len(embedded), len(texts) - len(embedded)
    cuts = (len(passages), len(passages) + len(items))
    report.word_pieces = word_pieces_embedded(texts, keys, set(embedded), cuts, count)
    report.passages = len(passages)
    report.checklist_items = len(items)
    report.twins = sum(1 for p in passages if p.twin_of)
    report.sentences = len(sentences)

    mark = time.perf_counter()
    report.seconds = time.perf_counter() - started
    record = {
        "documents": [{**asdict(d), "places": list(d.places), "ocr_pages": list(d.ocr_pages)} for d in documents],
        "report": report.to_dict(),
        "model": MODEL_NAME,
        "fingerprint": digest,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    with catalog.writing(build_id, record) as build:
        build.add_passages(passages, matrix[: cuts[0]], keys[: cuts[0]])
        build.add_checklist(items, matrix[cuts[0] : cuts[1]], keys[cuts[0] : cuts[1]])
        build.add_sentences(sentences, matrix[cuts[1] :], keys[cuts[1] :])
        catalog.save_vectors(build_id, keys, matrix)
    report.timings["write"] = round(time.perf_counter() - mark, 2)
    report.seconds = time.perf_counter() - started
    return report
