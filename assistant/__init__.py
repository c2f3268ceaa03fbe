"""The Hidden Harm guidance assistant: cited guidance from safeguarding protocols.

    import assistant
    answer = assistant.answer("mum on a methadone script, two kids under five, what should I check?")

Importing this package is cheap: torch, chromadb, streamlit and fastapi load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.errors import (
    AssistantError,
    BadQuestionError,
    IndexLockedError,
    NoIndexError,
    UnknownAreaError,
)
from assistant.records import Answer, ChecklistItem, Citation, Document, Extract, Hit, Passage

if TYPE_CHECKING:
    from assistant.core import Assistant

__all__ = [
    "Answer", "Assistant", "AssistantError", "BadQuestionError", "ChecklistItem", "Citation", "Document",
    "Extract", "Hit", "IndexLockedError", "NoIndexError", "Passage", "UnknownAreaError", "answer", "open_assistant",
    "search",
]

_default: Assistant | None = None


def open_assistant(settings=None) -> Assistant:
    """An assistant over the index the settings point at (default: from the environment)."""
    from assistant.core import Assistant
    from assistant.settings import Settings

    settings = settings or Settings.from_env()
    chat_model = None
    if settings.llm_provider and settings.llm_model:
        from assistant.llm import make_chat_model

        chat_model = make_chat_model(settings.llm_provider, settings.llm_model, settings.llm_base_url)
    return Assistant(settings.store, chat_model=chat_model, max_source_age_years=settings.max_source_age_years)


def _assistant() -> Assistant:
    global _default
    if _default is None:
        _default = open_assistant()
    return _default


def answer(question: str, *, area: str | None = None, role: str = "practitioner") -> Answer:
    """Guidance for a question or a case description, every sentence cited."""
    return _assistant().answer(question, area=area, role=role)


def search(query: str, *, area: str | None = None, k: int = 8) -> list[Hit]:
    """The passages that best match a query, best first."""
    return _assistant().search(query, area=area, k=k)


def __getattr__(name: str):
    if name == "Assistant":
        from assistant.core import Assistant

        return Assistant
    raise AttributeError(name)
