"""A small client of the HTTP API, for the chat and the launcher: the only module of the UI
that imports httpx. Responses come back as the API's own models (`ui.schema`); errors become
one `ServiceError` whose message is the service's detail."""

from __future__ import annotations

from typing import TypeVar

import httpx
from pydantic import BaseModel

from ui import schema

M = TypeVar("M", bound=BaseModel)


class ServiceError(Exception):
    """The service answered with an error, or could not be reached (status 0)."""

    def __init__(self, status: int, detail: str):
        self.status = status
        self.detail = detail
        super().__init__(detail)


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    if isinstance(detail, list):  # validation errors: one line per field
        detail = "; ".join(f"{'.'.join(str(x) for x in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail)
    return str(detail or f"the service answered {response.status_code}")


class Client:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 120.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError:
            raise ServiceError(0, f"the guidance service is not reachable at {self.base_url}") from None
        if response.status_code >= 400:
            raise ServiceError(response.status_code, _detail(response))
        return response

    def _call(self, model: type[M], method: str, path: str, **kwargs) -> M:
        return model.model_validate_json(self._send(method, path, **kwargs).content)

    def health(self) -> schema.Health:
        return self._call(schema.Health, "GET", "/api/health", timeout=5.0)

    def documents(self) -> schema.DocumentsResponse:
        return self._call(schema.DocumentsResponse, "GET", "/api/documents")

    def document(self, doc_id: str) -> schema.DocumentResponse:
        return self._call(schema.DocumentResponse, "GET", f"/api/documents/{doc_id}")

    def ask(self, question: str, *, area: str | None = None, role: str = "practitioner",
            mode: str = "extractive", context: list[str] | None = None) -> schema.AnswerResponse:
        """`context`: the earlier user messages of the conversation, oldest first."""
        return self._call(schema.AnswerResponse, "POST", "/api/ask",
                          json={"question": question, "area": area, "role": role, "mode": mode,
                                "context": list(context or [])})

    def search(self, query: str, *, area: str | None = None, k: int = 8) -> schema.SearchResponse:
        return self._call(schema.SearchResponse, "POST", "/api/search", json={"query": query, "area": area, "k": k})

    def feedback(self, rating: str, passage_ids: list[str], question: str | None = None) -> schema.FeedbackResponse:
        body = {"rating": rating, "passage_ids": passage_ids, "store_question": question is not None}
        if question is not None:
            body["question"] = question
        return self._call(schema.FeedbackResponse, "POST", "/api/feedback", json=body)

    # -- the source library ----------------------------------------------------------------

    def sources(self) -> schema.SourcesResponse:
        return self._call(schema.SourcesResponse, "GET", "/api/sources")

    def propose(self, name: str, content: bytes) -> schema.Proposal:
        return self._call(schema.Proposal, "POST", "/api/sources/proposal", files={"file": (name, content)})

    def add_source(self, name: str, content: bytes, *, replaces: str | None = None, **fields: str | None) -> schema.Job:
        """Upload a source file (fields: area, places, title, kind, version, date, review_date)."""
        data = {k: v for k, v in {**fields, "replaces": replaces}.items() if v}
        return self._call(schema.Job, "POST", "/api/sources", files={"file": (name, content)}, data=data,
                          timeout=300.0)

    def remove_source(self, source_id: str) -> schema.Job:
        return self._call(schema.Job, "DELETE", f"/api/sources/{source_id}")

    def job(self, job_id: str) -> schema.Job:
        return self._call(schema.Job, "GET", f"/api/sources/jobs/{job_id}", timeout=10.0)

    def cited_page(self, passage_id: str, spans: list[tuple[int, int]]) -> tuple[bytes, int, bool]:
        """The page a passage is printed on as a PNG, the page number, and whether the quote is marked."""
        response = self._send("GET", f"/api/passages/{passage_id}/page",
                              params=[("span", f"{a}:{b}") for a, b in spans])
        return response.content, int(response.headers.get("x-page", 0)), response.headers.get("x-highlighted") == "true"

    def close(self) -> None:
        self._http.close()
