"""The API's bounded work queue: work runs on worker threads off the event loop, a full queue
refuses at once with a Retry-After, and a refused or finished job always gives its slot back.
Then the same through the real API: a 503 with `Retry-After` when every worker is busy."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from ui.workqueue import Busy, WorkQueue


def _occupy(queue: WorkQueue, n: int) -> tuple[threading.Event, list[threading.Thread]]:
    """n jobs that hold their slot until the gate opens, each awaited by its own event loop."""
    gate = threading.Event()
    threads = [threading.Thread(target=asyncio.run, args=(queue.run(gate.wait, 30),)) for _ in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while queue.admitted < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert queue.admitted == n
    return gate, threads


def test_work_runs_on_worker_threads_and_returns_its_value():
    queue = WorkQueue(workers=2, depth=0)
    try:
        name = asyncio.run(queue.run(lambda: threading.current_thread().name))
        assert name.startswith("hha-answer")
        assert queue.admitted == 0
    finally:
        queue.close()


def test_a_full_queue_refuses_at_once_with_a_retry_after():
    queue = WorkQueue(workers=1, depth=1)
    gate, threads = _occupy(queue, 2)  # one running, one waiting
    try:
        started = time.perf_counter()
        with pytest.raises(Busy) as refused:
            asyncio.run(queue.run(time.sleep, 5))
        assert time.perf_counter() - started < 1.0
        assert refused.value.retry_after >= 1
        assert queue.admitted == 2
    finally:
        gate.set()
        for t in threads:
            t.join(10)
    assert queue.admitted == 0
    assert asyncio.run(queue.run(lambda: 42)) == 42
    queue.close()


def test_an_error_in_the_work_reaches_the_caller_and_frees_the_slot():
    queue = WorkQueue(workers=1, depth=0)
    with pytest.raises(ZeroDivisionError):
        asyncio.run(queue.run(lambda: 1 / 0))
    assert queue.admitted == 0
    queue.close()


def test_jobs_run_concurrently_up_to_the_workers():
    queue = WorkQueue(workers=2, depth=4)
    barrier = threading.Barrier(2, timeout=5)  # both must be inside at the same time

    async def both():
        return await asyncio.gather(queue.run(barrier.wait), queue.run(barrier.wait))

    assert sorted(asyncio.run(both())) == [0, 1]
    queue.close()


@pytest.mark.parametrize("workers, depth", [(0, 1), (-1, 1), (1, -1)])
def test_bad_sizes_are_clear_errors(workers, depth):
    with pytest.raises(ValueError, match="workers|depth"):
        WorkQueue(workers=workers, depth=depth)


def test_bad_settings_are_clear_errors():
    from assistant.settings import Settings

    assert Settings.from_env({"HHA_WORKERS": "3", "HHA_QUEUE_DEPTH": "0"}).workers == 3
    with pytest.raises(ValueError, match="HHA_QUEUE_DEPTH must be a whole number"):
        Settings.from_env({"HHA_QUEUE_DEPTH": "lots"})


@pytest.mark.slow
def test_the_api_says_busy_with_a_retry_after_when_the_queue_is_full(tmp_path, corpus_assistant):
    from fastapi.testclient import TestClient

    from assistant.settings import Settings
    from ui.api import create_app

    app = create_app(Settings(data_dir=tmp_path, workers=1, queue_depth=0), assistant=corpus_assistant)
    with TestClient(app) as client:
        assert client.get("/api/health").json()["status"] in ("loading", "ready", "starting")
        question = {"question": "where should methadone be kept at home?"}
        assert client.post("/api/ask", json=question).status_code == 200
        gate, threads = _occupy(app.state.service.queue, 1)
        try:
            busy = client.post("/api/ask", json=question)
            assert busy.status_code == 503
            assert int(busy.headers["retry-after"]) >= 1
            assert "busy" in busy.json()["detail"] and "methadone" not in busy.text
            assert client.post("/api/search", json={"query": "methadone"}).status_code == 503
            assert client.get("/api/health").status_code == 200  # the event loop is free
        finally:
            gate.set()
            for t in threads:
                t.join(10)
        assert client.post("/api/ask", json=question).status_code == 200


@pytest.mark.parametrize("name, value", [("HHA_WORKERS", "abc"), ("HHA_WORKERS", "-1"), ("HHA_WORKERS", "2.5"),
                                         ("HHA_QUEUE_DEPTH", "-3"), ("HHA_CHROMA_PORT", "x"),
                                         ("HHA_CHROMA_PORT", "70000")])
def test_a_bad_setting_is_one_line_from_the_cli_not_a_traceback(tmp_path, name, value):
    import os
    import subprocess
    import sys

    env = {**os.environ, "HHA_DATA_DIR": str(tmp_path), name: value}
    proc = subprocess.run([sys.executable, "-m", "ui.cli", "ask", "where is methadone kept?"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"hha: {name} must be") and "Traceback" not in proc.stderr
    assert value in proc.stderr
    assert "methadone" not in proc.stderr
