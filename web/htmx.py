"""Answering htmx and plain requests from the same view."""

from flask import Response, redirect, render_template, request


def is_htmx() -> bool:
    """An htmx request that wants a fragment (boosted links want whole pages)."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-Boosted")


def render(template: str, fragment: str | None = None, /, status: int = 200, **context) -> Response:
    """The whole page `template`, or only `fragment` when htmx asks for it."""
    chosen = fragment if fragment and is_htmx() else template
    return Response(render_template(chosen, **context), status=status)


def redirect_after_post(url: str) -> Response:
    """303 to `url`; htmx is told to navigate there itself."""
    if is_htmx():
        return Response(status=204, headers={"HX-Redirect": url})
    return redirect(url, code=303)
