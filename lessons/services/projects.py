"""Projects: create, edit, soft delete and restore, list, and their teams.

Every change but a creation is audited here, in its own transaction, by the `actor` given."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lessons.actor import SYSTEM, Actor
from lessons.errors import ValidationError
from lessons.fields import PROJECT_FIELDS
from lessons.models import Project, ProjectMember, ProjectTag, User
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
from lessons.validation import clean


def create_project(session: Session, data: Mapping[str, Any],
                   creator_id: int | None = None) -> Project:
    """A new project from untrusted `data`; its creator joins its team."""
    values = clean(PROJECT_FIELDS, data)
    project = Project()
    _apply(session, project, values)
    session.add(project)
    session.flush()
    if creator_id is not None:
        session.add(ProjectMember(project_id=project.id, user_id=creator_id))
    record_change(session, "project", project.id, "create")
    return project


def team(session: Session, project_id: int) -> list[User]:
    """The accounts on the project's team, who see its team-only lessons."""
    return list(session.scalars(select(User).join(ProjectMember, ProjectMember.user_id == User.id)
                                .where(ProjectMember.project_id == project_id)
                                .order_by(User.email)))


def add_member(session: Session, project_id: int, email: str, *,
               actor: Actor | str = SYSTEM) -> User:
    """Put the account with `email` on the project's team."""
    get_live_row(session, Project, project_id)
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or user.disabled_at is not None:
        raise ValidationError({"email": "No enabled account has this email."})
    if session.get(ProjectMember, (project_id, user.id)) is None:
        session.add(ProjectMember(project_id=project_id, user_id=user.id))
        record_change(session, "project", project_id, "team")
    audit.record(session, actor, "team_change", f"team {project_id}")
    session.flush()
    return user


def remove_member(session: Session, project_id: int, user_id: int, *,
                  actor: Actor | str = SYSTEM) -> None:
    """Take an account off the project's team."""
    member = session.get(ProjectMember, (project_id, user_id))
    if member is not None:
        session.delete(member)
        record_change(session, "project", project_id, "team")
    audit.record(session, actor, "team_change", f"team {project_id}")
    session.flush()


def update_project(
    session: Session, project_id: int, data: Mapping[str, Any], *, partial: bool = True,
    actor: Actor | str = SYSTEM,
) -> Project:
    """Change the fields given in `data` (all of them unless `partial`)."""
    project = get_live_row(session, Project, project_id)
    values = clean(PROJECT_FIELDS, data, partial=partial)
    _apply(session, project, values)
    if session.is_modified(project):
        record_change(session, "project", project.id, "update")
    audit.record(session, actor, "project_edit", f"project {project.id}")
    session.flush()
    return project


def delete_project(session: Session, project_id: int, *, actor: Actor | str = SYSTEM) -> Project:
    """Soft-delete a project; its lessons stay, as knowledge does."""
    project = get_row(session, Project, project_id)
    soft_delete(session, project, "project")
    audit.record(session, actor, "project_delete", f"project {project.id}")
    return project


def restore_project(session: Session, project_id: int, *, actor: Actor | str = SYSTEM) -> Project:
    """Undo a soft delete."""
    project = get_row(session, Project, project_id)
    restore(session, project, "project")
    audit.record(session, actor, "project_restore", f"project {project.id}")
    return project


def get_project(session: Session, project_id: int) -> Project:
    """The project, deleted or not, or `NotFound`."""
    return get_row(session, Project, project_id)


def list_projects(session: Session, query: Mapping[str, Any]) -> Page[Project]:
    """One page of projects matching the parsed `query` (see `lessons.queries`)."""
    stmt = select(Project)
    conditions = [state_filter(Project, query["state"])]
    for name in ("status", "phase", "business_unit"):
        if query.get(name):
            conditions.append(getattr(Project, name) == query[name])
    if query.get("tag"):
        conditions.append(Project.tag_rows.any(ProjectTag.tag == query["tag"].lower()))
    stmt = stmt.where(*[c for c in conditions if c is not None])
    columns = {
        "name": func.lower(Project.name),
        "start_date": Project.start_date,
        "created_at": Project.created_at,
        "updated_at": Project.updated_at,
    }
    stmt = stmt.order_by(*ordering(query["sort"], columns, Project.id))
    return paginate(session, stmt, query["page"], query["per_page"])


def project_choices(session: Session) -> list[tuple[int, str]]:
    """(id, name) of every live project, by name, for pickers."""
    rows = session.execute(
        select(Project.id, Project.name)
        .where(Project.deleted_at.is_(None))
        .order_by(func.lower(Project.name))
    )
    return [(row.id, row.name) for row in rows]


def business_units(session: Session) -> list[str]:
    """The business units of the live projects, sorted, for the PMO's filter."""
    return list(session.scalars(
        select(Project.business_unit).where(Project.business_unit.is_not(None),
                                            Project.deleted_at.is_(None))
        .distinct().order_by(Project.business_unit)))


def _apply(session: Session, project: Project, values: dict[str, Any]) -> None:
    """Check the rules that span fields or rows, then set the values."""
    errors = {}
    name = values.get("name", project.name)
    # Both sides folded by the database: SQLite's lower() leaves non-ASCII letters as they are.
    clash = session.scalar(
        select(Project.id).where(func.lower(Project.name) == func.lower(name),
                                 Project.id != project.id)
    ) if name else None
    if clash:
        errors["name"] = "Another project already has this name."
    start = values.get("start_date", project.start_date)
    end = values.get("end_date", project.end_date)
    if start and end and end < start:
        errors["end_date"] = "Must not be before the start date."
    if errors:
        raise ValidationError(errors)
    tags = values.pop("tags", None)
    for name_, value in values.items():
        setattr(project, name_, value)
    if tags is not None:
        set_tags(project.tag_rows, tags, ProjectTag)
