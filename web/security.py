"""Response headers that lock the pages down, and a check that form input is UTF-8."""

from urllib.parse import parse_qsl

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import BadRequest

# No inline script or style anywhere, so this strict policy holds.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def init_app(app: Flask) -> None:
    """Register the request check and the response headers."""
    app.before_request(allow_large_upload)
    app.before_request(reject_undecodable_form)
    app.after_request(add_headers)


View = TypeVar("View", bound=Callable)


def accepts_upload(view: View) -> View:
    """Mark a view that takes a whole file (an import) up to IMPORT_MAX_LENGTH bytes,
    where every other request stays under MAX_CONTENT_LENGTH."""
    view.accepts_upload = True  # type: ignore[attr-defined]
    return view


def allow_large_upload() -> None:
    """Raise this request's size limit when its view takes a file (before the body is read)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "accepts_upload", False):
        request.max_content_length = current_app.config["IMPORT_MAX_LENGTH"]


def reject_undecodable_form() -> None:
    """Refuse a form whose bytes are not UTF-8, instead of storing replacement characters."""
    if request.mimetype == "application/x-www-form-urlencoded":
        try:
            parse_qsl(request.get_data(cache=True).decode("utf-8"), errors="strict")
        except UnicodeDecodeError:
            raise BadRequest(NOT_UTF8) from None
    elif request.mimetype == "multipart/form-data":
        # Werkzeug has already replaced undecodable bytes by U+FFFD in multipart fields.
        if any("\ufffd" in value for value in request.form.values()):
            raise BadRequest(NOT_UTF8)


NOT_UTF8 = "The form data is not valid UTF-8; nothing was saved."


def add_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.vary.add("HX-Request")
    return response
