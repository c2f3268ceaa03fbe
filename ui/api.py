"""The HTTP API: one process owns the index and answers every client (the chat, scripts).

Thin routes, one core call each; settings come in from the entry point. Privacy: no question
or answer text reaches a log or the disk (feedback keeps a question only when the person asks
it to), errors never echo the question, and the access log holds a request id, method, path,
status and time. Binds to loopback; anywhere else it needs a bearer token.

    hha serve                       # http://127.0.0.1:8765/docs
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import threading
import time
import traceback
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from assistant.compose import MAX_QUESTION_CHARS
from assistant.conversation import MAX_CONTEXT_MESSAGES
from assistant.errors import (
    AssistantError,
    BadQuestionError,
    IndexLockedError,
    ModelUnavailableError,
    NoIndexError,
    UnknownAreaError,
)
from assistant.settings import Settings
from ui import schema
from ui.library_jobs import JobRunningError, LibraryJobs
from ui.workqueue import Busy, WorkQueue

log = logging.getLogger("hha.api")

MAX_BODY_BYTES = 64 * 1024
READY_WAIT_SECONDS = 180
BUILDING_DETAIL = (
    "The guidance index is being built (first run, a few minutes). Try again shortly; "
    "GET /api/health shows the progress."
)


class UnsafeBindError(AssistantError):
    """Listening beyond this machine without a token."""


# -- the service's state ---------------------------------------------------------------------


class Service:
    """The assistant this process owns and the state of its index: "building" (there was no
    index: one is being built), "loading" (model and index loading), "ready" or "failed"."""

    def __init__(self, settings: Settings, assistant=None, queue: WorkQueue | None = None):
        self.settings = settings
        self.assistant = assistant
        self.status = "starting"
        self.progress: dict | None = None
        self.problem: str | None = None
        # Answers run on worker threads (four per core), a bounded number waiting; the event
        # loop only awaits them, so health checks and the docs stay quick under load.
        self.queue = queue or WorkQueue(settings.workers or None, settings.queue_depth)
        self._settled = threading.Event()
        self._start_lock = threading.Lock()
        self._started = False
        self._index_error: Exception | None = None

    def start(self) -> None:
        """Idempotent: decide now whether an index must be built, then prepare in the background."""
        with self._start_lock:
            if self._started:
                return
            self._started = True
            try:
                if self.assistant is None:
                    self.assistant = _open_assistant(self.settings)
                missing = self.assistant.catalog.current_id() is None
            except Exception as exc:  # noqa: BLE001 - e.g. a Chroma server that is not there
                self._fail(exc)
                return
            self.status = "building" if missing else "loading"
        threading.Thread(target=self._prepare, args=(missing,), name="hha-prepare", daemon=True).start()

    def _prepare(self, build: bool) -> None:
        try:
            if build:
                self._build()
                self.status = "loading"
            # The model and the index load side by side: one is mostly torch starting, the
            # other Chroma reading, and a cold start is the sum of both otherwise.
            index = threading.Thread(target=self._load_index, name="hha-load-index", daemon=True)
            index.start()
            self.assistant.embedder.load()
            index.join()
            if self._index_error is not None:
                raise self._index_error
            self.status = "ready"
        except Exception as exc:  # noqa: BLE001 - reported by /api/health, never raised into a request
            self._fail(exc)
        finally:
            self._settled.set()

    def _load_index(self) -> None:
        try:
            _ = self.assistant.index
        except Exception as exc:  # noqa: BLE001 - re-raised in the preparing thread
            self._index_error = exc

    def _fail(self, exc: Exception) -> None:
        # Preparing involves no question, so the error may be shown and logged in full.
        self.problem = str(exc) if isinstance(exc, AssistantError) else f"{type(exc).__name__}: {exc}"
        self.status = "failed"
        self._settled.set()
        log.error("preparing the index failed: %s", self.problem, exc_info=not isinstance(exc, AssistantError))

    def _build(self) -> None:
        from ingest.pipeline import run_ingest

        log.info("no index yet: building it from %s", self.settings.corpus_dir)
        location = self.assistant.catalog.location
        while True:
            try:
                run_ingest([self.settings.corpus_dir], location, embedder=self.assistant.embedder,
                           progress=self._on_progress)
                return
            except IndexLockedError:
                # Another process (`hha ingest`) is writing: when it is done, ours is a no-op.
                self.progress = {"stage": "waiting for another process building the index", "done": 0, "total": 0}
                time.sleep(1)

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        self.progress = {"stage": stage, "done": done, "total": total}

    async def ready(self):
        """`ready_assistant` for a route: at once when ready (the usual case: no thread hop per
        request), else waited for off the event loop."""
        if self.status == "ready":
            return self.assistant
        return await run_in_threadpool(self.ready_assistant)

    def ready_assistant(self):
        """The assistant, once ready; a 503 while the index is being built or failed."""
        self.start()
        if self.status == "building":
            raise HTTPException(503, BUILDING_DETAIL)
        if self.status in ("starting", "loading"):
            self._settled.wait(READY_WAIT_SECONDS)
        if self.status == "failed":
            raise HTTPException(503, f"The guidance index is not available: {self.problem}")
        if self.status != "ready":
            raise HTTPException(503, "The guidance service is still starting; try again shortly.")
        return self.assistant


def _open_assistant(settings: Settings):
    """The assistant the settings describe; without the optional chat model if it cannot be had."""
    import assistant

    try:
        return assistant.open_assistant(settings)
    except ModelUnavailableError as exc:
        log.warning("the optional language model is off: %s", exc)
        from assistant.core import Assistant

        return Assistant(settings.store)


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]
_bearer = HTTPBearer(auto_error=False, description="Needed when the service has a token (HHA_API_TOKEN).")


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    token = request.app.state.settings.api_token
    if not token:
        return
    given = credentials.credentials if credentials else ""
    if not secrets.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
        raise HTTPException(401, "A valid bearer token is required.", headers={"WWW-Authenticate": "Bearer"})


# -- requests ----------------------------------------------------------------------------------

Role = Literal["practitioner", "manager", "trainer"]
PassageId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS,
                          description="A question or a case description (no names or identifying details).")
    area: str | None = Field(default=None, max_length=200, description="Your area, one of GET /api/documents areas.")
    role: Role = "practitioner"
    context: list[Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS)]] = Field(
        default_factory=list, max_length=MAX_CONTEXT_MESSAGES,
        description="The earlier user messages of this conversation, oldest first (the client keeps them; the "
                    "service keeps nothing). A follow-up is answered in the light of the case it follows; "
                    "`conversation` in the answer says what was carried over.",
    )
    mode: Literal["extractive", "llm"] = Field(
        default="extractive",
        description="extractive: the sources' own sentences. llm: also a short summary by the local language model, "
                    "each sentence checked against its sources (only when the service has one; see /api/health).",
    )


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    k: int = Field(default=8, ge=1, le=50)
    area: str | None = Field(default=None, max_length=200)


class FeedbackRequest(BaseModel):
    rating: Literal["up", "down"]
    passage_ids: list[PassageId] = Field(default_factory=list, max_length=100)
    question: str | None = Field(default=None, max_length=MAX_QUESTION_CHARS)
    store_question: bool = Field(default=False, description="Keep the question text with the rating.")


# -- routes ------------------------------------------------------------------------------------

api = APIRouter(prefix="/api", dependencies=[Depends(require_token)])
open_api = APIRouter(prefix="/api")


BUSY_RESPONSE = {503: {"description": "Every worker is busy and the queue is full: retry after `Retry-After` seconds."}}


def _json(make, *args) -> Response:
    """The response, checked against its model and encoded in the worker thread: an answer's
    JSON is tens of kilobytes, and encoding it on the event loop would hold up every other
    request meanwhile. (A route that returns a Response is not validated again by FastAPI.)"""
    return Response(make(*args).model_dump_json(), media_type="application/json")


def _answer(assistant, body: AskRequest) -> schema.AnswerResponse:
    from assistant.render import to_markdown

    answer = assistant.answer(body.question, area=body.area or None, role=body.role, mode=body.mode,
                              context=body.context)
    # Each citation carries the retrieval that brought its passage in (scores and ranks), for trainers.
    return schema.AnswerResponse(markdown=to_markdown(answer), **answer.to_dict())


@api.post("/ask", summary="Guidance for a question or a case, every sentence quoted and cited",
          response_model=schema.AnswerResponse, responses=BUSY_RESPONSE)
async def ask(body: AskRequest, service: ServiceDep) -> Response:
    # Waiting for the index to be ready may take a while: off the event loop, outside the queue.
    assistant = await service.ready()
    return await service.queue.run(_json, _answer, assistant, body)


def _search(assistant, body: SearchRequest) -> schema.SearchResponse:
    hits = assistant.search(body.query, area=body.area or None, k=body.k)
    return schema.SearchResponse(hits=[h.to_dict() for h in hits])


@api.post("/search", summary="The passages that best match a query, best first",
          response_model=schema.SearchResponse, responses=BUSY_RESPONSE)
async def search(body: SearchRequest, service: ServiceDep) -> Response:
    assistant = await service.ready()
    return await service.queue.run(_json, _search, assistant, body)


@api.get("/documents", response_model=schema.DocumentsResponse,
         summary="The source documents, with the areas they cover (GET /api/sources: what each gave the index)")
def documents(service: ServiceDep) -> schema.DocumentsResponse:
    index = service.ready_assistant().index
    return schema.DocumentsResponse(documents=[d.to_dict() for d in index.documents], areas=index.areas)


@api.get("/documents/{doc_id}", response_model=schema.DocumentResponse, responses={404: {"description": "No such document."}},
         summary="One document and its passages in reading order (a source viewer)")
def document(doc_id: str, service: ServiceDep) -> schema.DocumentResponse:
    index = service.ready_assistant().index
    doc = index.document(doc_id)
    if doc is None:
        raise HTTPException(404, "No document with that id: GET /api/documents lists them.")
    return schema.DocumentResponse(document=doc.to_dict(),
                                   passages=[p.to_dict() for p in index.passages if p.doc_id == doc_id])


@api.post("/feedback", response_model=schema.FeedbackResponse,
          summary="A rating of an answer: the cited passages, and the question only if asked")
def feedback(body: FeedbackRequest, request: Request, service: ServiceDep) -> schema.FeedbackResponse:
    record = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rating": body.rating,
        "passage_ids": body.passage_ids,
        "build": service.assistant.catalog.current_id() if service.status == "ready" else None,
    }
    keep_question = bool(body.store_question and body.question and body.question.strip())
    if keep_question:
        record["question"] = body.question.strip()
    path = request.app.state.settings.data_dir / "feedback.jsonl"
    with request.app.state.feedback_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return schema.FeedbackResponse(stored=True, question_stored=keep_question)


@open_api.get("/health", response_model=schema.Health, response_model_exclude_none=True,
              summary="Whether the index is ready, being built (with progress) or failed")
def health(service: ServiceDep) -> schema.Health:
    service.start()
    if service.status == "building":
        return schema.Health(status="building", progress=service.progress)
    if service.status == "failed":
        return schema.Health(status="failed", detail=service.problem)
    if service.status != "ready":
        return schema.Health(status=service.status)
    index = service.assistant.index
    return schema.Health(
        status="ready", build=index.record.get("build"), built_at=index.record.get("built_at"),
        documents=len(index.documents), passages=len(index.passages), areas=index.areas,
        modes=["extractive", "llm"] if getattr(service.assistant, "chat_model", None) else ["extractive"])


# -- errors: clear, and never the question back ---------------------------------------------------

_STATUS = {BadQuestionError: 422, UnknownAreaError: 422, NoIndexError: 503, IndexLockedError: 503,
           ModelUnavailableError: 503, JobRunningError: 409}


async def _assistant_error(request: Request, exc: AssistantError) -> JSONResponse:
    status = next((s for t, s in _STATUS.items() if isinstance(exc, t)), 500)
    if isinstance(exc, UnknownAreaError):
        known = list(exc.known)
        return JSONResponse({"detail": f"Unknown area. Known areas: {'; '.join(known)}.", "known_areas": known},
                            status_code=status)
    if isinstance(exc, BadQuestionError):
        return JSONResponse({"detail": f"Bad question: {exc}."}, status_code=status)
    if isinstance(exc, JobRunningError):
        return JSONResponse({"detail": str(exc), "job": exc.job}, status_code=status)
    return JSONResponse({"detail": str(exc) if status != 500 else "Internal error."}, status_code=status)


async def _busy(request: Request, exc: Busy) -> JSONResponse:
    return JSONResponse(
        {"detail": f"The service is busy answering other requests; try again in {exc.retry_after} s."},
        status_code=503, headers={"Retry-After": str(exc.retry_after)},
    )


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's default echoes each bad input back: keep where and what, never the value.
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid"), "type": e.get("type", "")}
              for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


# -- middleware (plain ASGI) -----------------------------------------------------------------------


async def _reply(send, status: int, detail: str, headers: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for a body over the limit, by its Content-Length or by what actually arrives. Uploads
    of source files (`upload_paths`) may be as large as `upload_limit` (plus their form fields)."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES, upload_limit: int = 0,
                 upload_paths: tuple[str, ...] = ("/api/sources", "/api/sources/proposal")):
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit
        self.upload_paths = upload_paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit, too_big = self.limit, f"The request body is over {self.limit // 1024} KB."
        if self.upload_limit and scope["method"] == "POST" and scope["path"] in self.upload_paths:
            from ui.sources_api import too_big as upload_too_big

            limit, too_big = self.upload_limit + MAX_BODY_BYTES, upload_too_big(self.upload_limit)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _reply(send, 413, too_big)
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                return await _reply(send, 413, too_big)
        replay = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replayed():
            return replay.pop() if replay else await receive()

        return await self.app(scope, replayed, send)


class AccessLog:
    """One line per request (id, method, path, status, time) and a request id header. An
    unexpected error is logged by type and place only (its message might hold user text)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = uuid.uuid4().hex[:12]
        started = time.perf_counter()
        status = {"code": 500, "sent": False}

        async def tracked(message):
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - answered as 500 here so that no server logs its message
            where = traceback.extract_tb(exc.__traceback__)[-1]
            log.error("%s unexpected %s at %s:%s", rid, type(exc).__name__, where.filename, where.lineno)
            if not status["sent"]:
                await _reply(tracked, 500, f"Internal error (request {rid}).")
        finally:
            ms = (time.perf_counter() - started) * 1000
            log.info("%s %s %s %s %.0fms", rid, scope["method"], scope["path"][:200], status["code"], ms)


# -- the app ---------------------------------------------------------------------------------------


def create_app(settings: Settings, assistant=None) -> FastAPI:
    """The API over `assistant`, or over one made from `settings` (built in the background
    when there is no index yet)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.service.start()
        yield
        app.state.service.queue.close()

    app = FastAPI(
        title="Hidden Harm guidance assistant",
        summary="Cited guidance from safeguarding protocols on parental drug and alcohol misuse.",
        description="Every sentence of an answer is quoted verbatim from a source and cited. "
                    "Do not send names or identifying details.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served below from files on this machine, not from a CDN
        redoc_url=None,
    )
    _offline_docs(app)
    app.state.settings = settings
    app.state.service = Service(settings, assistant)
    app.state.feedback_lock = threading.Lock()
    app.state.library_jobs = LibraryJobs()
    from ui.sources_api import router as sources_router

    app.include_router(api)
    app.include_router(sources_router)
    app.include_router(open_api)
    app.add_exception_handler(AssistantError, _assistant_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Busy, _busy)
    app.add_middleware(BodyLimit, upload_limit=settings.max_upload_bytes)
    app.add_middleware(AccessLog)  # outermost of ours: sees every status, 413s included
    return app


def _offline_docs(app: FastAPI) -> None:
    """The OpenAPI page with Swagger UI's own files from the `swagger-ui-bundle` package: the
    machine may have no internet, and a page must not call out to a CDN anyway."""
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs-static", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} — API",
            swagger_js_url="/docs-static/swagger-ui-bundle.js", swagger_css_url="/docs-static/swagger-ui.css",
            swagger_favicon_url="/docs-static/favicon-32x32.png",
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8765) -> None:
    import uvicorn

    if not is_loopback(host) and not settings.api_token:
        raise UnsafeBindError(
            f"refusing to listen on {host} without a token: anyone who can reach this machine could use it. "
            "Set HHA_API_TOKEN (clients send it as a bearer token), or listen on 127.0.0.1."
        )
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    uvicorn.run(create_app(settings), host=host, port=port, access_log=False, server_header=False,
                log_level="info")
