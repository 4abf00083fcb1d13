"""The OpenAPI 3.1 document, built from the same field tables that validate input.

Output schemas forbid unknown properties, and the API tests validate every
response against them, so the document cannot drift from what the API does.
"""

from typing import Any, Sequence

from lessons.fields import LESSON_STATUSES, MAX_ID, Field
from lessons.services.reviews import NEW_STATUSES, STEP_FIELDS

TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
EXTRA_OUTPUT: dict[str, dict[str, Any]] = {
    "projects": {},
    "lessons": {"project_name": {"type": ["string", "null"]},
                "status": {"enum": list(LESSON_STATUSES)}},
    "actions": {"overdue": {"type": "boolean"}, "closed_at": TIMESTAMP,
                "owner_id": {"type": ["integer", "null"],
                             "description": "The owner's account; null for a name from before "
                                            "owners were accounts (kept in `owner`)."},
                "owner_name": {"type": ["string", "null"],
                               "description": "The owner as people read it: the account's name "
                                              "or email, else the old text."},
                "project_id": {"type": ["integer", "null"],
                               "description": "The project that raised it as a kickoff risk."}},
}
# Create-only fields beside the editable ones.
EXTRA_INPUT: dict[str, dict[str, Any]] = {
    "lessons": {"status": {
        "enum": list(NEW_STATUSES),
        "description": "Where its review starts: submitted (the default), a draft only its "
                       "author and the PMO see, or, from the PMO, an approved record."}},
}
ERROR = {
    "type": "object",
    "required": ["error", "fields"],
    "properties": {
        "error": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def value_schema(field: Field, choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The JSON schema of one field's value (without null)."""
    kinds: dict[str, dict[str, Any]] = {
        "string": {"type": "string"},
        "text": {"type": "string"},
        "date": {"type": "string", "format": "date"},
        "integer": {"type": "integer", "minimum": 0},
        "money": {"type": "number", "minimum": 0},
        "choice": {"type": "string", "enum": list(choices.get(field.name) or field.choices or {})},
        "tags": {"type": "array", "items": {"type": "string"}},
        "ref": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }
    schema = dict(kinds[field.type])
    if field.max_length:
        schema["maxLength"] = field.max_length
    if field.maximum is not None:
        schema["maximum"] = field.maximum
    if field.help:
        schema["description"] = field.help
    return schema


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` that also admits null."""
    if "enum" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


def input_schema(fields: Sequence[Field], choices: dict, *, patch: bool) -> dict[str, Any]:
    """The request body of a create (or, with `patch`, an update)."""
    # A field with a default may be left out, but not emptied (lessons.validation).
    properties = {
        f.name: value_schema(f, choices) if f.required or f.default is not None
        else nullable(value_schema(f, choices))
        for f in fields
    }
    schema: dict[str, Any] = {
        "type": "object", "properties": properties, "additionalProperties": False
    }
    if not patch:
        schema["required"] = [f.name for f in fields if f.required]
    return schema


def output_schema(name: str, fields: Sequence[Field], choices: dict) -> dict[str, Any]:
    """A row as the API returns it."""
    properties: dict[str, Any] = {"id": {"type": "integer"}}
    for f in fields:
        schema = value_schema(f, choices)
        schema.pop("maxLength", None)
        never_null = f.required or f.default is not None or f.type == "tags"
        properties[f.name] = schema if never_null else nullable(schema)
    properties.update(EXTRA_OUTPUT[name])
    properties.update(created_at=TIMESTAMP, updated_at=TIMESTAMP, deleted_at=TIMESTAMP)
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def page_schema(item_ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "total", "page", "per_page", "pages"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": item_ref}},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "pages": {"type": "integer"},
        },
    }


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def error(description: str) -> dict[str, Any]:
    return {"description": description, **json_content({"$ref": "#/components/schemas/Error"})}


ID_PARAMETER = {"name": "row_id", "in": "path", "required": True,
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID}}
BODY_ERRORS = {
    "400": error("The body is not a JSON object."),
    "413": error("The body is too large."),
    "415": error("The body is not sent as application/json."),
    "422": error("Some fields are invalid; `fields` says which and why. Nothing was written."),
}


def filter_parameter(field: Field, choices: dict) -> dict[str, Any]:
    """A list filter in the query string; a blank one is ignored (lessons.queries)."""
    return {"name": field.name, "in": "query", "required": False, "allowEmptyValue": True,
            "schema": value_schema(field, choices)}


def resource_paths(resource: Any, choices: dict) -> dict[str, Any]:
    """The four paths of one resource."""
    title = resource.singular.capitalize()
    ref = f"#/components/schemas/{title}"
    one = {"description": f"The {resource.singular}.", **json_content({"$ref": ref})}
    missing = error(f"No {resource.singular} with this id.")
    parameters = [filter_parameter(f, choices) for f in resource.filters]
    return {
        f"/{resource.name}": {
            "get": {
                "summary": f"List {resource.name}",
                "operationId": f"list_{resource.name}",
                "parameters": parameters,
                "responses": {
                    "200": {"description": "One page.", **json_content(page_schema(ref))},
                    "422": error("A filter is invalid."),
                },
            },
            "post": {
                "summary": f"Create a {resource.singular}",
                "operationId": f"create_{resource.singular}",
                "requestBody": {"required": True,
                                **json_content({"$ref": f"{ref}Input"})},
                "responses": {"201": one, **BODY_ERRORS, "409": error(
                    "It clashes with a row saved at the same moment; try again.")},
            },
        },
        f"/{resource.name}/{{row_id}}": {
            "parameters": [ID_PARAMETER],
            "get": {
                "summary": f"Get a {resource.singular}",
                "operationId": f"get_{resource.singular}",
                "responses": {"200": one, "404": missing},
            },
            "patch": {
                "summary": f"Change some fields of a {resource.singular}",
                "operationId": f"update_{resource.singular}",
                "requestBody": {"required": True,
                                **json_content({"$ref": f"{ref}Patch"})},
                "responses": {
                    "200": one, "404": missing, **BODY_ERRORS,
                    "409": error("The row is deleted; restore it first."),
                },
            },
            "delete": {
                "summary": f"Soft-delete a {resource.singular} (it can be restored)",
                "operationId": f"delete_{resource.singular}",
                "responses": {"200": one, "404": missing},
            },
        },
        f"/{resource.name}/{{row_id}}/restore": {
            "parameters": [ID_PARAMETER],
            "post": {
                "summary": f"Restore a deleted {resource.singular}",
                "operationId": f"restore_{resource.singular}",
                "responses": {"200": one, "404": missing},
            },
        },
    }


REVISIONS = {
    "type": "object",
    "required": ["items", "total"],
    "properties": {
        "total": {"type": "integer"},
        "items": {"type": "array", "items": {
            "type": "object",
            "required": ["number", "actor", "created_at", "content", "changed_fields"],
            "additionalProperties": False,
            "properties": {
                "number": {"type": "integer"},
                "actor": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
                "content": {"type": "object"},
                "changed_fields": {"type": "array", "items": {"type": "string"}},
            },
        }},
    },
}


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
        "score": {"type": "number", "description": "Fused score, 0 to 1: normalised meaning and word scores, weighted; higher is better."},
        "similarity": {"type": "number", "description": "Cosine similarity of the closest passage."},
        "why": {
            "type": "object",
            "required": ["passage", "terms", "matched_by"],
            "properties": {
                "passage": {"type": "string", "description": "The closest passage."},
                "terms": {"type": "array", "items": {"type": "string"}},
                "matched_by": {"type": "array", "items": {"enum": ["meaning", "words"]}},
            },
        },
    },
    "additionalProperties": False,
}
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
OCCURRENCE_INPUT = {
    "type": "object",
    "properties": {
        "project_id": {"type": ["integer", "null"]},
        "occurred_on": {"type": ["string", "null"], "format": "date"},
        "note": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
}
LIMIT = {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}}


def search_paths(lesson_filters: Sequence[Any], choices: dict) -> dict[str, Any]:
    """Search, similar lessons and occurrences."""
    hits = {"type": "object", "required": ["items", "total"], "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/SearchHit"}},
        "total": {"type": "integer"},
    }}
    missing = error("No lesson with this id.")
    filters = [filter_parameter(f, choices)
               for f in lesson_filters if f.name not in ("page", "state", "sort")]
    return {
        "/search": {"get": {
            "summary": "Search lessons by meaning and by words (hybrid, fused)",
            "operationId": "search",
            "parameters": [{"name": "q", "in": "query", "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 5000}},
                           LIMIT, *filters],
            "responses": {
                "200": {"description": "Ranked lessons, each with why it matched.",
                        **json_content({**hits, "properties": {
                            **hits["properties"], "candidates": {"type": "integer"},
                            "facets": {"type": "object"}}})},
                "422": error("The query is empty or too long, or a filter is invalid."),
            },
        }},
        "/lessons/{row_id}/similar": {
            "parameters": [ID_PARAMETER],
            "get": {"summary": "The lessons most like this one", "operationId": "similar",
                    "parameters": [LIMIT],
                    "responses": {"200": {"description": "Ranked lessons.", **json_content(hits)},
                                  "404": missing, "422": error("The limit is invalid.")}},
        },
        "/lessons/{row_id}/occurrences": {
            "parameters": [ID_PARAMETER],
            "get": {"summary": "Every recorded repeat of this lesson",
                    "operationId": "list_occurrences",
                    "responses": {"200": {"description": "The occurrences.", **json_content({
                        "type": "object", "required": ["items", "total"], "properties": {
                            "items": {"type": "array",
                                      "items": {"$ref": "#/components/schemas/Occurrence"}},
                            "total": {"type": "integer"}}})},
                        "404": missing}},
            "post": {"summary": "Record that this lesson happened again",
                     "operationId": "add_occurrence",
                     "requestBody": {"required": True, **json_content(OCCURRENCE_INPUT)},
                     "responses": {"201": {"description": "The occurrence.", **json_content(
                         {"$ref": "#/components/schemas/Occurrence"})},
                         "404": missing, "409": error("The lesson is deleted."), **BODY_ERRORS}},
        },
    }


BRIEFING_ITEM = {
    "type": "object",
    "required": ["id", "external_id", "title", "rank", "score", "aspect", "decision"],
    "properties": {
        "id": {"type": "integer"}, "external_id": {"type": ["string", "null"]},
        "title": {"type": "string"}, "rank": {"type": "integer"}, "score": {"type": "number"},
        "aspect": {"type": ["string", "null"],
                   "description": "The part of the description it matched best (null if kept)."},
        "kept": {"type": "boolean", "description": "No longer ranked for the description; kept "
                                                   "because the team decided on it."},
        "aspects": {"type": "array", "items": {"type": "string"}},
        "aspect_text": {"type": "string"}, "terms": {"type": "array", "items": {"type": "string"}},
        "category": {"type": ["string", "null"]}, "recommendation": {"type": ["string", "null"]},
        "projects_hit": {"type": "integer"},
        "decision": {"anyOf": [{"$ref": "#/components/schemas/Decision"}, {"type": "null"}]},
    },
    "additionalProperties": False,
}
DECISION = {
    "type": "object",
    "required": ["project_id", "lesson_id", "decision", "note", "actor", "decided_at"],
    "properties": {
        "project_id": {"type": "integer"}, "lesson_id": {"type": "integer"},
        "decision": {"enum": ["applied", "not_applicable", "risk"]},
        "note": {"type": ["string", "null"]}, "actor": {"type": "string"},
        "decided_at": {"type": "string", "format": "date-time"},
        "action": {"anyOf": [{"$ref": "#/components/schemas/Action"}, {"type": "null"}],
                   "description": "After a decision: the project's action on the lesson, which "
                                  "a risk opens and a later decision leaves as it is."},
    },
    "additionalProperties": False,
}


def briefing_paths() -> dict[str, Any]:
    """The kickoff briefing of a project and the team's decisions."""
    missing = error("No project with this id.")
    return {
        "/projects/{row_id}/briefing": {
            "parameters": [ID_PARAMETER],
            "get": {
                "summary": "The project's kickoff briefing, computed now if not ready",
                "operationId": "briefing",
                "responses": {"200": {"description": "Ranked lessons with why and decisions.",
                                      **json_content({
                    "type": "object",
                    "required": ["project_id", "generated_at", "aspects", "items",
                                 "new_since_kickoff"],
                    "properties": {
                        "project_id": {"type": "integer"},
                        "generated_at": {"type": ["string", "null"], "format": "date-time"},
                        "aspects": {"type": "array", "items": {"type": "object"}},
                        "items": {"type": "array",
                                  "items": {"$ref": "#/components/schemas/BriefingItem"}},
                        "new_since_kickoff": {"type": "array", "items": {"type": "object"}},
                    }})},
                    "404": missing},
            },
        },
        "/projects/{row_id}/briefing/decisions": {
            "parameters": [ID_PARAMETER],
            "post": {
                "summary": "Record the team's decision on a surfaced lesson",
                "operationId": "decide",
                "requestBody": {"required": True, **json_content({
                    "type": "object", "required": ["lesson_id", "decision"],
                    "properties": {"lesson_id": {"type": "integer"},
                                   "decision": {"enum": ["applied", "not_applicable", "risk"]},
                                   "note": {"type": ["string", "null"]},
                                   "owner": {"type": ["string", "null"], "description":
                                             "For a risk: the email of who owns the action it "
                                             "opens (default: the caller). Unknown: 422."}},
                    "additionalProperties": False})},
                "responses": {"200": {"description": "The decision.", **json_content(
                    {"$ref": "#/components/schemas/Decision"})},
                    "404": missing, "409": error("The project is deleted."), **BODY_ERRORS},
            },
        },
    }


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
WINDOW_LIST = {"type": "array", "items": {
    "type": "object", "required": ["start", "end"],
    "properties": {"start": {"type": "string", "format": "date"},
                   "end": {"type": "string", "format": "date"}}}}
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
REPORT = {
    "type": "object",
    "required": ["scope", "window_days", "periods", "themes", "rising", "falling",
                 "themes_total", "repeats", "actions", "review", "reuse", "capture", "gaps"],
    "properties": {
        "scope": {"type": "object"}, "window_days": {"type": "integer"},
        "periods": {"type": "object", "required": ["current", "previous"],
                    "properties": {"current": PERIOD, "previous": PERIOD}},
        "themes": {"type": "array", "items": {"type": "object"}},
        "rising": {"type": "array"}, "falling": {"type": "array"},
        "themes_total": {"type": "integer"},
        "repeats": {"type": "array", "items": {"$ref": "#/components/schemas/Repeat"}},
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


def theme_paths() -> dict[str, Any]:
    """Recurring themes, their trends, repeated mistakes, and recomputes."""
    bad_windows = error("The trend windows are not valid.")
    return {
        "/themes": {"get": {
            "summary": "Every live theme with its lessons, reach, impact and lessons per window",
            "operationId": "themes", "parameters": WINDOW_PARAMETERS,
            "responses": {"200": {"description": "The themes, largest first.", **json_content({
                "type": "object", "required": ["items", "total", "windows"], "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Theme"}},
                    "total": {"type": "integer"}, "windows": WINDOW_LIST}})},
                "422": bad_windows}}},
        "/themes/trends": {"get": {
            "summary": "Lessons per theme per window; the themes rising and falling",
            "operationId": "theme_trends", "parameters": WINDOW_PARAMETERS,
            "responses": {"200": {"description": "The trends.", **json_content({
                "type": "object",
                "required": ["window_days", "windows", "items", "rising", "falling"],
                "properties": {
                    "window_days": {"type": "integer"}, "windows": WINDOW_LIST,
                    "items": {"type": "array", "items": {
                        "type": "object", "required": ["id", "label", "counts", "change"]}},
                    "rising": {"type": "array", "items": {"type": "integer"}},
                    "falling": {"type": "array", "items": {"type": "integer"}}}})},
                "422": bad_windows}}},
        "/themes/repeats": {"get": {
            "summary": "Mistakes identified, not learned: met on 3+ projects or back after "
                       "their action was done",
            "operationId": "theme_repeats",
            "responses": {"200": {"description": "The repeated mistakes.", **json_content({
                "type": "object", "required": ["items", "total"], "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Repeat"}},
                    "total": {"type": "integer"}}})}}}},
        "/themes/recompute": {"post": {
            "summary": "Start recomputing the themes in the background",
            "operationId": "recompute_themes",
            "requestBody": {"required": False, **json_content({
                "type": "object", "properties": {"themes": {
                    "type": ["integer", "null"], "minimum": 2, "maximum": 60,
                    "description": "How many themes; absent or null: chosen by size."}}})},
            "responses": {"202": {"description": "The run; poll its Location.", **json_content(
                {"$ref": "#/components/schemas/ThemeRun"})},
                "409": error("Another recompute is running."), **BODY_ERRORS}}},
        "/report": {"get": {
            "summary": "The PMO report's data: this window against the previous, top themes, "
                       "repeats, actions, kickoff reuse, capture and learning gaps",
            "operationId": "report",
            "parameters": [*WINDOW_PARAMETERS, *SCOPE_PARAMETERS],
            "responses": {"200": {"description": "The report data.", **json_content(
                {"$ref": "#/components/schemas/Report"})},
                          "422": error("The scope or the windows are not valid.")}}},
        "/themes/{row_id}": {
            "parameters": [ID_PARAMETER],
            "patch": theme_rename()},
        "/themes/runs/{row_id}": {
            "parameters": [ID_PARAMETER],
            "get": {"summary": "The progress of one theme recompute", "operationId": "theme_run",
                    "responses": {"200": {"description": "The run.", **json_content(
                        {"$ref": "#/components/schemas/ThemeRun"})},
                        "404": error("No recompute with this id.")}}},
    }


def theme_rename() -> dict[str, Any]:
    """PATCH /themes/{row_id}: the PMO names a theme."""
    return {
        "summary": "Name a theme; the name stays with it across recomputes",
        "operationId": "rename_theme",
        "requestBody": {"required": True, **json_content({
            "type": "object", "additionalProperties": False, "properties": {"name": {
                "type": ["string", "null"], "maxLength": 200,
                "description": "Null or empty: named by its words again."}}})},
        "responses": {"200": {"description": "The theme's name and label.", **json_content({
            "type": "object", "required": ["id", "name", "label", "keywords", "works"],
            "properties": {"id": {"type": "integer"}, "name": {"type": ["string", "null"]},
                           "label": {"type": "string"},
                           "keywords": {"type": "array", "items": {"type": "string"}},
                           "works": {"type": "boolean",
                                     "description": "A theme of lessons that went well."}},
            "additionalProperties": False})},
            "404": error("No theme with this id."), **BODY_ERRORS}}


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


def review_paths() -> dict[str, Any]:
    """A lesson's review: its steps so far, and submit, approve and return."""
    missing = error("No lesson with this id.")
    lesson = {"description": "The lesson, with its new status.",
              **json_content({"$ref": "#/components/schemas/Lesson"})}
    paths: dict[str, Any] = {"/lessons/{row_id}/reviews": {
        "parameters": [ID_PARAMETER],
        "get": {"summary": "Every review step of a lesson, oldest first (its author and the "
                           "PMO read them; anyone else gets none)",
                "operationId": "lesson_reviews",
                "responses": {"200": {"description": "The review steps.", **json_content({
                    "type": "object", "required": ["items", "total"], "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Review"}},
                        "total": {"type": "integer"}}})},
                    "404": missing}},
    }}
    steps = (("submit", "submit_lesson", "Send a draft or returned lesson for review (a "
              "returned one with a comment saying what changed)"),
             ("approve", "approve_lesson", "Approve a submitted lesson (the PMO)"),
             ("return", "send_back_lesson",
              "Return a submitted lesson to its author with a comment (the PMO)"))
    body = input_schema(STEP_FIELDS, {}, patch=True)
    for step, operation, summary in steps:
        paths[f"/lessons/{{row_id}}/{step}"] = {"parameters": [ID_PARAMETER], "post": {
            "summary": summary, "operationId": operation,
            "requestBody": {"required": False, **json_content(body)},
            "responses": {"200": lesson, "404": missing, **BODY_ERRORS,
                          "409": error("The lesson is deleted, or not in a status this step "
                                       "starts from.")}}}
    return paths


def build_spec(resources: Sequence[Any], categories: Sequence[str]) -> dict[str, Any]:
    """The whole OpenAPI document for `resources`, with the configured categories."""
    choices = {"category": {name: name for name in categories}}
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Error": ERROR}
    for resource in resources:
        paths.update(resource_paths(resource, choices))
        title = resource.singular.capitalize()
        schemas[title] = output_schema(resource.name, resource.fields, choices)
        schemas[f"{title}Input"] = input_schema(resource.fields, choices, patch=False)
        schemas[f"{title}Input"]["properties"].update(EXTRA_INPUT.get(resource.name, {}))
        schemas[f"{title}Patch"] = input_schema(resource.fields, choices, patch=True)
    lessons = next(r for r in resources if r.name == "lessons")
    paths.update(search_paths(lessons.filters, choices))
    schemas["SearchHit"] = HIT
    schemas["Occurrence"] = OCCURRENCE
    paths.update(briefing_paths())
    schemas["BriefingItem"] = BRIEFING_ITEM
    schemas["Decision"] = DECISION
    paths.update(theme_paths())
    schemas.update(Theme=THEME, Repeat=REPEAT, ThemeRun=THEME_RUN, Report=REPORT)
    paths.update(review_paths())
    schemas["Review"] = REVIEW
    paths["/lessons/{row_id}/revisions"] = {
        "parameters": [ID_PARAMETER],
        "get": {
            "summary": "The revisions of a lesson the caller may read, oldest first",
            "operationId": "lesson_revisions",
            "responses": {"200": {"description": "The revisions.", **json_content(REVISIONS)},
                          "404": error("No lesson with this id.")},
        },
    }
    paths["/openapi.json"] = {
        "get": {"summary": "This document", "operationId": "openapi", "security": [],
                "responses": {"200": {"description": "The OpenAPI document.",
                                      **json_content({"type": "object"})}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lessons API",
            "version": "1",
            "description": "Projects, lessons learned and their actions. Deletes are soft. "
                           "Send an API token as a bearer token; a read token can only read. "
                           "A signed-in browser session works too, with the X-CSRF-Token "
                           "header on every request that changes something.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer",
                      "description": "An API token from the account page or "
                                     "`lessons tokens create`."},
            "session": {"type": "apiKey", "in": "cookie", "name": "session"},
        }},
        "security": [{"token": []}, {"session": []}],
    }
