"""Periodic push: reminders of actions due soon or overdue, lessons waiting for review past
the SLA, the weekly PMO digest, and the email and in-app digests. Each is keyed on its day
or week, so running it every quarter of an hour tells each person once."""

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lessons.models import Action, Lesson, User
from lessons.services.notifications import Notice, digests_due, write_digest
from lessons.wording import one_line
from push import chat, digest, email
from push.config import PushSettings
from push.dispatch import action_notice, tell

log = logging.getLogger(__name__)

DUE_SOON_DAYS = 3


def run(sessions: sessionmaker[Session], settings: PushSettings, now: datetime) -> None:
    """Everything periodic, each in its own transaction; one failing does not stop the rest,
    and the first failure is raised at the end, for the task's record."""
    failure: Exception | None = None
    for work in (action_reminders, review_backlog, weekly_pmo, email.queue_digests,
                 in_app_digests):
        with sessions() as session:
            try:
                work(session, settings, now)
                session.commit()
            except Exception as error:
                session.rollback()
                log.exception("Periodic %s failed", work.__name__)
                failure = failure or error
    if failure is not None:
        raise failure


def action_reminders(session: Session, settings: PushSettings, now: datetime) -> int:
    """Tell each owner of an open action due within DUE_SOON_DAYS, or overdue: once when it
    comes due soon, once when it is late."""
    today = now.date()
    actions = session.scalars(select(Action).where(
        Action.status == "open", Action.deleted_at.is_(None), Action.owner_id.is_not(None),
        Action.due_on.is_not(None), Action.due_on <= today + timedelta(days=DUE_SOON_DAYS),
        Action.lesson.has(Lesson.deleted_at.is_(None))))
    told = 0
    for action in actions:
        assert action.due_on is not None and action.owner_id is not None  # the query's
        late = action.due_on < today
        when = "overdue" if late else "due"
        told += tell(session, settings, {action.owner_id},
                     f"action:{action.id}:{when}:{action.due_on}", action_notice(
            session, action, "action_overdue" if late else "action_due",
            f"{'Overdue' if late else 'Due'} on {action.due_on:%d %b}: "
            f"{one_line(action.description, 120)}",
            f"Your action on “{action.lesson.title}” {'was' if late else 'is'} due on "
            f"{action.due_on:%A %d %B %Y}. Close it, or give it to someone else, on your "
            "actions page."))
    return told


def review_backlog(session: Session, settings: PushSettings, now: datetime) -> int:
    """Tell the PMO about each lesson waiting for review longer than the SLA, once per wait."""
    limit = now - timedelta(days=settings.review_sla_days)
    waiting = session.scalars(select(Lesson).where(
        Lesson.status == "submitted", Lesson.deleted_at.is_(None),
        Lesson.status_since < limit).order_by(Lesson.status_since))
    pmo = set(session.scalars(select(User.id).where(User.role == "pmo",
                                                    User.disabled_at.is_(None))))
    told = 0
    for lesson in waiting:
        assert lesson.status_since is not None  # the query's
        days = (now - lesson.status_since).days
        told += tell(session, settings, pmo - {lesson.owner_id or 0},
                     f"review:{lesson.id}:{lesson.status_since:%Y%m%d%H%M%S}", Notice(
            "review_late", f"Waiting for review for {days} days: {lesson.title}",
            f"“{lesson.title}” was submitted {days} days ago; the review target is "
            f"{settings.review_sla_days} days. Approve it, or return it with a comment.",
            f"/lessons/{lesson.id}", lesson.id, lesson.project_id))
    return told


def weekly_pmo(session: Session, settings: PushSettings, now: datetime) -> int:
    """On Mondays, the PMO's digest: in the app and email for each PMO account, and posted
    to the organisation's Slack and Teams hooks."""
    if now.weekday() != 0:
        return 0
    week = now.strftime("%G-W%V")
    summary = digest.pmo_digest(session, settings, now)
    pmo = set(session.scalars(select(User.id).where(User.role == "pmo",
                                                    User.disabled_at.is_(None))))
    told = tell(session, settings, pmo, f"pmo:{week}", Notice(
        "pmo_weekly", f"PMO week {week}: {summary.headline}", summary.text, "/pmo"))
    chat.queue_digest(session, settings, summary, week)
    return told


def in_app_digests(session: Session, settings: PushSettings, now: datetime) -> int:
    """The in-app digests due (daily, and on Mondays weekly), as email's, one notice each;
    an account that left its digest for "immediately" gets what waited in a catch-up with
    the next daily one. How many were written."""
    periods = {period.cadence: period for period in email.due_periods(now)}
    periods["immediately"] = email.Period("immediately", periods["daily"].start, "")
    written = 0
    for user, chosen in digests_due(session, {name: p.start for name, p in periods.items()}):
        period = periods[chosen]
        written += write_digest(session, user, period.start, period.name,
                                period.when) is not None
    return written
