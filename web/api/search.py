"""Search: lessons ranked by meaning and words, the lessons most like one, and their part of
the OpenAPI document."""

from typing import Any

from flask import Response, jsonify, request

from lessons import services
from lessons.fields import LESSON_STATUSES
from lessons.queries import LESSON_FILTERS, parse_query
from lessons.services.lessons import category_choices
from search.retrieve import search, similar_lessons
from web.api.blueprint import api, parse_limit
from web.api.schema import ID_PARAMETER, LIMIT, error, filter_parameter, json_content
from web.api.serializers import HITS, SEARCH_RESULTS, hits_json, search_json
from web.database import db
from web.engine import engine, log_search
from web.views.forms import categories


@api.get("/search")
def search_lessons() -> Response:
    """Lessons ranked by meaning and words for `q`, under the list filters."""
    filters = parse_query(LESSON_FILTERS, request.args, category_choices(categories()))
    limit = parse_limit()
    results = search(engine(), db.session, request.args.get("q", ""), filters, limit=limit)
    response = jsonify(search_json(results))
    log_search(request.args["q"], results, filters)
    return response


@api.get("/lessons/<int:row_id>/similar")
def similar(row_id: int) -> Response:
    """The lessons most like this one."""
    lesson = services.get_lesson(db.session, row_id)
    results = similar_lessons(engine(), db.session, lesson, limit=parse_limit())
    return jsonify(hits_json(results))


# A hit as `Hit.as_dict()` (search.retrieve) gives it.
HIT = {
    "type": "object",
    "required": ["id", "external_id", "title", "score", "similarity", "why"],
    "properties": {
        "id": {"type": "integer"},
        "external_id": {"type": ["string", "null"]},
        "title": {"type": "string"},
        "project_id": {"type": ["integer", "null"]},
        "project_name": {"type": ["string", "null"]},
        "category": {"type": ["string", "null"]},
        "kind": {"type": "string"},
        "severity": {"type": "string"},
        "status": {"enum": list(LESSON_STATUSES)},
        "occurred_on": {"type": ["string", "null"], "format": "date"},
        "score": {"type": "number", "description": "Fused score: the meaning and word signals, "
                                                   "weighted; higher is better, comparable "
                                                   "within one answer only. "
                                                   "A lesson whose title or a tag is the query "
                                                   "comes first whatever its score."},
        "similarity": {"type": "number",
                       "description": "Cosine similarity of the closest passage."},
        "why": {
            "type": "object",
            "required": ["passage", "terms", "matched_by"],
            "properties": {
                "passage": {"type": "string", "description": "The closest passage."},
                "terms": {"type": "array", "items": {"type": "string"}},
                "matched_by": {"type": "array",
                               "items": {"enum": ["meaning", "words", "tags"]}},
            },
        },
    },
    "additionalProperties": False,
}


def openapi_schemas(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A search hit."""
    return {"SearchHit": HIT}


def openapi_paths(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Search, and the lessons most like one."""
    # Search reads live lessons only, in order of relevance, up to `limit`: the list's state,
    # sort and page do not apply.
    filters = [filter_parameter(f, choices)
               for f in LESSON_FILTERS if f.name not in ("page", "state", "sort")]
    return {
        "/search": {"get": {
            "summary": "Search lessons by meaning and by words (hybrid, fused)",
            "operationId": "search",
            "parameters": [{"name": "q", "in": "query", "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 5000}},
                           LIMIT, *filters],
            "responses": {
                "200": {"description": "Ranked lessons, each with why it matched.",
                        **json_content(SEARCH_RESULTS)},
                "422": error("The query is empty or too long, or a filter is invalid."),
            },
        }},
        "/lessons/{row_id}/similar": {
            "parameters": [ID_PARAMETER],
            "get": {"summary": "The lessons most like this one", "operationId": "similar",
                    "parameters": [LIMIT],
                    "responses": {"200": {"description": "Ranked lessons.", **json_content(HITS)},
                                  "404": error("No lesson with this id."),
                                  "422": error("The limit is invalid.")}},
        },
    }
