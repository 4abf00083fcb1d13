"""A briefing lesson "raised as a risk" opens an action on the project's side (issue 14,
item 5): owned by the person deciding or one they choose, its text the lesson's
recommendation, linked to the project and the lesson; it shows on the project page, the
Actions page and the owner's "My actions". Deciding otherwise later never deletes it: the
answer and the page say it stays open, and offer to drop it.

The API half runs here; the same loop in a real browser (desktop and phone) is
`test_raising_a_risk_in_the_browser`.
"""

import csv
import io
import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import audit_rows, console_errors, signed_in, signed_in_page
from playwright.sync_api import expect
from test_every_page_layout import serious
from test_project_page import ERP, ERP_CHARTER, add_past_lessons


@pytest.fixture
def kickoff(app):
    """Pat (PMO) and Ben on a new project's team, Eve outside it, and an approved lesson."""
    pat = signed_in(app, "pmo", "pat@example.org", name="Pat Quinn")
    ben = signed_in(app, "contributor", "ben@example.org", name="Ben Okafor")
    eve = signed_in(app, "contributor", "eve@example.org")
    project = pat.post("/api/v1/projects", json={"name": "Depot upgrade"}).get_json()
    pat.post(f"/projects/{project['id']}/team", data={"email": "ben@example.org"})
    lesson = pat.post("/api/v1/lessons", json={
        "title": "Crane vendor shipped late", "what_happened": "Six weeks late.",
        "recommendation": "Put a late-delivery penalty in every crane contract.",
        "status": "approved"}).get_json()
    return {"pat": pat, "ben": ben, "eve": eve, "app": app, "project": project["id"],
            "lesson": lesson["id"]}


def decide(client, project: int, body: dict):
    return client.post(f"/api/v1/projects/{project}/briefing/decisions", json=body)


def test_raising_a_risk_through_the_api_opens_the_projects_action(kickoff):
    ben, pat, project, lesson = kickoff["ben"], kickoff["pat"], kickoff["project"], \
        kickoff["lesson"]
    answer = decide(ben, project, {"lesson_id": lesson, "decision": "risk", "note": "Ours too"})
    assert answer.status_code == 200
    action = answer.get_json()["action"]
    assert action["description"] == "Put a late-delivery penalty in every crane contract."
    assert (action["owner"], action["owner_name"]) == ("ben@example.org", "Ben Okafor")
    assert (action["project_id"], action["lesson_id"], action["status"]) == (
        project, lesson, "open")
    assert [e.actor for e in audit_rows(kickoff["app"], "action_create")] == ["ben@example.org"]
    # Deciding "risk" again opens no second action, nor moves this one.
    again = decide(pat, project, {"lesson_id": lesson, "decision": "risk"})
    assert again.get_json()["action"]["id"] == action["id"]
    assert again.get_json()["action"]["owner"] == "ben@example.org"
    assert pat.get("/api/v1/actions").get_json()["total"] == 1
    # It shows on the project page, the Actions page and Ben's own list.
    page = pat.get(f"/projects/{project}").get_data(as_text=True)
    assert 'id="project-actions"' in page and "Risk actions (1 open)" in page
    assert "late-delivery penalty" in page.split('id="project-actions"')[1]
    mine = ben.get("/actions/mine").get_data(as_text=True)
    assert "late-delivery penalty" in mine and "Raised as a risk at the kickoff of" in mine
    # Changing the decision leaves the action open, and says so.
    moved = decide(ben, project, {"lesson_id": lesson, "decision": "applied"})
    assert moved.status_code == 200 and moved.get_json()["decision"] == "applied"
    assert moved.get_json()["action"]["status"] == "open"
    fragment = ben.post(f"/projects/{project}/briefing/decisions", data={
        "lesson_id": lesson, "decision": "not_applicable"}, headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert "No longer marked a risk, but its action stays open" in html
    assert ">Drop the action</button>" in html
    dropped = ben.post(f"/actions/{action['id']}/status", data={
        "status": "dropped", "view": "decision", "lesson_id": lesson},
        headers={"HX-Request": "true"})
    html = dropped.get_data(as_text=True)
    assert html.lstrip().startswith(f'<form class="decision" id="decision-{lesson}"')
    assert "from when it was a risk is dropped" in html


def test_a_chosen_owner_must_be_an_account_who_sees_the_lesson(kickoff):
    pat, project, lesson, app = kickoff["pat"], kickoff["project"], kickoff["lesson"], \
        kickoff["app"]
    unknown = decide(pat, project, {"lesson_id": lesson, "decision": "risk",
                                    "owner": "kim@example.org"})
    assert unknown.status_code == 422
    assert "No active account has the email" in unknown.get_json()["fields"]["owner"]
    assert audit_rows(app, "decision") == []  # nothing was written
    # A lesson only its project's team sees: Eve (not on it) cannot own its action.
    other = pat.post("/api/v1/projects", json={"name": "Merger"}).get_json()
    secret = pat.post("/api/v1/lessons", json={
        "title": "Merger data room leaked", "what_happened": "Hush.", "status": "approved",
        "project_id": other["id"], "visibility": "project"}).get_json()
    hidden = decide(pat, project, {"lesson_id": secret["id"], "decision": "risk",
                                   "owner": "eve@example.org"})
    assert hidden.status_code == 422 and "may not see this lesson" in \
        hidden.get_json()["fields"]["owner"]
    chosen = decide(pat, project, {"lesson_id": lesson, "decision": "risk",
                                   "owner": "eve@example.org"})
    assert chosen.get_json()["action"]["owner_name"] == "eve@example.org"
    # The project's team may change it, though the lesson is not theirs; Eve owns it.
    action = chosen.get_json()["action"]["id"]
    assert kickoff["ben"].patch(f"/api/v1/actions/{action}",
                                json={"due_on": "2031-01-31"}).status_code == 200
    assert kickoff["eve"].post(f"/actions/{action}/status", data={"status": "done"}
                               ).status_code == 303


def test_an_owner_sent_again_reassigns_the_projects_action(kickoff):
    ben, pat, project, lesson, app = kickoff["ben"], kickoff["pat"], kickoff["project"], \
        kickoff["lesson"], kickoff["app"]
    first = decide(ben, project, {"lesson_id": lesson, "decision": "risk"}).get_json()
    again = decide(pat, project, {"lesson_id": lesson, "decision": "risk",
                                  "owner": "pat@example.org"})
    assert again.status_code == 200
    action = again.get_json()["action"]
    assert (action["id"], action["owner"]) == (first["action"]["id"], "pat@example.org")
    assert pat.get("/api/v1/actions").get_json()["total"] == 1
    assert [(e.actor, e.detail["before"], e.detail["after"])
            for e in audit_rows(app, "action_reassign")] == [
        ("pat@example.org", "ben@example.org", "pat@example.org")]
    # An owner who may not own it is refused, and the decision is not written either.
    refused = decide(pat, project, {"lesson_id": lesson, "decision": "risk",
                                    "owner": "kim@example.org"})
    assert refused.status_code == 422 and "owner" in refused.get_json()["fields"]
    assert len(audit_rows(app, "decision")) == 2


def test_an_owner_with_a_decision_that_opens_no_action_is_a_422(kickoff):
    pat, project, lesson, app = kickoff["pat"], kickoff["project"], kickoff["lesson"], \
        kickoff["app"]
    for decision in ("applied", "not_applicable"):
        answer = decide(pat, project, {"lesson_id": lesson, "decision": decision,
                                       "owner": "ben@example.org"})
        assert answer.status_code == 422
        assert "Raised as a risk" in answer.get_json()["fields"]["owner"]
    assert audit_rows(app, "decision") == []
    blank = decide(pat, project, {"lesson_id": lesson, "decision": "applied", "owner": ""})
    assert blank.status_code == 200 and blank.get_json()["action"] is None



def test_a_risk_has_a_title_and_a_due_date_and_shows_in_the_exports(kickoff):
    ben, pat, project, lesson, app = kickoff["ben"], kickoff["pat"], kickoff["project"], \
        kickoff["lesson"], kickoff["app"]
    # A charter that brings the crane lesson into the briefing.
    assert pat.patch(f"/api/v1/projects/{project}", json={
        "description": "Replace the depot cranes. The crane vendor shipped late last time, so "
                       "the crane contract needs a late-delivery penalty."}).status_code == 200
    first = decide(ben, project, {"lesson_id": lesson, "decision": "risk"}).get_json()["action"]
    assert (first["title"], first["due_on"]) == ("Crane vendor shipped late", None)
    # A date is checked as every date is; a risk's details with another decision name nothing.
    bad = decide(ben, project, {"lesson_id": lesson, "decision": "risk", "due_on": "31/03/2031"})
    assert bad.status_code == 422
    assert bad.get_json()["fields"]["due_on"] == "Must be a date as YYYY-MM-DD."
    stray = decide(ben, project, {"lesson_id": lesson, "decision": "applied",
                                  "title": "Cranes", "due_on": "2031-03-31"})
    assert stray.status_code == 422 and set(stray.get_json()["fields"]) == {"title", "due_on"}
    assert "Raised as a risk" in stray.get_json()["fields"]["due_on"]
    # Sent again, they change the same action; the edit is audited.
    again = decide(pat, project, {"lesson_id": lesson, "decision": "risk",
                                  "title": "Crane delivery risk", "due_on": "2031-03-31"})
    action = again.get_json()["action"]
    assert (action["id"], action["title"], action["due_on"], action["owner"]) == (
        first["id"], "Crane delivery risk", "2031-03-31", "ben@example.org")
    assert action["description"] == "Put a late-delivery penalty in every crane contract."
    assert [e.actor for e in audit_rows(app, "action_edit")] == ["pat@example.org"]

    item = next(i for i in pat.get(f"/api/v1/projects/{project}/briefing").get_json()["items"]
                if i["id"] == lesson)
    risk = item["risk_action"]
    assert (risk["id"], risk["title"], risk["owner_name"], risk["due_on"], risk["status"]) == (
        action["id"], "Crane delivery risk", "Ben Okafor", "2031-03-31", "open")
    markdown = pat.get(f"/projects/{project}/briefing.md").get_data(as_text=True)
    assert "- Risk: Crane delivery risk — owner Ben Okafor, due 2031-03-31, open" in markdown
    rows = list(csv.DictReader(io.StringIO(
        pat.get(f"/projects/{project}/briefing.csv").get_data(as_text=True))))
    row = next(r for r in rows if r["lesson_id"] == str(lesson))
    assert [row[k] for k in ("risk_title", "risk_owner", "risk_due_on", "risk_status")] == [
        "Crane delivery risk", "Ben Okafor", "2031-03-31", "Open"]
    # Closed, the exports say so.
    ben.post(f"/actions/{action['id']}/status", data={"status": "done"})
    markdown = pat.get(f"/projects/{project}/briefing.md").get_data(as_text=True)
    assert "- Risk: Crane delivery risk — owner Ben Okafor, due 2031-03-31, done" in markdown


def test_the_actions_a_project_raised_are_listed_by_project_id(kickoff):
    pat, project, lesson = kickoff["pat"], kickoff["project"], kickoff["lesson"]
    other = pat.post("/api/v1/projects", json={"name": "Quay works"}).get_json()["id"]
    raised = [decide(pat, p, {"lesson_id": lesson, "decision": "risk"}).get_json()["action"]["id"]
              for p in (project, other)]
    pat.post("/api/v1/actions", json={"lesson_id": lesson, "description": "Not a risk"})
    assert pat.get("/api/v1/actions").get_json()["total"] == 3
    for project_id, action_id in zip((project, other), raised, strict=True):
        found = pat.get("/api/v1/actions", query_string={"project_id": project_id}).get_json()
        assert [a["id"] for a in found["items"]] == [action_id]
    assert pat.get("/api/v1/actions", query_string={"project_id": "x"}).status_code == 422
    spec = pat.get("/api/v1/openapi.json").get_json()
    names = [p["name"] for p in spec["paths"]["/actions"]["get"]["parameters"]]
    assert "project_id" in names


@pytest.mark.browser
def test_raising_a_risk_in_the_browser(browser, app, client, viewport):
    """A PMO raises a briefing lesson as a risk, finds the action on the project page and
    under My actions, reassigns and closes actions from the Actions page, then changes the
    decision and is told the action stays, and drops it."""
    past = add_past_lessons(client)
    signed_in(app, "contributor", "ben@example.org", name="Ben Okafor")
    with signed_in_page(browser, app, viewport, "/projects/new", "New project") as page:
        errors = console_errors(page)
        page.locator("#name").fill("High street and ledger")
        page.locator("#description").fill(ERP_CHARTER)
        page.get_by_role("button", name="Create project").click()
        expect(page).to_have_url(re.compile(r"/projects/\d+$"))
        project_url = page.url
        titles = {ERP[key][0] for key in ERP}
        article = page.locator("article.briefing-item").filter(
            has=page.locator("h3 a", has_text=re.compile("|".join(map(re.escape, titles))))
        ).first
        title = article.locator("h3 a").inner_text()
        key = next(k for k in ERP if ERP[k][0] == title)

        # 1. Raise it as a risk with a note; the form says which action it opened, and whose.
        article.get_by_label("Note").press_sequentially("Book the finance team now.", delay=15)
        article.get_by_role("button", name="Raised as a risk").click()
        risk = article.locator(".risk-action")
        expect(risk).to_contain_text(f"What we would do next time about {key}.")
        expect(risk).to_contain_text("pat@example.org, open")

        # 2. The project page lists it; My actions has it.
        page.reload()
        expect(page.locator("#project-actions")).to_contain_text("Risk actions (1 open)")
        page.get_by_role("link", name="My actions").first.click()
        expect(page.locator("h1")).to_have_text("My actions")
        row = page.locator("tr.action-row").filter(has_text=f"next time about {key}")
        expect(row).to_contain_text("Raised as a risk at the kickoff of High street and ledger")

        # 3. Reassign it to Ben from the row (a wrong email first), then it is his.
        box = row.get_by_label(re.compile("New owner of"))
        box.press_sequentially("bem@example.org", delay=15)
        row.get_by_role("button", name="Reassign").click()
        expect(row.locator(".error")).to_contain_text("No active account has the email")
        # Nor does it send them to a field for someone without an account: this row has none.
        expect(row.locator(".error")).not_to_contain_text("without an account")
        box = row.get_by_label(re.compile("New owner of"))
        box.fill("")
        box.press_sequentially("ben@example.org", delay=15)
        row.get_by_role("button", name="Reassign").click()
        expect(row.locator(".owner")).to_have_text("Ben Okafor")
        expect(page.locator("#actions-status")).to_contain_text("now Ben Okafor's")

        # 4. Close one from the Actions page, and reopen it: each row updates in place.
        client.post("/api/v1/actions", json={"lesson_id": past[key], "owner": "pat@example.org",
                                              "description": "Check the cutover plan",
                                              "due_on": "2020-01-31"})
        page.goto("/actions/mine")
        mine = page.locator("tr.action-row").filter(has_text="Check the cutover plan")
        expect(mine).to_have_class(re.compile("overdue"))
        mine.get_by_role("button", name=re.compile("^Done")).click()
        expect(mine.locator(".status")).to_have_text("Done")
        expect(page.locator("#actions-status")).to_contain_text("Done: Check the cutover plan")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
        assert serious(Axe().run(page).response["violations"]) == []

        # 5. Back on the project, the lesson is not applicable after all: the action stays,
        # the form says so, and one click drops it.
        page.goto(project_url)
        article = page.locator("article.briefing-item").filter(
            has=page.get_by_role("link", name=title, exact=True))
        article.get_by_role("button", name="Not applicable").click()
        note = article.locator(".risk-action")
        expect(note).to_contain_text("No longer marked a risk, but its action stays open")
        expect(note).to_contain_text("Ben Okafor")
        note.get_by_role("button", name="Drop the action").click()
        expect(article.locator(".risk-action")).to_contain_text("is dropped")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
        assert serious(Axe().run(page).response["violations"]) == []
        # Chromium logs every 4xx answer; the refused owner's 422 is the one expected.
        refused = [e for e in errors if "status of 422" in e and "/owner)" in e]
        assert len(refused) == 1 and [e for e in errors if e not in refused] == []
