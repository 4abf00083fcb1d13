"""Who may see which lesson: the one place the rule is written.

A lesson is seen by everyone (organisation), by its project's business unit,
or by its project's team, once it is no longer a draft; its author always
sees it, and the PMO and admins see everything. `restrict(session, viewer)`
makes a database session apply the rule to every ORM query it runs: lessons,
and the actions, occurrences and kickoff decisions that belong to them; a
lesson's review steps and their comments are between its author and the
PMO. A web request's session is restricted before its view runs, so lists,
search and its counts and snippets, similar-while-typing, briefings, themes,
the API and exports all see through the same rule, and a path that forgets
it cannot exist. Code that reads tables with Core or raw SQL
(keyword search, the CSV export) filters their results through the
restricted session or `visible()`. `sees()` is the same rule for one set of
values, for what is not a lesson row: an old revision keeps the audience it
was written for (lessons.history).

A project's charter (description, sponsor, objectives, vendors, technologies,
constraints, budget, team size) and its team list follow its lessons: when any
of its live lessons is team-only, only its team, the PMO and admins read them
(`reads_charter`); everyone else sees its name, status, phase, business unit,
dates and tags, which lists and filters need.
"""

from typing import Any, Protocol

from sqlalchemy import ColumnElement, event, select, true
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from lessons.models import (
    Action,
    KickoffDecision,
    Lesson,
    Occurrence,
    Project,
    ProjectMember,
    Review,
)

SEES_EVERYTHING = {"pmo", "admin"}
CHARTER = ("description", "sponsor", "objectives", "vendors", "technologies", "constraints",
           "budget_range", "team_size")


class Viewer(Protocol):
    """Who is looking; read-only, so a frozen `Account` is one and nothing here changes it."""

    @property
    def id(self) -> int: ...  # 0 for a visitor who is not signed in
    @property
    def role(self) -> str: ...
    @property
    def business_unit(self) -> str | None: ...


def seen_by_everyone() -> ColumnElement[bool]:
    """The condition on `Lesson` for what any account, or a visitor, may see."""
    return (Lesson.visibility == "organisation") & (Lesson.status != "draft")


def visible(viewer: Viewer | None) -> ColumnElement[bool]:
    """The condition on `Lesson` for what `viewer` may see (None: the system, everything)."""
    if viewer is None or viewer.role in SEES_EVERYTHING:
        return true()
    if not viewer.id:
        return seen_by_everyone()
    shared = Lesson.visibility == "organisation"
    teams = select(ProjectMember.project_id).where(ProjectMember.user_id == viewer.id)
    shared |= (Lesson.visibility == "project") & Lesson.project_id.in_(teams)
    if viewer.business_unit:
        units = select(Project.id).where(Project.business_unit == viewer.business_unit)
        shared |= (Lesson.visibility == "business_unit") & Lesson.project_id.in_(units)
    # A draft is its author's until it is submitted.
    return (shared & (Lesson.status != "draft")) | (Lesson.owner_id == viewer.id)


def sees(session: Session, viewer: Viewer | None, *, visibility: str, project_id: int | None,
         draft: bool, owner_id: int | None) -> bool:
    """Whether `viewer` sees a lesson with these values: `visible()` for one lesson, in Python
    (tests/test_revision_audience.py checks that the two agree)."""
    if viewer is None or viewer.role in SEES_EVERYTHING:
        return True
    if viewer.id and owner_id == viewer.id:
        return True
    if draft:
        return False
    if visibility == "organisation":
        return True
    if not viewer.id or project_id is None:
        return False
    if visibility == "project":
        return session.get(ProjectMember, (project_id, viewer.id)) is not None
    if visibility == "business_unit" and viewer.business_unit:
        project = session.get(Project, project_id)
        return project is not None and project.business_unit == viewer.business_unit
    return False


def reads_charter(session: Session, viewer: Viewer | None, project_id: int) -> bool:
    """Whether `viewer` may read the project's charter and team list (CHARTER)."""
    if viewer is None or viewer.role in SEES_EVERYTHING:
        return True
    lessons = Lesson.__table__
    # Read past the viewer's policy, in Core: the team-only lessons are the ones they cannot see.
    team_only = session.connection().scalar(select(lessons.c.id).where(
        lessons.c.project_id == project_id, lessons.c.visibility == "project",
        lessons.c.deleted_at.is_(None)).limit(1))
    if team_only is None:
        return True
    return bool(viewer.id) and session.get(ProjectMember, (project_id, viewer.id)) is not None


def shown_project(session: Session, viewer: Viewer | None, project: Project) -> dict[str, Any]:
    """The project as the API shows it to `viewer`: its charter blank unless `reads_charter`."""
    data = project.as_dict()
    if not reads_charter(session, viewer, project.id):
        data.update(dict.fromkeys(CHARTER))
    return data


def session_viewer(session: Session) -> Viewer | None:
    """Whom `restrict` made `session` see for (None: it sees everything; search then needs no
    narrowing up front, nor shown numbers any hiding)."""
    viewer: Viewer | None = session.info.get("viewer")
    return viewer


def restrict(session: Session, viewer: Viewer | None) -> None:
    """Make every ORM query of `session` see only what `viewer` may see."""
    if viewer is None or viewer.role in SEES_EVERYTHING:
        return
    allowed = visible(viewer)
    session.info["viewer"] = viewer  # `session_viewer`: what is shown per viewer but is no row
    lesson_ids = select(Lesson.id).where(allowed)
    options = [with_loader_criteria(Lesson, allowed, include_aliases=True)]
    options += [with_loader_criteria(child, child.lesson_id.in_(lesson_ids), include_aliases=True)
                for child in (Action, Occurrence, KickoffDecision)]
    own = select(Lesson.id).where(Lesson.owner_id == viewer.id)
    options.append(with_loader_criteria(Review, Review.lesson_id.in_(own), include_aliases=True))

    @event.listens_for(session, "do_orm_execute")
    def add_criteria(state: ORMExecuteState) -> None:
        if state.is_select:
            state.statement = state.statement.options(*options)

