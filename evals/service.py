"""The API service as a child process on a free loopback port, for benchmarks and tests.

    with ServiceProcess(data_dir) as service:
        httpx.post(f"{service.base_url}/api/ask", json={"question": "..."})
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from assistant.settings import PROJECT_ROOT


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hha_env(data_dir: Path, extra: dict | None = None) -> dict:
    """The environment for an `hha` child process over `data_dir`: offline, no telemetry."""
    env = dict(os.environ)
    env.update({
        "HHA_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONUNBUFFERED": "1",
    })
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def hha_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ui.cli", *args]


class ServiceProcess:
    def __init__(self, data_dir: Path, *, port: int | None = None, env: dict | None = None,
                 log_path: Path | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.env = hha_env(self.data_dir, env)
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> ServiceProcess:
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            hha_command("serve", "--host", "127.0.0.1", "--port", str(self.port)),
            env=self.env, cwd=PROJECT_ROOT, stdout=self._log, stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Seconds from process start until /api/health says ready."""
        import httpx

        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited with {self.proc.returncode} before it was ready")
            try:
                health = httpx.get(f"{self.base_url}/api/health", timeout=2.0).json()
                if health.get("status") == "ready":
                    return time.perf_counter() - self.started_at
                if health.get("status") == "failed":
                    raise RuntimeError(f"the service failed to start: {health.get('detail')}")
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"the service was not ready within {timeout:.0f} s")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        return self.proc.returncode

    def __enter__(self) -> ServiceProcess:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
