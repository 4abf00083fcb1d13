"""The review workflow: draft → submitted → approved, or returned with a comment.

Who may take each step, what a draft hides, what the lesson page and the
review page show, and that only approved lessons feed briefings and themes
unless the setting says otherwise.
"""

import re
from datetime import timedelta

import pytest
from conftest import audit_rows, signed_in
from flask import Config, Flask

from lessons.errors import Conflict, Forbidden, ValidationError
from lessons.models import AuditEvent, Lesson, User
from lessons.services import create_lesson, delete_lesson
from lessons.services.reviews import review_step
from web.config import load_settings
from web.database import db

LESSON = {"title": "Permit for the crane came late",
          "what_happened": "The council needed eight weeks for the street works permit; the "
                           "crane crews stood idle."}
CHARTER = ("A city-centre office block: a tower crane on a public street, street works "
           "permits from the council, and crews booked months ahead.")


@pytest.fixture
def people(app):
    return {"author": signed_in(app, "contributor"), "colleague": signed_in(app, "contributor"),
            "pmo": signed_in(app, "pmo")}


def log(client, **fields):
    response = client.post("/api/v1/lessons", json={**LESSON, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def step(client, lesson_id, name, comment=None):
    return client.post(f"/api/v1/lessons/{lesson_id}/{name}",
                       json={"comment": comment} if comment is not None else None)


def test_each_step_starts_only_where_it_may_and_is_kept(session):
    lesson = create_lesson(session, LESSON, actor="ann", status="draft")
    assert lesson.status == "draft" and lesson.reviews == []
    with pytest.raises(Conflict, match="only a lesson that is “Awaiting review” can be approved"):
        review_step(session, lesson.id, "approve", actor="pmo")
    review_step(session, lesson.id, "submit", actor="ann")
    with pytest.raises(ValidationError) as no_comment:
        review_step(session, lesson.id, "return", actor="pmo", data={"comment": "   "})
    assert "Say what should change" in no_comment.value.fields["comment"]
    review_step(session, lesson.id, "return", actor="pmo", data={"comment": "Name the council."})
    with pytest.raises(Conflict):
        review_step(session, lesson.id, "approve", actor="pmo")
    with pytest.raises(ValidationError, match="what you changed"):
        review_step(session, lesson.id, "submit", actor="ann")  # a returned one says
    review_step(session, lesson.id, "submit", actor="ann", data={"comment": "Named it."})
    review_step(session, lesson.id, "approve", actor="pmo")
    with pytest.raises(Conflict):
        review_step(session, lesson.id, "return", actor="pmo", data={"comment": "Too late."})
    assert lesson.status == "approved"
    assert [(r.event, r.actor, r.comment) for r in lesson.reviews] == [
        ("submitted", "ann", None), ("returned", "pmo", "Name the council."),
        ("submitted", "ann", "Named it."), ("approved", "pmo", None)]
    delete_lesson(session, lesson.id)
    with pytest.raises(Conflict):
        review_step(session, lesson.id, "submit", actor="ann")


def test_a_draft_is_seen_only_by_its_author_and_the_pmo(people):
    draft = log(people["author"], status="draft")
    assert draft["status"] == "draft"
    for who, sees in (("author", True), ("pmo", True), ("colleague", False)):
        client = people[who]
        assert (client.get(f"/api/v1/lessons/{draft['id']}").status_code == 200) is sees, who
        listed = [item["id"] for item in client.get("/api/v1/lessons").get_json()["items"]]
        assert (draft["id"] in listed) is sees, who
        found = client.get("/api/v1/search?q=crane+permit").get_json()["items"]
        assert (draft["id"] in [hit["id"] for hit in found]) is sees, who
        assert ("came late" in client.get("/search?q=crane+permit").get_data(as_text=True)) is sees
    # Submitted, everyone sees it, with its status.
    assert step(people["author"], draft["id"], "submit").get_json()["status"] == "submitted"
    found = people["colleague"].get("/api/v1/search?q=crane+permit").get_json()["items"]
    assert [(hit["id"], hit["status"]) for hit in found] == [(draft["id"], "submitted")]
    assert "Awaiting review" in people["colleague"].get("/search?q=crane+permit").get_data(
        as_text=True)


def test_only_the_author_or_the_pmo_submits_and_only_the_pmo_decides(people):
    lesson = log(people["author"], status="draft")
    assert step(people["colleague"], lesson["id"], "submit").status_code in (403, 404)
    assert step(people["author"], lesson["id"], "submit").status_code == 200
    for name in ("approve", "return"):
        assert step(people["author"], lesson["id"], name, "Mine.").status_code == 403
        assert people["author"].post(f"/lessons/{lesson['id']}/{name}",
                                     data={"comment": "Mine."}).status_code == 403
    assert step(people["pmo"], lesson["id"], "approve").get_json()["status"] == "approved"
    # A second approval clashes with the status: 409, saying why.
    again = step(people["pmo"], lesson["id"], "approve")
    assert again.status_code == 409 and "Approved" in again.get_json()["error"]


def test_the_api_refuses_a_status_it_may_not_set(people):
    refused = people["author"].post("/api/v1/lessons", json={**LESSON, "status": "approved"})
    assert refused.status_code == 422 and "status" in refused.get_json()["fields"]
    assert log(people["pmo"], status="approved")["status"] == "approved"
    lesson = log(people["author"])
    assert lesson["status"] == "submitted"
    patched = people["author"].patch(f"/api/v1/lessons/{lesson['id']}", json={"status": "approved"})
    assert patched.status_code == 422 and "/approve" in patched.get_json()["fields"]["status"]
    returned = step(people["pmo"], lesson["id"], "return")
    assert returned.status_code == 422 and "comment" in returned.get_json()["fields"]
    odd = step(people["pmo"], lesson["id"], "return", comment=["a list"])
    assert odd.status_code == 422
    unknown = people["pmo"].post(f"/api/v1/lessons/{lesson['id']}/approve", json={"note": "x"})
    assert unknown.status_code == 422 and unknown.get_json()["fields"] == {"note": "Unknown field."}
    assert step(people["pmo"], 999_999, "approve").status_code == 404
    listed = people["pmo"].get("/api/v1/lessons?status=submitted").get_json()["items"]
    assert [item["id"] for item in listed] == [lesson["id"]]


def test_a_returned_lesson_shows_the_comment_and_goes_back_in_review(app, people):
    author, pmo = people["author"], people["pmo"]
    form = author.post("/lessons/new", data={**LESSON, "kind": "went_wrong",
                                             "severity": "high", "status": "submitted"})
    assert form.status_code == 303
    lesson_id = int(form.headers["Location"].rstrip("/").split("/")[-1])
    queue = pmo.get("/review").get_data(as_text=True)
    assert "Awaiting your review (1)" in queue and LESSON["title"] in queue
    assert ">Review <span class=\"count-badge\"" in queue
    # A return without a comment is refused and changes nothing.
    empty = pmo.post(f"/lessons/{lesson_id}/return", data={"comment": " ", "next": "/review"})
    assert empty.status_code == 422 and "Say what should change" in empty.get_data(as_text=True)
    assert author.get(f"/api/v1/lessons/{lesson_id}").get_json()["status"] == "submitted"
    sent = pmo.post(f"/lessons/{lesson_id}/return",
                    data={"comment": "Say which council and how long.", "next": "/review"})
    assert sent.status_code == 303 and sent.headers["Location"] == "/review"
    page = author.get(f"/lessons/{lesson_id}").get_data(as_text=True)
    assert "Returned for changes" in page and "Say which council and how long." in page
    assert "Your lessons not yet approved (1)" in author.get("/review").get_data(as_text=True)
    # Edited and sent again in the same click, saying what changed.
    edit = author.post(f"/lessons/{lesson_id}/edit", data={
        **LESSON, "what_happened": LESSON["what_happened"] + " Westminster took eight weeks.",
        "kind": "went_wrong", "severity": "high", "visibility": "organisation",
        "status": "submitted", "comment": "Named the council."})
    assert edit.status_code == 303
    assert author.get(f"/api/v1/lessons/{lesson_id}").get_json()["status"] == "submitted"
    assert pmo.post(f"/lessons/{lesson_id}/approve", data={}).status_code == 303
    history = author.get(f"/api/v1/lessons/{lesson_id}/reviews").get_json()["items"]
    assert [r["event"] for r in history] == ["submitted", "returned", "submitted", "approved"]
    assert history[1]["comment"] == "Say which council and how long."
    assert "Awaiting your review (0)" in pmo.get("/review").get_data(as_text=True)
    with app.app_context():
        actions = [e.action for e in db.session.query(AuditEvent).order_by(AuditEvent.id)
                   if e.action.startswith("lesson_")]
    assert actions == ["lesson_submit", "lesson_return", "lesson_submit", "lesson_edit",
                       "lesson_approve"]


def test_a_draft_saved_from_the_form_stays_a_draft(people):
    saved = people["author"].post("/lessons/new", data={**LESSON, "status": "draft"})
    assert saved.status_code == 303
    lesson_id = int(saved.headers["Location"].rstrip("/").split("/")[-1])
    page = people["author"].get(f"/lessons/{lesson_id}").get_data(as_text=True)
    assert "Only its author and the PMO see a draft" in page and "Submit for review" in page
    assert people["colleague"].get(f"/lessons/{lesson_id}").status_code == 404
    assert people["author"].post(f"/lessons/{lesson_id}/submit").status_code == 303
    assert people["colleague"].get(f"/lessons/{lesson_id}").status_code == 200


def lesson_ids_in_briefing(client, project_id):
    body = client.get(f"/api/v1/projects/{project_id}/briefing").get_json()
    return ([item["id"] for item in body["items"]],
            [item["id"] for item in body["new_since_kickoff"]])


def test_only_approved_lessons_feed_briefings_and_themes(client, runner):
    old = client.post("/api/v1/projects", json={"name": "Old tower"}).get_json()
    waiting = log(client, project_id=old["id"])
    approved = log(client, project_id=old["id"], status="approved", title="Crane lift plan "
                   "rejected", what_happened="The tower crane lift plan over the street was "
                   "rejected by the council twice.")
    project = client.post("/api/v1/projects", json={"name": "New tower",
                                                    "description": CHARTER}).get_json()
    briefed, _ = lesson_ids_in_briefing(client, project["id"])
    assert approved["id"] in briefed and waiting["id"] not in briefed
    assert runner.invoke(args=["themes", "--themes", "2"]).exit_code == 0
    themed = [lesson["id"] for theme in client.get("/api/v1/themes").get_json()["items"]
              for lesson in theme["lessons"]]
    assert approved["id"] in themed and waiting["id"] not in themed
    # Approved after the kickoff (by another reviewer: nobody approves their own lesson), it
    # joins a theme, and the briefing's watch finds it.
    assert step(signed_in(client.application, "pmo"), waiting["id"], "approve").status_code == 200
    themed = [lesson["id"] for theme in client.get("/api/v1/themes").get_json()["items"]
              for lesson in theme["lessons"]]
    assert waiting["id"] in themed
    _, fresh = lesson_ids_in_briefing(client, project["id"])
    assert fresh == [waiting["id"]]


def test_the_setting_lets_every_lesson_feed_briefings(backend, make_app):
    app = make_app(DATABASE_URL=backend.url, APPROVED_ONLY=False)
    client = signed_in(app, "pmo")
    old = client.post("/api/v1/projects", json={"name": "Old tower"}).get_json()
    waiting = log(client, project_id=old["id"])
    project = client.post("/api/v1/projects", json={"name": "New tower",
                                                    "description": CHARTER}).get_json()
    assert waiting["id"] in lesson_ids_in_briefing(client, project["id"])[0]


def test_imports_and_the_demo_arrive_approved(client, runner, tmp_path):
    path = tmp_path / "retro.csv"
    path.write_text("title,what happened\nLate permit,The permit took eight weeks.\n")
    assert runner.invoke(args=["import", str(path)]).exit_code == 0
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    statuses = {item["status"] for item in
                client.get("/api/v1/lessons?per_page=200").get_json()["items"]}
    assert statuses == {"approved"}


def test_the_pmo_report_shows_the_review_backlog(people):
    author, pmo = people["author"], people["pmo"]
    log(author, status="draft")
    log(author)
    returned = log(author)
    step(pmo, returned["id"], "return", comment="Add the cost.")
    log(pmo, status="approved")
    review = pmo.get("/api/v1/report").get_json()["review"]
    assert review == {"awaiting": 1, "returned": 1, "drafts": 1, "approved": 1,
                      "oldest_waiting_days": 0}
    assert "1 awaiting review</a> (all submitted today), 1 returned to its author" in \
        pmo.get("/pmo").get_data(as_text=True)
    assert "1 approved, 1 awaiting review (all submitted today), 1 returned to its author; " \
        "drafts: 1." in \
        pmo.get("/pmo/report.md").get_data(as_text=True)


def test_the_review_comments_are_between_the_author_and_the_pmo(people):
    lesson = log(people["author"])
    step(people["pmo"], lesson["id"], "return", comment="Too vague about the council.")
    for who, reads in (("author", True), ("pmo", True), ("colleague", False)):
        client = people[who]
        page = client.get(f"/lessons/{lesson['id']}").get_data(as_text=True)
        assert ("Too vague about the council." in page) is reads, who
        assert "Returned for changes" in page
        steps = client.get(f"/api/v1/lessons/{lesson['id']}/reviews").get_json()["items"]
        assert (len(steps) == 2) is reads and (steps == []) is not reads, who


def test_an_approved_lesson_changed_by_its_author_is_reviewed_again(people, runner):
    author, pmo = people["author"], people["pmo"]
    lesson = log(author)
    step(pmo, lesson["id"], "approve")
    assert runner.invoke(args=["themes", "--themes", "2"]).exit_code == 0
    log(pmo, status="approved", title="Another lesson", what_happened="Something else.")
    def themed():
        return [member["id"] for theme in pmo.get("/api/v1/themes").get_json()["items"]
                for member in theme["lessons"]]

    assert lesson["id"] in themed()
    # The PMO's own edit keeps it approved.
    assert pmo.patch(f"/api/v1/lessons/{lesson['id']}",
                     json={"severity": "high"}).get_json()["status"] == "approved"
    changed = author.patch(f"/api/v1/lessons/{lesson['id']}", json={"title": "Anything now"})
    assert changed.get_json()["status"] == "submitted"
    assert lesson["id"] not in themed()
    last = author.get(f"/api/v1/lessons/{lesson['id']}/reviews").get_json()["items"][-1]
    assert (last["event"], last["actor"]) == ("submitted", email_of(author))
    assert "after approval" in last["comment"]


def email_of(client):
    with client.application.app_context():
        return db.session.get(User, client.user_id).email


def test_of_two_reviewers_deciding_at_once_one_is_told(app, session):
    lesson = create_lesson(session, LESSON, actor="ann")
    session.commit()
    stale = session.get(Lesson, lesson.id)  # read before the other reviewer acts
    with app.extensions["lessons.db"][1]() as other:
        review_step(other, lesson.id, "approve", actor="bea")
        other.commit()
    assert stale.status == "submitted"  # this session has not seen the approval
    with pytest.raises(Conflict, match="“Approved”"):
        review_step(session, lesson.id, "return", actor="cy", data={"comment": "Too short."})
    assert [r.event for r in stale.reviews] == ["submitted", "approved"]


def test_a_draft_never_names_a_theme_even_when_every_lesson_feeds_them(backend, make_app):
    app = make_app(DATABASE_URL=backend.url, APPROVED_ONLY=False)
    author, colleague = signed_in(app, "contributor"), signed_in(app, "contributor")
    for n in range(3):
        log(author, status="draft", title=f"Zanzibarquux slip {n}",
            what_happened="The zanzibarquux vendor slipped again.")
        log(colleague, status="submitted", title=f"Permit late {n}",
            what_happened="The council permit came late.")
    assert app.test_cli_runner().invoke(args=["themes", "--themes", "2"]).exit_code == 0
    assert "zanzibarquux" not in colleague.get("/api/v1/themes").get_data(as_text=True).lower()
    assert "zanzibarquux" not in colleague.get("/themes").get_data(as_text=True).lower()


def test_nobody_approves_their_own_lesson(app, people):
    pmo, other = people["pmo"], signed_in(app, "admin")
    own = log(pmo)
    for reviewer in (pmo, signed_in(app, "admin")):
        mine = own if reviewer is pmo else log(reviewer)
        refused = step(reviewer, mine["id"], "approve")
        assert refused.status_code == 403
        assert "nobody approves their own lesson" in refused.get_json()["error"]
        page = reviewer.post(f"/lessons/{mine['id']}/approve", data={})
        assert page.status_code == 403
        assert "nobody approves their own lesson" in page.get_data(as_text=True)
        assert reviewer.get(f"/api/v1/lessons/{mine['id']}").get_json()["status"] == "submitted"
        # Not offered where it would be refused; returning it stays possible.
        shown = reviewer.get(f"/lessons/{mine['id']}").get_data(as_text=True)
        assert f"/lessons/{mine['id']}/approve" not in shown
        assert f"/lessons/{mine['id']}/return" in shown
    assert "Yours: another reviewer approves it." in pmo.get("/review").get_data(as_text=True)
    assert step(other, own["id"], "approve").get_json()["status"] == "approved"
    # The rule is the service's: every path that approves meets it.
    theirs, email = log(other), email_of(other)
    with app.app_context():
        with pytest.raises(Forbidden):
            review_step(db.session, theirs["id"], "approve", actor=email)
        db.session.rollback()
        assert db.session.get(Lesson, theirs["id"]).status == "submitted"


def test_a_single_pmo_organisation_may_approve_its_own_lessons_and_each_says_so(backend,
                                                                                 make_app):
    """With LESSONS_ALLOW_SELF_APPROVAL (off above: refused), the PMO approves their own
    lesson from the API and the page, and the step, the page and the audit row say so."""
    app = make_app(DATABASE_URL=backend.url, ALLOW_SELF_APPROVAL=True)
    pmo, author = signed_in(app, "pmo"), signed_in(app, "contributor")
    by_api, by_page, theirs = log(pmo), log(pmo, title="Hoarding licence lapsed"), log(author)
    approved = step(pmo, by_api["id"], "approve", "Checked against the permit log.")
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    assert f"/lessons/{by_page['id']}/approve" in pmo.get(f"/lessons/{by_page['id']}").get_data(
        as_text=True)  # offered, as it is allowed
    assert pmo.post(f"/lessons/{by_page['id']}/approve", data={}).status_code == 303
    assert step(pmo, theirs["id"], "approve").status_code == 200
    said = "Approved by its own author: this organisation allows it (LESSONS_ALLOW_SELF_APPROVAL)"
    for lesson, reply in ((by_api, " Checked against the permit log."), (by_page, ""),
                          (theirs, None)):
        last = pmo.get(f"/api/v1/lessons/{lesson['id']}/reviews").get_json()["items"][-1]
        own = reply is not None
        assert last["event"] == "approved"
        assert (last["comment"] or "").startswith(said) is own
        if own:
            assert last["comment"].endswith(f"single reviewer.{reply}")
        page = pmo.get(f"/lessons/{lesson['id']}").get_data(as_text=True)
        history = page.split('class="review-history"')[1].split("</section>")[0]
        assert (said in history) is own
    approvals = {row.target: row.detail or {} for row in audit_rows(app, "lesson_approve")}
    assert [(approvals[f"lesson {lesson['id']}"].get("self_approved"),
             approvals[f"lesson {lesson['id']}"].get("comment", "").startswith(said))
            for lesson in (by_api, by_page, theirs)] == [(True, True), (True, True), (None, False)]


def test_the_review_queue_says_who_submitted_what_for_which_project_and_how_long_ago(app, people):
    author, pmo = people["author"], people["pmo"]
    project = author.post("/api/v1/projects", json={"name": "Riverside tower"}).get_json()
    dated = log(author, project_id=project["id"])
    unnamed = log(pmo, title="Hoarding licence lapsed", author="")
    with app.app_context():
        db.session.get(Lesson, dated["id"]).status_since -= timedelta(days=3)
        db.session.commit()
    queue = pmo.get("/review").get_data(as_text=True)
    starts = [queue.index(f'id="review-{lesson["id"]}"') for lesson in (dated, unnamed)]
    first = queue[starts[0]:starts[1]]
    assert f"by {dated['author']}" in first and dated["author"] == email_of(author)
    assert "Riverside tower" in first and "waiting 3 days" in first
    second = queue[starts[1]:]
    assert f"by {email_of(pmo)}" in second and "no project" in second
    assert "waiting since today" in second


def submit_rows(app, lesson_id):
    return [row for row in audit_rows(app, "lesson_submit") if row.target == f"lesson {lesson_id}"]


def lesson_id_of(response):
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def test_every_submit_path_writes_exactly_one_submit_audit_row(app, people):
    author = people["author"]
    form = {**LESSON, "kind": "went_wrong", "severity": "high", "visibility": "organisation"}
    saved = lesson_id_of(author.post("/lessons/new", data={**form, "status": "submitted"}))
    drafted = lesson_id_of(author.post("/lessons/new", data={**form, "status": "draft"}))
    assert author.post(f"/lessons/{drafted}/submit").status_code == 303
    edited = lesson_id_of(author.post("/lessons/new", data={**form, "status": "draft"}))
    assert author.post(f"/lessons/{edited}/edit",
                       data={**form, "status": "submitted"}).status_code == 303
    by_api = log(author)["id"]
    api_draft = log(author, status="draft")["id"]
    assert step(author, api_draft, "submit").status_code == 200
    for lesson_id in (saved, drafted, edited, by_api, api_draft):
        rows = submit_rows(app, lesson_id)
        assert [(row.action, row.actor) for row in rows] == [
            ("lesson_submit", email_of(author))], lesson_id
    assert submit_rows(app, lesson_id_of(author.post("/lessons/new", data={
        **form, "status": "draft"}))) == []  # a draft is not submitted


def returned_lesson(people, comment="Say which council and how long."):
    lesson = log(people["author"])
    assert step(people["pmo"], lesson["id"], "return", comment).status_code == 200
    return lesson["id"]


def test_the_author_reads_the_return_comment_on_their_review_page_and_the_edit_form(people):
    lesson_id = returned_lesson(people)
    author = people["author"]
    review = author.get("/review").get_data(as_text=True)
    assert "Say which council and how long." in review
    # No one-click resubmit: the button sits in a form that asks what changed.
    mine = review[review.index('id="mine-heading"'):]
    assert f'action="/lessons/{lesson_id}/submit"' in mine
    assert re.search(r'<textarea[^>]*name="comment"[^>]*required', mine)
    edit = author.get(f"/lessons/{lesson_id}/edit").get_data(as_text=True)
    assert "Say which council and how long." in edit
    assert re.search(r'<textarea[^>]*name="comment"', edit)
    # The lesson page puts it in the review panel, right under the title.
    page = author.get(f"/lessons/{lesson_id}").get_data(as_text=True)
    assert page.index("<h1>") < page.index("Say which council") < page.index("What happened")


def test_resubmitting_a_returned_lesson_asks_what_changed_and_keeps_the_reply(app, people):
    author = people["author"]
    by_button, by_api, by_edit = (returned_lesson(people) for _ in range(3))
    refused = author.post(f"/lessons/{by_button}/submit", data={"comment": "  "})
    assert refused.status_code == 422 and "what you changed" in refused.get_data(as_text=True)
    assert step(author, by_api, "submit").status_code == 422
    form = {**LESSON, "title": "Permit for the crane came eight weeks late", "kind": "went_wrong",
            "severity": "high", "visibility": "organisation", "status": "submitted"}
    again = author.post(f"/lessons/{by_edit}/edit", data=form)
    assert again.status_code == 422 and "what you changed" in again.get_data(as_text=True)
    for lesson_id in (by_button, by_api, by_edit):  # nothing changed
        shown = author.get(f"/api/v1/lessons/{lesson_id}").get_json()
        assert (shown["status"], shown["title"]) == ("returned", LESSON["title"])

    assert author.post(f"/lessons/{by_button}/submit",
                       data={"comment": "Named Westminster."}).status_code == 303
    assert step(author, by_api, "submit", "Named Westminster.").status_code == 200
    assert author.post(f"/lessons/{by_edit}/edit",
                       data={**form, "comment": "Named Westminster."}).status_code == 303
    for lesson_id in (by_button, by_api, by_edit):
        last = author.get(f"/api/v1/lessons/{lesson_id}/reviews").get_json()["items"][-1]
        assert (last["event"], last["comment"]) == ("submitted", "Named Westminster.")
        assert submit_rows(app, lesson_id)[-1].detail == {"comment": "Named Westminster."}
    assert author.get(f"/api/v1/lessons/{by_edit}").get_json()["title"] == form["title"]
    # The reviewer reads the reply in the lesson's review history.
    assert "Named Westminster." in people["pmo"].get(f"/lessons/{by_button}").get_data(
        as_text=True)


def test_on_off_settings_are_read_strictly(tmp_path, monkeypatch):
    """The environment gives text: "False" must not switch self-approval on."""
    def settings() -> Config:
        app = Flask("settings", instance_path=str(tmp_path))
        load_settings(app, None)
        return app.config

    monkeypatch.setenv("LESSONS_ALLOW_SELF_APPROVAL", "False")
    assert settings()["ALLOW_SELF_APPROVAL"] is False
    monkeypatch.setenv("LESSONS_ALLOW_SELF_APPROVAL", " Yes ")
    assert settings()["ALLOW_SELF_APPROVAL"] is True
    monkeypatch.setenv("LESSONS_ANONYMOUS_READ", "maybe")
    with pytest.raises(ValueError, match="LESSONS_ANONYMOUS_READ must be true or false"):
        settings()
