"""Who is acting, for revisions and the audit trail: the signed-in account's email.

Without an account (anonymous reading, which writes nothing) it is the name
given, or "anonymous". The services write the audit row of each change with
the request's `current_actor()`, in the change's own transaction.
`remember_actor` keeps the author name last typed into a form, which the
capture form offers again.
"""

from flask import g, session

from lessons.actor import Actor
from web.auth import client_ip

MAX_NAME = 200


def current_actor(fallback: object = None) -> Actor:
    """Who makes this request's changes: the name recorded on its revisions and audit rows,
    the account and the client's address."""
    return Actor(actor_name(fallback), current_user_id(), client_ip())


def actor_name(fallback: object = None) -> str:
    """The account's email; without one, the name given, or "anonymous"."""
    user = g.get("user")
    if user is not None:
        return user.email
    if isinstance(fallback, str) and clean_name(fallback):
        return clean_name(fallback)
    return "anonymous"


def current_user_id() -> int | None:
    """The signed-in account's id: the owner of what it creates."""
    user = g.get("user")
    return user.id if user is not None else None


def remember_actor(name: str | None) -> None:
    """Remember the name typed in a form, for this person's later edits."""
    if name and clean_name(name):
        session["actor"] = clean_name(name)


def clean_name(name: str) -> str:
    """The name without control characters, trimmed to a sensible length."""
    return "".join(ch for ch in name if ch.isprintable()).strip()[:MAX_NAME]
