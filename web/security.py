"""Response headers that lock the pages down, request size limits, UTF-8 forms and CSRF."""

import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from flask import Flask, Response, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from markupsafe import Markup
from werkzeug.exceptions import BadRequest
from werkzeug.middleware.proxy_fix import ProxyFix

# No inline script or style anywhere, so this strict policy holds.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


class HttpsAwareSessions(SecureCookieSessionInterface):
    """The session cookie is HttpOnly and SameSite=Lax always, and Secure whenever the
    request came over https (behind a proxy: see TRUSTED_PROXIES)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def init_app(app: Flask) -> None:
    """Register the request checks, the response headers and the session cookie's flags."""
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    app.session_interface = HttpsAwareSessions()
    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies:
        # Flask's documented way to add WSGI middleware, which mypy reads as replacing a method.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    app.before_request(allow_large_upload)
    app.before_request(reject_undecodable_form)
    app.before_request(check_csrf)
    app.jinja_env.globals.update(csrf_token=csrf_token, csrf_field=csrf_field)
    app.after_request(add_headers)


View = TypeVar("View", bound=Callable[..., Any])


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
CSRF_MISSING = ("This form has expired or did not come from Lessons (its security token is "
                "missing or wrong). Reload the page and try again; nothing was saved.")
READING = {"GET", "HEAD", "OPTIONS"}


def csrf_token() -> str:
    """This browser session's CSRF token, made on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_field() -> Markup:
    """The hidden input every POST form carries."""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(csrf_token())


# Posted by a mail client or by Slack, never by a signed-in browser, and each proven by its
# own signature (the unsubscribe link's, Slack's request signature): no CSRF token to send.
SIGNED_ELSEWHERE = {"mail.unsubscribe", "integrations.slack_command"}


def check_csrf() -> None:
    """A state-changing request must carry the session's CSRF token (form field or
    X-CSRF-Token header, which htmx sends from `hx-headers` on <body>), unless an API
    bearer token signs it: a browser never sends one of those by itself."""
    user = g.get("user")
    if request.method in READING or (user is not None and user.token_scope is not None):
        return
    if request.endpoint in SIGNED_ELSEWHERE:
        return
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    expected = session.get("csrf") or ""
    if not expected or not secrets.compare_digest(sent.encode(), expected.encode()):
        raise BadRequest(CSRF_MISSING)


def add_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.vary.add("HX-Request")
    return response
