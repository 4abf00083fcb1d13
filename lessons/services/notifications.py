"""What each account is told in the app, and every message sent outside, each exactly once.

`notify` writes a notification under a key that says what it is about
("lesson 12 approved, for account 3"): writing the same key again is a no-op,
so a job that runs twice tells nobody twice. It refuses to tell anyone about a
lesson they may not see (DESIGN, invariant 10), and the inbox checks again when
read, so a lesson made team-only later drops out of outsiders' lists too. An
account whose in-app cadence is a daily or weekly digest has its notifications
held (not shown) until `write_digest` gathers them into one digest notice, marking
each with it; the notice says how many, and its page lists them (`held`), checked again.

A `Delivery` is one message out (an email, a Slack or Teams post, a webhook
call), rendered once and written under its own unique key before anything is
sent. A sender claims it for a lease with a token of its own, sends, and
records the outcome under that token (`finish`), so a sender whose lease
lapsed cannot overwrite the next one's; a failure waits twice as long each
time (`backoff`) until `GIVE_UP_AFTER`, then the delivery is failed and shown
to admins, who can send it again. One no longer wanted is cancelled.
Rows are written with `insert_once` (INSERT … ON CONFLICT), never a savepoint.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from lessons.errors import Conflict, NotFound
from lessons.models import Delivery, Lesson, Notification, Preference, User, utcnow
from lessons.policy import sees, visible
from lessons.queries import Page
from lessons.services.common import find_row, insert_once, paginate
from lessons.services.subscriptions import DEFAULT_CADENCE, cadence
from lessons.wording import one_line, plural

GIVE_UP_AFTER = timedelta(hours=24)
MAX_ERROR = 2_000
DIGEST = "digest"  # the kind of an in-app digest notice
# How far back an in-app digest reaches for what no digest gathered: turning the digest on
# brings the last four weeks' news, not everything ever told.
HELD_REACH = timedelta(days=28)


@dataclass(frozen=True)
class Notice:
    """What to tell: one line, a few more, where to open it, and what it is about."""

    kind: str
    subject: str
    body: str
    link: str | None = None
    lesson_id: int | None = None
    project_id: int | None = None


def notify(session: Session, user: User, key: str, notice: Notice) -> Notification | None:
    """Tell `user` once under `key`; None if told already, if the account is disabled, if it
    turned both channels off, or if the lesson is one they may not see. Shown in the app at
    once only if the account wants it so; a digest's reader has it held for the digest."""
    if user.disabled_at is not None or not may_see(session, user, notice.lesson_id):
        return None
    in_app = cadence(session, user.id, "in_app")
    if in_app == "off" and cadence(session, user.id, "email") == "off":
        return None
    # None: told already, by this run before it died or by another worker.
    return insert_once(session, Notification, ["key"], key=key[:300], user_id=user.id,
                       kind=notice.kind, subject=one_line(notice.subject, 300), body=notice.body,
                       link=notice.link, lesson_id=notice.lesson_id,
                       project_id=notice.project_id, shown_in_app=in_app == "immediately",
                       created_at=utcnow())


def may_see(session: Session, user: User, lesson_id: int | None) -> bool:
    """Whether `user` may be told about the lesson (no lesson: anything may be told)."""
    if lesson_id is None:
        return True
    lesson = session.get(Lesson, lesson_id)
    return lesson is not None and lesson.deleted_at is None and sees(
        session, user, visibility=lesson.visibility, project_id=lesson.project_id,
        draft=lesson.status == "draft", owner_id=lesson.owner_id)


def _seen(user: User) -> ColumnElement[bool]:
    """Notifications about no lesson, or about one `user` may still see."""
    lessons = select(Lesson.id).where(visible(user), Lesson.deleted_at.is_(None))
    return or_(Notification.lesson_id.is_(None), Notification.lesson_id.in_(lessons))


def inbox(session: Session, user: User, page: int, per_page: int = 25) -> Page[Notification]:
    """The account's notifications, the newest first."""
    stmt = (select(Notification).where(Notification.user_id == user.id,
                                       Notification.shown_in_app, _seen(user))
            .order_by(Notification.created_at.desc(), Notification.id.desc()))
    return paginate(session, stmt, page, per_page)


def unread_count(session: Session, user: User) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.shown_in_app,
        Notification.read_at.is_(None), _seen(user))) or 0


def mark_read(session: Session, user: User, notification_id: int | None = None) -> int:
    """Mark one of the account's notifications read, or all of them; how many changed."""
    where = [Notification.user_id == user.id, Notification.read_at.is_(None)]
    if notification_id is not None:
        where.append(Notification.id == notification_id)
    done = cast(CursorResult[Any], session.execute(
        update(Notification).where(*where).values(read_at=utcnow())))
    return done.rowcount


# In-app digests


def digests_due(session: Session, starts: dict[str, datetime]) -> list[tuple[User, str]]:
    """The active accounts with notifications held for an in-app digest starting at
    `starts[cadence]` (their cadence's), with that cadence: one query for all of them."""
    chosen = func.coalesce(Preference.cadence, DEFAULT_CADENCE["in_app"])
    due = or_(*[(chosen == name) & _waiting(start) for name, start in starts.items()])
    rows = session.execute(
        select(Notification.user_id, chosen)
        .join(User, User.id == Notification.user_id)
        .outerjoin(Preference, (Preference.user_id == Notification.user_id)
                   & (Preference.channel == "in_app"))
        .where(User.disabled_at.is_(None), due)
        .group_by(Notification.user_id, chosen).order_by(Notification.user_id)).all()
    return [(session.get_one(User, user_id), name) for user_id, name in rows]


def _waiting(until: datetime) -> ColumnElement[bool]:
    """Held for an in-app digest before `until` (at most HELD_REACH back) and gathered by
    none yet. Gathered ones are marked, not found by time, so one stamped before a digest
    but committed after it is the next digest's."""
    return (~Notification.shown_in_app & (Notification.kind != DIGEST)
            & Notification.digest_id.is_(None) & (Notification.created_at < until)
            & (Notification.created_at >= until - HELD_REACH))


def held(session: Session, user: User, digest: Notification) -> list[Notification]:
    """What `digest` gathered for `user`, about no lesson or one they may still see, the
    oldest first."""
    return list(session.scalars(select(Notification).where(
        Notification.user_id == user.id, Notification.digest_id == digest.id, _seen(user))
        .order_by(Notification.created_at, Notification.id)))


def write_digest(session: Session, user: User, until: datetime, name: str,
                 when: str) -> Notification | None:
    """One in-app notice for what waited for `user`'s digest until `until` and they may
    see, each marked as gathered by it; None if nothing waited or it was written already.
    The notice says only how many and links to the list: a title it named would stay in
    the inbox after its lesson was hidden, where `held` checks again."""
    told = list(session.scalars(select(Notification.id).where(
        Notification.user_id == user.id, _waiting(until), _seen(user))))
    if not told:
        return None
    updates = plural(len(told), "update")
    digest = insert_once(
        session, Notification, ["key"], key=f"in_app:digest:{user.id}:{until.isoformat()}",
        user_id=user.id, kind=DIGEST, subject=f"Your {name}: {updates} ({when})",
        body=f"{updates} — see the list.", shown_in_app=True, created_at=until)
    if digest is None:
        return None
    digest.link = f"/notifications/{digest.id}/digest"
    session.execute(update(Notification)
                    .where(Notification.id.in_(told), Notification.digest_id.is_(None))
                    .values(digest_id=digest.id))
    session.flush()
    return digest


# Deliveries


def add_delivery(session: Session, key: str, channel: str, target: str, subject: str,
                 payload: dict[str, Any], *, user_id: int | None = None,
                 hook_id: int | None = None) -> Delivery | None:
    """Write a message to send under `key`, once; None if it was written already."""
    now = utcnow()
    return insert_once(session, Delivery, ["key"], key=key[:300], channel=channel,
                       target=target, subject=one_line(subject, 300), payload=payload,
                       user_id=user_id, hook_id=hook_id, status="pending", attempts=0,
                       next_attempt_at=now, created_at=now)


def due_deliveries(session: Session, now: datetime, limit: int = 100) -> list[int]:
    """Deliveries to try now: pending and due, or claimed by a sender whose lease lapsed."""
    return list(session.scalars(select(Delivery.id).where(or_(
        (Delivery.status == "pending") & (Delivery.next_attempt_at <= now),
        (Delivery.status == "sending") & (Delivery.lease_until < now)))
        .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit)))


def next_due(session: Session) -> datetime | None:
    """When the next delivery falls due: a pending one's next try, or a claim's lapse."""
    pending = session.scalar(select(func.min(Delivery.next_attempt_at))
                             .where(Delivery.status == "pending"))
    lapsing = session.scalar(select(func.min(Delivery.lease_until))
                             .where(Delivery.status == "sending"))
    return min((t for t in (pending, lapsing) if t is not None), default=None)


def claim(session: Session, delivery_id: int, now: datetime, lease: timedelta) -> Delivery | None:
    """Take the delivery for one send, committed, so no other sender takes it meanwhile; None
    if it is not due, or another sender holds it."""
    token = secrets.token_hex(16)
    claimed = cast(CursorResult[Any], session.execute(
        update(Delivery).where(Delivery.id == delivery_id, or_(
            (Delivery.status == "pending") & (Delivery.next_attempt_at <= now),
            (Delivery.status == "sending") & (Delivery.lease_until < now)))
        .values(status="sending", lease_until=now + lease, claim=token,
                attempts=Delivery.attempts + 1)))
    session.commit()
    if claimed.rowcount != 1:
        return None
    return session.get(Delivery, delivery_id)


def finish(session: Session, delivery: Delivery, **values: Any) -> bool:
    """Record how this claim's send ended, committed; False when the claim had lapsed and
    another sender took the delivery over (its outcome is the one that counts). `delivery`
    is as `claim` returned it, its `claim` this sender's token: nothing commits between."""
    token = delivery.claim
    ended = cast(CursorResult[Any], session.execute(
        update(Delivery).where(Delivery.id == delivery.id, Delivery.status == "sending",
                               Delivery.claim == token)
        .values(lease_until=None, claim=None, **values)))
    session.commit()
    return ended.rowcount == 1


def mark_sent(session: Session, delivery: Delivery) -> None:
    finish(session, delivery, status="sent", sent_at=utcnow(), last_error=None)


def cancel(session: Session, delivery: Delivery, reason: str) -> None:
    """Not to be sent after all: its reader turned the channel off, or may no longer see
    what it is about."""
    finish(session, delivery, status="cancelled", last_error=reason)


def backoff(attempts: int, base: float) -> timedelta:
    """How long to wait after the `attempts`-th failure: `base` seconds, doubled each time,
    at most an hour."""
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600))


def mark_failed(session: Session, delivery: Delivery, error: str, base: float) -> bool:
    """Record a failed try: due again after the backoff, or failed for good past
    `GIVE_UP_AFTER` (shown to admins). Whether it gave up."""
    now = utcnow()
    gave_up = now - delivery.created_at >= GIVE_UP_AFTER
    return finish(session, delivery, status="failed" if gave_up else "pending",
                  last_error=error[:MAX_ERROR],
                  next_attempt_at=now + backoff(delivery.attempts, base)) and gave_up


def retry(session: Session, delivery_id: int) -> Delivery:
    """An admin sends a failed delivery again, now; `Conflict` unless it failed."""
    delivery = find_row(session, Delivery, delivery_id)
    if delivery is None:
        raise NotFound("delivery", delivery_id)
    if delivery.status != "failed":
        raise Conflict("Only a failed delivery can be sent again.")
    delivery.status, delivery.next_attempt_at = "pending", utcnow()
    delivery.created_at = utcnow()  # a new day of tries before it gives up again
    session.flush()
    return delivery


def deliveries(session: Session, statuses: Sequence[str], page: int,
               per_page: int = 50) -> Page[Delivery]:
    """Deliveries in `statuses`, the newest first: what admins watch."""
    stmt = (select(Delivery).where(Delivery.status.in_(statuses))
            .order_by(Delivery.created_at.desc(), Delivery.id.desc()))
    return paginate(session, stmt, page, per_page)


def delivery_counts(session: Session) -> dict[str, int]:
    """How many deliveries are in each status."""
    rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    return {status: count for status, count in rows}
