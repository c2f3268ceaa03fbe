"""LangChain's own standard tests (the `langchain-tests` package) against our adapters: the
retriever over a real Chroma index of two corpus documents built with the real MiniLM, and
the embeddings with the real model. The standard tests may not be overridden (a test checks)."""

from __future__ import annotations

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, RetrieversIntegrationTests
from support import small_corpus

from assistant.langchain import GuidanceRetriever, MiniLMEmbeddings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_assistant(tmp_path_factory, embedder):
    from assistant.core import Assistant
    from assistant.store import StoreLocation
    from ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp("langchain-standard")
    location = StoreLocation(root / "data")
    run_ingest([small_corpus(root / "corpus")], location, embedder=embedder)
    return Assistant(location, embedder=embedder)


class TestGuidanceRetriever(RetrieversIntegrationTests):
    _assistant = None

    @pytest.fixture(autouse=True)
    def _index(self, small_assistant):
        # The standard tests build the retriever from class properties, not fixtures.
        type(self)._assistant = small_assistant

    @property
    def retriever_constructor(self) -> type[GuidanceRetriever]:
        return GuidanceRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"assistant": self._assistant}

    @property
    def retriever_query_example(self) -> str:
        return "how should methadone be stored safely at home with children?"


class TestMiniLMEmbeddings(EmbeddingsIntegrationTests):
    _embedder = None

    @pytest.fixture(autouse=True)
    def _model(self, embedder):
        type(self)._embedder = embedder  # the session's model: loaded once for the whole suite

    @property
    def embeddings_class(self) -> type[MiniLMEmbeddings]:
        return MiniLMEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"embedder": self._embedder}


def test_k_and_area_at_call_time_match_the_assistant(small_assistant):
    retriever = GuidanceRetriever(assistant=small_assistant)
    query = "who do I contact about a child at risk?"
    docs = retriever.invoke(query, k=2)
    assert [d.metadata["passage_id"] for d in docs] == [h.passage.id for h in small_assistant.search(query, k=2)]
    area = small_assistant.index.areas[0]
    local = retriever.invoke(query, k=3, area=area)
    assert [d.metadata["passage_id"] for d in local] == [
        h.passage.id for h in small_assistant.search(query, k=3, area=area)
    ]


@pytest.mark.parametrize("k", [0, -1, "3", 2.5])
def test_a_bad_k_is_a_clear_error(small_assistant, k):
    with pytest.raises(ValueError, match="k must be a positive whole number"):
        GuidanceRetriever(assistant=small_assistant).invoke("methadone", k=k)


def test_embeddings_default_to_the_packaged_model():
    assert MiniLMEmbeddings().embedder.name == "all-MiniLM-L6-v2"
