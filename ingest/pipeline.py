"""`hha ingest`: source files in, a complete index build out (or nothing changed).

The build id is a hash of every input that shapes the index (file contents, manifest
entries, this pipeline's version, the model), so an unchanged corpus is recognised without
loading the model: a no-op in well under a second.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from assistant.embed import MODEL_NAME, Embedder
from assistant.errors import NothingToIndexError, SkippedFile
from assistant.records import ChecklistItem, Document, Passage, content_id
from assistant.store import Catalog, StoreLocation
from assistant.text import guidance_spans
from ingest.clean import Page, clean_page_text, drop_repeated_margins
from ingest.loaders import SUFFIXES, load
from ingest.manifest import MANIFEST_NAME, doc_id_for, make_document, read_manifest, sha256_file
from ingest.passages import build_passages, embedding_text
from ingest.structure import structure

PIPELINE_VERSION = "8"


@dataclass
class FileReport:
    file: str
    doc_id: str
    passages: int
    checklist_items: int
    pages: int | None
    warnings: list[str] = field(default_factory=list)


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

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        if self.unchanged:
            return f"index unchanged (build {self.build}): nothing to do [{self.seconds:.2f} s]"
        lines = [
            f"built index {self.build}: {len(self.files)} files, {self.passages} passages "
            f"({self.twins} marked as repeats), {self.checklist_items} checklist items in {self.seconds:.1f} s"
        ]
        for f in self.files:
            lines.append(f"  {f.file}: {f.passages} passages, {f.checklist_items} checklist items")
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
            )
        elif path.exists():
            found.append(path)
    seen, unique = set(), []
    for p in found:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            unique.append(p)
    return unique


def process_file(
    path: Path, entry: dict | None, sha: str, count
) -> tuple[Document, list[Passage], list[ChecklistItem], int | None, list[str]]:
    pages, file_meta = load(path)
    cleaned = [Page(p.number, clean_page_text(p.text)) for p in pages]
    if path.suffix.lower() == ".pdf":
        cleaned = drop_repeated_margins(cleaned)
    doc = make_document(path, entry, file_meta, sha)
    passages, items = build_passages(structure(cleaned), doc, count)
    if not passages:
        raise SkippedFile("no usable text after cleaning")
    page_count = len(pages) if pages and pages[0].number is not None else None
    return doc, passages, items, page_count, file_meta.get("warnings", [])


def _embed(embedder: Embedder, texts: list[str], stage: str, progress, batch_size: int = 32):
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(stage, done, len(texts))

    return embedder.embed_documents(texts, batch_size=batch_size, progress=tick)


def run_ingest(
    paths: list[Path],
    location: StoreLocation,
    manifest_dirs: list[Path] | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    force: bool = False,
) -> IngestReport:
    started = time.perf_counter()
    files = discover(paths)
    manifest: dict[str, dict] = {}
    for folder in manifest_dirs or sorted({p.parent for p in files}):
        manifest.update(read_manifest(folder))
    hashes = {p: sha256_file(p) for p in files}
    fingerprint = [PIPELINE_VERSION, MODEL_NAME] + [
        f"{doc_id_for(p)}:{hashes[p]}:{json.dumps(manifest.get(p.stem), sort_keys=True)}" for p in files
    ]
    digest = content_id(*fingerprint, length=16)
    catalog = Catalog(location)
    with catalog.write_lock():
        current = catalog.current() or {}
        if current.get("fingerprint") == digest and not force:
            return IngestReport(build=current["build"], unchanged=True, seconds=time.perf_counter() - started)
        # A fresh id per build, even of the same content: a reader may hold the old one open.
        build_id = f"{digest[:10]}{time.time_ns() & 0xFFFFFF:06x}"
        embedder = embedder or Embedder()
        count = embedder.count_tokens
        report = IngestReport(build=build_id, unchanged=False)
        documents: list[Document] = []
        passages: list[Passage] = []
        items: list[ChecklistItem] = []
        for path in files:
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
            report.files.append(FileReport(path.name, doc.id, len(doc_passages), len(doc_items), pages, warnings))
        if not passages:
            # Never make an empty index live: the previous one (if any) keeps serving.
            skipped = "; ".join(f"{n}: {r}" for n, r in report.skipped) or "no .txt, .md or .pdf files found"
            raise NothingToIndexError(f"nothing to index, the current index is unchanged ({skipped})")
        texts = [embedding_text(p, count) for p in passages]
        passage_text = {p.id: p.text for p in passages}
        sentences = [(p.id, a, b) for p in passages for a, b in guidance_spans(p.text, p.section)]
        vectors = _embed(embedder, texts, "embedding passages", progress)
        item_vectors = _embed(embedder, [i.text for i in items], "embedding checklist items", progress)
        sentence_vectors = _embed(
            embedder, [passage_text[pid][a:b] for pid, a, b in sentences], "embedding sentences", progress, 64
        )
        report.passages = len(passages)
        report.checklist_items = len(items)
        report.twins = sum(1 for p in passages if p.twin_of)
        report.sentences = len(sentences)
        report.seconds = time.perf_counter() - started
        record = {
            "documents": [{**asdict(d), "places": list(d.places)} for d in documents],
            "report": report.to_dict(),
            "model": MODEL_NAME,
            "fingerprint": digest,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        with catalog.writing(build_id, record) as build:
            build.add_passages(passages, vectors)
            build.add_checklist(items, item_vectors)
            build.add_sentences(sentences, sentence_vectors)
        report.seconds = time.perf_counter() - started
        return report
