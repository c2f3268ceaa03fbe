"""A conversation through the HTTP API, over the real index of the real corpus: a follow-up is
answered with its case (and its area), a new case is not, the follow-up actions narrow the
answer, and nothing of any turn reaches the logs."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from assistant.settings import Settings

pytestmark = pytest.mark.slow

BEDS = "Bedford Borough, Central Bedfordshire and Luton"
CASE = ("Dad is the sole carer of a 2-year-old and is on take-home methadone. The health visitor found the bottle "
        "on the kitchen side, within reach. We're in Dunstable.")
EDT = "0300 300 8123"  # the Emergency Duty Team of the area, from its own protocol
OTHER_CASE = ("New referral: a 14-year-old girl is doing the cooking and looking after her little brother because "
              "their mum has depression and is drinking heavily. School say she is often late.")


@pytest.fixture(scope="module")
def client(tmp_path_factory, corpus_assistant):
    from ui.api import create_app

    settings = Settings(data_dir=tmp_path_factory.mktemp("conversation-api"))
    with TestClient(create_app(settings, assistant=corpus_assistant)) as c:
        yield c


def ask(client, question: str, context: list[str] = (), **extra) -> dict:
    response = client.post("/api/ask", json={"question": question, "context": list(context), **extra})
    assert response.status_code == 200, response.text
    return response.json()


def route_text(body: dict) -> str:
    return " ".join(e["text"] for e in (body["urgent"] or {}).get("extracts", []))


def test_a_follow_up_asking_whom_to_ring_gets_the_route_of_the_case_s_area(client):
    alone = ask(client, "who do I ring out of hours?")
    assert alone["area"] is None and alone["conversation"] is None  # no area known: every area's route
    body = ask(client, "who do I ring out of hours?", [CASE])
    assert body["area"] == BEDS
    assert EDT in route_text(body)
    cited = {c["n"]: c["passage"]["area"] for c in body["citations"]}
    assert {cited[e["citation"]] for e in body["urgent"]["extracts"]} == {BEDS}  # none of another area's
    carried = body["conversation"]
    assert carried["follow_up"] is True and carried["area_from"] == "Dunstable"
    assert {"prescription", "young-children"} <= set(carried["facets"])
    assert body["markdown"].startswith("_Answering for the case above: ")
    assert body["question"] == "who do I ring out of hours?"  # the user's own message, not the merged case


def test_a_follow_up_keeps_the_case_s_facets_and_adds_its_own(client):
    body = ask(client, "what if he's drinking at weekends too?", [CASE])
    assert body["conversation"]["follow_up"] is True
    assert body["facets"][0] == "substances"  # the follow-up's own facet steers first
    assert {"prescription", "young-children"} <= set(body["facets"])
    alone = ask(client, "what if he's drinking at weekends too?")
    assert "prescription" not in alone["facets"]


def test_a_new_unrelated_case_carries_nothing_of_the_first_but_the_area(client):
    body = ask(client, OTHER_CASE, [CASE, "who do I ring out of hours?"])
    carried = body["conversation"]
    assert carried["follow_up"] is False and carried["facets"] == []
    assert "young-carer" in body["facets"]
    assert not {"prescription", "young-children"} & set(body["facets"])
    assert body["area"] == BEDS and "except the area" in carried["line"]
    assert "methadone" not in body["markdown"].split("\n", 1)[0]


def test_the_follow_up_actions_narrow_the_answer(client):
    first = ask(client, CASE)
    assert first["actions"][:3] == ["What to do now", "Questions to explore only", "Shorter"]
    # "More on" is offered for each facet heading an answer shows: the young carer's case shows
    # several (the methadone case's guidance is its route, general guidance and questions).
    other = ask(client, OTHER_CASE)
    more = [a for a in other["actions"] if a.startswith("More on ")]
    assert more, other["actions"]
    assert {a.removeprefix("More on ") for a in more} <= {p["heading"] for p in other["parts"]}
    questions = ask(client, "Questions to explore only", [CASE])
    assert questions["checklist"] and questions["parts"] == [] and questions["urgent"] is None
    assert [c["n"] for c in questions["citations"]] == list(range(1, len(questions["citations"]) + 1))
    now = ask(client, "What to do now", [CASE])
    assert EDT in route_text(now) and now["parts"] == [] and now["checklist"] == []
    shorter = ask(client, "Shorter", [CASE])
    words = sum(len(e["text"].split()) for p in shorter["parts"] for e in p["extracts"])
    assert 0 < words <= 150 + 60 and len(shorter["checklist"]) <= 3
    facet = ask(client, more[0], [OTHER_CASE])
    heading = more[0].removeprefix("More on ")
    assert facet["urgent"] is None and facet["parts"]
    assert facet["conversation"]["action"] == more[0] and heading in [p["heading"] for p in facet["parts"]]


def test_the_area_stays_until_the_user_sets_another(client):
    kept = ask(client, "what about the grandparents, what should I ask them?", [CASE, OTHER_CASE])
    assert kept["area"] == BEDS
    chosen = ask(client, "who do I ring out of hours?", [CASE], area="Staffordshire and Stoke-on-Trent")
    assert chosen["area"] == "Staffordshire and Stoke-on-Trent" and EDT not in route_text(chosen)


@pytest.mark.parametrize("context", [[""], ["x" * 4001], ["a case"] * 21, "not a list"])
def test_bad_context_is_a_clear_422_without_the_input(client, context):
    response = client.post("/api/ask", json={"question": "who do I ring?", "context": context})
    assert response.status_code == 422
    assert "x" * 50 not in response.text and "a case" not in response.text


def test_nothing_of_any_turn_reaches_the_logs(client, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    canaries = ["zebra-turn-one-9d1", "zebra-turn-two-4c7", "zebra-turn-three-2b8"]
    context = [f"{CASE} {canaries[0]}", f"what if he is drinking too? {canaries[1]}"]
    body = ask(client, f"Questions to explore only {canaries[2]}", context)
    assert body["citations"]
    ask(client, "Questions to explore only", context)
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert not [c for c in canaries if c in logged]
    assert [r.getMessage() for r in caplog.records if r.name == "hha.api"]  # the access log was written
