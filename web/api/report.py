"""The PMO report's data for a scope and its windows, and its part of the OpenAPI document."""

from typing import Any

from flask import Response, jsonify, request

from insights.report import pmo_report
from insights.trends import Scope, Windows, today
from web.api.blueprint import api
from web.api.schema import error, json_content, ref
from web.api.themes import WINDOW_PARAMETERS
from web.database import db


@api.get("/report")
def report() -> Response:
    """The PMO report's data for a scope: periods, themes, repeats, actions, reuse, gaps."""
    return jsonify(pmo_report(db.session, Scope.parse(request.args),
                              Windows.parse(request.args, today())))


SCOPE_PARAMETERS = [
    {"name": "business_unit", "in": "query", "required": False, "schema": {"type": "string"}},
    {"name": "from", "in": "query", "required": False, "allowEmptyValue": True,
     "schema": {"type": "string", "format": "date"}},
    {"name": "to", "in": "query", "required": False, "allowEmptyValue": True,
     "schema": {"type": "string", "format": "date"}},
    {"name": "category", "in": "query", "required": False, "schema": {"type": "string"}},
]
PERIOD = {
    "type": "object",
    "required": ["start", "end", "lessons", "severe", "impact_cost", "impact_days",
                 "actions_opened", "actions_closed", "applied_at_kickoff"],
}
# The report as `pmo_report` (insights.report) gives it.
REPORT = {
    "type": "object",
    "required": ["scope", "window_days", "periods", "windows", "themes", "rising", "falling",
                 "themes_total", "repeats", "actions", "review", "reuse", "capture", "gaps"],
    "properties": {
        "scope": {"type": "object"}, "window_days": {"type": "integer"},
        "periods": {"type": "object", "required": ["current", "previous"],
                    "properties": {"current": PERIOD, "previous": PERIOD}},
        "windows": {"type": "array", "items": PERIOD,
                    "description": "The same figures for each trend window, oldest first; the "
                                   "last is the current one."},
        "themes": {"type": "array", "items": {"type": "object"}},
        "rising": {"type": "array"}, "falling": {"type": "array"},
        "themes_total": {"type": "integer"},
        "repeats": {"type": "array", "items": ref("Repeat")},
        "actions": {"type": "object", "required": ["open", "overdue", "done", "by_owner"]},
        "review": {"type": "object", "required": ["awaiting", "returned", "drafts", "approved",
                                                  "oldest_waiting_days"]},
        "reuse": {"type": "object", "required": ["briefings", "decisions", "lessons_applied",
                                                 "top_lessons"]},
        "capture": {"type": "object", "required": ["by_project", "by_month"]},
        "gaps": {"type": "array", "items": {
            "type": "object", "required": ["source", "text", "best_similarity", "at"]}},
    },
}


def openapi_schemas(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The report."""
    return {"Report": REPORT}


def openapi_paths(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The report's one path."""
    return {"/report": {"get": {
        "summary": "The PMO report's data: this window against the previous, top themes, "
                   "repeats, actions, kickoff reuse, capture and learning gaps",
        "operationId": "report",
        "parameters": [*WINDOW_PARAMETERS, *SCOPE_PARAMETERS],
        "responses": {"200": {"description": "The report data.", **json_content(ref("Report"))},
                      "422": error("The scope or the windows are not valid.")}}}}
