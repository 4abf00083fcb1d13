"""The demo data that `make run` loads: projects, lessons and actions written for it.

Loading goes through the services like any other capture, in one transaction,
and skips projects that are already there, so loading twice adds nothing.
"""

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from lessons.models import Action, Project
from lessons.services import create_action, create_lesson, create_project

DEMO_FILE = Path(__file__).with_name("demo_data.json")


@dataclass
class DemoResult:
    projects: int = 0
    lessons: int = 0
    actions: int = 0


def load_demo(session: Session, path: Path = DEMO_FILE) -> DemoResult:
    """Create every demo project not yet present, with its lessons and actions."""
    result = DemoResult()
    existing = set(session.scalars(select(Project.name)))
    for entry in json.loads(path.read_text(encoding="utf-8"))["projects"]:
        if entry["name"] in existing:
            continue
        lessons = entry.pop("lessons")
        project = create_project(session, entry)
        result.projects += 1
        for data in lessons:
            actions = data.pop("actions", [])
            lesson = create_lesson(
                session, {**data, "project_id": project.id}, actor=data.get("author") or "demo",
                status="approved", historical=True,
            )
            result.lessons += 1
            for action in actions:
                backdate(create_action(session, {**action, "lesson_id": lesson.id}),
                         lesson.occurred_on)
                result.actions += 1
    return result


def backdate(action: Action, opened_on: date | None) -> None:
    """A demo action opened when its lesson happened and, if done, closed on its due date:
    the PMO's actions opened against closed then read as a history, not one day's load."""
    if opened_on is not None:
        action.created_at = datetime.combine(opened_on, time(12), UTC)
    if action.status == "done" and action.due_on is not None:
        action.closed_at = datetime.combine(action.due_on, time(12), UTC)
