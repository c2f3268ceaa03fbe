"""Small measuring tools for the benchmarks: percentiles, timing loops, resident memory.
Pure Python except `rss_mb`, which asks psutil."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Latency:
    """Latencies in milliseconds."""

    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, ms: Sequence[float]) -> Latency:
        if not ms:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(len(ms), percentile(ms, 50), percentile(ms, 95), percentile(ms, 99), sum(ms) / len(ms), max(ms))

    def to_dict(self) -> dict:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def time_calls(fn: Callable[[object], object], inputs: Sequence, runs: int, warmup: int = 3) -> list[float]:
    """Milliseconds of `runs` calls of fn, cycling through `inputs`, after `warmup` untimed calls."""
    for i in range(warmup):
        fn(inputs[i % len(inputs)])
    out = []
    for i in range(runs):
        started = time.perf_counter()
        fn(inputs[i % len(inputs)])
        out.append((time.perf_counter() - started) * 1000)
    return out


def rss_mb(pid: int | None = None, children: bool = False) -> float:
    """Resident memory of a process (and optionally its children), in MB."""
    import os

    import psutil

    process = psutil.Process(pid or os.getpid())
    total = process.memory_info().rss
    if children:
        for child in process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
    return total / 1e6


def ratio(value: float, reference: float) -> float:
    return value / reference if reference else math.nan


def _busy_seconds() -> float:
    import psutil

    t = psutil.cpu_times()
    return sum(getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))


def _own_seconds() -> float:
    import os

    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class OtherWork:
    """How busy the rest of the machine was while a block ran: the CPU time used by processes
    other than this one and the children it waited for, as a share of every core (0: idle,
    1: all cores busy). On a shared machine this says which figures to trust.

        with OtherWork() as others:
            measure()
        others.share
    """

    share: float = 0.0

    def __enter__(self) -> OtherWork:
        self._busy, self._own, self._started = _busy_seconds(), _own_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        import os

        wall = time.perf_counter() - self._started
        others = (_busy_seconds() - self._busy) - (_own_seconds() - self._own)
        share = others / (wall * (os.cpu_count() or 1)) if wall > 0 else 0.0
        self.share = round(min(1.0, max(0.0, share)), 3)  # clock ticks can overshoot a little


def wait_for_quiet(threshold: float, timeout: float, probe: float = 2.0) -> float:
    """Wait (at most `timeout` s) until other work on the machine uses under `threshold` of
    the CPU for one `probe` period; return the last share seen."""
    deadline = time.perf_counter() + timeout
    while True:
        with OtherWork() as others:
            time.sleep(probe)
        if others.share < threshold or time.perf_counter() >= deadline:
            return others.share
