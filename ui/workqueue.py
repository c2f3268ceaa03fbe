"""A bounded queue of CPU-bound work for the API: answers run on worker threads (four per core
by default) and the event loop only awaits them. An answer spends much of its time in the
query embedding, which releases the GIL and is shared between the answers waiting for it (see
`assistant.batching`): more answers in flight than cores is what fills those shared calls.
At most `depth` requests wait; past that a request is refused at once with `Busy`, which the
API turns into a 503 with `Retry-After`.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

DEFAULT_DEPTH = 32
WORKERS_PER_CORE = 4


class Busy(Exception):
    """Every worker is busy and the queue is full."""

    def __init__(self, retry_after: int):
        super().__init__(f"busy: retry after {retry_after} s")
        self.retry_after = retry_after


def default_workers() -> int:
    return WORKERS_PER_CORE * max(1, os.cpu_count() or 1)


class WorkQueue:
    def __init__(self, workers: int | None = None, depth: int = DEFAULT_DEPTH):
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        if depth < 0:
            raise ValueError(f"the queue depth must be 0 or more, not {depth}")
        self.workers = workers or default_workers()
        self.depth = depth
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="hha-answer")
        self._lock = threading.Lock()
        self._admitted = 0  # running + waiting
        self._seconds = 0.05  # moving average of one job's time, for Retry-After

    @property
    def admitted(self) -> int:
        return self._admitted

    def retry_after(self) -> int:
        """Whole seconds until the queue has likely drained a full load (at least 1)."""
        return max(1, math.ceil((self.workers + self.depth) * self._seconds / self.workers))

    def _admit(self) -> None:
        with self._lock:
            if self._admitted >= self.workers + self.depth:
                raise Busy(self.retry_after())
            self._admitted += 1

    def _run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self._seconds = 0.8 * self._seconds + 0.2 * elapsed
                # Released when the work ends, not when its caller stops waiting (a client that
                # hangs up does not make room while its answer is still being computed).
                self._admitted -= 1

    async def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run fn in a worker thread and await its result; `Busy` when the queue is full."""
        self._admit()
        try:
            future = self._executor.submit(self._run, fn, *args, **kwargs)
        except BaseException:
            with self._lock:
                self._admitted -= 1
            raise
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
