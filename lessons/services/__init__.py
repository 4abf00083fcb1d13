"""The only writers of the domain: each call validates, writes and logs the change.

Services flush; the caller (a request or a CLI command) commits or rolls back.
"""

from lessons.services.actions import (
    create_action,
    delete_action,
    get_action,
    list_actions,
    restore_action,
    update_action,
)
from lessons.services.briefings import decide, store_briefing
from lessons.services.lessons import (
    create_lesson,
    delete_lesson,
    get_lesson,
    lesson_from_form,
    lesson_revisions,
    list_lessons,
    restore_lesson,
    update_lesson,
)
from lessons.services.occurrences import (
    check_occurrence,
    get_occurrence,
    record_occurrence,
    remove_occurrence,
)
from lessons.services.projects import (
    create_project,
    delete_project,
    get_project,
    list_projects,
    project_choices,
    restore_project,
    update_project,
)

__all__ = [
    "create_action", "delete_action", "get_action", "list_actions", "restore_action",
    "update_action", "create_lesson", "delete_lesson", "get_lesson", "lesson_from_form",
    "lesson_revisions", "list_lessons", "restore_lesson", "update_lesson", "create_project",
    "delete_project", "get_project", "list_projects", "project_choices", "restore_project",
    "update_project", "check_occurrence", "get_occurrence", "record_occurrence",
    "remove_occurrence", "decide", "store_briefing",
]
