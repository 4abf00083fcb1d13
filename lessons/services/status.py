"""Counts for `lessons status` and the home page."""

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from lessons.models import Action, Change, Lesson, Project


def counts(session: Session, today: date) -> dict[str, int]:
    """How many rows of each kind there are, live and deleted."""
    def count(model: Any, *where: ColumnElement[bool]) -> int:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    open_actions = (Action.deleted_at.is_(None), Action.status == "open")
    return {
        "projects": count(Project, Project.deleted_at.is_(None)),
        "lessons": count(Lesson, Lesson.deleted_at.is_(None)),
        "deleted lessons": count(Lesson, Lesson.deleted_at.is_not(None)),
        "open actions": count(Action, *open_actions),
        "overdue actions": count(Action, *open_actions, Action.due_on < today),
        "last change": session.scalar(select(func.max(Change.seq))) or 0,
    }
