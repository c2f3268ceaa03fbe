"""Helpers for the reliability, security and privacy tests: a small copy of the corpus, `hha`
child processes with a network guard, and a fake embedder for tests that need no meaning."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import numpy as np

from evals.service import hha_command, hha_env

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
NET_GUARD_DIR = Path(__file__).resolve().parent / "netguard"
# Two short documents, one local protocol and one national: a complete build in seconds.
SMALL = ("practice-tips-parental-drug-use", "staffs-stoke-protocol")


def small_corpus(dest: Path, stems: tuple[str, ...] = SMALL, suffix: str = "", extra_line: str = "") -> Path:
    """Copy some corpus documents and their manifest entries into `dest`. A `suffix` renames
    the files (so every document id, and so every passage id, differs from the originals);
    an `extra_line` is appended to each file (so its content hash differs)."""
    import tomllib

    dest.mkdir(parents=True, exist_ok=True)
    with open(CORPUS / "manifest.toml", "rb") as f:
        manifest = tomllib.load(f)
    entries = []
    for stem in stems:
        text = (CORPUS / f"{stem}.txt").read_text(encoding="utf-8")
        if extra_line:
            text = f"{text.rstrip()}\n\n{extra_line}\n"
        (dest / f"{stem}{suffix}.txt").write_text(text, encoding="utf-8")
        block = re.search(rf'(?ms)^\["{re.escape(stem)}"\]\n(.*?)(?=^\[|\Z)', (CORPUS / "manifest.toml").read_text())
        assert block and stem in manifest, stem
        entries.append(f'["{stem}{suffix}"]\n{block.group(1).strip()}\n')
    (dest / "manifest.toml").write_text("\n".join(entries), encoding="utf-8")
    return dest


def guard_env(violations: Path) -> dict:
    """Environment that makes a child Python process record (and refuse) every connection that
    would leave the machine, via `tests/netguard/sitecustomize.py`."""
    path = os.pathsep.join([str(NET_GUARD_DIR), str(ROOT)])
    return {"PYTHONPATH": path, "HHA_NET_GUARD_LOG": str(violations)}


def run_hha(args: list[str], data_dir: Path, *, env: dict | None = None, timeout: float = 180,
            cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(hha_command(*args), env=hha_env(data_dir, env), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def violations_in(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


class FakeEmbedder:
    """Deterministic bag-of-words vectors (hashed words) with the real token counter: for tests
    of ingest mechanics that must not wait for the model."""

    name = "fake"
    dimensions = 384

    def __init__(self):
        from assistant.embed import TokenCounter

        self.count_tokens = TokenCounter()

    def load(self) -> FakeEmbedder:
        return self

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dimensions, dtype=np.float32)
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            v[int(hashlib.md5(word.encode()).hexdigest()[:8], 16) % self.dimensions] += 1.0
        norm = float(np.linalg.norm(v))
        return v / norm if norm else v

    def embed_documents(self, texts, batch_size: int = 32, progress=None) -> np.ndarray:
        out = np.stack([self._vector(t) for t in texts]) if len(texts) else np.zeros((0, self.dimensions), np.float32)
        if progress:
            progress(len(texts))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)
