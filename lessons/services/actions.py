"""Actions on lessons: who does what by when, and whether it was done.

Who may change an action is the caller's check (web.auth `can_change_action`); a new
action is audited here, whatever path adds it, and the changes to an existing one by the
request that makes them (web.audit)."""

from datetime import date
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lessons.errors import ValidationError
from lessons.fields import ACTION_FIELDS
from lessons.models import Action, Lesson, utcnow
from lessons.queries import Page
from lessons.services import audit
from lessons.services.common import (
    get_live_row,
    get_row,
    ordering,
    paginate,
    record_change,
    restore,
    soft_delete,
    state_filter,
)
from lessons.validation import clean


def create_action(session: Session, data: Mapping[str, Any], *, actor: str = "system") -> Action:
    """A new action on a live lesson, from untrusted `data`; `actor` is audited as adding it."""
    values = clean(ACTION_FIELDS, data)
    _check_lesson(session, values["lesson_id"])
    action = Action()
    _apply(action, values)
    session.add(action)
    session.flush()
    record_change(session, "action", action.id, "create")
    audit.record(session, actor, "action_create", f"action {action.id}", lesson_id=action.lesson_id)
    return action


def update_action(
    session: Session, action_id: int, data: Mapping[str, Any], *, partial: bool = True
) -> Action:
    """Change the fields given in `data`; closing an action stamps when."""
    action = get_live_row(session, Action, action_id)
    values = clean(ACTION_FIELDS, data, partial=partial)
    if values.get("lesson_id", action.lesson_id) != action.lesson_id:
        _check_lesson(session, values["lesson_id"])
    _apply(action, values)
    if session.is_modified(action):
        record_change(session, "action", action.id, "update")
    session.flush()
    return action


def delete_action(session: Session, action_id: int) -> Action:
    """Soft-delete an action."""
    action = get_row(session, Action, action_id)
    soft_delete(session, action, "action")
    return action


def restore_action(session: Session, action_id: int) -> Action:
    """Undo a soft delete."""
    action = get_row(session, Action, action_id)
    restore(session, action, "action")
    return action


def get_action(session: Session, action_id: int) -> Action:
    """The action, deleted or not, or `NotFound`."""
    return get_row(session, Action, action_id)


def list_actions(session: Session, query: Mapping[str, Any], today: date) -> Page[Action]:
    """One page of actions matching the parsed `query`; `overdue` is judged on `today`."""
    conditions = [state_filter(Action, query["state"])]
    if query.get("state") != "all":
        # An action of a deleted lesson is out of sight with its lesson.
        conditions.append(Action.lesson.has(Lesson.deleted_at.is_(None)))
    for name in ("lesson_id", "status"):
        if query.get(name) is not None:
            conditions.append(getattr(Action, name) == query[name])
    if query.get("owner"):
        conditions.append(func.lower(Action.owner) == query["owner"].lower())
    if query.get("overdue") == "true":
        conditions += [Action.status == "open", Action.due_on < today]
    columns = {
        "due_on": Action.due_on,
        "created_at": Action.created_at,
        "updated_at": Action.updated_at,
        "owner": func.lower(Action.owner),
    }
    stmt = (
        select(Action)
        .where(*[c for c in conditions if c is not None])
        .order_by(*ordering(query["sort"], columns, Action.id))
    )
    return paginate(session, stmt, query["page"], query["per_page"])


def _check_lesson(session: Session, lesson_id: int) -> None:
    lesson = session.get(Lesson, lesson_id)
    if lesson is None or lesson.is_deleted:
        raise ValidationError({"lesson_id": "No such lesson."})


def _apply(action: Action, values: dict[str, Any]) -> None:
    status = values.get("status", action.status)
    if status != action.status:
        action.closed_at = None if status == "open" else utcnow()
    for name, value in values.items():
        setattr(action, name, value)
