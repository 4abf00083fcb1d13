"""The admin's audit log: filters by who, what, on what and when, kept in the URL and when
paging, bad ones named and ignored; each target a link to its row's page where it exists."""

import re
from datetime import UTC, datetime

from conftest import audit_rows, make_user

from lessons.models import Action, AuditEvent, ImportRun, Theme
from web.database import db as app_db

LESSON = {"title": "Vendor shipped late", "what_happened": "The module came six weeks late."}


def log(app, *events: tuple[str, str, str | None, datetime]) -> None:
    """Audit events (actor, action, target, at) written straight into the log."""
    with app.app_context():
        app_db.session.add_all(AuditEvent(actor=actor, action=action, target=target, at=at)
                               for actor, action, target, at in events)
        app_db.session.commit()


def shown(client, query: str = "") -> list[tuple[str, str, str]]:
    """The (who, what, on) of each row the audit log page shows for `query`."""
    page = client.get(f"/admin/audit{query}")
    assert page.status_code == 200
    rows = re.findall(r"<tr>\s*<td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>\s*<td>(.*?)</td>",
                      page.get_data(as_text=True))
    return [(who, what, re.sub(r"<[^>]+>", "", on)) for who, what, on in rows]


def day(number: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, number, hour, tzinfo=UTC)


SAMPLE = (
    ("ana@example.org", "lesson_edit", "lesson 1", day(1)),
    ("ANA.B@example.org", "lesson_delete", "lesson 12", day(2)),
    ("ben@example.org", "export", "/lessons/export.csv?", day(3, 0)),
    ("ben@example.org", "lesson_edit", "lesson 12", day(3, 23)),
    ("cli", "token_revoke", "token 4", day(4)),
)


def test_the_actor_filter_matches_part_of_an_email_or_all_of_it(app, client):
    log(app, *SAMPLE)
    assert [who for who, _, _ in shown(client, "?actor=ana")] == ["ANA.B@example.org",
                                                                  "ana@example.org"]
    assert [who for who, _, _ in shown(client, "?actor=Ana@example.org&exact=1")] == [
        "ana@example.org"]
    assert shown(client, "?actor=%25") == []  # a LIKE wildcard is a character like any other


def test_the_action_filter_offers_the_actions_in_the_log(app, client):
    log(app, *SAMPLE)
    page = client.get("/admin/audit").get_data(as_text=True)
    offered = re.findall(r'<option value="([a-z_]+)"', page)
    assert "lesson_edit" in offered and "token_revoke" in offered
    assert "lesson_restore" not in offered  # no such event yet
    assert {what for _, what, _ in shown(client, "?action=lesson_edit")} == {"lesson edit"}
    assert len(shown(client, "?action=lesson_edit")) == 2


def test_the_target_filter_finds_one_row_not_those_it_is_a_prefix_of(app, client):
    log(app, *SAMPLE)
    assert [on for _, _, on in shown(client, "?target=lesson+1")] == ["lesson 1"]
    assert [who for who, _, _ in shown(client, "?target=Lesson++12")] == [
        "ben@example.org", "ANA.B@example.org"]


def test_the_date_range_is_whole_utc_days_both_ends_included(app, client):
    log(app, *SAMPLE)
    assert [on for _, _, on in shown(client, "?from=2026-03-02&to=2026-03-03")] == [
        "lesson 12", "/lessons/export.csv?", "lesson 12"]
    assert shown(client, "?from=2026-03-04") == [("cli", "token revoke", "token 4")]
    assert len(shown(client, "?to=2026-03-02")) == 2


def test_filters_combine_and_survive_paging(app, client):
    log(app, *[("ana@example.org", "lesson_edit", f"lesson {n}", day(5)) for n in range(130)],
        *[("ben@example.org", "lesson_edit", "lesson 1", day(5)) for _ in range(20)])
    first = client.get("/admin/audit?actor=ana&action=lesson_edit&from=2026-03-05")
    text = first.get_data(as_text=True)
    assert "130 events" in text and "Page 1 of 2" in text
    following = re.search(r'href="([^"]+)" rel="next"', text).group(1).replace("&amp;", "&")
    assert "actor=ana" in following and "action=lesson_edit" in following
    assert "from=2026-03-05" in following and "page=2" in following
    rest = shown(client, following.removeprefix("/admin/audit"))
    assert len(rest) == 30 and {who for who, _, _ in rest} == {"ana@example.org"}
    # The form shows the filters in force.
    assert 'name="actor" value="ana"' in text
    assert re.search(r'<option value="lesson_edit" selected>', text)


def test_bad_filters_are_named_on_the_page_and_the_others_still_apply(app, client):
    log(app, *SAMPLE)
    page = client.get("/admin/audit?actor=ben&from=2026-02-30&action=no_such_thing")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Some filters were not understood and were ignored" in text
    assert "Must be a date as YYYY-MM-DD." in text
    assert "No event of that kind is in the log." in text
    assert [who for who, _, _ in shown(client, "?actor=ben&from=2026-02-30&action=no")] == [
        "ben@example.org", "ben@example.org"]
    backwards = client.get("/admin/audit?from=2026-03-04&to=2026-03-01").get_data(as_text=True)
    assert "Must not be before the From date." in backwards
    assert shown(client, "?from=2026-03-04&to=2026-03-01") == [("cli", "token revoke", "token 4")]
    too_long = client.get("/admin/audit?target=" + "x" * 600)
    assert too_long.status_code == 200 and "At most 500 characters" in too_long.get_data(
        as_text=True)


def test_htmx_gets_the_rows_without_the_form(app, client):
    log(app, *SAMPLE)
    fragment = client.get("/admin/audit?actor=cli", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert "token revoke" in text and "<form" not in text and "lesson edit" not in text
    assert "HX-Request" in fragment.headers["Vary"]


def links(client, query: str = "") -> dict[str, str | None]:
    """Each target on the page and the address it links to (None: plain text)."""
    text = client.get(f"/admin/audit{query}").get_data(as_text=True)
    cells = re.findall(r"</td>\s*<td>(.*?)</td><td>[^<]*</td><td>", text)
    found = {}
    for cell in cells:
        link = re.fullmatch(r'<a href="([^"]+)">([^<]*)</a>', cell)
        found[link.group(2) if link else cell] = link.group(1) if link else None
    return found


def test_targets_link_to_the_pages_of_rows_that_exist(app, client):
    project = client.post("/api/v1/projects", json={"name": "Portal"}).get_json()["id"]
    lesson = client.post("/api/v1/lessons", json=LESSON).get_json()["id"]
    gone = client.post("/api/v1/lessons", json=LESSON).get_json()["id"]
    assert client.delete(f"/api/v1/lessons/{gone}").status_code == 200
    action = client.post("/api/v1/actions", json={"lesson_id": lesson,
                                                  "description": "Add an export clause"})
    action_id = action.get_json()["id"]
    ada = make_user(app, "contributor", "ada@example.org")
    with app.app_context():
        app_db.session.add(Theme(id=7, model="m", keywords=["vendor"], centroid=b""))
        run = ImportRun(status="done", file_name="a.csv", stored_name="a.csv",
                        file_format="csv", mapping={}, actor="x")
        app_db.session.add(run)
        app_db.session.commit()
        run_id = run.id
        assert app_db.session.get(Action, action_id).lesson_id == lesson
    log(app, ("x", "y", f"lesson {lesson}", day(1)), ("x", "y", f"project {project}", day(1)),
        ("x", "theme_rename", "theme 7", day(1)), ("x", "import", f"import {run_id}", day(1)),
        ("x", "user_update", "ada@example.org", day(1)), ("x", "y", f"user {ada}", day(1)),
        ("x", "team_change", f"team {project}", day(1)), ("x", "y", "lesson 999999", day(1)),
        ("x", "y", "lesson 99999999999999999999", day(1)), ("x", "import", "/import?", day(1)),
        ("x", "token_revoke", "token 1", day(1)), ("x", "export", None, day(1)))

    found = links(client)
    assert found[f"lesson {lesson}"] == f"/lessons/{lesson}"
    assert found[f"lesson {gone}"] == f"/lessons/{gone}"  # deleted: its page offers a restore
    assert found[f"project {project}"] == f"/projects/{project}"
    assert found[f"team {project}"] == f"/projects/{project}"
    assert found[f"action {action_id}"] == f"/lessons/{lesson}"
    assert found["theme 7"] == "/themes/7"
    assert found[f"import {run_id}"] == f"/import/{run_id}"
    assert found["ada@example.org"] == found[f"user {ada}"] == f"/admin/users/{ada}"
    for text in ("lesson 999999", "lesson 99999999999999999999", "/import?", "token 1", ""):
        assert found[text] is None, text
    for address in {found[f"lesson {gone}"], found[f"project {project}"],
                    found[f"action {action_id}"], found["ada@example.org"]}:
        assert client.get(address).status_code == 200, address


def test_the_log_still_records_what_the_page_filters(app, client):
    client.post("/api/v1/lessons", json=LESSON)
    assert audit_rows(app, "lesson_edit") == []
    lesson = client.post("/api/v1/lessons", json=LESSON).get_json()["id"]
    client.patch(f"/api/v1/lessons/{lesson}", json={"title": "Later"})
    (edit,) = audit_rows(app, "lesson_edit")
    assert shown(client, f"?action=lesson_edit&target=lesson+{lesson}") == [
        (edit.actor, "lesson edit", f"lesson {lesson}")]
