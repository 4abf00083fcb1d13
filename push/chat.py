"""Slack and Teams: new lessons and the weekly PMO digest posted to incoming webhooks.

(Being written: the contract the dispatcher and the sender rely on is below.)
"""

from sqlalchemy.orm import Session

from lessons.models import Delivery, Lesson
from push.config import PushSettings


def queue_lesson(session: Session, settings: PushSettings, lesson: Lesson,
                 project_ids: list[int]) -> int:
    """Write a delivery for each Slack or Teams hook that hears of this organisation-wide
    lesson: the organisation's hooks and those of `project_ids`; how many."""
    return 0


def post(delivery: Delivery, settings: PushSettings) -> None:
    """POST a chat delivery's payload to its hook; raise on failure."""
    raise NotImplementedError


class Digest:
    """The weekly PMO digest: a one-line headline and its text, with links (to be written)."""

    headline: str
    text: str


def pmo_digest(session: Session, settings: PushSettings, now: object) -> Digest:
    """Rising themes, repeated mistakes, review backlog, overdue actions, each with links."""
    raise NotImplementedError


def queue_digest(session: Session, settings: PushSettings, digest: Digest, week: str) -> int:
    """Write a delivery of the digest for each organisation-wide Slack or Teams hook."""
    return 0
