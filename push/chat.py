"""Slack and Teams: new lessons and the weekly PMO digest posted to incoming webhooks, the hooks
themselves, and Slack's `/lesson` command, which saves a draft.

What leaves the app is what everyone may read: the dispatcher hands over only
organisation-wide lessons (and `queue_lesson` checks again), and the digest
names only themes and lessons a visitor would see, counting the rest. Each
post is written once per hook as a delivery whose payload is the exact JSON
body (Slack Block Kit, or a Teams message carrying an Adaptive Card), so a
retry sends the same message. Users' text is escaped for Slack's mrkdwn.

The `/lesson` command is signed by Slack (`slack_refusal`); a Slack user is
linked to an account by an admin, and their drafts are that account's.
"""

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from insights.report import review_summary
from insights.trends import (
    Repeat,
    Scope,
    ThemeView,
    Windows,
    repeated_mistakes,
    rising_and_falling,
    theme_views,
    utc_day,
)
from lessons.actor import Actor
from lessons.errors import ValidationError
from lessons.models import (
    Action,
    ChatHook,
    Delivery,
    Lesson,
    Project,
    SlackAccount,
    SlackRequest,
    User,
    utcnow,
)
from lessons.policy import restrict
from lessons.services import audit
from lessons.services.common import get_row
from lessons.services.lessons import create_lesson
from lessons.services.notifications import add_delivery
from lessons.services.users import Account, normal_email
from lessons.wording import plural
from push.config import PushSettings
from push.http import Refused, check_url, post_json
from search.engine import IndexNotReady, SearchEngine
from search.retrieve import search

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


def cut(text: str, most: int) -> str:
    """`text` on one line, cut to `most` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= most else flat[:most - 1] + "…"


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
    summary = mrkdwn(cut(lesson.what_happened, SUMMARY_CHARS))
    return {
        "text": f"New lesson: <{link}|{mrkdwn(cut(lesson.title, 200))}>",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "emoji": False,
                                        "text": cut(lesson.title, HEADER_CHARS)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{about}\n{summary}"}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"<{link}|Open the lesson> in Lessons"}]},
        ],
    }


def teams_lesson(settings: PushSettings, lesson: Lesson) -> dict[str, Any]:
    """The Teams message of a new lesson: an Adaptive Card."""
    return adaptive_card([
        {"type": "TextBlock", "text": "New lesson", "isSubtle": True, "spacing": "None"},
        {"type": "TextBlock", "text": cut(lesson.title, 500), "size": "Large",
         "weight": "Bolder", "wrap": True},
        {"type": "FactSet", "facts": [{"title": name, "value": value}
                                      for name, value in facts(lesson)]},
        {"type": "TextBlock", "text": cut(lesson.what_happened, SUMMARY_CHARS), "wrap": True},
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


# The weekly PMO digest


@dataclass(frozen=True)
class Line:
    """One thing the digest names, and where to open it."""

    text: str
    url: str


@dataclass(frozen=True)
class Section:
    """One part of the digest: its title, its lines, and what to say when it has none."""

    title: str
    lines: tuple[Line, ...]
    nothing: str


@dataclass(frozen=True)
class Digest:
    """The weekly PMO digest: a one-line headline, its sections, and the dashboard's link."""

    headline: str
    sections: tuple[Section, ...]
    link: str

    @property
    def text(self) -> str:
        """The digest as plain text with absolute links (in the app and by email)."""
        parts = [self.headline]
        for section in self.sections:
            lines = [f"- {line.text}: {line.url}" for line in section.lines] or [section.nothing]
            parts.append("\n".join([f"{section.title}:", *lines]))
        parts.append(f"The PMO dashboard: {self.link}")
        return "\n\n".join(parts)


def pmo_digest(session: Session, settings: PushSettings, now: datetime) -> Digest:
    """Rising themes, repeated mistakes, review backlog, overdue actions, each with links.

    Themes and lessons are named as a visitor sees them (the digest goes to the
    organisation's channels too); the backlog and overdue actions are counted whole.
    """
    today = utc_day(now)
    windows = Windows(today)
    with public_view(session) as public:
        views = theme_views(public, windows)
        rising = rising_and_falling(views)[0]
        repeats = repeated_mistakes(public, views)
        named = (rising_section(settings, rising, windows), repeats_section(settings, repeats))
    backlog = review_summary(session, Scope(), today)
    late = overdue_actions(session, today)
    headline = ", ".join([plural(len(rising), "rising theme"),
                          plural(len(repeats), "repeated mistake"),
                          f"{plural(backlog['awaiting'], 'lesson')} awaiting review",
                          plural(late, "overdue action")])
    return Digest(headline, (*named, backlog_section(settings, backlog),
                             overdue_section(settings, late)), settings.link("/pmo"))


@contextmanager
def public_view(session: Session) -> Iterator[Session]:
    """A session on the same database that sees only what everyone may see."""
    with Session(session.get_bind()) as public:
        restrict(public, EVERYONE)
        yield public


def rising_section(settings: PushSettings, rising: list[ThemeView], windows: Windows) -> Section:
    """The themes that grew in the latest window, each linked to its page."""
    return Section("Rising themes", tuple(Line(
        f"{view.theme.label}: {plural(view.counts[-1], 'lesson')} in the last {windows.days} "
        f"days, {view.change:+d} on the {windows.days} before",
        settings.link(f"/themes/{view.theme.id}")) for view in rising[:DIGEST_LINES]),
        "No theme grew.")


def repeats_section(settings: PushSettings, repeats: list[Repeat]) -> Section:
    """Mistakes made again, each linked to the first lesson that told it."""
    return Section("Mistakes made again", tuple(Line(
        f"{repeat.lessons[0].title} ({'; '.join(repeat.reasons)})",
        settings.link(f"/lessons/{repeat.lessons[0].id}")) for repeat in repeats[:DIGEST_LINES]),
        "None found.")


def backlog_section(settings: PushSettings, backlog: dict[str, Any]) -> Section:
    """How many lessons await review and the longest wait, linked to the review list."""
    waiting, oldest = backlog["awaiting"], backlog["oldest_waiting_days"]
    line = Line(f"{plural(waiting, 'lesson')} awaiting review, the oldest for "
                f"{plural(oldest or 0, 'day')}", settings.link("/reviews"))
    return Section("Review backlog", (line,) if waiting else (), "Nothing awaits review.")


def overdue_section(settings: PushSettings, late: int) -> Section:
    """How many actions are overdue, linked to the Actions page showing them."""
    line = Line(f"{plural(late, 'open action')} past the due date",
                settings.link("/actions?status=open&overdue=true"))
    return Section("Overdue actions", (line,) if late else (), "No action is overdue.")


def overdue_actions(session: Session, today: date) -> int:
    """Open actions on live lessons past their due date."""
    return session.scalar(select(func.count(Action.id)).where(
        Action.status == "open", Action.deleted_at.is_(None), Action.due_on < today,
        Action.lesson.has(Lesson.deleted_at.is_(None)))) or 0


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
        lines = [f"• <{line.url}|{mrkdwn(cut(line.text, 300))}>" for line in section.lines]
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


def link_text(text: str) -> str:
    """Text inside a Markdown link's brackets: brackets of its own would end it early."""
    return cut(text, 300).replace("[", "(").replace("]", ")")


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


# Slack users linked to accounts, for /lesson

SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,49}")  # Slack's member ids: U0123ABCD, W… on Grid


def slack_links(session: Session) -> list[tuple[SlackAccount, User]]:
    """Each linked Slack user with its account, by the account's email."""
    return [(link, user) for link, user in session.execute(
        select(SlackAccount, User).join(User, User.id == SlackAccount.user_id)
        .order_by(User.email, SlackAccount.slack_user_id))]


def link_slack_user(session: Session, actor: Actor, slack_user_id: str,
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


def unlink_slack_user(session: Session, actor: Actor, slack_user_id: str) -> None:
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


def slack_refusal(secret: str, timestamp: str, signature: str, body: bytes,
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


def slack_user(session: Session, slack_user_id: str) -> User | None:
    """The enabled account a Slack user is linked to, if any."""
    link = session.get(SlackAccount, slack_user_id.strip().upper()[:50])
    user = session.get(User, link.user_id) if link is not None else None
    return user if user is not None and user.disabled_at is None else None


def first_time(session: Session, signature: str) -> bool:
    """Remember a signed request; False if it was answered already (a replay). Requests
    older than the window are forgotten: their timestamp refuses them anyway."""
    session.execute(delete(SlackRequest).where(
        SlackRequest.received_at < utcnow() - timedelta(seconds=2 * SLACK_WINDOW)))
    try:
        with session.begin_nested():
            session.add(SlackRequest(signature=signature[:100]))
    except IntegrityError:  # the same request, answered a moment ago or in flight
        return False
    return True


def command_text(text: str) -> str:
    """The command's text as typed: Slack sends &, < and > as entities."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def draft_title(text: str) -> str:
    """A title for a draft from its text: the first line's first sentence, cut short."""
    first = SENTENCE_END.split(text.strip().splitlines()[0], maxsplit=1)[0]
    return cut(first, TITLE_CHARS)


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
        lines = [f"• <{settings.link(f'/lessons/{other.id}')}|{mrkdwn(cut(other.title, 200))}>"
                 for other in alike]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(
            ["*Already learned? The most similar lessons:*", *lines])}})
    else:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": "No similar lesson yet."}]})
    return ephemeral(f"Saved as a draft: {mrkdwn(lesson.title)} {link}", blocks)
