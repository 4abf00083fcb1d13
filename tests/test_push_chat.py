"""Slack and Teams: approved organisation-wide lessons posted once per hook, as Block Kit and
as an Adaptive Card with a link back; the weekly PMO digest; nothing team-only, ever.

Hooks are added through the admin page, posts come from the real dispatcher and go out
through the real sender to HTTP receivers on loopback (test_webhooks.Receiver).
"""

import json
import time
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from conftest import Api, signed_in
from test_webhooks import Receiver, add_webhook, deliveries, run_push

from insights.trends import Windows, repeated_mistakes, theme_views
from lessons.models import utcnow
from push import chat
from push.digest import pmo_digest
from push.send import send_due
from web.queue import push_settings

# The canary: a team-only lesson whose title must never leave the app.
TEAM_ONLY = "Quillon depot road permit requested far too late"


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    found = {name: Receiver() for name in ("slack", "teams", "project", "webhook")}
    yield found
    for receiver in found.values():
        receiver.close()


@pytest.fixture
def app(backend, make_app):
    return make_app(DATABASE_URL=backend.url, WEBHOOK_ALLOW_PRIVATE=True, RETRY_SECONDS=0.05,
                    BASE_URL="http://lessons.test")


def add_hook(admin, kind: str, url: str, project_id: int | None = None) -> None:
    page = admin.post("/integrations/chat-hooks", data={
        "kind": kind, "url": url, "project_id": project_id or ""})
    assert page.status_code == 303, page.text


def sent_bodies(receivers: dict[str, Receiver]) -> list[bytes]:
    return [body for receiver in receivers.values() for _, body, _ in receiver.posts]


def test_an_approved_lesson_is_posted_once_to_each_hook_that_hears_of_it(app, receivers):
    admin = signed_in(app)
    api = Api(admin)
    depot = api.project("Depot")["id"]
    other = api.project("Ledger")["id"]
    add_hook(admin, "slack", receivers["slack"].url)
    add_hook(admin, "teams", receivers["teams"].url)
    add_hook(admin, "slack", receivers["project"].url, depot)
    add_hook(admin, "slack", "http://127.0.0.1:9/never", other)  # hears nothing here
    add_webhook(admin, receivers["webhook"].url, "lesson.approved", "action.created")
    run_push(app)  # what the set-up audited goes first: only the changes below are news

    lesson = api.lesson("Vendor <b>locked</b> our data in", "They said <!channel> & left.\n"
                        + "More detail. " * 60, project_id=depot, severity="high",
                        category="vendor & procurement", status="approved")
    hidden = api.lesson(TEAM_ONLY, "The council took eight weeks.", project_id=depot,
                        visibility="project", status="approved")
    api.post("actions", lesson_id=hidden["id"], description="Ask for permits early")
    api.lesson("A draft nobody sees yet", "Not approved.", status="draft")

    assert run_push(app) == 4  # Slack, Teams, the project's Slack, the webhook
    assert len(deliveries(app)) == 4  # none for the other project's hook
    assert run_push(app) == 0
    assert all(len(receivers[name].posts) == 1 for name in receivers)
    for body in sent_bodies(receivers):
        assert TEAM_ONLY.encode() not in body and b"draft nobody" not in body
    link = f"http://lessons.test/lessons/{lesson['id']}"

    slack = receivers["slack"].bodies()[0]
    assert receivers["project"].bodies() == [slack]
    header, section, context = slack["blocks"]
    assert header == {"type": "header", "text": {
        "type": "plain_text", "text": "Vendor <b>locked</b> our data in", "emoji": False}}
    summary = section["text"]["text"]
    assert "*Severity:* High" in summary and "*Project:* Depot" in summary
    assert "They said &lt;!channel&gt; &amp; left." in summary and "<!channel>" not in summary
    assert len(summary) < 500  # what happened, cut short
    assert context["elements"][0]["text"] == f"<{link}|Open the lesson> in Lessons"
    assert slack["text"].startswith(f"New lesson: <{link}|Vendor &lt;b&gt;locked")

    teams = receivers["teams"].bodies()[0]
    assert teams["type"] == "message"
    attachment = teams["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["body"][1]["text"] == "Vendor <b>locked</b> our data in"
    assert {"title": "Severity", "value": "High"} in card["body"][2]["facts"]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open the lesson",
                                "url": link}]
    assert receivers["webhook"].bodies()[0]["event"] == "lesson.approved"


def test_a_hook_that_fails_is_tried_again_and_shows_on_the_admin_page(app, receivers):
    admin = signed_in(app)
    add_hook(admin, "teams", receivers["teams"].url)
    run_push(app)
    Api(admin).lesson("Testing squeezed", "UAT cut to five days.", status="approved")
    receivers["teams"].status = 429
    assert run_push(app) == 0
    page = admin.get("/integrations/").text
    assert "429" in page and "New lesson: Testing squeezed" in page  # waiting, with its error
    assert receivers["teams"].url not in page  # a hook's URL is its secret: only its end shown
    receivers["teams"].status = 200
    time.sleep(0.06)  # the first wait: RETRY_SECONDS
    assert run_push(app) == 1
    assert [answer for _, _, answer in receivers["teams"].posts] == [429, 200]


def make_digest_data(client) -> dict[str, int]:
    """Four projects meeting the same permit mistake lately (the first time on a team-only
    lesson), an older testing theme, a lesson awaiting review and an overdue action."""
    api = Api(client)
    today = date.today()
    projects = [api.project(name)["id"] for name in ("Depot", "Ledger", "Portal", "Bridge")]
    body = "The council took eight weeks to grant the road permit, so works could not start."
    made = {"hidden": api.lesson(TEAM_ONLY, body, project_id=projects[0], visibility="project",
                                 occurred_on=(today - timedelta(days=30)).isoformat(),
                                 status="approved")["id"]}
    for number, project in enumerate(projects[1:]):
        made[f"permit{number}"] = api.lesson(
            "Road permit requested too late", body, project_id=project, status="approved",
            occurred_on=(today - timedelta(days=10 - number)).isoformat())["id"]
    for number in range(2):
        api.lesson("User acceptance testing squeezed", "UAT was cut to five days again.",
                   project_id=projects[number], status="approved",
                   occurred_on=(today - timedelta(days=120 + number)).isoformat())
    api.lesson("Waiting for the PMO", "Submitted, not reviewed yet.")
    api.post("actions", lesson_id=made["permit0"], description="Permit checklist",
             due_on="2020-01-01")
    return made


def test_the_pmo_digest_links_back_and_names_only_what_everyone_sees(app, receivers, runner):
    made = make_digest_data(signed_in(app, "pmo"))
    assert runner.invoke(args=["themes", "--themes", "2"]).exit_code == 0
    admin = signed_in(app)
    add_hook(admin, "slack", receivers["slack"].url)
    add_hook(admin, "teams", receivers["teams"].url)
    settings, sessions = push_settings(app), app.extensions["lessons.db"][1]
    with sessions() as session:
        # Unfiltered, the repeat's first lesson is the team-only one: the canary can sing.
        everything = repeated_mistakes(session, theme_views(session, Windows(date.today())))
        assert everything[0].lessons[0].title == TEAM_ONLY
        digest = pmo_digest(session, settings, utcnow())
        assert chat.queue_digest(session, settings, digest, "2030-W02") == 2
        assert chat.queue_digest(session, settings, digest, "2030-W02") == 0  # once a week
        session.commit()
    assert send_due(sessions, settings) == 2

    assert TEAM_ONLY not in digest.text
    for body in sent_bodies(receivers):
        assert TEAM_ONLY.encode() not in body
    assert "1 lesson awaiting review" in digest.headline
    assert "1 overdue action" in digest.headline and "1 repeated mistake" in digest.headline
    sections = {section.title: section for section in digest.sections}
    assert sections["Mistakes made again"].lines[0].url == (
        f"http://lessons.test/lessons/{made['permit0']}")
    assert sections["Rising themes"].lines[0].url.startswith("http://lessons.test/themes/")
    assert sections["Review backlog"].lines[0].url == "http://lessons.test/reviews"
    assert sections["Overdue actions"].lines[0].url == (
        "http://lessons.test/actions?status=open&overdue=true")

    slack = receivers["slack"].bodies()[0]
    assert slack["blocks"][0]["text"]["text"] == "PMO week 2030-W02"
    texts = json.dumps(slack["blocks"])
    assert f"<http://lessons.test/lessons/{made['permit0']}|Road permit requested too late" in texts
    assert "<http://lessons.test/reviews|1 lesson awaiting review" in texts
    teams = receivers["teams"].bodies()[0]["attachments"][0]["content"]
    assert teams["actions"][0]["url"] == "http://lessons.test/pmo"
    assert "(http://lessons.test/reviews)" in json.dumps(teams["body"])
