"""The audit trail of requests that change or carry data away: edits, deletes, restores,
imports and exports. Sign-ins, account changes, visibility changes, review steps, new
actions and occurrences, and kickoff decisions are recorded where they happen (the
services, so every path is), since the URL does not name the row they make."""

from flask import Flask, Response, request

from lessons.services import audit
from web.auth import client_ip
from web.database import db
from web.identity import current_actor

AUDITED = {
    "lessons.edit": "lesson_edit", "api.update_lesson": "lesson_edit",
    "lessons.delete": "lesson_delete", "api.delete_lesson": "lesson_delete",
    "lessons.restore": "lesson_restore", "api.restore_lesson": "lesson_restore",
    "projects.edit": "project_edit", "api.update_project": "project_edit",
    "projects.delete": "project_delete", "api.delete_project": "project_delete",
    "projects.restore": "project_restore", "api.restore_project": "project_restore",
    "projects.add_to_team": "team_change", "projects.remove_from_team": "team_change",
    "actions.edit": "action_edit", "api.update_action": "action_edit",
    "actions.set_status": "action_status",
    "actions.delete": "action_delete", "api.delete_action": "action_delete",
    "actions.restore": "action_restore", "api.restore_action": "action_restore",
    "search.remove_occurrence": "occurrence_delete",  # the capture form's Undo
    "imports.start": "import",
    "exports.lessons_csv": "export", "exports.archive": "export",
}


def init_app(app: Flask) -> None:
    app.after_request(record_audited)


def record_audited(response: Response) -> Response:
    """Log a successful audited request. An edit form's GET is not one, nor is the export's
    204 to htmx, which hands the download over to the browser's own request."""
    action = AUDITED.get(request.endpoint or "")
    reading = request.method in ("GET", "HEAD")
    # An export is audited when read: the download is the act.
    if (action is None or response.status_code >= 400 or (reading and action != "export")
            or (reading and response.status_code == 204)):
        return response
    row_id = next(iter((request.view_args or {}).values()), None)
    target = f"{action.split('_')[0]} {row_id}" if row_id is not None else request.full_path
    audit.record(db.session, current_actor(), action, target, ip=client_ip())
    db.session.commit()
    return response
