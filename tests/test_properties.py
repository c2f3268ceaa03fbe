"""Property-based tests of the pure stages: cleaning, page splitting, structure, passages and
sentence selection. Generated documents mix prose, bullets (with the glyphs extraction
leaves), numbered paragraphs, headings, markdown, footnote marks and page marks."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assistant.records import Document
from assistant.text import guidance_spans, lexical_tokens, sentence_spans
from ingest.clean import BULLET_CHARS, Page, clean_page_text, drop_repeated_margins, split_text_pages
from ingest.passages import MAX_PASSAGE_TOKENS, MIN_PASSAGE_WORDS, MODEL_WINDOW, build_passages, embedding_text
from ingest.structure import structure

DOC = Document(id="doc", title="Working with parents (test)", publisher="p", area="Testshire", scope="local",
               date="2024", audience="a", kind="local protocol", summary="s", source_file="doc.txt", sha256="0")

WORDS = ("parent", "child", "children", "drug", "alcohol", "misuse", "assessment", "referral", "social", "care",
         "worker", "safe", "home", "methadone", "school", "health", "visit", "risk", "services", "should", "must",
         "consider", "the", "a", "of", "and", "to", "in", "is", "e.g.", "i.e.", "Dr.", "No.", "9.2", "MASH",
         "01234", "718700", "www.example.org", "(see", "below)", "over-", "arching", "problem3", "Luton", "Stoke")

word = st.sampled_from(WORDS) | st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True)
end = st.sampled_from([".", "?", "!", ":", ";", "", ".”", ")."])


@st.composite
def sentence(draw) -> str:
    words = draw(st.lists(word, min_size=1, max_size=30))
    words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words) + draw(end)


@st.composite
def line(draw) -> str:
    kind = draw(st.sampled_from(["para", "para", "para", "bullet", "heading", "numbered", "markdown", "blank",
                                 "page-number", "footnote", "lone-bullet", "indented"]))
    if kind == "bullet":
        glyph = draw(st.sampled_from(list(BULLET_CHARS) + ["-", "*", "o "]))
        return f"{glyph} {draw(sentence())}"
    if kind == "heading":
        return " ".join(draw(st.lists(word, min_size=1, max_size=8))).title()
    if kind == "numbered":
        number = ".".join(str(n) for n in draw(st.lists(st.integers(1, 12), min_size=1, max_size=3)))
        return f"{number} {draw(sentence())}"
    if kind == "markdown":
        return f"**{draw(sentence())}** [link text](#anchor) ## {draw(word)}"
    if kind == "blank":
        return ""
    if kind == "page-number":
        return str(draw(st.integers(1, 300)))
    if kind == "footnote":
        return f"¹ {draw(sentence())} (2017) https://example.org/ref"
    if kind == "lone-bullet":
        return draw(st.sampled_from(["•", "• •", "�", "- -"]))
    if kind == "indented":
        return f" {draw(sentence())}"
    return " ".join(draw(st.lists(sentence(), min_size=1, max_size=8)))


documents = st.lists(line(), min_size=1, max_size=60).map("\n".join)
# Anything at all, including control characters, lone surrogates excluded (not valid text).
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=2000)

# Bounded runs, no example database written into the repository.
FAST = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SLOWER = settings(max_examples=60, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


CLOSING = "”’\"')]"


def _words(text: str) -> list[str]:
    return text.split()


# -- cleaning and pages --------------------------------------------------------------------------


@FAST
@given(st.one_of(documents, any_text))
def test_cleaning_never_fails_and_leaves_plain_lines(text):
    cleaned = clean_page_text(text)
    assert "\r" not in cleaned and "\t" not in cleaned and "\u00a0" not in cleaned
    assert all(line == line.rstrip() for line in cleaned.split("\n"))


@FAST
@given(st.one_of(documents, any_text))
def test_page_splitting_keeps_every_word_in_order(text):
    pages = split_text_pages(text)
    assert pages
    numbers = [p.number for p in pages]
    assert numbers == [None] or numbers == list(range(1, len(pages) + 1))
    assert _words(" ".join(p.text for p in pages)) == _words(text.replace("\u00a0", " "))


@SLOWER
@given(st.lists(documents, min_size=1, max_size=8))
def test_dropping_margins_only_removes_whole_lines(texts):
    pages = [Page(n + 1, t) for n, t in enumerate(texts)]
    out = drop_repeated_margins(pages)
    assert [p.number for p in out] == [p.number for p in pages]
    for before, after in zip(pages, out, strict=True):
        remaining = iter(before.text.split("\n"))
        assert all(any(kept == line for line in remaining) for kept in after.text.split("\n") if kept)


# -- structure and passages ----------------------------------------------------------------------


def _blocks(text: str):
    return structure([Page(None, clean_page_text(text))])


@SLOWER
@given(documents)
def test_structure_gives_non_empty_blocks_of_known_kinds(text):
    for block in _blocks(text):
        assert block.text and block.text == block.text.strip()
        assert block.kind in ("para", "bullet", "heading")


@SLOWER
@given(text=documents)
def test_passages_fit_the_model_and_invent_no_words(text, token_counter):
    blocks = _blocks(text)
    passages, items = build_passages(blocks, DOC, token_counter)
    # (Closing quotes after a full stop are compared loosely: see test_a_quoted_sentence_keeps_its_closing_quote.)
    source_words = {w.rstrip(CLOSING) for b in blocks for w in _words(b.text)} | {"•", "◦"}
    for p in passages:
        assert token_counter(p.text) <= MAX_PASSAGE_TOKENS, p.text
        assert token_counter(embedding_text(p, token_counter)) <= MODEL_WINDOW
        assert {w.rstrip(CLOSING) for w in _words(p.text)} <= source_words
        assert len(_words(p.text)) >= MIN_PASSAGE_WORDS
    assert [p.order for p in passages] == list(range(len(passages)))
    by_id = {p.id: p for p in passages}
    for item in items:
        assert by_id[item.passage_id].text[item.start : item.end] == item.text


# The text of a paragraph that runs just over the passage limit is cut at sentence ends; a last
# piece too short to stand alone (here, the instruction to call the police) once was dropped as
# a fragment. It now takes sentences from the piece before it.
LOST_TAIL = ("Heading\n\n" + " ".join(
    ["Practitioners should always consider the impact of parental substance misuse on the child."] * 13
    + ["Worker risk social assessment child school health referral worker referral."]
    + ["Call the police now."]) + "\n")


@SLOWER
@example(text=LOST_TAIL)
@given(text=documents)
def test_no_text_is_lost_from_any_paragraph_long_enough_to_be_a_passage(text, token_counter):
    """Every word of every non-heading block of at least MIN_PASSAGE_WORDS words is in a
    passage (shorter fragments may be dropped as junk, by design)."""
    blocks = _blocks(text)
    passages, _ = build_passages(blocks, DOC, token_counter)
    passage_words = {w for p in passages for w in _words(p.text)}
    for block in blocks:
        if block.kind != "heading" and len(_words(block.text)) >= MIN_PASSAGE_WORDS:
            missing = set(_words(block.text)) - passage_words
            assert not missing, f"lost {sorted(missing)[:8]} of {block.text[:80]!r}"


def test_a_section_repeated_verbatim_gets_distinct_passage_ids(token_counter):
    """A document that repeats a section under the same heading (a checklist printed twice)
    must not give two passages one id: Chroma rejects the whole build (DuplicateIDError)."""
    para = "Practitioners should always consider the impact of parental substance misuse on the child and ask."
    text = f"Contacts\n\n{para}\n\nOther\n\nSomething else entirely with many words in it so it is a passage here.\n\n" \
           f"Contacts\n\n{para}\n"
    passages, _ = build_passages(_blocks(text), DOC, token_counter)
    ids = [p.id for p in passages]
    assert len(ids) == len(set(ids))


# -- sentences -----------------------------------------------------------------------------------


def _check_spans(text: str, spans: list[tuple[int, int]]) -> None:
    previous_end = 0
    for a, b in spans:
        assert previous_end <= a < b <= len(text)
        assert text[a:b] == text[a:b].strip()
        previous_end = b


@FAST
@given(st.one_of(documents, any_text))
def test_sentence_spans_are_ordered_stripped_and_cover_every_word(text):
    spans = sentence_spans(text)
    _check_spans(text, spans)
    assert _words(" ".join(text[a:b] for a, b in spans)) == _words(text)


def test_a_quoted_sentence_keeps_its_closing_quote():
    text = "Ask the child: “Who looks after you when mum is poorly?” Then record what they say."
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Ask the child: “Who looks after you when mum is poorly?”", "Then record what they say."]


@FAST
@given(st.one_of(documents, any_text), st.lists(word, max_size=3).map(tuple))
def test_guidance_spans_are_ordered_sentences_or_parts_of_them(text, headings):
    spans = guidance_spans(text, headings)
    _check_spans(text, spans)
    sentences = sentence_spans(text)
    for a, b in spans:
        within = any(sa <= a and b <= sb for sa, sb in sentences)
        # or a lead-in ending in a colon with the link on the line after it
        lead_in = any(sa <= a < sb and text[sa:sb].endswith(":") and b == ne
                      and re.fullmatch(r"(https?://|www\.)\S+", text[nb:ne])
                      for (sa, sb), (nb, ne) in zip(sentences, sentences[1:], strict=False))
        # or questions asked one after another on one line
        inner = [(sa, sb) for sa, sb in sentences if sa < b and a < sb]
        run = (len(inner) > 1 and "\n" not in text[a:b] and b == inner[-1][1]
               and all(text[sb - 1] == "?" for _, sb in inner))
        assert within or lead_in or run
        assert not re.match(r"^[•◦] ", text[a:b])


def test_a_lead_in_keeps_the_link_it_introduces():
    text = ("8. Pregnant women\n8.1 Please follow link to the pre-birth planning procedures:\n\n"
            "http://example.org/prebirth_plan.pdf\n\nIf parents are on a programme:\n• Ask about storage.")
    assert [text[a:b] for a, b in guidance_spans(text, ("8. Pregnant women",))] == [
        "8.1 Please follow link to the pre-birth planning procedures:\n\nhttp://example.org/prebirth_plan.pdf",
        "Ask about storage."]


def test_pointers_and_conditions_left_open_are_not_extracts():
    text = ("The following tips are from groups of foster carers who have been in this situation.\n"
            "• Get as much information as you can.\n"
            "4.2 The checklist below may be considered as part of assessment and/or plan.\n"
            "- If the parent/carers use of alcohol is problematic;\n"
            "◦ Do they drink every day? If so how much?\n"
            "Services working below crisis thresholds are still needed.")
    assert [text[a:b] for a, b in guidance_spans(text)] == [
        "Get as much information as you can.", "Do they drink every day? If so how much?",
        "Services working below crisis thresholds are still needed."]


def test_questions_asked_one_after_another_on_one_line_are_one_extract():
    text = ("• Where is the injecting equipment kept? In the family home? Are works kept securely?\n"
            "• How are syringes disposed of?\n"
            "How much do the parents spend on drugs (per day? per week?) How is the money obtained? If "
            "through crime, or sex working is this affecting the care and development of the child?\n"
            + " ".join(["Is this one question of a paragraph set as one line, each asked in turn?"] * 4))
    assert [text[a:b] for a, b in guidance_spans(text)] == [
        "Where is the injecting equipment kept? In the family home? Are works kept securely?",
        "How are syringes disposed of?",
        "How much do the parents spend on drugs (per day? per week?)",  # not itself a question
        "How is the money obtained? If through crime, or sex working is this affecting the care and development "
        "of the child?",
        # a run stops at 40 words: a paragraph of questions is not one item
        "Is this one question of a paragraph set as one line, each asked in turn? Is this one question of a "
        "paragraph set as one line, each asked in turn?",
        "Is this one question of a paragraph set as one line, each asked in turn? Is this one question of a "
        "paragraph set as one line, each asked in turn?"]


def test_clause_numbers_are_layout_not_words():
    # "10.1.1." and a heading's "10." are no match for the "10" of "a 10 year old"; ages,
    # section numbers named in words and telephone-style numbers stay.
    assert lexical_tokens("10.1.1. If worried about a child") == ["worri", "child"]
    assert lexical_tokens("Title\n4. Risk Assessment › 10. Parent's perception") == [
        "title", "risk", "assessment", "parent", "perception"]
    assert lexical_tokens("a 10 year old, section 47, within 24 hours. Call 999.") == [
        "10", "year", "old", "section", "47", "within", "24", "hour", "call", "999"]
