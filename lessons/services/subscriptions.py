"""Following: a project, a theme, a category or a saved search, and how each account wants
to be told (per channel: immediately, a daily or weekly digest, or off).

A project's team follows it without asking (`project_followers` counts its members),
unless a member turned that off; anyone else follows it with a subscription. A
followed search keeps its words' vector, so a new lesson is matched on meaning
by `search.watch`; encoding is the caller's (the web has the model).
"""

import unicodedata
from collections.abc import Callable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lessons.errors import NotFound, ValidationError
from lessons.models import Preference, Project, ProjectMember, Subscription, Theme, User, utcnow
from lessons.services import audit
from lessons.services.common import insert_once

KINDS = {"project": "Project", "theme": "Theme", "category": "Category", "search": "Search"}
CHANNELS = {"in_app": "In the app", "email": "Email"}
# Every channel offers every cadence: a digest in the app is one notice listing what waited.
CADENCES = {"immediately": "Immediately", "daily": "Daily digest", "weekly": "Weekly digest",
            "off": "Off"}
DEFAULT_CADENCE = {"in_app": "immediately", "email": "daily"}
MAX_SEARCH = 200
# A member who does not want their project's news: a subscription row that says "not".
UNFOLLOWED = "unfollowed"

Encode = Callable[[str], tuple[bytes, str]]  # words -> (float32 vector bytes, model name)


def follow(session: Session, user: User, kind: str, target: str,
           encode: Encode | None = None) -> Subscription:
    """Follow `target` (a project or theme id, a category, a search's words); following it
    again keeps the one subscription. Audited as the account's."""
    target = _checked_target(session, kind, target)
    if kind == "project":  # a member who had turned their project off turns it back on
        _forget(session, user, UNFOLLOWED, target)
    existing = _find(session, user, kind, target)
    if existing is not None:
        return existing
    vector: dict[str, object] = {}
    if kind == "search":
        if encode is None:
            raise ValueError("A search is followed with its words' vector.")
        vector["vector"], vector["model"] = encode(target)
    audit.record(session, user.email, "follow", f"{kind} {target}"[:500])
    return _added(session, user, kind, target, **vector)


def unfollow(session: Session, user: User, kind: str, target: str) -> None:
    """Stop following; a team member stops their own project's news with an "unfollowed" row.
    Audited as the account's."""
    target = " ".join(str(target).split())
    _forget(session, user, kind, target)
    if kind == "project" and _is_id(target) and _is_member(session, int(target), user.id):
        _added(session, user, UNFOLLOWED, target)
    audit.record(session, user.email, "unfollow", f"{kind} {target}"[:500])
    session.flush()


def follows(session: Session, user: User, kind: str, target: str) -> bool:
    """Whether `user` follows it, a team member their project included."""
    target = target.strip()
    if kind == "project" and _is_id(target) and _is_member(session, int(target), user.id):
        return _find(session, user, UNFOLLOWED, target) is None
    return _find(session, user, kind, target) is not None


def subscriptions(session: Session, user: User) -> list[Subscription]:
    """What `user` follows by choice, by kind then when."""
    return list(session.scalars(
        select(Subscription).where(Subscription.user_id == user.id,
                                   Subscription.kind != UNFOLLOWED)
        .order_by(Subscription.kind, Subscription.created_at, Subscription.id)))


def project_followers(session: Session, project_id: int) -> set[int]:
    """The accounts following a project: its team, but for who turned it off, and the rest
    who follow it."""
    target = str(project_id)
    members = set(session.scalars(select(ProjectMember.user_id)
                                  .where(ProjectMember.project_id == project_id)))
    chosen = set(session.scalars(select(Subscription.user_id).where(
        Subscription.kind == "project", Subscription.target == target)))
    off = set(session.scalars(select(Subscription.user_id).where(
        Subscription.kind == UNFOLLOWED, Subscription.target == target)))
    return (members - off) | chosen


def team_projects(session: Session, user: User) -> list[Project]:
    """The projects whose team `user` is on, which they follow unless they turned it off."""
    return list(session.scalars(
        select(Project).join(ProjectMember, ProjectMember.project_id == Project.id)
        .where(ProjectMember.user_id == user.id).order_by(Project.name)))


def followers(session: Session, kind: str, target: str) -> set[int]:
    """The accounts following a theme or a category."""
    return set(session.scalars(select(Subscription.user_id).where(
        Subscription.kind == kind, Subscription.target == target)))


# Preferences


def cadence(session: Session, user_id: int, channel: str) -> str:
    """How the account wants `channel`: its choice, else the channel's default."""
    row = session.get(Preference, (user_id, channel))
    return row.cadence if row is not None else DEFAULT_CADENCE[channel]


def cadences(session: Session, user_id: int) -> dict[str, str]:
    return {channel: cadence(session, user_id, channel) for channel in CHANNELS}


def set_cadence(session: Session, user_id: int, channel: str, value: str) -> None:
    """Choose how `channel` tells the account, or `ValidationError`."""
    if channel not in CHANNELS:
        raise ValidationError({"channel": f"Choose one of: {', '.join(CHANNELS)}."})
    if value not in CADENCES:
        allowed = ", ".join(label.lower() for label in CADENCES.values())
        raise ValidationError({channel: f"Choose one of: {allowed}."},
                              f"{CHANNELS[channel]}: choose one of: {allowed}.")
    row = session.get(Preference, (user_id, channel))
    if row is None:
        session.add(Preference(user_id=user_id, channel=channel, cadence=value))
    elif row.cadence == value:
        return
    else:
        row.cadence = value
    user = session.get(User, user_id)
    audit.record(session, user.email if user else f"user {user_id}", "notification_settings",
                 f"user {user_id}", channel=channel, cadence=value)
    session.flush()


def set_cadences(session: Session, user_id: int, chosen: dict[str, str]) -> None:
    """Set each channel in `chosen`; a `ValidationError` naming every bad one otherwise, and
    the caller rolls back, so nothing changes."""
    errors: dict[str, str] = {}
    for channel, value in chosen.items():
        try:
            set_cadence(session, user_id, channel, value)
        except ValidationError as error:
            errors.update(error.fields)
    if errors:
        raise ValidationError(errors, "Some settings are not valid; nothing was changed.")


def _checked_target(session: Session, kind: str, target: str) -> str:
    """The target as stored, or `ValidationError`/`NotFound` for one that names nothing."""
    target = " ".join(str(target).split())
    if kind not in KINDS:
        raise ValidationError({"kind": f"Choose one of: {', '.join(KINDS)}."})
    if any(unicodedata.category(c) == "Cc" for c in target):
        raise ValidationError({"target": "Remove the control characters (such as NUL)."})
    if kind in ("project", "theme"):
        model = Project if kind == "project" else Theme
        row = session.get(model, int(target)) if _is_id(target) else None
        if row is None:
            raise NotFound(kind, target)
    if not target:
        raise ValidationError({"target": f"Say which {kind} to follow."})
    if kind == "search" and len(target) > MAX_SEARCH:
        raise ValidationError({"target": f"A followed search is at most {MAX_SEARCH} "
                                         "characters."})
    return target


def _is_id(target: str) -> bool:
    """Whether `target` is a row id as stored: ASCII digits ("٣" is a digit, not an id)."""
    return target.isascii() and target.isdigit() and len(target) < 10


def _find(session: Session, user: User, kind: str, target: str) -> Subscription | None:
    return session.scalar(select(Subscription).where(
        Subscription.user_id == user.id, Subscription.kind == kind,
        Subscription.target == target))


def _forget(session: Session, user: User, kind: str, target: str) -> None:
    session.execute(delete(Subscription).where(
        Subscription.user_id == user.id, Subscription.kind == kind,
        Subscription.target == target))


def _is_member(session: Session, project_id: int, user_id: int) -> bool:
    return session.get(ProjectMember, (project_id, user_id)) is not None


def _added(session: Session, user: User, kind: str, target: str,
           **values: object) -> Subscription:
    """The subscription stored; of two identical follows at once, the one that lost finds
    the winner's."""
    row = insert_once(session, Subscription, ["user_id", "kind", "target"], user_id=user.id,
                      kind=kind, target=target, created_at=utcnow(), **values)
    found = row or _find(session, user, kind, target)
    assert found is not None  # inserted, or the other request's row is what collided
    return found
