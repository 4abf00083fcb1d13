"""Accounts, roles, sessions, API tokens, CSRF and the audit log."""

import re

import pytest
from conftest import TEST_PASSWORD, api_token, make_user, signed_in
from sqlalchemy import select

from lessons.models import AuditEvent, User
from web.auth import PUBLIC
from web.cli.serve import announce_first_admin
from web.database import db as app_db
from web.security import SIGNED_ELSEWHERE

LESSON = {"title": "Vendor shipped late", "what_happened": "The module came six weeks late."}


def csrf_of(client, path="/sign-in") -> str:
    """The CSRF token a page hands out (as a browser reads it from the form)."""
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, email, password=TEST_PASSWORD):
    return client.post("/sign-in", data={"email": email, "password": password,
                                         "csrf_token": csrf_of(client)})


def audit_actions(app) -> list[tuple[str, str]]:
    with app.app_context():
        return [(e.action, e.actor) for e in
                app_db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


# Signing in and out

def test_sign_in_then_out_ends_the_session_on_the_server(app):
    make_user(app, "contributor", "ana@example.org")
    browser = app.test_client()
    assert browser.get("/lessons/").status_code == 303  # to the sign-in page
    wrong = sign_in(browser, "ana@example.org", "not the password")
    assert wrong.status_code == 401 and "Wrong email or password" in wrong.get_data(as_text=True)
    right = sign_in(browser, "ANA@example.org ")
    assert right.status_code == 303
    assert browser.get("/lessons/").status_code == 200
    with browser.session_transaction() as cookie:
        stolen = dict(cookie)  # what someone copying the cookie would replay
    browser.post("/sign-out", headers={"X-CSRF-Token": stolen["csrf"]})
    replay = app.test_client()
    with replay.session_transaction() as cookie:
        cookie.update(stolen)
    assert replay.get("/lessons/").status_code == 303  # the session is gone on the server
    assert audit_actions(app) == [("sign_in_failed", "ana@example.org"),
                                  ("sign_in", "ana@example.org"), ("sign_out", "ana@example.org")]


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(app):
    make_user(app, "contributor", "ana@example.org")
    browser = app.test_client()
    asked = browser.get("/projects/?sort=name")
    assert "next=/projects/?sort%3Dname" in asked.headers["Location"]
    back = browser.post("/sign-in", data={"email": "ana@example.org", "password": TEST_PASSWORD,
                                          "next": "/projects/?sort=name",
                                          "csrf_token": csrf_of(browser)})
    assert back.headers["Location"] == "/projects/?sort=name"
    away = app.test_client()
    gone = away.post("/sign-in", data={"email": "ana@example.org", "password": TEST_PASSWORD,
                                       "next": "//evil.example/x", "csrf_token": csrf_of(away)})
    assert gone.headers["Location"] == "/"


def test_a_password_change_signs_out_every_other_session(app):
    make_user(app, "contributor", "ana@example.org")
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, "ana@example.org")
    sign_in(phone, "ana@example.org")
    token = csrf_of(laptop, "/account/password")
    changed = laptop.post("/account/password", data={
        "current_password": TEST_PASSWORD, "new_password": "a much longer secret",
        "repeat_password": "a much longer secret", "csrf_token": token})
    assert changed.status_code == 303
    assert laptop.get("/lessons/").status_code == 200
    assert phone.get("/lessons/").status_code == 303
    assert sign_in(app.test_client(), "ana@example.org").status_code == 401
    assert sign_in(app.test_client(), "ana@example.org", "a much longer secret").status_code == 303


def test_failed_sign_ins_are_limited_per_account(app):
    make_user(app, "contributor", "ana@example.org")
    browser = app.test_client()
    for _ in range(5):
        assert sign_in(browser, "ana@example.org", "guess").status_code == 401
    blocked = sign_in(browser, "ana@example.org")  # the right password, too late
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.get_data(as_text=True)
    assert sign_in(app.test_client(), make_email(app)).status_code == 303  # others go on


def make_email(app) -> str:
    make_user(app, "contributor", "ben@example.org")
    return "ben@example.org"


def test_the_first_start_makes_an_admin_with_a_one_time_password(app, capsys):
    with app.test_request_context():
        announce_first_admin("127.0.0.1", 5000)
        announce_first_admin("127.0.0.1", 5000)  # once only
    printed = capsys.readouterr().out
    assert printed.count("First start") == 1
    password = re.search(r"one-time password (\S+)", printed).group(1)
    browser = app.test_client()
    assert sign_in(browser, "admin@localhost", password).status_code == 303
    # Every page leads to choosing a password of one's own first.
    assert browser.get("/lessons/").headers["Location"] == "/account/password"
    browser.post("/account/password", data={
        "current_password": password, "new_password": "my own admin secret",
        "repeat_password": "my own admin secret",
        "csrf_token": csrf_of(browser, "/account/password")})
    assert browser.get("/admin/users").status_code == 200


def test_a_disabled_account_cannot_sign_in_or_use_its_tokens(app, runner):
    make_user(app, "contributor", "ana@example.org")
    made = runner.invoke(args=["tokens", "create", "ana@example.org", "--scope", "read"])
    token = made.output.strip().splitlines()[-1]
    assert token.startswith("lsn_")
    bearer = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/lessons", headers=bearer).status_code == 200
    assert runner.invoke(args=["users", "disable", "ana@example.org"]).exit_code == 0
    assert app.test_client().get("/api/v1/lessons", headers=bearer).status_code == 401
    assert sign_in(app.test_client(), "ana@example.org").status_code == 401
    listed = runner.invoke(args=["users", "list"]).output
    assert "ana@example.org\tcontributor\tdisabled" in listed


def test_users_are_created_on_the_command_line_with_a_prompted_password(app, runner):
    made = runner.invoke(args=["users", "create", "Pat@Example.org", "--role", "pmo"],
                         input="long enough secret\nlong enough secret\n")
    assert made.exit_code == 0, made.output
    assert sign_in(app.test_client(), "pat@example.org", "long enough secret").status_code == 303
    short = runner.invoke(args=["users", "create", "x@example.org", "--role", "pmo",
                                "--password", "short"])
    assert short.exit_code != 0 and "At least 10 characters" in short.output
    again = runner.invoke(args=["users", "create", "pat@example.org", "--role", "admin",
                                "--password", "long enough secret"])
    assert "exists already" in again.output


def test_the_last_admin_cannot_be_disabled(app, runner):
    make_user(app, "admin", "root@example.org")
    result = runner.invoke(args=["users", "disable", "root@example.org"])
    assert result.exit_code != 0 and "last enabled admin" in result.output


# API tokens and CSRF

def test_tokens_read_or_write_and_need_no_csrf(app):
    reader = {"Authorization": f"Bearer {api_token(app, 'contributor', 'read')}"}
    writer = {"Authorization": f"Bearer {api_token(app, 'contributor', 'write')}"}
    api = app.test_client()
    assert api.get("/api/v1/lessons", headers=reader).status_code == 200
    refused = api.post("/api/v1/lessons", json=LESSON, headers=reader)
    assert refused.status_code == 403 and "only read" in refused.get_json()["error"]
    assert api.post("/api/v1/lessons", json=LESSON, headers=writer).status_code == 201
    wrong = api.get("/api/v1/lessons", headers={"Authorization": "Bearer lsn_forged"})
    assert wrong.status_code == 401
    nobody = api.get("/api/v1/lessons")
    assert nobody.status_code == 401 and nobody.headers["WWW-Authenticate"].startswith("Bearer")


def test_tokens_are_made_and_revoked_on_the_account_page(app):
    browser = signed_in(app, "contributor")
    made = browser.post("/account/tokens", data={"name": "CI", "scope": "write"})
    assert made.status_code == 201
    secret = re.search(r'<code id="new-token">([^<]+)</code>', made.get_data(as_text=True)).group(1)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert app.test_client().post("/api/v1/lessons", json=LESSON, headers=bearer).status_code == 201
    token_id = re.search(r"/account/tokens/(\d+)/revoke", made.get_data(as_text=True)).group(1)
    browser.post(f"/account/tokens/{token_id}/revoke")
    assert app.test_client().get("/api/v1/lessons", headers=bearer).status_code == 401
    assert secret not in browser.get("/account").get_data(as_text=True)  # shown once only


def state_changing_routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            yield method, re.sub(r"<[^>]+>", "1", rule.rule), rule.endpoint


def test_every_state_changing_route_refuses_a_request_without_the_csrf_token(app):
    browser = signed_in(app, "admin")
    del browser.environ_base["HTTP_X_CSRF_TOKEN"]
    # Posted by mail clients and Slack, each proven by its own signature instead.
    routes = [route for route in state_changing_routes(app) if route[2] not in SIGNED_ELSEWHERE]
    assert len(routes) > 30
    for method, path, endpoint in routes:
        response = browser.open(path, method=method, data={"title": "x"})
        assert response.status_code == 400, (method, path, response.status_code)
        assert b"security token" in response.data, endpoint


def test_the_session_cookie_is_httponly_lax_and_secure_over_https(app):
    make_user(app, "contributor", "ana@example.org")
    plain = app.test_client()
    cookie = sign_in(plain, "ana@example.org").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    https = app.test_client()
    token = csrf_of(https)
    secure = https.post("/sign-in", base_url="https://localhost", data={
        "email": "ana@example.org", "password": TEST_PASSWORD, "csrf_token": token})
    assert "Secure" in secure.headers["Set-Cookie"]


# Roles

# Written out, not derived from the code: what each role may reach.
PMO_ONLY = {"pmo.dashboard", "pmo.report", "pmo.report_csv", "pmo.report_markdown",
            "pmo.report_pdf", "api.report",
            "themes.recompute", "api.recompute_themes", "themes.rename", "api.rename_theme",
            "imports.new", "imports.upload",
            "imports.show", "imports.change_mapping", "imports.start", "imports.progress",
            "projects.delete", "projects.restore", "api.delete_project", "api.restore_project",
            # or the project's team, which these test accounts are not on
            "projects.add_to_team", "projects.remove_from_team", "projects.edit",
            "api.update_project", "reviews.approve", "reviews.send_back", "api.approve_lesson",
            "api.send_back_lesson"}
ADMIN_ONLY = {"admin.users", "admin.create", "admin.disable", "admin.audit_log",
              "admin.edit_user", "admin.save_user", "admin.confirm_disable", "admin.enable",
              "admin.new_password", "exports.archive",
              *(f"integrations.{name}" for name in (
                  "index", "add_hook", "delete_hook", "add_webhook", "reset_webhook",
                  "delete_webhook", "link_slack_user", "unlink_slack_user", "retry_delivery"))}


def every_route(app):
    """Every route and method but signing in and out (tested on their own above)."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "account.sign_in", "account.sign_out"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, re.sub(r"<[^>]+>", "1", rule.rule), rule.endpoint


@pytest.mark.parametrize("role", ["anonymous", "contributor", "pmo", "admin"])
def test_every_route_lets_in_exactly_the_roles_it_should(app, role):
    browser = app.test_client() if role == "anonymous" else signed_in(app, role)
    rank = {"anonymous": 0, "contributor": 1, "pmo": 2, "admin": 3}[role]
    checked = 0
    for method, path, endpoint in every_route(app):
        needed = 3 if endpoint in ADMIN_ONLY else 2 if endpoint in PMO_ONLY else \
            0 if endpoint in PUBLIC else 1
        response = browser.open(path, method=method, json={} if path.startswith("/api/") else None)
        if rank == 0 and needed > 0:
            expected = {401} if path.startswith("/api/") else {303}
            assert response.status_code in expected, (method, path, response.status_code)
        elif rank < needed:
            assert response.status_code == 403, (method, path, response.status_code)
        else:
            assert response.status_code not in (401, 403), (method, path, response.status_code)
        checked += 1
    assert checked > 70


def test_anonymous_reading_is_a_setting_and_never_writes(make_app, backend):
    app = make_app(DATABASE_URL=backend.url, ANONYMOUS_READ=True)
    visitor = app.test_client()
    assert visitor.get("/lessons/").status_code == 200
    assert visitor.get("/api/v1/lessons").status_code == 200
    assert visitor.post("/api/v1/lessons", json=LESSON).status_code == 401
    assert visitor.get("/pmo").status_code == 303  # the PMO's pages still need the PMO
    assert visitor.get("/review").status_code == 303  # nothing waits for a visitor
    for method, path, _ in every_route(app):
        if method == "GET":
            assert visitor.get(path).status_code < 500, path


def test_a_contributor_edits_their_own_lessons_and_the_pmo_every_lesson(app):
    ana, ben = signed_in(app, "contributor"), signed_in(app, "contributor")
    pmo = signed_in(app, "pmo")
    lesson = ana.post("/api/v1/lessons", json=LESSON).get_json()
    url = f"/api/v1/lessons/{lesson['id']}"
    assert ana.patch(url, json={"severity": "high"}).status_code == 200
    assert ben.patch(url, json={"severity": "low"}).status_code == 403
    assert ben.delete(url).status_code == 403
    assert ben.get(f"/lessons/{lesson['id']}/edit").status_code == 403
    assert "Edit</a>" not in ben.get(f"/lessons/{lesson['id']}").get_data(as_text=True)
    assert pmo.patch(url, json={"severity": "critical"}).status_code == 200
    assert pmo.delete(url).status_code == 200


def test_admins_create_accounts_and_read_the_audit_log(app):
    admin = signed_in(app, "admin", "root@example.org")
    made = admin.post("/admin/users", data={"email": "new@example.org", "role": "pmo",
                                            "name": "New", "business_unit": ""})
    assert made.status_code == 201
    password = re.search(r'<code id="one-time-password">([^<]+)</code>',
                         made.get_data(as_text=True)).group(1)
    newcomer = app.test_client()
    assert sign_in(newcomer, "new@example.org", password).status_code == 303
    assert newcomer.get("/pmo").headers["Location"] == "/account/password"

    lesson = admin.post("/api/v1/lessons", json=LESSON).get_json()
    admin.patch(f"/api/v1/lessons/{lesson['id']}", json={"title": "Vendor shipped very late"})
    admin.get("/lessons/export.csv")
    admin.delete(f"/api/v1/lessons/{lesson['id']}")
    log = admin.get("/admin/audit").get_data(as_text=True)
    for words in ("user create", "sign in", "lesson edit", "export", "lesson delete"):
        assert words in log, words
    with app.app_context():
        added = app_db.session.scalar(select(User).where(User.email == "new@example.org"))
        assert added.role == "pmo"
