"""From the audit log to notifications and deliveries: who is told what, about which change.

Every change is audited in the transaction that makes it, so the audit log
is the outbox: nothing a request commits can be missed, and nothing it rolls
back is told. The dispatcher reads the rows after its cursor, plus the last
`LOOK_BACK` again (a PostgreSQL transaction can commit a lower id after a
higher one), handles each in its own transaction, and relies on unique keys
so a row handled twice tells nobody twice.

What is told: an approved lesson to its author, and to whoever follows its
project, theme or category, a search it matches or a live project whose
kickoff it matches ("new since kickoff"); a returned lesson to its author;
an action to the owner it was given. Organisation-wide lessons go to the
Slack and Teams hooks and to webhooks; nothing else leaves the app.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lessons.models import (
    Action,
    AuditEvent,
    Lesson,
    LessonTheme,
    Project,
    PushCursor,
    Theme,
    User,
    utcnow,
)
from lessons.services.notifications import Notice, notify
from lessons.services.subscriptions import followers, project_followers
from push import chat, email, webhooks
from push.config import PushSettings
from search.watch import matching_projects, matching_searches

log = logging.getLogger(__name__)

LOOK_BACK = timedelta(minutes=10)
BATCH = 500
TARGET_KINDS = ("lesson", "action", "project", "theme")


def dispatch(session: Session, settings: PushSettings) -> int:
    """Handle the audit rows not handled yet; how many were read. Commits per row."""
    cursor = session.get(PushCursor, 1) or PushCursor(id=1, audit_id=0)
    if cursor.audit_id == 0:  # the first run starts now: history is not news
        cursor.audit_id = session.scalar(select(AuditEvent.id).order_by(
            AuditEvent.id.desc()).limit(1)) or 0
        session.merge(cursor)
        session.commit()
        return 0
    since = utcnow() - LOOK_BACK
    rows = list(session.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(HANDLERS),
        (AuditEvent.id > cursor.audit_id) | (AuditEvent.at >= since))
        .order_by(AuditEvent.id).limit(BATCH)))
    for row in rows:
        try:
            HANDLERS[row.action](session, settings, row)
            session.commit()
        except Exception:  # one bad row must not stop the others: logged, skipped
            session.rollback()
            log.exception("Could not dispatch audit row %s (%s)", row.id, row.action)
    newest = max((row.id for row in rows), default=cursor.audit_id)
    if newest > cursor.audit_id:
        session.merge(PushCursor(id=1, audit_id=newest))
        session.commit()
    return len(rows)


def target_id(row: AuditEvent, kind: str) -> int | None:
    """The id in an audit row's target ("lesson 12" -> 12), if it names a `kind`."""
    name, _, number = (row.target or "").partition(" ")
    return int(number) if name == kind and number.isdigit() else None


def actor_id(session: Session, row: AuditEvent) -> int | None:
    return session.scalar(select(User.id).where(User.email == row.actor))


def tell(session: Session, settings: PushSettings, user_ids: set[int], key: str,
         notice: Notice) -> int:
    """Notify each account once under `key` (made per account), emailing those who want it at
    once; how many were told."""
    told = 0
    for user in session.scalars(select(User).where(User.id.in_(user_ids))):
        notification = notify(session, user, f"{key}:{user.id}", notice)
        if notification is not None:
            email.queue_email(session, settings, user, notification)
            told += 1
    return told


# Handlers: one per audited action that tells someone


def lesson_approved(session: Session, settings: PushSettings, row: AuditEvent) -> None:
    lesson = _live_lesson(session, row)
    if lesson is None or lesson.status != "approved":
        return
    path = f"/lessons/{lesson.id}"
    if lesson.owner_id is not None:
        tell(session, settings, {lesson.owner_id}, f"audit:{row.id}", Notice(
            "approved", f"Your lesson was approved: {lesson.title}",
            f"{row.actor} approved “{lesson.title}”. It now feeds kickoff briefings and "
            "themes.", path, lesson.id, lesson.project_id))
    reasons = why_told(session, settings, lesson)
    reasons.pop(actor_id(session, row) or 0, None)  # the reviewer knows
    for user_id, why in reasons.items():
        tell(session, settings, {user_id}, f"lesson:{lesson.id}:new", Notice(
            "new_lesson", f"New lesson: {lesson.title}",
            "\n".join([summary(lesson), "", *why]), path, lesson.id,
            lesson.project_id))
    if lesson.visibility == "organisation":  # only what everyone may read leaves the app
        chat.queue_lesson(session, settings, lesson, related_projects(session, settings, lesson))
        webhooks.queue_event(session, settings, "lesson.approved", f"audit:{row.id}",
                             {"lesson": webhooks.lesson_ref(settings, lesson)})


def why_told(session: Session, settings: PushSettings, lesson: Lesson) -> dict[int, list[str]]:
    """Each account to tell about a newly approved lesson, with why, in words."""
    reasons: dict[int, list[str]] = defaultdict(list)

    def add(user_ids: set[int], reason: str) -> None:
        for user_id in user_ids:
            if reason not in reasons[user_id]:
                reasons[user_id].append(reason)

    if lesson.project_id is not None:
        project = session.get(Project, lesson.project_id)
        if project is not None:
            add(project_followers(session, project.id), f"It was logged on {project.name}, "
                                                         "which you follow.")
    if lesson.category:
        add(followers(session, "category", lesson.category),
            f"It is in {lesson.category}, a category you follow.")
    placed = session.get(LessonTheme, lesson.id)
    if placed is not None and (theme := session.get(Theme, placed.theme_id)) is not None:
        add(followers(session, "theme", str(theme.id)),
            f"It joined the theme “{theme.label}”, which you follow.")
    for match in matching_searches(session, settings.model, [lesson.id]):
        assert match.subscription is not None
        add({match.subscription.user_id},
            f"It matches your followed search “{match.subscription.target}”.")
    for match in matching_projects(session, settings.model, [lesson.id],
                                   {lesson.id: lesson.project_id}):
        assert match.project is not None
        add(project_followers(session, match.project.id),
            f"It is new since the kickoff of {match.project.name}, and matches its "
            "description.")
    return reasons


def summary(lesson: Lesson) -> str:
    """What the lesson is about, in two lines: its kind, category and project, then what
    happened, cut short."""
    where = f" on {lesson.project.name}" if lesson.project is not None else ""
    about = " · ".join(filter(None, [lesson.severity.capitalize() + " severity",
                                     lesson.category]))
    return f"{about}{where}.\n{_short(lesson.what_happened, 300)}"


def related_projects(session: Session, settings: PushSettings, lesson: Lesson) -> list[int]:
    """The projects whose own chat hooks hear of the lesson: its project and the live ones
    whose kickoff it matches."""
    matched = [m.project.id for m in matching_projects(
        session, settings.model, [lesson.id], {lesson.id: lesson.project_id}) if m.project]
    return ([lesson.project_id] if lesson.project_id else []) + matched


def lesson_returned(session: Session, settings: PushSettings, row: AuditEvent) -> None:
    lesson = _live_lesson(session, row)
    if lesson is None or lesson.owner_id is None:
        return
    comment = (row.detail or {}).get("comment") or ""
    tell(session, settings, {lesson.owner_id}, f"audit:{row.id}", Notice(
        "returned", f"Your lesson was returned: {lesson.title}",
        f"{row.actor} returned “{lesson.title}” with this comment:\n\n{comment}\n\n"
        "Change it and submit it again, saying what you changed.",
        f"/lessons/{lesson.id}", lesson.id, lesson.project_id))


def action_assigned(session: Session, settings: PushSettings, row: AuditEvent) -> None:
    action = _live_action(session, row)
    if action is None:
        return
    if action.owner_id is not None and action.owner_id != actor_id(session, row):
        due = f" It is due on {action.due_on:%d %b %Y}." if action.due_on else ""
        tell(session, settings, {action.owner_id}, f"audit:{row.id}", Notice(
            "action", f"An action is yours: {_short(action.description)}",
            f"{row.actor} gave you this action on the lesson “{action.lesson.title}”:\n\n"
            f"{action.description}\n\n{due.strip()}".strip(),
            f"/lessons/{action.lesson_id}#actions", action.lesson_id, action.project_id))
    if row.action == "action_create":
        _action_hook(session, settings, row, action, "action.created")


def action_changed(session: Session, settings: PushSettings, row: AuditEvent) -> None:
    action = _live_action(session, row)
    if action is not None and action.status != "open":
        _action_hook(session, settings, row, action, "action.closed")


def risk_raised(session: Session, settings: PushSettings, row: AuditEvent) -> None:
    detail = row.detail or {}
    lesson = session.get(Lesson, detail.get("lesson_id") or 0)
    project_id = target_id(row, "project")
    if detail.get("after") != "risk" or lesson is None or lesson.visibility != "organisation":
        return
    webhooks.queue_event(session, settings, "risk.raised", f"audit:{row.id}", {
        "lesson": webhooks.lesson_ref(settings, lesson),
        "project": {"id": project_id, "url": settings.link(f"/projects/{project_id}")}})


def theme_changed(session: Session, settings: PushSettings, row: AuditEvent) -> None:
    theme_id = target_id(row, "theme")
    theme = session.get(Theme, theme_id) if theme_id else None
    data = ({"theme": {"id": theme.id, "name": theme.label,
                       "url": settings.link(f"/themes/{theme.id}")}}
            if theme is not None else {"themes": "recomputed"})
    webhooks.queue_event(session, settings, "theme.changed", f"audit:{row.id}", data)


HANDLERS: dict[str, Callable[[Session, PushSettings, AuditEvent], None]] = {
    "lesson_approve": lesson_approved,
    "lesson_return": lesson_returned,
    "action_create": action_assigned,
    "action_reassign": action_assigned,
    "action_status": action_changed,
    "decision": risk_raised,
    "theme_rename": theme_changed,
    "themes_recompute": theme_changed,
}


def _action_hook(session: Session, settings: PushSettings, row: AuditEvent, action: Action,
                 event: str) -> None:
    if action.lesson.visibility == "organisation" and action.lesson.status != "draft":
        webhooks.queue_event(session, settings, event, f"audit:{row.id}", {
            "action": {"id": action.id, "description": action.description,
                       "status": action.status, "due_on": action.due_on and str(action.due_on),
                       "owner": action.owner_label},
            "lesson": webhooks.lesson_ref(settings, action.lesson)})


def _live_lesson(session: Session, row: AuditEvent) -> Lesson | None:
    lesson = session.get(Lesson, target_id(row, "lesson") or 0)
    return lesson if lesson is not None and lesson.deleted_at is None else None


def _live_action(session: Session, row: AuditEvent) -> Action | None:
    action = session.get(Action, target_id(row, "action") or 0)
    alive = action is not None and action.deleted_at is None and action.lesson.deleted_at is None
    return action if alive else None


def _short(text: str, most: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= most else flat[:most - 1] + "…"
