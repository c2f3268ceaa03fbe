"""`hha`: the command line. Settings are read here, once, and passed inward; errors of ours
become a message and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant.errors import AssistantError
from assistant.settings import Settings

SAMPLE_QUESTION = "mum on a methadone script, two kids under five, what should I check?"


def _progress():
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = tqdm(total=total, desc=stage, unit="text", file=sys.stderr, leave=False)
        bar = bars[stage]
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def cmd_ingest(args, settings: Settings) -> int:
    from ingest.pipeline import run_ingest

    paths = [Path(p) for p in args.paths] or [settings.corpus_dir]
    report = run_ingest(paths, settings.store, progress=_progress(), force=args.force)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    return 0


def _area(args) -> str | None:
    return args.area or None


def cmd_ask(args, settings: Settings) -> int:
    import assistant
    from assistant.render import to_markdown

    answer = assistant.open_assistant(settings).answer(" ".join(args.question), area=_area(args), role=args.role)
    print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False) if args.json else to_markdown(answer))
    return 0


def cmd_search(args, settings: Settings) -> int:
    import assistant

    hits = assistant.open_assistant(settings).search(" ".join(args.query), area=_area(args), k=args.k)
    if args.json:
        print(json.dumps({"passages": [h.to_dict() for h in hits]}, indent=2, ensure_ascii=False))
        return 0
    for n, hit in enumerate(hits, 1):
        p = hit.passage
        print(f"{n}. [{hit.score:.4f} sim {hit.similarity:.2f}] {p.citation_label}")
        print("   " + p.text[:300].replace("\n", "\n   ") + ("…" if len(p.text) > 300 else ""))
    return 0


def cmd_serve(args, settings: Settings) -> int:
    from ui.api import serve

    serve(settings, host=args.host, port=args.port)
    return 0


def cmd_ui(args, settings: Settings) -> int:
    from ui.launch import run_ui

    return run_ui(settings, port=args.port)


def cmd_run(args, settings: Settings) -> int:
    from ui.launch import run_all

    return run_all(settings, api_port=args.api_port, ui_port=args.ui_port)


def cmd_eval(args, settings: Settings) -> int:
    from evals.run import main as eval_main

    return eval_main(settings, gate=args.gate, baseline=not args.no_baseline, out_dir=args.out)


def cmd_bench(args, settings: Settings) -> int:
    from evals.bench import main as bench_main

    return bench_main(settings, quick=args.quick, out_dir=args.out, scale=args.scale)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hha", description="Hidden Harm guidance assistant")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="build the index from the corpus (or the given files/folders)")
    p.add_argument("paths", nargs="*")
    p.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ingest)

    for name, func, arg in (("ask", cmd_ask, "question"), ("search", cmd_search, "query")):
        p = sub.add_parser(name, help=f"{name} the guidance")
        p.add_argument(arg, nargs="+")
        p.add_argument("--area", help="your area, e.g. 'Bedford Borough, Central Bedfordshire and Luton'")
        p.add_argument("--json", action="store_true")
        if name == "ask":
            p.add_argument("--role", default="practitioner", choices=["practitioner", "manager", "trainer"])
        else:
            p.add_argument("-k", type=int, default=8)
        p.set_defaults(func=func)

    p = sub.add_parser("serve", help="the HTTP API (one process owns the index)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("ui", help="the Streamlit chat (talks to the API)")
    p.add_argument("--port", type=int, default=8501)
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("run", help="ingest if needed, then start the API and the chat on localhost")
    p.add_argument("--api-port", type=int, default=8765)
    p.add_argument("--ui-port", type=int, default=8501)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("eval", help="score retrieval and answers on the evaluation set, with a baseline")
    p.add_argument("--gate", action="store_true", help="exit non-zero if quality is below the committed thresholds")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--out", type=Path, default=None)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="measure speed and memory against a baseline in the same run")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--scale", type=int, default=None,
                   help="the largest corpus size to measure, as a multiple of the corpus (default 100; 10 with --quick)")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        return args.func(args, settings)
    except AssistantError as exc:
        print(f"hha: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
