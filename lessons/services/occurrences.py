"""Occurrences: the same lesson hit again, recorded on the existing lesson instead of a duplicate."""

from typing import Any, Mapping

from sqlalchemy.orm import Session

from lessons.errors import ValidationError
from lessons.fields import LONG_TEXT, Field
from lessons.models import Lesson, Occurrence, Project
from lessons.services.common import get_live_row, record_change
from lessons.validation import clean

OCCURRENCE_FIELDS = (
    Field("project_id", "Project", "ref"),
    Field("occurred_on", "Date", "date"),
    Field("note", "Note", "text", max_length=LONG_TEXT),
)


def record_occurrence(
    session: Session, lesson_id: int, data: Mapping[str, Any], *, actor: str
) -> Occurrence:
    """Note that the lesson happened again (on a project, on a date, with a note)."""
    lesson = get_live_row(session, Lesson, lesson_id)
    values = clean(OCCURRENCE_FIELDS, data)
    if values["project_id"] is not None:
        project = session.get(Project, values["project_id"])
        if project is None or project.is_deleted:
            raise ValidationError({"project_id": "No such project."})
    occurrence = Occurrence(lesson=lesson, actor=actor, **values)
    session.add(occurrence)
    session.flush()
    record_change(session, "occurrence", occurrence.id, "create")
    return occurrence
