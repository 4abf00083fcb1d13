"""Who may change an action, decide on a kickoff briefing or regenerate it (issue 18, item 5),
and the audit row each such change leaves.

An action is changed by its lesson's author, its own owner (free text naming the account),
the lesson's project team and the PMO; moving it needs the right on the target lesson too.
A briefing's decisions and regeneration are the project team's and the PMO's. Everyone
else gets 403 on the pages and the API, and nothing changes.
"""

import pytest
from conftest import audit_rows, signed_in
from sqlalchemy import select

from lessons.models import Action, KickoffDecision
from web.database import db as app_db


@pytest.fixture
def world(app):
    """Ana's lesson on her project, with an action owned by Ben; Cat is on the team; Eve is
    just another contributor, with a lesson of her own."""
    ana = signed_in(app, "contributor", "ana@example.org")
    ben = signed_in(app, "contributor", "ben@example.org", name="Ben Okafor")
    cat = signed_in(app, "contributor", "cat@example.org")
    eve = signed_in(app, "contributor", "eve@example.org")
    pmo = signed_in(app, "pmo", "pmo@example.org")
    project = ana.post("/api/v1/projects", json={
        "name": "Depot upgrade", "description": "New cranes for the depot."}).get_json()
    ana.post(f"/projects/{project['id']}/team", data={"email": "cat@example.org"})
    lesson = ana.post("/api/v1/lessons", json={
        "title": "Crane vendor shipped late", "project_id": project["id"],
        "what_happened": "The crane came six weeks late."}).get_json()
    own = eve.post("/api/v1/lessons", json={
        "title": "Eve's own lesson", "what_happened": "Something else entirely."}).get_json()
    for row in (lesson, own):
        assert pmo.post(f"/api/v1/lessons/{row['id']}/approve").status_code == 200
    action = ana.post("/api/v1/actions", json={
        "lesson_id": lesson["id"], "description": "Add a late-delivery clause",
        "owner": "ben okafor"}).get_json()
    return {"ana": ana, "ben": ben, "cat": cat, "eve": eve, "pmo": pmo, "app": app,
            "project": project["id"], "lesson": lesson["id"], "own": own["id"],
            "action": action["id"]}


def action_row(app, action_id: int) -> Action:
    with app.app_context():
        row = app_db.session.get(Action, action_id)
        app_db.session.expunge(row)
        return row


def test_a_stranger_cannot_change_anothers_action_on_the_pages_or_the_api(world):
    eve, app, action = world["eve"], world["app"], world["action"]
    before = action_row(app, action)
    refused = [
        eve.post(f"/actions/{action}/status", data={"status": "done"}),
        eve.get(f"/actions/{action}/edit"),
        eve.post(f"/actions/{action}/edit", data={
            "lesson_id": world["own"], "description": "Mine now", "owner": "", "due_on": "",
            "status": "dropped"}),
        eve.post(f"/actions/{action}/delete"),
        eve.post(f"/actions/{action}/restore"),
        eve.post(f"/actions/{action}/owner", data={"owner": "eve@example.org"}),
    ]
    assert [r.status_code for r in refused] == [403] * 6
    url = f"/api/v1/actions/{action}"
    for answer in (eve.patch(url, json={"status": "dropped"}),
                   eve.patch(url, json={"lesson_id": world["own"]}),
                   eve.delete(url), eve.post(f"{url}/restore")):
        assert answer.status_code == 403 and "error" in answer.get_json()
    after = action_row(app, action)
    assert (after.lesson_id, after.description, after.status, after.deleted_at, after.owner_id,
            after.owner) == (before.lesson_id, before.description, before.status,
                             before.deleted_at, before.owner_id, before.owner)
    assert audit_rows(app, "action_edit") == [] and audit_rows(app, "action_delete") == []
    assert audit_rows(app, "action_reassign") == []


@pytest.mark.parametrize("who", ["ana", "ben", "cat", "pmo"])
def test_the_author_the_owner_the_team_and_the_pmo_may_change_it(world, who):
    client, action = world[who], world["action"]
    assert client.post(f"/actions/{action}/status", data={"status": "done"}).status_code == 303
    assert client.patch(f"/api/v1/actions/{action}",
                        json={"description": f"Changed by {who}"}).status_code == 200
    assert client.post(f"/actions/{action}/delete").status_code == 303
    assert client.post(f"/api/v1/actions/{action}/restore").status_code == 200
    row = action_row(world["app"], action)
    assert row.status == "done" and row.description == f"Changed by {who}" and not row.deleted_at


def test_moving_an_action_needs_the_right_on_the_target_lesson_too(world):
    ben, eve, app, action = world["ben"], world["eve"], world["app"], world["action"]
    # Ben owns the action but has no right on Eve's lesson: nothing moves.
    moved = ben.patch(f"/api/v1/actions/{action}", json={"lesson_id": world["own"]})
    assert moved.status_code == 403 and "error" in moved.get_json()
    form = ben.post(f"/actions/{action}/edit", data={
        "lesson_id": world["own"], "description": "Add a late-delivery clause",
        "owner": "ben okafor", "due_on": "", "status": "open"})
    assert form.status_code == 403
    assert action_row(app, action).lesson_id == world["lesson"]
    # Eve, who may change her lesson but not the action, cannot pull it onto hers either.
    assert eve.patch(f"/api/v1/actions/{action}",
                     json={"lesson_id": world["own"]}).status_code == 403
    # The PMO may move it anywhere.
    assert world["pmo"].patch(f"/api/v1/actions/{action}",
                              json={"lesson_id": world["own"]}).status_code == 200
    assert action_row(app, action).lesson_id == world["own"]


def test_decisions_and_regeneration_are_the_teams_and_the_pmos(world):
    eve, app, project, lesson = world["eve"], world["app"], world["project"], world["lesson"]
    base = f"/projects/{project}/briefing"
    body = {"lesson_id": lesson, "decision": "not_applicable", "note": "Not ours"}
    page = eve.post(f"{base}/decisions", data=body)
    api = eve.post(f"/api/v1{base}/decisions", json=body)
    assert page.status_code == 403 and api.status_code == 403 and "error" in api.get_json()
    assert eve.post(f"{base}/regenerate").status_code == 403
    assert eve.get(f"{base}/regenerate").status_code == 403
    with app.app_context():
        assert app_db.session.scalars(select(KickoffDecision)).all() == []
    assert world["cat"].post(f"/api/v1{base}/decisions", json=body).status_code == 200
    assert world["pmo"].post(f"{base}/decisions", data={**body, "decision": "risk"}
                             ).status_code == 303
    assert world["cat"].post(f"{base}/regenerate").status_code == 303


def test_every_change_to_actions_decisions_and_occurrences_is_audited_once(world):
    ben, cat, app = world["ben"], world["cat"], world["app"]
    action, lesson, project = world["action"], world["lesson"], world["project"]
    assert len(audit_rows(app, "action_create")) == 1  # the fixture's, through the API
    ben.post(f"/actions/{action}/status", data={"status": "done"})
    ben.patch(f"/api/v1/actions/{action}", json={"description": "Clause drafted"})
    ben.post(f"/actions/{action}/edit", data={
        "lesson_id": lesson, "description": "Clause signed", "owner": "ben okafor",
        "due_on": "", "status": "done"})
    cat.post(f"/projects/{project}/briefing/decisions",
             data={"lesson_id": lesson, "decision": "applied", "note": ""})
    cat.post(f"/api/v1/projects/{project}/briefing/decisions",
             json={"lesson_id": lesson, "decision": "risk"})
    recorded = cat.post(f"/api/v1/lessons/{lesson}/occurrences", json={"note": "Again"})
    assert recorded.status_code == 201
    assert ben.post(f"/actions/{action}/delete").status_code == 303
    assert ben.post(f"/api/v1/actions/{action}/restore").status_code == 200

    assert [(e.actor, e.target) for e in audit_rows(app, "action_status")] == [
        ("ben@example.org", f"action {action}")]
    assert [(e.actor, e.target) for e in audit_rows(app, "action_edit")] == [
        ("ben@example.org", f"action {action}")] * 2
    decisions = audit_rows(app, "decision")
    assert [(e.actor, e.target, e.detail["after"]) for e in decisions] == [
        ("cat@example.org", f"project {project}", "applied"),
        ("cat@example.org", f"project {project}", "risk")]
    for kind in ("action_delete", "action_restore"):
        assert [(e.actor, e.target) for e in audit_rows(app, kind)] == [
            ("ben@example.org", f"action {action}")], kind
    occurrences = audit_rows(app, "occurrence_create")
    assert [(e.actor, e.target) for e in occurrences] == [
        ("cat@example.org", f"occurrence {recorded.get_json()['id']}")]


def test_an_action_cannot_move_onto_a_lesson_its_owner_may_not_see(world):
    """Ben owns the action; a lesson only another project's team sees is no place for it,
    whoever moves it, through the API or the edit form."""
    pmo, app, action = world["pmo"], world["app"], world["action"]
    other = pmo.post("/api/v1/projects", json={"name": "Merger"}).get_json()
    secret = pmo.post("/api/v1/lessons", json={
        "title": "Merger data room leaked", "what_happened": "Hush.", "status": "approved",
        "project_id": other["id"], "visibility": "project"}).get_json()
    moved = pmo.patch(f"/api/v1/actions/{action}", json={"lesson_id": secret["id"]})
    assert moved.status_code == 422
    assert "Ben Okafor may not see this lesson" in moved.get_json()["fields"]["owner"]
    form = pmo.post(f"/actions/{action}/edit", data={
        "lesson_id": secret["id"], "description": "Add a late-delivery clause",
        "owner": "ben@example.org", "due_on": "", "status": "open"})
    assert form.status_code == 422 and "may not see this lesson" in form.get_data(as_text=True)
    assert action_row(app, action).lesson_id == world["lesson"]
    # Given with an owner who may see it, the move goes through.
    assert pmo.patch(f"/api/v1/actions/{action}", json={
        "lesson_id": secret["id"], "owner": "pmo@example.org"}).status_code == 200
