"""Push: who follows what, what each person was told, and every message sent out.

A `Notification` is one thing one account is told (in the app, and by email
at once or in a digest); a `Delivery` is one message to one place outside
(an email, a Slack or Teams post, a webhook call), written with a unique key
before it is sent, so a retried job never sends it twice. `ChatHook` and
`Webhook` are where the organisation's messages go; `PushCursor` is how far
the dispatcher has read the audit log (`HandledEvent` the rows it handled near
the cursor), and `TaskRun` when each periodic task last ran.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from lessons.models.base import Base, utcnow


class Subscription(Base):
    """An account follows a project, a theme, a category or a saved search."""

    __tablename__ = "subscriptions"
    # Who follows this project, theme or category: asked for every approved lesson.
    __table_args__ = (UniqueConstraint("user_id", "kind", "target"),
                      Index("ix_subscriptions_kind_target", "kind", "target"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # project, theme, category or search
    # The project's or theme's id, the category's name, or the search's words.
    target: Mapped[str] = mapped_column(String(500))
    # A followed search's words encoded by `model`, so a new lesson is matched on meaning.
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)
    model: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Preference(Base):
    """How an account wants one channel: immediately, a daily or weekly digest, or off.
    No row means the channel's default (services.subscriptions.DEFAULT_CADENCE)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)  # in_app or email
    cadence: Mapped[str] = mapped_column(String(20))


class Notification(Base):
    """One thing one account is told; `key` makes telling it twice impossible."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(500))  # a path in the app: /lessons/12
    # The lesson and project it is about, so a lesson its reader can no longer see drops out.
    lesson_id: Mapped[int | None] = mapped_column(index=True)
    project_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    read_at: Mapped[datetime | None]
    shown_in_app: Mapped[bool] = mapped_column(default=True)
    # Made while its account's email was a daily or weekly digest: if the account turns to
    # "immediately" before the digest goes, a catch-up email carries it.
    for_digest: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The email that carried it (alone or in a digest); None while it waits for one.
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), index=True)
    # The in-app digest notice that gathered it, marked in the digest's transaction; None
    # while it is held for one (or was never held).
    digest_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", name="fk_notifications_digest_id"), index=True)


class Delivery(Base):
    """One message to one place outside, rendered once and sent until it gets through."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    channel: Mapped[str] = mapped_column(String(20))  # email, slack, teams or webhook
    target: Mapped[str] = mapped_column(String(1000))  # an address or a URL
    user_id: Mapped[int | None] = mapped_column(index=True)  # the account an email is for
    hook_id: Mapped[int | None]  # the ChatHook or Webhook it goes through
    subject: Mapped[str] = mapped_column(String(300))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # what the channel sends, as rendered
    # pending, sending, sent, failed (gave up: admins may retry) or cancelled (its reader
    # turned email off, or may no longer see its lesson, before it went)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]  # while "sending": when a dead sender's claim lapses
    # Which claim is sending it: a sender whose lease lapsed cannot record the outcome of
    # another's send.
    claim: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class ChatHook(Base):
    """A Slack or Teams incoming-webhook URL, for the organisation or one project."""

    __tablename__ = "chat_hooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # slack or teams
    url: Mapped[str] = mapped_column(String(1000))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254))


class Webhook(Base):
    """An outbound webhook: events POSTed, signed with its secret, to a URL an admin gave."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(1000))
    events: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254))
    failing_since: Mapped[datetime | None]  # deliveries gave up: told on the admin page


class SlackAccount(Base):
    """Which account a Slack user's `/lesson` drafts are written as."""

    __tablename__ = "slack_accounts"

    slack_user_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class SlackRequest(Base):
    """A slash-command request already answered: the same signed request twice is refused."""

    __tablename__ = "slack_requests"

    signature: Mapped[str] = mapped_column(String(100), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class PushCursor(Base):
    """How far the dispatcher has read the audit log (one row)."""

    __tablename__ = "push_cursor"

    id: Mapped[int] = mapped_column(primary_key=True)
    audit_id: Mapped[int] = mapped_column(default=0)


class HandledEvent(Base):
    """An audit row the dispatcher has handled, kept while rows that committed late may still
    turn up below the cursor; handled in the transaction that tells, so never twice."""

    __tablename__ = "push_handled"

    audit_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    handled_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class TaskRun(Base):
    """When a periodic task last ran and how it ended, for `lessons status`."""

    __tablename__ = "task_runs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
