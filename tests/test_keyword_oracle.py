"""Keyword scores are no oracle: what a viewer is shown never depends on lessons they may not see.

FTS5's bm25 weighs a word by how many rows of the whole table hold it, so a
contributor who searched words of their own lessons, filtered to their own
project, could read from the returned scores whether a word occurs in lessons
hidden from them (team-only, another business unit, someone else's draft),
and roughly how often. The probe here is that attack: the same searches,
before and after someone else logs hidden lessons full of the probed word,
must return the same lessons in the same order with the same numbers.
"""

import pytest
from conftest import Api, signed_in

PROBED = "zeolite"  # the word the contributor wants to learn about
ABSENT = "quasar"  # in no lesson at all


@pytest.fixture
def probe(app):
    """A contributor with lessons of their own (drafts among them) on their own project,
    some public lessons, and another contributor who will log hidden ones."""
    prober = signed_in(app, "contributor", "prober@example.org", business_unit="Retail")
    other = signed_in(app, "contributor", "other@example.org", business_unit="Defence")
    pmo = signed_in(app, "pmo", "pmo@example.org")
    own = prober.post("/api/v1/projects", json={"name": "Kiln upgrade"}).get_json()["id"]
    hidden = other.post("/api/v1/projects", json={"name": "Sealed site",
                                                  "business_unit": "Defence"}).get_json()["id"]
    # Different mixes of the searched words, so a change in one word's weight reorders them.
    for title, body, status in (
            ("Gearbox seized in the kiln", f"The gearbox {PROBED} filter clogged.", "draft"),
            ("Turbine blades cracked", "Turbine inspection came too late.", "draft"),
            ("Gearbox and turbine misaligned", "Gearbox to turbine coupling wore out.",
             "submitted")):
        Api(prober).lesson(title, body, project_id=own, status=status)
    for number in range(6):  # a public corpus, so no searched word is in half of all lessons
        public = Api(other).lesson(f"Supplier invoice dispute {number}",
                                   "Invoices arrived late and were paid twice.")
        assert pmo.post(f"/api/v1/lessons/{public['id']}/approve").status_code == 200
    return {"prober": prober, "other": other, "pmo": pmo, "own": own, "hidden": hidden}


def hide_the_probed_word(probe) -> None:
    """Lessons the prober may not see, every one full of the probed word."""
    other, pmo, hidden = probe["other"], probe["pmo"], probe["hidden"]
    body = f"{PROBED} {PROBED} beds saturated; the {PROBED} supplier and the gearbox vendor."
    for visibility in ("project", "business_unit", "project", "business_unit"):
        lesson = Api(other).lesson(f"{PROBED.title()} beds", body, project_id=hidden,
                                   visibility=visibility)
        assert pmo.post(f"/api/v1/lessons/{lesson['id']}/approve").status_code == 200
    for _ in range(3):  # someone else's drafts, public once submitted
        Api(other).lesson(f"{PROBED.title()} draft", body, status="draft")


def observed(probe) -> dict[str, list[tuple]]:
    """What the prober reads back for words of their own lessons plus the probed or an absent
    word, filtered to their own project and not."""
    answers = {}
    for word in (PROBED, ABSENT):
        for scope in ({"project_id": probe["own"]}, {}):
            response = probe["prober"].get("/api/v1/search", query_string={
                "q": f"gearbox turbine {word}", **scope})
            assert response.status_code == 200, response.get_json()
            items = response.get_json()["items"]
            answers[f"{word} {scope}"] = [(item["id"], item["score"], item["similarity"],
                                          item["why"]["matched_by"]) for item in items]
    return answers


def test_scores_of_ones_own_lessons_do_not_move_when_hidden_lessons_use_the_word(probe):
    before = observed(probe)
    assert len(before[f"{PROBED} {{'project_id': {probe['own']}}}"]) == 3  # the positive control
    hide_the_probed_word(probe)
    assert observed(probe) == before


def test_the_hidden_lessons_are_found_by_those_who_may_see_them(probe):
    # The same searches do reach the hidden lessons for the PMO, so the check above could fail.
    hide_the_probed_word(probe)
    found = probe["pmo"].get("/api/v1/search", query_string={"q": f"gearbox {PROBED}"}).get_json()
    assert sum(PROBED in item["title"].lower() for item in found["items"]) == 7


def test_who_sees_every_lesson_gets_fts5s_own_ranking_with_the_same_scores(app, probe, session,
                                                                          backend):
    """The PMO's searches rank inside FTS5 (fast); its scores are those computed over the
    lessons it may see, since it may see them all."""
    if backend.name != "sqlite":
        pytest.skip("PostgreSQL's ranking uses no counts of other rows")
    from search.keyword import _allowed, bm25, keyword_search, matches, terms
    from search.retrieve import live_conditions

    hide_the_probed_word(probe)
    conditions = live_conditions(None)
    for query in (f"gearbox turbine {PROBED}", "invoices paid twice", f"{PROBED} supplier"):
        fast = keyword_search(session, query, conditions, 20)
        computed = _allowed(session, bm25(matches(session, terms(query))), conditions, 20)
        assert [i for i, _ in fast] == [i for i, _ in computed], query
        assert [round(s, 6) for _, s in fast] == [round(s, 6) for _, s in computed], query
