"""Occurrences: the same lesson hit again, recorded on the existing lesson instead of a
duplicate."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from lessons.actor import SYSTEM, Actor, as_actor
from lessons.errors import ValidationError
from lessons.fields import LONG_TEXT, Field
from lessons.models import Lesson, Occurrence, Project
from lessons.services import audit
from lessons.services.common import get_live_row, get_row, record_change
from lessons.validation import clean

OCCURRENCE_FIELDS = (
    Field("project_id", "Project", "ref"),
    Field("occurred_on", "Date", "date"),
    Field("note", "Note", "text", max_length=LONG_TEXT),
)


def check_occurrence(
    session: Session, lesson_id: int, data: Mapping[str, Any]
) -> tuple[Lesson, dict[str, Any], Project | None]:
    """The live lesson, the clean values and the project of the occurrence `data` describes,
    without writing anything: what a confirmation shows before `record_occurrence`."""
    lesson = get_live_row(session, Lesson, lesson_id)
    values = clean(OCCURRENCE_FIELDS, data)
    project = None
    if values["project_id"] is not None:
        project = session.get(Project, values["project_id"])
        if project is None or project.is_deleted:
            raise ValidationError({"project_id": "No such project."})
    return lesson, values, project


def record_occurrence(
    session: Session, lesson_id: int, data: Mapping[str, Any], *, actor: Actor | str
) -> Occurrence:
    """Note that the lesson happened again (on a project, on a date, with a note); audited,
    whatever path records it, as its Undo is."""
    lesson, values, _ = check_occurrence(session, lesson_id, data)
    occurrence = Occurrence(lesson=lesson, actor=as_actor(actor).name, **values)
    session.add(occurrence)
    session.flush()
    record_change(session, "occurrence", occurrence.id, "create")
    audit.record(session, actor, "occurrence_create", f"occurrence {occurrence.id}",
                 lesson_id=lesson.id, project_id=occurrence.project_id)
    return occurrence


def get_occurrence(session: Session, occurrence_id: int) -> Occurrence:
    """The occurrence, or `NotFound`."""
    return get_row(session, Occurrence, occurrence_id)


def remove_occurrence(session: Session, occurrence_id: int, *,
                      actor: Actor | str = SYSTEM) -> Occurrence:
    """Take back an occurrence recorded by mistake (the capture form's Undo).

    Deleted for good, not soft-deleted: it was never meant to be there, and
    repeats and themes count every row that is.
    """
    occurrence = get_occurrence(session, occurrence_id)
    session.delete(occurrence)
    session.flush()
    record_change(session, "occurrence", occurrence_id, "delete")
    audit.record(session, actor, "occurrence_delete", f"occurrence {occurrence_id}")
    return occurrence
