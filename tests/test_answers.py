"""Answers on the real corpus: every sentence verbatim from the passage it cites, the area's
own referral route first when a child may be at risk now, cases decomposed by facet."""

from __future__ import annotations

import dataclasses
import re

import pytest

from assistant.errors import BadQuestionError, UnknownAreaError
from assistant.facets import load_facets
from assistant.render import to_markdown
from evals.dataset import load_cases, load_questions

BEDS = "Bedford Borough, Central Bedfordshire and Luton"
STAFFS = "Staffordshire and Stoke-on-Trent"


def assert_verbatim(answer, index):
    cited = {c.n: c.passage for c in answer.citations}
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for e in answer.all_extracts():
        passage = index.by_id[e.passage_id]
        assert cited[e.citation].id == passage.id
        assert passage.text[e.start : e.end] == e.text
        assert e.text.strip() == e.text and e.text


def test_every_sentence_of_many_answers_is_verbatim_in_its_cited_passage(corpus_assistant):
    index = corpus_assistant.index
    checked = 0
    for q in load_questions("dev") + load_questions("test"):
        answer = corpus_assistant.answer(q.question, area=q.area)
        assert_verbatim(answer, index)
        checked += len(answer.all_extracts())
    for case in load_cases("dev") + load_cases("test"):
        answer = corpus_assistant.answer(case.vignette, area=case.area)
        assert_verbatim(answer, index)
        checked += len(answer.all_extracts())
    assert checked > 1000


def test_question_answer_is_focused_and_cited(corpus_assistant):
    answer = corpus_assistant.answer("can I share info about my client with children's services without consent?")
    assert not answer.abstained and answer.parts[0].heading == "Guidance that applies"
    text = " ".join(e.text for e in answer.all_extracts())
    assert "takes precedence over confidentiality" in text
    assert 40 <= len(text.split()) <= 450
    md = to_markdown(answer)
    assert "**Sources**" in md and re.search(r"\[\d+\]", md)


def test_case_is_decomposed_into_facets(corpus_assistant):
    imran = next(c for c in load_cases("test") if c.id == "case-imran")
    answer = corpus_assistant.answer(imran.vignette)
    headings = [p.heading for p in answer.parts]
    # Read as a case of several facets, and at least one of them has extracts of its own.
    facets = {f.heading: f for f in load_facets()}
    assert {"substances", "partners"} <= set(answer.facets)
    assert any(facets[h].name in answer.facets for h in headings if h in facets)
    # Under a facet's heading, only sentences that speak of that facet.
    for part in answer.parts:
        if part.heading in facets:
            assert all(facets[part.heading].matches(e.text) for e in part.extracts), part
    assert len(headings) >= 2 and answer.checklist and len(answer.checklist) <= 6
    assert len(answer.citations) <= 10
    assert sum(len(e.text.split()) for e in answer.all_extracts()) <= 450


def test_child_at_risk_now_gets_the_users_own_referral_route_first(corpus_assistant):
    answer = corpus_assistant.answer("toddler has swallowed some of dad's methadone, I'm at the house in Dunstable")
    assert answer.area == BEDS  # Dunstable is in Central Bedfordshire
    assert answer.urgent is not None and answer.notices[0].startswith("If a child is in immediate danger")
    urgent_text = " ".join(e.text for e in answer.urgent.extracts)
    assert "0300 300 8123" in urgent_text  # the Emergency Duty Team
    assert "MASH" in urgent_text
    cited = {c.n: c.passage for c in answer.citations}
    assert all(cited[e.citation].area == BEDS for e in answer.urgent.extracts)
    md = to_markdown(answer)
    assert md.startswith("> **If a child is in immediate danger") and md.index("What to do now") < 120


def test_unknown_area_says_local_procedures_apply_and_labels_each_area(corpus_assistant):
    answer = corpus_assistant.answer("the kids have been left home alone all night, mum is off her face")
    assert answer.area is None and answer.urgent is not None
    assert "Your area is not set" in answer.urgent.note
    areas = {next(c.passage for c in answer.citations if c.n == e.citation).area for e in answer.urgent.extracts}
    assert BEDS in areas  # every area's route, each labelled by its document title


def test_with_more_areas_than_it_lists_an_unknown_area_is_asked_for(corpus_assistant):
    composer = corpus_assistant._current()[2]
    listed = composer.tuning
    try:
        composer.tuning = dataclasses.replace(listed, routes_unset_area=1)  # this corpus has 2 local areas
        answer = corpus_assistant.answer("the kids have been left home alone all night, mum is off her face")
        assert answer.urgent is not None and answer.urgent.extracts == ()
        assert "local protocols of 2 areas: set your area" in answer.urgent.note
        named = corpus_assistant.answer("the kids have been left home alone all night in Luton, mum is off her face")
        assert "01582 547653" in " ".join(e.text for e in named.urgent.extracts)  # a named place still gets its route
    finally:
        composer.tuning = listed


def test_another_areas_contacts_are_never_presented_as_the_users_own(corpus_assistant):
    answer = corpus_assistant.answer("child disclosed dad hit her last night and she's scared to go home", area=STAFFS)
    assert answer.urgent is not None
    cited = {c.n: c.passage for c in answer.citations}
    assert all(cited[e.citation].area == STAFFS for e in answer.urgent.extracts)
    assert "0300 300 8123" not in " ".join(e.text for e in answer.urgent.extracts)


def test_empty_corpus_never_replaces_the_live_index(tmp_path, corpus_location, embedder):
    from assistant.errors import NothingToIndexError
    from assistant.store import Catalog
    from ingest.pipeline import run_ingest

    before = Catalog(corpus_location).current_id()
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(NothingToIndexError, match="index is unchanged"):
        run_ingest([tmp_path], corpus_location, embedder=embedder)
    assert Catalog(corpus_location).current_id() == before


def test_out_of_scope_is_declined_with_nearest_topics(corpus_assistant):
    answer = corpus_assistant.answer("how much is child benefit per week?")
    assert answer.abstained and not answer.parts and not answer.citations
    assert answer.nearest_topics
    assert "do not cover" in to_markdown(answer)


def test_a_case_that_asks_what_the_sources_do_not_cover_is_declined_unless_a_child_may_be_at_risk_now(
        corpus_assistant):
    dose = ("mum's on 60ml methadone and breastfeeding the baby (3 wks old), is that dose safe for the baby or does "
            "too much get into the milk?")
    assert corpus_assistant._current()[2].plan(dose).case  # read as a case: a baby, her age, mum's script
    declined = corpus_assistant.answer(dose)
    assert declined.abstained and not declined.parts and declined.nearest_topics
    covered = corpus_assistant.answer("Dad is the sole carer of a 2 year old, on methadone with take-home doses, "
                                      "drinks at weekends. What should I check?")
    assert not covered.abstained and covered.parts
    urgent = corpus_assistant.answer("the toddler got into dad's methadone this morning and he's drowsy - "
                                     "what's the maximum daily dose dad can be prescribed?")
    assert urgent.urgent is not None and urgent.urgent.extracts  # the route first, whatever the question


def test_the_decline_model_reads_what_the_question_kind_model_says_of_the_questions_vector(corpus_assistant):
    from assistant.compose import Composer, decline_features
    from assistant.evidence import gather

    composer = corpus_assistant._current()[2]
    evidence = gather(composer.plan("how much is child benefit per week?"), composer.retriever, k=composer.tuning.hits)
    kind = decline_features(composer, evidence)[-1]
    assert kind == pytest.approx(composer.question_kind.score(evidence.vectors[0][None, :])[0])
    assert kind < 0  # read as a kind of question the sources do not answer
    unfitted = Composer(composer.retriever, decline=False)  # while the models are being fitted
    assert decline_features(unfitted, evidence)[-1] == 0.0


def test_bad_questions_and_areas(corpus_assistant):
    with pytest.raises(BadQuestionError):
        corpus_assistant.answer("   ")
    with pytest.raises(BadQuestionError):
        corpus_assistant.answer("x" * 4001)
    with pytest.raises(UnknownAreaError) as info:
        corpus_assistant.answer("what about storage?", area="Atlantis")
    assert BEDS in info.value.known


def test_rendered_answers_carry_no_active_content():
    from assistant.records import Answer, AnswerPart, Citation, Extract, Passage

    text = 'See ![x](http://evil.example/i.png) and <script>alert(1)</script> or [click](http://evil.example)'
    passage = Passage(id="p1", doc_id="d", title="T [x](y)", area="A", section=("S",), paragraph=None, page=1,
                      order=0, text=text)
    extract = Extract(text=text, citation=1, passage_id="p1", start=0, end=len(text))
    answer = Answer(question="q", area=None, parts=(AnswerPart("Guidance that applies", (extract,)),), checklist=(),
                    urgent=None, citations=(Citation(1, passage),), abstained=False)
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").render(to_markdown(answer))
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert "alert(1)" in html  # the text itself is shown, inert


def test_langchain_retriever_plugs_into_chains(corpus_assistant):
    from assistant.langchain import GuidanceRetriever

    docs = GuidanceRetriever(assistant=corpus_assistant, k=3).invoke("how should foster carers handle contact?")
    assert len(docs) == 3
    assert all(d.metadata["citation"] and d.page_content for d in docs)


def test_sentences_the_closest_dev_items_agreed_on_are_weighed_but_never_another_areas_own(corpus_assistant):
    """A sentence that 2 of the 10 dev items closest to the text needed is a candidate though no
    query ranked its passage near the top; with the user's area known, another area's own
    protocol is never brought in that way."""
    from assistant.evidence import candidates, gather

    composer = corpus_assistant._current()[2]
    index, t = composer.index, composer.tuning
    plan = composer.plan("dad on methadone, 2 kids under 5, take home doses, what should I check?")
    hits = t.case_hits if plan.case else t.question_hits
    evidence = gather(plan, composer.retriever, k=t.hits)
    ranked = {h.passage.id for query in evidence.hits for h in query[:hits]}
    agreed = {index.sentence_spans[r][0] for r in composer.demand.agreed(composer.demand.nearest_items(evidence.vectors[0]))}
    brought = agreed - ranked
    assert brought  # the case's own words do not bring all of them up
    found = {c.passage.id for c in candidates(index, evidence, hits, composer.demand)}
    assert brought <= found and found <= ranked | agreed
    elsewhere = 0
    for area in (BEDS, STAFFS):
        others = {p for p in brought if index.by_id[p].area != area and index.scope_of(index.by_id[p]) == "local"}
        in_area = {c.passage.id for c in candidates(index, evidence, hits, composer.demand, area=area)}
        assert not in_area & others and (brought - others) <= in_area
        elsewhere += len(others)
    assert elsewhere  # the check above had something to keep out
