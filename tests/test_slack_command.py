"""Slack's `/lesson <text>`: a signed request from a linked Slack user saves a draft as their
account and answers with a link and the most similar lessons they may read; an unsigned,
stale or replayed request, or one from a Slack user nobody linked, saves nothing."""

import hashlib
import hmac
import time
from urllib.parse import urlencode

import pytest
from conftest import Api, audit_rows, make_user, signed_in
from sqlalchemy import func, select

from lessons.models import Lesson

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_USER = "U0123ABCD"
TEXT = ("The vendor changed their API without notice. Our release slipped two weeks while we "
        "rewrote the integration & retested it.")


@pytest.fixture
def app(backend, make_app):
    return make_app(DATABASE_URL=backend.url, SLACK_SIGNING_SECRET=SECRET,
                    BASE_URL="http://lessons.test")


@pytest.fixture
def world(app):
    """A contributor linked to a Slack user by an admin, an organisation-wide lesson like the
    one they will type, and a team-only one like it on a project they are not on."""
    admin = signed_in(app)
    author = make_user(app, "contributor", "casey@example.org")
    linked = admin.post("/integrations/slack-users", data={"slack_user_id": SLACK_USER.lower(),
                                                           "email": "Casey@example.org"})
    assert linked.status_code == 303
    api = Api(admin)
    project = api.project("Depot")["id"]
    shared = api.lesson("Vendor API changed without notice",
                        "The supplier changed their API and our integration broke.",
                        status="approved")
    hidden = api.lesson("Canary: team-only vendor API change",
                        "The supplier changed their API without warning; integration broke.",
                        project_id=project, visibility="project", status="approved")
    return {"author": author, "shared": shared["id"], "hidden": hidden["id"]}


def command(client, text: str = TEXT, user_id: str = SLACK_USER, *,
            timestamp: int | None = None, secret: str = SECRET, body: bytes | None = None):
    """POST the command as Slack does: form-encoded, signed with `secret` at `timestamp`."""
    body = body or urlencode({"token": "x", "team_id": "T1", "user_id": user_id,
                              "command": "/lesson", "text": text}).encode()
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    signature = "v0=" + hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body,
                                 hashlib.sha256).hexdigest()
    return client.post("/integrations/slack/command", data=body, headers={
        "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature},
        content_type="application/x-www-form-urlencoded"), body, stamp, signature


def lesson_count(app) -> int:
    with app.extensions["lessons.db"][1]() as session:
        return session.scalar(select(func.count(Lesson.id)))


def test_a_linked_user_saves_a_draft_and_sees_similar_lessons(app, world):
    response, *_ = command(app.test_client())

    assert response.status_code == 200, response.get_json()
    reply = response.get_json()
    assert reply["response_type"] == "ephemeral"
    with app.extensions["lessons.db"][1]() as session:
        draft = session.scalars(select(Lesson).order_by(Lesson.id.desc())).first()
        assert (draft.status, draft.owner_id) == ("draft", world["author"])
        assert draft.title == "The vendor changed their API without notice."
        assert draft.what_happened == TEXT
        assert draft.author == "casey@example.org"
    saved, similar = reply["blocks"]
    assert f"<http://lessons.test/lessons/{draft.id}|" in saved["text"]["text"]
    assert f"<http://lessons.test/lessons/{world['shared']}|" in similar["text"]["text"]
    assert "Canary" not in str(reply) and f"/lessons/{world['hidden']}|" not in str(reply)
    assert f"lessons/{draft.id}|" not in similar["text"]["text"]  # not like itself
    assert [row.actor for row in audit_rows(app, "slack_link")] != []


def test_refused_requests_save_nothing(app, world):
    client = app.test_client()
    before = lesson_count(app)

    forged, *_ = command(client, secret="not-the-secret")
    assert forged.status_code == 401 and "signature" in forged.get_json()["text"]
    stale, *_ = command(client, timestamp=int(time.time()) - 301)
    assert stale.status_code == 401 and "too old" in stale.get_json()["text"]
    stranger, *_ = command(client, user_id="U9999STRANGER")
    assert stranger.status_code == 200 and "ask an admin" in stranger.get_json()["text"]
    empty, *_ = command(client, text="  ")
    assert empty.status_code == 200 and "Type what happened" in empty.get_json()["text"]
    assert lesson_count(app) == before

    first, body, stamp, signature = command(client)
    assert first.status_code == 200 and lesson_count(app) == before + 1
    replayed = client.post("/integrations/slack/command", data=body, headers={
        "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature},
        content_type="application/x-www-form-urlencoded")
    assert replayed.status_code == 409 and "answered already" in replayed.get_json()["text"]
    assert lesson_count(app) == before + 1


def test_the_command_is_off_without_a_signing_secret(backend, make_app):
    app = make_app(DATABASE_URL=backend.url)
    response, *_ = command(app.test_client(), secret="")
    assert response.status_code == 404 and "LESSONS_SLACK_SIGNING_SECRET" in response.get_json()[
        "text"]
    assert lesson_count(app) == 0


def test_an_unlinked_slack_user_is_refused_from_then_on(app, world):
    admin = signed_in(app)
    assert admin.post(f"/integrations/slack-users/{SLACK_USER}/delete").status_code == 303
    before = lesson_count(app)
    response, *_ = command(app.test_client())
    assert "not linked" in response.get_json()["text"] and lesson_count(app) == before
    refused = admin.post("/integrations/slack-users", data={"slack_user_id": "not an id",
                                                            "email": "nobody@example.org"})
    assert refused.status_code == 422
    assert "Slack member id" in refused.text and "No enabled account" in refused.text
