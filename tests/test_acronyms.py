"""Acronyms are searched for what the lessons say they stand for (`search.acronyms`)."""

from dataclasses import dataclass

import pytest

from lessons.policy import restrict
from search.acronyms import definition_of, long_form_of, spelled_out
from search.retrieve import live_conditions, search
from web.engine import engine


@pytest.mark.parametrize(("acronym", "before", "expected"), [
    ("SEU", "inducing a single event upset ", "single event upset"),
    ("LOTO", "Failures of Electrical Circuit Breaker Lock Out/Tag Out ", "Lock Out/Tag Out"),
    ("COTS", "the use of recycled and commercial-off-the-shelf ", "commercial-off-the-shelf"),
    ("ITAR", "redacted for International Traffic in Arms Regulations ",
     "International Traffic in Arms Regulations"),
    ("FOD", "contamination and Foreign Object and Debris ", "Foreign Object and Debris"),
])
def test_a_definition_is_the_words_that_hold_the_letters_in_order(acronym, before, expected):
    assert long_form_of(acronym, before) == expected


@pytest.mark.parametrize(("acronym", "before"), [
    ("SEU", "see the attached report "),  # the letters are not there in order
    ("SEU", "the SEU "),  # itself, not a definition
    ("FOD", "the offload debris "),  # its first letter does not start a word
])
def test_words_that_do_not_spell_the_acronym_are_no_definition(acronym, before):
    assert long_form_of(acronym, before) is None


RADIATION = {  # defines the acronym
    "title": "Radiation test of the memory boards was skipped",
    "what_happened": "A single event upset (SEU) reset the flight computer twice in orbit. "
                     "The boards had never been tested under heavy ions.",
}
BIT_FLIPS = {  # about the same thing, in other words and without the acronym
    "title": "Cosmic rays flipped bits in the star tracker's memory",
    "what_happened": "Particles striking the unprotected RAM changed stored values, and the "
                     "spacecraft lost its attitude reference until the table was reloaded.",
}
OTHERS = [
    {"title": "The analysts' team moved offices mid-project",
     "what_happened": "Half the team was unreachable for a week while the move ran late."},
    {"title": "Supplier invoices arrived in a new format",
     "what_happened": "Accounts payable keyed them by hand for a month."},
    {"title": "The venue's projector failed on the launch day",
     "what_happened": "No spare was on site; the keynote ran without slides."},
    {"title": "Vendor reliability figures were taken on trust",
     "what_happened": "The failures in time (FIT) rates came from a datasheet, not from tests."},
    {"title": "The bracket did not fit the panel",
     "what_happened": "Holes were drilled to the old drawing, so nothing would fit at assembly."},
]


def test_an_acronym_finds_lessons_that_only_spell_it_out(api, app, session):
    for lesson in (RADIATION, BIT_FLIPS, *OTHERS):
        api.lesson(**lesson)
    search_engine = engine().ready()
    conditions = live_conditions(None)

    assert definition_of(session, "SEU", conditions) == "single event upset"
    assert spelled_out(session, "SEU in memory", conditions) == (
        "SEU (single event upset) in memory")
    assert spelled_out(session, "XYZ failures", conditions) == "XYZ failures"  # not defined
    # Typed in lowercase, in a short search, when the lessons write it in capitals.
    assert spelled_out(session, "seu", conditions) == "seu (single event upset)"
    assert spelled_out(session, "FIT rates", conditions) == "FIT (failures in time) rates"
    assert spelled_out(session, "parts did not fit", conditions) == "parts did not fit"
    titles = [hit.lesson.title for hit in search(search_engine, session, "SEU", limit=2).hits]
    assert set(titles) == {RADIATION["title"], BIT_FLIPS["title"]}
    # The search page says what it looked for.
    page = api.client.get("/search", query_string={"q": "seu"}).get_data(as_text=True)
    assert "Searched by meaning for “seu (single event upset)”" in page
    page = api.client.get("/search", query_string={"q": "memory errors"}).get_data(as_text=True)
    assert "Searched by meaning for" not in page
    answer = api.client.get("/api/v1/search", query_string={"q": "SEU"}).get_json()
    assert answer["searched_for"] == "SEU (single event upset)"


@dataclass
class Outsider:
    """A contributor of another business unit, on no project's team."""

    id: int = 999_999
    role: str = "contributor"
    business_unit: str | None = "Retail"


def test_a_definition_in_a_lesson_hidden_from_the_viewer_is_not_read(api, session):
    project = api.project("Launch systems", business_unit="Defence")
    api.lesson(**RADIATION, project_id=project["id"], visibility="project")
    api.lesson(**BIT_FLIPS)
    conditions = live_conditions(None)
    assert definition_of(session, "SEU", conditions) == "single event upset"

    restrict(session, Outsider())
    assert definition_of(session, "SEU", conditions) is None
    assert spelled_out(session, "SEU", conditions) == "SEU"
