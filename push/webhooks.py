"""Outbound webhooks: events POSTed as signed JSON to the URLs admins registered.

Each event is written as one delivery per live webhook registered for it,
under a key made of the webhook and the audit row, so it is sent once. The
body is fixed when the event is queued: `{"id", "event", "occurred_at",
"data"}`, its `id` the delivery's, the same on every retry, so a receiver
drops a repeat by it. The POST carries `X-Lessons-Event`,
`X-Lessons-Delivery` (the id), `X-Lessons-Timestamp` (when this attempt was
sent, unix seconds) and `X-Lessons-Signature: sha256=<hex HMAC-SHA256 of the
raw body with the webhook's secret>`.

The secret is copied into the delivery's stored payload beside the body
(`{"body": …, "secret": …}`), so the sender signs without a database session;
only the body is POSTed, and the secret leaves the app only as the HMAC.
Removing a webhook forgets its deliveries that have not gone out.
"""

import hashlib
import hmac
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from lessons.actor import Actor
from lessons.errors import ValidationError
from lessons.models import Delivery, Lesson, Webhook, utcnow
from lessons.services import audit
from lessons.services.common import get_row
from lessons.services.notifications import add_delivery
from push.chat import drop_waiting
from push.config import PushSettings
from push.http import Refused, check_url, post_json

EVENTS = ("lesson.approved", "action.created", "action.closed", "risk.raised", "theme.changed")
EVENT_LABELS = {
    "lesson.approved": "An organisation-wide lesson is approved",
    "action.created": "An action is added to an organisation-wide lesson",
    "action.closed": "Such an action is done or dropped",
    "risk.raised": "A kickoff team takes an organisation-wide lesson as a risk",
    "theme.changed": "A theme is renamed, or the themes are recomputed",
}


def lesson_ref(settings: PushSettings, lesson: Lesson) -> dict[str, Any]:
    """A lesson as webhook bodies name it: id, title, link."""
    return {"id": lesson.id, "title": lesson.title, "url": settings.link(f"/lessons/{lesson.id}")}


def queue_event(session: Session, settings: PushSettings, event: str, key: str,
                data: dict[str, Any], at: datetime) -> int:
    """Write a delivery of `event`, which happened `at`, for each live webhook registered
    for it; how many."""
    occurred_at = at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    written = 0
    for hook in session.scalars(select(Webhook)
                                .order_by(Webhook.id)):
        if event not in hook.events:
            continue
        body = {"id": uuid.uuid4().hex, "event": event, "occurred_at": occurred_at,
                "data": data}
        written += add_delivery(session, f"webhook:{hook.id}:{key}", "webhook", hook.url,
                                event, {"body": body, "secret": hook.secret},
                                hook_id=hook.id) is not None
    return written


def post(delivery: Delivery, settings: PushSettings) -> None:
    """POST a webhook delivery, signed; raise on failure."""
    body = delivery.payload["body"]
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    post_json(delivery.target, raw, {
        "Content-Type": "application/json",
        "X-Lessons-Event": body["event"],
        "X-Lessons-Delivery": body["id"],
        "X-Lessons-Timestamp": str(int(time.time())),
        "X-Lessons-Signature": signature(delivery.payload["secret"], raw),
    }, settings.send_timeout, settings.allow_private)


def mark_failing(session: Session, hook_id: int | None) -> None:
    """A webhook whose delivery gave up is marked failing, for admins to see (and reset)."""
    hook = session.get(Webhook, hook_id) if hook_id is not None else None
    if hook is not None and hook.failing_since is None:
        hook.failing_since = utcnow()
        session.commit()


def signature(secret: str, raw: bytes) -> str:
    """The X-Lessons-Signature of a body: sha256=<hex HMAC-SHA256 with the secret>."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


# The webhooks, as admins add, reset and remove them


def registered(session: Session) -> list[Webhook]:
    """Every webhook, the oldest first."""
    return list(session.scalars(select(Webhook).order_by(Webhook.id)))


def add_webhook(session: Session, actor: Actor, url: str, events: list[str],
                allow_private: bool) -> Webhook:
    """A new webhook for `events`, with a new secret (shown to the admin once);
    `ValidationError` naming each field that is wrong."""
    errors = {}
    try:
        url = check_url(url, allow_private)
    except Refused as refused:
        errors["url"] = str(refused)
    chosen = [event for event in EVENTS if event in events]
    if not chosen or len(chosen) != len(set(events)):
        errors["events"] = "Choose one or more of the events listed."
    if errors:
        raise ValidationError(errors, "The webhook was not added.")
    hook = Webhook(url=url, events=chosen, secret=secrets.token_urlsafe(32),
                   created_by=actor.name)
    session.add(hook)
    session.flush()
    audit.record(session, actor, "webhook_create", f"webhook {hook.id}",
                 host=urlsplit(url).hostname, events=chosen)
    return hook


def reset_webhook(session: Session, actor: Actor, hook_id: int) -> Webhook:
    """Clear a webhook's failing mark, once its receiver is mended."""
    hook = get_row(session, Webhook, hook_id)
    hook.failing_since = None
    audit.record(session, actor, "webhook_reset", f"webhook {hook.id}")
    return hook


def delete_webhook(session: Session, actor: Actor, hook_id: int) -> Webhook:
    """Remove a webhook, and its deliveries that have not gone out."""
    hook = get_row(session, Webhook, hook_id)
    drop_waiting(session, "webhook", hook.id)
    session.delete(hook)
    audit.record(session, actor, "webhook_delete", f"webhook {hook.id}",
                 host=urlsplit(hook.url).hostname)
    return hook


# The bodies, for the OpenAPI document's `webhooks`

LESSON_REF = {"type": "object", "required": ["id", "title", "url"],
              "additionalProperties": False, "properties": {
                  "id": {"type": "integer"}, "title": {"type": "string"},
                  "url": {"type": "string", "format": "uri"}}}
ACTION = {"type": "object", "required": ["id", "description", "status", "due_on", "owner"],
          "additionalProperties": False, "properties": {
              "id": {"type": "integer"}, "description": {"type": "string"},
              "status": {"type": "string"},
              "due_on": {"type": ["string", "null"], "format": "date"},
              "owner": {"type": ["string", "null"]}}}
ON_ACTION = {"required": ["action", "lesson"], "properties": {"action": ACTION,
                                                              "lesson": LESSON_REF}}
EVENT_DATA: dict[str, dict[str, Any]] = {
    "lesson.approved": {"required": ["lesson"], "properties": {"lesson": LESSON_REF}},
    "action.created": ON_ACTION,
    "action.closed": ON_ACTION,
    "risk.raised": {"required": ["lesson", "project"], "properties": {
        "lesson": LESSON_REF,
        "project": {"type": "object", "required": ["id", "url"], "additionalProperties": False,
                    "properties": {"id": {"type": ["integer", "null"]},
                                   "url": {"type": "string", "format": "uri"}}}}},
    # One theme renamed, or every theme recomputed at once.
    "theme.changed": {"oneOf": [
        {"required": ["theme"], "additionalProperties": False, "properties": {"theme": {
            "type": "object", "required": ["id", "name", "url"], "additionalProperties": False,
            "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                           "url": {"type": "string", "format": "uri"}}}}},
        {"required": ["themes"], "additionalProperties": False,
         "properties": {"themes": {"const": "recomputed"}}}]},
}


def event_body(event: str) -> dict[str, Any]:
    """The JSON schema of the body POSTed for `event`."""
    data = {"type": "object", "additionalProperties": False, **EVENT_DATA[event]}
    if "oneOf" in data:  # each alternative says which properties it allows
        data.pop("additionalProperties")
    return {"type": "object", "required": ["id", "event", "occurred_at", "data"],
            "additionalProperties": False, "properties": {
                "id": {"type": "string", "description": "The delivery's id, the same on every "
                                                        "retry: drop a repeat by it."},
                "event": {"const": event},
                "occurred_at": {"type": "string", "format": "date-time"},
                "data": data}}


SIGNED = ("Signed: `X-Lessons-Signature` is `sha256=` and the hex HMAC-SHA256 of the raw body "
          "with the webhook's secret. `X-Lessons-Delivery` repeats the body's id.")


def openapi_webhooks() -> dict[str, Any]:
    """OpenAPI 3.1 `webhooks`: what each event POSTs, and what answer counts as received."""
    headers = [{"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
               for name in ("X-Lessons-Event", "X-Lessons-Delivery", "X-Lessons-Timestamp",
                            "X-Lessons-Signature")]
    return {event: {"post": {
        "summary": EVENT_LABELS[event], "operationId": f"webhook_{event.replace('.', '_')}",
        "description": SIGNED, "parameters": headers,
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": event_body(event)}}},
        "responses": {"2XX": {"description": "Received. Any other answer, or none within the "
                                             "timeout, is tried again for a day."}},
    }} for event in EVENTS}
