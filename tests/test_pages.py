"""The HTML pages: capture with inline errors, edit and history, delete and restore, lists,
actions."""

import re

import pytest
from conftest import Api, make_user, signed_in

HX = {"HX-Request": "true"}


def text(response):
    return response.get_data(as_text=True)


@pytest.fixture
def project_id(api):
    return api.project("Hospital wing", description="Build it.\n\nOn time.")["id"]


def api_lesson(client, **values):
    return Api(client).post("lessons", **{"title": "Late sign-off",
                                          "what_happened": "Design froze late.", **values})


def test_every_page_answers_on_an_empty_database(client):
    for url in ["/", "/lessons/", "/lessons/new", "/projects/", "/projects/new", "/actions/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "+ Log a lesson" in text(response), url


def test_capture_through_the_form(client, project_id):
    response = client.post("/lessons/new", data={
        "title": "Vendor owned the config", "project_id": str(project_id),
        "what_happened": "We could not change a field without them.", "kind": "went_wrong",
        "severity": "high", "tags": "vendor, lock-in", "impact_cost": "12 000".replace(" ", ""),
        "author": "Ann Lee", "occurred_on": "2025-02-03"})
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    body = text(page)
    assert "Vendor owned the config" in body and "Hospital wing" in body
    assert "EUR\u00a012,000" in body and "lock-in" in body  # the currency, no zero cents
    # The author's name is remembered for the next form.
    assert 'value="Ann Lee"' in text(client.get("/lessons/new"))


def test_a_missing_title_is_shown_beside_the_field_and_nothing_typed_is_lost(client):
    response = client.post("/lessons/new", data={
        "title": "  ", "what_happened": "Testing was squeezed into two days.",
        "root_cause": "Build slipped", "severity": "critical", "impact_days": "many",
        "kind": "went_wrong"}, headers=HX)
    assert response.status_code == 422
    body = text(response)
    assert body.lstrip().startswith("<form"), "htmx gets the form alone, to swap in place"
    assert re.search(r'id="title-error">This field is required\.<', body)
    assert 'id="impact_days-error">Must be a whole number.<' in body
    assert "Testing was squeezed into two days.</textarea>" in body
    assert ">Build slipped</textarea>" in body
    assert 'value="critical" selected' in body and 'value="many"' in body
    assert client.get("/api/v1/lessons").get_json()["total"] == 0


def test_htmx_capture_navigates_with_a_header(client):
    response = client.post("/lessons/new", data={"title": "T", "what_happened": "W",
                                                 "kind": "risk", "severity": "low"}, headers=HX)
    assert response.status_code == 204
    assert re.fullmatch(r"/lessons/\d+", response.headers["HX-Redirect"])


def test_an_address_htmx_pushed_answers_back_and_forward_with_the_whole_page(client):
    """Back to a filtered list asks for the page to replace the whole body with; a fragment
    would leave the list without its header. Caches keep the two answers apart."""
    fragment = client.get("/lessons/?severity=high", headers=HX)
    restored = client.get("/lessons/?severity=high",
                          headers={**HX, "HX-History-Restore-Request": "true"})
    assert "<html" not in text(fragment) and "<html" in text(restored)
    assert "HX-Request" in fragment.headers["Vary"] and "HX-Request" in restored.headers["Vary"]


def test_the_project_page_opens_the_form_with_its_project(client, project_id):
    page = text(client.get(f"/projects/{project_id}"))
    assert f"/lessons/new?project_id={project_id}" in page
    form = text(client.get(f"/lessons/new?project_id={project_id}"))
    assert f'<option value="{project_id}" selected>Hospital wing</option>' in form


def test_edit_records_a_revision_with_a_readable_diff(client):
    lesson = api_lesson(client)
    form = text(client.get(f"/lessons/{lesson['id']}/edit"))
    assert 'value="Late sign-off"' in form
    response = client.post(f"/lessons/{lesson['id']}/edit", data={
        "title": "Late design sign-off", "what_happened": "Design froze three weeks late.",
        "kind": "went_wrong", "severity": "medium"})
    assert response.status_code == 303
    history = text(client.get(f"/lessons/{lesson['id']}/history"))
    assert "Revision 2" in history and "Revision 1" in history
    assert "<ins>design </ins>" in history or "<ins>design</ins>" in history
    assert "<ins>three weeks </ins>" in history or "<ins>three</ins>" in history


def test_delete_then_restore_from_the_lesson_page(client):
    lesson = api_lesson(client)
    assert client.post(f"/lessons/{lesson['id']}/delete").status_code == 303
    page = text(client.get(f"/lessons/{lesson['id']}"))
    assert "This lesson was deleted" in page and "Restore" in page
    assert "Late sign-off" not in text(client.get("/lessons/"))
    assert "Late sign-off" in text(client.get("/lessons/?state=deleted"))
    client.post(f"/lessons/{lesson['id']}/restore")
    assert "Late sign-off" in text(client.get("/lessons/"))


def test_filters_live_in_the_url_and_htmx_gets_the_results_alone(client):
    api_lesson(client, title="High one", severity="high")
    api_lesson(client, title="Low one", severity="low")
    page = client.get("/lessons/?severity=high")
    assert "High one" in text(page) and "Low one" not in text(page)
    assert 'value="high" selected' in text(page)
    fragment = client.get("/lessons/?severity=low", headers=HX)
    assert "HX-Request" in fragment.headers["Vary"]
    assert "<html" not in text(fragment) and "Low one" in text(fragment)
    bad = client.get("/lessons/?occurred_from=someday")
    assert bad.status_code == 400 and "were not understood" in text(bad)


def test_paging_links_keep_the_filters(client):
    for i in range(30):
        api_lesson(client, title=f"Lesson {i}", kind="risk")
    page = text(client.get("/lessons/?kind=risk&per_page=10"))
    assert "Page 1 of 3" in page
    link = re.search(r'href="(/lessons/\?[^"]*page=2[^"]*)"', page).group(1)
    assert "kind=risk" in link and "per_page=10" in link


def test_actions_are_added_closed_and_overdue_ones_stand_out(client):
    lesson = api_lesson(client)
    make_user(client.application, "contributor", "kim@example.org", name="Kim")  # owners sign in
    added = client.post("/actions/", data={"lesson_id": lesson["id"],
                                           "description": "Add exit clause",
                                           "owner": "Kim", "due_on": "2020-05-01"}, headers=HX)
    assert added.status_code == 200
    assert "Add exit clause" in text(added) and "Overdue" in text(added)
    assert "Add exit clause" in text(client.get("/"))
    assert "Add exit clause" in text(client.get("/actions/?overdue=true"))
    action_id = client.get("/api/v1/actions").get_json()["items"][0]["id"]
    done = client.post(f"/actions/{action_id}/status", data={"status": "done"}, headers=HX)
    assert "Overdue" not in text(done)
    missing = client.post("/actions/", data={"lesson_id": lesson["id"], "description": ""},
                          headers=HX)
    assert missing.status_code == 422 and "This field is required." in text(missing)


def test_project_form_errors_inline(client, project_id):
    response = client.post("/projects/new", data={"name": "hospital WING", "status": "active",
                                                  "phase": "planning", "start_date": "2025-05-01",
                                                  "end_date": "2025-01-01"})
    assert response.status_code == 422
    body = text(response)
    assert "Another project already has this name." in body
    assert "Must not be before the start date." in body


def test_not_found_is_a_page_for_people_and_json_for_programs(client):
    assert "Not found" in text(client.get("/lessons/12345"))
    response = client.get("/lessons/12345", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.get_json()["error"]


def test_pages_carry_no_inline_script_or_style(client, project_id):
    lesson = api_lesson(client, project_id=project_id)
    for url in ["/", "/lessons/", f"/lessons/{lesson['id']}", "/lessons/new",
                f"/projects/{project_id}"]:
        response = client.get(url)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        body = text(response)
        assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", body)), url
        assert not re.search(r"\sstyle=|\son[a-z]+=", body), url


def test_the_same_lesson_asks_first_then_records_from_the_title_and_only_its_recorder_undoes(
        app, client, project_id):
    lesson = api_lesson(client)
    occurrences = f"/api/v1/lessons/{lesson['id']}/occurrences"
    ana, ben = signed_in(app, "contributor"), signed_in(app, "contributor")
    draft = {"title": "Design froze late again", "what_happened": "",
             "project_id": str(project_id), "occurred_on": "2026-03-01"}
    ask = ana.get(f"/lessons/{lesson['id']}/occurrences/new", query_string=draft, headers=HX)
    assert ask.status_code == 200
    assert ("Record another occurrence of “Late sign-off” (Hospital wing, 2026-03-01) with the "
            "note “Design froze late again”?") in text(ask)
    assert client.get(occurrences).get_json()["items"] == []  # asking writes nothing
    bad = ana.get(f"/lessons/{lesson['id']}/occurrences/new", headers=HX,
                  query_string={**draft, "occurred_on": "someday"})
    assert bad.status_code == 422 and "YYYY-MM-DD" in text(bad)

    recorded = ana.post(f"/lessons/{lesson['id']}/occurrences", headers=HX, data={
        "project_id": str(project_id), "occurred_on": "2026-03-01",
        "note": "Design froze late again"})
    assert recorded.status_code == 200 and "Undo" in text(recorded)
    assert [o["note"] for o in client.get(occurrences).get_json()["items"]] == [
        "Design froze late again"]
    undo = re.search(r'hx-post="(/occurrences/\d+/delete)"', text(recorded)).group(1)
    assert ben.post(undo, headers=HX).status_code == 403
    undone = ana.post(undo, headers=HX)
    assert undone.status_code == 200 and "Undone" in text(undone)
    assert client.get(occurrences).get_json()["items"] == []
    assert ana.post(undo, headers=HX).status_code == 404
    audit = text(client.get("/admin/audit"))
    assert "occurrence delete" in audit and undo.split("/")[2] in audit


def test_the_similar_page_reads_from_most_to_least_alike(client):
    lesson = api_lesson(client, title="Supplier kept our data in its own format",
                        what_happened="Leaving the vendor meant paying for an export.")
    for title, body in [("Vendor lock-in on the CRM", "The supplier owned the data model."),
                        ("Crane booked for the wrong week", "The steel came later."),
                        ("Testing squeezed at the end", "UAT shrank to five days.")]:
        api_lesson(client, title=title, what_happened=body)
    page = text(client.get(f"/lessons/{lesson['id']}/similar"))
    alike = [int(n) for n in re.findall(r"(\d+)% alike", page)]
    assert len(alike) == 3 and alike == sorted(alike, reverse=True)
