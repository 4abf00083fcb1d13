"""The OpenAPI 3.1 document, assembled from the parts of the API, each of which describes its own
routes (`openapi_paths`) and the schemas they name (`openapi_schemas`).

Output schemas forbid unknown properties, and the API tests validate every
response against them, so the document cannot drift from what the API does.
"""

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from push.webhooks import openapi_webhooks
from web.api.schema import ERROR, json_content

INFO = {
    "title": "Lessons API",
    "version": "1",
    "description": "Projects, lessons learned and their actions. Deletes are soft. "
                   "Send an API token as a bearer token; a read token can only read. "
                   "A signed-in browser session works too, with the X-CSRF-Token "
                   "header on every request that changes something.",
}
SECURITY_SCHEMES = {
    "token": {"type": "http", "scheme": "bearer",
              "description": "An API token from the account page or `lessons tokens create`."},
    "session": {"type": "apiKey", "in": "cookie", "name": "session"},
}
# The document is public: a client reads it before it has a token.
DOCUMENT_PATH = {
    "get": {"summary": "This document", "operationId": "openapi", "security": [],
            "responses": {"200": {"description": "The OpenAPI document.",
                                  **json_content({"type": "object"})}}},
}


def build_spec(parts: Sequence[ModuleType], categories: Sequence[str]) -> dict[str, Any]:
    """The whole OpenAPI document of `parts`, with the configured categories."""
    choices = {"category": {name: name for name in categories}}
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Error": ERROR}
    for part in parts:
        paths.update(part.openapi_paths(choices))
        schemas.update(part.openapi_schemas(choices))
    paths["/openapi.json"] = DOCUMENT_PATH
    return {
        "openapi": "3.1.0",
        "info": INFO,
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "webhooks": openapi_webhooks(),  # what Lessons POSTs to the webhooks admins register
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
        "security": [{"token": []}, {"session": []}],
    }
