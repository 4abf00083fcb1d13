"""Briefing scores are no oracle: a briefing shows a viewer nothing that moves with hidden lessons.

A kickoff briefing is computed once over every lesson, hidden ones included,
so its scores count lessons a viewer may not see. A contributor who wrote a
charter for their own project could read from the scores whether hidden
lessons match it (one ranked above a visible lesson lowers its score). The
probe here is that attack: the contributor's briefing, before and after
someone else logs hidden lessons that match the charter and it is computed
again, must carry the same numbers; the PMO, who sees every lesson, still
gets the scores, and those do move.

What this does not cover: the order of the visible lessons, and which of them
make the briefing's fifteen, are the shared briefing's, computed over every
lesson, so hidden lessons can still move them (here they do); the numbers are
compared as sets for that reason.
"""

import re

import pytest
from conftest import Api, signed_in

CHARTER = ("Zeolite filter beds for the kiln gearbox; the turbine supplier ships spare parts "
           "late and the zeolite vendor changes the filter media.")
VISIBLE = (  # from close to the charter to far from it
    ("Zeolite filter beds clogged at the kiln", "The zeolite filter beds of the kiln gearbox "
                                                 "clogged; the vendor changed the filter media."),
    ("Turbine supplier shipped spare parts late", "The turbine supplier shipped spare parts "
                                                  "six weeks late."),
    ("Invoices paid twice", "Supplier invoices arrived late and were paid twice."),
)


@pytest.fixture
def probe(app):
    """A contributor's project with a charter, public lessons that match it, and another
    contributor who will log hidden lessons that match it better."""
    prober = signed_in(app, "contributor", "prober@example.org", business_unit="Retail")
    other = signed_in(app, "contributor", "other@example.org", business_unit="Defence")
    pmo = signed_in(app, "pmo", "pmo@example.org")
    hidden = other.post("/api/v1/projects", json={"name": "Sealed site",
                                                  "business_unit": "Defence"}).get_json()["id"]
    for title, body in VISIBLE:
        lesson = Api(other).lesson(title, body)
        assert pmo.post(f"/api/v1/lessons/{lesson['id']}/approve").status_code == 200
    # Written after them, so its briefing (computed when it is first shown) ranks them.
    own = prober.post("/api/v1/projects", json={"name": "Kiln upgrade",
                                                "description": CHARTER}).get_json()["id"]
    return {"prober": prober, "other": other, "pmo": pmo, "own": own, "hidden": hidden}


def hide_lessons_matching_the_charter(probe) -> None:
    """Approved lessons the prober may not see, each close to the charter; then the briefing
    is computed again (the prober's team may ask for that)."""
    other, pmo = probe["other"], probe["pmo"]
    for visibility in ("project", "business_unit", "project"):
        lesson = Api(other).lesson("Zeolite filter beds saturated in the kiln gearbox", CHARTER,
                                   project_id=probe["hidden"], visibility=visibility)
        assert pmo.post(f"/api/v1/lessons/{lesson['id']}/approve").status_code == 200
    regenerated = probe["prober"].post(f"/projects/{probe['own']}/briefing/regenerate")
    assert regenerated.status_code in (302, 303)


def observed(client, project: int) -> dict[str, list]:
    """Every number a viewer reads in the project's briefing, whatever lesson it is on: each
    API item's, and the numbers on the briefing page's lessons (its generation time aside)."""
    items = client.get(f"/api/v1/projects/{project}/briefing").get_json()["items"]
    page = client.get(f"/projects/{project}/briefing").get_data(as_text=True)
    start = page.index('class="briefing-items"')
    lessons = page[start:page.index("</section>", start)]
    return {"ranks": [item["rank"] for item in items],
            "api": sorted((i["id"], i["score"], i["projects_hit"]) for i in items),
            "page": sorted(re.findall(r"\d+(?:\.\d+)?%?", lessons))}


def test_a_contributors_briefing_carries_no_number_that_hidden_lessons_move(probe):
    before = observed(probe["prober"], probe["own"])
    assert len(before["api"]) == len(VISIBLE)  # the positive control: they are ranked
    assert {score for _, score, _ in before["api"]} == {None}
    assert before["ranks"] == [1, 2, 3] and before["page"]  # the page's lessons were read
    pmo_before = observed(probe["pmo"], probe["own"])
    hide_lessons_matching_the_charter(probe)
    assert observed(probe["prober"], probe["own"]) == before
    # The PMO sees every lesson, so it gets the exact scores, and they did move: a contributor
    # given them would have read that hidden lessons match the charter.
    pmo_after = observed(probe["pmo"], probe["own"])["api"]
    assert len(pmo_after) == len(VISIBLE) + 3
    assert all(isinstance(score, float) for _, score, _ in pmo_after)
    scores_before = {i: score for i, score, _ in pmo_before["api"]}
    assert any(scores_before[i] != score for i, score, _ in pmo_after if i in scores_before)
