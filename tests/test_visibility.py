"""Per-lesson visibility: a canary lesson with a unique phrase reaches nobody who may not see it.

Every path a lesson can travel is asked for the phrase: pages, the API,
keyword and semantic search with their counts and snippets, similar while
typing, similar lessons, briefings, themes, actions, occurrences and exports.
Each path is also asked as the lesson's team, so a check that could never
find the phrase fails instead of passing.
"""

import pytest
from conftest import signed_in

CANARY = "zanzibar quokka telemetry"
SECRET = {
    "title": "Quokka telemetry contract breached",
    "what_happened": f"The {CANARY} supplier shipped firmware that leaked launch codes.",
    "recommendation": "Audit the quokka firmware before every release.",
    "visibility": "project",
}
UNIT_ONLY = {"title": "Marmoset ledger overrun", "visibility": "business_unit",
             "what_happened": "The marmoset ledger system overran its budget by half."}
PUBLIC = {"title": "Supplier shipped late", "what_happened": "Firmware from the supplier came "
                                                           "six weeks late and untested."}


@pytest.fixture
def world(app, runner):
    """A team-only canary on a Defence project, a Defence-only lesson, a public lesson."""
    member = signed_in(app, "contributor", "member@example.org", business_unit="Defence")
    colleague = signed_in(app, "contributor", "colleague@example.org", business_unit="Defence")
    outsider = signed_in(app, "contributor", "outsider@example.org", business_unit="Retail")
    pmo = signed_in(app, "pmo", "pmo@example.org")
    project = member.post("/api/v1/projects", json={
        "name": "Launch systems", "business_unit": "Defence",
        "description": "Firmware from a telemetry supplier."}).get_json()
    secret = member.post("/api/v1/lessons", json={**SECRET, "project_id": project["id"]}).get_json()
    unit = member.post("/api/v1/lessons",
                       json={**UNIT_ONLY, "project_id": project["id"]}).get_json()
    public = member.post("/api/v1/lessons", json=PUBLIC).get_json()
    for lesson in (secret, unit, public):  # approved, so they feed briefings and themes
        assert pmo.post(f"/api/v1/lessons/{lesson['id']}/approve").status_code == 200
    member.post("/api/v1/actions", json={"lesson_id": secret["id"],
                                         "description": f"Replace the {CANARY} vendor"})
    member.post(f"/api/v1/lessons/{secret['id']}/occurrences", json={"note": f"{CANARY} again"})
    assert runner.invoke(args=["themes", "--themes", "2"]).exit_code == 0
    # The outsider's own kickoff, on work like the canary's.
    kickoff = outsider.post("/api/v1/projects", json={
        "name": "Ground station",
        "description": "A zanzibar telemetry supplier delivers the firmware; launch codes "
                       "must never leak."}).get_json()
    return {"member": member, "colleague": colleague, "outsider": outsider, "pmo": pmo,
            "secret": secret["id"], "unit": unit["id"], "project": project["id"],
            "kickoff": kickoff["id"]}


def paths(world) -> list[str]:
    secret = world["secret"]
    return [
        "/", "/lessons/", "/lessons/?q=quokka", f"/lessons/{secret}",
        f"/lessons/{secret}/history", "/search?q=zanzibar+telemetry",
        "/search?q=leaked+launch+codes", "/lessons/similar?title=Telemetry+contract&what_happened="
        "firmware+leaked+launch+codes", "/actions/", "/themes", "/lessons/export.csv",
        f"/projects/{world['project']}", f"/projects/{world['project']}/briefing",
        "/api/v1/lessons", f"/api/v1/lessons/{secret}", f"/api/v1/lessons/{secret}/revisions",
        f"/api/v1/lessons/{secret}/occurrences", "/api/v1/search?q=zanzibar+telemetry",
        "/api/v1/search?q=firmware+supplier", "/api/v1/actions", "/api/v1/themes",
        "/api/v1/themes/trends", f"/api/v1/projects/{world['project']}/briefing",
        f"/projects/{world['kickoff']}", f"/projects/{world['kickoff']}/briefing",
        f"/projects/{world['kickoff']}/briefing.md", f"/projects/{world['kickoff']}/briefing.csv",
        f"/api/v1/projects/{world['kickoff']}/briefing",
    ]


def leaks(client, world) -> list[str]:
    """The paths whose answer holds the canary's rare word (no path's query names it)."""
    return [path for path in paths(world)
            if "quokka" in client.get(path).get_data(as_text=True).lower()]


def test_the_team_sees_its_lesson_through_every_path_that_shows_lessons(world):
    shown = leaks(world["member"], world)
    # Pages that list or find lessons show it to its team (the positive control).
    for path in ("/lessons/", f"/lessons/{world['secret']}", "/search?q=zanzibar+telemetry",
                 "/actions/", "/lessons/export.csv", "/api/v1/lessons",
                 f"/api/v1/lessons/{world['secret']}", "/api/v1/search?q=zanzibar+telemetry",
                 "/api/v1/actions", f"/api/v1/lessons/{world['secret']}/occurrences",
                 f"/projects/{world['kickoff']}/briefing",
                 f"/api/v1/projects/{world['kickoff']}/briefing"):
        assert path in shown, path


def test_an_outsider_gets_no_hit_count_or_snippet_of_it_anywhere(world):
    assert leaks(world["outsider"], world) == []
    outsider = world["outsider"]
    assert outsider.get(f"/api/v1/lessons/{world['secret']}").status_code == 404
    assert outsider.get(f"/lessons/{world['secret']}").status_code == 404
    assert outsider.patch(f"/api/v1/lessons/{world['secret']}",
                          json={"title": "x"}).status_code == 404
    total = outsider.get("/api/v1/lessons").get_json()["total"]
    assert total == 1  # the public lesson only
    found = outsider.get("/api/v1/search", query_string={"q": "firmware supplier"}).get_json()
    assert [item["title"] for item in found["items"]] == [PUBLIC["title"]]
    themes = outsider.get("/api/v1/themes").get_json()["items"]
    themed = sum(len(theme["lessons"]) for theme in themes)
    assert themed == 1


def test_the_business_unit_sees_unit_lessons_but_not_the_team_s(world):
    colleague = world["colleague"]
    assert leaks(colleague, world) == []
    assert colleague.get(f"/api/v1/lessons/{world['unit']}").status_code == 200
    assert world["outsider"].get(f"/api/v1/lessons/{world['unit']}").status_code == 404


def test_joining_the_team_is_up_to_the_team_or_the_pmo(world):
    outsider = world["outsider"]
    refused = outsider.post(f"/projects/{world['project']}/team",
                            data={"email": "outsider@example.org"})
    assert refused.status_code == 403
    world["pmo"].post(f"/projects/{world['project']}/team", data={"email": "outsider@example.org"})
    assert outsider.get(f"/api/v1/lessons/{world['secret']}").status_code == 200


def test_the_pmo_sees_everything_and_visitors_only_organisation_lessons(world, make_app,
                                                                         backend):
    assert f"/lessons/{world['secret']}" in leaks(world["pmo"], world)
    visitor = make_app(DATABASE_URL=backend.url, ANONYMOUS_READ=True).test_client()
    assert visitor.get("/api/v1/lessons").get_json()["total"] == 1
    assert visitor.get("/account").status_code == 303  # an account's pages need the account
    found = visitor.get("/search?q=zanzibar+telemetry").get_data(as_text=True)
    assert "quokka" not in found.lower()


def test_theme_names_never_use_words_of_restricted_lessons(world):
    for theme in world["pmo"].get("/api/v1/themes").get_json()["items"]:
        assert not any("quokka" in word or "marmoset" in word for word in theme["keywords"])
        assert "quokka" not in theme["label"].lower() and "marmoset" not in theme["label"].lower()


def test_a_visibility_change_is_audited_and_takes_effect_at_once(app, world):
    member, outsider = world["member"], world["outsider"]
    url = f"/api/v1/lessons/{world['secret']}"
    assert member.patch(url, json={"visibility": "organisation"}).status_code == 200
    assert outsider.get(url).status_code == 200
    admin = signed_in(app, "admin")
    log = admin.get("/admin/audit").get_data(as_text=True)
    assert "visibility change" in log and "before: project after: organisation" in log


def test_only_the_team_or_the_pmo_changes_a_project_and_so_who_sees_its_lessons(world):
    project = f"/api/v1/projects/{world['project']}"
    outsider = world["outsider"]
    assert outsider.patch(project, json={"business_unit": "Retail"}).status_code == 403
    assert outsider.get(f"/projects/{world['project']}/edit").status_code == 403
    assert outsider.get(f"/api/v1/lessons/{world['unit']}").status_code == 404
    assert world["member"].patch(project, json={"sponsor": "CFO"}).status_code == 200


def test_a_lesson_seen_by_its_unit_or_team_needs_a_project(world):
    refused = world["member"].post("/api/v1/lessons", json={**SECRET, "title": "No project"})
    assert refused.status_code == 422
    assert "Choose the project first" in refused.get_json()["fields"]["visibility"]


def test_a_project_with_team_only_lessons_shows_its_charter_to_its_team_and_the_pmo(world):
    charter, team = "Firmware from a telemetry supplier.", '<section class="team">'
    page, api = f"/projects/{world['project']}", f"/api/v1/projects/{world['project']}"
    for reader in ("outsider", "colleague"):  # another unit, and the project's own unit
        client = world[reader]
        shown = client.get(page).get_data(as_text=True)
        assert charter not in shown and team not in shown and "Launch systems" in shown
        assert client.get(api).get_json()["description"] is None
        listed = client.get("/api/v1/projects").get_json()["items"]
        assert [p["description"] for p in listed if p["id"] == world["project"]] == [None]
    for reader in ("member", "pmo"):
        shown = world[reader].get(page).get_data(as_text=True)
        assert charter in shown and team in shown
        assert world[reader].get(api).get_json()["description"] == charter
    # A project whose lessons are not team-only keeps its charter open to every account.
    kickoff = world["member"].get(f"/api/v1/projects/{world['kickoff']}").get_json()
    assert "zanzibar" in kickoff["description"]


def test_a_briefing_quotes_a_charter_only_to_who_may_read_it(world):
    """Every briefing output (pages, API, Markdown, CSV) leaves out the charter text a lesson
    matched and the words they share for whoever may not read the charter."""
    project, public = world["project"], PUBLIC["title"]
    # The made-up word is the charter's alone: seen anywhere, it was quoted from the charter.
    charter = "Firmware from a telemetry supplier, for the Zarquon uplink."
    patched = world["member"].patch(f"/api/v1/projects/{project}", json={"description": charter})
    assert patched.status_code == 200, patched.get_json()
    base = f"/projects/{project}"
    outputs = [base, f"{base}/briefing", f"/api/v1{base}/briefing", f"{base}/briefing.md",
               f"{base}/briefing.csv"]
    for reader in ("outsider", "colleague"):
        client = world[reader]
        for path in outputs:
            text = client.get(path).get_data(as_text=True)
            assert public in text and "zarquon" not in text.lower(), (reader, path)
        briefing = client.get(f"/api/v1{base}/briefing").get_json()
        assert [(i["aspect_text"], i["terms"]) for i in briefing["items"]] == [("", [])]
        assert {aspect["text"] for aspect in briefing["aspects"]} == {""}
        assert "shared words" not in client.get(f"{base}/briefing.md").get_data(as_text=True)
        assert "firmware" not in client.get(f"{base}/briefing.csv").get_data(as_text=True)
    # The team reads the charter, so its briefing quotes it and names the words it shares.
    member = world["member"]
    assert "Zarquon" in member.get(f"{base}/briefing").get_data(as_text=True)
    [item] = member.get(f"/api/v1{base}/briefing").get_json()["items"]
    assert item["aspect_text"] == charter and "firmware" in item["terms"]
    assert "firmware" in member.get(f"{base}/briefing.csv").get_data(as_text=True)
    # A lesson logged since matches the charter: how closely is a number only its readers get.
    fresh = world["pmo"].post("/api/v1/lessons", json={
        "title": "Telemetry firmware supplier delivered the uplink late", "status": "approved",
        "what_happened": "Firmware for the telemetry uplink came from the supplier late."})
    assert fresh.status_code == 201, fresh.get_json()
    similarities = {reader: [(i["title"], i["similarity"]) for i in world[reader].get(
        f"/api/v1{base}/briefing").get_json()["new_since_kickoff"]]
        for reader in ("member", "outsider")}
    [(title, similarity)] = similarities["member"]
    assert title.startswith("Telemetry firmware") and similarity > 0.3
    assert similarities["outsider"] == [(title, None)]
    percent = f"({similarity * 100:.0f}%)"
    assert percent in member.get(f"{base}/briefing").get_data(as_text=True)
    assert percent not in world["outsider"].get(f"{base}/briefing").get_data(as_text=True)
