"""LangChain adapters: the only module of the core that imports langchain.

- `MiniLMEmbeddings`: our embedder as LangChain `Embeddings` (the evaluation baseline uses it).
- `GuidanceRetriever`: our hybrid retriever as a LangChain `BaseRetriever`, for people who
  want to plug it into their own chains. Documents carry the passage's citation metadata.

Both pass LangChain's own standard tests (`tests/test_langchain_standard.py`): `k` and `area`
may be given at call time (`retriever.invoke(query, k=3)`), and the async variants run the
CPU-bound work in a worker thread so an event loop is never blocked.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor

_UNSET: Any = object()


class MiniLMEmbeddings(Embeddings):
    """MiniLM as LangChain embeddings; with no embedder given, the packaged model (loaded on first use)."""

    def __init__(self, embedder=None):
        if embedder is None:
            from assistant.embed import Embedder

            embedder = Embedder()
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed_documents(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text).tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await run_in_executor(None, self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await run_in_executor(None, self.embed_query, text)


class GuidanceRetriever(BaseRetriever):
    """Hybrid, area-aware retrieval over the protocols, as LangChain documents."""

    assistant: Any
    area: str | None = None
    k: int = 8

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None, area: Any = _UNSET
    ) -> list[LCDocument]:
        k = self.k if k is None else k
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be a positive whole number, not {k!r}")
        hits = self.assistant.search(query, area=self.area if area is _UNSET else area, k=k)
        return [_document(h) for h in hits]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None, area: Any = _UNSET
    ) -> list[LCDocument]:
        return await run_in_executor(
            None, self._get_relevant_documents, query, run_manager=run_manager.get_sync(), k=k, area=area
        )


def _document(h) -> LCDocument:
    return LCDocument(
        page_content=h.passage.text,
        metadata={
            "passage_id": h.passage.id,
            "document_id": h.passage.doc_id,
            "title": h.passage.title,
            "area": h.passage.area,
            "section": h.passage.section_label,
            "page": h.passage.page,
            "score": h.score,
            "citation": h.passage.citation_label,
        },
    )
