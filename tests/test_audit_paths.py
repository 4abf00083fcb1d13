"""Every audited change writes exactly one audit row, in its own transaction, whatever path
makes it: an HTML form, the JSON API with a token, the CLI, an import. A change rolled back
leaves no row, and no change is left without one."""

import io
import re
import time

from conftest import SET_UP, TEST_PASSWORD, audit_rows, forget_set_up, make_user, signed_in
from sqlalchemy import func, select

from lessons import services
from lessons.actor import Actor
from lessons.models import AuditEvent, Lesson, User
from lessons.services import users
from lessons.services.users import create_token
from web.database import db as app_db

LESSON = {"title": "Vendor shipped late", "what_happened": "The module came six weeks late."}


def email_of(app, user_id: int) -> str:
    with app.app_context():
        return app_db.session.get(User, user_id).email


def all_rows(app) -> list[tuple[str, str, str | None]]:
    """(action, actor, target) of every audit row, oldest first, sign-ins left out."""
    with app.app_context():
        return [(e.action, e.actor, e.target) for e in app_db.session.scalars(
            select(AuditEvent).order_by(AuditEvent.id)) if not e.action.startswith("sign_")]


def bearer(app, email: str) -> dict[str, str]:
    """The Authorization header of a new write token of a new admin with this email."""
    user_id = make_user(app, "admin", email)
    with app.app_context():
        _, secret = create_token(app_db.session, app_db.session.get(User, user_id), "write",
                                 actor=SET_UP)
        forget_set_up(app_db.session)
        app_db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def new_lesson(client) -> int:
    made = client.post("/api/v1/lessons", json={**LESSON, "status": "approved"})
    assert made.status_code == 201, made.get_json()
    return made.get_json()["id"]


def test_an_html_form_with_its_csrf_token_writes_one_row(app):
    pmo = signed_in(app, "pmo")
    lesson_id = new_lesson(pmo)
    form = pmo.get(f"/lessons/{lesson_id}/edit").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    data = {**LESSON, "title": "Vendor shipped very late", "kind": "went_wrong",
            "severity": "high", "visibility": "organisation"}
    if token:  # a real form posts its token in the body; the client's header carries it too
        data["csrf_token"] = token.group(1)
    assert pmo.post(f"/lessons/{lesson_id}/edit", data=data).status_code == 303
    [row] = audit_rows(app, "lesson_edit")
    assert (row.actor, row.target, row.ip) == (email_of(app, pmo.user_id), f"lesson {lesson_id}",
                                               "127.0.0.1")
    assert pmo.post(f"/lessons/{lesson_id}/delete").status_code == 303
    assert [(r.actor, r.target) for r in audit_rows(app, "lesson_delete")] == [
        (email_of(app, pmo.user_id), f"lesson {lesson_id}")]


def test_a_form_without_its_csrf_token_changes_nothing_and_logs_nothing(app):
    pmo = signed_in(app, "pmo")
    lesson_id = new_lesson(pmo)
    forged = app.test_client()
    with pmo.session_transaction() as cookie:
        stolen = {"sid": cookie["sid"]}
    with forged.session_transaction() as cookie:
        cookie.update(stolen)
    assert forged.post(f"/lessons/{lesson_id}/delete").status_code in (400, 403)
    assert audit_rows(app, "lesson_delete") == []


def test_the_json_api_with_a_token_writes_one_row_per_change(app):
    headers = bearer(app, "robot@example.org")
    api = app.test_client()
    project = api.post("/api/v1/projects", json={"name": "Harbour"}, headers=headers).get_json()
    lesson = api.post("/api/v1/lessons", headers=headers,
                      json={**LESSON, "project_id": project["id"]}).get_json()
    action = api.post("/api/v1/actions", headers=headers,
                      json={"lesson_id": lesson["id"], "description": "Add a penalty"}).get_json()
    before = len(all_rows(app))
    for kind, row in (("project", project), ("lesson", lesson), ("action", action)):
        base = f"/api/v1/{kind}s/{row['id']}"
        change = {"project": {"sponsor": "Port"}, "lesson": {"title": "Late vendor"},
                  "action": {"description": "Add a late-delivery penalty"}}[kind]
        assert api.patch(base, json=change, headers=headers).status_code == 200
        assert api.delete(base, headers=headers).status_code == 200
        assert api.post(f"{base}/restore", headers=headers).status_code == 200
    expected = [(f"{kind}_{what}", "robot@example.org", f"{kind} {row['id']}")
                for kind, row in (("project", project), ("lesson", lesson), ("action", action))
                for what in ("edit", "delete", "restore")]
    assert all_rows(app)[before:] == expected


def test_the_cli_audits_as_its_operator(app, runner, tmp_path):
    output = tmp_path / "lessons.csv"
    result = runner.invoke(args=["export", "--format", "csv", "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert [(r.actor, r.target) for r in audit_rows(app, "export")] == [("cli", str(output))]
    made = runner.invoke(args=["users", "create", "kim@example.org", "--role", "contributor",
                               "--password", TEST_PASSWORD])
    assert made.exit_code == 0, made.output
    assert [(r.actor, r.target) for r in audit_rows(app, "user_create")] == [
        ("cli", "kim@example.org")]


def test_an_import_from_the_cli_is_one_row_committed_with_its_lessons(app, runner, tmp_path):
    path = tmp_path / "incidents.csv"
    path.write_text("Title,Description\nCrane licence lapsed,Nobody tracked the expiry.\n"
                    "Permit came late,The council took eight weeks.\n", encoding="utf-8")
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 0, result.output
    assert [(r.actor, r.target) for r in audit_rows(app, "import")] == [("cli", str(path))]
    with app.app_context():
        assert app_db.session.scalar(select(func.count()).select_from(Lesson)) == 2


def test_a_web_export_is_audited_when_read_and_not_when_htmx_hands_it_over(app):
    pmo = signed_in(app, "pmo")
    new_lesson(pmo)
    assert pmo.get("/lessons/export.csv", headers={"HX-Request": "true"}).status_code == 204
    assert audit_rows(app, "export") == []
    download = pmo.get("/lessons/export.csv")
    assert download.status_code == 200 and "Vendor shipped late" in download.get_data(
        as_text=True)
    assert [(r.actor, r.target) for r in audit_rows(app, "export")] == [
        (email_of(app, pmo.user_id), "/lessons/export.csv?")]


def test_a_change_refused_by_validation_leaves_no_row_by_any_path(app):
    pmo = signed_in(app, "pmo")
    lesson_id = new_lesson(pmo)
    assert pmo.post(f"/lessons/{lesson_id}/edit", data={**LESSON, "title": ""}).status_code == 422
    assert pmo.patch(f"/api/v1/lessons/{lesson_id}", json={"title": ""}).status_code == 422
    assert pmo.post(f"/projects/{999_999}/delete").status_code == 404
    assert audit_rows(app, "lesson_edit") == [] and audit_rows(app, "project_delete") == []


def test_a_change_rolled_back_after_the_service_call_takes_its_row_with_it(app):
    pmo = signed_in(app, "pmo")
    lesson_id = new_lesson(pmo)
    with app.app_context():
        session = app_db.session
        services.delete_lesson(session, lesson_id, actor=Actor("ana@example.org", None, "::1"))
        session.flush()
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "lesson_delete")) == 1  # written beside the change...
        session.rollback()  # ...and a failure after the call undoes both
    assert audit_rows(app, "lesson_delete") == []
    assert pmo.get(f"/api/v1/lessons/{lesson_id}").get_json()["deleted_at"] is None


def test_a_failure_after_the_change_in_a_request_rolls_its_row_back(app):
    """An action moved onto a lesson the mover may not change: the service has written the
    change and its row when the view refuses it, and the error handler rolls both back."""
    owner = signed_in(app, "contributor")
    other = signed_in(app, "contributor")
    mine = new_lesson_by(owner)
    theirs = new_lesson_by(other)
    action = owner.post("/api/v1/actions", json={"lesson_id": mine,
                                                  "description": "Chase the vendor"}).get_json()
    moved = owner.patch(f"/api/v1/actions/{action['id']}", json={"lesson_id": theirs})
    assert moved.status_code == 403
    assert audit_rows(app, "action_edit") == []
    assert owner.get(f"/api/v1/actions/{action['id']}").get_json()["lesson_id"] == mine


def new_lesson_by(client) -> int:
    made = client.post("/api/v1/lessons", json=LESSON)
    assert made.status_code == 201, made.get_json()
    return made.get_json()["id"]


def test_each_path_leaves_its_change_with_exactly_one_row(app):
    """The same kind of change by the form and by the API: two changes, two rows, never a
    second row for one request nor a change without its row."""
    pmo = signed_in(app, "pmo")
    project = pmo.post("/api/v1/projects", json={"name": "Ring road"}).get_json()["id"]
    member = make_user(app, "contributor", "cy@example.org")
    assert pmo.post(f"/projects/{project}/team", data={"email": "cy@example.org"}
                    ).status_code == 303
    assert pmo.post(f"/projects/{project}/team/{member}/remove").status_code == 303
    # A refused addition changes nothing, so logs nothing.
    assert pmo.post(f"/projects/{project}/team", data={"email": "nobody@example.org"}
                    ).status_code == 303
    assert [(r.actor, r.target) for r in audit_rows(app, "team_change")] == [
        (email_of(app, pmo.user_id), f"team {project}")] * 2
    lesson_id = new_lesson(pmo)
    action = pmo.post("/api/v1/actions", json={"lesson_id": lesson_id,
                                                "description": "Book the crane"}).get_json()["id"]
    assert pmo.post(f"/actions/{action}/status", data={"status": "done"}).status_code == 303
    assert pmo.patch(f"/api/v1/actions/{action}", json={"status": "open"}).status_code == 200
    assert [r.target for r in audit_rows(app, "action_status")] == [f"action {action}"]
    assert [r.target for r in audit_rows(app, "action_edit")] == [f"action {action}"]
    recorded = pmo.post(f"/api/v1/lessons/{lesson_id}/occurrences", json={"note": "Again"})
    occurrence = recorded.get_json()["id"]
    assert pmo.post(f"/occurrences/{occurrence}/delete").status_code == 303
    assert [r.target for r in audit_rows(app, "occurrence_delete")] == [
        f"occurrence {occurrence}"]


def test_an_account_change_by_the_admin_form_writes_one_row_as_the_admin(app):
    admin = signed_in(app, "admin", "root@example.org")
    ana = make_user(app, "contributor", "ana@example.org")
    changed = admin.post(f"/admin/users/{ana}", data={"role": "pmo", "name": "",
                                                      "business_unit": ""})
    assert changed.status_code == 303
    [row] = audit_rows(app, "user_update")
    assert (row.actor, row.target, row.ip, row.detail) == (
        "root@example.org", "ana@example.org", "127.0.0.1", {"role": ["contributor", "pmo"]})
    # The account page's tokens: one row each, as their owner, from their address.
    made = admin.post("/account/tokens", data={"scope": "read", "name": "laptop"})
    assert made.status_code == 201
    [created] = audit_rows(app, "token_create")
    token_id = int(created.target.removeprefix("token "))
    assert (created.actor, created.ip, created.detail) == (
        "root@example.org", "127.0.0.1", {"scope": "read"})
    assert admin.post(f"/account/tokens/{token_id}/revoke").status_code == 303
    assert [(r.actor, r.target) for r in audit_rows(app, "token_revoke")] == [
        ("root@example.org", f"token {token_id}")]


def test_an_account_change_by_the_cli_writes_one_row_as_its_operator(app, runner):
    make_user(app, "contributor", "kim@example.org")
    changed = runner.invoke(args=["users", "update", "kim@example.org", "--role", "pmo"])
    assert changed.exit_code == 0, changed.output
    [row] = audit_rows(app, "user_update")
    assert (row.actor, row.target, row.ip, row.detail) == (
        "cli", "kim@example.org", None, {"role": ["contributor", "pmo"]})
    made = runner.invoke(args=["tokens", "create", "kim@example.org", "--scope", "write"])
    assert made.exit_code == 0, made.output
    token_id = int(re.match(r"Token (\d+)", made.output)[1])
    assert runner.invoke(args=["tokens", "revoke", str(token_id)]).exit_code == 0
    assert [(r.action, r.actor, r.target) for r in audit_rows(app, "token_create")
            + audit_rows(app, "token_revoke")] == [
        ("token_create", "cli", f"token {token_id}"), ("token_revoke", "cli", f"token {token_id}")]
    # A refusal changes nothing, so logs nothing.
    assert runner.invoke(args=["tokens", "revoke", "999999"]).exit_code != 0
    assert len(audit_rows(app, "token_revoke")) == 1


def test_an_import_from_the_web_is_one_row_as_its_starter(app, queue_worker):
    pmo = signed_in(app, "pmo")
    upload = pmo.post("/import", content_type="multipart/form-data", data={"file": (
        io.BytesIO(b"Title,Description\nCrane licence lapsed,Nobody tracked the expiry.\n"),
        "incidents.csv")})
    assert upload.status_code == 303
    run_url = upload.headers["Location"]
    run_id = int(re.search(r"(\d+)$", run_url)[1])
    assert audit_rows(app, "import") == []  # a preview changes nothing
    assert pmo.post(f"{run_url}/start").status_code == 303
    deadline = time.monotonic() + 120
    while "run-running" in pmo.get(f"{run_url}/progress").get_data(as_text=True):
        assert time.monotonic() < deadline, "the import did not finish"
        time.sleep(0.2)
    assert [(r.actor, r.target) for r in audit_rows(app, "import")] == [
        (email_of(app, pmo.user_id), f"import {run_id}")]
    with app.app_context():
        assert app_db.session.scalar(select(func.count()).select_from(Lesson)) == 1


def test_ones_own_password_change_and_each_wrong_guess_write_one_row(app):
    """A wrong current password is refused and still logged, since the log is what limits
    the guesses; the limit reached, a guess is neither evaluated nor logged."""
    ana = signed_in(app, "contributor", "ana@example.org")
    new = "a much longer password"
    changed = ana.post("/account/password", data={
        "current_password": TEST_PASSWORD, "new_password": new, "repeat_password": new})
    assert changed.status_code == 303
    assert [(r.actor, r.target, r.ip) for r in audit_rows(app, "password_change")] == [
        ("ana@example.org", None, "127.0.0.1")]
    wrong = {"current_password": "not it at all", "new_password": "another long password",
             "repeat_password": "another long password"}
    for _ in range(users.MAX_FAILURES):
        assert ana.post("/account/password", data=wrong).status_code == 422
    assert [(r.actor, r.ip) for r in audit_rows(app, "password_change_failed")] == [
        ("ana@example.org", "127.0.0.1")] * users.MAX_FAILURES
    assert ana.post("/account/password", data=wrong).status_code == 429
    assert len(audit_rows(app, "password_change_failed")) == users.MAX_FAILURES
    assert len(audit_rows(app, "password_change")) == 1
