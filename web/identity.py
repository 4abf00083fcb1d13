"""Who is acting, for revisions and the audit trail.

Until accounts exist this is the name a person last typed as author (kept in
their signed session cookie), or "anonymous"; API calls may name themselves
with the `X-Actor` header.
"""

from flask import request, session

MAX_NAME = 200


def current_actor(fallback: object = None) -> str:
    """The name recorded on revisions made by this request.

    `fallback` (say, the author typed into a new lesson) counts when the
    request names nobody.
    """
    for name in (request.headers.get("X-Actor"), session.get("actor"), fallback):
        if isinstance(name, str) and clean_name(name):
            return clean_name(name)
    return "anonymous"


def remember_actor(name: str | None) -> None:
    """Remember the name typed in a form, for this person's later edits."""
    if name and clean_name(name):
        session["actor"] = clean_name(name)


def clean_name(name: str) -> str:
    """The name without control characters, trimmed to a sensible length."""
    return "".join(ch for ch in name if ch.isprintable()).strip()[:MAX_NAME]
