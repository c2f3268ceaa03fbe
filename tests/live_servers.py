"""Real servers for the UI tests: the API in a thread of this process, or a command in a
subprocess; every wait bounded, every process stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float, ok=lambda r: r.status_code == 200, process: subprocess.Popen | None = None):
    """GET `url` until `ok(response)`; fail after `timeout` s or if `process` exits."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[:4]} exited with {process.returncode} before {url} answered")
        try:
            response = httpx.get(url, timeout=2.0)
            if ok(response):
                return response
            last = response.status_code
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer in {timeout} s (last: {last})")


@contextmanager
def api_in_thread(app, status: str = "ready"):
    """Serve a FastAPI app with uvicorn in a daemon thread until its health reports `status`;
    yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/api/health", 30, ok=lambda r: r.json().get("status") == status)
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def process(args: list[str], env: dict | None = None, log: Path | None = None):
    """A subprocess in its own process group, stopped (TERM, then KILL) on the way out."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if log:
            out.close()


PYTHON = sys.executable


def tiny_corpus(folder: Path) -> Path:
    """A one-document corpus that ingests in a second or two."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "storage-note.txt").write_text(
        "Safe storage of medication\n\n"
        "Parents on a substitute prescription such as methadone must keep it in a locked box out of the reach "
        "of children. Ask where the medication is stored and whether the children know where it is kept.\n\n"
        "Talking to children\n\n"
        "Practitioners should see and speak to each child on their own about what life at home is like.\n",
        encoding="utf-8",
    )
    return folder
