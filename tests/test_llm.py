"""The optional language model: its sentences are kept only when their cited passages
support them. The model is scripted here: it is a boundary we do not own."""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from assistant.core import Assistant
from assistant.llm import NOTICE_UNREACHABLE, supported
from assistant.render import to_markdown

QUESTION = "can I share info about my client with children's services without consent if the kids are at risk?"


def scripted(text: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=text)]))


def test_supported_sentences_kept_and_invented_ones_dropped(corpus_location, embedder, corpus_assistant):
    base = corpus_assistant.answer(QUESTION)
    n = next(e.citation for p in base.parts for e in p.extracts if "precedence over confidentiality" in e.text)
    reply = (
        f"Sharing relevant information takes precedence over confidentiality for the adult service user [{n}]. "
        f"You must always phone the police on 0800 123 456 first [{n}]. "
        "Parents always lose their children when they drink."
    )
    assistant = Assistant(corpus_location, embedder=embedder, chat_model=scripted(reply))
    answer = assistant.answer(QUESTION, mode="llm")
    assert answer.mode == "llm"
    assert [s.text for s in answer.prose] == [
        "Sharing relevant information takes precedence over confidentiality for the adult service user."
    ]
    assert any("2 sentence(s)" in notice for notice in answer.notices)
    assert "0800 123 456" not in to_markdown(answer)
    assert answer.parts == base.parts  # the verbatim extracts stay beside the prose


class Unreachable(GenericFakeChatModel):
    def _generate(self, *args, **kwargs):
        raise ConnectionError("connection refused")


def test_unreachable_model_falls_back_to_extracts(corpus_location, embedder):
    assistant = Assistant(corpus_location, embedder=embedder, chat_model=Unreachable(messages=iter([])))
    answer = assistant.answer(QUESTION, mode="llm")
    assert answer.mode == "extractive" and NOTICE_UNREACHABLE in answer.notices and answer.parts


def test_support_check_needs_the_numbers_in_the_source():
    source = ["Luton: 01582 547653"]
    assert supported("Call Luton on 01582 547653", source) >= 0.5
    assert supported("Call Luton on 01582 547654", source) == 0.0
