"""A larger corpus for scale benchmarks: synthetic variants of the real documents, and an
index of them built without re-embedding.

Each variant is a copy of a corpus file with its place and area names replaced by made-up
ones and a closing line naming the variant, so its content hash and document id differ, and
a manifest entry of its own. The files go through the real ingest stages (load, clean,
structure, passages), so the passages, checklist items and sentences are what `hha ingest`
would make of them.

Embedding a 100x corpus (~40k passages, ~180k sentences) at 25-70 texts/s would take over an
hour, so `write_build_with_copied_vectors` does not embed: a text that also occurs in the
original build gets the original's vector (same text, same vector); a text the renaming
changed gets the vector of the original text at the same place in the same document (its
passage's own position, or the same sentence number within it), which is what a near-copy
embeds to, near enough for measuring speed and memory. Never use such an index for quality.
"""

from __future__ import annotations

import re
import shutil
import time
import tomllib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from assistant.embed import MODEL_NAME
from assistant.records import content_id
from assistant.store import Catalog, StoreLocation
from assistant.text import guidance_spans

_SYLLABLES = ("ash", "bel", "cor", "dun", "elm", "fen", "gar", "hol", "ing", "kel", "lin", "mar", "nor", "orr",
              "pen", "ques", "ros", "sal", "tor", "ul", "ven", "wyn", "yar", "zel")
_ENDINGS = ("by", "ton", "ham", "ford", "well", "stead", "wick", "more", "field", "bury")


def made_up_name(place: str, replica: int) -> str:
    """A stable made-up place name for (place, replica): 'Luton', 7 -> 'Selwick'."""
    seed = int(content_id(place, str(replica), length=8), 16)
    a = _SYLLABLES[seed % len(_SYLLABLES)]
    b = _SYLLABLES[(seed // 31) % len(_SYLLABLES)]
    end = _ENDINGS[(seed // 997) % len(_ENDINGS)]
    return f"{a}{b}{end}".capitalize() + f" {replica}"


def renamer(places: list[str], replica: int):
    """A function replacing each whole-word place name (longest first) with its made-up name."""
    names = sorted({p for p in places if p}, key=len, reverse=True)
    if not names:
        return lambda text: text
    mapping = {p.lower(): made_up_name(p, replica) for p in names}
    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(p) for p in names) + r")(?![\w-])", re.I)
    return lambda text: pattern.sub(lambda m: mapping[m.group(1).lower()], text)


@dataclass(frozen=True)
class Replica:
    source: Path
    path: Path
    replica: int  # 0 is the original


def write_replicated_corpus(corpus_dir: Path, dest: Path, factor: int) -> list[Replica]:
    """`factor` copies of every corpus file in `dest` (the originals plus factor-1 variants),
    with a manifest holding an entry for each."""
    from ingest.manifest import MANIFEST_NAME, read_manifest
    from ingest.pipeline import discover

    dest.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(corpus_dir)
    all_places = sorted({p for e in manifest.values() for p in e.get("places", ())}
                        | {e["area"] for e in manifest.values() if e.get("scope") == "local"})
    out: list[Replica] = []
    entries: dict[str, dict] = {}
    for source in discover([corpus_dir]):
        entry = dict(manifest.get(source.stem, {}))
        for replica in range(factor):
            if replica == 0:
                path = dest / source.name
                shutil.copyfile(source, path)
                entries[source.stem] = entry
            else:
                rename = renamer(all_places, replica)
                stem = f"{source.stem}-v{replica:03d}"
                path = dest / f"{stem}{source.suffix}"
                text = source.read_text(encoding="utf-8")
                path.write_text(f"{rename(text).rstrip()}\n\nSynthetic benchmark variant {replica} of this document.\n",
                                encoding="utf-8")
                variant = {k: v for k, v in entry.items() if k != "places"}
                if entry.get("scope") == "local":
                    variant["area"] = rename(entry.get("area", ""))
                    variant["places"] = [rename(p) for p in entry.get("places", ())]
                if "title" in entry:
                    variant["title"] = f"{rename(entry['title'])} [variant {replica}]"
                entries[stem] = variant
            out.append(Replica(source, path, replica))
    (dest / MANIFEST_NAME).write_text(_toml(entries), encoding="utf-8")
    return out


def _toml(entries: dict[str, dict]) -> str:
    import json

    lines = []
    for stem, entry in entries.items():
        lines.append(f'["{stem}"]')
        for key, value in entry.items():
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")  # JSON strings and lists are TOML
        lines.append("")
    text = "\n".join(lines)
    tomllib.loads(text)  # fail here, not at ingest, if a value is not valid TOML
    return text


@dataclass
class CopiedBuild:
    build: str
    documents: int
    passages: int
    checklist_items: int
    sentences: int
    exact_vectors: float  # share of texts whose vector is the original's for the same text
    seconds: float


class _Vectors:
    """The original build's vectors, by text and by position."""

    def __init__(self, catalog: Catalog):
        build = catalog.open()
        passages = build.passages()
        ids, matrix = build.vectors("passages")
        by_id = dict(zip(ids, matrix, strict=True))
        self.passage_by_text = {p.text: by_id[p.id] for p in passages}
        self.passage_by_place = {(p.doc_id, p.order): by_id[p.id] for p in passages}
        item_ids, item_matrix = build.vectors("checklist")
        item_vectors = dict(zip(item_ids, item_matrix, strict=True))
        self.item_by_text = {i.text: item_vectors[i.id] for i in build.checklist()}
        spans, sentence_matrix = build.sentences()
        text_of = {p.id: p for p in passages}
        self.sentence_by_text: dict[str, np.ndarray] = {}
        self.sentence_by_place: dict[tuple[str, int, int], np.ndarray] = {}
        rows: dict[str, list[int]] = {}
        for row, (pid, a, b) in enumerate(spans):
            p = text_of[pid]
            self.sentence_by_text[p.text[a:b]] = sentence_matrix[row]
            rows.setdefault(pid, []).append(row)
        for pid, passage_rows in rows.items():
            p = text_of[pid]
            for n, row in enumerate(sorted(passage_rows, key=lambda r: spans[r][1])):
                self.sentence_by_place[(p.doc_id, p.order, n)] = sentence_matrix[row]
        self.exact = self.total = 0

    def _pick(self, exact: np.ndarray | None, fallback: np.ndarray | None) -> np.ndarray:
        self.total += 1
        if exact is not None:
            self.exact += 1
            return exact
        if fallback is None:
            raise KeyError("no original vector to copy for this text")
        return fallback


def copied_build_id(replicas: list[Replica], hashes: dict | None = None) -> str:
    """The id of the copied-vector build of `replicas`: the same files give the same id, so a
    benchmark can tell that an index it kept is still the one it would build."""
    from ingest.manifest import sha256_file
    from ingest.pipeline import PIPELINE_VERSION

    hashes = hashes or {r.path: sha256_file(r.path) for r in replicas}
    # The source build's id is not part of it: that build is made from the same corpus files.
    return "copied-" + content_id(PIPELINE_VERSION, MODEL_NAME, *(f"{r.path.name}:{hashes[r.path]}" for r in replicas),
                                  length=10)


def write_build_with_copied_vectors(
    replicas: list[Replica], source: StoreLocation, target: StoreLocation, count
) -> CopiedBuild:
    """Ingest `replicas` into `target` through the real ingest stages, but with vectors copied
    from the complete build at `source` (see the module docstring). One document at a time is
    held in memory; the build goes through `Catalog.writing`, so it is atomic like any other."""
    from ingest.manifest import doc_id_for, read_manifest, sha256_file
    from ingest.pipeline import process_file

    started = time.perf_counter()
    source_catalog = Catalog(source)
    vectors = _Vectors(source_catalog)
    manifest: dict[str, dict] = {}
    for folder in sorted({r.path.parent for r in replicas}):
        manifest.update(read_manifest(folder))
    hashes = {r.path: sha256_file(r.path) for r in replicas}
    build_id = copied_build_id(replicas, hashes)
    catalog = Catalog(target)
    documents, counts = [], {"passages": 0, "checklist": 0, "sentences": 0}
    with catalog.write_lock():
        record = {"documents": [], "report": {}, "model": MODEL_NAME, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                  "synthetic": "vectors copied from the original build; for speed and memory benchmarks only"}
        # The document list is only known once every file is read; the pointer record is written
        # when the block exits, so it is filled in (the same dict) before then.
        with catalog.writing(build_id, record) as build:
            for r in replicas:
                doc, passages, items, _, _ = process_file(r.path, manifest.get(r.path.stem), hashes[r.path], count)
                original = doc_id_for(r.source)
                passage_vectors = np.stack([
                    vectors._pick(vectors.passage_by_text.get(p.text), vectors.passage_by_place.get((original, p.order)))
                    for p in passages
                ])
                build.add_passages(passages, passage_vectors)
                if items:
                    by_passage = {p.id: p for p in passages}
                    item_vectors = np.stack([
                        vectors._pick(vectors.item_by_text.get(i.text),
                                      vectors.passage_by_place.get((original, by_passage[i.passage_id].order)))
                        for i in items
                    ])
                    build.add_checklist(items, item_vectors)
                spans, sentence_vectors = [], []
                for p in passages:
                    for n, (a, b) in enumerate(guidance_spans(p.text, p.section)):
                        spans.append((p.id, a, b))
                        sentence_vectors.append(vectors._pick(
                            vectors.sentence_by_text.get(p.text[a:b]),
                            vectors.sentence_by_place.get((original, p.order, n),
                                                          vectors.passage_by_place.get((original, p.order))),
                        ))
                if spans:
                    build.add_sentences(spans, np.stack(sentence_vectors))
                documents.append(replace(doc))
                counts["passages"] += len(passages)
                counts["checklist"] += len(items)
                counts["sentences"] += len(spans)
            record["documents"] = [{**asdict(d), "places": list(d.places)} for d in documents]
            record["report"] = {"passages": counts["passages"], "checklist_items": counts["checklist"],
                                "sentences": counts["sentences"]}
    return CopiedBuild(
        build=build_id, documents=len(documents), passages=counts["passages"], checklist_items=counts["checklist"],
        sentences=counts["sentences"], exact_vectors=vectors.exact / max(1, vectors.total),
        seconds=time.perf_counter() - started,
    )

