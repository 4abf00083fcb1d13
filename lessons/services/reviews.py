"""The review of a lesson: draft → submitted → approved, or returned with a comment.

A contributor keeps a lesson as a draft (only they and the PMO see it) or
submits it; the PMO approves a submitted lesson, or returns it with a comment
saying what to change, and its author submits it again. An author's change
to an approved lesson sends it back for review, since an approval covers the
text the PMO read. Each step is kept as a `Review` row (its author and the
PMO read them: lessons.policy), and submits, approvals and returns go to the
audit log. Nobody approves their own lesson: its author's account, PMO or
admin, waits for another reviewer, unless the caller allows it (a single-PMO
organisation's setting), and then the approval says so in its step and its
audit row. Imports and archives bring approved
records. By default only approved lessons feed kickoff briefings and themes
(`feeds_insights`); lists and search show every lesson the viewer may see,
with its status.
"""

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, func, select, update
from sqlalchemy.orm import Session, selectinload

from lessons.actor import Actor, as_actor
from lessons.errors import Conflict, Forbidden, ValidationError
from lessons.fields import LESSON_STATUSES, Field
from lessons.models import Lesson, Review, User, utcnow
from lessons.services import audit
from lessons.services.common import get_live_row, record_change
from lessons.validation import clean

# A step: the statuses it may start from, and where it leads (also the name of its event).
STEPS = {
    "submit": ({"draft", "returned"}, "submitted"),
    "approve": ({"submitted"}, "approved"),
    "return": ({"submitted"}, "returned"),
}
NEW_STATUSES = ("draft", "submitted", "approved")  # where a new lesson's review may start
STEP_OF = {status: step for step, (_, status) in STEPS.items()}  # "approved" -> "approve"
MAX_COMMENT = 5_000
STEP_FIELDS = (Field("comment", "Comment", "text", max_length=MAX_COMMENT,
                     help="Required to return a lesson (what should change) and to submit a "
                          "returned one again (what changed)."),)
REOPENED = "Changed by its author after approval, so reviewed again."
OWN_LESSON = ("You wrote this lesson, so you cannot approve it: nobody approves their own "
              "lesson. Another reviewer from the PMO will.")
SELF_APPROVED = ("Approved by its own author: this organisation allows it "
                 "(LESSONS_ALLOW_SELF_APPROVAL), having a single reviewer.")


# Conditions on `Lesson` for what may feed briefings and themes (none: every lesson).
Feeds = Sequence[ColumnElement[bool]]


def feeds_insights(approved_only: bool) -> Feeds:
    """What may feed briefings and themes: approved lessons only, or every lesson."""
    return [Lesson.status == "approved"] if approved_only else []


def check_initial_status(value: object, may_approve: bool) -> str:
    """The status a new lesson asks for: a draft, submitted (the default), or approved
    (the PMO's own record)."""
    allowed = [s for s in NEW_STATUSES if may_approve or s != "approved"]
    if value in (None, ""):
        return "submitted"
    if value not in allowed:
        raise ValidationError({"status": f"Choose one of: {', '.join(allowed)}."})
    return str(value)


def open_review(session: Session, lesson: Lesson, status: str, actor: Actor | str, *,
                audited: bool = True) -> None:
    """Start a new lesson's review; a step is recorded unless it starts as a draft, and
    audited like the buttons' (push tells people of audited approvals) when `audited`."""
    actor = as_actor(actor)
    if status not in NEW_STATUSES:
        raise ValueError(f"A new lesson cannot start as {status!r}.")
    lesson.status, lesson.status_since = status, utcnow()
    if status != "draft":
        session.add(Review(lesson=lesson, event=status, actor=actor.name))
        if audited:
            session.flush()
            audit.record(session, actor, f"lesson_{STEP_OF[status]}", f"lesson {lesson.id}")


def review_step(session: Session, lesson_id: int, step: str, *, actor: Actor | str,
                data: Mapping[str, Any] | None = None,
                allow_self_approval: bool = False) -> Lesson:
    """Move a live lesson one step on, with the untrusted `data`'s optional comment; a return
    needs one saying what to change, and a returned lesson's submit one saying what changed.
    Its author approves it only if `allow_self_approval`, and the step then says so."""
    actor = as_actor(actor)
    starts, status = STEPS[step]
    lesson = get_live_row(session, Lesson, lesson_id)
    own = step == "approve" and is_own(session, lesson, actor.name)
    if own and not allow_self_approval:
        raise Forbidden(OWN_LESSON)
    if lesson.status not in starts:
        raise wrong_status(lesson.status, starts, status)
    comment = (clean(STEP_FIELDS, data or {})["comment"] or "").strip() or None
    if step == "return" and comment is None:
        problem = "Say what should change before it can be approved."
        raise ValidationError({"comment": problem}, f"The comment is not valid: {problem}")
    if step == "submit" and lesson.status == "returned" and comment is None:
        # The reviewer asked for changes: the reply tells them what to read again, and a
        # one-click resubmit of an untouched lesson is no longer possible.
        problem = "Say what you changed since it was returned."
        raise ValidationError({"comment": problem}, f"The comment is not valid: {problem}")
    # Checked and moved in one statement, so of two reviewers deciding at once one wins and
    # the other is told, instead of both steps landing.
    # An UPDATE's result is a CursorResult, which has its row count; execute() is typed wider.
    moved = cast(CursorResult[Any], session.execute(
        update(Lesson).where(Lesson.id == lesson.id, Lesson.status.in_(starts))
        .values(status=status, status_since=utcnow(), updated_at=utcnow())))
    if moved.rowcount != 1:
        session.refresh(lesson)
        raise wrong_status(lesson.status, starts, status)
    if own:  # read in the lesson's review history and the audit log alike
        comment = f"{SELF_APPROVED} {comment}" if comment else SELF_APPROVED
    record_step(session, lesson, status, actor, comment, **({"self_approved": True} if own else {}))
    return lesson


def is_own(session: Session, lesson: Lesson, actor: str) -> bool:
    """Whether `actor` (an account's email, as requests record it) is the account that owns
    `lesson`: the one rule behind "nobody approves their own lesson"."""
    if lesson.owner_id is None:
        return False
    owner = session.get(User, lesson.owner_id)
    return owner is not None and owner.email == actor.strip().lower()


def submitted_by(lesson: Lesson) -> str | None:
    """Who sent the lesson for review: its author, else whoever took its last submit step."""
    if lesson.author:
        return lesson.author
    return next((r.actor for r in reversed(lesson.reviews) if r.event == "submitted"), None)


def reopen(session: Session, lesson: Lesson, actor: Actor | str) -> None:
    """An approved lesson whose author changed it goes back for review."""
    if lesson.status == "approved":
        lesson.status, lesson.status_since = "submitted", utcnow()
        record_step(session, lesson, "submitted", actor, REOPENED)


def record_step(session: Session, lesson: Lesson, event: str, actor: Actor | str,
                comment: str | None, **detail: Any) -> None:
    """Keep the step on the lesson and in the audit log (with `detail`), and log the change,
    so search engines catch up: an approved lesson joins its theme, a reopened one leaves it."""
    session.add(Review(lesson=lesson, event=event, actor=as_actor(actor).name, comment=comment))
    action = {"submitted": "lesson_submit", "approved": "lesson_approve",
              "returned": "lesson_return"}[event]
    audit.record(session, actor, action, f"lesson {lesson.id}",
                 **({"comment": comment} if comment else {}), **detail)
    session.flush()
    record_change(session, "lesson", lesson.id, "update")


def wrong_status(current: str, starts: set[str], status: str) -> Conflict:
    ready = " or ".join(f"“{LESSON_STATUSES[s]}”" for s in sorted(starts))
    return Conflict(f"This lesson is “{LESSON_STATUSES[current]}”; only a lesson that is "
                    f"{ready} can be {status}.")


def last_return(lesson: Lesson) -> Review | None:
    """The step that sent the lesson back, while it is returned (None for a viewer who may
    not read its review)."""
    if lesson.status != "returned":
        return None
    return next((r for r in reversed(lesson.reviews) if r.event == "returned"), None)


# Reading


def review_queue(session: Session, limit: int) -> list[Lesson]:
    """The lessons awaiting review, the longest waiting first."""
    return list(session.scalars(
        select(Lesson).where(Lesson.status == "submitted", Lesson.deleted_at.is_(None))
        .options(selectinload(Lesson.reviews))  # who submitted each, in one more query
        .order_by(Lesson.status_since, Lesson.id).limit(limit)))


def own_in_review(session: Session, owner_id: int) -> list[Lesson]:
    """An account's lessons not approved yet, the latest changed first."""
    return list(session.scalars(
        select(Lesson).where(Lesson.owner_id == owner_id, Lesson.status != "approved",
                             Lesson.deleted_at.is_(None))
        .options(selectinload(Lesson.reviews))  # the return comments, in one more query
        .order_by(Lesson.updated_at.desc(), Lesson.id.desc())))


def waiting(session: Session, *conditions: ColumnElement[bool]) -> dict[str, Any]:
    """Live lessons (under `conditions`) per status, and since when the longest awaiting
    review has waited."""
    live = [Lesson.deleted_at.is_(None), *conditions]
    counts = dict(session.execute(select(Lesson.status, func.count()).where(*live)
                                  .group_by(Lesson.status)).all())
    oldest = session.scalar(select(func.min(Lesson.status_since))
                            .where(*live, Lesson.status == "submitted"))
    return {**{status: counts.get(status, 0) for status in LESSON_STATUSES}, "oldest": oldest}
