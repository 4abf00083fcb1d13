"""Who logged a lesson: its author is the signed-in account unless the PMO records it for
someone else, and the lesson page shows what is known without stray separators."""

import re

from conftest import signed_in

from lessons.models import User
from lessons.services import create_lesson
from web.database import db

LESSON = {"title": "Scaffold permit lapsed", "kind": "went_wrong", "severity": "medium",
          "what_happened": "The scaffold permit lapsed over the holidays and work stopped."}


def label_of(client):
    with client.application.app_context():
        return db.session.get(User, client.user_id).label


def test_the_capture_form_and_the_service_take_the_author_from_the_account(app):
    ann = signed_in(app, "contributor", "ann@example.org", name="Ann Okafor")
    form = ann.get("/lessons/new").get_data(as_text=True)
    assert re.search(r'<input type="text" id="author" name="author" value="Ann Okafor" readonly',
                     form)
    # Left blank (an API client, a form without the field), the service fills it in.
    by_api = ann.post("/api/v1/lessons", json={k: LESSON[k] for k in ("title", "what_happened")})
    assert by_api.status_code == 201 and by_api.get_json()["author"] == "Ann Okafor"
    by_form = ann.post("/lessons/new", data={**LESSON, "author": "", "status": "submitted"})
    assert by_form.status_code == 303
    page = ann.get(by_form.headers["Location"]).get_data(as_text=True)
    assert "logged by Ann Okafor" in page
    # Without a name, the account's email.
    bo = signed_in(app, "contributor", "bo@example.org")
    assert bo.post("/api/v1/lessons", json={**LESSON, "author": None}).get_json()["author"] == \
        "bo@example.org"


def test_only_the_pmo_records_a_lesson_for_someone_else(app):
    ann = signed_in(app, "contributor", "ann@example.org", name="Ann Okafor")
    refused = ann.post("/api/v1/lessons", json={**LESSON, "author": "Somebody Else"})
    assert refused.status_code == 422
    message = refused.get_json()["fields"]["author"]
    assert "only the PMO records a lesson for someone else" in message
    form = ann.post("/lessons/new", data={**LESSON, "author": "Somebody Else"})
    assert form.status_code == 422 and "only the PMO" in form.get_data(as_text=True)
    assert ann.get("/api/v1/lessons").get_json()["total"] == 0  # nothing was saved
    # Their own name or email, in any case, is theirs.
    assert ann.post("/api/v1/lessons", json={**LESSON, "author": "ANN@example.org"}
                    ).status_code == 201
    mine = ann.post("/api/v1/lessons", json=LESSON).get_json()
    changed = ann.patch(f"/api/v1/lessons/{mine['id']}", json={"author": "Somebody Else"})
    assert changed.status_code == 422 and "author" in changed.get_json()["fields"]
    # The PMO may, on their own capture and on others' records.
    pmo = signed_in(app, "pmo", "pmo@example.org")
    form = pmo.get("/lessons/new").get_data(as_text=True)
    assert 'value="pmo@example.org" readonly' not in form
    recorded = pmo.post("/api/v1/lessons", json={**LESSON, "author": "Site foreman"})
    assert recorded.status_code == 201 and recorded.get_json()["author"] == "Site foreman"
    fixed = pmo.patch(f"/api/v1/lessons/{mine['id']}", json={"author": "Ann O. and Raj P."})
    assert fixed.status_code == 200 and fixed.get_json()["author"] == "Ann O. and Raj P."
    # The owner's own later edit keeps the name the PMO gave.
    kept = ann.patch(f"/api/v1/lessons/{mine['id']}", json={"author": "Ann O. and Raj P.",
                                                           "severity": "high"})
    assert kept.status_code == 200 and kept.get_json()["author"] == "Ann O. and Raj P."


def test_the_lesson_page_leaves_no_separator_dangling(app, client):
    project = client.post("/api/v1/projects", json={"name": "Harbour wall"}).get_json()
    cases = [({"project_id": project["id"], "occurred_on": "2024-03-01"},
              "Harbour wall · happened 2024-03-01"),
             ({"occurred_on": "2024-03-01"}, "happened 2024-03-01"),
             ({"project_id": project["id"], "external_id": "HW-1"},
              "Harbour wall · external id <code>HW-1</code>"),
             ({"external_id": "HW-2"}, "external id <code>HW-2</code>")]
    with app.app_context():
        # No account (an import, the CLI): the author stays blank.
        ids = [create_lesson(db.session, {**LESSON, **values}, actor="import").id
               for values, _ in cases]
        db.session.commit()
    for lesson_id, (_, expected) in zip(ids, cases, strict=True):
        page = client.get(f"/lessons/{lesson_id}").get_data(as_text=True)
        meta = re.search(r'<h1>.*?</h1>\s*<p class="meta">(.*?)</p>', page, re.S).group(1)
        text = re.sub(r"<a [^>]*>|</a>", "", meta).strip()
        assert text == expected, text
        assert not re.search(r"·\s*$", text) and not text.startswith("·")
    signed = client.post("/api/v1/lessons", json={**LESSON, "project_id": project["id"]})
    page = client.get(f"/lessons/{signed.get_json()['id']}").get_data(as_text=True)
    assert f"Harbour wall</a> · logged by {label_of(client)}" in page
