"""Kickoff briefings: a project's surfaced lessons, the team's decisions on them, and their part
of the OpenAPI document."""

from typing import Any

from flask import Response, jsonify

from lessons import services
from lessons.services.briefings import DECISION_FIELDS, decision_actions
from search.briefing import briefing_rows, new_since_kickoff
from web.api.blueprint import api, json_body
from web.api.schema import BODY_ERRORS, ID_PARAMETER, error, input_schema, json_content, ref
from web.api.serializers import BRIEFING, BRIEFING_ITEM, DECISION, briefing_json, decision_json
from web.auth import check_project_team
from web.database import db
from web.engine import engine, feeds, project_briefing
from web.identity import current_actor


@api.get("/projects/<int:row_id>/briefing")
def briefing(row_id: int) -> Response:
    """The project's kickoff briefing (computed now if not ready), with decisions and new
    lessons."""
    project = services.get_project(db.session, row_id)
    current = project_briefing(project)
    rows = briefing_rows(project, current)
    fresh = new_since_kickoff(engine(), db.session, project, current, feeds()) if current else []
    return jsonify(briefing_json(project, current, rows, fresh))


@api.post("/projects/<int:row_id>/briefing/decisions")
def decide(row_id: int) -> Response:
    """Record the team's decision on a surfaced lesson: applied, not_applicable or risk (the
    project's team or the PMO). A risk opens the project's action on the lesson (owned by
    `owner`, else the caller); `action` is that action, which another decision leaves open."""
    services.get_project(db.session, row_id)
    check_project_team(row_id, "decide on its briefing")
    decision = services.decide(db.session, row_id, json_body(), actor=current_actor())
    db.session.commit()
    action = decision_actions(db.session, row_id).get(decision.lesson_id)
    return jsonify(decision_json(decision, action))


def decision_body(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The body of a decision, from the fields the service validates it with."""
    body = input_schema(DECISION_FIELDS, choices, patch=False)
    # The field table carries no help for these, and a client needs to know what they take.
    described = {
        "owner": "For a risk: the email of who owns the action it opens (default: the "
                 "caller). Unknown: 422.",
        "title": "For a risk: the title of the action it opens (default: the lesson's).",
        "due_on": "For a risk: when the action it opens is due.",
    }
    for name, text in described.items():
        body["properties"][name]["description"] = text + (
            " Sent again for a lesson that has its action, it changes that action; with "
            "another decision, 422.")
    return body


def openapi_schemas(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A lesson of a briefing, and a decision."""
    return {"BriefingItem": BRIEFING_ITEM, "Decision": DECISION}


def openapi_paths(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The kickoff briefing of a project and the team's decisions."""
    missing = error("No project with this id.")
    return {
        "/projects/{row_id}/briefing": {
            "parameters": [ID_PARAMETER],
            "get": {
                "summary": "The project's kickoff briefing, computed now if not ready",
                "operationId": "briefing",
                "responses": {"200": {"description": "Ranked lessons with why and decisions.",
                                      **json_content(BRIEFING)},
                              "404": missing},
            },
        },
        "/projects/{row_id}/briefing/decisions": {
            "parameters": [ID_PARAMETER],
            "post": {
                "summary": "Record the team's decision on a surfaced lesson",
                "operationId": "decide",
                "requestBody": {"required": True, **json_content(decision_body(choices))},
                "responses": {"200": {"description": "The decision.",
                                      **json_content(ref("Decision"))},
                              "404": missing, "409": error("The project is deleted."),
                              **BODY_ERRORS},
            },
        },
    }
