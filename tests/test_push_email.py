"""Email end to end: a real SMTP server on loopback receives what the real dispatcher, digest
writer and sender send, and every assertion is on what it received.

An email at once and a digest, both multipart with absolute links and RFC 8058's one-click
unsubscribe; the unsubscribe link works without signing in and a tampered one changes
nothing; a digest groups by project, goes out once however often its task runs, and waits
while the mail server is down; a team-only lesson never reaches an outsider's mailbox.
"""

import smtplib
import socket
import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from conftest import Api, make_user, signed_in
from itsdangerous import URLSafeSerializer
from sqlalchemy import event, select

from lessons.models import Delivery, Notification, Preference, User, utcnow
from lessons.services.lessons import create_lesson
from lessons.services.notifications import Notice, notify
from lessons.services.projects import add_member
from lessons.services.subscriptions import cadence, follow, set_cadence
from push import email
from push.config import PushSettings
from push.dispatch import dispatch
from push.send import send_due
from web.database import db
from web.queue import push_settings

BASE_URL = "http://lessons.test"
TOMORROW = timedelta(days=1)


def free_port() -> int:
    """A loopback port nobody listens on (the Controller cannot pick one itself)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """A real SMTP server on loopback, and every email it accepted, as parsed."""

    def __init__(self, **smtp_options: object) -> None:
        self.port = free_port()
        self.options = smtp_options
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.raw: list[bytes] = []
        self.controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's hook
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        self.received.append((list(envelope.rcpt_tos), parsed))
        self.raw.append(envelope.content)
        return "250 Message accepted"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **self.options)
        self.controller.start()

    def stop(self) -> None:
        assert self.controller is not None
        self.controller.stop()
        self.controller = None

    def to(self, address: str) -> list[EmailMessage]:
        """The emails whose envelope went to `address`, in the order they came."""
        return [message for recipients, message in self.received if address in recipients]


@pytest.fixture
def inbox():
    box = Inbox()
    box.start()
    yield box
    if box.controller is not None:
        box.stop()


@pytest.fixture
def mail_app(backend, make_app, inbox):
    """The app, sending email to `inbox`, retrying after 50 ms."""
    return make_app(DATABASE_URL=backend.url, SMTP_URL=f"smtp://127.0.0.1:{inbox.port}",
                    BASE_URL=BASE_URL, RETRY_SECONDS=0.05)


class World:
    """Accounts and projects, set up through the API, and the push steps the worker runs."""

    def __init__(self, app) -> None:
        self.app = app
        self.author = signed_in(app, "contributor", "ada@example.org", name="Ada Author")
        self.pmo = signed_in(app, "pmo", "pat@example.org")
        self.apollo = Api(self.author).project("Apollo")["id"]
        self.borealis = Api(self.author).project("Borealis")["id"]

    def account(self, email_address: str, email_cadence: str | None = None,
                follows: tuple[str, ...] = (), **fields) -> int:
        """A new contributor following these projects ("project:<id>") or categories."""
        user_id = make_user(self.app, "contributor", email_address, **fields)
        with self.app.app_context():
            user = db.session.get_one(User, user_id)
            for followed in follows:
                kind, _, target = followed.partition(":")
                follow(db.session, user, kind, target)
            if email_cadence:
                set_cadence(db.session, user_id, "email", email_cadence)
            db.session.commit()
        return user_id

    def approved(self, title: str, **values) -> int:
        """A lesson by the author, approved by the PMO; its id."""
        lesson = Api(self.author).lesson(title, f"What happened: {title.lower()}.", **values)
        response = self.pmo.post(f"/api/v1/lessons/{lesson['id']}/approve")
        assert response.status_code == 200, response.get_json()
        return int(lesson["id"])

    def dispatch(self) -> None:
        with self.app.app_context():
            dispatch(db.session, push_settings(self.app))

    def send(self) -> int:
        return send_due(self.app.extensions["lessons.db"][1], push_settings(self.app))

    def digests(self, now: datetime) -> int:
        with self.app.app_context():
            written = email.queue_digests(db.session, push_settings(self.app), now)
            db.session.commit()
            return written

    def delivery(self, key: str) -> Delivery:
        with self.app.app_context():
            found = db.session.scalar(select(Delivery).where(Delivery.key == key))
            assert found is not None, f"no delivery {key}"
            db.session.expunge(found)
            return found

    def cadence(self, user_id: int) -> str:
        with self.app.app_context():
            return cadence(db.session, user_id, "email")


def parts(message: EmailMessage) -> dict[str, str]:
    """The email's text and HTML, decoded, with its lines ending as Python's do."""
    assert message.get_content_type() == "multipart/alternative"
    found = {part.get_content_type(): part.get_content().replace("\r\n", "\n")
             for part in message.iter_parts()}
    assert set(found) == {"text/plain", "text/html"}
    return found


def everything(message: EmailMessage) -> str:
    """Every header and every part of the email, decoded: what a canary must be absent from."""
    headers = "\n".join(f"{name}: {value}" for name, value in message.items())
    bodies = [part.get_content() for part in message.walk() if part.get_content_maintype()
              == "text"]
    return "\n".join([headers, *bodies])


def unsubscribe_path(message: EmailMessage) -> str:
    header = str(message["List-Unsubscribe"])
    assert header.startswith(f"<{BASE_URL}/unsubscribe/") and header.endswith(">")
    return urlsplit(header[1:-1]).path


def test_an_immediate_email_is_multipart_with_absolute_links_and_one_click_unsubscribe(
        mail_app, inbox):
    world = World(mail_app)
    fred = world.account("fred@example.org", "immediately", (f"project:{world.apollo}",),
                         name="Fred Follower")
    lesson = world.approved("Supplier shipped firmware late", project_id=world.apollo)
    world.dispatch()
    assert world.send() == 1

    [message] = inbox.to("fred@example.org")
    assert inbox.to("ada@example.org") == []  # the author's default is the daily digest
    assert message["Subject"] == "New lesson: Supplier shipped firmware late"
    assert message["To"] == "Fred Follower <fred@example.org>"
    assert message["From"] == "Lessons <lessons@localhost>"
    assert message["Date"] is not None
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Auto-Submitted"] == "auto-generated"
    text, html = parts(message).values()
    lesson_url = f"{BASE_URL}/lessons/{lesson}"
    unsubscribe_url = f"{BASE_URL}{unsubscribe_path(message)}"
    # On the wire as mail clients read it: one line, not folded or RFC 2047-encoded.
    assert f"\r\nList-Unsubscribe: <{unsubscribe_url}>\r\n".encode() in inbox.raw[0]
    assert "Supplier shipped firmware late" in text and lesson_url in text
    assert f"{BASE_URL}/notifications/settings" in text and unsubscribe_url in text
    assert "It was logged on Apollo, which you follow." in text
    assert f'href="{lesson_url}"' in html and f'href="{unsubscribe_url}"' in html
    assert f'href="{BASE_URL}/notifications/settings"' in html

    with mail_app.app_context():
        told = db.session.scalars(select(Notification).where(Notification.user_id == fred)).one()
        sent = db.session.get_one(Delivery, told.delivery_id)
        assert (sent.key, sent.status, sent.target) == (
            f"email:notification:{told.id}", "sent", "fred@example.org")
        # The same Message-ID whenever it is sent, so a receiver can tell a re-send.
        assert message["Message-ID"] == email.message_id(sent.key, push_settings(mail_app))
        assert email.email_message(sent, push_settings(mail_app))["Message-ID"] == \
            message["Message-ID"]
    assert world.send() == 0
    assert len(inbox.received) == 1


def test_a_daily_digest_groups_by_project_and_goes_out_once(mail_app, inbox):
    now = utcnow()
    world = World(mail_app)
    reader = world.account("rita@example.org", None, (
        f"project:{world.apollo}", f"project:{world.borealis}", "category:schedule"))
    gone = world.account("gone@example.org", None, (f"project:{world.apollo}",))
    world.approved("Borealis cabling was wrong", project_id=world.borealis)
    world.approved("Apollo went over budget", project_id=world.apollo)
    world.approved("Schedules slip at year end", category="schedule")
    world.dispatch()
    with mail_app.app_context():
        db.session.get_one(User, gone).disabled_at = utcnow()
        db.session.commit()

    assert world.digests(now) == 0  # today's notices wait for tomorrow's digest
    assert world.digests(now + TOMORROW) == 2  # the reader's and the author's
    assert world.digests(now + TOMORROW) == 0
    assert world.send() == 2
    assert world.send() == 0

    [digest] = inbox.to("rita@example.org")
    assert inbox.to("gone@example.org") == []
    assert len(inbox.to("ada@example.org")) == 1
    assert digest["Subject"].startswith("Your Lessons daily digest: 3 updates (")
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(digest).values()
    order = ["Apollo\n", "Apollo went over budget", "Borealis\n", "Borealis cabling was wrong",
             "Across projects\n", "Schedules slip at year end"]
    positions = [text.index(words) for words in order]
    assert positions == sorted(positions), text
    assert f"{BASE_URL}/lessons/" in text and f"{BASE_URL}/notifications/settings" in text
    for name in ("Apollo", "Borealis", "Across projects"):
        assert f">{name}</h2>" in html

    key = f"email:digest:{reader}:daily:{(now + TOMORROW).date().isoformat()}"
    digest_row = world.delivery(key)
    assert digest_row.status == "sent"
    with mail_app.app_context():
        linked = set(db.session.scalars(select(Notification.delivery_id).where(
            Notification.user_id == reader)))
    assert linked == {digest_row.id}

    # A notice from before the period, committed after its digest went (a slow transaction):
    # not lost, and no second digest for the period; it goes in the next one.
    with mail_app.app_context():
        late = notify(db.session, db.session.get_one(User, reader), "test:late", Notice(
            "pmo_weekly", "A late notice", "It committed late."))
        assert late is not None
        late.created_at = now - timedelta(hours=1)
        db.session.commit()
    assert world.digests(now + TOMORROW) == 0
    assert world.digests(now + 2 * TOMORROW) == 1
    world.send()
    assert [m["Subject"] for m in inbox.to("rita@example.org")][1].startswith(
        "Your Lessons daily digest: 1 update (")


def test_a_weekly_digest_goes_out_on_monday_for_the_week_before(mail_app, inbox):
    world = World(mail_app)
    reader = world.account("wendy@example.org", "weekly", (f"project:{world.apollo}",))
    world.approved("Apollo kickoff skipped the risk log", project_id=world.apollo)
    world.dispatch()
    monday = datetime.combine(utcnow().date(), datetime.min.time(), UTC) + TOMORROW
    while monday.weekday() != 0:
        monday += TOMORROW
    world.digests(monday - TOMORROW + timedelta(hours=12))  # a Sunday: no weekly digest yet
    world.send()
    assert inbox.to("wendy@example.org") == []

    world.digests(monday + timedelta(hours=9))
    world.send()
    [digest] = inbox.to("wendy@example.org")
    assert digest["Subject"].startswith("Your Lessons weekly digest: 1 update (week ")
    assert "Apollo kickoff skipped the risk log" in parts(digest)["text/plain"]
    world.delivery(f"email:digest:{reader}:weekly:{monday:%G-W%V}")


def test_turning_a_digest_to_immediately_sends_what_waited_in_one_catch_up(mail_app, inbox):
    world = World(mail_app)
    reader = world.account("ivy@example.org", "daily", (f"project:{world.apollo}",))
    # Email off, the app only: turning email on later sends nothing from before.
    quiet = world.account("quinn@example.org", "off", (f"project:{world.apollo}",))
    with mail_app.app_context():  # the author's digest would be due past midnight
        set_cadence(db.session, world.author.user_id, "email", "immediately")
        db.session.commit()
    world.approved("Apollo lost a week to the permit", project_id=world.apollo)
    world.dispatch()
    with mail_app.app_context():
        for user_id in (reader, quiet):
            set_cadence(db.session, user_id, "email", "immediately")
        db.session.commit()
    world.approved("Apollo's crane came late", project_id=world.apollo)
    world.dispatch()  # emailed at once: the new cadence

    later = utcnow() + timedelta(minutes=1)
    assert world.digests(later) == 1
    assert world.digests(later + timedelta(minutes=15)) == 0  # nothing waits twice
    world.send()
    subjects = [m["Subject"] for m in inbox.to("ivy@example.org")]
    assert len(subjects) == 2, subjects
    catch_up = next(m for m in inbox.to("ivy@example.org")
                    if m["Subject"].startswith("Your Lessons catch-up: 1 update ("))
    text = parts(catch_up)["text/plain"]
    assert "Apollo lost a week to the permit" in text and "crane" not in text
    assert [m["Subject"] for m in inbox.to("quinn@example.org")] == [
        next(s for s in subjects if "crane" in s)]


def test_digest_periods_are_utc_days_and_iso_weeks():
    monday = email.due_periods(datetime(2026, 12, 7, 23, 59, tzinfo=UTC))
    assert [(p.cadence, p.label, p.start) for p in monday] == [
        ("daily", "2026-12-07", datetime(2026, 12, 7, tzinfo=UTC)),
        ("weekly", "2026-W50", datetime(2026, 12, 7, tzinfo=UTC))]
    # Monday morning in Kiribati is still Sunday in UTC: no weekly digest yet.
    kiribati = datetime.fromisoformat("2026-12-07T09:00+14:00")
    assert [p.label for p in email.due_periods(kiribati)] == ["2026-12-06"]
    assert [p.label for p in email.due_periods(datetime(2027, 1, 4, tzinfo=UTC))] == [
        "2027-01-04", "2027-W01"]


def test_the_unsubscribe_link_works_without_signing_in_and_stops_the_next_digest(
        mail_app, inbox):
    world = World(mail_app)
    reader = world.account("una@example.org", None, (f"project:{world.apollo}",))
    world.approved("Apollo lost its test rig", project_id=world.apollo)
    world.dispatch()
    now = utcnow()
    world.digests(now + TOMORROW)
    world.send()
    [digest] = inbox.to("una@example.org")
    path = unsubscribe_path(digest)
    assert f"{BASE_URL}{path}" in parts(digest)["text/plain"]

    stranger = mail_app.test_client()  # no session, no CSRF token: a mail client
    page = stranger.get(path)
    assert page.status_code == 200
    assert 'method="post"' in page.text and "Stop email" in page.text
    assert "una@example.org" in page.text
    assert world.cadence(reader) == "daily"  # opening the link changes nothing

    done = stranger.post(path, data="List-Unsubscribe=One-Click",
                         content_type="application/x-www-form-urlencoded")
    assert done.status_code == 200
    assert "You will get no more email from Lessons" in done.text
    assert 'href="/notifications/settings"' in done.text
    assert world.cadence(reader) == "off"

    world.approved("Apollo lost its second test rig", project_id=world.apollo)
    world.dispatch()
    world.digests(now + 2 * TOMORROW)
    world.send()
    assert len(inbox.to("ada@example.org")) == 2  # digests still go out, to the author
    assert len(inbox.to("una@example.org")) == 1


@pytest.mark.parametrize("spoil", [
    lambda key, user_id, token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
    lambda key, user_id, token: token.split(".")[0],
    lambda key, user_id, token: email.unsubscribe_token("another instance's key", user_id),
    lambda key, user_id, token: URLSafeSerializer(key, salt="unsubscribe").dumps(
        [user_id, "in_app"]),  # genuine, but not an email link
    lambda key, user_id, token: URLSafeSerializer(key, salt="other").dumps([user_id, "email"]),
], ids=["altered", "cut", "other-key", "other-channel", "other-salt"])
def test_a_tampered_unsubscribe_link_is_refused_and_changes_nothing(app, spoil):
    reader = make_user(app, "contributor", "tess@example.org")
    key = push_settings(app).secret_key
    token = email.unsubscribe_token(key, reader)
    stranger = app.test_client()
    bad = spoil(key, reader, token)
    for response in (stranger.get(f"/unsubscribe/{bad}"), stranger.post(
            f"/unsubscribe/{bad}", data={"List-Unsubscribe": "One-Click"})):
        assert response.status_code == 400
        assert "This unsubscribe link is not valid" in response.text
    with app.app_context():
        assert db.session.scalars(select(Preference)).all() == []
    # The genuine link does work: the refusals above were the token's doing.
    assert stranger.post(f"/unsubscribe/{token}").status_code == 200
    with app.app_context():
        assert cadence(db.session, reader, "email") == "off"


def test_a_link_for_an_account_that_is_gone_is_refused(app):
    token = email.unsubscribe_token(push_settings(app).secret_key, 999_999)
    assert app.test_client().post(f"/unsubscribe/{token}").status_code == 400


def test_with_the_mail_server_down_the_digest_waits_and_arrives_once_it_is_back(
        mail_app, inbox):
    world = World(mail_app)
    reader = world.account("dora@example.org", None, (f"project:{world.apollo}",))
    world.approved("Apollo's vendor went bankrupt", project_id=world.apollo)
    world.dispatch()
    tomorrow = utcnow() + TOMORROW
    assert world.digests(tomorrow) == 2
    key = f"email:digest:{reader}:daily:{tomorrow.date().isoformat()}"

    inbox.stop()
    assert world.send() == 0
    waiting = world.delivery(key)
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert waiting.last_error and "Connection refused" in waiting.last_error
    assert waiting.next_attempt_at > utcnow() - timedelta(seconds=1)

    inbox.start()  # the same port, a new server
    time.sleep(0.1)  # the first retry waits RETRY_SECONDS (50 ms)
    assert world.send() == 2
    assert world.send() == 0
    [digest] = inbox.to("dora@example.org")
    assert "Apollo's vendor went bankrupt" in parts(digest)["text/plain"]
    sent = world.delivery(key)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 2, None)
    assert digest["Message-ID"] == email.message_id(key, push_settings(mail_app))


TEAM_CANARY = "Quokka telemetry contract breached"
LATER_CANARY = "Marmoset ledger overran"


def test_a_team_only_lesson_never_reaches_an_outsider_by_email(mail_app, inbox):
    world = World(mail_app)
    apollo = f"project:{world.apollo}"
    member = world.account("mia@example.org", "immediately", (apollo,))
    with mail_app.app_context():
        add_member(db.session, world.apollo, "mia@example.org")
        db.session.commit()
    world.account("otto@example.org", "immediately", (apollo,))  # follows, not on the team
    outsider = world.account("olga@example.org", None, (apollo,))  # the same, by digest

    world.approved(TEAM_CANARY, project_id=world.apollo, visibility="project")
    world.approved("Apollo's open lesson", project_id=world.apollo)
    later = world.approved(LATER_CANARY, project_id=world.apollo)
    world.dispatch()
    # Made team-only after its notices were written, before the digest.
    changed = world.pmo.patch(f"/api/v1/lessons/{later}", json={"visibility": "project"})
    assert changed.status_code == 200, changed.get_json()
    world.digests(utcnow() + TOMORROW)
    world.send()

    # The team sees both canaries: a check that could never find them would fail here.
    team_mail = "\n".join(everything(m) for m in inbox.to("mia@example.org"))
    assert TEAM_CANARY in team_mail and LATER_CANARY in team_mail
    # Otto's email about the later canary was written while he could see it, and cancelled
    # at sending time, once he no longer could.
    at_once = inbox.to("otto@example.org")
    assert [m["Subject"] for m in at_once] == ["New lesson: Apollo's open lesson"]
    assert all(TEAM_CANARY not in everything(m) for m in at_once)
    with mail_app.app_context():
        cancelled = db.session.scalars(select(Delivery).where(
            Delivery.target == "otto@example.org", Delivery.status == "cancelled")).one()
        assert LATER_CANARY in cancelled.subject and "no longer see" in cancelled.last_error
    [digest] = inbox.to("olga@example.org")
    assert "Apollo's open lesson" in everything(digest)
    assert TEAM_CANARY not in everything(digest) and LATER_CANARY not in everything(digest)
    assert digest["Subject"].startswith("Your Lessons daily digest: 1 update (")
    with mail_app.app_context():
        dropped = db.session.scalars(select(Notification).where(
            Notification.user_id == outsider, Notification.lesson_id == later)).one()
        assert dropped.delivery_id is None  # never carried by an email
        assert member in set(db.session.scalars(select(Notification.user_id).where(
            Notification.lesson_id == later)))


def test_the_digest_run_makes_no_query_per_notification(mail_app, monkeypatch):
    """Twenty notices per account, about twenty lessons, cost the digest run the queries one
    notice does."""
    world = World(mail_app)
    readers = [world.account(f"r{i}@example.org") for i in range(3)]
    with mail_app.app_context():
        lessons = [create_lesson(db.session, {
            "title": f"Lesson {n}", "what_happened": "It happened.", "project_id": world.apollo,
        }, actor="test set-up", status="approved").id for n in range(20)]
        db.session.commit()
    monkeypatch.setattr(email, "DIGEST_MOST", 5)

    def statements_for(day: int, notices: int) -> int:
        with mail_app.app_context():
            for user_id in readers:
                user = db.session.get_one(User, user_id)
                for n in range(notices):
                    notify(db.session, user, f"test:{day}:{n}:{user_id}", Notice(
                        "new_lesson", f"Notice {n}", "About it.", f"/lessons/{lessons[n]}",
                        lessons[n], world.apollo))
            db.session.commit()
        seen: list[str] = []

        def count(_conn, _cursor, statement, *_rest) -> None:
            seen.append(statement)

        engine = mail_app.extensions["lessons.db"][0]
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert world.digests(utcnow() + day * TOMORROW) == len(readers)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    assert statements_for(1, 20) == statements_for(2, 1)
    big = world.delivery(f"email:digest:{readers[0]}:daily:"
                         f"{(utcnow() + TOMORROW).date().isoformat()}")
    assert big.payload["text"].count("Notice ") == 5
    assert "15 more updates in Lessons: http://lessons.test/notifications" in big.payload["text"]


def test_with_email_off_nothing_is_written(app):
    user_id = make_user(app, "contributor", "quiet@example.org")
    settings = push_settings(app)
    assert not settings.email_on
    with app.app_context():
        set_cadence(db.session, user_id, "email", "immediately")
        user = db.session.get_one(User, user_id)
        told = notify(db.session, user, "test:off", Notice("pmo_weekly", "Hello", "Body."))
        assert told is not None
        assert email.queue_email(db.session, settings, user, told) is None
        assert email.queue_digests(db.session, settings, utcnow() + TOMORROW) == 0
        assert db.session.scalars(select(Delivery)).all() == []


# Sending: SMTP URLs, signing in, and headers names cannot break


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://mail.example.org", ("mail.example.org", 25, False, False, None, None)),
    ("smtp://mail.example.org:587?starttls=true",
     ("mail.example.org", 587, False, True, None, None)),
    ("smtp://bob@mail.example.org:587/?starttls=1",
     ("mail.example.org", 587, False, True, "bob", None)),
    ("smtps://lessons%40example.org:p%3Ass%2Fw%40rd@Mail.Example.org",
     ("mail.example.org", 465, True, False, "lessons@example.org", "p:ss/w@rd")),
    ("smtp://[::1]:2525?starttls=false", ("::1", 2525, False, False, None, None)),
])
def test_smtp_urls_are_read(url, expected):
    server = email.parse_smtp_url(url)
    assert (server.host, server.port, server.implicit_tls, server.starttls, server.username,
            server.password) == expected
    assert "p:ss" not in repr(server)


@pytest.mark.parametrize(("url", "problem"), [
    ("", "must look like smtp://"),
    ("mail.example.org", "must look like smtp://"),
    ("https://user:s3cret@mail.example.org", "must look like smtp://"),
    ("smtp://", "names no host"),
    ("smtp://user:s3cret@mail.example.org:99999", "port"),
    ("smtp://user:s3cret@mail.example.org:twenty-five", "port"),
    ("smtp://mail.example.org/inbox", "takes no path"),
    ("smtp://mail.example.org?tls=true", "knows one option, starttls, not 'tls'"),
    ("smtp://mail.example.org?starttls=perhaps", "starttls must be true or false"),
    ("smtps://mail.example.org?starttls=true", "TLS from the start"),
])
def test_a_malformed_smtp_url_says_what_is_wrong(url, problem):
    with pytest.raises(ValueError, match="LESSONS_SMTP_URL") as error:
        email.parse_smtp_url(url)
    assert problem in str(error.value)
    assert "s3cret" not in str(error.value)


def settings_for(port: int, credentials: str = "") -> PushSettings:
    return PushSettings(base_url=BASE_URL, secret_key="test key",
                        smtp_url=f"smtp://{credentials}127.0.0.1:{port}", send_timeout=2)


def rendered(settings: PushSettings, user: User, subject: str) -> Delivery:
    """An email delivery for `user`, not stored: what `send` is handed."""
    told = Notification(id=1, subject=subject, body="Body.", link="/lessons/1")
    payload = email.render(settings, user, "notification", subject, setting="Immediately",
                           notification=told)
    return Delivery(key="email:notification:1", channel="email", target=user.email,
                    subject=subject, payload=payload)


def test_the_sender_signs_in_with_the_url_s_decoded_user_and_password():
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        # handled=False: aiosmtpd answers a failure with 535 itself.
        return AuthResult(success=auth_data.password == b"p:ss@word", handled=False)

    # AUTH offered on a plain connection: loopback, and this test's server only.
    box = Inbox(authenticator=authenticator, auth_require_tls=False)
    box.start()
    try:
        settings = settings_for(box.port, "lessons%40example.org:p%3Ass%40word@")
        email.send(rendered(settings, User(id=1, email="sam@example.org"), "Hi"), settings)
        wrong = settings_for(box.port, "lessons%40example.org:guess@")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            email.send(rendered(wrong, User(id=1, email="sam@example.org"), "Hi"), wrong)
    finally:
        box.stop()
    assert logins[0] == (b"lessons@example.org", b"p:ss@word")
    assert set(logins[1:]) == {(b"lessons@example.org", b"guess")}  # each mechanism tried
    assert len(box.to("sam@example.org")) == 1


def test_a_line_break_in_a_header_is_refused_and_a_name_cannot_add_a_header(inbox):
    settings = settings_for(inbox.port)
    smuggled = rendered(settings, User(id=1, email="sam@example.org"),
                        "Hello\r\nBcc: victim@example.org")
    with pytest.raises(ValueError, match="line break"):
        email.send(smuggled, settings)
    assert inbox.received == []

    eve = User(id=2, email="eve@example.org", name="Eve\r\nBcc: victim@example.org")
    email.send(rendered(settings, eve, "Hello"), settings)
    [(recipients, message)] = inbox.received
    assert recipients == ["eve@example.org"]
    assert message["Bcc"] is None
    assert message["To"].addresses[0].addr_spec == "eve@example.org"


def test_a_digest_keeps_projects_that_share_a_name_apart_and_the_rest_last():
    told = [Notification(id=n, project_id=project)
            for n, project in enumerate([2, None, 1, 3, 2, 404])]
    groups = email.by_project(told, {1: "Borealis", 2: "apollo", 3: "Apollo"})
    assert [(name, [n.id for n in group]) for name, group in groups] == [
        ("apollo", [0, 4]), ("Apollo", [3]), ("Borealis", [2]), ("Across projects", [1, 5])]
