"""Action owners are accounts (issue 13, item 7): picked from the active accounts, refused
with a clear 422 when nobody signs in with that email; "My actions"; closing and
reassigning from the Actions page; and the per-owner reminders `lessons actions remind`
prints. Owners typed as free text before keep their text unless a migration matches them.
"""

from datetime import date, timedelta

import pytest
from alembic import command
from conftest import audit_rows, make_user, signed_in
from sqlalchemy import text

from lessons.db import alembic_config, upgrade
from lessons.models import Action, User, utcnow
from web.database import db as app_db

HX = {"HX-Request": "true"}


@pytest.fixture
def team(app):
    """Pat (PMO), Ben and Eve (contributors) and Dan (disabled), and an approved lesson."""
    pat = signed_in(app, "pmo", "pat@example.org", name="Pat Quinn")
    ben = signed_in(app, "contributor", "ben@example.org", name="Ben Okafor")
    eve = signed_in(app, "contributor", "eve@example.org")
    dan = make_user(app, "contributor", "dan@example.org", name="Dan Gone")
    with app.app_context():
        app_db.session.get(User, dan).disabled_at = utcnow()
        app_db.session.commit()
    lesson = pat.post("/api/v1/lessons", json={
        "title": "Crane vendor shipped late", "what_happened": "Six weeks late.",
        "status": "approved"}).get_json()
    return {"pat": pat, "ben": ben, "eve": eve, "app": app, "lesson": lesson["id"]}


def add(client, lesson_id: int, description: str, *, status: int = 201, **fields):
    response = client.post("/api/v1/actions", json={"lesson_id": lesson_id,
                                                    "description": description, **fields})
    assert response.status_code == status, response.get_json()
    return response


def test_the_owner_is_an_account_and_an_unknown_one_is_a_clear_422(team):
    pat, lesson = team["pat"], team["lesson"]
    made = add(pat, lesson, "Late-delivery clause", owner="BEN@example.org")
    body = made.get_json()
    assert (body["owner"], body["owner_name"]) == ("ben@example.org", "Ben Okafor")
    assert body["owner_id"] == team["ben"].user_id
    assert add(pat, lesson, "By name", owner="ben okafor").get_json()["owner_id"] == \
        team["ben"].user_id
    for unknown in ("kim@example.org", "Kim", "dan@example.org"):  # Dan's account is disabled
        refused = add(pat, lesson, "Nobody's", owner=unknown, status=422)
        assert "No active account has the email" in refused.get_json()["fields"]["owner"]
    changed = pat.patch(f"/api/v1/actions/{body['id']}", json={"owner": "nobody@example.org"})
    assert changed.status_code == 422 and "owner" in changed.get_json()["fields"]
    assert pat.get("/api/v1/actions").get_json()["total"] == 2  # nothing else was written
    # The lesson page's form refuses it inline, keeps what was typed, and offers the accounts.
    page = pat.post("/actions/", data={"lesson_id": lesson, "description": "Typed by hand",
                                       "owner": "Kim"}, headers=HX)
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and "No active account has the email “Kim”" in html
    assert 'value="Typed by hand"' in html and '<option value="ben@example.org">' in html
    assert 'value="dan@example.org"' not in html  # disabled accounts are not offered


def test_an_old_free_text_owner_survives_an_edit_that_leaves_it(team, session):
    pat, lesson = team["pat"], team["lesson"]
    action = Action(lesson_id=lesson, description="From before accounts", owner="Kim",
                    status="open")
    session.add(action)
    session.commit()
    edited = pat.post(f"/actions/{action.id}/edit", data={
        "lesson_id": lesson, "description": "Still Kim's", "owner": "Kim", "due_on": "",
        "status": "open"})
    assert edited.status_code == 303
    session.expire_all()
    row = session.get(Action, action.id)
    assert (row.description, row.owner, row.owner_id) == ("Still Kim's", "Kim", None)


def test_free_text_owners_are_matched_to_accounts_by_the_migration(backend, app):
    make_user(app, "contributor", "ben@example.org", name="Ben Okafor")
    make_user(app, "contributor", "al@example.org", name="Al")
    make_user(app, "contributor", "al2@example.org", name="al")  # two Als: ambiguous
    command.downgrade(alembic_config(backend.engine), "0008")
    owners = ["ben okafor", "BEN@example.org", "Al", "Kim", None]
    with backend.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO lessons (id, title, what_happened, kind, severity, created_at, "
            "updated_at) VALUES (1, 'Old', 'Old.', 'problem', 'medium', "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        for number, owner in enumerate(owners, start=1):
            connection.execute(text(
                "INSERT INTO actions (id, lesson_id, description, owner, status, created_at, "
                "updated_at) VALUES (:id, 1, 'Do it', :owner, 'open', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"), {"id": number, "owner": owner})
    upgrade(backend.engine)
    with backend.engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT a.owner, u.email FROM actions a LEFT JOIN users u ON u.id = a.owner_id "
            "ORDER BY a.id")).all()
    assert [tuple(row) for row in rows] == [
        ("ben@example.org", "ben@example.org"), ("ben@example.org", "ben@example.org"),
        ("Al", None), ("Kim", None), (None, None)]


def test_my_actions_are_my_open_ones_with_the_overdue_marked(team):
    pat, ben, lesson = team["pat"], team["ben"], team["lesson"]
    late = (date.today() - timedelta(days=3)).isoformat()
    add(pat, lesson, "Ben's late clause", owner="ben@example.org", due_on=late)
    later = (date.today() + timedelta(days=30)).isoformat()
    add(pat, lesson, "Ben's later check", owner="ben@example.org", due_on=later)
    add(pat, lesson, "Pat's own review", owner="pat@example.org")
    done = add(pat, lesson, "Ben's finished one", owner="ben@example.org").get_json()
    pat.patch(f"/api/v1/actions/{done['id']}", json={"status": "done"})

    page = ben.get("/actions/mine").get_data(as_text=True)
    assert "<h1>My actions</h1>" in page and 'aria-current="page">My actions' in page
    assert "Ben&#39;s late clause" in page and "Ben&#39;s later check" in page
    assert "Pat&#39;s own review" not in page and "finished one" not in page
    assert page.count('class="action-row status-open overdue"') == 1
    assert "1 overdue" in page
    assert 'href="/actions/mine"' in ben.get("/actions/").get_data(as_text=True)
    assert signed_in(team["app"], "contributor").get("/actions/mine").status_code == 200
    assert team["app"].test_client().get("/actions/mine").status_code in (302, 303)


def test_close_and_reassign_from_the_actions_page(team):
    pat, ben, eve, app = team["pat"], team["ben"], team["eve"], team["app"]
    action = add(pat, team["lesson"], "Late-delivery clause", owner="ben@example.org"
                 ).get_json()["id"]
    page = ben.get("/actions/").get_data(as_text=True)
    assert f'hx-post="/actions/{action}/owner"' in page and 'list="owners"' in page
    # Eve may neither close it nor give it away; the page offers her no buttons.
    assert f'/actions/{action}/owner"' not in eve.get("/actions/").get_data(as_text=True)
    assert eve.post(f"/actions/{action}/owner", data={"owner": "eve@example.org"}
                    ).status_code == 403
    refused = ben.post(f"/actions/{action}/owner", data={"owner": "kim@example.org"},
                       headers=HX)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and html.lstrip().startswith(f'<tr id="action-{action}"')
    assert "No active account has the email “kim@example.org”" in html
    moved = ben.post(f"/actions/{action}/owner", data={"owner": "pat@example.org"}, headers=HX)
    html = moved.get_data(as_text=True)
    assert moved.status_code == 200 and "Pat Quinn" in html
    assert 'hx-swap-oob="innerHTML:#actions-status"' in html
    assert [(e.actor, e.detail["before"], e.detail["after"])
            for e in audit_rows(app, "action_reassign")] == [
        ("ben@example.org", "ben@example.org", "pat@example.org")]
    # Ben gave it away: it is Pat's now, and no longer Ben's to close.
    assert ben.post(f"/actions/{action}/status", data={"status": "done"}).status_code == 403
    closed = pat.post(f"/actions/{action}/status", data={"status": "done", "view": "row"},
                      headers=HX)
    html = closed.get_data(as_text=True)
    assert html.lstrip().startswith(f'<tr id="action-{action}" class="action-row status-done')
    assert ">Reopen<" in html and "Done: Late-delivery clause" in html
    assert pat.get(f"/api/v1/actions/{action}").get_json()["status"] == "done"
    assert [e.target for e in audit_rows(app, "action_status")] == [f"action {action}"]
    # Without JavaScript the reassign form posts and comes back.
    plain = pat.post(f"/actions/{action}/owner",
                     data={"owner": "ben@example.org", "next": "/actions/mine"})
    assert plain.status_code == 303 and plain.location.endswith("/actions/mine")


def test_reminders_one_message_per_owner_as_an_email_would_say(team, runner, session):
    pat, lesson = team["pat"], team["lesson"]
    add(pat, lesson, "Overdue clause", owner="ben@example.org", due_on="2030-03-01")
    add(pat, lesson, "Soon check", owner="ben@example.org", due_on="2030-03-14")
    add(pat, lesson, "Far away", owner="ben@example.org", due_on="2030-06-01")
    add(pat, lesson, "Pat's soon", owner="pat@example.org", due_on="2030-03-10")
    session.add(Action(lesson_id=lesson, description="Kim's old one", owner="Kim",
                       status="open", due_on=date(2030, 3, 2)))
    # Eve owns an action on a lesson only Pat's project team may see: never named to her.
    merger = pat.post("/api/v1/projects", json={"name": "Merger"}).get_json()
    hidden = pat.post("/api/v1/lessons", json={
        "title": "Secret merger lesson", "what_happened": "Hush.", "status": "approved",
        "project_id": merger["id"], "visibility": "project"}).get_json()
    session.add(Action(lesson_id=hidden["id"], description="Secret step", status="open",
                       owner="eve@example.org", owner_id=team["eve"].user_id,
                       due_on=date(2030, 3, 5)))
    session.commit()

    result = runner.invoke(args=["actions", "remind", "--days", "7", "--today", "2030-03-10",
                                 "--base-url", "https://lessons.example.org"])
    assert result.exit_code == 0, result.output
    messages = result.output.split("-" * 72)
    ben = next(m for m in messages if "To: Ben Okafor <ben@example.org>" in m)
    assert "Subject: 2 open actions need you: 1 overdue" in ben
    assert "Overdue (1)" in ben and "- Overdue clause" in ben
    assert "Due 01 Mar 2030 (9 days late)." in ben
    assert "Due within 7 days (1)" in ben and "- Soon check" in ben and "(in 4 days)" in ben
    assert "Far away" not in ben and "Lesson: Crane vendor shipped late" in ben
    assert f"https://lessons.example.org/lessons/{lesson}" in ben
    assert "https://lessons.example.org/actions/mine" in ben
    pat_message = next(m for m in messages if "To: Pat Quinn <pat@example.org>" in m)
    assert "Due 10 Mar 2030 (today)." in pat_message and "Overdue clause" not in pat_message
    eve = next(m for m in messages if "To: eve@example.org" in m)
    assert "Secret" not in eve and "Merger" not in eve
    assert "Subject: 1 open action needs you: 1 overdue" in eve
    assert "1 action of yours (1 overdue) is on lessons you cannot open" in eve
    assert "3 reminders for 2030-03-10" in result.output
    assert "Not sent (no active account owns it: Kim)" in result.output


def test_each_owner_change_is_one_reassignment_whatever_the_path(team):
    """The edit form, the API and the Actions page each leave one `action_reassign`, from
    email to email; an edit that keeps the owner, or a reassignment to the same one, none."""
    pat, app, lesson = team["pat"], team["app"], team["lesson"]
    action = add(pat, lesson, "Late-delivery clause", owner="ben@example.org").get_json()["id"]
    form = {"lesson_id": lesson, "description": "Late-delivery clause", "due_on": "",
            "status": "open"}
    assert pat.post(f"/actions/{action}/edit", data={**form, "owner": "eve@example.org"}
                    ).status_code == 303
    assert pat.post(f"/actions/{action}/edit", data={**form, "owner": "EVE@example.org"}
                    ).status_code == 303  # the same owner, typed otherwise: no move
    assert pat.patch(f"/api/v1/actions/{action}", json={"owner": "Ben Okafor"}
                     ).status_code == 200
    for _ in range(2):  # the second gives it to whom it is already
        assert pat.post(f"/actions/{action}/owner", data={"owner": "pat@example.org"}
                        ).status_code == 303
    assert [(e.actor, e.target, e.detail["before"], e.detail["after"])
            for e in audit_rows(app, "action_reassign")] == [
        ("pat@example.org", f"action {action}", "ben@example.org", "eve@example.org"),
        ("pat@example.org", f"action {action}", "eve@example.org", "ben@example.org"),
        ("pat@example.org", f"action {action}", "ben@example.org", "pat@example.org")]


def test_an_old_free_text_owner_given_to_an_account_is_audited_from_its_text(team, session):
    pat, lesson, app = team["pat"], team["lesson"], team["app"]
    action = Action(lesson_id=lesson, description="From before accounts", owner="Kim",
                    status="open")
    session.add(action)
    session.commit()
    assert pat.patch(f"/api/v1/actions/{action.id}", json={"owner": "ben@example.org"}
                     ).status_code == 200
    assert [(e.detail["before"], e.detail["after"])
            for e in audit_rows(app, "action_reassign")] == [("Kim", "ben@example.org")]


def test_the_dashboard_lists_each_owner_account_apart_and_links_it_by_email(team, session):
    """Two accounts named "Al" are two rows, each linking to its own actions; an old
    free-text owner links by its text; "(no owner)" is no link, as no filter lists those."""
    pat, lesson, app = team["pat"], team["lesson"], team["app"]
    for email in ("al@example.org", "al.two@example.org"):
        make_user(app, "contributor", email, name="Al")
    add(pat, lesson, "First Al's", owner="al@example.org")
    add(pat, lesson, "Second Al's", owner="al.two@example.org")
    add(pat, lesson, "Second Al's too", owner="al.two@example.org")
    add(pat, lesson, "Nobody's")
    session.add(Action(lesson_id=lesson, description="Kim's old one", owner="Kim",
                       status="open"))
    session.commit()
    owners = pat.get("/api/v1/report").get_json()["actions"]["by_owner"]
    assert sorted((o["owner"], o["filter"] or "", o["open"]) for o in owners) == [
        ("(no owner)", "", 1), ("Al", "al.two@example.org", 2), ("Al", "al@example.org", 1),
        ("Kim", "Kim", 1)]
    page = pat.get("/pmo").get_data(as_text=True)
    table = page.split("Open actions by owner")[1].split("</table>")[0]
    assert '<a href="/actions/?owner=al@example.org">Al</a>' in table
    assert '<a href="/actions/?owner=al.two@example.org">Al</a>' in table
    assert '<a href="/actions/?owner=Kim">Kim</a>' in table
    assert "<td>(no owner)</td>" in table
    listed = pat.get("/actions/?owner=al.two%40example.org").get_data(as_text=True)
    assert "Second Al&#39;s" in listed and "First Al&#39;s" not in listed
    assert "First Al" not in pat.get("/actions/?owner=Al").get_data(as_text=True)


def test_a_name_cannot_break_the_reminders_to_line(team, runner, session):
    pat, lesson = team["pat"], team["lesson"]
    add(pat, lesson, "Overdue clause", owner="ben@example.org", due_on="2030-03-01")
    session.get(User, team["ben"].user_id).name = "Ben\r\nBcc: all@example.org  Okafor"
    session.commit()
    result = runner.invoke(args=["actions", "remind", "--today", "2030-03-10"])
    assert result.exit_code == 0, result.output
    headers = result.output.split("\n\n")[0].splitlines()
    assert headers == ['To: "Ben Bcc: all@example.org Okafor" <ben@example.org>',
                       "Subject: 1 open action needs you: 1 overdue"]
    assert "1 reminder for 2030-03-10, actions due within 7 days or overdue." in result.output


@pytest.mark.parametrize("url", ["ftp://lessons.example.org", "https://lessons.example.org/a b",
                                 "lessons.example.org"])
def test_a_bad_base_url_is_a_one_line_error(team, runner, url):
    result = runner.invoke(args=["actions", "remind", "--base-url", url])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: --base-url {url!r} is not valid: LESSONS_BASE_URL must be an http:// or "
        "https:// address such as https://lessons.example.org."]


def section(page: str, start: str) -> str:
    """The part of `page` from `start` to the end of its section."""
    return page.split(start, 1)[1].split("</section>", 1)[0]


def test_the_navigation_counts_my_open_actions_and_home_lists_mine_due_this_week(team):
    pat, ben, eve, lesson = team["pat"], team["ben"], team["eve"], team["lesson"]
    def due(days):
        return (date.today() + timedelta(days=days)).isoformat()

    add(pat, lesson, "Ben's late clause", owner="ben@example.org", due_on=due(-3))
    add(pat, lesson, "Ben's soon check", owner="ben@example.org", due_on=due(3))
    add(pat, lesson, "Ben's later check", owner="ben@example.org", due_on=due(30))
    done = add(pat, lesson, "Ben's finished one", owner="ben@example.org", due_on=due(-5))
    pat.patch(f"/api/v1/actions/{done.get_json()['id']}", json={"status": "done"})
    add(pat, lesson, "Eve's late step", owner="eve@example.org", due_on=due(-1))

    home = ben.get("/").get_data(as_text=True)
    assert ('>Actions <span class="count-badge late" title="3 open of yours, 1 overdue">3'
            '<span class="visually-hidden"> open of yours, 1 overdue</span>') in home
    assert 'title="1 open of yours, 1 overdue">1<' in eve.get("/").get_data(as_text=True)
    assert '>Actions</a>' in pat.get("/").get_data(as_text=True)  # Pat owns none: no count
    mine = section(home, "<h2>Your actions</h2>")
    assert "Ben&#39;s late clause" in mine and "Overdue" in mine
    assert "Ben&#39;s soon check" in mine and f"Due {due(3)}" in mine
    assert mine.index("late clause") < mine.index("soon check")
    assert "later check" not in mine and "finished" not in mine and "Eve" not in mine
    assert f'href="/lessons/{lesson}#actions"' in mine and 'href="/actions/mine"' in mine
    assert "overdue actions" not in home  # a contributor reads their own, not everyone's
    # The PMO has none of their own, and keeps everyone's overdue ones.
    pmo_home = pat.get("/").get_data(as_text=True)
    assert "Nothing of yours is overdue or due within 7 days." in pmo_home
    everyone = section(pmo_home, "<h2>Everyone’s overdue actions</h2>")
    assert "Ben&#39;s late clause" in everyone and "Eve&#39;s late step" in everyone
    assert "soon check" not in everyone


def test_an_owner_without_an_account_is_chosen_as_such_and_marked(team):
    pat, lesson, app = team["pat"], team["lesson"], team["app"]
    added = pat.post("/actions/", data={"lesson_id": lesson, "description": "Resend drawings",
                                        "owner": "", "outside_owner": "Kim at Acme"}, headers=HX)
    assert added.status_code == 200 and "Kim at Acme (no account)" in added.get_data(as_text=True)
    body = add(pat, lesson, "Sign the waiver", outside_owner="Lee Supplier").get_json()
    assert (body["owner"], body["owner_id"], body["owner_name"], body["outside_owner"]) == (
        "Lee Supplier", None, "Lee Supplier", "Lee Supplier")
    listed = pat.get("/actions/").get_data(as_text=True)
    for name in ("Kim at Acme", "Lee Supplier"):
        assert f'{name} <span class="meta">(no account)</span>' in listed
    # Never an account by mistake (nor one of two of that name), never two owners, and held
    # to the field's length.
    make_user(app, "contributor", "al@example.org", name="Al")
    make_user(app, "contributor", "al2@example.org", name="al")
    for fields, problem in (({"outside_owner": "Ben Okafor"}, "has an account"),
                            ({"outside_owner": "AL"}, "al2@example.org or al@example.org"),
                            ({"owner": "ben@example.org", "outside_owner": "Kim"}, "not both"),
                            ({"outside_owner": "K" * 201}, "")):
        refused = add(pat, lesson, "Refused", status=422, **fields)
        assert problem in refused.get_json()["fields"]["outside_owner"]
    # Read back and sent again it stays; the edit form shows it in its own field.
    again = pat.patch(f"/api/v1/actions/{body['id']}", json={
        **{k: body[k] for k in ("owner", "outside_owner")}, "description": "Sign it"})
    assert (again.status_code, again.get_json()["outside_owner"]) == (200, "Lee Supplier")
    form = pat.get(f"/actions/{body['id']}/edit").get_data(as_text=True)
    assert 'name="owner" value=""' in form and 'name="outside_owner" value="Lee Supplier"' in form
    assert not audit_rows(app, "action_reassign")
    given = pat.patch(f"/api/v1/actions/{body['id']}", json={"owner": "ben@example.org"})
    assert (given.get_json()["owner_id"], given.get_json()["outside_owner"]) == (
        team["ben"].user_id, None)
    assert [(e.detail["before"], e.detail["after"]) for e in audit_rows(app, "action_reassign")
            ] == [("Lee Supplier", "ben@example.org")]
    schemas = pat.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert "does not sign in" in schemas["ActionInput"]["properties"]["outside_owner"][
        "description"]
    assert "outside_owner" in schemas["ActionPatch"]["properties"]
