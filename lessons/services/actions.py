"""Actions on lessons: who does what by when, and whether it was done.

Who may change an action is the caller's check (web.auth `can_change_action`); every
change is audited here, in its own transaction, whatever path makes it: a new action, an
edit, a status set on its own, a reassignment (with from and to), a delete and a restore.

An owner is an account (`owner_id`; `owner` keeps its email). Paths where a person picks
the owner (the pages, the API, a kickoff risk) pass `accounts_only`: an owner who is not
an active account, or who may not see the lesson (the one it moves onto, too), is refused
with a 422, unless it is explicitly someone without an account (`outside_owner`: a name
kept as text, refused if it names an account). The demo data and historical records keep
a name that matches no account as text.
"""

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from lessons.actor import SYSTEM, Actor
from lessons.errors import ValidationError
from lessons.fields import ACTION_FIELDS
from lessons.models import Action, Lesson, User, utcnow
from lessons.policy import visible
from lessons.queries import Page
from lessons.services import audit
from lessons.services.common import (
    get_live_row,
    get_row,
    ordering,
    paginate,
    record_change,
    restore,
    soft_delete,
    state_filter,
)
from lessons.validation import clean


def create_action(session: Session, data: Mapping[str, Any], *, actor: Actor | str = SYSTEM,
                  accounts_only: bool = False, project_id: int | None = None) -> Action:
    """A new action on a live lesson, from untrusted `data`; `actor` is audited as adding it.
    `project_id` names the project that raised it (a kickoff risk)."""
    values = clean(ACTION_FIELDS, data)
    _check_lesson(session, values["lesson_id"])
    action = Action(project_id=project_id)
    owner, outside = _owner_of(values)
    _apply(action, values)
    _set_owner(session, action, owner, accounts_only, outside)
    session.add(action)
    session.flush()
    record_change(session, "action", action.id, "create")
    audit.record(session, actor, "action_create", f"action {action.id}", lesson_id=action.lesson_id)
    return action


def update_action(
    session: Session, action_id: int, data: Mapping[str, Any], *, partial: bool = True,
    accounts_only: bool = False, actor: Actor | str = SYSTEM,
) -> Action:
    """Change the fields given in `data`; closing an action stamps when, and a new owner is
    audited as a reassignment by `actor`, before the edit itself."""
    action = _update(session, action_id, data, partial=partial, accounts_only=accounts_only,
                     actor=actor)
    audit.record(session, actor, "action_edit", f"action {action.id}")
    return action


def set_action_status(session: Session, action_id: int, status: Any, *,
                      actor: Actor | str = SYSTEM) -> Action:
    """Mark an action done, dropped or open again (its one-click buttons), audited as such."""
    action = _update(session, action_id, {"status": status}, partial=True, accounts_only=False,
                     actor=actor)
    audit.record(session, actor, "action_status", f"action {action.id}")
    return action


def _update(session: Session, action_id: int, data: Mapping[str, Any], *, partial: bool,
            accounts_only: bool, actor: Actor | str) -> Action:
    """`update_action` but for its audit row."""
    action = get_live_row(session, Action, action_id)
    values = clean(ACTION_FIELDS, data, partial=partial)
    moved = values.get("lesson_id", action.lesson_id) != action.lesson_id
    if moved:
        _check_lesson(session, values["lesson_id"])
    changes_owner = "owner" in values or bool(values.get("outside_owner"))
    owner, outside = _owner_of(values)
    _apply(action, values)
    # A free-text owner sent back unchanged (the edit form does) stays as it is.
    if changes_owner and (owner or "").casefold() != (action.owner or "").casefold():
        _change_owner(session, action, owner, accounts_only=accounts_only, actor=actor,
                      outside=outside)
    elif moved and accounts_only and action.owner_account is not None:
        # The owner stays: they must be able to see the lesson it moved onto.
        _check_sees_lesson(session, action.owner_account, action.lesson_id)
    _record_update(session, action)
    return action


def reassign_action(session: Session, action_id: int, owner: Any, *,
                    actor: Actor | str) -> Action:
    """Give a live action to another account (by email, or a name only one account has),
    and audit who moved it from whom to whom."""
    action = get_live_row(session, Action, action_id)
    value = clean_value_of("owner", owner)
    if value is None:
        raise ValidationError({"owner": "Choose who owns it: a person's email."},
                              "The action needs an owner.")
    _change_owner(session, action, value, accounts_only=True, actor=actor)
    _record_update(session, action)
    return action


def find_owner(session: Session, text: str) -> User | None:
    """The active account `text` names: its email, or a name only one active account has."""
    named = accounts_named(session, text)
    return named[0] if len(named) == 1 else None


def accounts_named(session: Session, text: str) -> Sequence[User]:
    """The active account whose email `text` is, else those (two at most) with that name."""
    active = User.disabled_at.is_(None)
    user = session.scalar(select(User).where(active, User.email == text.strip().lower()))
    if user is not None:
        return [user]
    return session.scalars(select(User).where(
        active, func.lower(User.name) == text.strip().lower()).order_by(User.email).limit(2)).all()


def open_action_counts(session: Session, owner_id: int, today: date) -> tuple[int, int]:
    """How many live open actions an account owns (its "My actions"), and how many of those
    are overdue on `today`."""
    late = func.count().filter(Action.due_on < today)
    counts = session.execute(select(func.count(), late).where(
        Action.owner_id == owner_id, Action.status == "open", Action.deleted_at.is_(None),
        Action.lesson.has(Lesson.deleted_at.is_(None)))).one()
    return counts[0], counts[1]


def owner_choices(session: Session) -> list[User]:
    """The active accounts, for the owner pickers."""
    return list(session.scalars(select(User).where(User.disabled_at.is_(None))
                                .order_by(func.lower(func.coalesce(User.name, User.email)))))


def delete_action(session: Session, action_id: int, *, actor: Actor | str = SYSTEM) -> Action:
    """Soft-delete an action."""
    action = get_row(session, Action, action_id)
    soft_delete(session, action, "action")
    audit.record(session, actor, "action_delete", f"action {action.id}")
    return action


def restore_action(session: Session, action_id: int, *, actor: Actor | str = SYSTEM) -> Action:
    """Undo a soft delete."""
    action = get_row(session, Action, action_id)
    restore(session, action, "action")
    audit.record(session, actor, "action_restore", f"action {action.id}")
    return action


def get_action(session: Session, action_id: int) -> Action:
    """The action, deleted or not, or `NotFound`."""
    return get_row(session, Action, action_id)


def list_actions(session: Session, query: Mapping[str, Any], today: date) -> Page[Action]:
    """One page of actions matching the parsed `query`; `overdue` is judged on `today`."""
    conditions = [state_filter(Action, query["state"])]
    if query.get("state") != "all":
        # An action of a deleted lesson is out of sight with its lesson.
        conditions.append(Action.lesson.has(Lesson.deleted_at.is_(None)))
    for name in ("lesson_id", "project_id", "status", "owner_id"):
        if query.get(name) is not None:
            conditions.append(getattr(Action, name) == query[name])
    if query.get("owner"):
        # The owner's email or an old free-text owner: never an account's name, which two
        # accounts may share.
        conditions.append(func.lower(Action.owner) == query["owner"].strip().lower())
    if query.get("overdue") == "true":
        conditions += [Action.status == "open", Action.due_on < today]
    columns = {
        "due_on": Action.due_on,
        "created_at": Action.created_at,
        "updated_at": Action.updated_at,
        "owner": func.lower(Action.owner),
    }
    stmt = (
        select(Action)
        .where(*[c for c in conditions if c is not None])
        .order_by(*ordering(query["sort"], columns, Action.id))
    )
    return paginate(session, stmt, query["page"], query["per_page"])


def project_actions(session: Session, project_id: int) -> list[Action]:
    """The live actions a project's team raised (kickoff risks): open ones first, by due date."""
    return list(session.scalars(
        select(Action).where(Action.project_id == project_id, Action.deleted_at.is_(None),
                             Action.lesson.has(Lesson.deleted_at.is_(None)))
        .order_by((Action.status != "open"), Action.due_on.is_(None), Action.due_on, Action.id)))


def clean_value_of(name: str, value: Any) -> Any:
    """One action field's clean value, or a ValidationError naming it."""
    return clean(tuple(f for f in ACTION_FIELDS if f.name == name), {name: value})[name]


def _owner_of(values: dict[str, Any]) -> tuple[str | None, bool]:
    """Take the owner out of clean `values`: an account (`owner`), or a name outside Lessons
    (`outside_owner`, and then True); never two different ones."""
    owner, outside = values.pop("owner", None), values.pop("outside_owner", None)
    # An outside owner read from the API comes back in both fields: the same name is one owner.
    if outside and owner and owner.casefold() != outside.casefold():
        raise ValidationError(
            {"outside_owner": "Give the owner either as an account or as someone without an "
                              "account, not both."}, "Two owners were given.")
    return (outside, True) if outside else (owner, False)


def _change_owner(session: Session, action: Action, owner: str | None, *,
                  accounts_only: bool, actor: Actor | str, outside: bool = False) -> None:
    """Give the action to `owner` (as `_set_owner`) and, if that moved it, audit one
    `action_reassign` from whom to whom: the owners' emails, or a free-text owner's text."""
    before = (action.owner_id, action.owner)
    _set_owner(session, action, owner, accounts_only, outside)
    if (action.owner_id, action.owner) != before:
        audit.record(session, actor, "action_reassign", f"action {action.id}",
                     lesson_id=action.lesson_id, before=before[1], after=action.owner)


def _set_owner(session: Session, action: Action, owner: str | None, accounts_only: bool,
               outside: bool = False) -> None:
    """Point the action at the account `owner` names; keep unmatched text unless
    `accounts_only`, which refuses it, and refuses an owner who may not see the lesson.
    An `outside` owner, someone chosen as having no account, is text and never an account's."""
    named = accounts_named(session, owner) if owner else []
    user = named[0] if len(named) == 1 else None
    if outside and named:  # two accounts of that name: one of them, surely
        raise ValidationError(
            {"outside_owner": f"“{owner}” has an account ({' or '.join(u.email for u in named)}): "
                              "choose them as the owner, so they see it under My actions."},
            "The owner without an account has one.")
    if owner and user is None and accounts_only and not outside:
        raise ValidationError(
            # No word of other fields: the kickoff briefing's risk form has no field for
            # someone without an account, the lesson page's action form has.
            {"owner": f"No active account has the email “{owner}”: the owner must be someone "
                      "who signs in. Choose a person from the list."},
            "The owner is not an account.")
    if user is not None and accounts_only:
        _check_sees_lesson(session, user, action.lesson_id)
    action.owner_id = user.id if user else None
    action.owner = user.email if user else owner
    if inspect(action).persistent:  # its loaded account is the old owner's until reloaded
        session.expire(action, ["owner_account"])


def _check_sees_lesson(session: Session, user: User, lesson_id: int) -> None:
    """Refuse an owner who may not see the lesson: they could not see the action either."""
    seen = select(Lesson.id).where(Lesson.id == lesson_id, visible(user))
    if session.scalar(seen) is None:
        raise ValidationError(
            {"owner": f"{user.label} may not see this lesson, so could not see the action: "
                      "choose someone who can, or add them to the project's team."},
            "The owner may not see the lesson.")


def _record_update(session: Session, action: Action) -> None:
    """Note a changed action for the change feed, and flush."""
    if session.is_modified(action):
        record_change(session, "action", action.id, "update")
    session.flush()


def _check_lesson(session: Session, lesson_id: int) -> None:
    """Refuse a lesson that does not exist or is deleted."""
    lesson = session.get(Lesson, lesson_id)
    if lesson is None or lesson.is_deleted:
        raise ValidationError({"lesson_id": "No such lesson."})


def _apply(action: Action, values: dict[str, Any]) -> None:
    """Set the clean `values`; a status change stamps or clears when it was closed."""
    status = values.get("status", action.status)
    if status != action.status:
        action.closed_at = None if status == "open" else utcnow()
    for name, value in values.items():
        setattr(action, name, value)
