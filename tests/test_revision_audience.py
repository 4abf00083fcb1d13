"""A lesson's history keeps each revision's audience, and reads in the words of the forms.

Text written while a lesson was a draft, or while only its team could see it,
stays with the audience it was written for after the lesson is submitted or
widened: each revision is shown only to who could see the lesson when it was
written and can see it now, through the history page and the API alike.
"""

from itertools import product

import pytest
from conftest import make_user, signed_in
from sqlalchemy import select

from lessons.models import Lesson, Project, ProjectMember
from lessons.policy import sees, visible
from lessons.services.users import Account

DRAFT_WORD = "xyzzy"  # only ever in a draft's superseded text
TEAM_WORD = "plugh"  # only ever in text written while the lesson was team-only


def history(client, lesson_id) -> tuple[str, str]:
    page = client.get(f"/lessons/{lesson_id}/history")
    api = client.get(f"/api/v1/lessons/{lesson_id}/revisions")
    assert page.status_code == 200 and api.status_code == 200
    return page.get_data(as_text=True), api.get_data(as_text=True)


@pytest.fixture
def people(app):
    return {
        "author": signed_in(app, "contributor", "author@example.org", business_unit="Energy"),
        "reader": signed_in(app, "contributor", "reader@example.org", business_unit="Energy"),
        "pmo": signed_in(app, "pmo", "pmo@example.org"),
    }


def test_draft_text_stays_with_the_author_once_the_lesson_is_submitted(people):
    author, reader, pmo = people["author"], people["reader"], people["pmo"]
    lesson = author.post("/api/v1/lessons", json={
        "title": "Cooling loop leaked", "status": "draft",
        "what_happened": f"First thoughts: blame {DRAFT_WORD} the contractor."}).get_json()
    url = f"/api/v1/lessons/{lesson['id']}"
    assert author.patch(url, json={"what_happened": "A seal failed in the cooling loop."}
                        ).status_code == 200
    assert author.post(f"{url}/submit").status_code == 200
    assert pmo.post(f"{url}/approve").status_code == 200
    assert author.patch(url, json={"root_cause": "Seal past its service life."}).status_code == 200
    page, api = history(reader, lesson["id"])
    assert DRAFT_WORD not in page and DRAFT_WORD not in api
    assert "A seal failed in the cooling loop." in page  # the submitted text is theirs
    assert "Seal past its service life." in page
    revisions = reader.get(f"{url}/revisions").get_json()["items"]
    assert [item["number"] for item in revisions] == [2, 3]
    assert "what_happened" in revisions[0]["changed_fields"]  # shown whole, not as a diff
    for client in (author, pmo):  # the positive control: its author and the PMO still read it
        assert all(DRAFT_WORD in text for text in history(client, lesson["id"]))


def test_team_only_text_stays_with_the_team_once_the_lesson_is_widened(people):
    author, reader, pmo = people["author"], people["reader"], people["pmo"]
    project = author.post("/api/v1/projects", json={"name": "Grid link",
                                                    "business_unit": "Energy"}).get_json()
    lesson = author.post("/api/v1/lessons", json={
        "title": "Substation delayed", "project_id": project["id"], "visibility": "project",
        "what_happened": f"The {TEAM_WORD} vendor missed the delivery."}).get_json()
    url = f"/api/v1/lessons/{lesson['id']}"
    assert pmo.post(f"{url}/approve").status_code == 200
    assert reader.get(url).status_code == 404
    assert author.patch(url, json={"what_happened": "A vendor missed the delivery.",
                                   "visibility": "organisation"}).status_code == 200
    page, api = history(reader, lesson["id"])
    assert TEAM_WORD not in page and TEAM_WORD not in api
    assert "A vendor missed the delivery." in page
    assert "not shown" in page  # the reader is told some history is not theirs
    for client in (author, pmo):
        assert all(TEAM_WORD in text for text in history(client, lesson["id"]))


def test_business_unit_text_reaches_the_unit_but_not_others(app, people):
    author, colleague = people["author"], people["reader"]
    outsider = signed_in(app, "contributor", "outsider@example.org", business_unit="Retail")
    project = author.post("/api/v1/projects", json={"name": "Wind farm",
                                                    "business_unit": "Energy"}).get_json()
    lesson = author.post("/api/v1/lessons", json={
        "title": "Crane booked late", "project_id": project["id"], "status": "submitted",
        "visibility": "business_unit", "what_happened": f"The {TEAM_WORD} crane was late."}
    ).get_json()
    url = f"/api/v1/lessons/{lesson['id']}"
    author.patch(url, json={"what_happened": "The crane was late.", "visibility": "organisation"})
    assert all(TEAM_WORD in text for text in history(colleague, lesson["id"]))
    assert not any(TEAM_WORD in text for text in history(outsider, lesson["id"]))


def test_the_first_revision_reads_as_the_forms_do(people):
    author = people["author"]
    project = author.post("/api/v1/projects", json={"name": "Harbour dredging"}).get_json()
    lesson = author.post("/api/v1/lessons", json={
        "title": "Silt survey skipped", "project_id": project["id"], "kind": "went_wrong",
        "what_happened": "No survey.", "impact_cost": "12500", "impact_days": 14,
        "tags": ["survey", "marine"]}).get_json()
    page = author.get(f"/lessons/{lesson['id']}/history").get_data(as_text=True)
    assert "Harbour dredging" in page and f"Project {project['id']}" not in page
    assert "Went wrong" in page and "went_wrong" not in page
    assert "Everyone in the organisation" in page and ">organisation<" not in page
    # A figure sits in its <dd> like any other value: no line break or indent around it.
    assert "<dd><ins>14</ins></dd>" in page.replace("\n", "")


def test_reordering_tags_is_not_a_change(people):
    author = people["author"]
    lesson = author.post("/api/v1/lessons", json={
        "title": "Permit lapsed", "what_happened": "It lapsed.",
        "tags": ["permits", "legal"]}).get_json()
    url = f"/api/v1/lessons/{lesson['id']}"
    author.patch(url, json={"tags": ["legal", "permits"], "severity": "high"})
    revisions = author.get(f"{url}/revisions").get_json()["items"]
    assert "tags" not in revisions[-1]["changed_fields"]
    page = author.get(f"/lessons/{lesson['id']}/history").get_data(as_text=True)
    assert "<dd><del>Medium</del> <ins>High</ins></dd>" in page  # whole values, spaced


def test_the_rule_for_one_revision_agrees_with_the_rule_for_lesson_rows(app, session):
    # lessons.policy.sees() judges a revision's values in Python; visible() judges rows in SQL.
    owner, member, unit, other = (make_user(app, "contributor", f"{name}@example.org",
                                            business_unit=bu)
                                  for name, bu in (("owner", "Energy"), ("member", "Retail"),
                                                   ("unit", "Energy"), ("other", "Retail")))
    energy, bare = Project(name="Energy one", business_unit="Energy", status="active"), \
        Project(name="No unit", status="active")
    session.add_all([energy, bare])
    session.flush()
    session.add_all([ProjectMember(project_id=p.id, user_id=member) for p in (energy, bare)])
    values = list(product(("organisation", "business_unit", "project"), (energy.id, bare.id),
                          (True, False), (owner, other)))
    lessons = [Lesson(title="t", what_happened="w", kind="risk", severity="low",
                      visibility=visibility, project_id=project_id, owner_id=owner_id,
                      status="draft" if draft else "submitted")
               for visibility, project_id, draft, owner_id in values]
    session.add_all(lessons)
    session.commit()
    viewers = [Account(i, "", "contributor", None, bu, False) for i, bu in
               ((owner, "Energy"), (member, "Retail"), (unit, "Energy"), (other, "Retail"))]
    viewers += [Account(0, "", "visitor", None, None, False), Account(99, "", "pmo", None, None,
                                                                      False)]
    for viewer in viewers:
        in_sql = set(session.scalars(select(Lesson.id).where(visible(viewer))))
        in_python = {lesson.id for lesson, (v, p, d, o) in zip(lessons, values, strict=True)
                     if sees(session, viewer, visibility=v, project_id=p, draft=d, owner_id=o)}
        assert in_python == in_sql, viewer
