"""The vector store: Chroma, local (`PersistentClient`) or a `chroma run` server.

The only module that imports chromadb. We always hand Chroma our own vectors; its default
embedder would download a model. Telemetry is off.

Builds are atomic. Each ingest writes a new build beside the live one and only when it is
complete moves the pointer to it, so a crash mid-ingest leaves the previous build serving:
- local: one Chroma directory per build under `<data>/index/builds/<id>/`, a `COMPLETE`
  marker written last, and the pointer file `<data>/index/CURRENT` replaced atomically.
  A reader never opens a directory a writer is writing (one process per Chroma directory).
- server: one pair of collections per build, flagged complete in their metadata, and a
  pointer collection whose metadata names the live build (one atomic metadata update).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from assistant.embed import DIMENSIONS
from assistant.errors import IndexLockedError, NoIndexError, StoreUnavailableError
from assistant.records import ChecklistItem, Document, Passage

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

_BATCH = 1000
_PAGE = 10_000  # Chroma binds one SQL variable per record read; SQLite allows 32,766
_PARTS = ("passages", "checklist", "sentences")


@dataclass(frozen=True)
class StoreLocation:
    data_dir: Path
    host: str | None = None  # a `chroma run` server, when set
    port: int = 8000

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"


def _settings():
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


def import_chromadb() -> None:
    """Import chromadb now (seconds), e.g. on a thread while the model embeds."""
    import chromadb  # noqa: F401


def _local_client(path: Path):
    import chromadb

    return chromadb.PersistentClient(path=str(path), settings=_settings())


def _server_client(location: StoreLocation):
    import chromadb

    return chromadb.HttpClient(host=location.host, port=location.port, settings=_settings())


def _passage_metadata(p: Passage) -> dict:
    return {
        "doc_id": p.doc_id,
        "title": p.title,
        "area": p.area,
        "section": json.dumps(list(p.section), ensure_ascii=False),
        "paragraph": p.paragraph or "",
        "page": p.page if p.page is not None else -1,
        "order": p.order,
        "twin_of": p.twin_of or "",
        "ocr": p.ocr,
    }


def _passage_from(pid: str, text: str, m: dict) -> Passage:
    return Passage(
        id=pid,
        doc_id=m["doc_id"],
        title=m["title"],
        area=m["area"],
        section=tuple(json.loads(m["section"])),
        paragraph=m["paragraph"] or None,
        page=None if m["page"] == -1 else int(m["page"]),
        order=int(m["order"]),
        text=text,
        twin_of=m["twin_of"] or None,
        ocr=bool(m.get("ocr", False)),
    )


def _with_keys(metadatas: list[dict], keys: Sequence[str] | None, start: int) -> list[dict]:
    if keys is None:
        return metadatas
    return [{**m, "vkey": keys[start + n]} for n, m in enumerate(metadatas)]


def _pages(collection, include: list[str]) -> Iterator[dict]:
    """Every record of a collection, a page at a time (one large read fails past ~32k records)."""
    offset = 0
    while True:
        got = collection.get(include=include, limit=_PAGE, offset=offset)
        yield got
        if len(got["ids"]) < _PAGE:
            return
        offset += _PAGE


def _get_all(collection, include: list[str]) -> dict:
    """Every record of a collection, read in pages."""
    out: dict = {"ids": [], **{k: [] for k in include}}
    for got in _pages(collection, include):
        out["ids"].extend(got["ids"])
        for key in include:
            values = got[key]
            out[key].extend(list(values) if values is not None else [])
    _release_free_memory()
    return out


def _release_free_memory() -> None:
    """Give the heap freed after a large read back to the system. A read of 4,000 passages
    left ~60 MB resident after its records were dropped (measured); at a national library's
    size that is most of the memory budget of the service."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "malloc_trim"):  # glibc only
            libc.malloc_trim(0)
    except OSError:
        pass


class Build:
    """One complete (or being-written) index: passages, checklist items, documents."""

    def __init__(self, build_id: str, passages_collection=None, checklist_collection=None, sentences_collection=None,
                 cache_dir: Path | None = None, connect=None):
        self.id = build_id
        self._given = (passages_collection, checklist_collection, sentences_collection)
        # `connect()`: the three collections, opened on first use. A start that finds the
        # reading files below never imports chromadb (seconds of a cold start) unless it searches
        # Chroma's HNSW index.
        self._connect = connect
        self._counts: dict[str, int] = {}
        self.cache_dir = cache_dir  # where this machine keeps a file copy of the sentence vectors
        self._reading: tuple[dict, dict] | None = None

    @cached_property
    def _collections(self) -> tuple:
        return self._connect() if self._connect is not None else self._given

    @property
    def _passages(self):
        return self._collections[0]

    @property
    def _checklist(self):
        return self._collections[1]

    @property
    def _sentences(self):
        return self._collections[2]

    # -- writing -----------------------------------------------------------------------
    # `keys` (optional) name each vector by what was embedded (a hash of the exact text and the
    # model), so the next build can reuse it instead of embedding the same text again.
    def add_passages(self, passages: Sequence[Passage], vectors: np.ndarray, keys: Sequence[str] | None = None) -> None:
        for start in range(0, len(passages), _BATCH):
            chunk = passages[start : start + _BATCH]
            self._passages.add(
                ids=[p.id for p in chunk],
                embeddings=vectors[start : start + _BATCH],
                documents=[p.text for p in chunk],
                metadatas=_with_keys([_passage_metadata(p) for p in chunk], keys, start),
            )

    def add_checklist(self, items: Sequence[ChecklistItem], vectors: np.ndarray, keys: Sequence[str] | None = None) -> None:
        for start in range(0, len(items), _BATCH):
            chunk = items[start : start + _BATCH]
            self._checklist.add(
                ids=[i.id for i in chunk],
                embeddings=vectors[start : start + _BATCH],
                documents=[i.text for i in chunk],
                metadatas=_with_keys([{"record": json.dumps(i.to_dict(), ensure_ascii=False)} for i in chunk], keys,
                                     start),
            )

    def add_sentences(self, spans: Sequence[tuple[str, int, int]], vectors: np.ndarray,
                      keys: Sequence[str] | None = None) -> None:
        """Vectors of the guidance sentences of each passage, by (passage id, start, end)."""
        for start in range(0, len(spans), _BATCH):
            chunk = spans[start : start + _BATCH]
            self._sentences.add(
                ids=[f"{pid}:{a}:{b}" for pid, a, b in chunk],
                embeddings=vectors[start : start + _BATCH],
                metadatas=_with_keys([{"passage_id": pid, "start": a, "end": b} for pid, a, b in chunk], keys, start),
            )

    def vector_cache(self) -> dict[str, np.ndarray]:
        """Every vector of this build that was stored with its key (see `add_passages`)."""
        cache: dict[str, np.ndarray] = {}
        for collection in (self._passages, self._checklist, self._sentences):
            got = _get_all(collection, ["metadatas", "embeddings"])
            for meta, vector in zip(got["metadatas"], got["embeddings"], strict=True):
                key = (meta or {}).get("vkey")
                if key:
                    cache[key] = np.asarray(vector, dtype=np.float32)
        return cache

    def sentences(self) -> tuple[list[tuple[str, int, int]], np.ndarray]:
        """Every sentence's span and vector. Read in pages straight into one float32 matrix:
        a list of Python floats per vector would cost 24 bytes a number at its peak."""
        spans: list[tuple[str, int, int]] = []
        pages: list[np.ndarray] = []
        for got in _pages(self._sentences, ["metadatas", "embeddings"]):
            spans.extend((m["passage_id"], int(m["start"]), int(m["end"])) for m in got["metadatas"])
            pages.append(np.asarray(got["embeddings"], dtype=np.float32).reshape(-1, DIMENSIONS))
        matrix = np.concatenate(pages) if pages else np.zeros((0, DIMENSIONS), dtype=np.float32)
        del pages
        _release_free_memory()
        return spans, matrix

    def sentence_file(self) -> tuple[list[tuple[str, int, int]], np.ndarray]:
        """Every sentence's span and vector, the vectors memory-mapped from a file beside the
        build (written from Chroma on first use, atomically). Rows are read from disk only when
        touched, so a national library's sentence vectors need not all be resident, the file is
        shared by every process on the machine, and loading is a file open instead of a paged
        read of the store. Without a cache directory (or if it cannot be written): in memory."""
        if self.cache_dir is None:
            return self.sentences()
        vectors_path = self.cache_dir / f"{self.id}-sentences.npy"
        ids_path = self.cache_dir / f"{self.id}-sentences.ids"
        if not (vectors_path.exists() and ids_path.exists()):
            spans, matrix = self.sentences()
            try:
                self._write_sentence_file(spans, matrix, vectors_path, ids_path)
            except OSError:
                return spans, matrix
        spans = []
        for line in ids_path.read_text(encoding="utf-8").splitlines():
            pid, a, b = line.rsplit(":", 2)
            spans.append((pid, int(a), int(b)))
        matrix = np.load(vectors_path, mmap_mode="r")
        if matrix.shape != (len(spans), DIMENSIONS):
            raise ValueError(f"{vectors_path} does not match its ids file: delete both and load again")
        return spans, matrix

    def _write_sentence_file(self, spans, matrix: np.ndarray, vectors_path: Path, ids_path: Path) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tag = f".{os.getpid()}.tmp"
        with open(vectors_path.with_name(vectors_path.name + tag), "wb") as f:
            np.save(f, np.ascontiguousarray(matrix, dtype=np.float32))
            f.flush()
            os.fsync(f.fileno())
        ids_path.with_name(ids_path.name + tag).write_text("".join(f"{p}:{a}:{b}\n" for p, a, b in spans),
                                                           encoding="utf-8")
        # The ids first, then the vectors: a reader checks for both, and they match in shape.
        os.replace(ids_path.with_name(ids_path.name + tag), ids_path)
        os.replace(vectors_path.with_name(vectors_path.name + tag), vectors_path)
        for stale in self.cache_dir.glob("*-sentences.*"):
            if not stale.name.startswith(f"{self.id}-") and not stale.name.endswith(".tmp"):
                stale.unlink(missing_ok=True)

    def count(self, which: str = "passages") -> int:
        if which not in self._counts:
            ids = self.cache_dir / f"{self.id}-sentences.ids" if self.cache_dir is not None else None
            if which == "sentences" and ids is not None and ids.exists():
                with open(ids, "rb") as f:
                    self._counts[which] = sum(1 for _ in f)
            else:
                self._counts[which] = self._collection(which).count()
        return self._counts[which]

    # -- reading -----------------------------------------------------------------------
    # What answering reads (passages, checklist items and their vectors) is kept in two files
    # beside the build, written from Chroma on first use like the sentence vectors: a build
    # never changes, and reading them is a fraction of a second without chromadb.
    def _reading_files(self) -> tuple[dict, dict]:
        if self._reading is None:
            self._reading = self._read_reading_files() or self._reading_from_chroma()
        return self._reading

    def _read_reading_files(self) -> tuple[dict, dict] | None:
        if self.cache_dir is None:
            return None
        records, arrays = self.cache_dir / f"{self.id}-reading.json", self.cache_dir / f"{self.id}-reading.npz"
        if not (records.exists() and arrays.exists()):
            return None
        try:
            with np.load(arrays) as npz:
                vectors = {k: npz[k] for k in npz.files}
            return json.loads(records.read_text(encoding="utf-8")), vectors
        except (OSError, ValueError):
            return None

    def _reading_from_chroma(self) -> tuple[dict, dict]:
        passages = _get_all(self._passages, ["documents", "metadatas", "embeddings"])
        items = _get_all(self._checklist, ["metadatas", "embeddings"])
        records = {"passages": [list(r) for r in zip(passages["ids"], passages["documents"], passages["metadatas"],
                                                     strict=True)],
                   "checklist_ids": list(items["ids"]), "checklist": [m["record"] for m in items["metadatas"]]}
        vectors = {"passages": np.asarray(passages["embeddings"], dtype=np.float32).reshape(-1, DIMENSIONS),
                   "checklist": np.asarray(items["embeddings"], dtype=np.float32).reshape(-1, DIMENSIONS)}
        del passages, items
        _release_free_memory()
        if self.cache_dir is not None:
            try:
                self._write_reading_files(records, vectors)
            except OSError:
                pass
        return records, vectors

    def _write_reading_files(self, records: dict, vectors: dict) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tag = f".{os.getpid()}.tmp"
        json_path, npz_path = self.cache_dir / f"{self.id}-reading.json", self.cache_dir / f"{self.id}-reading.npz"
        with open(npz_path.with_name(npz_path.name + tag), "wb") as f:
            np.savez(f, **vectors)
            f.flush()
            os.fsync(f.fileno())
        json_path.with_name(json_path.name + tag).write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        os.replace(npz_path.with_name(npz_path.name + tag), npz_path)
        os.replace(json_path.with_name(json_path.name + tag), json_path)
        for stale in self.cache_dir.glob("*-reading.*"):
            if not stale.name.startswith(f"{self.id}-") and not stale.name.endswith(".tmp"):
                stale.unlink(missing_ok=True)

    def passages(self) -> list[Passage]:
        out = [_passage_from(i, t, m) for i, t, m in self._reading_files()[0]["passages"]]
        return sorted(out, key=lambda p: (p.doc_id, p.order))

    def checklist(self) -> list[ChecklistItem]:
        return [ChecklistItem.from_dict(json.loads(r)) for r in self._reading_files()[0]["checklist"]]

    def vectors(self, which: str = "passages") -> tuple[list[str], np.ndarray]:
        records, vectors = self._reading_files()
        if which == "passages":
            return [r[0] for r in records["passages"]], vectors["passages"]
        return list(records["checklist_ids"]), vectors["checklist"]

    def forget_reading(self) -> None:
        """Drop the records read for loading (the index keeps its own objects)."""
        self._reading = None

    def _collection(self, which: str):
        collections = {"passages": self._passages, "checklist": self._checklist, "sentences": self._sentences}
        if which not in collections:
            raise ValueError(f"no such part of a build: {which!r} (one of {', '.join(collections)})")
        return collections[which]

    def query(self, vectors: np.ndarray, k: int, which: str = "passages") -> list[list[tuple[str, float]]]:
        """Nearest neighbours of each query vector, as (id, cosine similarity) lists, from
        Chroma's HNSW index (approximate). For "sentences" an id is "passage id:start:end"."""
        collection = self._collection(which)
        count = self.count(which)
        if count == 0:
            return [[] for _ in vectors]
        got = collection.query(query_embeddings=list(vectors), n_results=min(k, count), include=["distances"])
        return [
            [(i, 1.0 - float(d)) for i, d in zip(ids, distances, strict=True)]
            for ids, distances in zip(got["ids"], got["distances"], strict=True)
        ]


class Catalog:
    """Where builds live and which one is live."""

    def __init__(self, location: StoreLocation):
        self.location = location
        self.location.index_dir.mkdir(parents=True, exist_ok=True)
        self._server = None
        if location.host:
            try:
                self._server = _server_client(location)
            except Exception as exc:  # noqa: BLE001 - chromadb raises ValueError and others here
                raise StoreUnavailableError(
                    f"cannot reach the Chroma server at {location.host}:{location.port} ({str(exc)[:160]})"
                ) from None

    # -- pointer -----------------------------------------------------------------------
    @property
    def _pointer_file(self) -> Path:
        return self.location.index_dir / "CURRENT"

    def current(self) -> dict | None:
        """The live build's record ({"build": id, "documents": [...], "report": {...}})."""
        if self._server is not None:
            try:
                meta = self._server.get_collection("hha-pointer").metadata or {}
            except Exception:  # noqa: BLE001 - chromadb raises several types for "not found"
                return None
            return json.loads(meta["record"]) if "record" in meta else None
        try:
            return json.loads(self._pointer_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def current_id(self) -> str | None:
        record = self.current()
        return record["build"] if record else None

    def pointer_stamp(self) -> str | None:
        """Something cheap that changes when the pointer moves (for readers to poll)."""
        if self._server is not None:
            return self.current_id()
        try:
            st = self._pointer_file.stat()
        except FileNotFoundError:
            return None
        return f"{st.st_mtime_ns}:{st.st_size}"

    def _set_current(self, record: dict) -> None:
        payload = json.dumps(record, ensure_ascii=False)
        if self._server is not None:
            pointer = self._server.get_or_create_collection("hha-pointer", embedding_function=None)
            pointer.modify(metadata={"record": payload})
            return
        tmp = self._pointer_file.with_suffix(".tmp")
        tmp.write_text(payload, encoding="utf-8")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self._pointer_file)

    # -- builds ------------------------------------------------------------------------
    def _build_dir(self, build_id: str) -> Path:
        return self.location.index_dir / "builds" / build_id

    def _collections(self, client, build_id: str, create: bool):
        names = tuple(f"hha-{build_id}-{part}" for part in _PARTS)
        if create:
            return tuple(
                client.create_collection(n, embedding_function=None, configuration={"hnsw": {"space": "cosine"}},
                                         metadata={"complete": False})
                for n in names
            )
        return tuple(client.get_collection(n, embedding_function=None) for n in names)

    def open(self, build_id: str | None = None) -> Build:
        """Open a complete build for reading: the live one unless named."""
        build_id = build_id or self.current_id()
        if build_id is None:
            raise NoIndexError("there is no index yet: run `hha ingest` to build it")
        if self._server is not None:
            client = self._server
        else:
            path = self._build_dir(build_id)
            if not (path / "COMPLETE").exists():
                raise NoIndexError(f"index build {build_id} is missing or incomplete: run `hha ingest`")
            chroma = path / "chroma"
            return Build(build_id, cache_dir=self._cache_dir(build_id),
                         connect=lambda: self._collections(_local_client(chroma), build_id, create=False))
        return Build(build_id, *self._collections(client, build_id, create=False), cache_dir=self._cache_dir(build_id))

    def _cache_dir(self, build_id: str) -> Path:
        # Local: inside the build, removed with it. Server: this machine's copy, one build kept.
        if self._server is not None:
            return self.location.index_dir / "cache"
        return self._build_dir(build_id)

    @contextmanager
    def writing(self, build_id: str, record: dict) -> Iterator[Build]:
        """Write a new build; on a clean exit mark it complete and make it live."""
        self._remove_partial_builds()
        if self._server is not None:
            client = self._server
            for suffix in _PARTS:
                try:
                    client.delete_collection(f"hha-{build_id}-{suffix}")
                except Exception:  # noqa: BLE001 - absent is fine
                    pass
        else:
            path = self._build_dir(build_id)
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
            client = _local_client(path / "chroma")
        collections = self._collections(client, build_id, create=True)
        yield Build(build_id, *collections)
        if self._server is not None:
            for collection in collections:
                collection.modify(metadata={"complete": True})
        else:
            marker = self._build_dir(build_id) / "COMPLETE"
            marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%S"), encoding="utf-8")
        previous = self.current_id()
        self._set_current({**record, "build": build_id})
        self._remove_old_builds(keep={build_id, previous})

    def _remove_partial_builds(self) -> None:
        if self._server is not None:
            for collection in self._server.list_collections():
                name = collection.name
                if name.startswith("hha-") and name != "hha-pointer":
                    meta = self._server.get_collection(name, embedding_function=None).metadata or {}
                    if not meta.get("complete"):
                        self._server.delete_collection(name)
            return
        builds = self.location.index_dir / "builds"
        if builds.exists():
            for path in builds.iterdir():
                if not (path / "COMPLETE").exists():
                    shutil.rmtree(path, ignore_errors=True)

    def _remove_old_builds(self, keep: set[str | None]) -> None:
        # The previous build is kept: a reader may still be answering from it.
        if self._server is not None:
            for collection in self._server.list_collections():
                name = collection.name
                if name.startswith("hha-") and name != "hha-pointer" and name.split("-")[1] not in keep:
                    self._server.delete_collection(name)
            return
        builds = self.location.index_dir / "builds"
        for path in builds.iterdir():
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)

    # -- vectors for the next build to reuse ------------------------------------------------
    def save_vectors(self, build_id: str, keys: Sequence[str], matrix: np.ndarray) -> None:
        """Keep a build's vectors by key beside it (local store), so the next ingest reuses them
        without opening a Chroma directory that a running service may have open."""
        if self._server is not None:
            return  # a server is read through its API: `Build.vector_cache`
        unique = dict(zip(keys, range(len(keys)), strict=True))
        path = self._build_dir(build_id)
        np.save(path / "vectors.npy", matrix[list(unique.values())].astype(np.float32))
        (path / "vector-keys.json").write_text(json.dumps(list(unique)), encoding="utf-8")

    def load_vectors(self, build_id: str) -> dict[str, np.ndarray]:
        if self._server is not None:
            return self.open(build_id).vector_cache()
        path = self._build_dir(build_id)
        try:
            keys = json.loads((path / "vector-keys.json").read_text(encoding="utf-8"))
            matrix = np.load(path / "vectors.npy")
        except (OSError, ValueError):
            return {}
        if len(keys) != len(matrix):
            return {}
        return dict(zip(keys, matrix, strict=True))

    # -- the writer's lock -------------------------------------------------------------
    @contextmanager
    def write_lock(self) -> Iterator[None]:
        lock_path = self.location.index_dir / "ingest.lock"
        with open(lock_path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise IndexLockedError(
                    f"index is locked: an ingest ({holder}) is writing it; try again when it finishes"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)


def documents_from_record(record: dict) -> list[Document]:
    known = set(Document.__dataclass_fields__)
    return [
        Document(**{
            **{k: v for k, v in d.items() if k in known},
            "places": tuple(d.get("places", ())),
            "ocr_pages": tuple(d.get("ocr_pages", ())),
        })
        for d in record.get("documents", [])
    ]
