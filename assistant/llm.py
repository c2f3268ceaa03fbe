"""The optional local chat model (off by default): it rewrites an answer's extracts into
prose, and every sentence it writes is checked against the passages it cites. Unsupported
sentences are dropped and flagged; if the model cannot be reached, the extractive answer
stands with a notice. LangChain chat models live here and nowhere else in the core."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from assistant.errors import ModelUnavailableError
from assistant.records import Answer, ProseSentence
from assistant.text import lexical_tokens, split_sentences

PROMPT = (Path(__file__).parent / "prompts" / "rewrite.txt").read_text(encoding="utf-8")
SUPPORT = 0.8  # share of a sentence's content words that its cited passages must contain
_CITE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_NUMBER = re.compile(r"\d[\d ]*\d|\d")

NOTICE_UNREACHABLE = "The local language model could not be reached, so the answer shows the extracts themselves."


def make_chat_model(provider: str, model: str, base_url: str | None = None):
    """A LangChain chat model on a local server: Ollama, or any OpenAI-compatible server."""
    try:
        if provider == "ollama":
            from langchain_ollama import ChatOllama

            return ChatOllama(model=model, base_url=base_url or "http://127.0.0.1:11434", temperature=0)
        if provider == "openai":
            from langchain_openai import ChatOpenAI

            return ChatOpenAI(model=model, base_url=base_url or "http://127.0.0.1:8000/v1", api_key="local",
                              temperature=0)
    except ImportError as exc:
        raise ModelUnavailableError(f"install the optional extra: pip install -e '.[llm]' ({exc})") from None
    raise ModelUnavailableError(f"unknown model provider {provider!r}: use 'ollama' or 'openai'")


def supported(sentence: str, passages: list[str]) -> float:
    """How well the cited passages support a sentence: the share of its content words they
    contain (0 when a number in the sentence is in none of them)."""
    source = " ".join(passages)
    for number in _NUMBER.findall(sentence):
        if number.replace(" ", "") not in source.replace(" ", ""):
            return 0.0
    words = set(lexical_tokens(sentence))
    if not words:
        return 0.0
    return len(words & set(lexical_tokens(source))) / len(words)


def rewrite(answer: Answer, model) -> Answer:
    """The answer with its guidance rewritten as checked prose, or unchanged with a notice."""
    extracts = [e for part in answer.parts for e in part.extracts]
    if answer.abstained or not extracts:
        return answer
    listing = "\n".join(f"[{e.citation}] {e.text}" for e in extracts)
    try:
        reply = model.invoke(PROMPT.format(question=answer.question, extracts=listing))
    except Exception:  # noqa: BLE001 - any failure of the model server means: no rewrite
        return replace(answer, notices=answer.notices + (NOTICE_UNREACHABLE,))
    passages = {c.n: c.passage.text for c in answer.citations}
    kept: list[ProseSentence] = []
    dropped = 0
    for sentence in split_sentences(str(getattr(reply, "content", reply))):
        cites = tuple(int(n) for group in _CITE.findall(sentence) for n in group.split(","))
        text = re.sub(r"\s+([.,;:!?])", r"\1", _CITE.sub("", sentence)).strip()
        cited = [passages[n] for n in cites if n in passages]
        score = supported(text, cited) if cited and len(cited) == len(cites) else 0.0
        if score >= SUPPORT and text:
            kept.append(ProseSentence(text=text, citations=cites, support=round(score, 3)))
        else:
            dropped += 1
    notices = answer.notices
    if dropped:
        notices += (f"{dropped} sentence(s) the language model wrote were not supported by the cited sources "
                    "and were removed.",)
    if not kept:
        return replace(answer, notices=notices)
    return replace(answer, mode="llm", prose=tuple(kept), notices=notices)
