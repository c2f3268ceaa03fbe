"""The benchmark report: targets judged, a headline table, Markdown and a plot. Pure apart from
writing the plot; a part that failed in the run shows as its error, never as a crash here."""

from __future__ import annotations

import math
from pathlib import Path

from evals.measure import ratio

FLOOR_MULTIPLE = 2.0  # warm answer p95 <= 2x the p95 of one query embedding
SCALE_MULTIPLE = 1.5  # p95 at 100x corpus <= 1.5x the p95 at 1x
SERVICE_MB = 1000.0  # resident memory of the service
REINGEST_S = 2.0  # unchanged re-ingest, as a person runs it (`hha ingest`)
LOAD_CLIENTS = 8  # concurrent clients with zero errors
LOAD_RPS = 30.0  # answers per second to questions from those clients
RUN_START_S = 10.0  # `hha run` to its first answer


def ok(part) -> bool:
    return isinstance(part, dict) and "error" not in part


def _levels(r: dict) -> dict[int, dict]:
    return {int(k): v for k, v in r["http"].get("levels", {}).items()} if ok(r.get("http")) else {}


def _scale(r: dict) -> dict[int, dict]:
    return {int(k): v for k, v in r.get("scale", {}).items()} if isinstance(r.get("scale"), dict) else {}


def floor_of(r: dict) -> dict:
    """The floor the targets use: 200 query embeddings in a row after a warm-up (else those
    timed between the answers, when that run failed)."""
    return r["floor"] if ok(r.get("floor")) else r["warm"]["floor"]


BUSY = 0.25  # others' share of the CPU above which a latency figure is marked as disturbed


def _share(r: dict, key: str) -> float:
    return (r.get("others_cpu", {}).get(key) or {}).get("share", 0.0)


def _busy_note(share: float) -> str:
    return f"machine busy: other work used {share:.0%} of the CPU" if share > BUSY else ""


def targets(r: dict) -> list[dict]:
    """Each target with its measured value and whether it is met (None: not measured)."""
    out = []

    def add(target: str, value: str, met: bool | None, note: str = "") -> None:
        out.append({"target": target, "value": value, "met": met, "note": note})

    name = f"warm answer p95 <= {FLOOR_MULTIPLE:g}x one query embedding (p95)"
    if ok(r.get("warm")):
        floor, answer = floor_of(r)["p95"], r["warm"]["answer"]["p95"]
        add(name, f"{answer:.1f} ms = {ratio(answer, floor):.2f}x of {floor:.1f} ms", ratio(answer, floor) <= FLOOR_MULTIPLE,
            _busy_note(_share(r, "warm")))
    else:
        add(name, "not measured", None)
    name = f"{LOAD_CLIENTS} concurrent clients over HTTP, zero errors"
    top = _levels(r).get(LOAD_CLIENTS)
    add(name, f"{top['errors']} errors in {top['requests']} requests" if top else "not measured",
        top["errors"] == 0 if top else None, _busy_note(_share(r, "http")) if top else "")
    name = f"{LOAD_CLIENTS} concurrent clients asking questions: >= {LOAD_RPS:g} answers/s"
    add(name, f"{top['throughput_rps']:.1f} answers/s (1 client: {_levels(r)[1]['throughput_rps']:.1f})"
        if top and 1 in _levels(r) else (f"{top['throughput_rps']:.1f} answers/s" if top else "not measured"),
        top["throughput_rps"] >= LOAD_RPS if top else None, _busy_note(_share(r, "http")) if top else "")
    scale = _scale(r)
    largest = max(scale, default=1)
    for what in ("answer", "search"):
        name = f"{what} p95 at {largest}x corpus <= {SCALE_MULTIPLE:g}x of 1x"
        base, big = scale.get(1), scale.get(largest)
        if largest > 1 and ok(base) and ok(big):
            a, b = base[what]["p95"], big[what]["p95"]
            add(name, f"{b:.1f} ms vs {a:.1f} ms = {ratio(b, a):.2f}x", ratio(b, a) <= SCALE_MULTIPLE,
                _busy_note(max(base.get("others_cpu_share", 0), big.get("others_cpu_share", 0))))
        else:
            add(name, f"not measured: {big['error'][:120]}" if isinstance(big, dict) and "error" in big
                else "not measured", None)
    name = f"service resident memory < {SERVICE_MB:.0f} MB (1x corpus, under load)"
    if ok(r.get("http")):
        peak = r["http"]["peak_rss_mb"]
        add(name, f"{peak:.0f} MB peak ({r['http']['idle_rss_mb']:.0f} MB idle)", peak < SERVICE_MB)
    else:
        add(name, "not measured", None)
    name = f"resident memory at {largest}x corpus <= {SERVICE_MB:.0f} MB (a fresh process answering)"
    if largest > 1 and ok(scale.get(largest)):
        big = scale[largest]["rss_after_mb"]
        add(name, f"{big:.0f} MB (1x: {scale[1]['rss_after_mb']:.0f} MB)" if ok(scale.get(1)) else f"{big:.0f} MB",
            big <= SERVICE_MB)
    else:
        add(name, "not measured", None)
    name = f"`hha run` to its first answer <= {RUN_START_S:g} s"
    if ok(r.get("run_start")):
        seconds = r["run_start"]["run_to_first_answer_s"]
        add(name, f"{seconds:.1f} s", seconds <= RUN_START_S, _busy_note(_share(r, "run_start")))
    else:
        add(name, "not measured", None)
    name = f"unchanged re-ingest < {REINGEST_S:g} s (`hha ingest`, fresh process)"
    if ok(r.get("ingest")):
        cli = r["ingest"]["unchanged_cli_s"]
        add(name, f"{cli:.2f} s ({r['ingest']['unchanged_in_process_s'] * 1000:.0f} ms in-process)", cli < REINGEST_S)
    else:
        add(name, "not measured", None)
    name = "cold ingest <= the naive pipeline's ingest (same run)"
    if ok(r.get("ingest")) and r["ingest"].get("naive_s"):
        ing = r["ingest"]
        add(name, f"{ing['cold_s']:.1f} s against {ing['naive_s']:.1f} s ({ratio(ing['cold_s'], ing['naive_s']):.2f}x)",
            ing["cold_s"] <= ing["naive_s"])
    else:
        add(name, "not measured", None)
    return out


def _ms(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


def _verdict(met: bool | None, bold: bool = True) -> str:
    if met is None:
        return "not measured"
    return "met" if met else ("**not met**" if bold else "NOT MET")


def headline(r: dict) -> list[str]:
    lines = ["| measure | p50 ms | p95 ms | x floor (p50 / p95) |", "|---|---|---|---|"]
    if not ok(r.get("floor")) and not ok(r.get("warm")):
        return lines + [f"| floor: one MiniLM query embedding | failed: {r.get('floor', {}).get('error', '?')} | | |"]
    floor = floor_of(r)

    def row(name: str, lat: dict) -> None:
        lines.append(f"| {name} | {_ms(lat['p50'])} | {_ms(lat['p95'])} | "
                     f"{ratio(lat['p50'], floor['p50']):.2f} / {ratio(lat['p95'], floor['p95']):.2f} |")

    row("floor: one MiniLM query embedding", floor)
    if ok(r.get("warm")) and r["warm"].get("floor"):
        row("  the same, timed between the answers", r["warm"]["floor"])
    if ok(r.get("warm")):
        row("search(), warm, in-process", r["warm"]["search"])
        row("answer(), warm, in-process", r["warm"]["answer"])
        row("  answer() of questions", r["warm"]["answer_questions"])
        row("  answer() of case descriptions", r["warm"]["answer_cases"])
        for kind, lat in r["warm"].get("by_kind", {}).items():
            if lat.get("n"):
                row(f"  answer(), {kind} (n={lat['n']})", lat)
    if ok(r.get("one_thread")):
        row("answer(), warm, torch on one thread", r["one_thread"]["answer"])
    if ok(r.get("baseline")):
        row("baseline retrieval (LangChain quickstart, k=8)", r["baseline"]["search"])
    for clients, level in sorted(_levels(r).items()):
        row(f"POST /api/ask, {clients} client{'s' if clients > 1 else ''}", level["latency_ms"])
    return lines


def _exact(factor: int, s: dict) -> str:
    if factor == 1:
        return "100.0%"
    return f"{s['exact_vectors']:.1%}" if "exact_vectors" in s else "(kept from an earlier run)"


def _costs(s: dict) -> str:
    costs = s.get("sentence_search_ms")
    if not costs:
        return "n/a"
    distinct = f"{_ms(costs['distinct'])} ({costs['distinct_rows']:,} rows)" if "distinct" in costs else "-"
    return f"{_ms(costs['exact'])} / {distinct} / {_ms(costs['hnsw'])}"


def _failed(r: dict, key: str) -> list[str]:
    part = r.get(key)
    return [] if ok(part) else [f"Not measured: {part.get('error', 'skipped') if isinstance(part, dict) else 'skipped'}"]


def report_markdown(r: dict, plot_name: str | None) -> str:
    m = r["machine"]
    lines = [f"# Benchmark report{' (quick)' if r['plan']['quick'] else ''}", "",
             f"Run {r['started']} to {r.get('finished', '?')} on {m['cpus']} CPUs (torch {m['torch']}, "
             f"{m['torch_threads']} threads; load average {m['load_average_start']} at the start, "
             f"{m.get('load_average_end')} at the end). Every ratio compares two things measured in this run on this "
             f"machine; {r['questions']} questions from `evals/data/questions.yaml`, spread over every kind.", "",
             "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for t in targets(r):
        note = f" ({t['note']})" if t.get("note") else ""
        lines.append(f"| {t['target']}{note} | {t['value']} | {_verdict(t['met'])} |")
    lines += ["", "## Latency against the floor", ""] + headline(r)
    if ok(r.get("one_thread")) and ok(r.get("warm")):
        one = r["one_thread"]
        lines += ["", f"### torch threads: {one['default_threads']} (default) vs 1", "",
                  "| measure | default p50 / p95 ms | one thread p50 / p95 ms |", "|---|---|---|"]
        for name, default, single in (("query embedding", floor_of(r), one["floor"]),
                                      ("search()", r["warm"]["search"], one["search"]),
                                      ("answer()", r["warm"]["answer"], one["answer"])):
            lines.append(f"| {name} | {_ms(default['p50'])} / {_ms(default['p95'])} | "
                         f"{_ms(single['p50'])} / {_ms(single['p95'])} |")
    lines += ["", "## HTTP (`hha serve` on 127.0.0.1, one process)", ""] + _failed(r, "http")
    if ok(r.get("http")):
        http = r["http"]
        lines += [f"Ready {http['ready_s']} s after process start; first answer {http['first_answer_s']} s after "
                  f"start. Resident memory {http['idle_rss_mb']:.0f} MB idle, {http['peak_rss_mb']:.0f} MB peak under "
                  "load.", "", "| clients | requests | req/s | p50 ms | p95 ms | p99 ms | errors |",
                  "|---|---|---|---|---|---|---|"]
        for clients, lv in sorted(_levels(r).items()):
            lat = lv["latency_ms"]
            lines.append(f"| {clients} | {lv['requests']} | {lv['throughput_rps']:.2f} | {_ms(lat['p50'])} | "
                         f"{_ms(lat['p95'])} | {_ms(lat['p99'])} | {lv['errors']} |")
        lines += ["", f"Questions only ({http.get('bodies', '?')} of them, in turn). Answers run on one worker thread "
                  "per core (the embedding releases the GIL); a bounded number wait, and past that the service says "
                  "503 with `Retry-After`. More clients than cores queue: latency grows with the queue."]
    lines += ["", "## Ingest", ""] + _failed(r, "ingest")
    if ok(r.get("ingest")):
        lines += _ingest_lines(r["ingest"], r.get("model_load_s"))
    lines += ["", "## Cold start", ""] + _failed(r, "cold_start") + _failed(r, "run_start")
    if ok(r.get("run_start")):
        lines.append(f"`hha run` (index check, API and chat started), process start to the API's first answer: "
                     f"{r['run_start']['run_to_first_answer_s']} s.")
    if ok(r.get("cold_start")):
        ready = f" The service: ready after {r['http']['ready_s']} s." if ok(r.get("http")) else ""
        lines.append(f"A fresh `hha ask --json` process, start to printed answer: {r['cold_start']['ask_process_s']} s "
                     f"(runs: {r['cold_start']['runs']}).{ready}")
    lines += ["", "## Scale", "",
              "The corpus replicated as synthetic variants (place and area names replaced, a closing line added, a "
              "manifest entry each), ingested through the real load, clean, structure and passage stages. To avoid "
              "an hour of embedding, the replicated index reuses the 1x vectors (`evals.replicate`): the same text "
              "gets the same vector, and a text the renaming changed gets its original's vector. Each size is "
              f"measured in a fresh process, with torch on {r.get('scale_threads', 1)} thread (the embedding costs "
              "the same at every size; one thread keeps other work on the machine from swamping the difference).", "",
              "| corpus | documents | passages | sentences | sentence search | index load s | search p50 / p95 ms "
              "| answer p50 / p95 ms | RSS MB (model / loaded / after) | sentence search ms (exact / distinct sentences / HNSW) "
              "| exact vectors |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for factor, s in sorted(_scale(r).items()):
        if not ok(s):
            lines.append(f"| {factor}x | failed: {s.get('error', '?')[:200]} |||||||| ")
            continue
        lines.append(
            f"| {factor}x | {s['documents']} | {s['passages']} | {s['sentences']} | {s.get('sentence_search', 'exact')} "
            f"| {s['index_load_s']} | "
            f"{_ms(s['search']['p50'])} / {_ms(s['search']['p95'])} | {_ms(s['answer']['p50'])} / "
            f"{_ms(s['answer']['p95'])} | {s['rss_model_mb']:.0f} / {s['rss_loaded_mb']:.0f} / "
            f"{s['rss_after_mb']:.0f} | {_costs(s)} | {_exact(factor, s)} |")
    if r.get("others_cpu"):
        lines += ["", "## Other work on the machine", "",
                  "Share of all CPU time used by processes other than the benchmark's own while each part ran (the "
                  f"quietest of up to {r['plan'].get('rounds', 1)} rounds for in-process latency). Above "
                  f"{BUSY:.0%}, latency figures of that part are disturbed.", "",
                  "| part | others' CPU share | rounds |", "|---|---|---|"]
        lines += [f"| {key} | {v['share']:.0%} | {v['rounds']} |" for key, v in r["others_cpu"].items()]
        lines += [f"| scale {f}x worker | {s.get('others_cpu_share', 0):.0%} | 1 |" for f, s in sorted(_scale(r).items())
                  if ok(s)]
    if r.get("load_by_stage"):
        lines += ["", "## Load average at each step", "", "| step | load average (1, 5, 15 min) |", "|---|---|"]
        lines += [f"| {stage} | {load} |" for stage, load in r["load_by_stage"].items()]
    if plot_name:
        lines += ["", f"![latency and scale]({plot_name})"]
    lines += ["", "Raw figures: `results.json`."]
    return "\n".join(lines) + "\n"


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    named = [("embed query (floor)", r.get("floor"))]
    if ok(r.get("warm")):
        named += [("search()", r["warm"]["search"]), ("answer()", r["warm"]["answer"])]
    if ok(r.get("baseline")):
        named.append(("baseline search", r["baseline"]["search"]))
    named += [(f"HTTP {c} client{'s' if c > 1 else ''}", lv["latency_ms"]) for c, lv in sorted(_levels(r).items())]
    named = [(n, lat) for n, lat in named if ok(lat)]
    xs = range(len(named))
    left.bar([x - 0.2 for x in xs], [lat["p50"] for _, lat in named], width=0.4, label="p50")
    left.bar([x + 0.2 for x in xs], [lat["p95"] for _, lat in named], width=0.4, label="p95")
    left.set_xticks(list(xs), [n for n, _ in named], rotation=35, ha="right", fontsize=8)
    left.set_yscale("log")
    left.set_ylabel("ms (log scale)")
    left.set_title("Latency, same run")
    left.legend()
    scale = [(f, s) for f, s in sorted(_scale(r).items()) if ok(s)]
    factors = [f for f, _ in scale]
    for what, style in (("search", "o-"), ("answer", "s-")):
        right.plot(factors, [s[what]["p95"] for _, s in scale], style, label=f"{what} p95 ms")
    right.set_xscale("log")
    right.set_xlabel("corpus size (x the real corpus)")
    right.set_ylabel("ms")
    mem = right.twinx()
    mem.plot(factors, [s["rss_after_mb"] for _, s in scale], "^--", color="grey", label="RSS MB")
    mem.set_ylabel("resident MB")
    right.set_title("Scale (fresh process per size)")
    handles, labels = right.get_legend_handles_labels()
    more_handles, more_labels = mem.get_legend_handles_labels()
    right.legend(handles + more_handles, labels + more_labels, fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary(r: dict) -> str:
    lines = headline(r) + ["", "| target | measured | met |", "|---|---|---|"]
    for t in targets(r):
        note = f" ({t['note']})" if t.get("note") else ""
        lines.append(f"| {t['target']}{note} | {t['value']} | {_verdict(t['met'], bold=False)} |")
    return "\n".join(lines)


def _ingest_lines(ing: dict, model_load_s) -> list[str]:
    """Our ingest beside the naive pipeline's, timed in the same minutes (older results, without
    that, are shown against nothing)."""
    naive = ing.get("naive_s")

    def versus(seconds: float) -> str:
        return f" ({ratio(seconds, naive):.2f}x the naive pipeline)" if naive else ""

    pieces = ing.get("word_pieces") or {}
    lines = ["| | ours | naive pipeline (LangChain quickstart) |", "|---|---|---|",
             f"| cold ingest, model loaded (s) | {ing['cold_s']}{versus(ing['cold_s'])} | {naive or '?'} |",
             f"| texts embedded | {ing.get('embedded', ing['texts_embedded'])} ({ing['passages']} passages, "
             f"{ing['sentences']} sentences, {ing['checklist_items']} checklist items) | "
             f"{ing.get('naive_chunks', '?')} chunks |"]
    if pieces:
        lines.append(f"| word pieces embedded | {sum(pieces.values()):,} (" + ", ".join(
            f"{k} {v:,}" for k, v in pieces.items()) + f") | {ing.get('naive_word_pieces', 0):,} |")
    if "add_source_s" in ing:
        lines.append(f"| adding one source ({ing['added_document']}) (s) | {ing['add_source_s']}"
                     f"{versus(ing['add_source_s'])}, {ing.get('add_source_embedded', '?')} texts embedded | "
                     "rebuilds everything |")
    lines.append(f"| unchanged re-ingest | {ing['unchanged_in_process_s'] * 1000:.0f} ms in-process, "
                 f"{ing['unchanged_cli_s']} s as `hha ingest`{versus(ing['unchanged_cli_s'])} | rebuilds every time |")
    stages = ing.get("stages_s") or {}
    lines += ["", f"Model load: {model_load_s} s."
              + (" Our cold ingest by stage: " + ", ".join(f"{k} {v} s" for k, v in stages.items()) + "." if stages
                 else "")]
    if naive:
        lines.append(f"The naive pipeline: {ing['naive_default_threads_s']} s with torch's default threads, "
                     f"{ing['naive_one_thread_s']} s on one (the faster is the reference); load average "
                     f"{ing['load_average'][0]} before, {ing['load_average'][1]} after.")
    return lines


if __name__ == "__main__":  # re-render a report from a saved results.json: python -m evals.bench_report PATH
    import json
    import sys

    source = Path(sys.argv[1])
    saved = json.loads(source.read_text(encoding="utf-8"))
    plot(saved, source.with_name("bench.png"))
    source.with_name("report.md").write_text(report_markdown(saved, "bench.png"), encoding="utf-8")
    print(summary(saved))
