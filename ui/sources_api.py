"""The source library over HTTP: list, upload (add or replace), remove, the progress of a change,
and the cited page of a PDF source as printed. Thin routes over `ingest.library`; the change
itself runs in the background (`ui.library_jobs`), one at a time.

Every route is under the service's token. An upload is checked before anything changes: its
type, its size (413) and whether it can be read at all (a corrupt file is a 422 and the
library is untouched).
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from assistant.errors import AssistantError
from ui import schema
from ui.api import ServiceDep, require_token
from ui.library_jobs import JobRunningError, LibraryJobs

router = APIRouter(prefix="/api", dependencies=[Depends(require_token)], tags=["sources"])
SUFFIXES = (".pdf", ".txt", ".md")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")
Text = Annotated[str | None, Form(max_length=300)]
JOB_RESPONSES = {
    409: {"description": "Another change of the library is running: the detail says which."},
    422: {"description": "The file cannot be read, or the change cannot be made: the detail says why."},
}


def _jobs(request: Request) -> LibraryJobs:
    return request.app.state.library_jobs


JobsDep = Annotated[LibraryJobs, Depends(_jobs)]


def _library(request: Request):
    from ingest.library import Library

    settings = request.app.state.settings
    return Library(settings.corpus_dir, settings.store)


def _file_name(name: str | None) -> str:
    """The upload's own name, made safe to write: no folders, no odd characters."""
    base = Path((name or "").replace("\\", "/")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    if suffix not in SUFFIXES:
        raise HTTPException(415, f"Unsupported file type {suffix or '(none)'}: upload a .pdf, .txt or .md file.")
    stem = _SAFE_NAME.sub("-", stem).strip(" .-")[:100]
    if not stem:
        raise HTTPException(422, "The file has no usable name: rename it (letters and digits) and upload it again.")
    return f"{stem}{suffix}"


async def _save(request: Request, upload: UploadFile) -> Path:
    """The upload in a folder of its own under the data directory (removed after the change)."""
    settings = request.app.state.settings
    name = _file_name(upload.filename)
    folder = settings.data_dir / "uploads" / uuid.uuid4().hex[:12]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    limit = settings.max_upload_bytes
    size = 0
    with open(path, "wb") as out:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > limit:
                out.close()
                shutil.rmtree(folder, ignore_errors=True)
                raise HTTPException(413, too_big(limit))
            out.write(chunk)
    if size == 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(422, f"{name} is empty.")
    return path


def too_big(limit: int) -> str:
    return f"The file is over {limit / 1_000_000:g} MB, the most this service takes (HHA_MAX_UPLOAD_MB)."


def _propose(path: Path) -> dict:
    from ingest.library import LibraryError, propose

    try:
        return propose(path)
    except LibraryError as exc:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise HTTPException(422, f"{exc}. Nothing was changed.") from None


def _sources(service, request: Request) -> list[dict]:
    from ingest.library import sources

    catalog = service.assistant.catalog if service.assistant is not None else None
    if catalog is None:
        from assistant.store import Catalog

        catalog = Catalog(request.app.state.settings.store)
    return sources(catalog, request.app.state.settings.corpus_dir)


@router.get("/sources", response_model=schema.SourcesResponse,
            summary="The sources of the live index: dates, review, what each gave the index; the change running")
async def list_sources(request: Request, service: ServiceDep, jobs: JobsDep) -> schema.SourcesResponse:
    service.start()
    rows = await run_in_threadpool(_sources, service, request)
    return schema.SourcesResponse(sources=rows, job=jobs.running(),
                                  max_upload_bytes=request.app.state.settings.max_upload_bytes)


@router.post("/sources/proposal", response_model=schema.Proposal, responses={413: {"description": "Too large."}},
             summary="What an uploaded document says of itself (title, area, places, dates), to pre-fill its entry")
async def propose_source(request: Request, file: Annotated[UploadFile, File()]) -> schema.Proposal:
    path = await _save(request, file)
    try:
        return schema.Proposal(**await run_in_threadpool(_propose, path))
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


@router.post("/sources", status_code=202, response_model=schema.Job, responses={**JOB_RESPONSES, 413: {
    "description": "The file is over the upload limit."}, 415: {"description": "Not a .pdf, .txt or .md file."}},
    summary="Add a source (or a new version of one, with `replaces`): the index is rebuilt in the background")
async def add_source(
    request: Request, service: ServiceDep, jobs: JobsDep,
    file: Annotated[UploadFile, File(description="The protocol: .pdf, .txt or .md.")],
    area: Text = None,
    places: Annotated[str | None, Form(max_length=1000, description="Place names, separated by commas.")] = None,
    title: Text = None, kind: Text = None, version: Text = None,
    date: Annotated[str | None, Form(max_length=100, description="Issue date, e.g. March 2024.")] = None,
    review_date: Annotated[str | None, Form(max_length=100)] = None,
    replaces: Annotated[str | None, Form(max_length=120, description="Id of the source this is a new version of.")] = None,
) -> schema.Job:
    jobs.check_idle()
    assistant = await run_in_threadpool(service.ready_assistant)
    library = _library(request)
    if replaces and replaces not in await run_in_threadpool(library.files):
        raise HTTPException(404, f"No source with id {replaces!r} in the library: GET /api/sources lists them.")
    path = await _save(request, file)
    await run_in_threadpool(_propose, path)  # a file that cannot be read changes nothing
    metadata = {"area": area, "title": title, "kind": kind, "version": version, "date": date,
                "review_date": review_date,
                "places": [p.strip() for p in re.split(r"[,;\n]", places or "") if p.strip()]}
    metadata = {k: v.strip() if isinstance(v, str) else v for k, v in metadata.items()}

    def work(progress):
        return library.add([path], metadata, replaces=replaces or None, embedder=assistant.embedder,
                           progress=progress)

    try:
        return schema.Job(**jobs.start("replace" if replaces else "add", path.name, work,
                                       after=lambda: assistant.index, cleanup=path.parent))
    except JobRunningError:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise


@router.delete("/sources/{source_id}", status_code=202, response_model=schema.Job,
               responses={**JOB_RESPONSES, 404: {"description": "No source with that id."}},
               summary="Remove a source from the library: the index is rebuilt without it in the background")
async def remove_source(source_id: str, request: Request, service: ServiceDep, jobs: JobsDep) -> schema.Job:
    jobs.check_idle()
    assistant = await run_in_threadpool(service.ready_assistant)
    library = _library(request)
    files = await run_in_threadpool(library.files)
    if source_id not in files:
        raise HTTPException(404, "No source with that id in the library: GET /api/sources lists them.")
    if len(files) == 1:
        raise HTTPException(422, "That is the only source: the library cannot be empty.")

    def work(progress):
        return library.remove(source_id, embedder=assistant.embedder, progress=progress)

    return schema.Job(**jobs.start("remove", source_id, work, after=lambda: assistant.index))


@router.get("/sources/jobs/{job_id}", response_model=schema.Job,
            responses={404: {"description": "No such job (jobs are kept in memory, the last few)."}},
            summary="The progress of a library change, its ingest report when done, or why it failed")
def job(job_id: str, jobs: JobsDep) -> schema.Job:
    found = jobs.get(job_id)
    if found is None:
        raise HTTPException(404, "No library change with that id (the service keeps the last few).")
    return schema.Job(**found)


# -- the cited page, as printed -------------------------------------------------------------------

PAGE_RESPONSES = {
    200: {"content": {"image/png": {}},
          "description": "The page as a PNG. Headers: X-Page (the page shown), X-Quote-Found (share of the quoted "
                         "words found on it), X-Highlighted (whether the quote is marked)."},
    404: {"description": "No such passage, not from a PDF, or its file is no longer in the library."},
    409: {"description": "The file has changed since the index was built."},
}


@router.get("/passages/{passage_id}/page", response_class=Response, responses=PAGE_RESPONSES,
            summary="The page a passage is printed on (PDF sources), its quoted spans highlighted")
async def cited_page(
    passage_id: str, request: Request, service: ServiceDep,
    span: Annotated[list[str], Query(max_length=20, description="Quoted spans of the passage text, as START:END.")] = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    from assistant.page_images import render_cited_page
    from ui.page_cache import cached_page

    index = (await run_in_threadpool(service.ready_assistant)).index
    passage = index.by_id.get(passage_id)
    if passage is None:
        raise HTTPException(404, "No passage with that id.")
    doc = index.document(passage.doc_id)
    if doc is None or not doc.source_file.lower().endswith(".pdf") or passage.page is None:
        raise HTTPException(404, "This source is not a PDF: its text as shown is the source.")
    settings = request.app.state.settings
    path = settings.corpus_dir / doc.source_file
    if not path.is_file():
        raise HTTPException(404, "The source's file is no longer in the library folder.")
    quotes = []
    for s in span:
        m = re.fullmatch(r"(\d{1,7}):(\d{1,7})", s)
        if not m or not 0 <= int(m.group(1)) < int(m.group(2)) <= len(passage.text):
            raise HTTPException(422, "A span is START:END within the passage text.")
        quotes.append(passage.text[int(m.group(1)) : int(m.group(2))])
    try:
        image = await run_in_threadpool(cached_page, settings.data_dir / "cache" / "pages", path, doc.sha256,
                                        passage.page, quotes, render_cited_page)
    except FileNotFoundError:
        raise HTTPException(409, "The source's file has changed since the index was built: re-ingest it.") from None
    except (ValueError, AssistantError) as exc:
        raise HTTPException(404, f"The page cannot be shown: {exc}") from None
    return Response(image.png, media_type="image/png", headers={
        "X-Page": str(image.page), "X-Quote-Found": f"{image.found:.3f}",
        "X-Highlighted": "true" if image.highlighted else "false", "Cache-Control": "private, max-age=3600"})
