"""The NASA Lessons Learned Information System (LLIS) CSV export.

Mapping: Lesson ID → external_id "LLIS-<id>"; Title → title; Abstract and
Driving Event → what_happened; Lesson(s) Learned → root_cause (what was
understood about why); Recommendation(s) → recommendation; Project / Program
→ the project (created on first sight, Organization as its business unit);
Date Lesson Occurred → occurred_on; Topics → tags. LLIS records are failures
and hazards, so they arrive as "went wrong", medium severity.
Rows already imported (same external id) are skipped, so a rerun adds nothing.
"""

import csv
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lessons.errors import ValidationError
from lessons.fields import MAX_TAG_LENGTH, MAX_TAGS
from lessons.models import Lesson, Project
from lessons.services import create_lesson, create_project

BATCH = 200
REQUIRED_COLUMNS = ("Lesson ID", "Title", "Abstract", "Driving Event", "Lesson(s) Learned",
                    "Recommendation(s)", "Organization", "Project / Program",
                    "Date Lesson Occurred", "Topics")


@dataclass
class ImportReport:
    created: int = 0
    skipped: int = 0
    projects: int = 0
    rejected: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (row, errors)


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    """The CSV's rows as dicts; a file without the LLIS columns is refused up front."""
    csv.field_size_limit(sys.maxsize)
    with open(path, encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValidationError({"file": f"Missing LLIS columns: {', '.join(missing)}."},
                                  "This is not an LLIS export.")
        yield from reader


def lesson_data(row: dict[str, str]) -> dict[str, Any]:
    """One LLIS row as lesson input (project by name, resolved by the caller)."""
    def text(column: str) -> str:
        return (row.get(column) or "").strip()

    happened = "\n\n".join(part for part in (text("Abstract"), text("Driving Event")) if part)
    date = text("Date Lesson Occurred")
    return {
        "external_id": f"LLIS-{text('Lesson ID')}",
        "title": text("Title")[:500] or f"LLIS lesson {text('Lesson ID')}",
        "what_happened": happened or text("Lesson(s) Learned") or text("Title"),
        "root_cause": text("Lesson(s) Learned") or None,
        "recommendation": text("Recommendation(s)") or None,
        "occurred_on": date if re.fullmatch(r"\d{4}-\d{2}-\d{2}", date) else None,
        "tags": [t.strip()[:MAX_TAG_LENGTH] for t in text("Topics").split(",") if t.strip()][:MAX_TAGS],
        "kind": "went_wrong",
    }


def import_llis(
    session: Session,
    path: Path,
    *,
    actor: str,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Create the lessons of an LLIS export that are not here yet, committing every BATCH rows."""
    report = ImportReport()
    known = set(session.scalars(select(Lesson.external_id).where(Lesson.external_id.is_not(None))))
    for number, row in enumerate(read_rows(path), start=2):  # row 1 is the header
        data = lesson_data(row)
        if data["external_id"] in known:
            report.skipped += 1
        else:
            try:
                with session.begin_nested():
                    data["project_id"] = project_for(session, row, report)
                    create_lesson(session, data, actor=actor)
                report.created += 1
                known.add(data["external_id"])
            except ValidationError as error:
                report.rejected.append((number, error.fields))
        if on_progress:
            on_progress(1)
        if number % BATCH == 0:
            session.commit()
    session.commit()
    return report


def project_for(session: Session, row: dict[str, str], report: ImportReport) -> int | None:
    """The id of the row's project, created the first time its name is seen."""
    name = (row.get("Project / Program") or "").strip()[:200]
    if not name:
        return None
    project_id = session.scalar(select(Project.id).where(func.lower(Project.name) == name.lower()))
    if project_id is None:
        unit = (row.get("Organization") or "").strip()[:200] or None
        project_id = create_project(session, {"name": name, "business_unit": unit,
                                              "status": "completed", "phase": "closure"}).id
        report.projects += 1
    return project_id
