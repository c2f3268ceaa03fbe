"""What a start costs: a process answering over a built index reads it from files beside the
build (written on the first load) and embeds queries without sentence-transformers, so it
imports neither chromadb nor sentence-transformers/transformers; and it answers as a process
that read Chroma did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

ANSWER = """
import json, sys
from pathlib import Path
from assistant.core import Assistant
from assistant.store import StoreLocation
assistant = Assistant(StoreLocation(Path(sys.argv[1])))
answer = assistant.answer("where should methadone be kept at home?").to_dict()
answer.pop("timings_ms", None)
print(json.dumps({"answer": answer, "passages": len(assistant.index.passages),
                  "imported": sorted(m for m in ("chromadb", "sentence_transformers", "transformers")
                                     if m in sys.modules)}))
"""


def _answer_in_a_fresh_process(data_dir: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.run([sys.executable, "-c", ANSWER, str(data_dir)], env=env, capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_second_start_reads_files_not_chroma_and_answers_the_same(corpus_location, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(corpus_location.data_dir, data)
    for kept in data.glob("index/builds/*/*-reading.*"):
        kept.unlink()  # as after an ingest: nothing read yet
    first = _answer_in_a_fresh_process(data)
    assert "chromadb" in first["imported"]  # the first load reads Chroma and writes the files
    assert list(data.glob("index/builds/*/*-reading.json")) and list(data.glob("index/builds/*/*-reading.npz"))
    second = _answer_in_a_fresh_process(data)
    assert second["imported"] == []
    assert second["answer"] == first["answer"] and second["passages"] == first["passages"]
    assert second["answer"]["citations"]
