"""Answering htmx and plain requests from the same view."""

from typing import Any, cast
from urllib.parse import urlsplit

from flask import Response, redirect, render_template, request


def is_htmx() -> bool:
    """An htmx request that wants a fragment. Boosted links want whole pages, and so does
    Back or Forward to an address htmx pushed: it asks for the page to put in place of the
    whole body (HX-History-Restore-Request), which a fragment would leave bare."""
    headers = request.headers
    return (headers.get("HX-Request") == "true" and not headers.get("HX-Boosted")
            and not headers.get("HX-History-Restore-Request"))


def render(template: str, fragment: str | None = None, /, status: int = 200,
           **context: Any) -> Response:
    """The whole page `template`, or only `fragment` when htmx asks for it. Both answer the
    same address, so the browser's cache keeps them apart by the header (Vary)."""
    chosen = fragment if fragment and is_htmx() else template
    response = Response(render_template(chosen, **context), status=status)
    if fragment:
        response.vary.add("HX-Request")
    return response


def redirect_after_post(url: str) -> Response:
    """303 to `url`; htmx is told to navigate there itself."""
    if is_htmx():
        return Response(status=204, headers={"HX-Redirect": url})
    # flask.redirect builds the app's response class, this Response, though typed as werkzeug's.
    return cast(Response, redirect(url, code=303))


def local_url(url: str | None) -> str | None:
    """`url` if it is a path on this site, else None (no open redirects): browsers drop tabs
    and newlines, so "/<tab>/evil.example" would leave the site."""
    if not url or not url.startswith("/") or any(ch in url for ch in "\\\t\r\n"):
        return None
    parts = urlsplit(url)
    return None if url.startswith("//") or parts.scheme or parts.netloc else url
