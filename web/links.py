"""Absolute links for documents read outside the app: a Markdown export pasted in a wiki or
a mail must still lead back to each lesson."""

from typing import Any

from flask import current_app, url_for


def absolute_url(endpoint: str, **values: Any) -> str:
    """The full address of `endpoint`: under `LESSONS_BASE_URL` when set (behind a proxy the
    request's host may be an internal name), else under the request's own scheme and host."""
    base = current_app.config["BASE_URL"]
    if base:
        return base + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)
