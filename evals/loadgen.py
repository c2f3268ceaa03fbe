"""Concurrent clients for the HTTP API, bounded in count and time, loopback only.

Each client is a thread with its own `httpx.Client`, asking questions in turn until the time
or request budget runs out. Used by `hha bench` and by the load test.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from evals.measure import Latency


@dataclass
class LoadResult:
    clients: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)  # HTTP status (0: no response) -> count
    failures: list[str] = field(default_factory=list)  # a few examples, for the report

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status == 0 or status >= 400)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status == 0 or status >= 500)

    @property
    def throughput(self) -> float:
        ok = sum(n for status, n in self.statuses.items() if 200 <= status < 300)
        return ok / self.seconds if self.seconds else 0.0

    @property
    def latency(self) -> Latency:
        return Latency.of(self.latencies_ms)

    def to_dict(self) -> dict:
        return {"clients": self.clients, "seconds": round(self.seconds, 2), "requests": self.requests,
                "errors": self.errors, "server_errors": self.server_errors,
                "throughput_rps": round(self.throughput, 3), "latency_ms": self.latency.to_dict(),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())}, "failures": self.failures[:5]}


def require_loopback(base_url: str) -> None:
    host = urlsplit(base_url).hostname or ""
    if host != "localhost":
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
        raise ValueError(f"load is only sent to this machine (127.0.0.1), not to {host!r}")


def run_load(
    base_url: str,
    bodies: list[dict],
    clients: int,
    *,
    seconds: float = 10.0,
    max_requests: int = 1000,
    path: str = "/api/ask",
    timeout: float = 120.0,
    headers: dict | None = None,
) -> LoadResult:
    """`clients` threads posting `bodies` (in turn) to `path` until `seconds` pass or
    `max_requests` are sent in all. A request under way when time runs out is finished."""
    import httpx

    require_loopback(base_url)
    result = LoadResult(clients=clients, seconds=0.0)
    lock = threading.Lock()
    sent = 0
    deadline = time.perf_counter() + seconds

    def take() -> int | None:
        nonlocal sent
        with lock:
            if sent >= max_requests or time.perf_counter() >= deadline:
                return None
            sent += 1
            return sent - 1

    def client(offset: int) -> None:
        with httpx.Client(base_url=base_url, timeout=timeout, headers=headers or {}) as http:
            while (n := take()) is not None:
                body = bodies[(n + offset) % len(bodies)]
                started = time.perf_counter()
                try:
                    status = http.post(path, json=body).status_code
                except httpx.HTTPError as exc:
                    status = 0
                    with lock:
                        result.failures.append(f"{type(exc).__name__}")
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    result.statuses[status] += 1
                    if 200 <= status < 300:
                        result.latencies_ms.append(elapsed)
                    elif status:
                        result.failures.append(f"HTTP {status}")

    threads = [threading.Thread(target=client, args=(i * 7,), name=f"load-{i}") for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + timeout + 5)
    result.seconds = time.perf_counter() - started
    return result
