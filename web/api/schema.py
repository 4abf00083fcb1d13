"""The building blocks of the OpenAPI document that every part of the API uses.

Field schemas are made from the same field tables (lessons.fields) that validate
input, so a body the document allows is one the services accept.
"""

from collections.abc import Sequence
from typing import Any

from lessons.fields import MAX_ID, Field

TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
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


def input_schema(fields: Sequence[Field], choices: dict[str, dict[str, str]], *,
                 patch: bool) -> dict[str, Any]:
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
    required = [f.name for f in fields if f.required]
    if required and not patch:
        schema["required"] = required
    return schema


def filter_parameter(field: Field, choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A list filter in the query string; a blank one is ignored (lessons.queries)."""
    return {"name": field.name, "in": "query", "required": False, "allowEmptyValue": True,
            "schema": value_schema(field, choices)}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    """A request or response body of JSON described by `schema`."""
    return {"content": {"application/json": {"schema": schema}}}


def ref(name: str) -> dict[str, str]:
    """A reference to the component schema `name`."""
    return {"$ref": f"#/components/schemas/{name}"}


def error(description: str) -> dict[str, Any]:
    """An error response: the Error schema, with why it happens."""
    return {"description": description, **json_content(ref("Error"))}


ID_PARAMETER = {"name": "row_id", "in": "path", "required": True,
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID}}
LIMIT = {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}}
BODY_ERRORS = {
    "400": error("The body is not a JSON object."),
    "413": error("The body is too large."),
    "415": error("The body is not sent as application/json."),
    "422": error("Some fields are invalid; `fields` says which and why. Nothing was written."),
}
