"""Kickoff briefings: generated with the project, diverse, explained, decided on, and watching."""

import csv
import io

import pytest
from conftest import Api, signed_in

TOPICS = {
    "vendor": ("Locked into the integrator's proprietary configuration",
               "The integrator kept the configuration design and charged for every change; "
               "with no exit clause we could not move to another supplier."),
    "testing": ("Acceptance testing squeezed before go-live",
                "Development overran and user acceptance testing shrank from six weeks to eight "
                "days; defects reached production."),
    "migration": ("Legacy data far dirtier than assumed",
                  "A third of the customer records were duplicates, so the data migration took "
                  "three extra cycles."),
    "permits": ("Road closure permits requested too late",
                "The council needed eight weeks for street works permits; crews stood idle."),
}
CHARTER = (
    "We will replace the finance system with a cloud ERP delivered by an external integrator "
    "under a fixed-price contract.\n\n"
    "Customer and supplier master data must be migrated from three legacy systems, and the "
    "cutover is planned for the quarter-end close.\n\n"
    "User acceptance testing with the finance team is scheduled for the last month before "
    "go-live."
)


def post(client, url, body):
    if url == "/api/v1/lessons":  # approved records: only those feed briefings
        body = {"status": "approved", **body}
    return Api(client).post(url.removeprefix("/api/v1/"), **body)


@pytest.fixture
def past(client):
    """Past lessons on an old project, including near-copies of one of them."""
    old = post(client, "/api/v1/projects", {"name": "Old programme"})
    lessons = {key: post(client, "/api/v1/lessons", {
        "title": title, "what_happened": body, "project_id": old["id"],
        "recommendation": f"Recommendation for {key}.", "category": "technical"})
        for key, (title, body) in TOPICS.items()}
    copies = [post(client, "/api/v1/lessons", {
        "title": f"{TOPICS['vendor'][0]} (again, {i})", "what_happened": TOPICS["vendor"][1],
        "project_id": old["id"]})["id"] for i in range(4)]
    return lessons, copies


def briefing(client, project_id):
    response = client.get(f"/api/v1/projects/{project_id}/briefing")
    assert response.status_code == 200
    return response.get_json()


def test_a_new_project_gets_its_briefing_without_a_click(client, past):
    lessons, copies = past
    project = post(client, "/api/v1/projects", {"name": "Cloud ERP", "description": CHARTER})
    result = briefing(client, project["id"])
    ranked = [item["id"] for item in result["items"]]
    top = ranked[:4]
    vendor = {lessons["vendor"]["id"], *copies}
    # The three parts of the charter are each covered near the top...
    assert lessons["migration"]["id"] in top and lessons["testing"]["id"] in top
    assert set(top) & vendor
    # ...instead of five near-copies of one lesson crowding them out.
    assert len(set(top) & vendor) == 1
    first = result["items"][0]
    assert first["aspect"].startswith("Description, paragraph") and first["aspect_text"]
    assert first["external_id"] is None and first["decision"] is None
    assert len(result["aspects"]) == 3
    page = client.get(f"/projects/{project['id']}/briefing").get_data(as_text=True)
    assert "Kickoff briefing: Cloud ERP" in page and TOPICS["migration"][0] in page
    assert "Why: matches" in page and "Applied" in page


def test_the_projects_own_lessons_are_left_out(client, past):
    project = post(client, "/api/v1/projects", {"name": "Cloud ERP", "description": CHARTER})
    own = post(client, "/api/v1/lessons", {"title": "ERP integrator fixed-price contract issue",
                                           "what_happened": CHARTER, "project_id": project["id"]})
    client.post(f"/projects/{project['id']}/briefing/regenerate")
    assert own["id"] not in [item["id"] for item in briefing(client, project["id"])["items"]]


def test_structured_fields_are_aspects_too_but_numbers_never_become_a_query(client, past):
    lessons, _ = past
    project = post(client, "/api/v1/projects", {
        "name": "Fibre rollout", "description": "Connect 4,000 homes to fibre.",
        "constraints": "Street works need council approval before any digging.",
        "team_size": 12})
    result = briefing(client, project["id"])
    labels = [aspect["label"] for aspect in result["aspects"]]
    # The team size may weigh, never search: "a team of 12 people" found venue budgets.
    assert labels == ["Description", "Constraints"]
    item = next(i for i in result["items"] if i["id"] == lessons["permits"]["id"])
    assert "Constraints" in item["aspects"]


def test_decisions_are_kept_shown_and_steer_later_briefings(app, client, past):
    lessons, _ = past
    first = post(client, "/api/v1/projects", {"name": "ERP wave 1", "description": CHARTER})
    second = post(client, "/api/v1/projects", {"name": "ERP wave 2", "description": CHARTER})
    target = lessons["testing"]["id"]
    before = [i["id"] for i in briefing(client, second["id"])["items"]].index(target)

    ana = signed_in(app, "contributor", "ana@example.org")
    # The project's team decides on its briefing.
    client.post(f"/projects/{first['id']}/team", data={"email": "ana@example.org"})
    decision = ana.post(f"/api/v1/projects/{first['id']}/briefing/decisions",
                        json={"lesson_id": target, "decision": "not_applicable",
                              "note": "We test continuously."})
    assert decision.status_code == 200 and decision.get_json()["actor"] == "ana@example.org"
    client.post(f"/projects/{second['id']}/briefing/regenerate")
    after = [i["id"] for i in briefing(client, second["id"])["items"]]
    assert target not in after or after.index(target) > before

    client.post(f"/api/v1/projects/{first['id']}/briefing/decisions",
                json={"lesson_id": target, "decision": "applied"})
    client.post(f"/projects/{second['id']}/briefing/regenerate")
    raised = [i["id"] for i in briefing(client, second["id"])["items"]].index(target)
    assert raised <= before

    # The description changes: the briefing is regenerated, the decision stays.
    client.patch(f"/api/v1/projects/{first['id']}", json={"description": CHARTER + " Soon."})
    item = next(i for i in briefing(client, first["id"])["items"] if i["id"] == target)
    assert item["decision"]["decision"] == "applied"
    lesson_page = client.get(f"/lessons/{target}").get_data(as_text=True)
    assert "At kickoffs: applied in 1" in lesson_page and "ERP wave 1" in lesson_page


def test_deciding_through_the_page(client, past):
    lessons, _ = past
    project = post(client, "/api/v1/projects", {"name": "Cloud ERP", "description": CHARTER})
    response = client.post(f"/projects/{project['id']}/briefing/decisions", data={
        "lesson_id": lessons["vendor"]["id"], "decision": "risk", "note": "Add an exit clause"},
        headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith("<form")
    assert "Raised as a risk: Add an exit clause" in body
    bad = client.post(f"/projects/{project['id']}/briefing/decisions", data={
        "lesson_id": lessons["vendor"]["id"], "decision": "maybe"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422
    assert client.post(f"/api/v1/projects/{project['id']}/briefing/decisions",
                       json={"lesson_id": 99999, "decision": "applied"}).status_code == 422
    assert client.post("/api/v1/projects/99999/briefing/decisions",
                       json={"lesson_id": 1, "decision": "applied"}).status_code == 404


def test_new_lessons_reach_a_project_that_already_started(client, past):
    project = post(client, "/api/v1/projects", {"name": "Cloud ERP", "description": CHARTER})
    assert briefing(client, project["id"])["new_since_kickoff"] == []
    other = post(client, "/api/v1/projects", {"name": "HR system"})
    fresh = post(client, "/api/v1/lessons", {
        "title": "Integrator contract had no exit terms",
        "what_happened": "The fixed-price integrator contract made every change a paid change "
                         "request and we could not switch supplier.",
        "project_id": other["id"]})
    unrelated = post(client, "/api/v1/lessons", {
        "title": "Conference badges misprinted", "what_happened": "Names were cut off.",
        "project_id": other["id"]})
    found = [item["id"] for item in briefing(client, project["id"])["new_since_kickoff"]]
    assert fresh["id"] in found and unrelated["id"] not in found
    page = client.get(f"/projects/{project['id']}").get_data(as_text=True)
    assert "New since kickoff" in page and "Integrator contract had no exit terms" in page


def test_exports_and_print(client, past):
    post(client, "/api/v1/lessons", {"title": "=HYPERLINK(\"http://x\")",
                                     "what_happened": TOPICS["vendor"][1] + " Integrator lock."})
    project = post(client, "/api/v1/projects", {"name": "Cloud ERP", "description": CHARTER})
    markdown = client.get(f"/projects/{project['id']}/briefing.md")
    assert markdown.mimetype == "text/markdown"
    text = markdown.get_data(as_text=True)
    assert text.startswith("# Kickoff briefing: Cloud ERP") and "**Recommendation:**" in text
    exported = client.get(f"/projects/{project['id']}/briefing.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert rows and all(not row["title"].startswith("=") for row in rows)
    assert any(row["title"].startswith("'=HYPERLINK") for row in rows)
    with client.get("/static/app.css") as stylesheet:
        assert "@media print" in stylesheet.get_data(as_text=True)


def test_html_in_user_text_never_reaches_the_markdown_exports(client, past):
    post(client, "/api/v1/lessons", {
        "title": "<img src=x onerror=alert(1)>Integrator lock-in\n# Not a heading",
        "what_happened": TOPICS["vendor"][1],
        "recommendation": "<script>alert(2)</script>Keep an exit clause & the design rights."})
    project = post(client, "/api/v1/projects", {"name": "Cloud ERP <b>now</b>",
                                                "description": CHARTER})
    text = client.get(f"/projects/{project['id']}/briefing.md").get_data(as_text=True)
    assert text.startswith("# Kickoff briefing: Cloud ERP now\n")
    assert "Integrator lock-in # Not a heading" in text and "\n# Not a heading" not in text
    assert "Keep an exit clause &amp; the design rights." in text
    assert "<" not in text and "alert" not in text
    report = client.get("/pmo/report.md", query_string={"business_unit": "<i>Ops</i>"})
    assert "business_unit Ops" in report.get_data(as_text=True)


def test_a_project_without_a_description_has_no_briefing_yet(client, past):
    project = post(client, "/api/v1/projects", {"name": "Empty"})
    result = briefing(client, project["id"])
    assert result["items"] == [] and result["generated_at"] is None
    page = client.get(f"/projects/{project['id']}/briefing").get_data(as_text=True)
    assert "Add a description" in page
