"""Reliability with real parts: `hha ingest` killed with SIGKILL at random moments, a second
writer refused, the service answering through a re-ingest, and 8 concurrent clients. Small
corpus (two documents), loopback only, every wait bounded."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from support import ROOT, run_hha, small_corpus

from evals.service import ServiceProcess, hha_command, hha_env

pytestmark = pytest.mark.slow

QUESTIONS = [
    "where should methadone be kept at home when there are young children?",
    "how do I engage a parent who is using drugs in an assessment?",
    "Stoke: dad injects heroin, what should I ask about needles and works?",
]
SEED = int(os.environ.get("HHA_RELIABILITY_SEED", "1234"))


def _answers_script(data_dir: Path) -> list[dict]:
    """The answers to QUESTIONS from a fresh process (model and index loaded from disk)."""
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from assistant.core import Assistant\n"
        "from assistant.store import StoreLocation\n"
        "a = Assistant(StoreLocation(Path(sys.argv[1])))\n"
        "out = []\n"
        "for q in json.loads(sys.argv[2]):\n"
        "    d = a.answer(q).to_dict(); d.pop('timings_ms', None); out.append(d)\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(data_dir), json.dumps(QUESTIONS)], env=hha_env(data_dir),
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _builds(data_dir: Path) -> dict[str, bool]:
    """Build directories and whether each is complete."""
    root = data_dir / "index" / "builds"
    return {p.name: (p / "COMPLETE").exists() for p in root.iterdir()} if root.exists() else {}


def _current(data_dir: Path) -> str | None:
    pointer = data_dir / "index" / "CURRENT"
    return json.loads(pointer.read_text())["build"] if pointer.exists() else None


def _start_ingest(corpus: Path, data_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(hha_command("ingest", str(corpus), *args), env=hha_env(data_dir), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, embedder):
    """A complete index of the two-document corpus; each test works on its own copy."""
    from assistant.store import StoreLocation
    from ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp("reliability")
    corpus = small_corpus(root / "corpus")
    data = root / "data"
    started = time.monotonic()
    report = run_ingest([corpus], StoreLocation(data), embedder=embedder)
    assert report.passages and not report.skipped
    return corpus, data, time.monotonic() - started


@pytest.fixture
def workspace(small_index, tmp_path):
    corpus, data, build_seconds = small_index
    shutil.copytree(data, tmp_path / "data")
    return corpus, tmp_path / "data", build_seconds


def _gist(answer: dict) -> tuple:
    """What a reader sees of an answer: the quoted sentences and the passages they cite."""
    parts = ([answer["urgent"]] if answer["urgent"] else []) + answer["parts"]
    quotes = [e["text"] for p in parts for e in p["extracts"]] + [e["text"] for e in answer["checklist"]]
    return tuple(quotes), tuple(c["passage"]["id"] for c in answer["citations"])


def test_sigkill_during_ingest_leaves_the_previous_build_serving(workspace, embedder):
    corpus, data, build_seconds = workspace
    rng = random.Random(SEED)
    before = _answers_script(data)
    assert all(a["citations"] for a in before), "the questions get cited answers"
    live = _current(data)
    # Moments to kill: just as the new build's directory appears (mid-write), at random while
    # it embeds, very early (imports) and while the model loads.
    estimate = build_seconds + 8
    plan = [("mid-write", rng.uniform(0.0, 0.2)), ("anywhere", rng.uniform(0.3, 0.9) * estimate),
            ("early", rng.uniform(0.2, 3.0)), ("model load", rng.uniform(3.0, 8.0))]
    partials: set[str] = set()
    for round_, (when, delay) in enumerate(plan, start=1):
        known = set(_builds(data))
        proc = _start_ingest(corpus, data, "--force")
        started = time.monotonic()
        if when == "mid-write":
            while time.monotonic() - started < 240 and proc.poll() is None and not set(_builds(data)) - known:
                time.sleep(0.005)
            time.sleep(delay)
        else:
            while time.monotonic() - started < delay and proc.poll() is None:
                time.sleep(0.01)
        finished = proc.poll() is not None
        _kill(proc)
        builds = _builds(data)
        partials |= {b for b, complete in builds.items() if not complete}
        print(f"round {round_}: killed {when} after {time.monotonic() - started:.2f} s "
              f"({'it had already finished' if finished else 'mid-run'}); builds {builds}")
        current = _current(data)
        assert current is not None and builds.get(current), f"round {round_}: the live build is not complete"
        # The pointer moves only to a complete build: the old one, or (if the kill came after the
        # switch, while the process tidied up) the one this round finished.
        assert current == live or current not in known, f"round {round_}: the pointer moved to an older build"
        live = current
    # Whichever build is live, it is the same content (a forced rebuild of an unchanged corpus).
    after_kills = _answers_script(data)
    assert after_kills == before
    # The next ingest removes the half-built builds and completes.
    proc = run_hha(["ingest", str(corpus), "--force"], data, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    builds = _builds(data)
    assert all(builds.values()), f"a partial build survived the next ingest: {builds}"
    assert not partials & set(builds)
    assert len(builds) <= 2, "only the live build and the one before it are kept"
    from assistant.core import Assistant
    from assistant.store import StoreLocation

    rebuilt = Assistant(StoreLocation(data), embedder=embedder)
    assert [_gist(rebuilt.answer(q).to_dict()) for q in QUESTIONS] == [_gist(a) for a in before]
    assert partials, "no round left a partial build to clean up: the kills all missed the write"


def _holding_the_lock(corpus: Path, data: Path) -> subprocess.Popen:
    """A forced ingest, once it holds the write lock."""
    first = _start_ingest(corpus, data, "--force")
    lock = data / "index" / "ingest.lock"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and f"pid {first.pid}" not in (lock.read_text() if lock.exists() else ""):
        assert first.poll() is None, first.communicate()[1][-1000:]
        time.sleep(0.05)
    assert f"pid {first.pid}" in lock.read_text(), "the first ingest never took the lock"
    return first


def test_a_second_writer_fails_fast_with_a_clear_message(workspace):
    corpus, data, _ = workspace
    for args in (["ingest", str(corpus)], ["ingest", str(corpus), "--force"]):
        # The small corpus builds in ~10 s: on a loaded machine the first writer can finish
        # while the second is still starting, and then the second rightly takes the lock. Such
        # a round did not test anything, so it runs again (a second writer that ignores the
        # lock fails every round).
        for _ in range(3):
            first = _holding_the_lock(corpus, data)
            try:
                started = time.monotonic()
                second = run_hha(args, data, timeout=60)
                elapsed = time.monotonic() - started
                overlapped = first.poll() is None
            finally:
                _kill(first)
            if overlapped or second.returncode != 0:
                break
        assert second.returncode != 0
        assert "index is locked" in second.stderr and f"pid {first.pid}" in second.stderr, second.stderr
        assert "Traceback" not in second.stderr
        assert elapsed < 15, f"the second writer took {elapsed:.1f} s to give up"


def test_a_writer_blocked_in_process_gets_the_locked_error(workspace):
    from assistant.errors import IndexLockedError
    from assistant.store import Catalog, StoreLocation
    from ingest.pipeline import run_ingest

    corpus, data, _ = workspace
    with Catalog(StoreLocation(data)).write_lock():
        proc = run_hha(["ingest", str(corpus), "--force"], data, timeout=60)
        assert proc.returncode == 2 and "index is locked" in proc.stderr
        with pytest.raises(IndexLockedError, match="index is locked"):
            run_ingest([corpus], StoreLocation(data), force=True)


# -- the service ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(small_index, tmp_path_factory):
    """`hha serve` on a free loopback port over a copy of the small index (the load test runs
    first, then the re-ingest test changes the index under it)."""
    corpus, data, _ = small_index
    root = tmp_path_factory.mktemp("service")
    shutil.copytree(data, root / "data")
    with ServiceProcess(root / "data", log_path=root / "service.log") as running:
        yield running, corpus, root / "data"


def test_eight_concurrent_clients_get_no_server_errors(service):
    from evals.loadgen import run_load

    running, _, _ = service
    bodies = [{"question": q} for q in QUESTIONS] + [{"question": "", "area": None}, {"question": "x" * 5000}]
    result = run_load(running.base_url, bodies, clients=8, seconds=12, max_requests=400)
    lat = result.latency
    print(f"\n8 clients, {result.seconds:.1f} s: {result.requests} requests, {result.throughput:.2f} answers/s, "
          f"p50 {lat.p50:.0f} ms, p95 {lat.p95:.0f} ms, p99 {lat.p99:.0f} ms, statuses {dict(result.statuses)}")
    assert result.server_errors == 0, result.failures
    assert set(result.statuses) <= {200, 422}, result.statuses  # the bad questions are 422s, never 5xx
    assert result.statuses[200] >= 8


def test_the_service_answers_through_a_reingest_and_switches_cleanly(service, tmp_path):
    from assistant.store import Catalog, StoreLocation

    running, _, data = service
    catalog = Catalog(StoreLocation(data))
    old_build = catalog.current_id()
    old_ids = {p.id for p in catalog.open(old_build).passages()}
    # The same documents under new file names: every passage id of the new build differs.
    changed = small_corpus(tmp_path / "changed", suffix="-v2")
    seen: list[tuple[float, int, set[str]]] = []
    stop = threading.Event()

    def ask() -> None:
        with httpx.Client(base_url=running.base_url, timeout=120) as http:
            n = 0
            while not stop.is_set():
                response = http.post("/api/ask", json={"question": QUESTIONS[n % len(QUESTIONS)]})
                body = response.json() if response.status_code == 200 else {}
                seen.append((time.monotonic(), response.status_code,
                             {c["passage"]["id"] for c in body.get("citations", [])}))
                n += 1

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        proc = run_hha(["ingest", str(changed)], data, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        new_build = catalog.current_id()
        switched_at = time.monotonic()
        deadline = switched_at + 60
        while time.monotonic() < deadline and not any(t > switched_at for t, *_ in seen[-2:]):
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(150)
    new_ids = {p.id for p in catalog.open(new_build).passages()}
    assert new_build != old_build and not old_ids & new_ids
    statuses = [s for _, s, _ in seen]
    assert statuses and all(s == 200 for s in statuses), statuses
    builds = []
    for _, _, cited in seen:
        assert cited, "an answer without citations"
        assert cited <= old_ids or cited <= new_ids, "an answer mixes passages of two builds"
        builds.append("old" if cited <= old_ids else "new")
    print(f"\n{len(seen)} answers during the re-ingest: {builds.count('old')} old, {builds.count('new')} new")
    assert "old" in builds and builds[-1] == "new"
    first_new = builds.index("new")
    # Two clients: an answer begun before the switch may finish just after the first new one.
    assert builds[first_new:].count("old") <= 1, builds
