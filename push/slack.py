"""Slack's `/lesson` command: a signed request saves a draft for the linked account and
answers with the most similar lessons that account may read; and the links between Slack
users and accounts, which admins keep.

Slack signs each request (`refusal`: HMAC-SHA256 of "v0:<timestamp>:<body>" with
the app's signing secret, within five minutes); a request seen before is refused
(`first_time`), so a captured request cannot be replayed.
"""

import hashlib
import hmac
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lessons.actor import Actor
from lessons.errors import ValidationError
from lessons.models import Lesson, SlackAccount, SlackRequest, User, utcnow
from lessons.services import audit
from lessons.services.common import insert_once
from lessons.services.lessons import create_lesson
from lessons.services.users import normal_email
from lessons.wording import one_line
from push.chat import mrkdwn
from push.config import PushSettings
from search.engine import IndexNotReady, SearchEngine
from search.retrieve import search

# Slack users linked to accounts

SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,49}")  # Slack's member ids: U0123ABCD, W… on Grid


def links(session: Session) -> list[tuple[SlackAccount, User]]:
    """Each linked Slack user with its account, by the account's email."""
    return [(link, user) for link, user in session.execute(
        select(SlackAccount, User).join(User, User.id == SlackAccount.user_id)
        .order_by(User.email, SlackAccount.slack_user_id))]


def link_user(session: Session, actor: Actor, slack_user_id: str,
                    email: str) -> SlackAccount:
    """Write `/lesson` drafts from this Slack user as the account with `email` (a Slack user
    already linked is linked again)."""
    slack_user_id = slack_user_id.strip().upper()
    errors = {}
    if not SLACK_USER.fullmatch(slack_user_id):
        errors["slack_user_id"] = ("A Slack member id such as U0123ABCD: in Slack, open the "
                                   "person's profile, ⋮, Copy member ID.")
    user = session.scalar(select(User).where(User.email == normal_email(email)))
    if user is None or user.disabled_at is not None:
        errors["email"] = "No enabled account has this email."
    if errors:
        raise ValidationError(errors, "The Slack user was not linked.")
    assert user is not None  # refused above
    link = session.merge(SlackAccount(slack_user_id=slack_user_id, user_id=user.id))
    audit.record(session, actor, "slack_link", f"user {user.id}", slack_user_id=slack_user_id)
    return link


def unlink_user(session: Session, actor: Actor, slack_user_id: str) -> None:
    """The Slack user's `/lesson` is refused from now on."""
    link = session.get(SlackAccount, slack_user_id)
    if link is None:
        raise ValidationError({"slack_user_id": "Not linked."}, "No such Slack user is linked.")
    session.delete(link)
    audit.record(session, actor, "slack_unlink", f"user {link.user_id}",
                 slack_user_id=slack_user_id)


# The /lesson command

SLACK_WINDOW = 300  # seconds a signed request stays good: Slack's own advice
TITLE_CHARS = 120
SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def refusal(secret: str, timestamp: str, signature: str, body: bytes,
                  now: float) -> str | None:
    """Why a request claiming to come from Slack is refused, or None when Slack signed it
    (v0: HMAC-SHA256 of "v0:<timestamp>:<body>" with the signing secret) within
    SLACK_WINDOW seconds of `now`."""
    if not (timestamp.isdecimal() and len(timestamp) <= 12
            and abs(now - int(timestamp)) <= SLACK_WINDOW):
        return "This request is too old, or its clock is more than five minutes off."
    signed = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return "This request's signature is wrong: it did not come from Slack."
    return None


def linked_account(session: Session, slack_user_id: str) -> User | None:
    """The enabled account a Slack user is linked to, if any."""
    link = session.get(SlackAccount, slack_user_id.strip().upper()[:50])
    user = session.get(User, link.user_id) if link is not None else None
    return user if user is not None and user.disabled_at is None else None


def first_time(session: Session, signature: str) -> bool:
    """Remember a signed request; False if it was answered already (a replay). Requests
    older than the window are forgotten: their timestamp refuses them anyway."""
    session.execute(delete(SlackRequest).where(
        SlackRequest.received_at < utcnow() - timedelta(seconds=2 * SLACK_WINDOW)))
    # None: the same request, answered a moment ago or in flight.
    return insert_once(session, SlackRequest, ["signature"], signature=signature[:100],
                       received_at=utcnow()) is not None


def command_text(text: str) -> str:
    """The command's text as typed: Slack sends &, < and > as entities."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def draft_title(text: str) -> str:
    """A title for a draft from its text: the first line's first sentence, cut short."""
    first = SENTENCE_END.split(text.strip().splitlines()[0], maxsplit=1)[0]
    return one_line(first, TITLE_CHARS)


def save_draft(session: Session, user: User, text: str, ip: str | None,
               categories: list[str]) -> Lesson:
    """A draft lesson of `user`'s, from `/lesson <text>`: only they and the PMO see it until
    they submit it; `ValidationError` if the text is not a lesson's."""
    return create_lesson(session, {"title": draft_title(text), "what_happened": text},
                         actor=Actor(user.email, user.id, ip), categories=categories,
                         owner_id=user.id, status="draft")


def similar(engine: SearchEngine, session: Session, text: str, lesson_id: int,
            most: int = 3) -> list[Lesson]:
    """The lessons most like `text` that `session`'s viewer may see, the new draft left out;
    none when search cannot answer now (a hint, never an obstacle)."""
    try:
        found = search(engine, session, text[:2_000], limit=most, exclude=[lesson_id])
    except (ValidationError, IndexNotReady):
        return []
    return [hit.lesson for hit in found.hits[:most]]


def ephemeral(text: str, blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A reply only the person who typed the command sees."""
    return {"response_type": "ephemeral", "text": text, **({"blocks": blocks} if blocks else {})}


def draft_reply(settings: PushSettings, lesson: Lesson, alike: list[Lesson]) -> dict[str, Any]:
    """The answer to `/lesson`: a link to the draft, and the lessons most like it."""
    link = settings.link(f"/lessons/{lesson.id}")
    saved = (f"Saved as a draft: <{link}|{mrkdwn(lesson.title)}>. Only you and the PMO see "
             "it. Open it to add the root cause and recommendation, then submit it.")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn",
                                                                 "text": saved}}]
    if alike:
        lines = [f"• <{settings.link(f'/lessons/{other.id}')}|{mrkdwn(one_line(other.title, 200))}>"
                 for other in alike]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(
            ["*Already learned? The most similar lessons:*", *lines])}})
    else:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": "No similar lesson yet."}]})
    return ephemeral(f"Saved as a draft: {mrkdwn(lesson.title)} {link}", blocks)
