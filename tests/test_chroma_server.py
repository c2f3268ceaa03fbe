"""The same ingest and answers against a real `chroma run` server on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.core import Assistant
from assistant.store import Catalog, StoreLocation
from ingest.pipeline import run_ingest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = _free_port()
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("chroma server did not start within 60 s")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_ingest_and_answer_through_a_chroma_server(tmp_path, chroma_server, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("beds-luton-guidance-2017.txt", "manifest.toml"):
        shutil.copy(ROOT / "corpus" / name, corpus / name)
    location = StoreLocation(tmp_path / "data", host="127.0.0.1", port=chroma_server)
    report = run_ingest([corpus], location, embedder=embedder)
    assert report.passages > 30 and not report.unchanged
    assert not (location.index_dir / "builds").exists()  # nothing stored locally: the server holds it
    assert Catalog(location).current_id() == report.build
    assert run_ingest([corpus], location).unchanged

    answer = Assistant(location, embedder=embedder).answer("out of hours number for children's social care in Luton?")
    assert "0300 300 8123" in " ".join(e.text for e in answer.all_extracts())

    rebuilt = run_ingest([corpus], location, embedder=embedder, force=True)
    assert Catalog(location).current_id() == rebuilt.build != report.build
