"""LangChain adapters: the only module of the core that imports langchain.

- `MiniLMEmbeddings`: our embedder as LangChain `Embeddings` (the evaluation baseline uses it).
- `GuidanceRetriever`: our hybrid retriever as a LangChain `BaseRetriever`, for people who
  want to plug it into their own chains. Documents carry the passage's citation metadata.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever


class MiniLMEmbeddings(Embeddings):
    def __init__(self, embedder):
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed_documents(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text).tolist()


class GuidanceRetriever(BaseRetriever):
    """Hybrid, area-aware retrieval over the protocols, as LangChain documents."""

    assistant: Any
    area: str | None = None
    k: int = 8

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        hits = self.assistant.search(query, area=self.area, k=self.k)
        return [
            LCDocument(
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
            for h in hits
        ]
