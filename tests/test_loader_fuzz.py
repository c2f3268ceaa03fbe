"""A bounded fuzz of the file loaders: valid PDFs made with reportlab, mutated (bytes flipped,
truncated, sections duplicated or deleted, numbers and lengths broken, objects made to refer to
themselves, files spliced). Every input must end accepted (with passages that fit the model)
or skipped with a `SkippedFile` reason: no other exception, no hang, bounded memory.

Inputs run in two worker processes, each under an address-space limit, with a per-input
alarm that raises a BaseException (so that the loader's own `except Exception` cannot hide a
hang) and a per-batch deadline in the parent for a hang the alarm cannot break."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

SEED = 20240611
PER_INPUT_SECONDS = 5
BUDGET_SECONDS = 60
BATCH = 40
MEMORY_LIMIT = 3 << 30  # address space per worker
MIN_INPUTS = 1500


# -- seeds -----------------------------------------------------------------------------------------


def seed_pdfs(folder: Path) -> dict[str, bytes]:
    from pypdf import PdfReader, PdfWriter
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    paragraphs = [
        "9.2.2 It is critical that practitioners consider the impact of parental substance misuse on the child.",
        "• Where is the injecting equipment kept? Are works kept securely?",
        "• Do they use methadone storage boxes appropriately?",
        "Practice tip 1: Engagement and assessment of parents who use drugs or alcohol.",
    ]

    def document(name: str, compress: int, pages: int) -> Path:
        path = folder / name
        c = canvas.Canvas(str(path), pagesize=A4, pageCompression=compress)
        c.setTitle("Working with parents who misuse substances")
        c.setAuthor("A safeguarding partnership")
        for page in range(pages):
            c.setFont("Helvetica", 9)
            c.drawString(72, 810, "Safeguarding protocol - version 3")
            c.setFont("Helvetica-Bold", 13)
            c.drawString(72, 770, f"{page + 1}. Section heading {page + 1}")
            c.setFont("Helvetica", 11)
            y = 740
            for n, text in enumerate(paragraphs * 3):
                c.drawString(72, y - 18 * n, text)
            c.bookmarkPage(f"p{page}")
            c.addOutlineEntry(f"Section {page + 1}", f"p{page}")
            c.drawString(290, 30, str(page + 1))
            c.showPage()
        c.save()
        return path

    plain = document("plain.pdf", 0, 3)
    compressed = document("compressed.pdf", 1, 2)
    writer = PdfWriter(clone_from=PdfReader(str(compressed)))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    encrypted = folder / "encrypted.pdf"
    with open(encrypted, "wb") as f:
        writer.write(f)
    return {p.name: p.read_bytes() for p in (plain, compressed, encrypted)}


# -- mutations -------------------------------------------------------------------------------------

_NUMBER = re.compile(rb"(?<![\w.])\d+(?![\w.])")
_WEIRD_NUMBERS = [b"0", b"-1", b"999999999", b"18446744073709551617", b"1e308", b"-0", b"3.4.5", b"2147483648"]


def mutate(data: bytes, seeds: list[bytes], rng: random.Random) -> tuple[str, bytes]:
    kind = rng.choice(["flip", "truncate", "duplicate", "delete", "number", "length", "self-reference", "splice",
                       "insert", "nest", "xref", "stack"])
    b = bytearray(data)
    n = len(b)
    if kind == "flip":
        for _ in range(rng.randint(1, 30)):
            b[rng.randrange(n)] = rng.randrange(256)
    elif kind == "truncate":
        b = b[: rng.randrange(n)]
    elif kind == "duplicate":
        a = rng.randrange(n)
        z = min(n, a + rng.randint(1, 4000))
        at = rng.randrange(n)
        b[at:at] = b[a:z] * rng.randint(1, 5)
    elif kind == "delete":
        a = rng.randrange(n)
        del b[a : a + rng.randint(1, 4000)]
    elif kind == "number":
        matches = list(_NUMBER.finditer(data))
        for m in rng.sample(matches, min(len(matches), rng.randint(1, 8))):
            b = bytearray(bytes(b).replace(m.group(0), rng.choice(_WEIRD_NUMBERS), 1))
    elif kind == "length":
        b = bytearray(re.sub(rb"/Length \d+", lambda _: b"/Length " + rng.choice(_WEIRD_NUMBERS), data))
    elif kind == "self-reference":
        refs = re.findall(rb"\d+ 0 R", data)
        objs = re.findall(rb"(\d+) 0 obj", data)
        if refs and objs:
            target = rng.choice(objs) + b" 0 R"
            b = bytearray(data.replace(rng.choice(refs), target))
    elif kind == "splice":
        other = rng.choice(seeds)
        b = bytearray(data[: rng.randrange(n)] + other[rng.randrange(len(other)) :])
    elif kind == "insert":
        at = rng.randrange(n)
        b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
    elif kind == "nest":
        at = rng.randrange(n)
        b[at:at] = rng.choice([b"[", b"<<", b"("]) * rng.randint(100, 5000)
    elif kind == "xref":
        b = bytearray(re.sub(rb"\d{10} \d{5} [nf]", lambda _: b"%010d 00000 n" % rng.randrange(10 * n), data))
    elif kind == "stack":
        b = bytearray(data)
        for _ in range(rng.randint(2, 4)):
            _, b = mutate(bytes(b), seeds, rng)
            b = bytearray(b)
    return kind, bytes(b)


# -- the worker ------------------------------------------------------------------------------------


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so that no `except Exception` swallows it."""


def _alarm(signum, frame):
    raise Hang()


def _worker_init() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    signal.signal(signal.SIGALRM, _alarm)
    # pypdf prints a line for every oddity of a damaged file; the outcomes say what matters.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


_counter = None


def run_batch(batch: list[tuple[str, str, bytes]], workdir: str) -> list[tuple[str, str, str]]:
    """(name, mutation, data) -> (name, outcome, detail); outcome is accepted, skipped, hang,
    crash or memory. Also returns this worker's peak RSS as a last pseudo-row."""
    global _counter
    from assistant.embed import TokenCounter
    from assistant.errors import SkippedFile
    from ingest.passages import MAX_PASSAGE_TOKENS, embedding_text
    from ingest.pipeline import process_file

    if _counter is None:
        _counter = TokenCounter()
    out = []
    for name, kind, data in batch:
        path = Path(workdir) / f"{os.getpid()}-{name}.pdf"
        path.write_bytes(data)
        signal.alarm(PER_INPUT_SECONDS)
        try:
            doc, passages, items, pages, _ = process_file(path, None, "0" * 64, _counter)
            too_long = [p.id for p in passages if _counter(p.text) > MAX_PASSAGE_TOKENS]
            for p in passages:
                embedding_text(p, _counter)
            out.append((name, "crash" if too_long else "accepted", f"{kind}: {len(passages)} passages"
                        + (f", {len(too_long)} over the limit" if too_long else "")))
        except SkippedFile as exc:
            out.append((name, "skipped", f"{kind}: {exc}"))
        except Hang:
            out.append((name, "hang", kind))
        except MemoryError:
            out.append((name, "memory", kind))
        except BaseException as exc:  # noqa: BLE001 - any other escape is what this test looks for
            out.append((name, "crash", f"{kind}: {type(exc).__name__}: {str(exc)[:200]}"))
        finally:
            signal.alarm(0)
            path.unlink(missing_ok=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.append(("peak-rss", "rss", f"{peak_mb:.0f}"))
    return out


# -- the test --------------------------------------------------------------------------------------


def fuzz(tmp_path: Path) -> dict:
    """The fuzz itself, run in a fresh interpreter (see the test below)."""
    seeds = seed_pdfs(tmp_path)
    rng = random.Random(SEED)
    seed_list = list(seeds.values())
    ctx = multiprocessing.get_context("spawn")
    outcomes: Counter = Counter()
    problems: list[tuple[str, str, str]] = []
    examples: dict[str, str] = {}
    seed_failures: list[str] = []
    peak_mb = 0.0
    started = time.monotonic()
    pool = ctx.Pool(2, initializer=_worker_init, maxtasksperchild=20)
    try:
        # The originals first: each must be accepted (the encrypted one opens with the empty password).
        pending = [pool.apply_async(run_batch, ([(name, "none", data) for name, data in seeds.items()], str(tmp_path)))]
        serial = 0
        while True:
            while len(pending) < 4 and time.monotonic() - started < BUDGET_SECONDS:
                batch = []
                for _ in range(BATCH):
                    source = rng.choice(seed_list)
                    kind, data = mutate(source, seed_list, rng)
                    batch.append((f"m{serial:05d}", kind, data))
                    serial += 1
                pending.append(pool.apply_async(run_batch, (batch, str(tmp_path))))
            if not pending:
                break
            job = pending.pop(0)
            try:
                rows = job.get(timeout=BATCH * PER_INPUT_SECONDS + 30)
            except multiprocessing.TimeoutError:
                problems.append(("batch", "hang", "a batch outlived its deadline (a hang the alarm could not break)"))
                break
            for name, outcome, detail in rows:
                if outcome == "rss":
                    peak_mb = max(peak_mb, float(detail))
                    continue
                outcomes[outcome] += 1
                examples.setdefault(outcome, detail)
                if name in seeds and outcome != "accepted":
                    seed_failures.append(f"seed {name}: {detail}")
                if outcome not in ("accepted", "skipped"):
                    problems.append((name, outcome, detail))
    finally:
        pool.terminate()
        pool.join()
    return {"outcomes": dict(outcomes), "problems": problems[:10], "examples": examples, "peak_mb": peak_mb,
            "elapsed": time.monotonic() - started, "seed_failures": seed_failures}


@pytest.mark.slow
def test_mutated_pdfs_are_accepted_or_skipped_with_a_reason(tmp_path):
    # A fresh interpreter owns the worker pool: a pool spawned from a test process that has
    # already loaded torch, Chroma and a server or two is at the mercy of that state.
    result = subprocess.run([sys.executable, __file__, str(tmp_path)], capture_output=True, text=True,
                            timeout=BUDGET_SECONDS + BATCH * PER_INPUT_SECONDS + 120, cwd=Path(__file__).parent.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    outcomes, peak_mb = Counter(found["outcomes"]), found["peak_mb"]
    total = sum(outcomes.values())
    print(f"\nfuzzed {total} inputs in {found['elapsed']:.0f} s: {dict(outcomes)}; worker peak RSS {peak_mb:.0f} MB")
    for outcome, detail in found["examples"].items():
        print(f"  e.g. {outcome}: {detail[:160]}")
    assert found["seed_failures"] == []
    assert not found["problems"], found["problems"]
    assert total >= MIN_INPUTS, f"only {total} inputs in the time budget"
    assert outcomes["accepted"] > 0 and outcomes["skipped"] > 0
    assert peak_mb < MEMORY_LIMIT / 2**20


def test_mutations_are_reproducible_and_change_the_input():
    seeds = [b"%PDF-1.4\n1 0 obj << /Length 12 /Type /Page /Parent 2 0 R >> endobj\nxref\n0000000000 65535 f\n" * 3]
    first = [mutate(seeds[0], seeds, random.Random(1)) for _ in range(1)]
    again = [mutate(seeds[0], seeds, random.Random(1)) for _ in range(1)]
    assert first == again
    rng = random.Random(2)
    changed = sum(mutate(seeds[0], seeds, rng)[1] != seeds[0] for _ in range(200))
    assert changed >= 180


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(json.dumps(fuzz(Path(sys.argv[1]))))
