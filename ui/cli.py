"""`hha`: the command line. Settings are read here, once, and passed inward; errors of ours
become a message and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from assistant.errors import AssistantError
from assistant.settings import Settings

SAMPLE_QUESTION = "mum on a methadone script, two kids under five, what should I check?"


def _progress(mininterval: float = 0.5):
    """One bar per stage, created when the stage starts (so its rate is real) and showing the
    clock time the stage should finish at."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            if total <= 0:
                return
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="file" if stage == "reading" else "text", file=sys.stderr, leave=False,
                                     smoothing=0, dynamic_ncols=True, mininterval=mininterval)
        if done > bar.n:
            bar.update(done - bar.n)
            rate = bar.format_dict.get("rate") or (bar.n / max(bar.format_dict["elapsed"], 1e-9))
            if rate and bar.n < total:
                finish = time.localtime(time.time() + (total - bar.n) / rate)
                bar.set_postfix_str(f"done by {time.strftime('%H:%M:%S', finish)}")
        if done >= total:
            bar.close()

    return update


def _metadata(args) -> dict:
    return {
        "title": args.title, "publisher": args.publisher, "area": args.area, "scope": args.scope,
        "date": args.date, "version": args.version, "review_date": args.review_date, "kind": args.kind,
        "audience": args.audience, "summary": args.summary, "places": args.place or [],
    }


def cmd_ingest(args, settings: Settings) -> int:
    from ingest.library import Library
    from ingest.pipeline import run_ingest

    metadata = {k: v for k, v in _metadata(args).items() if v}
    paths = [Path(p) for p in args.paths]
    if args.only:
        if not paths:
            print("hha: --only needs the files to build from", file=sys.stderr)
            return 2
        report = run_ingest(paths, settings.store, progress=_progress(), force=args.force)
        print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
        return 0
    folders = [p for p in paths if p.is_dir()]
    if folders and (len(paths) > 1 or metadata or args.replaces):
        print("hha: a folder is built as it stands (it is a library of its own, with its manifest): give it alone, "
              "or add files one by one", file=sys.stderr)
        return 2
    library = Library(folders[0] if folders else settings.corpus_dir, settings.store)
    if not paths or folders:
        if metadata or args.replaces:
            print("hha: metadata flags and --replaces describe the files given: name them", file=sys.stderr)
            return 2
        report = library.rebuild(progress=_progress(), force=args.force)
        print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
        return 0
    change = library.add(paths, metadata, replaces=args.replaces, progress=_progress())
    if args.json:
        print(json.dumps({"added": change.added, "removed": change.removed, "assumed": change.assumed,
                          "report": change.report.to_dict() if change.report else None}, indent=2))
    else:
        print(change.summary())
    return 0


def cmd_sources(args, settings: Settings) -> int:
    from assistant.store import Catalog
    from ingest.library import Library, sources

    if args.action == "remove":
        if not args.id:
            print("hha: which source? `hha sources remove ID` (ids from `hha sources`)", file=sys.stderr)
            return 2
        listed = {s["id"]: s for s in sources(Catalog(settings.store), settings.corpus_dir)}
        title = listed.get(args.id, {}).get("title", args.id)
        if not args.yes:
            if not sys.stdin.isatty():
                print("hha: not removing without confirmation: add --yes", file=sys.stderr)
                return 2
            reply = input(f"Remove {args.id} ({title}) from the library and rebuild the index? [y/N] ")
            if reply.strip().lower() not in ("y", "yes"):
                print("nothing removed")
                return 1
        change = Library(settings.corpus_dir, settings.store).remove(args.id, progress=_progress())
        print(change.summary())
        return 0
    rows = sources(Catalog(settings.store), settings.corpus_dir)
    if args.json:
        print(json.dumps({"sources": rows}, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("no index yet: run `hha ingest`")
        return 0
    for r in rows:
        version = "".join(f", {k} {r[v]}" for k, v in (("version", "version"), ("review", "review_date")) if r[v])
        ocr = f", {len(r['ocr_pages'])} pages by OCR" if r["ocr_pages"] else ""
        print(f"{r['id']}\n  {r['title']}\n  area: {r['area']} ({r['scope']}) · kind: {r['kind']} · "
              f"pages: {r['pages'] if r['pages'] is not None else '-'} · passages: {r['passages']} · "
              f"checklist items: {r['checklist_items']} · added: {r['added']}"
              f"{' · date: ' + r['date'] if r['date'] else ''}{version}{ocr}"
              f"{'' if r['in_library'] else ' · not in the library folder (built with --only)'}")
    return 0


def _area(args) -> str | None:
    return args.area or None


def cmd_ask(args, settings: Settings) -> int:
    import assistant
    from assistant.render import to_markdown

    answer = assistant.open_assistant(settings).answer(" ".join(args.question), area=_area(args), role=args.role)
    print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False) if args.json else to_markdown(answer))
    return 0


def cmd_chat(args, settings: Settings) -> int:
    import assistant
    from ui.terminal import run_chat

    print("Loading the guidance index…", file=sys.stderr)
    helper = assistant.open_assistant(settings)
    _ = helper.index  # fail here, before the first question, when there is no index
    return run_chat(helper, area=_area(args), role=args.role)


def cmd_search(args, settings: Settings) -> int:
    import assistant

    hits = assistant.open_assistant(settings).search(" ".join(args.query), area=_area(args), k=args.k)
    if args.json:
        print(json.dumps({"hits": [h.to_dict() for h in hits]}, indent=2, ensure_ascii=False))
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

    if args.conversations:
        from evals.conversations import main as conversations_main

        return conversations_main(settings, out_dir=args.out)
    return eval_main(settings, gate=args.gate, baseline=not args.no_baseline, out_dir=args.out, sweep=args.sweep)


def cmd_train_ranker(args, settings: Settings) -> int:
    from evals.train_ranker import main as train_main

    return train_main(settings)


def cmd_bench(args, settings: Settings) -> int:
    from evals.bench import main as bench_main

    return bench_main(settings, quick=args.quick, out_dir=args.out, scale=args.scale)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hha", description="Hidden Harm guidance assistant")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add files to the source library and rebuild (no files: rebuild the library)")
    p.add_argument("paths", nargs="*", help="files to add (copied into the corpus folder), or one folder to build from")
    p.add_argument("--only", action="store_true", help="build from exactly these files, not the library")
    p.add_argument("--replaces", metavar="ID", help="the one file given is a new version of source ID")
    p.add_argument("--area", help="the area whose protocol this is, e.g. 'Northmoor'")
    p.add_argument("--place", action="append", help="a place in the area (repeat): questions naming it find it")
    p.add_argument("--kind", help="e.g. 'local protocol', 'national report'")
    p.add_argument("--scope", choices=["local", "national"])
    p.add_argument("--title")
    p.add_argument("--publisher")
    p.add_argument("--date", help="its issue date, e.g. 'March 2024'")
    p.add_argument("--version")
    p.add_argument("--review-date", dest="review_date", help="when it is due for review, e.g. 'March 2026'")
    p.add_argument("--audience")
    p.add_argument("--summary")
    p.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("sources", help="list the sources of the index; `sources remove ID` removes one")
    p.add_argument("action", nargs="?", choices=["list", "remove"], default="list")
    p.add_argument("id", nargs="?")
    p.add_argument("--yes", action="store_true", help="remove without asking")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sources)

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

    p = sub.add_parser("chat", help="a conversation in the terminal: follow-ups keep the case (memory only)")
    p.add_argument("--area", help="your area, e.g. 'Bedford Borough, Central Bedfordshire and Luton'")
    p.add_argument("--role", default="practitioner", choices=["practitioner", "manager", "trainer"])
    p.set_defaults(func=cmd_chat)

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
    p.add_argument("--sweep", action="store_true", help="search the composer's tuning on the dev set only")
    p.add_argument("--conversations", action="store_true",
                   help="only the multi-turn conversations: follow-ups with their case, and the follow-up decision")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("train-ranker", help="fit the ranker and the decline model on the dev set (package data)")
    p.set_defaults(func=cmd_train_ranker)

    p = sub.add_parser("bench", help="measure speed and memory against a baseline in the same run")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--scale", type=int, default=None,
                   help="the largest corpus size to measure, as a multiple of the corpus (default 100; 10 with --quick)")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args, Settings.from_env())
    except AssistantError as exc:
        print(f"hha: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
