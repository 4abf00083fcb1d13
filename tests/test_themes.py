"""Recurring themes: clustered from the real model's vectors, stable ids, joined at capture,
repeats."""

import time
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import Api, audit_rows, signed_in
from jsonschema import Draft202012Validator

from lessons.models import Action, ThemeRun, theme_name
from search import themes as search_themes

TOPICS = {
    "lock-in": [
        ("Supplier would not export our data", "Leaving the vendor meant paying them to export "
         "our own records from their proprietary format."),
        ("Closed data format trapped us", "The platform stored everything in a proprietary "
         "format with no export clause in the contract."),
        ("Exit from the hosting vendor cost a fortune", "No export clause: the supplier charged "
         "for every extract of our data."),
        ("Migration off the old CRM blocked by the vendor", "They refused a bulk export and "
         "the contract had no exit terms."),
    ],
    "testing": [
        ("User acceptance testing squeezed", "The build slipped but go-live did not, so UAT "
         "shrank from six weeks to five days."),
        ("Load testing dropped before launch", "Performance tests were cut to hit the date and "
         "the site fell over on day one."),
        ("Regression testing skipped in the final sprint", "Defects reached production because "
         "testing time was given to late features."),
        ("Test environment arrived late", "Testing started three weeks late and was squeezed "
         "into the last fortnight before go-live."),
    ],
    "permits": [
        ("Road closure permit requested too late", "The council needed eight weeks for the "
         "street works permit; crews sat idle."),
        ("Planning consent delayed the build", "We applied for planning consent after contract "
         "award and lost two months."),
        ("Crane licence took nine weeks", "The lifting permit from the council was requested "
         "two weeks before the lift."),
        ("Environmental permit not in the plan", "The river works permit was applied for late "
         "and held the site for a month."),
    ],
}


def make_project(client, name):
    return Api(client).project(name)["id"]


def add(client, title, body, project_id=None, **values):
    return Api(client).lesson(title, body, **{  # only approved lessons are themed
        "project_id": project_id, "status": "approved", **values})["id"]


@pytest.fixture
def topics(client):
    """Twelve lessons in three topics, each topic spread over four projects."""
    projects = [make_project(client, f"Project {n}") for n in range(4)]
    return {topic: [add(client, title, body, projects[i]) for i, (title, body) in enumerate(items)]
            for topic, items in TOPICS.items()}


def recompute(runner, count=None):
    result = runner.invoke(args=["themes", *(["--themes", str(count)] if count else [])])
    assert result.exit_code == 0, result.output


def themes(client, **args):
    response = client.get("/api/v1/themes", query_string=args)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def theme_of(listing, lesson_id):
    return next(item["id"] for item in listing["items"]
                if lesson_id in [lesson["id"] for lesson in item["lessons"]])


def test_recompute_groups_lessons_by_meaning_and_keeps_ids(client, runner, topics):
    recompute(runner, 3)
    first = themes(client)
    assert first["total"] == 3
    for topic, lesson_ids in topics.items():
        assert len({theme_of(first, lesson_id) for lesson_id in lesson_ids}) == 1, topic
    by_topic = {topic: theme_of(first, ids[0]) for topic, ids in topics.items()}
    permits = next(item for item in first["items"] if item["id"] == by_topic["permits"])
    assert "permit" in permits["keywords"] and len(permits["projects"]) == 4
    assert permits["central_lesson"]["id"] in topics["permits"]
    # A second recompute, with one more lesson, gives every theme back its id.
    add(client, "Scaffold licence from the council came late", "The permit took six weeks.")
    recompute(runner, 3)
    second = themes(client)
    assert {topic: theme_of(second, ids[0]) for topic, ids in topics.items()} == by_topic


def test_a_new_lesson_joins_its_nearest_theme_at_capture(client, runner, topics):
    recompute(runner, 3)
    before = themes(client)
    new = add(client, "Street works permit refused twice", "The council permit for the "
              "road closure was late, so the crews waited.")
    after = themes(client)
    assert theme_of(after, new) == theme_of(before, topics["permits"][0])
    # Deleted lessons leave every theme at once.
    assert client.delete(f"/api/v1/lessons/{new}").status_code in (200, 204)
    assert new not in [lesson["id"]
                       for item in themes(client)["items"] for lesson in item["lessons"]]


def test_theme_counts_per_window_show_the_trend(client, runner):
    today = date.today()
    old, recent = today - timedelta(days=200), today - timedelta(days=10)
    for n, day in enumerate([old, recent, recent, recent]):
        add(client, f"Permit requested too late, site {n}", "The council permit took weeks.",
            occurred_on=day.isoformat())
    for n in range(2):
        add(client, f"Caterer cancelled on day {n}", "Lunch for the workshop arrived cold.")
    recompute(runner, 2)
    listing = themes(client, window_days=90, windows=4)
    counts = [item["counts"] for item in listing["items"]]
    assert [0, 1, 0, 3] in counts  # 200 days ago: window 2 of 4; 10 days ago: the latest
    trends = client.get("/api/v1/themes/trends", query_string={"window_days": 90, "windows": 4})
    rising = trends.get_json()["rising"]
    assert any(item["counts"] == [0, 1, 0, 3] and item["id"] in rising
               for item in trends.get_json()["items"])
    bad = client.get("/api/v1/themes", query_string={"window_days": "0"})
    assert bad.status_code == 422 and "window_days" in bad.get_json()["fields"]


def test_a_mistake_met_on_three_projects_or_back_after_its_action_is_flagged(client, runner,
                                                                           session):
    projects = [make_project(client, f"Site {n}") for n in range(3)]
    first = add(client, "Road permit requested too late", "The council needed eight weeks "
                "for the road closure permit and the crews sat idle.", projects[0],
                occurred_on="2024-01-10")
    action = client.post("/api/v1/actions", json={
        "lesson_id": first, "description": "Permit checklist", "status": "done"}).get_json()
    # As if it had been marked done long ago (the API stamps the time it is told).
    session.get(Action, action["id"]).closed_at = datetime(2024, 2, 1, tzinfo=UTC)
    session.commit()
    add(client, "Road closure permit applied for late", "Eight weeks for the council's road "
        "closure permit; the crews waited on site.", projects[1],
        occurred_on=(date.today() - timedelta(days=1)).isoformat())
    add(client, "Unrelated: the caterer cancelled", "Lunch arrived cold on the first day.",
        projects[2])
    recompute(runner, 2)
    repeats = client.get("/api/v1/themes/repeats").get_json()["items"]
    assert len(repeats) == 1
    assert [lesson["id"] for lesson in repeats[0]["lessons"]][0] == first
    assert any("back 1 time after the action" in reason for reason in repeats[0]["reasons"])
    listing = themes(client)
    permits = next(item for item in listing["items"] if item["id"] == theme_of(listing, first))
    assert permits["reasons"] == ["met again after the actions on 1 of its lessons were done"]
    # Recorded as the same lesson on a third project, it is also "met on 3 projects".
    client.post(f"/api/v1/lessons/{first}/occurrences", json={"project_id": projects[2]})
    repeats = client.get("/api/v1/themes/repeats").get_json()["items"]
    assert "met on 3 projects" in repeats[0]["reasons"]


def test_theme_answers_match_the_openapi_document(client, runner, topics):
    spec = client.get("/api/v1/openapi.json").get_json()

    def check(body, name):
        Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                              "components": spec["components"]}).validate(body)

    recompute(runner)
    for item in themes(client)["items"]:
        check(item, "Theme")
    for item in client.get("/api/v1/themes/repeats").get_json()["items"]:
        check(item, "Repeat")


def test_recompute_from_the_api_runs_in_the_background(client, session, topics, queue_worker):
    response = client.post("/api/v1/themes/recompute", json={"themes": 3})
    assert response.status_code == 202
    location = response.headers["Location"]
    for _ in range(600):
        run = client.get(location).get_json()
        if run["status"] != "running":
            break
        time.sleep(0.1)
    assert run["status"] == "done" and run["themes"] == 3, run
    assert themes(client)["total"] == 3
    assert client.post("/api/v1/themes/recompute", json={"themes": 99}).status_code == 422
    # While a run is in progress, another is refused.
    session.add(ThemeRun(status="running", actor="someone", stage="Clustering"))
    session.commit()
    conflict = client.post("/api/v1/themes/recompute")
    assert conflict.status_code == 409 and "being recomputed" in conflict.get_json()["error"]


def test_the_themes_page_shows_themes_trends_and_recompute(
        client, runner, session, topics, queue_worker):
    empty = client.get("/themes")
    assert empty.status_code == 200 and b"No themes yet" in empty.data
    recompute(runner, 3)
    page = client.get("/themes").get_data(as_text=True)
    assert page.count('<svg class="trend"') == 3 and "Identified, not learned" in page
    theme_id = themes(client)["items"][0]["id"]
    detail = client.get(f"/themes/{theme_id}").get_data(as_text=True)
    assert "Lessons per 90-day window" in detail and "<table" in detail
    assert client.get("/themes/9999").status_code == 404
    started = client.post("/themes/recompute", data={"themes": "3"}, headers={"HX-Request": "true"})
    assert started.status_code == 200 and 'id="theme-run"' in started.get_data(as_text=True)
    run_id = session.query(ThemeRun).order_by(ThemeRun.id.desc()).first().id
    for _ in range(600):  # the fragment polls itself until the run ends, then reloads the page
        progress = client.get(f"/themes/runs/{run_id}", headers={"HX-Request": "true"})
        if progress.headers.get("HX-Refresh") == "true":
            break
        assert "hx-get" in progress.get_data(as_text=True)
        time.sleep(0.1)
    assert "3 themes" in progress.get_data(as_text=True)


def test_a_lesson_captured_while_themes_recompute_keeps_a_theme(client, runner, topics,
                                                                monkeypatch, queue_worker):
    recompute(runner, 3)
    captured = []
    clustering = search_themes.cluster

    def cluster_while_someone_captures(vectors, count=None, seed=0):
        captured.append(add(client, "Council permit late again", "The street works permit "
                            "took eight weeks."))
        return clustering(vectors, count, seed)

    monkeypatch.setattr(search_themes, "cluster", cluster_while_someone_captures)
    recompute(runner, 3)
    listing = themes(client)
    assert theme_of(listing, captured[0]) == theme_of(listing, topics["permits"][0])


def test_one_recompute_at_a_time_from_the_cli_too(runner, session, topics):
    session.add(ThemeRun(status="running", actor="web", stage="Clustering"))
    session.commit()
    result = runner.invoke(args=["themes"])
    assert result.exit_code != 0 and "being recomputed" in result.output


def test_a_run_whose_process_died_expires_and_frees_the_way(client, session, topics, queue_worker):
    old = datetime.now(UTC) - timedelta(hours=1)
    dead = ThemeRun(status="running", actor="gone", stage="Clustering", started_at=old,
                    updated_at=old)
    session.add(dead)
    session.commit()
    run = client.get(f"/api/v1/themes/runs/{dead.id}").get_json()
    assert run["status"] == "failed" and "Interrupted" in run["message"]
    started = client.post("/api/v1/themes/recompute", json={"themes": 2})
    assert started.status_code == 202
    for _ in range(600):  # let it finish before the test's tables are emptied
        if client.get(started.headers["Location"]).get_json()["status"] != "running":
            break
        time.sleep(0.1)


def test_themes_read_stored_lesson_vectors_and_encode_only_what_changed(
        client, runner, session, topics, monkeypatch):
    from lessons.models import ThemeVector
    from search.theme_store import theme_text
    from web.engine import engine

    recompute(runner, 3)
    stored = {row.lesson_id: row.text_hash for row in session.query(ThemeVector)}
    assert set(stored) == {i for ids in topics.values() for i in ids}
    embedder = engine().embedder
    encoded: list[str] = []
    real_encode = embedder.encode

    def counting_encode(texts, *args, **kwargs):
        encoded.extend(texts)
        return real_encode(texts, *args, **kwargs)

    monkeypatch.setattr(embedder, "encode", counting_encode)
    recompute(runner, 3)
    assert encoded == []  # nothing changed: nothing read again
    changed = topics["testing"][0]
    response = client.patch(f"/api/v1/lessons/{changed}", json={  # its passages read apart
        "root_cause": "The plan let testing absorb every slip.",
        "recommendation": "Protect the test window in the plan; move the date, not the tests."})
    assert response.status_code == 200, response.get_json()
    recompute(runner, 3)
    lesson = response.get_json()
    text = theme_text(lesson["title"], lesson["what_happened"], lesson["root_cause"],
                      lesson["recommendation"])
    assert encoded.count(text) == 1 and "Protect the test window" in text
    session.expire_all()
    after = {row.lesson_id: row.text_hash for row in session.query(ThemeVector)}
    assert after[changed] != stored[changed]
    assert {i: h for i, h in after.items() if i != changed} == {
        i: h for i, h in stored.items() if i != changed}


def test_what_went_well_forms_themes_of_its_own(client, runner, topics):
    well = [add(client, title, body, kind="went_well") for title, body in [
        ("Testing window protected by the sponsor", "The sponsor moved go-live instead of "
         "cutting testing, and launch was clean."),
        ("Load testing early paid off", "Performance tests ran from sprint two, so the site "
         "held on launch day."),
        ("Regression suite automated before the final sprint", "Automated regression testing "
         "caught defects before production."),
    ]]
    recompute(runner, 4)
    listing = themes(client)
    well_themes = {theme_of(listing, lesson_id) for lesson_id in well}
    wrong_themes = {theme_of(listing, i) for ids in topics.values() for i in ids}
    assert not well_themes & wrong_themes  # success stories never mix with the mistakes
    assert all(item["works"] == (item["id"] in well_themes) for item in listing["items"])
    assert not any(item["reasons"] for item in listing["items"] if item["works"])
    page = client.get("/themes").get_data(as_text=True)
    mistakes, works = page.split("<h2>What works</h2>")
    assert all(f"/themes/{t}?" in works and f"/themes/{t}?" not in mistakes for t in well_themes)
    # A success captured later joins a theme of what works, though mistakes are nearer in words.
    new = add(client, "Test time defended at the steering board", "The board kept the full "
              "test phase and the launch went smoothly.", kind="went_well")
    assert theme_of(themes(client), new) in well_themes


def test_the_pmo_names_a_theme_and_the_name_survives_a_recompute(app, client, runner, topics):
    recompute(runner, 3)
    permits = theme_of(themes(client), topics["permits"][0])
    automatic = next(item["label"] for item in themes(client)["items"] if item["id"] == permits)
    assert automatic[:1].isupper() and " — " in automatic and "," not in automatic  # a phrase
    page = client.post(f"/themes/{permits}/name", data={"name": "  Permits   asked too late "})
    assert page.status_code == 303
    recompute(runner, 3)
    listing = themes(client)
    assert next(item for item in listing["items"] if item["id"] == permits)["label"] == \
        "Permits asked too late"
    assert "Permits asked too late" in client.get("/themes").get_data(as_text=True)
    assert [row.detail for row in audit_rows(app, "theme_rename")] == [
        {"before": None, "after": "Permits asked too late"}]
    too_long = client.patch(f"/api/v1/themes/{permits}", json={"name": "x" * 201})
    assert too_long.status_code == 422 and "name" in too_long.get_json()["fields"]
    unknown = client.patch(f"/api/v1/themes/{permits}", json={"keywords": ["x"]})
    assert unknown.status_code == 422 and "keywords" in unknown.get_json()["fields"]
    assert client.patch("/api/v1/themes/999999", json={"name": "x"}).status_code == 404
    form_error = client.post(f"/themes/{permits}/name", data={"name": "x" * 201})
    assert form_error.status_code == 422 and 'aria-invalid="true"' in form_error.get_data(
        as_text=True)
    reset = client.patch(f"/api/v1/themes/{permits}", json={"name": None})
    assert reset.status_code == 200 and reset.get_json()["label"] == automatic


def test_a_theme_is_named_by_a_phrase_of_its_lessons_and_its_central_title(client, runner,
                                                                            topics):
    recompute(runner, 3)
    texts = {lesson_id: f"{title} {body}".lower() for ids, items in
             zip(topics.values(), TOPICS.values(), strict=True)
             for lesson_id, (title, body) in zip(ids, items, strict=True)}
    listing = themes(client)
    for topic in ("lock-in", "permits"):  # "testing" has no phrase said twice: its title alone
        item = next(item for item in listing["items"]
                    if item["id"] == theme_of(listing, topics[topic][0]))
        phrase, title = item["label"].split(" — ")
        assert len(item["label"]) <= 60 and phrase.lower() in item["keywords"]
        # Two words side by side in at least two of the theme's own lessons.
        assert len(phrase.split()) == 2 and sum(
            phrase.lower() in texts[lesson["id"]] for lesson in item["lessons"]) >= 2
        # Then the central lesson's title as written, cut on a word boundary if long.
        central = item["central_lesson"]["title"]
        assert central.startswith(title.removesuffix("…")) and title.split()[:3] == \
            central.split()[:3]


def test_a_long_automatic_name_is_cut_on_a_word_boundary_and_says_nothing_twice():
    long_title = "Check valves installed backwards on the oxidiser line went unnoticed"
    assert theme_name(["valve", "check valve"], long_title) == \
        "Check valve — Check valves installed backwards…"  # never ending on "on the"
    assert theme_name(["data", "data export"], "Supplier refused the data export") == \
        "Supplier refused the data export"  # the title already holds the phrase
    assert theme_name(["esd", "ESD bags"], "") == "ESD bags"  # no title everyone may read
    assert theme_name(["week", "data"], "Data contracts stopped breakages") == \
        "Data contracts stopped breakages"  # no phrase said twice: a lone word says nothing
    assert theme_name(["week", "data"], "") == "Week"


def test_only_the_pmo_names_themes(app, runner, topics):
    recompute(runner, 3)
    contributor = signed_in(app, "contributor")
    theme_id = contributor.get("/api/v1/themes").get_json()["items"][0]["id"]
    assert contributor.patch(f"/api/v1/themes/{theme_id}", json={"name": "Mine"}
                             ).status_code == 403
    assert contributor.post(f"/themes/{theme_id}/name", data={"name": "Mine"}).status_code == 403


def test_a_theme_is_flagged_only_when_met_again_lately_after_it_was_identified(client, runner):
    projects = [make_project(client, f"Site {n}") for n in range(4)]
    long_ago = (date.today() - timedelta(days=400)).isoformat()
    first = {topic: [add(client, title, body, projects[n], occurred_on=long_ago)
                     for n, (title, body) in enumerate(TOPICS[topic])]
             for topic in ("permits", "testing")}
    recompute(runner, 2)
    assert [item["reasons"] for item in themes(client)["items"]] == [[], []]  # long ago only
    for n in range(3):
        add(client, f"Council permit late again at site {n}", "The street works permit took "
            "eight weeks and the crews waited.", projects[n])
    listing = themes(client)
    reasons = {item["id"]: item["reasons"] for item in listing["items"]}
    assert reasons[theme_of(listing, first["permits"][0])] == [
        "met on 3 projects in the latest window, after it was identified"]
    assert reasons[theme_of(listing, first["testing"][0])] == []
