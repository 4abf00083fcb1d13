"""Outbound webhooks: events POSTed as signed JSON to the URLs admins registered.

(Being written: the contract the dispatcher and the sender rely on is below.)
"""

from typing import Any

from sqlalchemy.orm import Session

from lessons.models import Delivery, Lesson
from push.config import PushSettings

EVENTS = ("lesson.approved", "action.created", "action.closed", "risk.raised", "theme.changed")


def lesson_ref(settings: PushSettings, lesson: Lesson) -> dict[str, Any]:
    """A lesson as webhook bodies name it: id, title, status, link."""
    return {"id": lesson.id, "title": lesson.title, "url": settings.link(f"/lessons/{lesson.id}")}


def queue_event(session: Session, settings: PushSettings, event: str, key: str,
                data: dict[str, Any]) -> int:
    """Write a delivery of `event` for each live webhook registered for it; how many."""
    return 0


def post(delivery: Delivery, settings: PushSettings) -> None:
    """POST a webhook delivery, signed; raise on failure."""
    raise NotImplementedError
