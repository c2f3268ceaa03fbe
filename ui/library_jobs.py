"""Changes of the source library asked for over the API, run one at a time in the background.

A change (add, replace, remove) is a build of the index beside the live one (ingest.library):
while it runs, the service keeps answering from the previous build; when it is complete the
pointer moves, the service loads the new build, and only then is the job "done". A failed
change leaves the library folder and the index as they were, and the job says why.

Jobs are kept in memory (the last few), never on disk: they hold file names and ids, no
question text.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from assistant.errors import AssistantError

log = logging.getLogger("hha.api")
KEEP_JOBS = 20


class JobRunningError(AssistantError):
    """A library change is already running; the API answers 409 with what it is."""

    def __init__(self, job: dict):
        self.job = job
        stage = f", {job['stage']}" if job.get("stage") else ""
        progress = f" {job['done']} of {job['total']}" if job.get("total") else ""
        super().__init__(f"another change of the library is running ({job['action']} {job['target']}{stage}"
                         f"{progress}): try again when it has finished (GET /api/sources/jobs/{job['id']})")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


class LibraryJobs:
    def __init__(self):
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, dict] = OrderedDict()
        self._running: str | None = None

    def running(self) -> dict | None:
        with self._lock:
            return dict(self._jobs[self._running]) if self._running else None

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return dict(job) if job else None

    def check_idle(self) -> None:
        """Raise `JobRunningError` if a change is running (before any work is done for a new one)."""
        job = self.running()
        if job is not None:
            raise JobRunningError(job)

    def start(self, action: str, target: str, work: Callable[[Callable[[str, int, int], None]], object],
              after: Callable[[], None] | None = None, cleanup: Path | None = None) -> dict:
        """Run `work(progress)` (returning an `ingest.library.Change`) in a thread; `after` runs
        once it succeeded (the service loading the new build); `cleanup` is removed either way."""
        with self._lock:
            if self._running is not None:
                raise JobRunningError(dict(self._jobs[self._running]))
            job = {"id": uuid.uuid4().hex[:12], "action": action, "target": target, "state": "running",
                   "stage": "starting", "done": 0, "total": 0, "started_at": _now(), "finished_at": None,
                   "detail": None, "added": [], "removed": [], "assumed": {}, "report": None}
            self._jobs[job["id"]] = job
            self._running = job["id"]
            while len(self._jobs) > KEEP_JOBS:
                self._jobs.popitem(last=False)
        threading.Thread(target=self._run, args=(job, work, after, cleanup), name=f"hha-library-{job['id']}",
                         daemon=True).start()
        return dict(job)

    def _progress(self, job: dict) -> Callable[[str, int, int], None]:
        def update(stage: str, done: int, total: int) -> None:
            with self._lock:
                job.update(stage=stage, done=done, total=total)
        return update

    def _run(self, job: dict, work, after, cleanup: Path | None) -> None:
        try:
            change = work(self._progress(job))
            with self._lock:
                job.update(added=list(change.added), removed=list(change.removed), assumed=dict(change.assumed),
                           report=change.report.to_dict() if change.report else None,
                           stage="loading the new index", done=0, total=0)
            if after is not None:
                after()
            summary = "; ".join([*(f"added {d}" for d in change.added), *(f"removed {d}" for d in change.removed)])
            with self._lock:
                job.update(state="done", stage="done", detail=summary or "nothing changed")
        except Exception as exc:  # noqa: BLE001 - reported by the job; the library was put back
            # A library change involves no question: its error may be shown and logged in full.
            detail = str(exc) if isinstance(exc, AssistantError) else f"{type(exc).__name__}: {exc}"
            log.error("library change %s (%s %s) failed: %s", job["id"], job["action"], job["target"], detail,
                      exc_info=not isinstance(exc, AssistantError))
            with self._lock:
                job.update(state="failed", stage="failed", detail=f"{detail}. The library is unchanged.")
        finally:
            if cleanup is not None:
                shutil.rmtree(cleanup, ignore_errors=True)
            with self._lock:
                job["finished_at"] = _now()
                self._running = None
