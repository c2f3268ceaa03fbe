"""Conversations: the evaluation data is honest (every gold quote verbatim in the corpus), and
the pure parts of a conversation (follow-up or new case, what is carried over, the follow-up
actions, narrowing an answer) do what they say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evals.conversations import load_conversations
from evals.dataset import SPLITS

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def raw_texts():
    return {p.stem: collapse(p.read_text(encoding="utf-8")) for p in CORPUS.glob("*.txt")}


@pytest.mark.parametrize("split", SPLITS)
def test_every_conversation_gold_quote_is_an_exact_substring_of_its_document(raw_texts, split):
    conversations = load_conversations(split)
    missing = [(c.id, g.doc, g.quote) for c in conversations for t in c.turns for p in t.points for g in p.gold
               if collapse(g.quote) not in raw_texts[g.doc]]
    assert missing == []


@pytest.mark.parametrize("split", SPLITS)
def test_conversation_set_shape(split):
    conversations = load_conversations(split)
    assert len(conversations) >= 12 and len({c.id for c in conversations}) == len(conversations)
    for c in conversations:
        assert not c.turns[0].follow_up, c.id
        assert 2 <= sum(t.follow_up for t in c.turns) <= 3, c.id
        assert all(t.points and all(p.gold for p in t.points) for t in c.turns), c.id
    assert sum(not t.follow_up for c in conversations for t in c.turns[1:]) >= 2  # new cases mid-conversation


def test_the_splits_share_no_conversation_message():
    dev, test = load_conversations("dev"), load_conversations("test")
    assert not {c.id for c in dev} & {c.id for c in test}
    assert not {collapse(t.message) for c in dev for t in c.turns} & {collapse(t.message) for c in test for t in c.turns}


# -- the pure parts ------------------------------------------------------------------------------------

AREAS = {"Bedford Borough, Central Bedfordshire and Luton": ("Dunstable", "Luton", "Bedford"),
         "Staffordshire and Stoke-on-Trent": ("Stoke",)}
CASE = ("Dad is the sole carer of a 2-year-old and is on take-home methadone. The health visitor found the "
        "bottle on the kitchen side. We're in Dunstable.")


def test_a_follow_up_is_read_with_its_case_and_the_area_named_earlier():
    from assistant.conversation import read_turn

    turn = read_turn([CASE], "what if he's drinking at weekends too?", areas=AREAS)
    assert turn.follow_up and turn.thread == (CASE,)
    assert (turn.area, turn.area_from, turn.area_earlier) == (
        "Bedford Borough, Central Bedfordshire and Luton", "Dunstable", True)
    assert turn.merged.startswith("what if he's drinking at weekends too?\n") and CASE in turn.merged


@pytest.mark.parametrize("message", [
    "New case: mum, 30, drinks heavily and her son aged 9 cooks for his sisters.",
    "A different family: a 15-year-old girl is caring for her mum, who uses heroin and has depression.",
])
def test_a_new_case_starts_afresh_and_keeps_the_area(message):
    from assistant.conversation import read_turn

    turn = read_turn([CASE, "who do I ring out of hours?"], message, areas=AREAS)
    assert not turn.follow_up and turn.thread == ()
    assert turn.area == "Bedford Borough, Central Bedfordshire and Luton" and turn.area_earlier


def test_the_area_set_by_the_user_wins_and_a_new_place_changes_it():
    from assistant.conversation import read_turn

    assert read_turn([CASE], "and now?", areas=AREAS, area="Staffordshire and Stoke-on-Trent").area_from is None
    moved = read_turn([CASE], "they have moved to Stoke, who do I tell?", areas=AREAS)
    assert (moved.area, moved.area_from, moved.area_earlier) == ("Staffordshire and Stoke-on-Trent", "Stoke", False)


def test_only_a_follow_up_that_tells_more_of_the_case_stays_with_it():
    from assistant.conversation import read_turn

    turn = read_turn([CASE, "who do I ring out of hours?", "he's drinking at weekends as well"],
                     "what should I ask him?", areas=AREAS)
    assert turn.thread == (CASE, "he's drinking at weekends as well")


def test_actions_are_follow_ups_acting_on_the_message_before():
    from assistant.conversation import ACTION_MORE, ACTION_QUESTIONS, parse_action, read_turn

    turn = read_turn([CASE, "what should I ask the grandparents?"], ACTION_QUESTIONS, areas=AREAS)
    assert turn.follow_up and turn.action.name == ACTION_QUESTIONS
    assert turn.base.message == "what should I ask the grandparents?" and turn.base.thread == (CASE,)
    more = parse_action("More on Prescribed substitutes and safe storage")
    assert more.name == ACTION_MORE and more.facet.name == "prescription"
    assert parse_action("more on the grandparents").facet.name == "extended-family"
    assert parse_action("more on life") is None and parse_action("Shorter please") is None
    lone = read_turn([], ACTION_QUESTIONS, areas=AREAS)  # nothing to act on: an ordinary message
    assert lone.action is None and not lone.follow_up


def test_the_carried_over_line_names_the_case_its_risks_and_the_area():
    from assistant.conversation import carried_line, read_turn

    turn = read_turn([CASE + " The toddler swallowed some methadone."], "who do I ring?", areas=AREAS)
    line = carried_line(turn, had_context=True)
    assert line.follow_up and line.facets == ("prescription", "young-children")
    assert line.line == (
        "Answering for the case above: prescribed substitute (\u201ctake-home\u201d, \u201cmethadone\u201d); "
        "young child (\u201c2-year-old\u201d, \u201ctoddler\u201d); risk now: took a parent's drugs; "
        "area: Bedford Borough, Central Bedfordshire and Luton (from \u201cDunstable\u201d). "
        "Not the same case? Start afresh with \u201cNew case:\u201d.")
    assert carried_line(read_turn([], CASE, areas=AREAS), had_context=False) is None


def _answer():
    from assistant.records import Answer, AnswerPart, Citation, Extract, Passage

    passages = [Passage(id=f"p{n}", doc_id="d", title="T", area="A", section=("S",), paragraph=None, page=None,
                        order=n, text="word " * 40) for n in range(4)]

    def extract(n, citation, score, start=0):
        return Extract(text="word " * 10, citation=citation, passage_id=f"p{n}", start=start, end=start + 50,
                       score=score)

    return Answer(
        question="q", area=None, abstained=False,
        urgent=AnswerPart("What to do now", (extract(0, 1, 1.0),)),
        parts=(AnswerPart("Guidance that applies", (extract(1, 2, 0.2), extract(2, 3, 0.9))),),
        checklist=(extract(3, 4, 0.5), extract(1, 2, 0.4, start=100)),
        citations=tuple(Citation(n=n + 1, passage=p) for n, p in enumerate(passages)),
    )


def test_narrowing_keeps_the_parts_asked_for_and_renumbers_their_citations():
    from assistant.conversation import narrow

    questions = narrow(_answer(), urgent=False, parts=False)
    assert questions.urgent is None and questions.parts == ()
    assert [(e.passage_id, e.citation) for e in questions.checklist] == [("p3", 1), ("p1", 2)]
    assert [(c.n, c.passage.id) for c in questions.citations] == [(1, "p3"), (2, "p1")]
    now = narrow(_answer(), parts=False, checklist=False)
    assert [c.passage.id for c in now.citations] == ["p0"] and now.checklist == ()


def test_shorter_keeps_the_route_and_the_best_extracts_within_its_words():
    from assistant.conversation import shorten

    short = shorten(_answer(), words=15, questions=1)
    assert short.urgent.extracts[0].passage_id == "p0"
    assert [e.passage_id for p in short.parts for e in p.extracts] == ["p2"]  # the best-scored, within 15 words
    assert [e.passage_id for e in short.checklist] == ["p3"]
    assert [c.n for c in short.citations] == [1, 2, 3]


def test_offered_actions_follow_the_parts_shown():
    from assistant.conversation import offered_actions
    from assistant.records import AnswerPart

    answer = _answer()
    assert offered_actions(answer) == ("What to do now", "Questions to explore only", "Shorter")
    from dataclasses import replace

    with_facet = replace(answer, parts=(AnswerPart("Domestic abuse", answer.parts[0].extracts),))
    assert offered_actions(with_facet)[-1] == "More on Domestic abuse"


def test_more_on_a_facet_shows_its_guidance_under_the_facet_s_heading():
    from dataclasses import replace

    from assistant.conversation import _under_facet, narrow
    from assistant.facets import load_facets
    from assistant.records import AnswerPart

    answer = _answer()
    facet = next(f for f in load_facets() if f.name == "prescription")
    answer = replace(answer, parts=(AnswerPart("Background", answer.parts[0].extracts[:1]),
                                    AnswerPart("Guidance that applies", answer.parts[0].extracts[1:])))
    more = narrow(_under_facet(answer, facet), urgent=False)
    assert [p.heading for p in more.parts] == ["Prescribed substitutes and safe storage", "Background"]
    assert [c.passage.id for c in more.citations][:2] == ["p2", "p1"]
