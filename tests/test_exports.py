"""Markdown (and a briefing's CSV) exports read away from the app: each lesson carries its id,
an absolute link to its page, its project, severity, category, impact, what happened, the
recommendation and, in a briefing, the team's decision and note."""

import csv
import io
import re

from conftest import signed_in
from test_escaping import assert_safe_markdown, rendered_links


def post(client, url: str, values: dict) -> dict:
    response = client.post(url, json=values)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def briefed_project(client) -> tuple[int, int, int]:
    """A past project with two lessons, and a new one whose briefing lists them; the team
    applied the first with a note. (new project id, decided lesson id, other lesson id)."""
    old = post(client, "/api/v1/projects", {"name": "Depot works"})["id"]
    decided = post(client, "/api/v1/lessons", {
        "title": "Road closure permit requested too late", "project_id": old,
        "what_happened": "The council needed eight weeks for the street works permit; "
                         "crews sat idle.", "recommendation": "Apply for road closure permits "
                         "in the first month.", "severity": "high", "category": "schedule",
        "impact_cost": "12000", "impact_days": 10, "status": "approved"})["id"]
    other = post(client, "/api/v1/lessons", {
        "title": "Council permit office closed in August", "project_id": old,
        "what_happened": "The road permit desk closed for the summer; the closure waited.",
        "status": "approved"})["id"]
    new = post(client, "/api/v1/projects", {
        "name": "High street resurfacing", "description": "Resurface the high street; we "
        "need road closure permits from the council before the crews start."})["id"]
    post(client, f"/api/v1/projects/{new}/briefing/decisions",
         {"lesson_id": decided, "decision": "applied", "note": "Permit booked in week 1."})
    return new, decided, other


def lesson_section(text: str, lesson_id: int) -> str:
    """The Markdown section of one lesson: from its heading to the next."""
    sections = re.split(r"(?m)^## ", text)
    found = [s for s in sections if f"[#{lesson_id}](" in s]
    assert len(found) == 1, text
    return found[0]


def test_each_briefing_lesson_carries_its_link_project_facts_and_the_decision(client):
    project, decided, other = briefed_project(client)
    response = client.get(f"/projects/{project}/briefing.md")
    assert response.status_code == 200 and response.mimetype == "text/markdown"
    text = response.get_data(as_text=True)
    section = lesson_section(text, decided)
    assert f"- Lesson [#{decided}](http://localhost/lessons/{decided})" in section
    assert "- Project: Depot works" in section
    assert "Severity: High · Category: schedule · Kind: Went wrong" in section
    assert "- Impact: EUR\u00a012,000 · 10 days of slip" in section
    assert "**What happened:** The council needed eight weeks" in section
    assert "**Recommendation:** Apply for road closure permits" in section
    assert "- Team decision: Applied — Permit booked in week 1." in section
    assert "- Seen on 1 project\n" in section  # not "1 project(s)"
    undecided = lesson_section(text, other)
    assert "- Team decision: not decided yet" in undecided and "- Impact:" not in undecided
    assert "**What happened:** The road permit desk closed" in undecided
    assert f"http://localhost/lessons/{other}" in rendered_links(text)
    assert_safe_markdown(text)


def test_the_links_use_the_base_url_when_one_is_set(backend, make_app):
    app = make_app(DATABASE_URL=backend.url, BASE_URL="https://lessons.example.org/")
    client = signed_in(app)
    project, decided, _ = briefed_project(client)
    text = client.get(f"/projects/{project}/briefing.md").get_data(as_text=True)
    assert f"[#{decided}](https://lessons.example.org/lessons/{decided})" in text
    assert "localhost" not in text


def test_the_report_markdown_links_each_repeated_lesson(client, runner):
    projects = [post(client, "/api/v1/projects", {"name": f"Site {n}"})["id"] for n in range(3)]
    ids = [post(client, "/api/v1/lessons", {
        "title": f"Road closure permit late on site {n}", "project_id": project,
        "what_happened": "The council needed eight weeks for the road closure permit.",
        "status": "approved"})["id"] for n, project in enumerate(projects)]
    post(client, "/api/v1/lessons", {"title": "The caterer cancelled", "status": "approved",
                                     "what_happened": "Lunch arrived cold."})
    assert runner.invoke(args=["themes", "--themes", "2"]).exit_code == 0
    text = client.get("/pmo/report.md").get_data(as_text=True)
    repeats = text.split("## Identified, not learned")[1].split("##")[0]
    assert any(f"[#{i}](http://localhost/lessons/{i})" in repeats for i in ids), repeats
    assert_safe_markdown(text)


def test_the_briefing_csv_carries_what_its_markdown_does(client):
    project, decided, other = briefed_project(client)
    post(client, f"/api/v1/projects/{project}/briefing/decisions",
         {"lesson_id": other, "decision": "not_applicable", "note": "=1+1 no closures"})
    response = client.get(f"/projects/{project}/briefing.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = {int(row["lesson_id"]): row
            for row in csv.DictReader(io.StringIO(response.get_data(as_text=True)))}
    row = rows[decided]
    assert (row["link"], row["project"], row["severity"]) == (
        f"http://localhost/lessons/{decided}", "Depot works", "high")
    assert row["what_happened"].startswith("The council needed eight weeks")
    assert row["recommendation"] == "Apply for road closure permits in the first month."
    assert (row["decision"], row["note"]) == ("applied", "Permit booked in week 1.")
    assert row["risk_title"] == row["risk_status"] == ""  # no risk raised on it
    # Every cell goes through the formula guard, the team's note too.
    assert (rows[other]["decision"], rows[other]["note"]) == ("not_applicable",
                                                              "'=1+1 no closures")
