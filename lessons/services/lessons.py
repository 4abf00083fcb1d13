"""Lessons: capture, edit with revisions, soft delete and restore, list."""

from typing import Any, Mapping, Sequence

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from lessons.errors import ValidationError
from lessons.fields import DEFAULT_CATEGORIES, LESSON_FIELDS, SEVERITIES
from lessons.models import Lesson, LessonTag, Project, Revision
from lessons.queries import Page
from lessons.services import audit
from lessons.services.common import (
    get_live_row,
    get_row,
    ordering,
    paginate,
    record_change,
    restore,
    set_tags,
    soft_delete,
    state_filter,
)
from lessons.services.reviews import open_review, reopen
from lessons.validation import clean


def category_choices(categories: Sequence[str]) -> dict[str, dict[str, str]]:
    """The `choices` argument of `clean` for a configured category list."""
    return {"category": {name: name.capitalize() for name in categories}}


def create_lesson(
    session: Session,
    data: Mapping[str, Any],
    *,
    actor: str,
    categories: Sequence[str] = DEFAULT_CATEGORIES,
    owner_id: int | None = None,
    status: str = "submitted",
) -> Lesson:
    """Capture a lesson from untrusted `data`; its first revision records who, `owner_id`
    the account that may edit it besides the PMO, and `status` where its review starts."""
    values = clean(LESSON_FIELDS, data, choices=category_choices(categories))
    lesson = Lesson(owner_id=owner_id)
    _apply(session, lesson, values)
    session.add(lesson)
    open_review(session, lesson, status, actor)
    session.flush()
    _add_revision(session, lesson, actor)
    record_change(session, "lesson", lesson.id, "create")
    return lesson


def update_lesson(
    session: Session,
    lesson_id: int,
    data: Mapping[str, Any],
    *,
    actor: str,
    partial: bool = True,
    categories: Sequence[str] = DEFAULT_CATEGORIES,
    by_reviewer: bool = True,
) -> Lesson:
    """Change the fields given in `data`; a real change adds a revision, and sends an approved
    lesson back for review unless the change is `by_reviewer` (the PMO's)."""
    lesson = get_live_row(session, Lesson, lesson_id)
    values = clean(LESSON_FIELDS, data, partial=partial, choices=category_choices(categories))
    before = lesson.content()
    _apply(session, lesson, values)
    if lesson.content() != before:
        session.flush()
        _add_revision(session, lesson, actor)
        record_change(session, "lesson", lesson.id, "update")
        if not by_reviewer:
            reopen(session, lesson, actor)
    if lesson.visibility != before["visibility"]:  # who may see it changed: audited
        audit.record(session, actor, "visibility_change", f"lesson {lesson.id}",
                     before=before["visibility"], after=lesson.visibility)
    return lesson


def delete_lesson(session: Session, lesson_id: int) -> Lesson:
    """Soft-delete: the lesson leaves lists and search, and can be restored."""
    lesson = get_row(session, Lesson, lesson_id)
    soft_delete(session, lesson, "lesson")
    return lesson


def restore_lesson(session: Session, lesson_id: int) -> Lesson:
    """Undo a soft delete."""
    lesson = get_row(session, Lesson, lesson_id)
    restore(session, lesson, "lesson")
    return lesson


def get_lesson(session: Session, lesson_id: int) -> Lesson:
    """The lesson, deleted or not, or `NotFound`."""
    return get_row(session, Lesson, lesson_id)


def lesson_revisions(session: Session, lesson_id: int) -> list[Revision]:
    """Every revision of a lesson, oldest first."""
    return list(get_row(session, Lesson, lesson_id).revisions)


SEVERITY_RANK = case({key: rank for rank, key in enumerate(SEVERITIES)}, value=Lesson.severity)


def lesson_conditions(query: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """The WHERE conditions of a parsed lesson query; search applies the same ones."""
    conditions = [state_filter(Lesson, query.get("state", "active"))]
    for name in ("project_id", "category", "kind", "severity", "phase", "status"):
        if query.get(name) is not None:
            conditions.append(getattr(Lesson, name) == query[name])
    if query.get("tag"):
        conditions.append(Lesson.tag_rows.any(LessonTag.tag == query["tag"].lower()))
    if query.get("occurred_from"):
        conditions.append(Lesson.occurred_on >= query["occurred_from"])
    if query.get("occurred_to"):
        conditions.append(Lesson.occurred_on <= query["occurred_to"])
    return [c for c in conditions if c is not None]


def list_lessons(session: Session, query: Mapping[str, Any]) -> Page[Lesson]:
    """One page of lessons matching the parsed `query` (see `lessons.queries`)."""
    columns = {
        "occurred_on": Lesson.occurred_on,
        "created_at": Lesson.created_at,
        "updated_at": Lesson.updated_at,
        "title": func.lower(Lesson.title),
        "severity": SEVERITY_RANK,
        "impact_cost": Lesson.impact_cost,
        "impact_days": Lesson.impact_days,
    }
    stmt = (
        select(Lesson)
        .where(*lesson_conditions(query))
        .order_by(*ordering(query["sort"], columns, Lesson.id))
    )
    return paginate(session, stmt, query["page"], query["per_page"])


def _apply(session: Session, lesson: Lesson, values: dict[str, Any]) -> None:
    """Check the rules that reach other rows, then set the values."""
    errors = {}
    project_id = values.get("project_id")
    if project_id is not None and project_id != lesson.project_id:
        project = session.get(Project, project_id)
        if project is None or project.is_deleted:
            errors["project_id"] = "No such project."
    project_after = values.get("project_id", lesson.project_id)
    if values.get("visibility", lesson.visibility) != "organisation" and project_after is None:
        # Its business unit and its team both come from its project.
        errors["visibility"] = "Choose the project first: who may see it follows the project."
    external_id = values.get("external_id")
    if external_id is not None and external_id != lesson.external_id:
        holder = session.scalar(select(Lesson.id).where(Lesson.external_id == external_id))
        if holder is not None:
            errors["external_id"] = f"Lesson {holder} already has this external id."
    if errors:
        raise ValidationError(errors)
    tags = values.pop("tags", None)
    for name, value in values.items():
        setattr(lesson, name, value)
    if tags is not None:
        set_tags(lesson.tag_rows, tags, LessonTag)


def _add_revision(session: Session, lesson: Lesson, actor: str) -> None:
    number = len(lesson.revisions) + 1
    session.add(Revision(lesson=lesson, number=number, actor=actor, content=lesson.content()))
