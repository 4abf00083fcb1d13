"""From the audit log to notifications and deliveries: who is told what, about which change.

Every change is audited in the transaction that makes it, so the audit log
is the outbox: nothing a request commits can be missed, and nothing it rolls
back is told. The dispatcher reads the rows after its cursor, plus the last
`LOOK_BACK` again (a PostgreSQL transaction can commit a lower id after a
higher one), skipping those it marked handled, and handles each in its own
transaction with its mark; unique keys make a row handled twice tell nobody
twice all the same. A row that fails (or whose lesson is not embedded yet)
keeps the cursor below it and is tried again on every run, for a day.

What is told: an approved lesson to its author, and to whoever follows its
project, theme or category, a search it matches or a live project whose
kickoff it matches ("new since kickoff"); a returned lesson to its author;
an action to the owner it was given. Organisation-wide lessons go to the
Slack and Teams hooks and to webhooks; nothing else leaves the app.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lessons.models import (
    Action,
    AuditEvent,
    HandledEvent,
    Lesson,
    LessonTheme,
    PushCursor,
    Theme,
    User,
    utcnow,
)
from lessons.services.notifications import Notice, may_see, notify
from lessons.services.subscriptions import followers, project_followers
from lessons.wording import one_line
from push import chat, email, webhooks
from push.config import PushSettings
from search.vectors import is_current
from search.watch import Hits, Watchlist

log = logging.getLogger(__name__)

LOOK_BACK = timedelta(minutes=10)
GIVE_UP_AFTER = timedelta(days=1)  # a row that fails this long is logged and left
BATCH = 500


class NotIndexed(Exception):
    """An approved lesson not embedded since its approval yet: handled on a later run."""


@dataclass
class Batch:
    """One dispatcher run: its session and settings, the audit rows it read, and what the
    lessons approved among them match, computed once for all of them."""

    session: Session
    settings: PushSettings
    rows: list[AuditEvent]
    # Brings the stored vectors (and theme places) up to date, where the caller can: the
    # worker's search engine. None: wait for a web process to do it.
    catch_up: Callable[[], object] | None = None
    _hits: dict[int, Hits] | None = None

    def approved(self) -> list[int]:
        """The lessons approved in this batch's rows."""
        return [lesson_id for row in self.rows if row.action == "lesson_approve"
                and (lesson_id := target_id(row, "lesson")) is not None]

    def bring_up_to_date(self) -> None:
        """Catch up once, before anything is written, if an approved lesson's vectors do not
        reflect its approval yet: followed searches and themes are matched on them."""
        model = self.settings.model
        if self.catch_up is not None and not all(
                is_current(self.session, model, lesson_id) for lesson_id in self.approved()):
            self.session.rollback()  # nothing held while the engine writes
            try:
                self.catch_up()
            except Exception:  # the approvals wait; everything else is told now
                log.exception("Could not bring the search vectors up to date")

    def check_indexed(self, row: AuditEvent) -> None:
        """`NotIndexed` for an approval whose lesson's vectors are not up to date."""
        lesson_id = target_id(row, "lesson")
        if row.action == "lesson_approve" and lesson_id is not None and not is_current(
                self.session, self.settings.model, lesson_id):
            raise NotIndexed(lesson_id)

    def hits(self, lesson_id: int) -> Hits:
        """The followed searches and live projects the lesson matches."""
        if self._hits is None:
            watchlist = Watchlist.load(self.session, self.settings.model)
            self._hits = watchlist.matches(self.session, self.settings.model, self.approved())
        return self._hits.get(lesson_id) or Hits()


def dispatch(session: Session, settings: PushSettings,
             catch_up: Callable[[], object] | None = None) -> int:
    """Handle the audit rows not handled yet, each in its own transaction; how many.
    `catch_up` brings the search engine's stored vectors up to date (see `Batch`)."""
    # Migration 0012 starts the cursor at the newest row of an existing log: history is
    # not news. Without a row (a new database), everything is.
    cursor = session.get(PushCursor, 1) or PushCursor(id=1, audit_id=0)
    floor = cursor.audit_id
    batch = Batch(session, settings, list(session.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(HANDLERS),
        (AuditEvent.id > floor) | (AuditEvent.at >= utcnow() - LOOK_BACK),
        ~exists().where(HandledEvent.audit_id == AuditEvent.id))
        .order_by(AuditEvent.id).limit(BATCH))), catch_up)
    batch.bring_up_to_date()
    handled, waiting = 0, []
    for row in batch.rows:
        try:
            batch.check_indexed(row)
            # Claimed first: a second worker on the same row waits here, then fails.
            session.add(HandledEvent(audit_id=row.id))
            session.flush()
            HANDLERS[row.action](batch, row)
            session.commit()
            handled += 1
        except IntegrityError:  # another worker handled it
            session.rollback()
        except NotIndexed:  # the next run, once a search engine has caught up
            session.rollback()
            waiting.append(row)
        except Exception:  # one bad row must not stop the others: tried again next run
            session.rollback()
            log.exception("Could not dispatch audit row %s (%s)", row.id, row.action)
            waiting.append(row)
    give_up(session, [row for row in waiting if row.at < utcnow() - GIVE_UP_AFTER])
    # The cursor stays below the rows still to do, so they are read again however old.
    pending = [row.id for row in waiting if row.at >= utcnow() - GIVE_UP_AFTER]
    newest = min(pending) - 1 if pending else max([floor, *(row.id for row in batch.rows)])
    forget_handled(session, max(newest, floor))
    return handled


def give_up(session: Session, rows: list[AuditEvent]) -> None:
    """Rows that failed for a whole day are marked handled and logged: a bug to fix, not a
    reason to hold every later row back."""
    for row in rows:
        log.error("Gave up dispatching audit row %s (%s) after a day", row.id, row.action)
        session.add(HandledEvent(audit_id=row.id))
    session.commit()


def forget_handled(session: Session, newest: int) -> None:
    """Move the cursor to `newest` and drop the handled marks that no late row can need."""
    session.merge(PushCursor(id=1, audit_id=newest))
    session.execute(delete(HandledEvent).where(
        HandledEvent.audit_id <= newest, HandledEvent.handled_at < utcnow() - 2 * LOOK_BACK))
    session.commit()


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


def lesson_approved(batch: Batch, row: AuditEvent) -> None:
    session, settings = batch.session, batch.settings
    lesson = _live_lesson(session, row)
    if lesson is None or lesson.status != "approved":
        return
    path = f"/lessons/{lesson.id}"
    if lesson.owner_id is not None:
        tell(session, settings, {lesson.owner_id}, f"audit:{row.id}", Notice(
            "approved", f"Your lesson was approved: {lesson.title}",
            f"{row.actor} approved “{lesson.title}”. It now feeds kickoff briefings and "
            "themes.", path, lesson.id, lesson.project_id))
    hits = batch.hits(lesson.id)
    reasons = why_told(session, lesson, hits)
    reasons.pop(actor_id(session, row) or 0, None)  # the reviewer knows
    for user_id, why in reasons.items():
        tell(session, settings, {user_id}, f"lesson:{lesson.id}:new", Notice(
            "new_lesson", f"New lesson: {lesson.title}",
            "\n".join([summary(lesson), "", *why]), path, lesson.id,
            lesson.project_id))
    if lesson.visibility == "organisation":  # only what everyone may read leaves the app
        projects = [project_id for project_id, _ in hits.projects]
        own = [lesson.project_id] if lesson.project_id is not None else []
        chat.queue_lesson(session, settings, lesson, own + projects)
        webhooks.queue_event(session, settings, "lesson.approved", f"audit:{row.id}",
                             {"lesson": webhooks.lesson_ref(settings, lesson)}, row.at)


def why_told(session: Session, lesson: Lesson, hits: Hits) -> dict[int, list[str]]:
    """Each account to tell about a newly approved lesson, with why, in words."""
    reasons: dict[int, list[str]] = defaultdict(list)

    def add(user_ids: set[int], reason: str) -> None:
        for user_id in user_ids:
            if reason not in reasons[user_id]:
                reasons[user_id].append(reason)

    if lesson.project is not None:
        add(project_followers(session, lesson.project.id),
            f"It was logged on {lesson.project.name}, which you follow.")
    if lesson.category:
        add(followers(session, "category", lesson.category),
            f"It is in {lesson.category}, a category you follow.")
    placed = session.get(LessonTheme, lesson.id)
    if placed is not None and (theme := session.get(Theme, placed.theme_id)) is not None:
        add(followers(session, "theme", str(theme.id)),
            f"It joined the theme “{theme.label}”, which you follow.")
    for user_id, words in hits.searches:
        add({user_id}, f"It matches your followed search “{words}”.")
    for project_id, name in hits.projects:
        if project_id != lesson.project_id:
            add(project_followers(session, project_id),
                f"It is new since the kickoff of {name}, and matches its description.")
    return reasons


def summary(lesson: Lesson) -> str:
    """What the lesson is about, in two lines: its kind, category and project, then what
    happened, cut short."""
    where = f" on {lesson.project.name}" if lesson.project is not None else ""
    about = " · ".join(filter(None, [lesson.severity.capitalize() + " severity",
                                     lesson.category]))
    return f"{about}{where}.\n{one_line(lesson.what_happened, 300)}"


def lesson_returned(batch: Batch, row: AuditEvent) -> None:
    session, settings = batch.session, batch.settings
    lesson = _live_lesson(session, row)
    if lesson is None or lesson.owner_id is None:
        return
    comment = (row.detail or {}).get("comment") or ""
    tell(session, settings, {lesson.owner_id}, f"audit:{row.id}", Notice(
        "returned", f"Your lesson was returned: {lesson.title}",
        f"{row.actor} returned “{lesson.title}” with this comment:\n\n{comment}\n\n"
        "Change it and submit it again, saying what you changed.",
        f"/lessons/{lesson.id}", lesson.id, lesson.project_id))


def action_assigned(batch: Batch, row: AuditEvent) -> None:
    session, settings = batch.session, batch.settings
    action = _live_action(session, row)
    if action is None:
        return
    if action.owner_id is not None and action.owner_id != actor_id(session, row):
        due = f"It is due on {action.due_on:%d %b %Y}." if action.due_on else ""
        tell(session, settings, {action.owner_id}, f"audit:{row.id}", action_notice(
            session, action, "action", f"An action is yours: {one_line(action.description, 120)}",
            f"{row.actor} gave you this action on the lesson “{action.lesson.title}”:\n\n"
            f"{action.description}\n\n{due}".strip()))
    if row.action == "action_create":
        _action_hook(session, settings, row, action, "action.created", f"audit:{row.id}")


def action_notice(session: Session, action: Action, kind: str, subject: str,
                  body: str) -> Notice:
    """What to tell an action's owner: the action and its lesson, or, when the owner may
    not see that lesson, only that an action of theirs needs them (DESIGN, invariant 10)."""
    owner = session.get(User, action.owner_id) if action.owner_id is not None else None
    if owner is not None and may_see(session, owner, action.lesson_id):
        return Notice(kind, subject, body, f"/lessons/{action.lesson_id}#actions",
                      action.lesson_id, action.project_id)
    return Notice(kind, "An action of yours needs you, on a lesson you cannot open",
                  "An action you own is on a lesson you may not see, so it is not named "
                  "here. Ask the PMO about it, or give it to someone on the lesson's team.",
                  "/actions/mine")


def action_changed(batch: Batch, row: AuditEvent) -> None:
    """An action closed (by its button, the edit form or the API): told to webhooks once
    per close, however many edits follow."""
    session, settings = batch.session, batch.settings
    action = _live_action(session, row)
    if action is not None and action.status != "open":
        _action_hook(session, settings, row, action, "action.closed",
                     f"action:{action.id}:closed:{action.closed_at}")


def risk_raised(batch: Batch, row: AuditEvent) -> None:
    session, settings = batch.session, batch.settings
    detail = row.detail or {}
    lesson = session.get(Lesson, detail.get("lesson_id") or 0)
    project_id = target_id(row, "project")
    if detail.get("after") != "risk" or lesson is None or lesson.visibility != "organisation":
        return
    webhooks.queue_event(session, settings, "risk.raised", f"audit:{row.id}", {
        "lesson": webhooks.lesson_ref(settings, lesson),
        "project": {"id": project_id, "url": settings.link(f"/projects/{project_id}")}},
        row.at)


def theme_changed(batch: Batch, row: AuditEvent) -> None:
    session, settings = batch.session, batch.settings
    theme_id = target_id(row, "theme")
    theme = session.get(Theme, theme_id) if theme_id else None
    data = ({"theme": {"id": theme.id, "name": theme.label,
                       "url": settings.link(f"/themes/{theme.id}")}}
            if theme is not None else {"themes": "recomputed"})
    webhooks.queue_event(session, settings, "theme.changed", f"audit:{row.id}", data, row.at)


HANDLERS: dict[str, Callable[[Batch, AuditEvent], None]] = {
    "lesson_approve": lesson_approved,
    "lesson_return": lesson_returned,
    "action_create": action_assigned,
    "action_reassign": action_assigned,
    "action_status": action_changed,
    "action_edit": action_changed,
    "decision": risk_raised,
    "theme_rename": theme_changed,
    "themes_recompute": theme_changed,
}


def _action_hook(session: Session, settings: PushSettings, row: AuditEvent, action: Action,
                 event: str, key: str) -> None:
    if action.lesson.visibility == "organisation" and action.lesson.status != "draft":
        webhooks.queue_event(session, settings, event, key, {
            "action": {"id": action.id, "description": action.description,
                       "status": action.status, "due_on": action.due_on and str(action.due_on),
                       "owner": action.owner_label},
            "lesson": webhooks.lesson_ref(settings, action.lesson)}, row.at)


def _live_lesson(session: Session, row: AuditEvent) -> Lesson | None:
    lesson = session.get(Lesson, target_id(row, "lesson") or 0)
    return lesson if lesson is not None and lesson.deleted_at is None else None


def _live_action(session: Session, row: AuditEvent) -> Action | None:
    action = session.get(Action, target_id(row, "action") or 0)
    alive = action is not None and action.deleted_at is None and action.lesson.deleted_at is None
    return action if alive else None
