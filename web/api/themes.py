"""Recurring themes: the themes, their trends, repeated mistakes, naming and recomputing them,
and their part of the OpenAPI document."""

from typing import Any

from flask import Response, jsonify, request, url_for

from insights.trends import Windows, repeated_mistakes, rising_and_falling, theme_views, today
from lessons.errors import NotFound
from lessons.fields import THEME_FIELDS
from lessons.models import ThemeRun
from lessons.services import themes as themes_service
from lessons.services.common import find_row
from lessons.services.runs import expire_if_stale
from search.theme_runs import parse_theme_count
from web import real_app
from web.api.blueprint import api, json_body, optional_json_body
from web.api.schema import BODY_ERRORS, ID_PARAMETER, error, input_schema, json_content, ref
from web.api.serializers import (
    THEME_NAME,
    THEMES,
    TRENDS,
    listing,
    listing_schema,
    theme_name_json,
    themes_json,
    trends_json,
)
from web.database import db
from web.identity import current_actor
from web.jobs import start_recompute


@api.get("/themes")
def themes() -> Response:
    """Every live theme with its lessons, reach, impact and lessons per window."""
    windows = Windows.parse(request.args, today())
    return jsonify(themes_json(theme_views(db.session, windows), windows))


@api.get("/themes/trends")
def theme_trends() -> Response:
    """Lessons per theme per window, and which themes rise or fall in the latest window."""
    windows = Windows.parse(request.args, today())
    views = theme_views(db.session, windows)
    rising, falling = rising_and_falling(views)
    return jsonify(trends_json(windows, views, rising, falling))


@api.get("/themes/repeats")
def theme_repeats() -> Response:
    """Mistakes identified but not learned: met on several projects, or back after their action."""
    views = theme_views(db.session, Windows(today()))
    repeats = repeated_mistakes(db.session, views)
    return jsonify(listing([repeat.as_dict() for repeat in repeats]))


@api.post("/themes/recompute")
def recompute_themes() -> Response:
    """Start recomputing the themes in the background; poll the run it returns."""
    count = parse_theme_count(optional_json_body().get("themes"))
    run = start_recompute(real_app(), db.session, count,
                          current_actor().name)
    response = jsonify(run.as_dict())
    response.status_code = 202
    response.headers["Location"] = url_for("api.theme_run", row_id=run.id)
    return response


@api.patch("/themes/<int:row_id>")
def rename_theme(row_id: int) -> Response:
    """Name a theme (null or empty: back to the name from its words); the PMO's."""
    theme = themes_service.rename_theme(db.session, row_id, json_body(), current_actor())
    db.session.commit()
    return jsonify(theme_name_json(theme))


@api.get("/themes/runs/<int:row_id>")
def theme_run(row_id: int) -> Response:
    """The progress of one theme recompute."""
    run = find_row(db.session, ThemeRun, row_id)
    if run is None:
        raise NotFound("theme recompute", row_id)
    expire_if_stale(db.session, run)
    return jsonify(run.as_dict())


LESSON_REF = {
    "type": "object", "required": ["id", "external_id", "title"],
    "properties": {"id": {"type": "integer"}, "external_id": {"type": ["string", "null"]},
                   "title": {"type": "string"}},
    "additionalProperties": False,
}
PROJECT_REF = {
    "type": "object", "required": ["id", "name"],
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
    "additionalProperties": False,
}
# A theme as `ThemeView.as_dict()` (insights.trends) gives it.
THEME = {
    "type": "object",
    "required": ["id", "label", "name", "works", "keywords", "central_lesson", "size", "projects",
                 "severe_share", "impact_cost", "impact_days", "counts", "change", "repeated",
                 "reasons", "lessons"],
    "properties": {
        "id": {"type": "integer", "description": "Stable across recomputes."},
        "label": {"type": "string", "description": "Its name, else its most distinctive words."},
        "name": {"type": ["string", "null"], "description": "The name the PMO gave it."},
        "works": {"type": "boolean", "description": "A theme of lessons that went well."},
        "keywords": {"type": "array", "items": {"type": "string"}},
        "central_lesson": {"anyOf": [{"type": "object", "required": ["id", "title"]},
                                     {"type": "null"}]},
        "size": {"type": "integer"},
        "projects": {"type": "array", "items": PROJECT_REF},
        "severe_share": {"type": "number", "description": "Share of high or critical lessons."},
        "impact_cost": {"type": "string", "description": "Summed cost impact (decimal)."},
        "impact_days": {"type": "integer", "description": "Summed schedule impact in days."},
        "counts": {"type": "array", "items": {"type": "integer"},
                   "description": "Lessons per window, oldest first."},
        "change": {"type": "integer", "description": "Latest window minus the one before."},
        "repeated": {"type": "boolean",
                     "description": "Identified, not learned: see reasons."},
        "reasons": {"type": "array", "items": {"type": "string"},
                    "description": "Met on 3 or more projects in the latest window after it "
                                   "was first identified; met again after an action on it was "
                                   "done. None for a theme of what went well."},
        "lessons": {"type": "array", "items": LESSON_REF},
    },
    "additionalProperties": False,
}
# A repeated mistake as `Repeat.as_dict()` (insights.trends) gives it.
REPEAT = {
    "type": "object", "required": ["lessons", "projects", "reasons", "theme_id"],
    "properties": {
        "lessons": {"type": "array", "items": LESSON_REF},
        "projects": {"type": "array", "items": PROJECT_REF},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "theme_id": {"type": ["integer", "null"]},
    },
    "additionalProperties": False,
}
# A recompute as `ThemeRun.as_dict()` (lessons.models) gives it.
THEME_RUN = {
    "type": "object",
    "required": ["id", "status", "stage", "done", "total", "themes", "message", "started_at",
                 "finished_at"],
    "properties": {
        "id": {"type": "integer"}, "status": {"enum": ["running", "done", "failed"]},
        "stage": {"type": "string"}, "done": {"type": "integer"}, "total": {"type": "integer"},
        "themes": {"type": ["integer", "null"]}, "message": {"type": ["string", "null"]},
        "started_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
    },
    "additionalProperties": False,
}
WINDOW_PARAMETERS = [
    {"name": "window_days", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 7, "maximum": 366, "default": 90}},
    {"name": "windows", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 2, "maximum": 24, "default": 8}},
]
RECOMPUTE_BODY = {"type": "object", "properties": {"themes": {
    "type": ["integer", "null"], "minimum": 2, "maximum": 60,
    "description": "How many themes; absent or null: chosen by size."}}}


def openapi_schemas(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A theme, a repeated mistake and a recompute."""
    return {"Theme": THEME, "Repeat": REPEAT, "ThemeRun": THEME_RUN}


def openapi_paths(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Recurring themes, their trends, repeated mistakes, names and recomputes."""
    bad_windows = error("The trend windows are not valid.")
    run = ref("ThemeRun")
    return {
        "/themes": {"get": {
            "summary": "Every live theme with its lessons, reach, impact and lessons per window",
            "operationId": "themes", "parameters": WINDOW_PARAMETERS,
            "responses": {"200": {"description": "The themes, largest first.",
                                  **json_content(THEMES)},
                          "422": bad_windows}}},
        "/themes/trends": {"get": {
            "summary": "Lessons per theme per window; the themes rising and falling",
            "operationId": "theme_trends", "parameters": WINDOW_PARAMETERS,
            "responses": {"200": {"description": "The trends.", **json_content(TRENDS)},
                          "422": bad_windows}}},
        "/themes/repeats": {"get": {
            "summary": "Mistakes identified, not learned: met on 3+ projects or back after "
                       "their action was done",
            "operationId": "theme_repeats",
            "responses": {"200": {"description": "The repeated mistakes.",
                                  **json_content(listing_schema(ref("Repeat")))}}}},
        "/themes/recompute": {"post": {
            "summary": "Start recomputing the themes in the background",
            "operationId": "recompute_themes",
            "requestBody": {"required": False, **json_content(RECOMPUTE_BODY)},
            "responses": {"202": {"description": "The run; poll its Location.",
                                  **json_content(run)},
                          "409": error("Another recompute is running."), **BODY_ERRORS}}},
        "/themes/{row_id}": {"parameters": [ID_PARAMETER], "patch": {
            "summary": "Name a theme; the name stays with it across recomputes",
            "operationId": "rename_theme",
            "requestBody": {"required": True, **json_content(
                input_schema(THEME_FIELDS, choices, patch=True))},
            "responses": {"200": {"description": "The theme's name and label.",
                                  **json_content(THEME_NAME)},
                          "404": error("No theme with this id."), **BODY_ERRORS}}},
        "/themes/runs/{row_id}": {"parameters": [ID_PARAMETER], "get": {
            "summary": "The progress of one theme recompute", "operationId": "theme_run",
            "responses": {"200": {"description": "The run.", **json_content(run)},
                          "404": error("No recompute with this id.")}}},
    }
