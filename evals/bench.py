"""`hha bench`: speed and memory, each measured against a reference taken in the same run on
the same machine, so the ratios hold when the absolute numbers move with the hardware.

- the floor: one MiniLM query embedding; our warm `answer()` and `search()` as multiples of it;
- the naive LangChain quickstart baseline (same model): its ingest and retrieval times;
- the API over HTTP on loopback with 1, 4 and 8 concurrent clients;
- ingest, cold (fresh data directory) and unchanged;
- scale: the corpus replicated to 10x and 100x (vectors copied, see `evals.replicate`);
- cold start: a fresh `hha ask` process to its answer, and the service's resident memory.

Writes `<data>/bench/report.md`, `bench.png` and `results.json`. `--quick` runs fewer
repetitions and the 10x scale only, in a few minutes. All traffic stays on 127.0.0.1; every
loop is bounded in count and time.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from evals.measure import Latency, ratio, rss_mb, time_calls

# Targets: (name, how it is checked against the results), reported as met / not met.
FLOOR_MULTIPLE = 2.0  # warm answer p95 <= 2x the p95 of one query embedding
SCALE_MULTIPLE = 1.5  # p95 at 100x corpus <= 1.5x the p95 at 1x
SERVICE_MB = 1000.0  # resident memory of the service
REINGEST_S = 2.0  # unchanged re-ingest, as a person runs it (`hha ingest`)
LOAD_CLIENTS = 8  # concurrent clients with zero errors
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

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            return cls(quick=True, questions=20, floor_runs=60, warm_passes=1, baseline_passes=1, http_seconds=6.0,
                       http_max_requests=200, scale_factors=(1, 10), scale_passes=1, cold_starts=1)
        return cls(quick=False)


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
    """Cold ingest into a fresh data directory (model already loaded), then an unchanged
    re-ingest in-process and as a person runs it (a fresh `hha ingest` process)."""
    from assistant.store import StoreLocation
    from evals.service import hha_command, hha_env
    from ingest.pipeline import run_ingest

    location = StoreLocation(data_dir)
    cold = run_ingest([corpus_dir], location, embedder=embedder)
    again = run_ingest([corpus_dir], location, embedder=embedder)
    assert again.unchanged, "an unchanged corpus was rebuilt"
    started = time.perf_counter()
    proc = subprocess.run(hha_command("ingest", str(corpus_dir)), env=hha_env(data_dir), capture_output=True,
                          text=True, timeout=120)
    cli_s = time.perf_counter() - started
    if proc.returncode != 0 or "unchanged" not in proc.stdout:
        raise RuntimeError(f"unchanged `hha ingest` failed: {proc.stderr.strip()[-300:]}")
    texts = cold.passages + cold.sentences + cold.checklist_items
    return {
        "cold_s": round(cold.seconds, 2), "passages": cold.passages, "sentences": cold.sentences,
        "checklist_items": cold.checklist_items, "texts_embedded": texts,
        "passages_per_s": round(cold.passages / cold.seconds, 2), "texts_per_s": round(texts / cold.seconds, 2),
        "unchanged_in_process_s": round(again.seconds, 3), "unchanged_cli_s": round(cli_s, 2),
    }


def bench_floor(embedder, texts: list[str], runs: int) -> Latency:
    return Latency.of(time_calls(embedder.embed_query, texts, runs, warmup=10))


def bench_warm(assistant, questions, passes: int) -> dict:
    """Warm, in-process: every question `passes` times through answer() and search()."""
    from assistant.facets import is_case

    answer_ms, search_ms, case_ms, plain_ms = [], [], [], []
    for q in questions:  # warm-up: each question once (the first text of a new length is slower)
        assistant.answer(q.question, area=q.area)
        assistant.search(q.question, area=q.area, k=8)
    for _ in range(passes):
        for q in questions:
            started = time.perf_counter()
            assistant.answer(q.question, area=q.area)
            ms = (time.perf_counter() - started) * 1000
            answer_ms.append(ms)
            (case_ms if is_case(q.question) else plain_ms).append(ms)
            started = time.perf_counter()
            assistant.search(q.question, area=q.area, k=8)
            search_ms.append((time.perf_counter() - started) * 1000)
    return {"answer": Latency.of(answer_ms), "search": Latency.of(search_ms),
            "answer_questions": Latency.of(plain_ms), "answer_cases": Latency.of(case_ms)}


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
            "default_threads": threads}


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

    from evals.loadgen import run_load
    from evals.service import ServiceProcess

    bodies = [{"question": q.question, "area": q.area} for q in questions]
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
        return {"ready_s": round(ready_s, 2), "first_answer_s": round(first_answer_s, 2),
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


def bench_scale(corpus_dir: Path, base_data: Path, work: Path, plan: Plan) -> dict:
    """For each factor, an index of the corpus replicated that many times (1x is the real
    index), measured by a fresh worker process: load time, latency, resident memory."""
    from assistant.embed import TokenCounter
    from assistant.store import StoreLocation
    from evals.replicate import write_build_with_copied_vectors, write_replicated_corpus

    out = {}
    count = TokenCounter()
    for factor in plan.scale_factors:
        built = None
        if factor == 1:
            data = base_data
        else:
            _say(f"scale {factor}x: writing the corpus and the index (vectors copied)")
            replicas = write_replicated_corpus(corpus_dir, work / f"corpus-{factor}x", factor)
            data = work / f"data-{factor}x"
            built = write_build_with_copied_vectors(replicas, StoreLocation(base_data), StoreLocation(data), count)
        _say(f"scale {factor}x: measuring in a fresh process")
        proc = subprocess.run(
            [sys.executable, "-m", "evals.bench", "--worker", str(data), "--questions", str(plan.questions),
             "--passes", str(plan.scale_passes), "--threads", str(SCALE_THREADS)],
            env=_worker_env(), capture_output=True, text=True, timeout=1800,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"scale worker for {factor}x failed: {proc.stderr.strip()[-500:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if built is not None:
            result["build_s"] = round(built.seconds, 1)
            result["exact_vectors"] = round(built.exact_vectors, 4)
        out[factor] = result
        if factor != 1:
            import shutil

            shutil.rmtree(work / f"corpus-{factor}x", ignore_errors=True)
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

    if threads:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    embedder = Embedder().load()
    model_s = time.perf_counter() - started
    rss_model = rss_mb()
    assistant = Assistant(StoreLocation(data_dir), embedder=embedder)
    index = assistant.index
    load_s = time.perf_counter() - started - model_s
    rss_loaded = rss_mb()
    warm = bench_warm(assistant, pick_questions(questions), passes)
    return {
        "passages": len(index.passages), "sentences": len(index.sentence_spans), "documents": len(index.documents),
        "model_load_s": round(model_s, 2), "index_load_s": round(load_s, 2),
        "rss_model_mb": round(rss_model, 1), "rss_loaded_mb": round(rss_loaded, 1), "rss_after_mb": round(rss_mb(), 1),
        "answer": warm["answer"].to_dict(), "search": warm["search"].to_dict(), "torch_threads": torch.get_num_threads(),
    }


# -- the run -------------------------------------------------------------------------------


def run(settings, plan: Plan, work: Path, out_dir: Path) -> dict:
    from assistant.core import Assistant
    from assistant.embed import Embedder
    from assistant.store import StoreLocation

    results: dict = {"plan": plan.__dict__, "machine": _machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    questions = pick_questions(plan.questions)
    results["questions"] = len(questions)

    _say("loading the model")
    started = time.perf_counter()
    embedder = Embedder().load()
    results["model_load_s"] = round(time.perf_counter() - started, 2)

    _say("ingest: cold, into a fresh data directory")
    data = work / "data"
    results["ingest"] = bench_ingest(settings.corpus_dir, data, embedder)

    _say(f"floor: {plan.floor_runs} query embeddings")
    results["floor"] = bench_floor(embedder, [q.question for q in questions], plan.floor_runs).to_dict()

    _say("warm answer() and search() in-process")
    assistant = Assistant(StoreLocation(data), embedder=embedder)
    warm = bench_warm(assistant, questions, plan.warm_passes)
    results["warm"] = {k: v.to_dict() for k, v in warm.items()}
    results["warm_rss_mb"] = round(rss_mb(), 1)
    _say("the same with torch on one thread")
    results["one_thread"] = bench_one_thread(embedder, assistant, questions, plan)
    del assistant

    _say("baseline: the LangChain quickstart pipeline, same model")
    baseline = bench_baseline(settings.corpus_dir, embedder, questions, plan.baseline_passes)
    results["baseline"] = {**baseline, "search": baseline["search"].to_dict()}
    del embedder

    _say("HTTP: `hha serve` on loopback")
    results["http"] = bench_http(data, questions, plan, out_dir / "service.log")

    _say("cold start: a fresh `hha ask` process")
    results["cold_start"] = bench_cold_start(data, questions[0].question, plan.cold_starts)

    results["scale"] = bench_scale(settings.corpus_dir, data, work, plan)
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    results["machine"]["load_average_end"] = _load_average()
    results["load_by_stage"] = dict(STAGE_LOAD)
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


# -- targets and the report ----------------------------------------------------------------


def targets(r: dict) -> list[dict]:
    """Each target with its measured value and whether it is met."""
    out = []
    floor = r["floor"]["p95"]
    answer = r["warm"]["answer"]["p95"]
    out.append({"target": f"warm answer p95 <= {FLOOR_MULTIPLE:g}x one query embedding (p95)",
                "value": f"{answer:.1f} ms = {ratio(answer, floor):.2f}x of {floor:.1f} ms",
                "met": ratio(answer, floor) <= FLOOR_MULTIPLE})
    top = r["http"]["levels"].get(LOAD_CLIENTS) or r["http"]["levels"].get(str(LOAD_CLIENTS))
    if top:
        out.append({"target": f"{LOAD_CLIENTS} concurrent clients over HTTP, zero errors",
                    "value": f"{top['errors']} errors in {top['requests']} requests", "met": top["errors"] == 0})
    scale = {int(k): v for k, v in r["scale"].items()}
    largest = max(scale)
    if largest > 1 and 1 in scale:
        for what in ("answer", "search"):
            a, b = scale[1][what]["p95"], scale[largest][what]["p95"]
            met = ratio(b, a) <= SCALE_MULTIPLE
            out.append({"target": f"{what} p95 at {largest}x corpus <= {SCALE_MULTIPLE:g}x of 1x",
                        "value": f"{b:.1f} ms vs {a:.1f} ms = {ratio(b, a):.2f}x", "met": met,
                        "note": "" if largest == 100 else "quick run: 10x only"})
    peak = r["http"]["peak_rss_mb"]
    out.append({"target": f"service resident memory < {SERVICE_MB:.0f} MB (1x corpus, under load)",
                "value": f"{peak:.0f} MB peak ({r['http']['idle_rss_mb']:.0f} MB idle)", "met": peak < SERVICE_MB})
    if largest > 1:
        big = scale[largest]["rss_after_mb"]
        out.append({"target": f"resident memory < {SERVICE_MB:.0f} MB at {largest}x corpus (in-process assistant)",
                    "value": f"{big:.0f} MB", "met": big < SERVICE_MB, "note": "not a stated target; for context"})
    cli = r["ingest"]["unchanged_cli_s"]
    out.append({"target": f"unchanged re-ingest < {REINGEST_S:g} s (`hha ingest`, fresh process)",
                "value": f"{cli:.2f} s ({r['ingest']['unchanged_in_process_s'] * 1000:.0f} ms in-process)",
                "met": cli < REINGEST_S})
    return out


def _ms(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


def headline(r: dict) -> list[str]:
    floor = r["floor"]
    lines = ["| measure | p50 ms | p95 ms | x floor (p50 / p95) |", "|---|---|---|---|"]

    def row(name: str, lat: dict) -> None:
        lines.append(f"| {name} | {_ms(lat['p50'])} | {_ms(lat['p95'])} | "
                     f"{ratio(lat['p50'], floor['p50']):.2f} / {ratio(lat['p95'], floor['p95']):.2f} |")

    row("floor: one MiniLM query embedding", floor)
    row("search(), warm, in-process", r["warm"]["search"])
    row("answer(), warm, in-process", r["warm"]["answer"])
    row("  answer() of questions", r["warm"]["answer_questions"])
    row("  answer() of case descriptions", r["warm"]["answer_cases"])
    row("baseline retrieval (LangChain quickstart, k=8)", r["baseline"]["search"])
    for clients, level in r["http"]["levels"].items():
        row(f"POST /api/ask, {clients} client(s)", level["latency_ms"])
    return lines


def report_markdown(r: dict, plot: str | None) -> str:
    ing, base, http = r["ingest"], r["baseline"], r["http"]
    lines = [f"# Benchmark report{' (quick)' if r['plan']['quick'] else ''}", "",
             f"Run {r['started']} to {r['finished']} on {r['machine']['cpus']} CPUs "
             f"(torch {r['machine']['torch']}, {r['machine']['torch_threads']} threads; load average "
             f"{r['machine']['load_average_start']} at the start, {r['machine']['load_average_end']} at the end). "
             f"Every ratio compares two things measured in this run on this machine; {r['questions']} questions from "
             "`evals/data/questions.yaml`, spread over every kind.", "", "## Targets", "",
             "| target | measured | met |", "|---|---|---|"]
    for t in targets(r):
        note = f" ({t['note']})" if t.get("note") else ""
        lines.append(f"| {t['target']}{note} | {t['value']} | {'met' if t['met'] else '**not met**'} |")
    lines += ["", "## Latency against the floor", ""] + headline(r)
    one = r.get("one_thread")
    if one:
        lines += ["", f"### torch threads: {one['default_threads']} (default) vs 1", "",
                  "| measure | default p50 / p95 ms | one thread p50 / p95 ms |", "|---|---|---|"]
        for name, default, single in (("query embedding", r["floor"], one["floor"]),
                                      ("search()", r["warm"]["search"], one["search"]),
                                      ("answer()", r["warm"]["answer"], one["answer"])):
            lines.append(f"| {name} | {_ms(default['p50'])} / {_ms(default['p95'])} | "
                         f"{_ms(single['p50'])} / {_ms(single['p95'])} |")
    lines += ["", "## HTTP (`hha serve` on 127.0.0.1, one process)", "",
              f"Ready {http['ready_s']} s after process start; first answer {http['first_answer_s']} s after start. "
              f"Resident memory {http['idle_rss_mb']:.0f} MB idle, {http['peak_rss_mb']:.0f} MB peak under load.", "",
              "| clients | requests | req/s | p50 ms | p95 ms | p99 ms | errors |", "|---|---|---|---|---|---|---|"]
    for clients, lv in http["levels"].items():
        lat = lv["latency_ms"]
        lines.append(f"| {clients} | {lv['requests']} | {lv['throughput_rps']:.2f} | {_ms(lat['p50'])} | "
                     f"{_ms(lat['p95'])} | {_ms(lat['p99'])} | {lv['errors']} |")
    lines += ["", "The service answers one request at a time (answering is CPU-bound on a shared model), so more "
              "clients queue: throughput stays flat and latency grows with the queue.", "",
              "## Ingest", "",
              "| | ours | baseline (LangChain quickstart) |", "|---|---|---|",
              f"| cold ingest, model loaded (s) | {ing['cold_s']} | {base['ingest_s']} |",
              f"| texts embedded | {ing['texts_embedded']} ({ing['passages']} passages, {ing['sentences']} sentences, "
              f"{ing['checklist_items']} checklist items) | {base['chunks']} chunks |",
              f"| passages/s | {ing['passages_per_s']} | {round(base['chunks'] / base['ingest_s'], 2)} chunks/s |",
              f"| ingest time vs baseline | {ratio(ing['cold_s'], base['ingest_s']):.2f}x | 1x |",
              f"| unchanged re-ingest | {ing['unchanged_in_process_s'] * 1000:.0f} ms in-process, "
              f"{ing['unchanged_cli_s']} s as `hha ingest` | (rebuilds every time) |", "",
              f"Model load: {r['model_load_s']} s. Our ingest embeds every guidance sentence as well as each passage, "
              "which is what lets answers pick sentences by meaning; that is most of the difference.", "",
              "## Cold start", "",
              f"A fresh `hha ask --json` process, start to printed answer: {r['cold_start']['ask_process_s']} s "
              f"(runs: {r['cold_start']['runs']}). The service: ready after {http['ready_s']} s.", "",
              "## Scale", "",
              "The corpus replicated as synthetic variants (place and area names replaced, a closing line added, a "
              "manifest entry each), ingested through the real load, clean, structure and passage stages. To avoid "
              "an hour of embedding, the replicated index reuses the 1x vectors (`evals.replicate`): the same text "
              "gets the same vector, and a text the renaming changed gets its original's vector. Each size is measured "
              f"in a fresh process, with torch on {SCALE_THREADS} thread (the embedding costs the same at every size; "
              "one thread keeps other work on the machine from swamping the difference).", "",
              "| corpus | documents | passages | sentences | index load s | search p50 / p95 ms | answer p50 / p95 ms "
              "| RSS MB (model / loaded / after) | exact vectors |", "|---|---|---|---|---|---|---|---|---|"]
    for factor, s in sorted(((int(k), v) for k, v in r["scale"].items())):
        lines.append(
            f"| {factor}x | {s['documents']} | {s['passages']} | {s['sentences']} | {s['index_load_s']} | "
            f"{_ms(s['search']['p50'])} / {_ms(s['search']['p95'])} | {_ms(s['answer']['p50'])} / "
            f"{_ms(s['answer']['p95'])} | {s['rss_model_mb']:.0f} / {s['rss_loaded_mb']:.0f} / "
            f"{s['rss_after_mb']:.0f} | {s.get('exact_vectors', 1.0):.1%} |")
    if r.get("load_by_stage"):
        lines += ["", "## Machine load during the run", "", "| stage | load average (1, 5, 15 min) |", "|---|---|"]
        lines += [f"| {stage} | {load} |" for stage, load in r["load_by_stage"].items()]
    if plot:
        lines += ["", f"![latency and scale]({plot})"]
    lines += ["", "Raw figures: `results.json`."]
    return "\n".join(lines) + "\n"


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = ["embed query (floor)", "search()", "answer()", "baseline search"]
    lats = [r["floor"], r["warm"]["search"], r["warm"]["answer"], r["baseline"]["search"]]
    for clients, level in r["http"]["levels"].items():
        names.append(f"HTTP {clients} client{'s' if int(clients) > 1 else ''}")
        lats.append(level["latency_ms"])
    xs = range(len(names))
    left.bar([x - 0.2 for x in xs], [lat["p50"] for lat in lats], width=0.4, label="p50")
    left.bar([x + 0.2 for x in xs], [lat["p95"] for lat in lats], width=0.4, label="p95")
    left.set_xticks(list(xs), names, rotation=35, ha="right", fontsize=8)
    left.set_yscale("log")
    left.set_ylabel("ms (log scale)")
    left.set_title("Latency, same run")
    left.legend()
    scale = sorted((int(k), v) for k, v in r["scale"].items())
    factors = [f for f, _ in scale]
    for what, style in (("search", "o-"), ("answer", "s-")):
        right.plot(factors, [s[what]["p95"] for _, s in scale], style, label=f"{what} p95 ms")
    right.set_xscale("log")
    right.set_xlabel("corpus size (x the real corpus)")
    right.set_ylabel("ms")
    mem = right.twinx()
    mem.plot(factors, [s["rss_after_mb"] for _, s in scale], "^--", color="grey", label="RSS MB")
    mem.set_ylabel("resident MB")
    right.set_title("Scale")
    handles = right.get_legend_handles_labels()
    extra = mem.get_legend_handles_labels()
    right.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary(r: dict) -> str:
    lines = headline(r) + ["", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['value']} | {'met' if t['met'] else 'NOT MET'} |" for t in targets(r)]
    return "\n".join(lines)


def main(settings, *, quick: bool = False, out_dir: Path | None = None) -> int:
    plan = Plan.make(quick)
    out_dir = Path(out_dir or settings.data_dir / "bench")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hha-bench-") as work:
        results = run(settings, plan, Path(work), out_dir)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
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
