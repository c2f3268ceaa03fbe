"""Privacy: case details typed into a question (a canary) never reach the index, the logs, the
data directory or temporary files; nothing connects beyond this machine (in-process, and in
child processes through `tests/netguard/sitecustomize.py`); telemetry is off."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
import time
import tomllib
import uuid
from pathlib import Path

import httpx
import pytest
from support import ROOT, guard_env, run_hha, small_corpus, violations_in

from evals.service import ServiceProcess, hha_command, hha_env

# Made at run time, so that no source or cache file holds it.
CANARY = f"Zq{uuid.uuid4().hex[:10]}Xv"
CASE = f"Mum is {CANARY}, 27, on a methadone script; her son Kai, 4, says he is hungry at nursery. What should I check?"


def holds(path: Path, needle: str) -> bool:
    """Whether a file's bytes (up to 64 MB) hold `needle` in UTF-8 or UTF-16."""
    try:
        with open(path, "rb") as f:
            data = f.read(64 << 20)
    except OSError:
        return False
    return needle.encode("utf-8") in data or needle.encode("utf-16-le") in data


def files_containing(root: Path, needle: str, limit: int = 20000) -> list[str]:
    """Files under `root` that hold `needle` (at most `limit` files looked at)."""
    files = (p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    return [str(p) for n, p in enumerate(files) if n < limit and holds(p, needle)]


def new_temp_files_containing(temp: Path, needle: str, since: float) -> list[str]:
    """Among the files and folders made in the system temporary directory since `since` (by
    anything that ignored TMPDIR), those that hold `needle`."""
    hits = []
    for entry in temp.iterdir():
        try:
            if entry.is_symlink() or entry.stat().st_mtime < since:
                continue
        except OSError:
            continue
        if entry.is_dir():
            hits += files_containing(entry, needle, limit=5000)
        elif holds(entry, needle):
            hits.append(str(entry))
    return hits


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, embedder):
    from assistant.store import StoreLocation
    from ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp("privacy")
    corpus = small_corpus(root / "corpus")
    run_ingest([corpus], StoreLocation(root / "data"), embedder=embedder)
    return corpus, root / "data"


# -- telemetry -------------------------------------------------------------------------------------


def test_chroma_telemetry_is_off():
    from chromadb.config import Settings as ChromaSettings

    from assistant.store import _settings

    assert _settings().anonymized_telemetry is False
    # Any other Chroma client in the process (the LangChain baseline's) gets it off too.
    assert os.environ.get("ANONYMIZED_TELEMETRY") == "False"
    assert ChromaSettings().anonymized_telemetry is False


def test_streamlit_usage_statistics_are_off():
    from ui.launch import streamlit_command

    command = streamlit_command(8501)
    assert command[command.index("--browser.gatherUsageStats") + 1] == "false"
    config = ROOT / ".streamlit" / "config.toml"
    if config.exists():
        with open(config, "rb") as f:
            assert tomllib.load(f)["browser"]["gatherUsageStats"] is False
    else:
        pytest.skip("no .streamlit/config.toml: `streamlit run ui/chat.py` started by hand would send usage stats")


# -- in-process ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_canary_in_a_question_leaves_no_trace_in_process(small_index, tmp_path, monkeypatch, caplog, capfd,
                                                          no_network):
    import tempfile

    from assistant.core import Assistant
    from assistant.embed import Embedder
    from assistant.render import to_markdown
    from assistant.store import StoreLocation

    _, data = small_index
    shutil.copytree(data, tmp_path / "data")
    system_temp = Path(tempfile.gettempdir())
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    caplog.set_level(logging.DEBUG)
    started = time.time() - 1
    # A fresh embedder: loading the model must not reach for a hub either.
    assistant = Assistant(StoreLocation(tmp_path / "data"), embedder=Embedder().load())
    answer = assistant.answer(CASE)
    assert answer.citations and CANARY not in to_markdown(answer)
    assistant.search(f"{CANARY} methadone storage")
    assistant.answer(f"{CANARY} " * 50)
    # A conversation: the canary in earlier turns, carried over to follow-ups and actions.
    follow = assistant.answer(f"and what if {CANARY} drinks too?", context=[CASE])
    assert follow.conversation.follow_up and CANARY not in to_markdown(follow)
    assistant.answer("Questions to explore only", context=[CASE, f"and what if {CANARY} drinks too?"])
    assistant.answer(f"New case: {CANARY}, 15, looks after her mum who drinks.", context=[CASE])
    out, err = capfd.readouterr()
    assert CANARY not in out + err
    assert not [r for r in caplog.records if CANARY in r.getMessage()]
    assert files_containing(tmp_path / "data", CANARY) == []
    assert files_containing(temp, CANARY) == []
    assert new_temp_files_containing(system_temp, CANARY, started) == []
    assert no_network == []


# -- child processes -------------------------------------------------------------------------------


def _remote_connections(pid: int) -> list[str]:
    import psutil

    try:
        conns = psutil.Process(pid).net_connections(kind="inet")
    except psutil.Error:
        return []
    out = []
    for c in conns:
        if c.raddr and not (c.raddr.ip.startswith("127.") or c.raddr.ip in ("::1", "::ffff:127.0.0.1")):
            out.append(f"{c.raddr.ip}:{c.raddr.port}")
    return out


@pytest.mark.slow
def test_the_service_builds_answers_and_logs_without_the_canary_or_the_network(small_index, tmp_path):
    corpus, _ = small_index
    data, temp, log = tmp_path / "data", tmp_path / "tmp", tmp_path / "service.log"
    temp.mkdir()
    violations = tmp_path / "net-violations.txt"
    env = {**guard_env(violations), "TMPDIR": str(temp), "HHA_CORPUS_DIR": str(corpus)}
    service = ServiceProcess(data, env=env, log_path=log).start()
    remote: list[str] = []
    watching = threading.Event()

    def watch() -> None:  # native code would bypass the Python socket guard: look at the sockets too
        while not watching.is_set():
            remote.extend(_remote_connections(service.pid))
            watching.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        service.wait_ready(timeout=400)  # no index yet: the service builds it, under the guard
        with httpx.Client(base_url=service.base_url, timeout=120) as http:
            ok = http.post("/api/ask", json={"question": CASE})
            assert ok.status_code == 200 and ok.json()["citations"]
            assert CANARY not in ok.json()["markdown"]
            for question in ("who do I ring out of hours?", "Shorter", f"what if {CANARY} is drinking too?"):
                turn = http.post("/api/ask", json={"question": question, "context": [CASE, f"{CANARY} again"]})
                assert turn.status_code == 200 and turn.json()["conversation"]["follow_up"], turn.text
            too_many = http.post("/api/ask", json={"question": "and?", "context": [CASE] * 21})
            assert too_many.status_code == 422 and CANARY not in too_many.text
            assert http.post("/api/search", json={"query": f"{CANARY} methadone"}).status_code == 200
            for body in ({"question": CASE, "area": CANARY}, {"question": CASE + " x" * 3000},
                         {"question": CASE, "role": CANARY}):
                refused = http.post("/api/ask", json=body)
                assert refused.status_code == 422 and CANARY not in refused.text, refused.text
            stored = http.post("/api/feedback", json={"rating": "down", "question": CASE, "passage_ids": []})
            assert stored.status_code == 200 and stored.json()["question_stored"] is False
    finally:
        watching.set()
        watcher.join(2)
        service.stop()
    assert (data / "feedback.jsonl").exists()
    assert files_containing(data, CANARY) == []
    assert files_containing(temp, CANARY) == []
    assert CANARY not in log.read_text(encoding="utf-8", errors="replace")
    assert "POST /api/ask" in log.read_text(encoding="utf-8", errors="replace"), "the access log was written"
    assert violations_in(violations) == []
    assert remote == []


@pytest.mark.slow
def test_the_cli_asks_chats_and_reingests_without_the_network_or_a_trace(small_index, tmp_path):
    corpus, data = small_index
    shutil.copytree(data, tmp_path / "data")
    temp = tmp_path / "tmp"
    temp.mkdir()
    violations = tmp_path / "net-violations.txt"
    env = {**guard_env(violations), "TMPDIR": str(temp)}
    ask = run_hha(["ask", "--json", CASE], tmp_path / "data", env=env)
    assert ask.returncode == 0, ask.stderr[-1000:]
    assert json.loads(ask.stdout)["citations"]
    assert CANARY not in ask.stderr
    chat = subprocess.run(hha_command("chat"), input=f"{CASE}\nwhat if {CANARY} drinks too?\n2\n/quit\n",
                          env=hha_env(tmp_path / "data", env), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert chat.returncode == 0, chat.stderr[-1000:]
    assert "Answering for the case above" in chat.stdout and "(Questions to explore only)" in chat.stdout
    assert CANARY not in chat.stderr
    again = run_hha(["ingest", str(corpus)], tmp_path / "data", env=env)
    assert again.returncode == 0 and "unchanged" in again.stdout, again.stderr[-1000:]
    assert files_containing(tmp_path / "data", CANARY) == []
    assert files_containing(temp, CANARY) == []
    assert violations_in(violations) == []


def test_the_guard_records_what_it_blocks(tmp_path):
    """The child-process guard itself: an outbound connection and a lookup are refused and recorded."""
    import subprocess
    import sys

    violations = tmp_path / "v.txt"
    code = ("import socket\n"
            "for connect in (lambda: socket.socket().connect(('192.0.2.1', 80)),\n"
            "                lambda: socket.create_connection(('example.org', 443), timeout=1)):\n"
            "    try:\n"
            "        connect()\n"
            "    except OSError as e:\n"
            "        print(type(e).__name__)\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); port = s.getsockname()[1]\n"
            "socket.create_connection(('127.0.0.1', port), timeout=1).close(); print('loopback ok')\n")
    env = {**os.environ, **guard_env(violations)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert proc.stdout.split() == ["ConnectionRefusedError", "gaierror", "loopback", "ok"], proc.stderr
    recorded = violations_in(violations)
    assert len(recorded) == 2 and "192.0.2.1" in recorded[0] and "example.org" in recorded[1]
