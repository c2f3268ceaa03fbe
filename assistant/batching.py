"""Sharing one expensive call between concurrent callers: each caller hands in its texts and
gets back its rows, while the calls themselves run on several texts at once.

No timer: a caller that finds a lane free runs at once (alone, when nobody else is waiting,
so a single client waits for nothing); callers arriving while every lane is busy queue, and
the next lane to come free takes all of them, in arrival order, in one call. Under load the
batches grow by themselves; idle, nothing is delayed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np


class _Job:
    __slots__ = ("texts", "rows", "error", "done")

    def __init__(self, texts: list[str]):
        self.texts = texts
        self.rows: np.ndarray | None = None
        self.error: BaseException | None = None
        self.done = False


class Batcher:
    """`run(texts)` from any thread; `fn(groups) -> rows per group` is called with the texts of
    one or more callers (a group each), never more than `lanes` calls at once and, when several
    callers wait, at most `max_texts` texts per call (unless one caller alone brings more)."""

    def __init__(self, fn: Callable[[list[list[str]]], list[np.ndarray]], lanes: int = 1, max_texts: int = 32):
        if lanes < 1 or max_texts < 1:
            raise ValueError(f"lanes and max_texts must be at least 1, not {lanes} and {max_texts}")
        self.fn, self.lanes, self.max_texts = fn, lanes, max_texts
        self._ready = threading.Condition()
        self._waiting: list[_Job] = []
        self._running = 0
        self.calls = 0  # model calls made, and the texts they carried (for the benchmark)
        self.texts = 0

    def run(self, texts: Sequence[str]) -> np.ndarray:
        job = _Job(list(texts))
        with self._ready:
            self._waiting.append(job)
            while not job.done:
                if self._running < self.lanes and self._waiting:
                    self._lead()
                else:
                    self._ready.wait()
        if job.error is not None:
            raise job.error
        return job.rows

    def _lead(self) -> None:
        """With the lock held: take the waiting jobs at the front, run them unlocked, hand out rows."""
        taken, count = [], 0
        while self._waiting and (not taken or count + len(self._waiting[0].texts) <= self.max_texts):
            job = self._waiting.pop(0)
            taken.append(job)
            count += len(job.texts)
        self._running += 1
        self._ready.release()
        try:
            rows, error = None, None
            try:
                rows = self.fn([job.texts for job in taken])
            except BaseException as exc:  # noqa: BLE001 - handed to every caller in the batch
                error = exc
        finally:
            self._ready.acquire()
        self._running -= 1
        self.calls += 1
        self.texts += count
        for n, job in enumerate(taken):
            if error is None:
                job.rows = rows[n]
            job.error = error
            job.done = True
        self._ready.notify_all()
