"""Notifications as a person sees them (issue 16): the bell and its count, the list, opening
one (inside the app only) and marking them read, the settings per channel, what one follows,
the Follow buttons on the pages, and the same through the JSON API.

Only the account's own notifications are shown or counted, and never one about a lesson
it may no longer see. The real dispatcher runs once, to show that following a category
is what brings a new lesson to the bell.
"""

import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from conftest import Api, signed_in
from jsonschema import Draft202012Validator
from sqlalchemy import select

from lessons.models import LessonTheme, Notification, Subscription, Theme, User, utcnow
from lessons.services.notifications import Notice, notify
from lessons.services.subscriptions import cadences, project_followers
from push import periodic
from push.dispatch import dispatch
from web.database import db
from web.queue import push_settings

HX = {"HX-Request": "true"}
CATEGORY = "vendor & procurement"


def tell(app, user_id: int, subject: str, *, link: str | None = "/lessons/",
         lesson_id: int | None = None, body: str = "What happened.") -> int:
    """A notification for the account, written as the dispatcher writes one; its id."""
    with app.app_context():
        user = db.session.get_one(User, user_id)
        row = notify(db.session, user, f"test:{uuid.uuid4().hex}",
                     Notice("test", subject, body, link, lesson_id))
        db.session.commit()
        assert row is not None
        return row.id


def html(response) -> str:
    return response.get_data(as_text=True)


def unread(app, notification_id: int) -> bool:
    with app.app_context():
        return db.session.get_one(Notification, notification_id).read_at is None


def followed(app, user_id: int) -> set[tuple[str, str]]:
    with app.app_context():
        return {(row.kind, row.target) for row in db.session.scalars(
            select(Subscription).where(Subscription.user_id == user_id))}


@pytest.fixture
def people(app):
    """Ben and Eve (contributors) and Pat (PMO), each signed in."""
    return {"ben": signed_in(app, "contributor", "ben@example.org", name="Ben Okafor"),
            "eve": signed_in(app, "contributor", "eve@example.org"),
            "pat": signed_in(app, "pmo", "pat@example.org", name="Pat Quinn")}


@pytest.fixture
def spec(client):
    return client.get("/api/v1/openapi.json").get_json()


def check(spec, body, schema):
    """Validate `body` against `schema`, which may name the document's components."""
    Draft202012Validator({**schema, "components": spec["components"]}).validate(body)
    return body


def test_the_bell_and_the_list_show_only_ones_own_notifications(app, people):
    ben, eve = people["ben"], people["eve"]
    tell(app, ben.user_id, "First for Ben")
    tell(app, ben.user_id, "Second for Ben", body="Line one\n<script>alert(1)</script>")
    tell(app, eve.user_id, "Only for Eve")

    home = html(ben.get("/"))
    assert "Notifications, 2 unread" in home and 'hx-trigger="every 60s"' in home
    assert 'id="bell-status"' in home  # the live region, outside the polled bell
    assert "Notifications, 1 unread" in html(eve.get("/"))
    page = html(ben.get("/notifications"))
    assert "First for Ben" in page and "Second for Ben" in page and "Only for Eve" not in page
    assert page.index("Second for Ben") < page.index("First for Ben")  # newest first
    assert page.count(">Unread</span>") == 2 and "2 unread" in page
    # The body is text: escaped, its lines kept by the stylesheet (pre-wrap).
    assert "Line one\n&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page

    # The poll: the bell again, and its count told in the live region only when it changed.
    same = html(ben.get("/notifications/bell?shown=2", headers=HX))
    assert same.lstrip().startswith('<a id="bell"') and "hx-swap-oob" not in same
    changed = html(ben.get("/notifications/bell?shown=1", headers=HX))
    assert 'id="bell-status" hx-swap-oob="innerHTML">2 unread notifications<' in changed
    # A visitor (a session that ended) gets htmx's "stop polling", not a sign-in redirect.
    visitor = app.test_client()
    assert visitor.get("/notifications/bell", headers=HX).status_code == 286
    assert 'id="bell"' not in html(visitor.get("/sign-in"))
    assert visitor.get("/notifications").status_code == 303


def test_a_notification_about_a_lesson_one_may_no_longer_see_is_neither_listed_nor_counted(
        app, people):
    ben, pat = people["ben"], people["pat"]
    project = Api(pat).project("Merger")
    lesson = Api(pat).lesson("Quiet merger lesson", "Hush.", project_id=project["id"],
                             status="approved")
    tell(app, ben.user_id, "About the merger lesson", link=f"/lessons/{lesson['id']}",
         lesson_id=lesson["id"])
    tell(app, ben.user_id, "About nothing in particular")
    assert "Notifications, 2 unread" in html(ben.get("/"))

    changed = pat.patch(f"/api/v1/lessons/{lesson['id']}", json={"visibility": "project"})
    assert changed.status_code == 200, changed.get_json()
    assert "Notifications, 1 unread" in html(ben.get("/"))
    page = html(ben.get("/notifications"))
    assert "About nothing in particular" in page and "merger" not in page
    listed = ben.get("/api/v1/notifications").get_json()
    assert (listed["total"], listed["unread"]) == (1, 1)
    # Pat, on the team, still reads hers (the PMO sees everything anyway).
    tell(app, pat.user_id, "About the merger lesson", lesson_id=lesson["id"])
    assert "About the merger lesson" in html(pat.get("/notifications"))


def test_opening_marks_read_and_goes_only_to_a_path_in_the_app(app, people):
    ben, eve = people["ben"], people["eve"]
    inside = tell(app, ben.user_id, "Inside", link="/lessons/12#actions")
    outside = {link: tell(app, ben.user_id, f"Outside {n}", link=link) for n, link in enumerate(
        ["https://evil.example/x", "//evil.example/x", "/\t/evil.example", "/\\evil.example",
         "javascript:alert(1)", None])}

    opened = ben.get(f"/notifications/{inside}/open")
    assert opened.status_code == 303 and opened.location == "/lessons/12#actions"
    assert not unread(app, inside)
    for link, notification_id in outside.items():
        response = ben.get(f"/notifications/{notification_id}/open")
        assert response.status_code == 303, link
        assert urlsplit(response.location).netloc == "" and \
            response.location == "/notifications", (link, response.location)
        assert not unread(app, notification_id)
    # No link to open on one without a link; someone else's cannot be opened.
    assert f"/notifications/{outside[None]}/open" not in html(ben.get("/notifications"))
    theirs = tell(app, eve.user_id, "Eve's")
    assert ben.get(f"/notifications/{theirs}/open").status_code == 404
    assert unread(app, theirs)
    assert ben.get("/notifications/99999999999999/open").status_code == 404


def test_mark_one_then_all_read(app, people):
    ben, eve = people["ben"], people["eve"]
    first, second, third = (tell(app, ben.user_id, f"Note {n}") for n in range(3))
    evening = tell(app, eve.user_id, "Eve's")
    one = ben.post("/notifications/read", data={"id": second, "next": "/notifications?page=1"})
    assert one.status_code == 303 and one.location == "/notifications?page=1"
    assert [unread(app, n) for n in (first, second, third)] == [True, False, True]
    assert ben.post("/notifications/read", data={"id": evening}).status_code == 303
    assert unread(app, evening)  # not Ben's to mark
    assert ben.post("/notifications/read", data={"id": "x1"}).status_code == 400
    everything = ben.post("/notifications/read", follow_redirects=True)
    assert "Marked all 2 notifications as read." in html(everything)
    assert not unread(app, first) and not unread(app, third) and unread(app, evening)
    page = html(ben.get("/notifications"))
    assert "Nothing unread" in page and "Mark all as read" not in page and ">Unread<" not in page
    assert "Notifications, " not in html(ben.get("/"))  # no count left on the bell


def test_an_empty_list_says_what_is_notified_and_links_to_the_settings(people):
    page = html(people["eve"].get("/notifications"))
    assert "No notifications yet" in page and "an action is given to you" in page
    assert 'href="/notifications/settings"' in page
    assert "There is no page 3" in html(people["eve"].get("/notifications?page=3"))


def test_follow_and_unfollow_each_kind_with_and_without_htmx(app, people):
    eve, pat = people["eve"], people["pat"]
    project = Api(pat).project("Hosting exit")["id"]
    lesson = Api(pat).lesson("Vendor kept our data", "Six weeks.", status="approved",
                             category=CATEGORY)["id"]
    with app.app_context():
        db.session.add(Theme(id=7, model="test", keywords=["vendor", "data", "exit"],
                             centroid=b""))
        db.session.flush()
        db.session.add(LessonTheme(lesson_id=lesson, theme_id=7, assigned="recompute"))
        db.session.commit()
    pages = {("project", str(project)): f"/projects/{project}",
             ("theme", "7"): "/themes/7",
             ("category", CATEGORY): "/lessons/?category=vendor+%26+procurement",
             ("search", "supplier held our data"): "/search?q=supplier+held+our+data"}
    for (kind, target), address in pages.items():
        page = html(eve.get(address))
        assert 'aria-pressed="false"' in page and ">Follow " in page, address
        # Without JavaScript: a post, and back to the page.
        done = eve.post("/follow", data={"kind": kind, "target": target, "next": address})
        assert done.status_code == 303 and done.location == address
        assert (kind, target) in followed(app, eve.user_id)
        page = html(eve.get(address))
        assert 'aria-pressed="true"' in page and "Following " in page, address
        # With htmx: the button alone, and the message for the live region beside it.
        swapped = eve.post("/unfollow", data={"kind": kind, "target": target, "next": address},
                           headers=HX)
        body = html(swapped)
        assert swapped.status_code == 200 and body.lstrip().startswith('<form class="follow-form"')
        assert 'aria-pressed="false"' in body and 'hx-swap-oob="innerHTML">You no longer follow' \
            in body
        assert (kind, target) not in followed(app, eve.user_id)
    # The lesson's page offers its category too.
    assert "Follow category “Vendor &amp; procurement”" in html(eve.get(f"/lessons/{lesson}"))
    # A followed search keeps its words' vector, for matching new lessons on meaning.
    eve.post("/follow", data={"kind": "search", "target": "  supplier   held our data "})
    with app.app_context():
        row = db.session.scalar(select(Subscription).where(Subscription.kind == "search"))
        assert row.target == "supplier held our data" and len(row.vector) == 384 * 4
        assert row.model == app.config["EMBEDDING_MODEL"]


def test_follow_refuses_what_cannot_be_followed_and_never_leaves_the_site(app, people):
    eve, pat = people["eve"], people["pat"]
    assert eve.post("/follow", data={"kind": "project", "target": "999"}).status_code == 404
    assert eve.post("/follow", data={"kind": "theme", "target": "42"}).status_code == 404
    assert eve.post("/unfollow", data={"kind": "project", "target": "x"}).status_code == 404
    empty = eve.post("/follow", data={"kind": "search", "target": "   "})
    assert empty.status_code == 400 and "needs words" in html(empty)
    inline = eve.post("/follow", data={"kind": "search", "target": ""}, headers=HX)
    assert inline.status_code == 400 and 'role="alert"' in html(inline)
    assert "<html" not in html(inline)  # a message where the button was, not a page
    assert eve.post("/follow", data={"kind": "person", "target": "1"}).status_code == 400
    assert eve.post("/follow", data={"kind": "category", "target": "gossip"}).status_code == 400
    assert eve.post("/follow", data={"kind": "search", "target": "x" * 201}).status_code == 400
    assert followed(app, eve.user_id) == set()
    project = Api(pat).project("Portal")["id"]
    away = eve.post("/follow", data={"kind": "project", "target": project,
                                     "next": "https://evil.example/"})
    assert away.status_code == 303 and away.location == f"/projects/{project}"
    # A visitor sees no button; signing in is needed to follow.
    visitor = app.test_client()
    assert visitor.post("/follow", data={"kind": "project", "target": project}
                        ).status_code in (302, 303, 400)
    assert followed(app, eve.user_id) == {("project", str(project))}


def test_a_team_member_follows_their_project_by_default_and_can_turn_it_off(app, people):
    pat, ben = people["pat"], people["ben"]
    project = Api(pat).project("Data centre move")["id"]  # its creator is on its team
    page = html(pat.get(f"/projects/{project}"))
    assert "Following this project (team)" in page and 'aria-pressed="true"' in page
    settings = html(pat.get("/notifications/settings"))
    assert "Data centre move" in settings and "your team" in settings

    off = pat.post("/unfollow", data={"kind": "project", "target": project}, headers=HX)
    assert 'aria-pressed="false"' in html(off) and "Follow this project" in html(off)
    with app.app_context():
        assert pat.user_id not in project_followers(db.session, project)
    settings = html(pat.get("/notifications/settings"))
    assert "your team; turned off" in settings and "Follow again" in settings
    pat.post("/follow", data={"kind": "project", "target": project})
    with app.app_context():
        assert pat.user_id in project_followers(db.session, project)
    assert "Following this project (team)" in html(pat.get(f"/projects/{project}"))
    # Ben, not on the team, follows it by choice; no "(team)" for him.
    ben.post("/follow", data={"kind": "project", "target": project})
    page = html(ben.get(f"/projects/{project}"))
    assert "Following this project<" in page.replace("\n", "") or \
        "Following this project</button>" in page


def test_settings_are_saved_per_channel_and_bad_input_changes_nothing(app, people):
    eve = people["eve"]
    page = html(eve.get("/notifications/settings"))
    assert "Email is off on this server; an admin sets <code>LESSONS_SMTP_URL</code>" in page
    assert 'name="in_app" value="immediately" checked' in page
    assert 'name="email" value="daily" checked' in page
    for channel in ("in_app", "email"):  # the four choices on each channel
        for value in ("immediately", "daily", "weekly", "off"):
            assert f'name="{channel}" value="{value}"' in page, (channel, value)
    assert "You follow nothing yet" in page

    saved = eve.post("/notifications/settings", data={"in_app": "off", "email": "weekly"})
    assert saved.status_code == 303
    with app.app_context():
        assert cadences(db.session, eve.user_id) == {"in_app": "off", "email": "weekly"}
    for bad in ({"in_app": "hourly", "email": "off"}, {"in_app": "immediately"},
                {"in_app": "immediately", "email": "hourly"}):
        refused = eve.post("/notifications/settings", data=bad)
        body = html(refused)
        assert refused.status_code == 422 and "Nothing was saved" in body, bad
        assert 'class="error" id=' in body and 'aria-describedby="' in body
        with app.app_context():
            assert cadences(db.session, eve.user_id) == {"in_app": "off", "email": "weekly"}
    # What one follows, each with its Unfollow.
    eve.post("/follow", data={"kind": "category", "target": CATEGORY})
    page = html(eve.get("/notifications/settings"))
    assert "Vendor &amp; procurement" in page and "Unfollow" in page
    eve.post("/unfollow", data={"kind": "category", "target": CATEGORY,
                                "next": "/notifications/settings"})
    assert "You follow nothing yet" in html(eve.get("/notifications/settings"))


def test_the_email_note_goes_once_the_server_sends_email(backend, make_app):
    app = make_app(DATABASE_URL=backend.url, SMTP_URL="smtp://mail.example.org:25")
    page = html(signed_in(app, "contributor").get("/notifications/settings"))
    assert "Email is off on this server" not in page
    admin_page = html(signed_in(app, "admin").get("/integrations/"))
    assert '<p id="email-state">Email is on: notifications' in admin_page


def test_the_integrations_page_says_email_is_off_without_an_smtp_server(app):
    page = html(signed_in(app, "admin").get("/integrations/"))
    assert '<p id="email-state">Email is off: set LESSONS_SMTP_URL to turn it on.</p>' in page
    assert "Email is on" not in page


def test_the_api_lists_marks_sets_and_follows(app, people, spec):
    ben, pat = people["ben"], people["pat"]
    ids = [tell(app, ben.user_id, f"Note {n}") for n in range(3)]
    tell(app, people["eve"].user_id, "Eve's")
    listed = check(spec, ben.get("/api/v1/notifications?per_page=2").get_json(),
                   spec["paths"]["/notifications"]["get"]["responses"]["200"]["content"]
                   ["application/json"]["schema"])
    assert (listed["total"], listed["pages"], listed["unread"]) == (3, 2, 3)
    assert [item["subject"] for item in listed["items"]] == ["Note 2", "Note 1"]
    assert ben.get("/api/v1/notifications?page=x").status_code == 422

    one = ben.post("/api/v1/notifications/read", json={"id": ids[0]}).get_json()
    assert one == {"marked": 1, "unread": 2}
    assert ben.post("/api/v1/notifications/read", json={"id": "1"}).status_code == 422
    assert ben.post("/api/v1/notifications/read", json={"all": True}).status_code == 422
    assert ben.post("/api/v1/notifications/read").get_json() == {"marked": 2, "unread": 0}

    settings = ben.get("/api/v1/notifications/settings").get_json()
    check(spec, settings, {"$ref": "#/components/schemas/NotificationSettings"})
    assert settings == {"in_app": "immediately", "email": "daily", "email_available": False}
    assert ben.put("/api/v1/notifications/settings", json={"email": "weekly"}
                   ).get_json()["email"] == "weekly"
    refused = ben.put("/api/v1/notifications/settings", json={"in_app": "off", "email": 3})
    assert refused.status_code == 422 and set(refused.get_json()["fields"]) == {"email"}
    assert ben.get("/api/v1/notifications/settings").get_json()["in_app"] == "immediately"

    project = Api(pat).project("Warehouse")["id"]
    made = ben.post("/api/v1/subscriptions", json={"kind": "project", "target": project})
    assert made.status_code == 201
    check(spec, made.get_json(), {"$ref": "#/components/schemas/Subscription"})
    assert made.get_json()["label"] == "Warehouse"
    assert ben.post("/api/v1/subscriptions", json={"kind": "project", "target": str(project)}
                    ).status_code == 200
    assert ben.post("/api/v1/subscriptions", json={"kind": "category", "target": CATEGORY}
                    ).status_code == 201
    assert ben.post("/api/v1/subscriptions", json={"kind": "project", "target": 999}
                    ).status_code == 404
    bad = ben.post("/api/v1/subscriptions", json={"kind": "search", "target": " "})
    assert bad.status_code == 422 and "target" in bad.get_json()["fields"]
    assert ben.post("/api/v1/subscriptions", json={"kind": "x"}).status_code == 422
    mine = ben.get("/api/v1/subscriptions").get_json()
    assert [(row["kind"], row["label"]) for row in mine["items"]] == [
        ("project", "Warehouse"), ("category", "Vendor & procurement")]
    gone = ben.delete("/api/v1/subscriptions", json={"kind": "category", "target": CATEGORY})
    assert gone.status_code == 204
    assert ben.get("/api/v1/subscriptions").get_json()["total"] == 1
    # Pat's own project, followed as its team.
    team = pat.get("/api/v1/subscriptions").get_json()["items"]
    assert team == [{"kind": "project", "target": str(project), "label": "Warehouse",
                     "link": f"/projects/{project}", "team": True, "following": True}]


def test_a_visitor_reading_anonymously_has_no_notifications(backend, make_app):
    app = make_app(DATABASE_URL=backend.url, ANONYMOUS_READ=True)
    visitor = app.test_client()
    assert visitor.get("/api/v1/notifications").status_code == 401
    assert visitor.get("/api/v1/subscriptions").status_code == 401
    assert visitor.get("/notifications").status_code == 303
    assert visitor.get("/notifications/settings").status_code == 303
    assert visitor.get("/notifications/bell").status_code == 286
    assert 'id="bell"' not in html(visitor.get("/lessons/"))


def test_following_a_category_brings_a_newly_approved_lesson_to_the_bell(app, people):
    ben, eve, pat = people["ben"], people["eve"], people["pat"]
    settings = push_settings(app)
    ben.post("/follow", data={"kind": "category", "target": CATEGORY})
    with app.app_context():
        assert dispatch(db.session, settings) == 0  # the first run only sets where it starts
    drafted = Api(eve).lesson("Supplier held our data hostage", "Six weeks of waiting.",
                              category=CATEGORY)
    approved = pat.post(f"/api/v1/lessons/{drafted['id']}/approve")
    assert approved.status_code == 200, approved.get_json()
    Api(pat).lesson("Crane booked for the wrong week", "Standby for five days.",
                    category="schedule", status="approved")
    with app.app_context():
        dispatch(db.session, settings)

    assert "Notifications, 1 unread" in html(ben.get("/"))
    page = html(ben.get("/notifications"))
    assert "New lesson: Supplier held our data hostage" in page and "Crane" not in page
    assert "It is in vendor &amp; procurement, a category you follow." in page
    with app.app_context():
        note = db.session.scalar(select(Notification).where(
            Notification.user_id == ben.user_id))
        assert note is not None and note.link == f"/lessons/{drafted['id']}"
    opened = ben.get(f"/notifications/{note.id}/open")
    assert opened.location == f"/lessons/{drafted['id']}"
    assert "Notifications, " not in html(ben.get("/"))


def test_a_daily_in_app_digest_holds_the_news_and_lists_it_in_one_notice(app, people):
    ben, eve, pat = people["ben"], people["eve"], people["pat"]
    settings = push_settings(app)
    saved = ben.post("/notifications/settings", data={"in_app": "daily", "email": "daily"})
    assert saved.status_code == 303
    ben.post("/follow", data={"kind": "category", "target": CATEGORY})
    with app.app_context():
        dispatch(db.session, settings)  # the first run only sets where it starts
    titles = ["Supplier held our data hostage", "Exit clause missing from the contract",
              "Canary: the vendor kept the team's backups"]
    ids = [Api(pat).lesson(title, "Six weeks of waiting.", category=CATEGORY,
                           status="approved")["id"] for title in titles]
    with app.app_context():
        dispatch(db.session, settings)
    assert "Notifications, " not in html(ben.get("/"))  # held for the digest
    assert "No notifications yet" in html(ben.get("/notifications"))
    # The canary becomes team-only on a project Ben is not on: it drops out of his digest.
    sealed = Api(pat).project("Sealed programme")["id"]
    assert pat.patch(f"/api/v1/lessons/{ids[2]}", json={
        "project_id": sealed, "visibility": "project"}).status_code == 200

    tomorrow = utcnow() + timedelta(days=1)
    with app.app_context():
        assert periodic.in_app_digests(db.session, settings, tomorrow) == 1
        assert periodic.in_app_digests(db.session, settings, tomorrow) == 0  # once
        db.session.commit()
    listed = ben.get("/api/v1/notifications").get_json()
    [digest] = listed["items"]
    assert listed["unread"] == 1 and digest["subject"].startswith("Your daily digest: 2 updates")
    assert digest["body"] == "2 updates — see the list."  # titles only on its page
    assert eve.get(f"/notifications/{digest['id']}/digest").status_code == 404
    opened = ben.get(f"/notifications/{digest['id']}/open")
    assert opened.location == f"/notifications/{digest['id']}/digest"
    page = html(ben.get(opened.location))
    assert titles[0] in page and titles[1] in page and "Canary" not in page
    assert page.count('class="notification read"') == 2
    assert "Notifications, " not in html(ben.get("/"))  # opening it read it


def digest_run(app, now) -> int:
    """Run the in-app digests due at `now`, committed; how many were written."""
    with app.app_context():
        written = periodic.in_app_digests(db.session, push_settings(app), now)
        db.session.commit()
        return written


def test_a_lesson_hidden_after_its_digest_leaves_no_title_behind(app, people):
    ben, pat = people["ben"], people["pat"]
    assert ben.post("/notifications/settings",
                    data={"in_app": "daily", "email": "daily"}).status_code == 303
    titles = ["Supplier held our data hostage", "Canary: the vendor kept the team's backups",
              "Sparrow: the deleted lesson"]
    ids = [Api(pat).lesson(title, "Six weeks of waiting.", status="approved")["id"]
           for title in titles]
    for title, lesson_id in zip(titles, ids, strict=True):
        tell(app, ben.user_id, title, link=f"/lessons/{lesson_id}", lesson_id=lesson_id)
    assert digest_run(app, utcnow() + timedelta(days=1)) == 1
    [digest] = ben.get("/api/v1/notifications").get_json()["items"]
    assert digest["subject"].startswith("Your daily digest: 3 updates")
    # Written while Ben could see all three; then one turns team-only, another is deleted.
    sealed = Api(pat).project("Sealed programme")["id"]
    assert pat.patch(f"/api/v1/lessons/{ids[1]}", json={
        "project_id": sealed, "visibility": "project"}).status_code == 200
    assert pat.delete(f"/api/v1/lessons/{ids[2]}").status_code == 200

    inbox = html(ben.get("/notifications"))
    listed = ben.get("/api/v1/notifications").get_data(as_text=True)
    page = html(ben.get(f"/notifications/{digest['id']}/digest"))
    assert "Your daily digest: 3 updates" in inbox and titles[0] in page
    for seen_by_ben_no_more in ("Canary", "Sparrow"):
        for shown in (inbox, listed, page):
            assert seen_by_ben_no_more not in shown


def test_a_notice_committed_after_its_digest_ran_goes_in_the_next_one(app, people):
    ben = people["ben"]
    assert ben.post("/notifications/settings",
                    data={"in_app": "daily", "email": "daily"}).status_code == 303
    tell(app, ben.user_id, "Told before the first digest")
    tomorrow = utcnow() + timedelta(days=1)
    assert digest_run(app, tomorrow) == 1
    [first] = ben.get("/api/v1/notifications").get_json()["items"]
    # Stamped before that digest's time, but its transaction committed after the digest's.
    late = tell(app, ben.user_id, "Stamped before the digest, committed after it")
    with app.app_context():
        note = db.session.get_one(Notification, late)
        note.created_at = db.session.get_one(Notification, first["id"]).created_at - timedelta(
            seconds=1)
        db.session.commit()

    assert digest_run(app, tomorrow + timedelta(days=1)) == 1
    assert digest_run(app, tomorrow + timedelta(days=1)) == 0  # gathered once
    second, _ = ben.get("/api/v1/notifications").get_json()["items"]
    assert second["subject"].startswith("Your daily digest: 1 update ")
    page = html(ben.get(f"/notifications/{second['id']}/digest"))
    assert "Stamped before the digest" in page and "Told before the first" not in page
    first_page = html(ben.get(f"/notifications/{first['id']}/digest"))
    assert "Told before the first" in first_page and "Stamped before" not in first_page
