"""Notifications and following: the caller's notifications and unread count, marking them read,
how each channel tells them, what they follow, and their part of the OpenAPI document.

Everything here is the caller's own: a visitor reading anonymously gets 401.
The rules are the pages' (web.views.notifications): the same check of what can
be followed, the same settings, the same list of what is followed.
"""

from typing import Any

from flask import Response, abort, jsonify, request

from lessons.errors import ValidationError
from lessons.fields import MAX_ID
from lessons.models import Notification, User
from lessons.queries import PAGING, parse_query
from lessons.services.notifications import inbox, mark_read, unread_count
from lessons.services.subscriptions import (
    CADENCES,
    CHANNELS,
    KINDS,
    cadences,
    follow,
    follows,
    set_cadences,
    unfollow,
)
from web.api.blueprint import api, json_body, optional_json_body
from web.api.schema import BODY_ERRORS, TIMESTAMP, error, json_content, ref
from web.api.serializers import listing, listing_schema, page_json, page_schema
from web.auth import sign_in_first
from web.database import db
from web.views.notifications import (
    Followed,
    check_target,
    described,
    email_on,
    encode_search,
    following,
    reader,
)

PAGE_FIELDS = tuple(f for f in PAGING if f.name in ("page", "per_page"))


def caller() -> User:
    """The caller's account; 401 for a visitor, who has no notifications."""
    user = reader()
    if user is None:
        abort(sign_in_first())
    return user


@api.get("/notifications")
def notifications() -> Response:
    """The caller's notifications, the newest first, and how many are unread."""
    user = caller()
    query = parse_query(PAGE_FIELDS, request.args)
    page = inbox(db.session, user, query["page"], query["per_page"])
    return jsonify({**page_json(page, notification_json),
                    "unread": unread_count(db.session, user)})


@api.post("/notifications/read")
def read_notifications() -> Response:
    """Mark one notification read (`{"id": n}`), or every one (no body, or `{}`)."""
    user = caller()
    data = optional_json_body()
    unknown_fields(data, {"id"})
    given = data.get("id")
    if given is not None and (isinstance(given, bool) or not isinstance(given, int)
                              or not 0 < given <= MAX_ID):
        raise ValidationError({"id": "Must be a notification's id, a whole number."})
    marked = mark_read(db.session, user, given)
    db.session.commit()
    return jsonify({"marked": marked, "unread": unread_count(db.session, user)})


@api.get("/notifications/settings")
def notification_settings() -> Response:
    """How each channel tells the caller."""
    return jsonify(settings_json(caller()))


@api.put("/notifications/settings")
def save_notification_settings() -> Response:
    """Choose how each channel given tells the caller; one bad value and nothing changes."""
    user = caller()
    data = json_body()
    unknown_fields(data, set(CHANNELS))
    set_cadences(db.session, user.id, {channel: str(value) if isinstance(value, str) else ""
                                    for channel, value in data.items()})
    db.session.commit()
    return jsonify(settings_json(user))


@api.get("/subscriptions")
def subscriptions() -> Response:
    """What the caller follows, their team's projects included."""
    return jsonify(listing([followed_json(row) for row in following(db.session, caller())]))


@api.post("/subscriptions")
def add_subscription() -> Response:
    """Follow a project or theme (by id), a category (by name) or a search (by its words)."""
    user = caller()
    kind, target = subscription_body()
    check_target(kind, target)
    already = follows(db.session, user, kind, target)
    follow(db.session, user, kind, target, encode=encode_search)
    db.session.commit()
    row = described(db.session, kind, target)
    response = jsonify(followed_json(row))
    response.status_code = 200 if already else 201
    return response


@api.delete("/subscriptions")
def remove_subscription() -> Response:
    """Stop following it (a team member: their own project's news too)."""
    user = caller()
    kind, target = subscription_body()
    check_target(kind, target, following=False)
    unfollow(db.session, user, kind, target)
    db.session.commit()
    return Response(status=204)


def subscription_body() -> tuple[str, str]:
    """The body's `kind` and `target` (the target as text, its spaces collapsed), or a 422."""
    data = json_body()
    unknown_fields(data, {"kind", "target"})
    kind, target = data.get("kind"), data.get("target")
    errors = {}
    if not isinstance(kind, str) or kind not in KINDS:
        errors["kind"] = f"Choose one of: {', '.join(KINDS)}."
    if isinstance(target, bool) or not isinstance(target, str | int):
        errors["target"] = ("Give the project's or theme's id, the category's name or the "
                            "search's words.")
    if errors:
        raise ValidationError(errors)
    return str(kind), " ".join(str(target).split())


def unknown_fields(data: dict[str, Any], known: set[str]) -> None:
    """A 422 naming each field the body has that the call does not take."""
    if unknown := {name: "Unknown field." for name in data if name not in known}:
        raise ValidationError(unknown)


def notification_json(row: Notification) -> dict[str, Any]:
    """One notification, as the caller reads it."""
    return {"id": row.id, "kind": row.kind, "subject": row.subject, "body": row.body,
            "link": row.link, "lesson_id": row.lesson_id, "project_id": row.project_id,
            "created_at": row.created_at.isoformat(),
            "read_at": row.read_at.isoformat() if row.read_at else None,
            "read": row.read_at is not None}


def settings_json(user: User) -> dict[str, Any]:
    return {**cadences(db.session, user.id), "email_available": email_on()}


def followed_json(row: Followed) -> dict[str, Any]:
    return {"kind": row.kind, "target": row.target, "label": row.label, "link": row.link,
            "team": row.team, "following": row.on}


NOTIFICATION = {
    "type": "object",
    "required": ["id", "kind", "subject", "body", "link", "lesson_id", "project_id",
                 "created_at", "read_at", "read"],
    "properties": {
        "id": {"type": "integer"},
        "kind": {"type": "string", "description": "approved, returned, new_lesson, action, …"},
        "subject": {"type": "string"}, "body": {"type": "string"},
        "link": {"type": ["string", "null"], "description": "A path in this app."},
        "lesson_id": {"type": ["integer", "null"]}, "project_id": {"type": ["integer", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "read_at": TIMESTAMP, "read": {"type": "boolean"},
    },
    "additionalProperties": False,
}
NOTIFICATIONS = page_schema(ref("Notification"))
NOTIFICATIONS = {**NOTIFICATIONS, "required": [*NOTIFICATIONS["required"], "unread"],
                 "properties": {**NOTIFICATIONS["properties"], "unread": {"type": "integer"}}}
READ_INPUT = {"type": "object", "additionalProperties": False, "properties": {
    "id": {"type": "integer", "minimum": 1, "maximum": MAX_ID,
           "description": "The notification to mark read; absent: every one."}}}
READ_RESULT = {"type": "object", "required": ["marked", "unread"], "additionalProperties": False,
               "properties": {"marked": {"type": "integer"}, "unread": {"type": "integer"}}}
CADENCE_PROPERTIES = {channel: {"enum": list(CADENCES), "description": label}
                      for channel, label in CHANNELS.items()}
SETTINGS = {"type": "object", "required": [*CHANNELS, "email_available"],
            "additionalProperties": False,
            "properties": {**CADENCE_PROPERTIES, "email_available": {
                "type": "boolean", "description": "False: this server sends no email (an admin "
                                                  "sets LESSONS_SMTP_URL)."}}}
SETTINGS_INPUT = {"type": "object", "additionalProperties": False,
                  "properties": CADENCE_PROPERTIES}
SUBSCRIPTION = {
    "type": "object", "required": ["kind", "target", "label", "link", "team", "following"],
    "additionalProperties": False,
    "properties": {
        "kind": {"enum": list(KINDS)}, "target": {"type": "string"},
        "label": {"type": "string"}, "link": {"type": ["string", "null"]},
        "team": {"type": "boolean", "description": "A project whose team the caller is on, "
                                                   "followed without asking."},
        "following": {"type": "boolean", "description": "False: a team's project its member "
                                                        "turned off."},
    },
}
SUBSCRIPTION_INPUT = {
    "type": "object", "required": ["kind", "target"], "additionalProperties": False,
    "properties": {
        "kind": {"enum": list(KINDS)},
        "target": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 500},
                             {"type": "integer", "minimum": 0, "maximum": MAX_ID}],
                   "description": "The project's or theme's id, the category's name, or the "
                                  "search's words (at most 200 characters)."},
    },
}
PAGE_PARAMETERS = [
    {"name": "page", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 10**9, "default": 1}},
    {"name": "per_page", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 25}},
]


def openapi_schemas(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A notification, the notification settings and a subscription."""
    return {"Notification": NOTIFICATION, "NotificationSettings": SETTINGS,
            "Subscription": SUBSCRIPTION}


def openapi_paths(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The caller's notifications, marking them read, their settings and subscriptions."""
    settings = {"description": "The settings.", **json_content(ref("NotificationSettings"))}
    subscription_body = {"required": True, **json_content(SUBSCRIPTION_INPUT)}
    missing = error("No project or theme with this id.")
    return {
        "/notifications": {"get": {
            "summary": "The caller's notifications, the newest first, and the unread count",
            "operationId": "notifications", "parameters": PAGE_PARAMETERS,
            "responses": {"200": {"description": "One page of notifications.",
                                  **json_content(NOTIFICATIONS)},
                          "422": error("The page or per_page is invalid.")}}},
        "/notifications/read": {"post": {
            "summary": "Mark one notification read, or every one",
            "operationId": "read_notifications",
            "requestBody": {"required": False, **json_content(READ_INPUT)},
            "responses": {"200": {"description": "How many were marked, and how many are "
                                                 "still unread.", **json_content(READ_RESULT)},
                          **BODY_ERRORS}}},
        "/notifications/settings": {
            "get": {"summary": "How each channel tells the caller",
                    "operationId": "notification_settings", "responses": {"200": settings}},
            "put": {"summary": "Choose how each channel given tells the caller",
                    "operationId": "save_notification_settings",
                    "requestBody": {"required": True, **json_content(SETTINGS_INPUT)},
                    "responses": {"200": settings, **BODY_ERRORS}}},
        "/subscriptions": {
            "get": {"summary": "What the caller follows, their team's projects included",
                    "operationId": "subscriptions",
                    "responses": {"200": {"description": "What is followed.",
                                          **json_content(listing_schema(ref("Subscription")))}}},
            "post": {"summary": "Follow a project, a theme, a category or a search",
                     "operationId": "add_subscription", "requestBody": subscription_body,
                     "responses": {
                         "201": {"description": "Followed.", **json_content(ref("Subscription"))},
                         "200": {"description": "Followed already.",
                                 **json_content(ref("Subscription"))},
                         "404": missing, **BODY_ERRORS}},
            "delete": {"summary": "Stop following a project, a theme, a category or a search",
                       "operationId": "remove_subscription", "requestBody": subscription_body,
                       "responses": {"204": {"description": "Not followed (any more)."},
                                     "404": missing, **BODY_ERRORS}}},
    }
