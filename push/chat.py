"""Slack and Teams: new lessons and the weekly PMO digest posted to incoming webhooks, and
the hooks themselves, as admins add and remove them.

What leaves the app is what everyone may read: the dispatcher hands over only
organisation-wide lessons (and `queue_lesson` checks again), and the digest
(push.digest) names only themes and lessons a visitor would see. Each post is
written once per hook as a delivery whose payload is the exact JSON body
(Slack Block Kit, or a Teams message carrying an Adaptive Card), so a retry
sends the same message. Users' text is escaped for Slack's mrkdwn and kept
from making links in Teams' Markdown.
"""

import json
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lessons.actor import Actor
from lessons.errors import ValidationError
from lessons.models import (
    ChatHook,
    Delivery,
    Lesson,
    Project,
)
from lessons.services import audit
from lessons.services.common import get_row
from lessons.services.notifications import add_delivery
from lessons.services.users import Account
from lessons.wording import one_line
from push.config import PushSettings
from push.digest import Digest
from push.http import Refused, check_url, post_json

KINDS = {"slack": "Slack", "teams": "Microsoft Teams"}
SUMMARY_CHARS = 300  # of what happened, in a post
HEADER_CHARS = 150  # Slack's limit on a header block
DIGEST_LINES = 5  # themes or repeats named per section of the digest
# Who the digest is written for: a visitor, who sees what everyone may see.
EVERYONE = Account(0, "", "visitor", None, None, False)


def queue_lesson(session: Session, settings: PushSettings, lesson: Lesson,
                 project_ids: list[int]) -> int:
    """Write a delivery for each Slack or Teams hook that hears of this organisation-wide
    lesson: the organisation's hooks and those of `project_ids`; how many."""
    if lesson.visibility != "organisation" or lesson.status == "draft":
        return 0  # the dispatcher's rule, kept here too: nothing team-only leaves the app
    listening = session.scalars(select(ChatHook).where(
        ChatHook.project_id.is_(None) | ChatHook.project_id.in_(project_ids))
        .order_by(ChatHook.id))
    written = 0
    for hook in listening:
        payload = slack_lesson(settings, lesson) if hook.kind == "slack" else teams_lesson(
            settings, lesson)
        written += add_delivery(session, f"chat:{hook.id}:lesson:{lesson.id}", hook.kind,
                                hook.url, f"New lesson: {lesson.title}", payload,
                                hook_id=hook.id) is not None
    return written


def post(delivery: Delivery, settings: PushSettings) -> None:
    """POST a chat delivery's payload to its hook; raise on failure."""
    post_json(delivery.target, json.dumps(delivery.payload).encode(),
              {"Content-Type": "application/json"}, settings.send_timeout,
              settings.allow_private)


# A lesson as a post


def mrkdwn(text: str) -> str:
    """User text safe in Slack's mrkdwn: its three control characters escaped, so "<!here>"
    or "<https://x|y>" typed in a lesson is shown, not obeyed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def facts(lesson: Lesson) -> list[tuple[str, str]]:
    """What a post says about the lesson besides its title: severity, category, project."""
    found = [("Severity", lesson.severity.capitalize())]
    if lesson.category:
        found.append(("Category", lesson.category))
    if lesson.project is not None:
        found.append(("Project", lesson.project.name))
    return found


def slack_lesson(settings: PushSettings, lesson: Lesson) -> dict[str, Any]:
    """The Block Kit message of a new lesson."""
    link = settings.link(f"/lessons/{lesson.id}")
    about = " · ".join(f"*{name}:* {mrkdwn(value)}" for name, value in facts(lesson))
    summary = mrkdwn(one_line(lesson.what_happened, SUMMARY_CHARS))
    return {
        "text": f"New lesson: <{link}|{mrkdwn(one_line(lesson.title, 200))}>",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "emoji": False,
                                        "text": one_line(lesson.title, HEADER_CHARS)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{about}\n{summary}"}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"<{link}|Open the lesson> in Lessons"}]},
        ],
    }


def teams_lesson(settings: PushSettings, lesson: Lesson) -> dict[str, Any]:
    """The Teams message of a new lesson: an Adaptive Card."""
    return adaptive_card([
        {"type": "TextBlock", "text": "New lesson", "isSubtle": True, "spacing": "None"},
        {"type": "TextBlock", "text": link_text(lesson.title, 500), "size": "Large",
         "weight": "Bolder", "wrap": True},
        {"type": "FactSet", "facts": [{"title": name, "value": link_text(value, 200)}
                                      for name, value in facts(lesson)]},
        {"type": "TextBlock", "text": link_text(lesson.what_happened, SUMMARY_CHARS),
         "wrap": True},
    ], "Open the lesson", settings.link(f"/lessons/{lesson.id}"))


def adaptive_card(body: list[dict[str, Any]], action: str, url: str) -> dict[str, Any]:
    """A Teams incoming-webhook message carrying one Adaptive Card with one link button."""
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {
            "type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.4", "body": body,
            "actions": [{"type": "Action.OpenUrl", "title": action, "url": url}],
        },
    }]}


def queue_digest(session: Session, settings: PushSettings, digest: Digest, week: str) -> int:
    """Write a delivery of the digest for each organisation-wide Slack or Teams hook."""
    organisation = session.scalars(select(ChatHook).where(ChatHook.project_id.is_(None))
                                   .order_by(ChatHook.id))
    written = 0
    for hook in organisation:
        payload = (slack_digest(digest, week) if hook.kind == "slack"
                   else teams_digest(digest, week))
        written += add_delivery(session, f"chat:{hook.id}:pmo:{week}", hook.kind, hook.url,
                                f"PMO week {week}: {digest.headline}", payload,
                                hook_id=hook.id) is not None
    return written


def slack_digest(digest: Digest, week: str) -> dict[str, Any]:
    """The digest as a Block Kit message: a section per part, each line a link."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"PMO week {week}"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn(digest.headline)}}]
    for section in digest.sections:
        lines = [f"• <{line.url}|{mrkdwn(one_line(line.text, 300))}>" for line in section.lines]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(
            [f"*{section.title}*", *(lines or [f"_{section.nothing}_"])])}})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": f"<{digest.link}|Open the PMO dashboard>"}]})
    return {"text": f"PMO week {week}: {mrkdwn(digest.headline)}", "blocks": blocks}


def teams_digest(digest: Digest, week: str) -> dict[str, Any]:
    """The digest as an Adaptive Card: a heading and a list of links per part."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": f"PMO week {week}", "size": "Large", "weight": "Bolder"},
        {"type": "TextBlock", "text": digest.headline, "wrap": True}]
    for section in digest.sections:
        lines = [f"- [{link_text(line.text)}]({line.url})" for line in section.lines]
        body += [{"type": "TextBlock", "text": section.title, "weight": "Bolder",
                  "spacing": "Medium"},
                 {"type": "TextBlock", "text": "\n".join(lines) or section.nothing,
                  "wrap": True}]
    return adaptive_card(body, "Open the PMO dashboard", digest.link)


def link_text(text: str, most: int = 300) -> str:
    """User text in Teams' Markdown: square brackets made round, so it can neither end a
    link early nor make one ("[Sign in again](https://…)" typed in a lesson shows as typed,
    never as a disguised link)."""
    return one_line(text, most).replace("[", "(").replace("]", ")")


# The hooks, as admins add and remove them


def hooks(session: Session) -> list[ChatHook]:
    """Every Slack and Teams hook: the organisation's first, then by project."""
    return list(session.scalars(select(ChatHook).order_by(
        ChatHook.project_id.is_not(None), ChatHook.project_id, ChatHook.id)))


def add_hook(session: Session, actor: Actor, kind: str, url: str, project: str,
             allow_private: bool) -> ChatHook:
    """A new Slack or Teams hook for the organisation (`project` blank) or one project's id;
    `ValidationError` naming each field that is wrong."""
    errors: dict[str, str] = {}
    if kind not in KINDS:
        errors["kind"] = "Slack or Microsoft Teams."
    try:
        url = check_url(url, allow_private)
    except Refused as refused:
        errors["url"] = str(refused)
    project_id = int(project) if project.isdecimal() and len(project) < 12 else None
    if project.strip() and (project_id is None or not live_project(session, project_id)):
        errors["project_id"] = "No such project."
    if errors:
        raise ValidationError(errors, "The hook was not added.")
    hook = ChatHook(kind=kind, url=url, project_id=project_id, created_by=actor.name)
    session.add(hook)
    session.flush()
    audit.record(session, actor, "chat_hook_create", f"chat hook {hook.id}", kind=kind,
                 host=urlsplit(url).hostname, project_id=project_id)
    return hook


def live_project(session: Session, project_id: int) -> bool:
    """Whether the project exists and is not deleted."""
    project = session.get(Project, project_id)
    return project is not None and project.deleted_at is None


def delete_hook(session: Session, actor: Actor, hook_id: int) -> ChatHook:
    """Remove a hook, and the posts still waiting to go through it."""
    hook = get_row(session, ChatHook, hook_id)
    drop_waiting(session, hook.kind, hook.id)
    session.delete(hook)
    audit.record(session, actor, "chat_hook_delete", f"chat hook {hook.id}", kind=hook.kind,
                 host=urlsplit(hook.url).hostname, project_id=hook.project_id)
    return hook


def drop_waiting(session: Session, channel: str, hook_id: int) -> None:
    """Forget the deliveries through a removed hook that have not gone out: nobody may send
    them again to an address an admin took away."""
    session.execute(delete(Delivery).where(
        Delivery.channel == channel, Delivery.hook_id == hook_id,
        Delivery.status.in_(("pending", "failed"))))
