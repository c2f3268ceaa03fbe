"""Settings, read once at an entry point (CLI, API app, UI, evals) and passed inward.
Defaults work on a fresh machine with no configuration."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import SettingsError
from assistant.store import StoreLocation

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    corpus_dir: Path = PROJECT_ROOT / "corpus"
    chroma_host: str | None = None
    chroma_port: int = 8000
    llm_provider: str | None = None  # "ollama" or "openai" (any OpenAI-compatible local server)
    llm_model: str | None = None
    llm_base_url: str | None = None
    api_url: str = "http://127.0.0.1:8765"
    api_token: str | None = None
    max_source_age_years: float | None = None  # flag cited sources issued longer ago than this
    workers: int = 0  # answers computed at once by the API; 0: four per CPU core
    queue_depth: int = 32  # answers waiting for a worker before the API says 503 (busy)
    max_upload_mb: float = 20.0  # the largest source file the API takes (HHA_MAX_UPLOAD_MB)
    extra: dict = field(default_factory=dict)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    @property
    def store(self) -> StoreLocation:
        return StoreLocation(self.data_dir, self.chroma_host, self.chroma_port)

    @classmethod
    def from_env(cls, env: dict | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            data_dir=Path(env.get("HHA_DATA_DIR", "data")).resolve(),
            corpus_dir=Path(env.get("HHA_CORPUS_DIR", PROJECT_ROOT / "corpus")).resolve(),
            chroma_host=env.get("HHA_CHROMA_HOST") or None,
            chroma_port=_port(env, "HHA_CHROMA_PORT", 8000),
            llm_provider=env.get("HHA_LLM_PROVIDER") or None,
            llm_model=env.get("HHA_LLM_MODEL") or None,
            llm_base_url=env.get("HHA_LLM_BASE_URL") or None,
            api_url=env.get("HHA_API_URL", "http://127.0.0.1:8765"),
            api_token=env.get("HHA_API_TOKEN") or None,
            max_source_age_years=_positive_float(env.get("HHA_MAX_SOURCE_AGE_YEARS")),
            workers=_whole(env, "HHA_WORKERS", 0),
            queue_depth=_whole(env, "HHA_QUEUE_DEPTH", 32),
            max_upload_mb=_positive_float(env.get("HHA_MAX_UPLOAD_MB")) or 20.0,
        )


def _positive_float(value: str | None) -> float | None:
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    return number if number and number > 0 else None


def _whole(env: dict, name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isascii() or not value.isdigit():
        raise SettingsError(f"{name} must be a whole number of 0 or more, not {value!r}")
    return int(value)


def _port(env: dict, name: str, default: int) -> int:
    port = _whole(env, name, default)
    if not 1 <= port <= 65535:
        raise SettingsError(f"{name} must be a port number from 1 to 65535, not {port}")
    return port
