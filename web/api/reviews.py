"""A lesson's review and history: its review steps, submit, approve and return, its revisions,
and their part of the OpenAPI document."""

from typing import Any

from flask import Response, jsonify

from lessons import services
from lessons.history import lesson_history
from lessons.services.reviews import STEP_FIELDS, review_step
from web.api.blueprint import api, optional_json_body
from web.api.schema import BODY_ERRORS, ID_PARAMETER, error, input_schema, json_content, ref
from web.api.serializers import REVISION, listing, listing_schema, revision_json
from web.auth import VISITOR, changeable_lesson, current_user
from web.database import db
from web.identity import current_actor
from web.views.reviews import self_approval_allowed


@api.get("/lessons/<int:row_id>/reviews")
def lesson_reviews(row_id: int) -> Response:
    """Every review step of a lesson, oldest first: its author and the PMO read them; for
    anyone else the list is empty (lessons.policy)."""
    reviews = services.get_lesson(db.session, row_id).reviews
    return jsonify(listing([review.as_dict() for review in reviews]))


@api.post("/lessons/<int:row_id>/submit")
def submit_lesson(row_id: int) -> Response:
    """Send a draft or returned lesson for review (its author or the PMO); a returned one
    needs a `comment` saying what changed."""
    return review(changeable_lesson(row_id).id, "submit")


@api.post("/lessons/<int:row_id>/approve")
def approve_lesson(row_id: int) -> Response:
    """Approve a submitted lesson (the PMO, not its author unless LESSONS_ALLOW_SELF_APPROVAL);
    an optional `comment`."""
    return review(row_id, "approve")


@api.post("/lessons/<int:row_id>/return")
def send_back_lesson(row_id: int) -> Response:
    """Return a submitted lesson to its author with a `comment` on what to change (the PMO)."""
    return review(row_id, "return")


def review(lesson_id: int, step: str) -> Response:
    """Take a review step, with the body's optional `comment`; the lesson as it is now."""
    data = optional_json_body()
    lesson = review_step(db.session, lesson_id, step, actor=current_actor(), data=data,
                         allow_self_approval=self_approval_allowed())
    db.session.commit()
    return jsonify(lesson.as_dict())


@api.get("/lessons/<int:row_id>/revisions")
def lesson_revisions(row_id: int) -> Response:
    """Every revision of a lesson the caller may read (lessons.history), oldest first, each with
    what it changed since the one before it that they may read."""
    found = lesson_history(db.session, current_user() or VISITOR,
                           services.get_lesson(db.session, row_id))
    return jsonify(listing([revision_json(entry) for entry in found.entries]))


# A step as `Review.as_dict()` (lessons.models) gives it.
REVIEW = {
    "type": "object",
    "required": ["event", "actor", "comment", "created_at"],
    "properties": {
        "event": {"enum": ["submitted", "approved", "returned"]},
        "actor": {"type": "string"}, "comment": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
    },
    "additionalProperties": False,
}
STEPS = (
    ("submit", "submit_lesson", ("Send a draft or returned lesson for review (a returned one "
                                 "with a comment saying what changed)")),
    ("approve", "approve_lesson", "Approve a submitted lesson (the PMO; its own author only "
                                  "with LESSONS_ALLOW_SELF_APPROVAL, and the step says so)"),
    ("return", "send_back_lesson",
     "Return a submitted lesson to its author with a comment (the PMO)"),
)


def openapi_schemas(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A review step."""
    return {"Review": REVIEW}


def openapi_paths(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A lesson's review steps so far, submit, approve and return, and its revisions."""
    missing = error("No lesson with this id.")
    paths: dict[str, Any] = {"/lessons/{row_id}/reviews": {
        "parameters": [ID_PARAMETER],
        "get": {"summary": "Every review step of a lesson, oldest first (its author and the "
                           "PMO read them; anyone else gets none)",
                "operationId": "lesson_reviews",
                "responses": {"200": {"description": "The review steps.",
                                      **json_content(listing_schema(ref("Review")))},
                              "404": missing}},
    }}
    lesson = {"description": "The lesson, with its new status.", **json_content(ref("Lesson"))}
    body = input_schema(STEP_FIELDS, {}, patch=True)
    for step, operation, summary in STEPS:
        paths[f"/lessons/{{row_id}}/{step}"] = {"parameters": [ID_PARAMETER], "post": {
            "summary": summary, "operationId": operation,
            "requestBody": {"required": False, **json_content(body)},
            "responses": {"200": lesson, "404": missing, **BODY_ERRORS,
                          "409": error("The lesson is deleted, or not in a status this step "
                                       "starts from.")}}}
    paths["/lessons/{row_id}/revisions"] = {
        "parameters": [ID_PARAMETER],
        "get": {
            "summary": "The revisions of a lesson the caller may read, oldest first",
            "operationId": "lesson_revisions",
            "responses": {"200": {"description": "The revisions.",
                                  **json_content(listing_schema(REVISION))},
                          "404": missing},
        },
    }
    return paths
