"""How well sentences are labelled by kind (assistant.kinds), on the hand-labelled sample of the
corpus (`evals/data/sentence_labels.yaml`). The sample is split in two halves by a hash of the
text: the labelling rules were written looking at the "dev" half only; the "held-out" half is
only reported."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import yaml

from assistant.kinds import GUIDANCE, KINDS, sentence_kind
from assistant.records import SECTION_SEPARATOR
from evals.dataset import DATA_DIR

MANIFEST = Path(__file__).resolve().parent.parent / "corpus" / "manifest.toml"


def half(text: str) -> str:
    return "dev" if int(hashlib.sha256(text.encode()).hexdigest(), 16) % 2 == 0 else "held-out"


def labelling_scores(labels: Path = DATA_DIR / "sentence_labels.yaml", manifest: Path = MANIFEST) -> dict:
    rows = yaml.safe_load(labels.read_text(encoding="utf-8"))
    kinds = {k: v.get("kind", "") for k, v in tomllib.loads(manifest.read_text(encoding="utf-8")).items()}
    out = {}
    for name in ("dev", "held-out", "all"):
        chosen = [r for r in rows if name == "all" or half(r["text"]) == name]
        pairs = [(r["label"], sentence_kind(r["text"], tuple(r["section"].split(SECTION_SEPARATOR)) if r["section"]
                                            else (), kinds.get(r["doc"], ""))) for r in chosen]
        said_guidance = [truth for truth, predicted in pairs if predicted == GUIDANCE]
        is_guidance = [predicted for truth, predicted in pairs if truth == GUIDANCE]
        out[name] = {
            "sentences": len(pairs),
            "guidance_precision": round(sum(t == GUIDANCE for t in said_guidance) / max(1, len(said_guidance)), 3),
            "guidance_recall": round(sum(p == GUIDANCE for p in is_guidance) / max(1, len(is_guidance)), 3),
            "accuracy": round(sum(t == p for t, p in pairs) / max(1, len(pairs)), 3),
            "labels": {k: sum(t == k for t, _ in pairs) for k in KINDS},
        }
    return out
