"""Email: one notification at once, or a daily or weekly digest; multipart over SMTP, with a
one-click unsubscribe (RFC 8058).

An account's email cadence (lessons.services.subscriptions) decides. "Immediately":
`queue_email` writes an email as each notification is made. "Daily" or "weekly": the
notification waits (`delivery_id` NULL) until `queue_digests` gathers everything its
account was told before the period began into one email, grouped by project; what waited
for the digest of an account that has since turned to "immediately" goes in a catch-up.
Either way the email is rendered once, from the templates in push/templates/email, into
its delivery's payload (to, subject, text, html, headers) under a unique key, so a
repeated run writes nothing more; `send` only speaks SMTP. A digest checks again that its
reader still sees each lesson: one made team-only or deleted since is left out (DESIGN,
invariant 10). Every email carries a signed link that turns email off without signing in.
"""

import hashlib
import smtplib
import ssl
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from itsdangerous import BadData, URLSafeSerializer
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import func, or_, select, true
from sqlalchemy.orm import Session

from lessons.models import Delivery, Lesson, Notification, Preference, Project, User, utcnow
from lessons.policy import visible
from lessons.services.notifications import DIGEST, add_delivery, may_see
from lessons.services.subscriptions import CADENCES, DEFAULT_CADENCE, cadence
from lessons.wording import plural
from push.config import PushSettings

PREFERENCES_PATH = "/notifications/settings"
INBOX_PATH = "/notifications"
ACROSS_PROJECTS = "Across projects"
# A digest after a long silence could list thousands: it names this many, and counts the rest.
DIGEST_MOST = 50
UNSUBSCRIBE_SALT = "unsubscribe"

TEMPLATES = Environment(
    loader=PackageLoader("push", "templates"),
    autoescape=select_autoescape(["html"], default_for_string=False),
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


# Writing emails


def queue_email(session: Session, settings: PushSettings, user: User,
                notification: Notification) -> Delivery | None:
    """If email is on and `user` wants it immediately, write the email delivery for this
    notification (and link it: `notification.delivery_id`); else None. A notification for
    a daily or weekly digest is marked so (`for_digest`), for a catch-up if the account
    turns to "immediately" before the digest goes."""
    chosen = cadence(session, user.id, "email")
    notification.for_digest = chosen in ("daily", "weekly")
    if not settings.email_on or chosen != "immediately":
        return None
    payload = render(settings, user, "notification", notification.subject,
                     setting=CADENCES["immediately"], notification=notification)
    key = f"email:notification:{notification.id}"
    delivery = add_delivery(session, key, "email", user.email, payload["subject"], payload,
                            user_id=user.id)
    if delivery is None:  # written by a run that died before linking it
        delivery = session.scalar(select(Delivery).where(Delivery.key == key))
    if delivery is not None:
        notification.delivery_id = delivery.id
    return delivery


# How far back a digest reaches: an account that turns its digest on (or a server whose
# email is turned on) gets the last week's or month's news, not everything ever told. An
# account that leaves its digest for "immediately" gets what waited for it, from the last
# week, in a catch-up.
REACH = {"immediately": timedelta(days=7), "daily": timedelta(days=7),
         "weekly": timedelta(days=28)}
NAMES = {"immediately": "catch-up", "daily": "daily digest", "weekly": "weekly digest"}


@dataclass(frozen=True)
class Period:
    """A digest's period: it gathers what was told before `start` (within its REACH), and
    is named `label`."""

    cadence: str
    start: datetime
    label: str  # "2026-12-07", the ISO week "2026-W50", or "" for a catch-up

    @property
    def since(self) -> datetime:
        return self.start - REACH[self.cadence]

    @property
    def name(self) -> str:
        return NAMES[self.cadence]

    @property
    def when(self) -> str:
        """The period's end, in words: a day, a week, or a time of day."""
        if self.cadence == "weekly":
            return f"week {self.start:%V of %G}"
        day = f"{self.start.day} {self.start:%B %Y}"
        if self.cadence == "daily":
            return f"{self.start:%A} {day}"
        return f"{self.start:%H:%M} UTC, {day}"


def due_periods(now: datetime) -> list[Period]:
    """The digests due at `now`: the daily one, and on Mondays (UTC) the weekly one."""
    today = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
    periods = [Period("daily", today, today.date().isoformat())]
    if today.weekday() == 0:
        periods.append(Period("weekly", today, today.strftime("%G-W%V")))
    return periods


def catch_up(now: datetime) -> Period:
    """For accounts that left a digest for immediate email, what waited for the digest, in
    one email at the next run. It has no calendar label: `write_digest` names it by its
    first notice, which two runs at once would both take."""
    return Period("immediately", now.astimezone(UTC).replace(second=0, microsecond=0), "")


def queue_digests(session: Session, settings: PushSettings, now: datetime) -> int:
    """Write the daily and weekly digest emails that are due, and the catch-ups; how many.
    Each takes its account's waiting notifications from before the period, still visible
    to it, and links them to the digest in the same transaction, so a second run finds
    nothing to send."""
    if not settings.email_on:
        return 0
    periods = {period.cadence: period for period in [*due_periods(now), catch_up(now)]}
    waiting = waiting_notifications(session, list(periods.values()))
    names = project_names(session, (n for _, _, told in waiting for n in told))
    # Every read before the first write: a query between writes would flush them one by one.
    kept = [(user, chosen, still_seen(session, user, told)) for user, chosen, told in waiting]
    written = 0
    for user, chosen, told in kept:
        if told and write_digest(session, settings, user, periods[chosen], told, names):
            written += 1
    return written


def waiting_notifications(session: Session, periods: list[Period]
                          ) -> list[tuple[User, str, list[Notification]]]:
    """Each active account whose email cadence is due, with that cadence and its
    notifications not emailed yet from before its period: one query for all of them. An
    in-app digest notice is left out: what it lists is in the email already."""
    chosen = func.coalesce(Preference.cadence, DEFAULT_CADENCE["email"])
    due = or_(*[(chosen == period.cadence) & (Notification.created_at < period.start)
                & (Notification.created_at >= period.since)
                & (Notification.for_digest if period.cadence == "immediately" else true())
                for period in periods])
    rows = session.execute(
        select(Notification, User, chosen).join(User, User.id == Notification.user_id)
        .outerjoin(Preference, (Preference.user_id == User.id) & (Preference.channel == "email"))
        .where(Notification.delivery_id.is_(None), Notification.kind != DIGEST,
               User.disabled_at.is_(None), due)
        .order_by(Notification.user_id, Notification.created_at, Notification.id))
    grouped: dict[int, tuple[User, str, list[Notification]]] = {}
    for notification, user, user_cadence in rows:
        grouped.setdefault(user.id, (user, user_cadence, []))[2].append(notification)
    return list(grouped.values())


def still_seen(session: Session, user: User, told: list[Notification]) -> list[Notification]:
    """The notifications about no lesson, or about one `user` still sees and not deleted."""
    lesson_ids = {n.lesson_id for n in told if n.lesson_id is not None}
    seen = set(session.scalars(select(Lesson.id).where(
        Lesson.id.in_(lesson_ids), Lesson.deleted_at.is_(None), visible(user)))
    ) if lesson_ids else set()
    return [n for n in told if n.lesson_id is None or n.lesson_id in seen]


def project_names(session: Session, told: Iterable[Notification]) -> dict[int, str]:
    """The names of the projects these notifications are about, in one query."""
    ids = {n.project_id for n in told if n.project_id is not None}
    if not ids:
        return {}
    rows = session.execute(select(Project.id, Project.name).where(Project.id.in_(ids)))
    return {project_id: name for project_id, name in rows}


def write_digest(session: Session, settings: PushSettings, user: User, period: Period,
                 told: list[Notification], names: dict[int, str]) -> Delivery | None:
    """Write one account's digest for `period` and link its notifications to it; None if this
    period's digest was written already."""
    updates = plural(len(told), "update")
    subject = f"Your Lessons {period.name}: {updates} ({period.when})"
    shown = told[:DIGEST_MOST]
    payload = render(settings, user, "digest", subject, setting=CADENCES[period.cadence],
                     period=period, updates=updates, when=period.when,
                     groups=by_project(shown, names), more=len(told) - len(shown))
    label = period.label or f"from-{told[0].id}"
    delivery = add_delivery(session, f"email:digest:{user.id}:{period.cadence}:{label}",
                            "email", user.email, subject, payload, user_id=user.id)
    if delivery is not None:
        for notification in told:
            notification.delivery_id = delivery.id
    return delivery


def by_project(told: list[Notification], names: dict[int, str]
               ) -> list[tuple[str, list[Notification]]]:
    """The notifications under their project's name, by name; those about no project (or
    one gone) last, under ACROSS_PROJECTS. Grouped by id: two projects may share a name."""
    groups: dict[int | None, list[Notification]] = defaultdict(list)
    for notification in told:
        groups[notification.project_id if notification.project_id in names else None].append(
            notification)
    ordered = sorted(groups, key=lambda key: (key is None, names.get(key or 0, "").casefold()))
    return [(names[key] if key is not None else ACROSS_PROJECTS, groups[key]) for key in ordered]


# Rendering


def render(settings: PushSettings, user: User, template: str, subject: str, *, setting: str,
           **context: Any) -> dict[str, Any]:
    """The email as a delivery's payload: to, subject, text, html and headers, its links
    absolute and its footer saying why it came (`setting`: the account's email cadence, in
    words) and how to stop it."""
    unsubscribe = settings.link(f"/unsubscribe/{unsubscribe_token(settings.secret_key, user.id)}")
    context.update(user=user, subject=subject, setting=setting, link=settings.link,
                   paragraphs=paragraphs, plural=plural, unsubscribe_url=unsubscribe,
                   preferences_url=settings.link(PREFERENCES_PATH),
                   inbox_url=settings.link(INBOX_PATH))
    return {
        "to": recipient(user), "subject": subject,
        "text": TEMPLATES.get_template(f"email/{template}.txt").render(context),
        "html": TEMPLATES.get_template(f"email/{template}.html").render(context),
        "headers": {"List-Unsubscribe": f"<{unsubscribe}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                    # RFC 3834: out-of-office replies are not sent back to a machine.
                    "Auto-Submitted": "auto-generated"},
    }


def recipient(user: User) -> str:
    """The To header: the account's name and address."""
    # A name is typed by people: a CR or LF in it would start a header of its own.
    return formataddr((" ".join((user.name or "").split()), user.email))


def paragraphs(text: str) -> list[list[str]]:
    """`text` as paragraphs (split at blank lines), each a list of its lines."""
    blocks = [block.strip("\n") for block in text.replace("\r\n", "\n").split("\n\n")]
    return [block.split("\n") for block in blocks if block.strip()]


# Unsubscribing


def unsubscribe_token(secret_key: str, user_id: int) -> str:
    """The signed part of an account's unsubscribe link. It does not expire: a link in an
    old email must still work, and all it can do is turn that account's email off."""
    return str(_unsubscribe_serializer(secret_key).dumps([user_id, "email"]))


def unsubscribing_account(secret_key: str, token: str) -> int | None:
    """The account id an unsubscribe token was signed for; None if it is forged, altered or
    cut short."""
    try:
        value = _unsubscribe_serializer(secret_key).loads(token)
    except BadData:
        return None
    match value:
        case [int() as user_id, "email"]:
            return user_id
    return None


def _unsubscribe_serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT)


# Sending


SMTP_URL_FORMS = ("smtp://[user[:password]@]host[:port][?starttls=true] or "
                  "smtps://[user[:password]@]host[:port]")
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
YES, NO = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
# Python folds headers at 78 characters and RFC 2047-encodes a longer word, which would turn
# the List-Unsubscribe URL into "=?utf-8?q?...?=" that no mail client reads; RFC 5322 allows
# lines of 998.
MAIL_POLICY = policy.default.clone(max_line_length=998)


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send mail, as LESSONS_SMTP_URL says."""

    host: str
    port: int
    implicit_tls: bool  # smtps://: TLS from the first byte
    starttls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # kept out of logs


def parse_smtp_url(url: str) -> SmtpServer:
    """The server LESSONS_SMTP_URL names, or ValueError saying what is wrong (never echoing
    the password)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError(f"LESSONS_SMTP_URL must look like {SMTP_URL_FORMS}; it starts with "
                         f"{(parts.scheme or 'no scheme')!r}.")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ValueError("LESSONS_SMTP_URL has a port that is not a number from 1 to "
                         "65535.") from None
    if not parts.hostname:
        raise ValueError(f"LESSONS_SMTP_URL names no host: {SMTP_URL_FORMS}.")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError(f"LESSONS_SMTP_URL takes no path: {SMTP_URL_FORMS}.")
    starttls = _starttls_option(parts.query)
    if starttls and parts.scheme == "smtps":
        raise ValueError("LESSONS_SMTP_URL: smtps:// is TLS from the start; use smtp://…"
                         "?starttls=true to upgrade a plain connection instead.")
    return SmtpServer(parts.hostname, port, parts.scheme == "smtps", starttls,
                      unquote(parts.username) if parts.username is not None else None,
                      unquote(parts.password) if parts.password is not None else None)


def _starttls_option(query: str) -> bool:
    options = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - {"starttls"})
    if unknown:
        raise ValueError(f"LESSONS_SMTP_URL knows one option, starttls, not {unknown[0]!r}.")
    value = options.get("starttls", ["false"])[-1].strip().lower()
    if value not in YES + NO:
        raise ValueError("LESSONS_SMTP_URL: starttls must be true or false.")
    return value in YES


def unwanted(session: Session, delivery: Delivery) -> str | None:
    """Why an email waiting to go should not go after all: its reader turned email off, or
    may no longer see the lesson a single notification's email is about; else None."""
    user = session.get(User, delivery.user_id) if delivery.user_id is not None else None
    if user is None or user.disabled_at is not None:
        return "The account is disabled."
    if cadence(session, user.id, "email") == "off":
        return "Its reader turned email off."
    told = list(session.scalars(select(Notification).where(
        Notification.delivery_id == delivery.id)))
    if len(told) == 1 and not may_see(session, user, told[0].lesson_id):
        return "Its reader may no longer see the lesson it is about."
    return None


def send(delivery: Delivery, settings: PushSettings) -> None:
    """Send an email delivery over SMTP; raise on failure."""
    server = parse_smtp_url(settings.smtp_url)
    message = email_message(delivery, settings)
    with smtp_connection(server, settings.send_timeout) as smtp:
        smtp.send_message(message, from_addr=parseaddr(settings.mail_from)[1],
                          to_addrs=[delivery.target])


def email_message(delivery: Delivery, settings: PushSettings) -> EmailMessage:
    """The delivery's payload as a multipart email: the text, and the HTML beside it."""
    payload = delivery.payload
    headers = {"From": settings.mail_from, "To": payload["to"], "Subject": payload["subject"],
               **payload["headers"]}
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise ValueError(f"The {name} header of delivery {delivery.key} holds a line "
                             "break; refused, as it could add headers of its own.")
    message = EmailMessage(policy=MAIL_POLICY)
    for name, value in headers.items():
        message[name] = value
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id(delivery.key, settings)
    message.set_content(payload["text"])
    message.add_alternative(payload["html"], subtype="html")
    return message


def message_id(key: str, settings: PushSettings) -> str:
    """The same Message-ID each time a delivery is sent, so a receiver can tell a re-send;
    the instance's address is in it, so two instances' keys never collide."""
    digest = hashlib.sha256(f"{settings.base_url} {key}".encode()).hexdigest()[:32]
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "lessons"
    return f"<{digest}@{domain}>"


@contextmanager
def smtp_connection(server: SmtpServer, timeout: float) -> Iterator[smtplib.SMTP]:
    """A connection to `server`, encrypted and signed in as its URL asks; closed after."""
    context = ssl.create_default_context()
    smtp = (smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
            if server.implicit_tls else smtplib.SMTP(server.host, server.port, timeout=timeout))
    try:
        if server.starttls:
            smtp.starttls(context=context)
        if server.username is not None:
            smtp.login(server.username, server.password or "")
        yield smtp
    finally:
        # Once the server has said 250 the email is its own: a QUIT that fails or times out
        # after that must not count as a failed send, or the email would go twice.
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()
