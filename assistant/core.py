"""The assistant as one object: the live index, the embedder (loaded once per process), the
retriever and the composer. It follows the index pointer, so a re-ingest is picked up by a
running service between requests, never in the middle of one."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from assistant.embed import Embedder, query_lanes, query_threads
from assistant.records import Answer, Hit
from assistant.retrieve import Index, Retriever
from assistant.store import Catalog, StoreLocation


class Assistant:
    def __init__(self, location: StoreLocation, embedder: Embedder | None = None, chat_model=None,
                 max_source_age_years: float | None = None):
        self.catalog = Catalog(location)
        self.max_source_age_years = max_source_age_years  # older sources are flagged beside citations
        self.embedder = embedder or Embedder(threads=query_threads(), lanes=query_lanes())
        self.chat_model = chat_model  # optional: a LangChain chat model on a local server
        self._lock = threading.Lock()
        self._stamp: str | None = None
        self._state: tuple[Index, Retriever, object] | None = None

    def _current(self):
        from assistant.compose import Composer

        stamp = self.catalog.pointer_stamp()
        state = self._state
        if state is not None and stamp == self._stamp:
            return state
        with self._lock:
            if self._state is None or stamp != self._stamp:
                index = Index.load(self.catalog)
                retriever = Retriever(index, self.embedder)
                # One reference swap: a request holds the state it started with.
                self._state = (index, retriever, Composer(retriever))
                self._stamp = stamp
            return self._state

    @property
    def index(self) -> Index:
        return self._current()[0]

    def answer(
        self, question: str, *, area: str | None = None, role: str = "practitioner", mode: str = "extractive",
        context: Sequence[str] = (),
    ) -> Answer:
        """`context`: the earlier user messages of this conversation, oldest first (kept by the
        caller, never here): the question is answered in the light of the case it follows."""
        from assistant import conversation
        from assistant.compose import validate_question
        from assistant.errors import UnknownAreaError
        from assistant.provenance import annotate

        index, _, composer = self._current()
        if area is not None and area not in index.areas:
            raise UnknownAreaError(area, index.areas)
        context = [validate_question(m) for m in context if m and m.strip()]
        turn = conversation.read_turn(context, validate_question(question), areas=index.local_areas, area=area)

        def read(text: str, area_: str | None):
            return composer.plan(text, area=area_, role=role)

        plan = conversation.plan_turn(turn, read, composer.tuning.case_facets)
        answer = composer.answer(question, area=area, role=role, plan=plan)
        answer = conversation.finish(answer, turn, had_context=bool(context))
        answer = annotate(answer, index.documents, max_age_years=self.max_source_age_years)
        if mode == "llm" and self.chat_model is not None:
            from assistant.llm import rewrite

            return rewrite(answer, self.chat_model)
        return answer

    def search(self, query: str, *, area: str | None = None, k: int = 8) -> list[Hit]:
        from assistant.compose import validate_question
        from assistant.errors import UnknownAreaError

        _, retriever, _ = self._current()
        text = validate_question(query)
        if area is not None and area not in retriever.index.areas:
            raise UnknownAreaError(area, retriever.index.areas)
        return retriever.search(text, area=retriever.resolve_area(text, area), k=k)
