"""One handler per error status: JSON for the API, HTML pages (or fragments) otherwise."""

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from lessons.errors import Conflict, Forbidden, NotFound, ValidationError
from search.engine import IndexNotReady
from web.database import db


def wants_json() -> bool:
    """API paths, and clients that prefer JSON to HTML, get JSON errors."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, message: str, fields: dict[str, str] | None = None) -> Response:
    """The error as `{"error", "fields"}` JSON or as the `errors/<status>.html` page."""
    db.session.rollback()
    if wants_json():
        response = jsonify({"error": message, "fields": fields or {}})
    else:
        template = f"errors/{status}.html" if status in PAGES else "errors/error.html"
        response = Response(render_template(template, status=status, message=message))
    response.status_code = status
    return response


PAGES = {404}


def init_app(app: Flask) -> None:
    """Register the handlers for HTTP errors and the domain's own errors."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        response = error_response(error.code or 500, error.description or error.name)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            # RFC 9110: a 405 says which methods the URL does accept.
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(ValidationError)
    def validation_error(error: ValidationError) -> Response:
        return error_response(422, error.message, error.fields)

    @app.errorhandler(NotFound)
    def not_found(error: NotFound) -> Response:
        return error_response(404, error.message)

    @app.errorhandler(Forbidden)
    def forbidden(error: Forbidden) -> Response:
        return error_response(403, error.message)

    @app.errorhandler(Conflict)
    def conflict(error: Conflict) -> Response:
        return error_response(409, error.message)

    @app.errorhandler(IndexNotReady)
    def index_not_ready(error: IndexNotReady) -> Response:
        response = error_response(503, error.message)
        response.headers["Retry-After"] = "30"
        return response

    @app.errorhandler(IntegrityError)
    def integrity_error(error: IntegrityError) -> Response:
        # Two writers raced past a uniqueness check; the loser changes nothing.
        app.logger.warning("Integrity error: %s", error.orig)
        return error_response(409, "This clashes with a record saved meanwhile; try again.")

    @app.errorhandler(Exception)
    def server_error(error: Exception) -> Response:
        app.logger.exception("Unhandled error", exc_info=error)
        return error_response(500, "Something went wrong on our side; nothing was saved.")
