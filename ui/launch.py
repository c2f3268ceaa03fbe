"""`hha ui` and `hha run`: the chat alone, or the whole thing on this machine.

`run_all` builds the index if it is missing, starts the API and the chat as child processes
on 127.0.0.1 (checking meanwhile that the index is up to date with the corpus, a no-op in
under a second when nothing changed), waits until both answer, prints their addresses, and
stops both on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from assistant.errors import AssistantError
from assistant.settings import PROJECT_ROOT, Settings

CHAT_SCRIPT = Path(__file__).resolve().parent / "chat.py"
HOST = "127.0.0.1"
API_READY_SECONDS = 300  # a first start loads the model; a cold disk is slow
UI_READY_SECONDS = 90


class LaunchError(AssistantError):
    """A child process could not be started or did not come up."""


def streamlit_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(CHAT_SCRIPT),
        "--server.address", HOST, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]


def _env(settings: Settings, api_url: str) -> dict:
    return {**os.environ, "HHA_DATA_DIR": str(settings.data_dir), "HHA_CORPUS_DIR": str(settings.corpus_dir),
            "HHA_API_URL": api_url, "PYTHONUNBUFFERED": "1"}


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _start(args: list[str], env: dict, quiet: bool = False) -> subprocess.Popen:
    # Own process group, so stopping it stops whatever it started too. Errors still show.
    stdout = subprocess.DEVNULL if quiet else None
    return subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, stdout=stdout, start_new_session=True)


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)


def _wait(url: str, timeout: float, procs: list[subprocess.Popen], ready=lambda r: r.status_code == 200,
          waiting: str | None = None) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    said = False
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise LaunchError(f"{' '.join(proc.args[1:5])} stopped (exit {proc.returncode}) while starting")
        try:
            response = httpx.get(url, timeout=3.0)
            if ready(response):
                return
            if waiting and not said:
                print(waiting, file=sys.stderr, flush=True)
                said = True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise LaunchError(f"{url} did not answer within {timeout:.0f} s")


def _until_stopped(procs: list[subprocess.Popen]) -> int:
    while True:
        for proc in procs:
            code = proc.poll()
            if code is not None:
                print(f"hha: {' '.join(proc.args[1:5])} stopped (exit {code}); stopping the rest", file=sys.stderr)
                return code or 1
        time.sleep(0.5)


class _Terminated(Exception):
    pass


def _on_sigterm(signum, frame):
    raise _Terminated


def _supervise(procs: list[subprocess.Popen], body) -> int:
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return body()
    except (KeyboardInterrupt, _Terminated):
        print("\nstopping…", file=sys.stderr)
        return 0
    finally:
        _stop(procs)
        signal.signal(signal.SIGTERM, previous)


def _api_ready(response) -> bool:
    health = response.json() if response.status_code == 200 else {}
    if health.get("status") == "failed":
        raise LaunchError(f"the API could not prepare the index: {health.get('detail')}")
    return health.get("status") == "ready"


def run_ui(settings: Settings, port: int = 8501) -> int:
    """The chat alone, talking to the API at `settings.api_url`."""
    if not _port_free(port):
        raise LaunchError(f"port {port} is in use: choose another with --port")
    procs = [_start(streamlit_command(port), _env(settings, settings.api_url))]
    print(f"Chat: http://{HOST}:{port} (talking to {settings.api_url})", flush=True)
    return _supervise(procs, lambda: procs[0].wait())


def _ingest(settings: Settings) -> None:
    from ingest.pipeline import run_ingest
    from ui.cli import _progress

    report = run_ingest([settings.corpus_dir], settings.store, progress=_progress())
    print(report.summary(), file=sys.stderr, flush=True)


def run_all(settings: Settings, api_port: int = 8765, ui_port: int = 8501) -> int:
    """Index (if needed), API and chat on localhost, until Ctrl-C."""
    for port, flag in ((api_port, "--api-port"), (ui_port, "--ui-port")):
        if not _port_free(port):
            raise LaunchError(f"port {port} is in use (another `hha run`?): choose another with {flag}")
    from assistant.store import Catalog

    # With an index already built, the API and the chat start at once and the check that the
    # corpus is unchanged runs beside them (seconds of a cold start otherwise): if it did
    # change, the running API moves to the new build when it is complete, between requests.
    indexed = Catalog(settings.store).current_id() is not None
    if not indexed:
        print("building the index…", file=sys.stderr, flush=True)
        _ingest(settings)

    api_url = f"http://{HOST}:{api_port}"
    env = _env(settings, api_url)
    procs: list[subprocess.Popen] = []

    def body() -> int:
        procs.append(_start([sys.executable, "-m", "ui.cli", "serve", "--host", HOST, "--port", str(api_port)], env))
        procs.append(_start(streamlit_command(ui_port), env, quiet=True))  # its own banner would repeat ours
        if indexed:
            print("checking the index…", file=sys.stderr, flush=True)
            _ingest(settings)
        _wait(f"{api_url}/api/health", API_READY_SECONDS, procs, ready=_api_ready,
              waiting="loading the model and the index…")
        _wait(f"http://{HOST}:{ui_port}/_stcore/health", UI_READY_SECONDS, procs)
        print(f"API: {api_url}/docs", flush=True)
        print(f"Chat: http://{HOST}:{ui_port}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        return _until_stopped(procs)

    return _supervise(procs, body)
