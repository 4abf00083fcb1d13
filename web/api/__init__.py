"""The JSON API under /api/v1: one blueprint, its routes in a module per resource group.

Each module adds its routes to `api` as it is imported, and describes them for
the OpenAPI document (`openapi_paths`, `openapi_schemas`) beside them;
web.api.openapi assembles those parts.
"""

from flask import Response, jsonify

from web.api import (
    briefings,
    notifications,
    occurrences,
    report,
    resources,
    reviews,
    search,
    themes,
)
from web.api.blueprint import api
from web.api.openapi import build_spec
from web.views.forms import categories

PARTS = (resources, reviews, occurrences, search, briefings, themes, report, notifications)


@api.get("/openapi.json", endpoint="openapi")
def openapi_document() -> Response:
    """The OpenAPI 3.1 document of this API."""
    return jsonify(build_spec(PARTS, categories()))
