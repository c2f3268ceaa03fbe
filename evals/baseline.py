"""The naive LangChain quickstart pipeline we measure ourselves against, built in the same
run with the same model: RecursiveCharacterTextSplitter(1000, 200) over the raw text,
MiniLM vectors in Chroma, top-4 chunks shown as the answer."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


class Baseline:
    def __init__(self, corpus_files: list[Path], embedder):
        from langchain_chroma import Chroma
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from assistant.langchain import MiniLMEmbeddings

        started = time.perf_counter()
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        texts = [p.read_text(encoding="utf-8") for p in corpus_files]
        chunks = splitter.create_documents(texts, metadatas=[{"source": p.stem} for p in corpus_files])
        self._dir = tempfile.TemporaryDirectory(prefix="hha-baseline-")
        self.store = Chroma.from_documents(
            chunks, embedding=MiniLMEmbeddings(embedder), persist_directory=self._dir.name,
            collection_name="baseline",
        )
        self.chunks = len(chunks)
        self.ingest_seconds = time.perf_counter() - started
        self.chunk_texts = [c.page_content for c in chunks]

    @staticmethod
    def warm(embedder) -> None:
        """Import what the pipeline imports and load its model, so that its ingest is timed as
        ours is: with the model loaded."""
        import langchain_chroma  # noqa: F401
        import langchain_text_splitters  # noqa: F401

        embedder.embed_documents(["a text to load the model with"])

    def search(self, question: str, k: int = 8) -> list[tuple[str, str]]:
        """(source, text) of the top-k chunks."""
        return [(d.metadata["source"], d.page_content) for d in self.store.similarity_search(question, k=k)]

    def answer(self, question: str) -> list[tuple[str, str]]:
        return self.search(question, k=4)

    def close(self) -> None:
        self._dir.cleanup()
