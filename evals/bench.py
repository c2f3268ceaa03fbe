"""`hha bench`: speed and memory, each measured against a reference taken in the same run on
the same machine, so the ratios hold when the absolute numbers move with the hardware.

- the floor: one MiniLM query embedding; our warm `answer()` and `search()` as multiples of it;
- the naive LangChain quickstart baseline (same model): its ingest and retrieval times;
- answer latency per kind of answer: question, case description, urgent, declined;
- the API over HTTP on loopback with 1, 4 and 8 concurrent clients asking questions;
- ingest, cold (fresh data directory), adding one source, and unchanged, beside the naive
  pipeline's ingest in the same run;
- scale: the corpus replicated to 10x and 100x (vectors copied, see `evals.replicate`); the
  replicated indexes are kept under `<out>/scale/` and reused while the corpus is unchanged;
- cold start: `hha run` to its first answer, a fresh `hha ask` process to its answer, and the
  service's resident memory.

Writes `<data>/bench/report.md`, `bench.png` and `results.json`. `--quick` runs fewer
repetitions and the 10x scale only, in a few minutes; `--scale N` sets the largest size.
All traffic stays on 127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from evals.measure import Latency, OtherWork, rss_mb, time_calls, wait_for_quiet

# Scale runs compare index sizes, so they pin torch to one thread: the embedding cost is the same
# at every size, and one thread is far less disturbed by other work on a small shared machine.
SCALE_THREADS = 1


@dataclass(frozen=True)
class Plan:
    quick: bool
    questions: int = 40
    floor_runs: int = 200
    warm_passes: int = 3
    baseline_passes: int = 3
    http_levels: tuple[int, ...] = (1, 4, 8)
    http_seconds: float = 15.0
    http_max_requests: int = 600
    scale_factors: tuple[int, ...] = (1, 10, 100)
    scale_passes: int = 2
    cold_starts: int = 2
    rounds: int = 3  # in-process latency is measured up to this many times; the quietest round is kept
    quiet_wait: float = 180.0  # seconds a timing waits for other work on the machine to stop, at most

    @classmethod
    def make(cls, quick: bool, scale: int | None = None) -> Plan:
        if scale is not None and scale < 1:
            raise ValueError(f"--scale must be 1 or more, not {scale}")
        factors = None if scale is None else tuple(sorted({1, *((10,) if scale > 10 else ()), scale}))
        if quick:
            return cls(quick=True, questions=20, floor_runs=60, warm_passes=1, baseline_passes=1, http_seconds=6.0,
                       http_max_requests=200, scale_factors=factors or (1, 10), scale_passes=1, cold_starts=1,
                       rounds=2, quiet_wait=20.0)
        return cls(quick=False, scale_factors=factors or (1, 10, 100))


STAGE_LOAD: dict[str, list[float]] = {}


def _say(message: str) -> None:
    """Progress on stderr; the load average at each step goes in the report (a shared machine)."""
    STAGE_LOAD[message] = _load_average()
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def pick_questions(n: int):
    """About n questions spread evenly over the evaluation set (every kind, area and persona)."""
    from evals.dataset import load_questions

    questions = load_questions()
    step = max(1, len(questions) // n)
    return questions[::step][:n]


# -- the parts -----------------------------------------------------------------------------


def bench_ingest(corpus_dir: Path, data_dir: Path, embedder) -> dict:
    """Cold ingest into a fresh data directory beside the naive pipeline's ingest in the same
    minutes (both with their models loaded and libraries imported; the naive pipeline timed
    before and after ours, with torch's default threads and with one, the faster kept), then an
    unchanged re-ingest in-process and as a person runs it (a fresh `hha ingest` process), then
    one source added."""
    import torch

    from assistant.store import StoreLocation, import_chromadb
    from evals.baseline import Baseline
    from evals.service import hha_command, hha_env
    from ingest.pipeline import discover, run_ingest

    files = discover([corpus_dir])
    Baseline.warm(embedder)
    import_chromadb()

    def naive(threads: int | None) -> tuple[float, int, list[str]]:
        default = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            baseline = Baseline(files, embedder)
        finally:
            torch.set_num_threads(default)
        baseline.close()
        return baseline.ingest_seconds, baseline.chunks, baseline.chunk_texts

    load_before = _load_average()
    naive_default, chunks, chunk_texts = naive(None)
    location = StoreLocation(data_dir)
    cold = run_ingest([corpus_dir], location, embedder=embedder)
    naive_one, _, _ = naive(1)
    load_after = _load_average()
    naive_s = min(naive_default, naive_one)
    again = run_ingest([corpus_dir], location, embedder=embedder)
    assert again.unchanged, "an unchanged corpus was rebuilt"
    started = time.perf_counter()
    proc = subprocess.run(hha_command("ingest", str(corpus_dir)), env=hha_env(data_dir), capture_output=True,
                          text=True, timeout=120)
    cli_s = time.perf_counter() - started
    if proc.returncode != 0 or "unchanged" not in proc.stdout:
        raise RuntimeError(f"unchanged `hha ingest` failed: {proc.stderr.strip()[-300:]}")
    texts = cold.passages + cold.sentences + cold.checklist_items
    added = bench_add_source(corpus_dir, data_dir, embedder)
    return {
        "cold_s": round(cold.seconds, 2), "passages": cold.passages, "sentences": cold.sentences,
        "checklist_items": cold.checklist_items, "texts_embedded": texts, "embedded": cold.embedded,
        "word_pieces": cold.word_pieces, "stages_s": cold.timings,
        "passages_per_s": round(cold.passages / cold.seconds, 2), "texts_per_s": round(texts / cold.seconds, 2),
        "naive_s": round(naive_s, 2), "naive_default_threads_s": round(naive_default, 2),
        "naive_one_thread_s": round(naive_one, 2), "naive_chunks": chunks,
        "naive_word_pieces": sum(embedder.count_tokens.model_pieces(chunk_texts)),
        "cold_vs_naive": round(cold.seconds / naive_s, 3), "load_average": [load_before, load_after],
        "unchanged_in_process_s": round(again.seconds, 3), "unchanged_cli_s": round(cli_s, 2),
        "unchanged_vs_naive": round(cli_s / naive_s, 3), **added,
        "add_source_vs_naive": round(added["add_source_s"] / naive_s, 3),
    }


def bench_add_source(corpus_dir: Path, data_dir: Path, embedder) -> dict:
    """One more source added to an indexed corpus: the corpus and its index copied aside, a
    variant of its smallest document added, ingested again (the live index is not touched)."""
    import shutil

    from assistant.store import StoreLocation
    from evals.replicate import write_replicated_corpus
    from ingest.pipeline import discover, run_ingest

    with tempfile.TemporaryDirectory(prefix="hha-add-") as tmp:
        work = Path(tmp)
        smallest = min(discover([corpus_dir]), key=lambda p: p.stat().st_size)
        two = write_replicated_corpus(corpus_dir, work / "two", 2)
        corpus = work / "corpus"
        shutil.copytree(corpus_dir, corpus)
        extra = next(r.path for r in two if r.source == smallest and r.replica == 1)
        shutil.copyfile(extra, corpus / extra.name)
        # The variant's manifest entry, so it ingests as a document of its own area.
        entry = _manifest_block((work / "two" / "manifest.toml").read_text(encoding="utf-8"), extra.stem)
        with open(corpus / "manifest.toml", "a", encoding="utf-8") as f:
            f.write("\n" + entry)
        shutil.copytree(data_dir, work / "data")
        report = run_ingest([corpus], StoreLocation(work / "data"), embedder=embedder)
        if report.unchanged:
            raise RuntimeError("adding a source left the index unchanged")
        return {"add_source_s": round(report.seconds, 2), "added_document": extra.name,
                "added_passages": report.passages, "add_source_embedded": report.embedded,
                "add_source_reused": report.reused, "add_source_word_pieces": report.word_pieces,
                "added_document_passages": next(f.passages for f in report.files if f.file == extra.name)}


def _manifest_block(text: str, stem: str) -> str:
    import re

    found = re.search(rf'(?ms)^\["{re.escape(stem)}"\]\n.*?(?=^\[|\Z)', text)
    if not found:
        raise KeyError(f"no manifest entry for {stem}")
    return found.group(0)


def bench_floor(embedder, texts: list[str], runs: int) -> Latency:
    # Warm-up: each text once, as for answers (the first text of a new length is slower).
    return Latency.of(time_calls(embedder.embed_query, texts, runs, warmup=len(texts)))


def bench_warm(assistant, questions, passes: int) -> dict:
    """Warm, in-process: every question `passes` times through answer() and search(), each
    right after one query embedding of the same question (the floor, interleaved, so that both
    see the same machine)."""
    from assistant.facets import is_case

    answer_ms, search_ms, case_ms, plain_ms, floor_ms = [], [], [], [], []
    by_kind: dict[str, list[float]] = {k: [] for k in KINDS}
    embedder = assistant.embedder
    for q in questions:  # warm-up: each question once (the first text of a new length is slower)
        assistant.answer(q.question, area=q.area)
        assistant.search(q.question, area=q.area, k=8)
    for _ in range(passes):
        for q in questions:
            started = time.perf_counter()
            embedder.embed_query(q.question)
            floor_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            answer = assistant.answer(q.question, area=q.area)
            ms = (time.perf_counter() - started) * 1000
            answer_ms.append(ms)
            (case_ms if is_case(q.question) else plain_ms).append(ms)
            by_kind[kind_of(answer, is_case(q.question))].append(ms)
            started = time.perf_counter()
            assistant.search(q.question, area=q.area, k=8)
            search_ms.append((time.perf_counter() - started) * 1000)
    return {"answer": Latency.of(answer_ms), "search": Latency.of(search_ms), "floor": Latency.of(floor_ms),
            "answer_questions": Latency.of(plain_ms), "answer_cases": Latency.of(case_ms),
            "by_kind": {k: Latency.of(v) for k, v in by_kind.items()}}


KINDS = ("question", "case", "urgent", "declined")


def plain(value):
    """Latencies (also in dicts) as plain dicts, for JSON."""
    if isinstance(value, Latency):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def kind_of(answer, case: bool) -> str:
    """What an answer was: declined (the sources do not cover it), urgent (a referral route
    first), a case description (retrieved facet by facet), or a plain question."""
    if answer.abstained:
        return "declined"
    if answer.urgent is not None:
        return "urgent"
    return "case" if case else "question"


def bench_one_thread(embedder, assistant, questions, plan: Plan) -> dict:
    """Floor and warm answer() again with torch limited to one thread: on a small machine
    shared with other work, a second intra-op thread often waits more than it helps."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        floor = bench_floor(embedder, [q.question for q in questions], plan.floor_runs)
        warm = bench_warm(assistant, questions, 1)
    finally:
        torch.set_num_threads(threads)
    return {"floor": floor.to_dict(), "answer": warm["answer"].to_dict(), "search": warm["search"].to_dict(),
            "floor_interleaved": warm["floor"].to_dict(), "default_threads": threads}


def bench_baseline(corpus_dir: Path, embedder, questions, passes: int) -> dict:
    from evals.baseline import Baseline
    from ingest.pipeline import discover

    baseline = Baseline(discover([corpus_dir]), embedder)
    try:
        for q in questions[:3]:
            baseline.search(q.question, k=8)
        ms = time_calls(lambda q: baseline.search(q.question, k=8), questions, len(questions) * passes, warmup=0)
        return {"ingest_s": round(baseline.ingest_seconds, 2), "chunks": baseline.chunks, "search": Latency.of(ms)}
    finally:
        baseline.close()


class _Sampler:
    """Peak resident memory of a process, sampled every 0.2 s in a thread."""

    def __init__(self, pid: int):
        self.pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_mb(self.pid, children=True))
            except Exception:  # noqa: BLE001 - the process may be gone
                return
            self._stop.wait(0.2)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(2)


def bench_http(data_dir: Path, questions, plan: Plan, log_path: Path) -> dict:
    """`hha serve` in a child process on a free loopback port: time to ready, to the first
    answer, memory, and throughput and latency with 1, 4 and 8 concurrent clients."""
    import httpx

    from assistant.facets import is_case
    from evals.loadgen import run_load
    from evals.service import ServiceProcess

    # Throughput is a figure for questions (a case description asks several queries at once).
    bodies = [{"question": q.question, "area": q.area} for q in questions if not is_case(q.question)]
    service = ServiceProcess(data_dir, log_path=log_path).start()
    try:
        ready_s = service.wait_ready()
        response = httpx.post(f"{service.base_url}/api/ask", json=bodies[0], timeout=120)
        first_answer_s = time.perf_counter() - service.started_at
        response.raise_for_status()
        idle_mb = rss_mb(service.pid, children=True)
        levels = {}
        with _Sampler(service.pid) as sampler:
            for clients in plan.http_levels:
                result = run_load(service.base_url, bodies, clients, seconds=plan.http_seconds,
                                  max_requests=plan.http_max_requests)
                levels[clients] = result.to_dict()
                _say(f"http {clients} clients: {result.throughput:.2f} req/s, p95 {result.latency.p95:.0f} ms, "
                     f"{result.errors} errors")
        return {"ready_s": round(ready_s, 2), "first_answer_s": round(first_answer_s, 2), "bodies": len(bodies),
                "idle_rss_mb": round(idle_mb, 1), "peak_rss_mb": round(max(sampler.peak, idle_mb), 1),
                "levels": levels}
    finally:
        service.stop()


def bench_cold_start(data_dir: Path, question: str, runs: int) -> dict:
    """A fresh `hha ask` process, from start to its printed answer."""
    from evals.service import hha_command, hha_env

    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(hha_command("ask", "--json", question), env=hha_env(data_dir), capture_output=True,
                              text=True, timeout=300)
        seconds.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise RuntimeError(f"`hha ask` failed: {proc.stderr.strip()[-300:]}")
        json.loads(proc.stdout)
    return {"ask_process_s": round(min(seconds), 2), "runs": [round(s, 2) for s in seconds]}


def bench_run_start(data_dir: Path, corpus_dir: Path, question: str, log_path: Path) -> dict:
    """`hha run` (index check, API and chat) from process start to its API's first answer."""
    import httpx

    from evals.service import free_port, hha_command, hha_env

    api_port, ui_port = free_port(), free_port()
    env = hha_env(data_dir, {"HHA_CORPUS_DIR": str(corpus_dir)})
    with open(log_path, "ab") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(hha_command("run", "--api-port", str(api_port), "--ui-port", str(ui_port)), env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = started + 300
            while time.perf_counter() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"`hha run` exited with {proc.returncode} before answering")
                try:
                    response = httpx.post(f"http://127.0.0.1:{api_port}/api/ask", json={"question": question},
                                          timeout=60)
                    if response.status_code == 200:
                        return {"run_to_first_answer_s": round(time.perf_counter() - started, 2)}
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            raise TimeoutError("`hha run` did not answer within 300 s")
        finally:
            _stop_group(proc)


def _stop_group(proc: subprocess.Popen) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _run_worker(data: Path, plan: Plan) -> dict:
    wait_for_quiet(QUIET, plan.quiet_wait)
    args = [sys.executable, "-m", "evals.bench", "--worker", str(data), "--questions", str(plan.questions),
            "--passes", str(plan.scale_passes), "--threads", str(SCALE_THREADS)]
    with OtherWork() as others:
        proc = subprocess.run(args, env=_worker_env(), capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "others_cpu_share": others.share}


def bench_scale(corpus_dir: Path, base_data: Path, keep: Path, plan: Plan, results: dict) -> dict:
    """For each factor, an index of the corpus replicated that many times (1x is the real
    index), measured by a fresh worker process: load time, latency, resident memory. The
    replicated indexes are kept in `keep` and reused while corpus and 1x build are the same
    (building 100x copies 220,000 vectors into Chroma: most of an hour on two shared cores)."""
    import shutil

    from assistant.embed import TokenCounter
    from assistant.store import Catalog, StoreLocation
    from evals.replicate import copied_build_id, write_build_with_copied_vectors, write_replicated_corpus

    out = results.setdefault("scale", {})
    count = TokenCounter()
    for factor in plan.scale_factors:
        try:
            built = None
            if factor == 1:
                data = base_data
            else:
                replicas = write_replicated_corpus(corpus_dir, keep / f"corpus-{factor}x", factor)
                data = keep / f"data-{factor}x"
                wanted = copied_build_id(replicas)
                if (data / "index").exists() and Catalog(StoreLocation(data)).current_id() == wanted:
                    _say(f"scale {factor}x: reusing the index built earlier ({wanted})")
                else:
                    _say(f"scale {factor}x: writing the corpus and the index (vectors copied)")
                    shutil.rmtree(data, ignore_errors=True)
                    built = write_build_with_copied_vectors(replicas, StoreLocation(base_data), StoreLocation(data),
                                                            count)
            _say(f"scale {factor}x: measuring in a fresh process")
            result = _run_worker(data, plan)
            if built is not None:
                result["build_s"] = round(built.seconds, 1)
                result["exact_vectors"] = round(built.exact_vectors, 4)
            out[factor] = result
        except Exception as exc:  # noqa: BLE001 - one size failing must not lose the others
            out[factor] = {"error": f"{type(exc).__name__}: {exc}"}
            _say(f"scale {factor}x failed: {out[factor]['error']}")
    return out


def _worker_env() -> dict:
    from evals.service import hha_env

    env = hha_env(Path("unused"))
    env.pop("HHA_DATA_DIR")
    return env


def scale_worker(data_dir: Path, questions: int, passes: int, threads: int | None = None) -> dict:
    """Run in a fresh process: load the model and the index, answer and search, report."""
    import torch

    from assistant.core import Assistant
    from assistant.embed import Embedder
    from assistant.store import StoreLocation

    started = time.perf_counter()
    # As the service does: torch and BLAS both limited (see `assistant.embed.limit_blas_threads`).
    embedder = Embedder(threads=threads).load()
    model_s = time.perf_counter() - started
    rss_model = rss_mb()
    assistant = Assistant(StoreLocation(data_dir), embedder=embedder)
    index = assistant.index
    load_s = time.perf_counter() - started - model_s
    rss_loaded = rss_mb()
    picked = pick_questions(questions)
    warm = bench_warm(assistant, picked, passes)
    rss_after = rss_mb()
    return {
        "passages": len(index.passages), "sentences": len(index.sentence_spans), "documents": len(index.documents),
        "sentence_search": index.sentence_search, "by_kind": plain(warm["by_kind"]),
        "copy_groups": index.copies.count if index.copies is not None else None,
        "model_load_s": round(model_s, 2), "index_load_s": round(load_s, 2),
        "rss_model_mb": round(rss_model, 1), "rss_loaded_mb": round(rss_loaded, 1), "rss_after_mb": round(rss_after, 1),
        "answer": warm["answer"].to_dict(), "search": warm["search"].to_dict(), "floor": warm["floor"].to_dict(),
        "torch_threads": torch.get_num_threads(),
        # Last: reading every sentence vector would add them all to this process's memory.
        "sentence_search_ms": sentence_search_costs(index, embedder.embed_documents([q.question for q in picked])),
    }


def sentence_search_costs(index, vectors) -> dict:
    """Median ms of one query's sentence search three ways on this index: the matrix product
    over every sentence vector, the product over distinct sentences only (what the exact search
    runs when the library holds copies, see `assistant.copies`), and Chroma's HNSW search."""
    import numpy as np

    from assistant.retrieve import SENTENCE_NEIGHBOURS

    _, matrix = index.build.sentence_file()
    matrix = np.asarray(matrix)
    distinct = np.asarray(index.sentence_vectors) if index.sentence_rows is not None else None
    _ = matrix @ vectors[0]  # pages in, once
    index.build.query(vectors[:1], SENTENCE_NEIGHBOURS, which="sentences")
    exact, compact, hnsw = [], [], []
    for v in vectors:
        started = time.perf_counter()
        _ = matrix @ v
        exact.append((time.perf_counter() - started) * 1000)
        if distinct is not None:
            started = time.perf_counter()
            _ = (distinct @ v)[index.sentence_rows]
            compact.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        index.build.query(v[None, :], SENTENCE_NEIGHBOURS, which="sentences")
        hnsw.append((time.perf_counter() - started) * 1000)
    out = {"exact": round(Latency.of(exact).p50, 2), "hnsw": round(Latency.of(hnsw).p50, 2)}
    if compact:
        out["distinct"] = round(Latency.of(compact).p50, 2)
        out["distinct_rows"] = int(len(distinct))
    return out


# -- the run -------------------------------------------------------------------------------


QUIET = 0.1  # others' share of the CPU under which a round counts as undisturbed


class _Stages:
    """Runs the parts in turn, each watched for other work on the machine (`OtherWork`); a part
    may be run up to `rounds` times, keeping the quietest. A part that fails is recorded with
    its error and the run goes on (unless later parts need what it makes). Results are saved
    after every part."""

    def __init__(self, results: dict, path: Path, quiet_wait: float):
        self.results, self.path, self.quiet_wait = results, path, quiet_wait
        self.results.setdefault("others_cpu", {})

    def save(self) -> None:
        self.path.write_text(json.dumps(self.results, indent=2, default=str), encoding="utf-8")

    def run(self, key: str, message: str, fn, *args, required: bool = False, rounds: int = 1, timed: bool = True):
        """`timed` parts wait (at most `quiet_wait` s) for other work on the machine to stop first."""
        _say(message)
        best = None
        try:
            for n in range(1, rounds + 1):
                if timed and wait_for_quiet(QUIET, self.quiet_wait) > QUIET:
                    _say(f"{key}: the machine is still busy after {self.quiet_wait:.0f} s; measuring anyway")
                with OtherWork() as others:
                    value = fn(*args)
                if best is None or others.share < best[1]:
                    best = (value, others.share)
                if others.share <= QUIET:
                    break
                if n < rounds:
                    _say(f"{key}: other work used {others.share:.0%} of the CPU; measuring again")
        except Exception as exc:
            self.results[key] = {"error": f"{type(exc).__name__}: {str(exc)[-400:]}"}
            _say(f"{key} failed: {self.results[key]['error']}")
            self.save()
            if required:
                raise
            return None
        value, share = best
        self.results[key] = value.to_dict() if isinstance(value, Latency) else value
        self.results["others_cpu"][key] = {"share": share, "rounds": n}
        self.save()
        return value


def run(settings, plan: Plan, work: Path, out_dir: Path) -> dict:
    from assistant.core import Assistant
    from assistant.embed import Embedder
    from assistant.store import StoreLocation

    results: dict = {"plan": plan.__dict__, "machine": _machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                     "scale_threads": SCALE_THREADS}
    stages = _Stages(results, out_dir / "results.json", plan.quiet_wait)
    questions = pick_questions(plan.questions)
    results["questions"] = len(questions)
    texts = [q.question for q in questions]

    _say("loading the model")
    started = time.perf_counter()
    embedder = Embedder().load()
    results["model_load_s"] = round(time.perf_counter() - started, 2)
    data = work / "data"
    stages.run("ingest", "ingest: cold, into a fresh data directory", bench_ingest, settings.corpus_dir, data, embedder,
               required=True)
    stages.run("floor", f"floor: {plan.floor_runs} query embeddings", bench_floor, embedder, texts, plan.floor_runs,
               rounds=plan.rounds)
    assistant = Assistant(StoreLocation(data), embedder=embedder)

    def warm() -> dict:
        return plain(bench_warm(assistant, questions, plan.warm_passes))

    stages.run("warm", "warm answer() and search() in-process", warm, rounds=plan.rounds)
    results["warm_rss_mb"] = round(rss_mb(), 1)
    stages.run("one_thread", "the same with torch on one thread", bench_one_thread, embedder, assistant, questions, plan,
               rounds=plan.rounds)

    def baseline() -> dict:
        b = bench_baseline(settings.corpus_dir, embedder, questions, plan.baseline_passes)
        return {**b, "search": b["search"].to_dict()}

    stages.run("baseline", "baseline: the LangChain quickstart pipeline, same model", baseline)
    stages.run("http", "HTTP: `hha serve` on loopback", bench_http, data, questions, plan, out_dir / "service.log")
    stages.run("cold_start", "cold start: a fresh `hha ask` process", bench_cold_start, data, texts[0], plan.cold_starts)
    stages.run("run_start", "cold start: `hha run` to its first answer", bench_run_start, data, settings.corpus_dir,
               texts[0], out_dir / "run.log")
    stages.run("scale", "scale: the corpus replicated", bench_scale, settings.corpus_dir, data, out_dir / "scale", plan,
               results, timed=False)  # each worker waits for itself
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    results["machine"]["load_average_end"] = _load_average()
    results["load_by_stage"] = dict(STAGE_LOAD)
    stages.save()
    return results


def _load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _machine() -> dict:
    import torch

    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "load_average_start": _load_average()}


def main(settings, *, quick: bool = False, out_dir: Path | None = None, scale: int | None = None) -> int:
    from evals.bench_report import plot, report_markdown, summary

    plan = Plan.make(quick, scale)
    out_dir = Path(out_dir or settings.data_dir / "bench")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hha-bench-") as work:
        results = run(settings, plan, Path(work), out_dir)
    try:
        plot(results, out_dir / "bench.png")
        plot_name = "bench.png"
    except Exception as exc:  # noqa: BLE001 - a report without a plot is still a report
        _say(f"could not draw the plot: {type(exc).__name__}: {exc}")
        plot_name = None
    (out_dir / "report.md").write_text(report_markdown(results, plot_name), encoding="utf-8")
    print(summary(results))
    print(f"\nreport: {out_dir / 'report.md'}")
    return 0


def _worker_main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m evals.bench", description="scale worker (used by `hha bench`)")
    parser.add_argument("--worker", type=Path, required=True, help="data directory of the index to measure")
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    print(json.dumps(scale_worker(args.worker, args.questions, args.passes, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
