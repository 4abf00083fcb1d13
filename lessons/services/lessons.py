"""Lessons: capture, edit with revisions, soft delete and restore, list.

A lesson captured by an account carries that account's name as its author
unless another is given, and only the PMO and admins may give another: a
contributor logs lessons as themselves. An external id is unique across
every lesson, hidden ones too; the answer to a taken one is the same whether
the viewer may see its holder or not, so it never tells that a hidden lesson
exists.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from lessons.actor import SYSTEM, Actor, as_actor
from lessons.errors import ValidationError
from lessons.fields import DEFAULT_CATEGORIES, LESSON_FIELDS, SEVERITIES, category_labels
from lessons.models import Lesson, LessonTag, Project, Revision, User
from lessons.policy import SEES_EVERYTHING
from lessons.queries import Page, last_page
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
from lessons.services.reviews import open_review, reopen, review_step
from lessons.validation import clean


def category_choices(categories: Sequence[str]) -> dict[str, dict[str, str]]:
    """The `choices` argument of `clean` for a configured category list."""
    return {"category": category_labels(categories)}


def create_lesson(
    session: Session,
    data: Mapping[str, Any],
    *,
    actor: Actor | str,
    categories: Sequence[str] = DEFAULT_CATEGORIES,
    owner_id: int | None = None,
    status: str = "submitted",
    historical: bool = False,
    form_key: str | None = None,
) -> Lesson:
    """Capture a lesson from untrusted `data`; its first revision records who, `owner_id`
    the account that may edit it besides the PMO, and `status` where its review starts.
    A `historical` record (an import's row, the demo's) arrives approved without a review
    step of its own: its import is audited once, and nobody is told of it as news.
    `form_key` is the capture form's one-time key (`lesson_from_form`)."""
    actor = as_actor(actor)
    values = clean(LESSON_FIELDS, data, choices=category_choices(categories))
    lesson = Lesson(owner_id=owner_id, form_key=form_key)
    owner = session.get(User, owner_id) if owner_id is not None else None
    _check_author(lesson, values, owner, owner is not None and owner.role in SEES_EVERYTHING)
    _apply(session, lesson, values)
    session.add(lesson)
    open_review(session, lesson, status, actor, audited=not historical)
    session.flush()
    _add_revision(session, lesson, actor.name)
    record_change(session, "lesson", lesson.id, "create")
    return lesson


def lesson_from_form(session: Session, form_key: str) -> Lesson | None:
    """The lesson a capture form with this one-time key already saved, if any."""
    return session.scalar(select(Lesson).where(Lesson.form_key == form_key))


def update_lesson(
    session: Session,
    lesson_id: int,
    data: Mapping[str, Any],
    *,
    actor: Actor | str,
    partial: bool = True,
    categories: Sequence[str] = DEFAULT_CATEGORIES,
    by_reviewer: bool = True,
    submit: Mapping[str, Any] | None = None,
) -> Lesson:
    """Change the fields given in `data`; a real change adds a revision, and sends an approved
    lesson back for review unless the change is `by_reviewer` (the PMO's). With `submit` (the
    reply's data) a draft or returned lesson is also submitted, in the same click. The edit is
    audited once, last, whether or not a field changed."""
    actor = as_actor(actor)
    lesson = get_live_row(session, Lesson, lesson_id)
    values = clean(LESSON_FIELDS, data, partial=partial, choices=category_choices(categories))
    if "author" in values:
        owner = session.get(User, lesson.owner_id) if lesson.owner_id is not None else None
        _check_author(lesson, values, owner, by_reviewer)
    before = lesson.content()
    _apply(session, lesson, values)
    if lesson.content() != before:
        session.flush()
        _add_revision(session, lesson, actor.name)
        record_change(session, "lesson", lesson.id, "update")
        if not by_reviewer:
            reopen(session, lesson, actor)
    if lesson.visibility != before["visibility"]:  # who may see it changed: audited
        audit.record(session, actor, "visibility_change", f"lesson {lesson.id}",
                     before=before["visibility"], after=lesson.visibility)
    if submit is not None:
        review_step(session, lesson.id, "submit", actor=actor, data=submit)
    audit.record(session, actor, "lesson_edit", f"lesson {lesson.id}")
    return lesson


def delete_lesson(session: Session, lesson_id: int, *, actor: Actor | str = SYSTEM) -> Lesson:
    """Soft-delete: the lesson leaves lists and search, and can be restored."""
    lesson = get_row(session, Lesson, lesson_id)
    soft_delete(session, lesson, "lesson")
    audit.record(session, actor, "lesson_delete", f"lesson {lesson.id}")
    return lesson


def restore_lesson(session: Session, lesson_id: int, *, actor: Actor | str = SYSTEM) -> Lesson:
    """Undo a soft delete."""
    lesson = get_row(session, Lesson, lesson_id)
    restore(session, lesson, "lesson")
    audit.record(session, actor, "lesson_restore", f"lesson {lesson.id}")
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


def list_lessons(session: Session, query: Mapping[str, Any], *,
                 last_if_past: bool = False) -> Page[Lesson]:
    """One page of lessons matching the parsed `query` (see `lessons.queries`); a page past
    the end is empty, or with `last_if_past` (pages people read) the last page."""
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
    page = paginate(session, stmt, query["page"], query["per_page"])
    if last_if_past and page.page > page.pages:
        page = paginate(session, stmt, last_page(page.total, page.per_page), page.per_page)
    return page


def _check_author(lesson: Lesson, values: dict[str, Any], owner: User | None,
                  any_author: bool) -> None:
    """Fill a blank author from the owning account; refuse another name than the owner's
    unless `any_author` (the PMO or an admin). Lessons without an account (imports, the CLI)
    keep what they were given."""
    if owner is None or "author" not in values:
        return
    author = values["author"]
    if not author:
        values["author"] = lesson.author if lesson.author and lesson.id else owner.label
        return
    own = {name.strip().casefold() for name in (owner.name, owner.email) if name}
    if author != lesson.author and author.strip().casefold() not in own and not any_author:
        raise ValidationError({"author": f"Lessons you log carry your own name ({owner.label}); "
                                         "only the PMO records a lesson for someone else."})


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
    if external_id is not None and external_id != lesson.external_id and _taken(session,
                                                                               external_id):
        errors["external_id"] = EXTERNAL_ID_TAKEN
    if errors:
        raise ValidationError(errors)
    tags = values.pop("tags", None)
    for name, value in values.items():
        setattr(lesson, name, value)
    if tags is not None:
        set_tags(lesson.tag_rows, tags, LessonTag)


EXTERNAL_ID_TAKEN = "This external id is already in use."


def _taken(session: Session, external_id: str) -> bool:
    """Whether any lesson holds `external_id`, hidden or deleted ones too. Read on the
    session's connection, past the viewer's policy (lessons.policy), because the unique
    constraint counts every row; the answer names no lesson, so it tells nothing more."""
    table = Lesson.__table__
    found = session.connection().execute(
        select(table.c.id).where(table.c.external_id == external_id).limit(1))
    return found.first() is not None


def _add_revision(session: Session, lesson: Lesson, actor: str) -> None:
    number = len(lesson.revisions) + 1
    session.add(Revision(lesson=lesson, number=number, actor=actor, content=lesson.content()))
