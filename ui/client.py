"""A small client of the HTTP API, for the chat and the launcher: the only module of the UI
that imports httpx. Errors become one `ServiceError` whose message is the service's detail."""

from __future__ import annotations

import httpx


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

    def _call(self, method: str, path: str, **kwargs) -> dict:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError:
            raise ServiceError(0, f"the guidance service is not reachable at {self.base_url}") from None
        if response.status_code >= 400:
            raise ServiceError(response.status_code, _detail(response))
        return response.json()

    def health(self) -> dict:
        return self._call("GET", "/api/health", timeout=5.0)

    def documents(self) -> dict:
        return self._call("GET", "/api/documents")

    def document(self, doc_id: str) -> dict:
        return self._call("GET", f"/api/documents/{doc_id}")

    def ask(self, question: str, *, area: str | None = None, role: str = "practitioner",
            mode: str = "extractive", context: list[str] | None = None) -> dict:
        """`context`: the earlier user messages of the conversation, oldest first."""
        return self._call("POST", "/api/ask", json={"question": question, "area": area, "role": role, "mode": mode,
                                                    "context": list(context or [])})

    def search(self, query: str, *, area: str | None = None, k: int = 8) -> dict:
        return self._call("POST", "/api/search", json={"query": query, "area": area, "k": k})

    def feedback(self, rating: str, passage_ids: list[str], question: str | None = None) -> dict:
        body = {"rating": rating, "passage_ids": passage_ids, "store_question": question is not None}
        if question is not None:
            body["question"] = question
        return self._call("POST", "/api/feedback", json=body)

    def close(self) -> None:
        self._http.close()
