"""Who is told what: the dispatcher reads the audit log into notifications, once each.

An approved lesson reaches its author and whoever follows its project, category, theme, a
search it matches or a live project whose kickoff it matches; never the reviewer who
approved it, never someone who may not see it. Returns, assigned actions, actions coming
due, and lessons waiting past the review target reach the people they concern. Running
the dispatcher or the periodic work again tells nobody twice.
"""

from datetime import UTC, datetime, timedelta

import pytest
from conftest import Api, signed_in
from sqlalchemy import select, update

from lessons.models import (
    Action,
    AuditEvent,
    ChatHook,
    Delivery,
    Lesson,
    LessonTheme,
    Notification,
    PushCursor,
    Theme,
    User,
    Webhook,
    utcnow,
)
from lessons.services.lessons import create_lesson
from lessons.services.notifications import Notice, add_delivery, claim, finish, notify
from lessons.services.projects import add_member
from lessons.services.subscriptions import follow, set_cadence
from push import periodic
from push.dispatch import HANDLERS, dispatch
from web.database import db
from web.engine import engine
from web.queue import push_settings

HOSTAGE = {"title": "The hosting vendor would not hand back our data at contract end",
           "what_happened": "When we ended the hosting contract the supplier charged for every "
                            "export and held our customer records for six weeks before the "
                            "handover.",
           "category": "vendor & procurement"}
CRANE = "tower crane permit from the city council"


@pytest.fixture
def run(app):
    """Run the dispatcher as the worker does."""
    settings = push_settings(app)

    def dispatched() -> int:
        with app.app_context():
            return dispatch(db.session, settings)

    return dispatched


def told(app, user_id: int) -> list[Notification]:
    with app.app_context():
        rows = list(db.session.scalars(select(Notification).where(
            Notification.user_id == user_id).order_by(Notification.id)))
        db.session.expunge_all()
        return rows


def follow_as(app, user_id: int, kind: str, target: str) -> None:
    with app.app_context():
        user = db.session.get_one(User, user_id)

        def encode(words: str) -> tuple[bytes, str]:
            return engine().embedder.encode([words])[0].tobytes(), engine().model

        follow(db.session, user, kind, target, encode)
        db.session.commit()


def approve(pmo, lesson_id: int) -> None:
    response = pmo.post(f"/api/v1/lessons/{lesson_id}/approve")
    assert response.status_code == 200, response.get_json()


def test_an_approved_lesson_tells_its_author_and_its_followers_once(app, run):
    author, pmo = signed_in(app, "contributor"), signed_in(app, "pmo")
    fans = {name: signed_in(app, "contributor").user_id
            for name in ("category", "search", "member", "crane", "bystander")}
    project = Api(pmo).project("Hosting exit")
    with app.app_context():
        email = db.session.get_one(User, fans["member"]).email
        add_member(db.session, project["id"], email)
        db.session.commit()
    follow_as(app, fans["category"], "category", "vendor & procurement")
    follow_as(app, fans["search"], "search", "supplier kept our data hostage")
    follow_as(app, fans["crane"], "search", CRANE)
    follow_as(app, pmo.user_id, "category", "vendor & procurement")
    lesson = Api(author).lesson(**HOSTAGE, project_id=project["id"])
    assert run() == 0  # a submit tells nobody
    approve(pmo, lesson["id"])
    assert run() == 1

    [mine] = told(app, author.user_id)
    assert mine.kind == "approved" and mine.subject.startswith("Your lesson was approved")
    assert mine.link == f"/lessons/{lesson['id']}"
    reasons = {"category": "a category you follow", "search": "your followed search",
               "member": "which you follow"}
    for name, reason in reasons.items():
        [notice] = told(app, fans[name])
        assert notice.kind == "new_lesson" and HOSTAGE["title"] in notice.subject
        assert reason in notice.body, (name, notice.body)
    assert told(app, fans["crane"]) == [] and told(app, fans["bystander"]) == []
    assert told(app, pmo.user_id) == []  # the reviewer approved it: no news to them

    with app.app_context():  # the look-back window reads the same rows again: no one twice
        db.session.execute(update(PushCursor).values(audit_id=0))
        db.session.commit()
    before = sum(len(told(app, uid)) for uid in [author.user_id, *fans.values()])
    run()
    run()
    assert sum(len(told(app, uid)) for uid in [author.user_id, *fans.values()]) == before


def test_a_team_only_lesson_reaches_its_team_and_nobody_else(app, run):
    author, pmo = signed_in(app, "contributor"), signed_in(app, "pmo")
    outsider, member = signed_in(app, "contributor"), signed_in(app, "contributor")
    project = Api(author).project("Canary programme")
    with app.app_context():
        add_member(db.session, project["id"], db.session.get_one(User, member.user_id).email)
        db.session.commit()
    for fan in (outsider, member):
        follow_as(app, fan.user_id, "category", "vendor & procurement")
        follow_as(app, fan.user_id, "search", "supplier kept our data hostage")
    canary = {**HOSTAGE, "title": "Canary: the vendor held the data hostage"}
    lesson = Api(author).lesson(**canary, project_id=project["id"], visibility="project")
    approve(pmo, lesson["id"])
    run()
    assert told(app, outsider.user_id) == []
    [notice] = told(app, member.user_id)
    assert "Canary" in notice.subject


def test_a_returned_lesson_and_a_given_action_reach_who_they_concern(app, run):
    author, pmo, owner = (signed_in(app, role) for role in ("contributor", "pmo", "contributor"))
    lesson = Api(author).lesson(**HOSTAGE)
    response = pmo.post(f"/api/v1/lessons/{lesson['id']}/return",
                        json={"comment": "Say what the exit clause should have said."})
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        owner_email = db.session.get_one(User, owner.user_id).email
        author_email = db.session.get_one(User, author.user_id).email
    for who in (owner_email, author_email):  # given to someone else, then to oneself
        assert author.post("/api/v1/actions", json={
            "lesson_id": lesson["id"], "description": f"Write an exit clause ({who})",
            "owner": who, "due_on": str(utcnow().date() + timedelta(days=20))}
        ).status_code == 201
    run()
    [returned] = told(app, author.user_id)
    assert returned.kind == "returned" and "exit clause should have said" in returned.body
    [given] = told(app, owner.user_id)
    assert given.kind == "action" and "Write an exit clause" in given.subject


def test_actions_coming_due_and_reviews_waiting_are_told_once(app, run):
    author, pmo = signed_in(app, "contributor"), signed_in(app, "pmo")
    lesson = Api(author).lesson(**HOSTAGE)
    with app.app_context():
        email = db.session.get_one(User, author.user_id).email
    today = utcnow().date()
    for days in (2, -1, 10):
        assert author.post("/api/v1/actions", json={
            "lesson_id": lesson["id"], "description": f"Action in {days} days",
            "owner": email, "due_on": str(today + timedelta(days=days))}).status_code == 201
    with app.app_context():  # submitted a week ago: past the 5-day review target
        db.session.execute(update(Lesson).values(status_since=utcnow() - timedelta(days=7)))
        db.session.commit()
    settings = push_settings(app)
    for _ in range(2):
        with app.app_context():
            periodic.action_reminders(db.session, settings, utcnow())
            periodic.review_backlog(db.session, settings, utcnow())
            db.session.commit()
    kinds = sorted(n.kind for n in told(app, author.user_id))
    assert kinds == ["action_due", "action_overdue"]
    [late] = told(app, pmo.user_id)
    assert late.kind == "review_late" and "7 days" in late.subject


def test_a_theme_follower_is_told_once_that_the_lesson_joined_the_theme(app, run):
    author, pmo, fan = (signed_in(app, role) for role in ("contributor", "pmo", "contributor"))
    with app.app_context():  # the one live theme: an approved lesson joins it
        centroid = engine().embedder.encode([HOSTAGE["what_happened"]])[0]
        db.session.add(Theme(id=3, model=engine().model, name="Vendors holding data",
                             keywords=["vendor", "data"],
                             centroid=centroid.astype("float32").tobytes()))
        db.session.commit()
    follow_as(app, fan.user_id, "theme", "3")
    lesson = Api(author).lesson(**HOSTAGE)
    approve(pmo, lesson["id"])
    run()
    run()
    with app.app_context():
        assert db.session.get_one(LessonTheme, lesson["id"]).theme_id == 3
    [notice] = told(app, fan.user_id)
    assert notice.kind == "new_lesson" and notice.lesson_id == lesson["id"]
    assert "It joined the theme “Vendors holding data”, which you follow." in notice.body


def test_the_weekly_pmo_digest_goes_on_mondays_once(app):
    pmo = [signed_in(app, "pmo").user_id for _ in range(2)]
    contributor = signed_in(app, "contributor")
    project = Api(contributor).project("Depot upgrade")
    with app.app_context():
        for kind in ("slack", "teams"):
            db.session.add(ChatHook(kind=kind, url=f"http://127.0.0.1:9/{kind}",
                                    created_by="test"))
        db.session.add(ChatHook(kind="slack", url="http://127.0.0.1:9/project",
                                project_id=project["id"], created_by="test"))
        db.session.commit()
    monday = datetime(2026, 12, 7, 6, tzinfo=UTC)
    week = monday.strftime("%G-W%V")
    settings = push_settings(app)
    with app.app_context():
        everyone_pmo = set(db.session.scalars(select(User.id).where(User.role == "pmo")))
        told_per_run = []
        for now in (monday - timedelta(days=6), monday, monday + timedelta(hours=3),
                    monday + timedelta(days=1)):  # Tuesday, Monday, Monday again, Tuesday
            told_per_run.append(periodic.weekly_pmo(db.session, settings, now))
            db.session.commit()
        posts = [(d.channel, d.target) for d in db.session.scalars(
            select(Delivery).order_by(Delivery.id))]
    assert told_per_run == [0, len(everyone_pmo), 0, 0]
    assert set(pmo) <= everyone_pmo
    for user_id in everyone_pmo:
        [notice] = told(app, user_id)
        assert notice.kind == "pmo_weekly" and notice.subject.startswith(f"PMO week {week}: ")
        assert notice.link == "/pmo" and "Rising themes:" in notice.body
    assert told(app, contributor.user_id) == []
    # The organisation's hooks, once each; a project's hook gets no PMO digest.
    assert posts == [("slack", "http://127.0.0.1:9/slack"), ("teams", "http://127.0.0.1:9/teams")]


def test_new_since_kickoff_reaches_the_team_of_a_live_project_it_matches(app, run, client):
    pmo, member = signed_in(app, "pmo"), signed_in(app, "contributor")
    project = Api(client).project(
        "Leaving our hosting provider", status="active",
        description="We move off a hosting supplier whose contract ends this year: get our "
                    "customer data exported and handed over without paying ransom fees.")
    with app.app_context():
        add_member(db.session, project["id"], db.session.get_one(User, member.user_id).email)
        db.session.commit()
    assert client.get(f"/api/v1/projects/{project['id']}/briefing").status_code == 200
    other = Api(client).project("Data centre migration")
    lesson = Api(signed_in(app, "contributor")).lesson(**HOSTAGE, project_id=other["id"])
    approve(pmo, lesson["id"])
    run()
    [notice] = told(app, member.user_id)
    assert "new since the kickoff of Leaving our hosting provider" in notice.body


def test_who_turned_every_channel_off_is_not_told(app, run):
    author, pmo = signed_in(app, "contributor"), signed_in(app, "pmo")
    with app.app_context():
        for channel in ("in_app", "email"):
            set_cadence(db.session, author.user_id, channel, "off")
        db.session.commit()
    lesson = Api(author).lesson(**HOSTAGE)
    approve(pmo, lesson["id"])
    run()
    assert told(app, author.user_id) == []


def test_a_deleted_action_or_lesson_tells_nobody(app, run):
    author, pmo = signed_in(app, "contributor"), signed_in(app, "pmo")
    lesson = Api(author).lesson(**HOSTAGE)
    approve(pmo, lesson["id"])
    assert pmo.delete(f"/api/v1/lessons/{lesson['id']}").status_code == 200
    run()
    assert told(app, author.user_id) == []
    with app.app_context():
        assert db.session.scalar(select(Action)) is None


def test_imported_history_is_not_news(app, run, runner, tmp_path):
    fan = signed_in(app, "contributor")
    follow_as(app, fan.user_id, "category", "vendor & procurement")
    rows = tmp_path / "old.csv"
    rows.write_text("title,what_happened,category\n"
                    f"{HOSTAGE['title']},{HOSTAGE['what_happened']},vendor & procurement\n")
    result = runner.invoke(args=["import", str(rows)])
    assert result.exit_code == 0, result.output
    run()
    assert told(app, fan.user_id) == []


def test_a_write_rolled_back_leaves_no_notification_behind(session):
    """One INSERT … ON CONFLICT, not a savepoint: pysqlite commits a savepoint that opens a
    transaction, which kept the row of a caller that then rolled back."""
    user = session.get_one(User, make_user_in(session))
    notify(session, user, "once", Notice("approved", "Subject", "Body"))
    session.rollback()
    assert session.scalar(select(Notification)) is None
    assert notify(session, user, "once", Notice("approved", "Subject", "Body")) is not None
    assert notify(session, user, "once", Notice("approved", "Subject", "Body")) is None


def make_user_in(session) -> int:
    from lessons.services.users import create_user

    user = create_user(session, "rolled@example.org", "contributor", "a long password here",
                       actor="test set-up")
    session.commit()
    return user.id


def test_a_sender_whose_claim_lapsed_cannot_overwrite_the_next_claim(app):
    sessions = app.extensions["lessons.db"][1]
    with sessions() as setup:
        add_delivery(setup, "email:lapse", "email", "a@example.org", "Subject", {})
        setup.commit()
        delivery_id = setup.scalar(select(Delivery.id))
    with sessions() as slow, sessions() as fast:  # two senders, in two processes
        first = claim(slow, delivery_id, utcnow(), timedelta(0))
        second = claim(fast, delivery_id, utcnow() + timedelta(seconds=1), timedelta(minutes=5))
        assert first is not None and second is not None  # the first claim lapsed: taken over
        assert not finish(slow, first, status="sent")  # the slow sender's word no longer counts
        assert finish(fast, second, status="sent")


def test_an_action_closed_through_the_api_reaches_webhooks_once(app, run):
    pmo = signed_in(app, "pmo")
    lesson = Api(pmo).lesson(**HOSTAGE, status="approved")
    with app.app_context():
        db.session.add(Webhook(url="http://127.0.0.1:9/hook", events=["action.closed"],
                               secret="s", created_by="test"))
        db.session.commit()
    action = pmo.post("/api/v1/actions", json={"lesson_id": lesson["id"],
                                               "description": "Write an exit clause"})
    assert action.status_code == 201
    path = f"/api/v1/actions/{action.get_json()['id']}"
    assert pmo.patch(path, json={"status": "done"}).status_code == 200
    assert pmo.patch(path, json={"description": "Wrote the exit clause"}).status_code == 200
    run()
    with app.app_context():
        events = [d.payload["body"]["event"] for d in db.session.scalars(select(Delivery))]
    assert events == ["action.closed"]


def test_an_owner_who_may_not_see_the_lesson_is_told_without_its_name(app, run):
    author, outsider = signed_in(app, "contributor"), signed_in(app, "contributor")
    project = Api(author).project("Sealed programme")
    lesson = Api(author).lesson(**{**HOSTAGE, "title": "Sealed: the vendor held our data"},
                                project_id=project["id"], visibility="project")
    with app.app_context():
        db.session.add(Action(lesson_id=lesson["id"], description="Sealed step", status="open",
                              owner_id=outsider.user_id, due_on=utcnow().date()))
        db.session.commit()
        periodic.action_reminders(db.session, push_settings(app), utcnow())
        db.session.commit()
    [notice] = told(app, outsider.user_id)
    assert "Sealed" not in notice.subject + notice.body and notice.lesson_id is None
    assert notice.link == "/actions/mine"


def test_an_approval_waits_for_its_vectors_or_embeds_them_itself(app, run):
    author = signed_in(app, "contributor")
    with app.app_context():  # approved by a path that indexes nothing afterwards
        lesson = create_lesson(db.session, HOSTAGE, actor="pmo@example.org",
                               owner_id=author.user_id, status="approved")
        db.session.commit()
        settings = push_settings(app)
        assert dispatch(db.session, settings) == 0  # not embedded yet: kept for later
        assert told(app, author.user_id) == []
        assert dispatch(db.session, settings, catch_up=engine().ready) == 1
        lesson_id = lesson.id
    [notice] = told(app, author.user_id)
    assert notice.lesson_id == lesson_id


def test_a_row_that_failed_is_tried_again_however_old(app, run, monkeypatch):
    author, pmo = signed_in(app, "contributor"), signed_in(app, "pmo")
    lesson = Api(author).lesson(**HOSTAGE)
    approve(pmo, lesson["id"])
    with app.app_context():  # written a while ago: past the window that reads rows again
        db.session.execute(update(AuditEvent).values(at=utcnow() - timedelta(minutes=30)))
        db.session.commit()

    def broken(batch, row):
        raise RuntimeError("the mail template is missing")

    monkeypatch.setitem(HANDLERS, "lesson_approve", broken)
    run()
    assert told(app, author.user_id) == []
    monkeypatch.undo()
    run()
    assert [n.kind for n in told(app, author.user_id)] == ["approved"]
