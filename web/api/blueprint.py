"""The API's one blueprint, and reading what a request sends: its JSON body and its limit."""

from typing import Any

from flask import Blueprint, abort, request

from lessons.errors import ValidationError
from lessons.validation import Invalid, parse_json

# Every module of web.api adds its routes here, so each endpoint is `api.<view>` whichever
# module holds it (web.auth's role table names them).
api = Blueprint("api", __name__, url_prefix="/api/v1")

JSON_TYPES = ("application/json", "application/merge-patch+json")


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 4xx that says what is wrong with it."""
    if request.mimetype not in JSON_TYPES:
        abort(415, "Send the body as JSON with Content-Type: application/json.")
    raw = request.get_data(cache=False)
    try:
        data = parse_json(raw.decode("utf-8"))
    except UnicodeDecodeError:
        abort(400, "The body is not valid UTF-8.")
    except Invalid as error:
        abort(400, f"The body is not valid JSON: {error}.")
    if not isinstance(data, dict):
        abort(400, "The body must be a JSON object of field names and values.")
    return data


def optional_json_body() -> dict[str, Any]:
    """The request's JSON object, or an empty one when nothing was sent."""
    return json_body() if request.content_length else {}


def parse_limit() -> int:
    """The `limit` argument: 1 to 100, 10 when absent."""
    raw = request.args.get("limit", "10")
    if not raw.isdecimal() or not 1 <= int(raw) <= 100:
        raise ValidationError({"limit": "Must be a whole number from 1 to 100."})
    return int(raw)
