"""The audit log: sign-ins (failed ones too), sign-outs, edits, deletes, visibility changes,
exports and account changes, with who, when and from where. Admins read it, filtered by
who, what, on what and when, each target a link to its row's page where the row exists."""

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from lessons.actor import Actor, as_actor
from lessons.errors import ValidationError
from lessons.fields import MAX_ID, Field
from lessons.models import (
    Action,
    AuditEvent,
    ImportRun,
    Lesson,
    Occurrence,
    Project,
    Theme,
    User,
    utcnow,
)
from lessons.queries import Page
from lessons.services.common import paginate
from lessons.validation import clean


def record(session: Session, actor: Actor | str, action: str, target: str | None = None,
           ip: str | None = None, **detail: Any) -> None:
    """Append one event, in the caller's transaction: it is committed with the change it
    records, or rolled back with it. `ip` defaults to the actor's."""
    who = as_actor(actor)
    session.add(AuditEvent(actor=who.name[:254], action=action,
                           target=(target or None) and target[:500],
                           ip=ip if ip is not None else who.ip, detail=detail or None))


def failures(session: Session, action: str, within: timedelta, *, email: str | None = None,
             ip: str | None = None) -> int:
    """Events `action` (a failed sign-in, say) in the last `within`, for this email or from
    this address."""
    who = AuditEvent.actor == email[:254] if email is not None else AuditEvent.ip == ip
    return session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.at >= utcnow() - within, who)) or 0


AUDIT_FILTERS = (
    Field("actor", "Who", "string", max_length=254),
    Field("exact", "Exact email", "choice", choices={"1": "Yes"}),
    Field("action", "What", "choice"),  # its choices: the actions in the log (`actions`)
    Field("target", "On", "string", max_length=500),
    Field("from", "From (UTC)", "date"),
    Field("to", "To (UTC)", "date"),
)
# How an event's target finds the page that shows its row: the column the target names,
# the column giving the page's id, and the page. An action or an occurrence is shown on its
# lesson's page, a team on its project's; account changes name the account by its email.
LOOKUPS = {
    "lesson": (Lesson.id, Lesson.id, "lesson"),
    "action": (Action.id, Action.lesson_id, "lesson"),
    "occurrence": (Occurrence.id, Occurrence.lesson_id, "lesson"),
    "project": (Project.id, Project.id, "project"),
    "team": (Project.id, Project.id, "project"),
    "theme": (Theme.id, Theme.id, "theme"),
    "user": (User.id, User.id, "user"),
    "email": (User.email, User.id, "user"),
    "import": (ImportRun.id, ImportRun.id, "import"),
}
NAMED_ROW = re.compile(r"(lesson|action|occurrence|project|team|theme|user|import) (\d{1,18})")
ON_ACCOUNT = {"user_create", "user_update", "user_disable", "user_enable", "password_reset"}


def actions(session: Session) -> dict[str, str]:
    """The kinds of event in the log, each with its label ("sign_in" → "sign in")."""
    names = session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    return {name: name.replace("_", " ") for name in names}


def parse_filters(args: Mapping[str, str], known: Mapping[str, str]
                  ) -> tuple[dict[str, Any], dict[str, str]]:
    """The filters in `args` (a URL's), and why any was not understood, by its label; those
    are left out, so the rest still apply. `known` are the actions one may pick."""
    given = {f.name: args.get(f.name, "") for f in AUDIT_FILTERS}
    errors: dict[str, str] = {}
    try:
        filters = clean(AUDIT_FILTERS, given, choices={"action": known})
    except ValidationError as error:
        errors = dict(error.fields)
        filters = clean(AUDIT_FILTERS, {k: v for k, v in given.items() if k not in errors},
                        choices={"action": known})
    if "action" in errors:  # the list of every action would drown the point
        errors["action"] = "No event of that kind is in the log."
    if filters["from"] and filters["to"] and filters["from"] > filters["to"]:
        errors["to"] = "Must not be before the From date."
        filters["to"] = None
    labels = {f.name: f.label for f in AUDIT_FILTERS}
    return filters, {labels[name]: message for name, message in errors.items()}


def events(session: Session, page: int, filters: Mapping[str, Any] | None = None,
           per_page: int = 100) -> Page[AuditEvent]:
    """The newest events first, narrowed by `filters` (as `parse_filters` gives them)."""
    stmt = select(AuditEvent).where(*conditions(filters or {})).order_by(AuditEvent.id.desc())
    return paginate(session, stmt, page, per_page)


def conditions(filters: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """The WHERE terms of the filters that are set. Emails are matched ignoring case, since
    a failed sign-in is logged as typed; dates are whole UTC days, both ends included."""
    terms: list[ColumnElement[bool]] = []
    if actor := filters.get("actor"):
        actor_lower = func.lower(AuditEvent.actor)
        terms.append(actor_lower == actor.lower() if filters.get("exact")
                     else actor_lower.contains(actor.lower(), autoescape=True))
    if filters.get("action"):
        terms.append(AuditEvent.action == filters["action"])
    if target := filters.get("target"):
        terms.append(func.lower(AuditEvent.target) == " ".join(target.split()).lower())
    if filters.get("from"):
        terms.append(AuditEvent.at >= day_start(filters["from"]))
    if filters.get("to"):
        terms.append(AuditEvent.at < day_start(filters["to"] + timedelta(days=1)))
    return terms


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time(), tzinfo=UTC)


def target_pages(session: Session, shown: Sequence[AuditEvent]) -> dict[int, tuple[str, int]]:
    """For each event whose target still exists (soft-deleted or not), the page to show it
    on, by event id: ("lesson", 12) for "action 5" on lesson 12, say. Others have none."""
    named = {event.id: row for event in shown if (row := named_row(event))}
    found = {kind: pages_of(session, kind, {key for k, key in named.values() if k == kind})
             for kind in {kind for kind, _ in named.values()}}
    return {event_id: found[kind][key] for event_id, (kind, key) in named.items()
            if key in found[kind]}


def named_row(event: AuditEvent) -> tuple[str, int | str] | None:
    """The kind and key of the row the event's target names ("lesson 12"), if it names one."""
    if event.action in ON_ACCOUNT and event.target:
        return "email", event.target
    match = NAMED_ROW.fullmatch(event.target or "")
    if match is None or not 0 < int(match[2]) <= MAX_ID:  # past MAX_ID no row can exist
        return None
    return match[1], int(match[2])


def pages_of(session: Session, kind: str, keys: set[Any]) -> dict[Any, tuple[str, int]]:
    """Of the rows of `kind` with these keys, those that exist: each key's page."""
    key, page_id, page = LOOKUPS[kind]
    rows = session.execute(select(key, page_id).where(key.in_(keys)))
    return {row_key: (page, row_page_id) for row_key, row_page_id in rows}
