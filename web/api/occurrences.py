"""Occurrences: a lesson met again, recorded on it instead of as a duplicate, and their part of
the OpenAPI document."""

from typing import Any

from flask import Response, jsonify

from lessons import services
from lessons.services.occurrences import OCCURRENCE_FIELDS
from web.api.blueprint import api, json_body
from web.api.schema import BODY_ERRORS, ID_PARAMETER, error, input_schema, json_content, ref
from web.api.serializers import listing, listing_schema
from web.database import db
from web.identity import current_actor


@api.get("/lessons/<int:row_id>/occurrences")
def occurrences(row_id: int) -> Response:
    """Every recorded repeat of this lesson."""
    lesson = services.get_lesson(db.session, row_id)
    return jsonify(listing([occurrence.as_dict() for occurrence in lesson.occurrences]))


@api.post("/lessons/<int:row_id>/occurrences")
def add_occurrence(row_id: int) -> Response:
    """Record that this lesson happened again (instead of logging a duplicate)."""
    data = json_body()
    occurrence = services.record_occurrence(db.session, row_id, data, actor=current_actor())
    db.session.commit()
    response = jsonify(occurrence.as_dict())
    response.status_code = 201
    return response


# An occurrence as `Occurrence.as_dict()` (lessons.models) gives it.
OCCURRENCE = {
    "type": "object",
    "required": ["id", "lesson_id", "project_id", "project_name", "occurred_on", "note", "actor",
                 "created_at"],
    "properties": {
        "id": {"type": "integer"}, "lesson_id": {"type": "integer"},
        "project_id": {"type": ["integer", "null"]}, "project_name": {"type": ["string", "null"]},
        "occurred_on": {"type": ["string", "null"], "format": "date"},
        "note": {"type": ["string", "null"]}, "actor": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
    "additionalProperties": False,
}


def openapi_schemas(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """An occurrence."""
    return {"Occurrence": OCCURRENCE}


def openapi_paths(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A lesson's occurrences, and recording one."""
    missing = error("No lesson with this id.")
    return {"/lessons/{row_id}/occurrences": {
        "parameters": [ID_PARAMETER],
        "get": {"summary": "Every recorded repeat of this lesson",
                "operationId": "list_occurrences",
                "responses": {"200": {"description": "The occurrences.",
                                      **json_content(listing_schema(ref("Occurrence")))},
                              "404": missing}},
        "post": {"summary": "Record that this lesson happened again",
                 "operationId": "add_occurrence",
                 "requestBody": {"required": True, **json_content(
                     input_schema(OCCURRENCE_FIELDS, choices, patch=False))},
                 "responses": {"201": {"description": "The occurrence.",
                                       **json_content(ref("Occurrence"))},
                               "404": missing, "409": error("The lesson is deleted."),
                               **BODY_ERRORS}},
    }}
