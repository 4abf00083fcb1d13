"""Administering accounts: edit role, name and business unit, re-enable, reset a password
(on the page and on the command line), disable with a confirmation and never oneself, and
never leave the organisation without an enabled admin. Every change is audited."""

import re

from conftest import TEST_PASSWORD, audit_rows, make_user, signed_in
from test_accounts import csrf_of, sign_in

from lessons.models import User
from web.database import db as app_db


def account(app, user_id) -> User:
    with app.app_context():
        user = app_db.session.get(User, user_id)
        app_db.session.expunge(user)
        return user


def one_time_password(response) -> str:
    page = response.get_data(as_text=True)
    found = re.search(r'<code id="one-time-password">([^<]+)</code>', page)
    assert found, page[:2000]
    return found.group(1)


def test_an_admin_changes_an_accounts_role_name_and_business_unit(app):
    admin = signed_in(app, "admin", "root@example.org")
    ana = make_user(app, "contributor", "ana@example.org", name="Ana")
    listed = admin.get("/admin/users").get_data(as_text=True)
    assert f'href="/admin/users/{ana}"' in listed  # each account opens its own page
    page = admin.get(f"/admin/users/{ana}").get_data(as_text=True)
    assert 'value="Ana"' in page and '<option value="contributor" selected>' in page
    changed = admin.post(f"/admin/users/{ana}", data={
        "role": "pmo", "name": "Ana Lima", "business_unit": "Infrastructure"})
    assert changed.status_code == 303
    user = account(app, ana)
    assert (user.role, user.name, user.business_unit) == ("pmo", "Ana Lima", "Infrastructure")
    [row] = audit_rows(app, "user_update")
    assert (row.actor, row.target) == ("root@example.org", "ana@example.org")
    assert row.detail == {"role": ["contributor", "pmo"], "name": ["Ana", "Ana Lima"],
                          "business_unit": [None, "Infrastructure"]}
    bad = admin.post(f"/admin/users/{ana}", data={"role": "owner", "name": "", "business_unit": ""})
    assert bad.status_code == 422 and "Must be one of" in bad.get_data(as_text=True)
    assert account(app, ana).role == "pmo" and len(audit_rows(app, "user_update")) == 1
    # Saving without a change writes no audit row.
    admin.post(f"/admin/users/{ana}", data={"role": "pmo", "name": "Ana Lima",
                                            "business_unit": "Infrastructure"})
    assert len(audit_rows(app, "user_update")) == 1


def test_a_name_or_business_unit_that_cannot_be_stored_is_refused_never_cut(app, runner):
    admin = signed_in(app, "admin", "root@example.org")
    ana = make_user(app, "contributor", "ana@example.org", name="Ana")
    for name, business_unit, message in [
            ("Ana\x00Lima", "", "Contains a NUL character"),
            ("A" * 201, "", "At most 200 characters (this has 201)."),
            ("Ana", "Rail\x00", "Contains a NUL character"),
            ("Ana", "R" * 201, "At most 200 characters (this has 201).")]:
        refused = admin.post(f"/admin/users/{ana}", data={
            "role": "contributor", "name": name, "business_unit": business_unit})
        assert refused.status_code == 422 and message in refused.get_data(as_text=True)
    created = admin.post("/admin/users", data={"email": "bo@example.org", "role": "pmo",
                                               "name": "B" * 201, "business_unit": ""})
    assert created.status_code == 422 and "At most 200" in created.get_data(as_text=True)

    nul = runner.invoke(args=["users", "update", "ana@example.org", "--name", "Ana\x00"])
    assert nul.output == "Error: Name: Contains a NUL character, which cannot be stored.\n"
    long = runner.invoke(args=["users", "update", "ana@example.org", "--name", "y" * 201])
    assert long.output == "Error: Name: At most 200 characters (this has 201).\n"
    assert nul.exit_code == long.exit_code == 1
    assert account(app, ana).name == "Ana" and audit_rows(app, "user_update") == []
    assert "bo@example.org" not in runner.invoke(args=["users", "list"]).output


def test_disabling_asks_first_is_never_offered_on_ones_own_account_and_can_be_undone(app):
    admin = signed_in(app, "admin", "root@example.org")
    ana = make_user(app, "contributor", "ana@example.org")
    listed = admin.get("/admin/users").get_data(as_text=True)
    assert f"/admin/users/{admin.user_id}/disable" not in listed
    assert f'href="/admin/users/{ana}/disable"' in listed  # a link to a question, not a POST
    asked = admin.get(f"/admin/users/{ana}/disable").get_data(as_text=True)
    assert "Disable ana@example.org?" in asked and "sessions and API tokens end" in asked
    assert account(app, ana).disabled_at is None  # asking changed nothing
    own = admin.post(f"/admin/users/{admin.user_id}/disable")
    assert own.status_code == 409 and "your own account" in own.get_data(as_text=True)
    assert admin.get(f"/admin/users/{admin.user_id}/disable").status_code == 409
    assert account(app, admin.user_id).disabled_at is None

    assert admin.post(f"/admin/users/{ana}/disable").status_code == 303
    assert sign_in(app.test_client(), "ana@example.org").status_code == 401
    page = admin.get(f"/admin/users/{ana}").get_data(as_text=True)
    assert f'action="/admin/users/{ana}/enable"' in page
    assert admin.post(f"/admin/users/{ana}/enable").status_code == 303
    assert sign_in(app.test_client(), "ana@example.org").status_code == 303
    assert [(r.actor, r.target) for r in audit_rows(app, "user_enable")] == [
        ("root@example.org", "ana@example.org")]
    assert len(audit_rows(app, "user_disable")) == 1


def test_a_password_reset_shows_a_one_time_password_once_and_forces_a_new_one(app):
    admin = signed_in(app, "admin", "root@example.org")
    ana_id = make_user(app, "contributor", "ana@example.org")
    laptop = app.test_client()
    assert sign_in(laptop, "ana@example.org").status_code == 303
    reset = admin.post(f"/admin/users/{ana_id}/reset-password")
    assert reset.status_code == 200
    password = one_time_password(reset)
    assert laptop.get("/lessons/").status_code == 303  # her sessions ended
    assert sign_in(app.test_client(), "ana@example.org").status_code == 401  # old password
    browser = app.test_client()
    assert sign_in(browser, "ana@example.org", password).status_code == 303
    assert browser.get("/lessons/").headers["Location"] == "/account/password"
    assert password not in admin.get(f"/admin/users/{ana_id}").get_data(as_text=True)
    assert [(r.actor, r.target) for r in audit_rows(app, "password_reset")] == [
        ("root@example.org", "ana@example.org")]
    assert password not in str(audit_rows(app, "password_reset")[0].detail)
    # One's own password is changed on one's account page, knowing the current one.
    own = admin.post(f"/admin/users/{admin.user_id}/reset-password")
    assert own.status_code == 409 and "/account/password" in own.get_data(as_text=True)


def test_the_last_enabled_admin_is_never_demoted_or_disabled(app, runner):
    root = signed_in(app, "admin", "root@example.org")
    other = make_user(app, "admin", "other@example.org")
    assert root.post(f"/admin/users/{other}/disable").status_code == 303
    # Now root is the only enabled admin: demoting itself would lock every admin page.
    refused = root.post(f"/admin/users/{root.user_id}", data={"role": "pmo", "name": "",
                                                              "business_unit": ""})
    assert refused.status_code == 409 and "last enabled admin" in refused.get_data(as_text=True)
    assert account(app, root.user_id).role == "admin"
    cli = runner.invoke(args=["users", "update", "root@example.org", "--role", "contributor"])
    assert cli.exit_code != 0 and "last enabled admin" in cli.output
    # A disabled admin's role may change; with another admin enabled, so may root's.
    assert root.post(f"/admin/users/{other}", data={"role": "pmo", "name": "",
                                                    "business_unit": ""}).status_code == 303
    make_user(app, "admin", "third@example.org")
    assert root.post(f"/admin/users/{root.user_id}", data={
        "role": "pmo", "name": "", "business_unit": ""}).status_code == 303
    assert root.get("/admin/users").status_code == 403  # takes effect at once


def test_a_lost_one_time_password_is_reset_on_the_command_line(app, runner):
    make_user(app, "admin", "admin@localhost")
    result = runner.invoke(args=["users", "reset-password", "ADMIN@localhost"])
    assert result.exit_code == 0, result.output
    password = result.output.strip().splitlines()[-1]
    assert "admin@localhost" in result.output and password != TEST_PASSWORD
    browser = app.test_client()
    assert sign_in(browser, "admin@localhost", TEST_PASSWORD).status_code == 401
    assert sign_in(browser, "admin@localhost", password).status_code == 303
    assert browser.get("/admin/users").headers["Location"] == "/account/password"
    changed = browser.post("/account/password", data={
        "current_password": password, "new_password": "my own admin secret",
        "repeat_password": "my own admin secret",
        "csrf_token": csrf_of(browser, "/account/password")})
    assert changed.status_code == 303 and browser.get("/admin/users").status_code == 200
    assert [(r.actor, r.target) for r in audit_rows(app, "password_reset")] == [
        ("cli", "admin@localhost")]
    assert "No user" in runner.invoke(args=["users", "reset-password", "x@example.org"]).output


def test_accounts_are_enabled_and_updated_on_the_command_line(app, runner):
    make_user(app, "admin", "root@example.org")
    make_user(app, "contributor", "ana@example.org")
    assert runner.invoke(args=["users", "disable", "ana@example.org"]).exit_code == 0
    enabled = runner.invoke(args=["users", "enable", "ana@example.org"])
    assert enabled.exit_code == 0 and "Enabled ana@example.org" in enabled.output
    updated = runner.invoke(args=["users", "update", "ana@example.org", "--role", "pmo",
                                  "--business-unit", "Rail"])
    assert updated.exit_code == 0, updated.output
    listed = runner.invoke(args=["users", "list"]).output
    assert "ana@example.org\tpmo\tenabled\tRail" in listed
    assert [r.actor for r in audit_rows(app, "user_enable") + audit_rows(app, "user_update")] \
        == ["cli", "cli"]
    assert sign_in(app.test_client(), "ana@example.org", TEST_PASSWORD).status_code == 303
