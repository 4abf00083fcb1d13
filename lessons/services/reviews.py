"""The review of a lesson: draft → submitted → approved, or returned with a comment.

A contributor keeps a lesson as a draft (only they and the PMO see it) or
submits it; the PMO approves a submitted lesson, or returns it with a comment
saying what to change, and its author submits it again. Each step is kept as
a `Review` row, so the lesson shows who decided what, and why. Imports and
archives bring approved records. By default only approved lessons feed
kickoff briefings and themes (`feeds_insights`); lists and search show every
lesson the viewer may see, with its status.
"""

from sqlalchemy import ColumnElement, true
from sqlalchemy.orm import Session

from lessons.errors import Conflict, ValidationError
from lessons.fields import LESSON_STATUSES
from lessons.models import Lesson, Review
from lessons.services.common import get_live_row, record_change

# A step: the statuses it may start from, and where it leads.
STEPS = {
    "submit": ({"draft", "returned"}, "submitted"),
    "approve": ({"submitted"}, "approved"),
    "return": ({"submitted"}, "returned"),
}
MAX_COMMENT = 5_000


def feeds_insights(approved_only: bool) -> ColumnElement[bool]:
    """The condition on `Lesson` for what may feed briefings and themes."""
    return Lesson.status == "approved" if approved_only else true()


def check_initial_status(value: object, may_approve: bool) -> str:
    """The status a new lesson asks for: a draft, submitted (the default), or approved
    (the PMO's own record)."""
    allowed = ["draft", "submitted", *(["approved"] if may_approve else [])]
    if value in (None, ""):
        return "submitted"
    if value not in allowed:
        raise ValidationError({"status": f"Choose one of: {', '.join(allowed)}."})
    return str(value)


def open_review(session: Session, lesson: Lesson, status: str, actor: str) -> None:
    """Start a new lesson's review: a submitted one records the step; a draft has none yet,
    and an approved record (an import, say) needs none."""
    lesson.status = status
    if status == "submitted":
        session.add(Review(lesson=lesson, event=status, actor=actor))


def review_step(session: Session, lesson_id: int, step: str, *, actor: str,
                comment: str | None = None) -> Lesson:
    """Move a live lesson one step on; a return needs a comment saying what to change."""
    starts, status = STEPS[step]
    lesson = get_live_row(session, Lesson, lesson_id)
    if lesson.status not in starts:
        ready = " or ".join(f"“{LESSON_STATUSES[s]}”" for s in sorted(starts))
        raise Conflict(f"This lesson is “{LESSON_STATUSES[lesson.status]}”; only a lesson that "
                       f"is {ready} can be {status}.")
    comment = (comment or "").strip() or None
    if problem := comment_problem(step, comment):
        raise ValidationError({"comment": problem}, f"The comment is not valid: {problem}")
    lesson.status = status
    session.add(Review(lesson=lesson, event=status, actor=actor, comment=comment))
    session.flush()
    # Logged as a change, so search engines catch up: an approved lesson joins its theme.
    record_change(session, "lesson", lesson.id, "update")
    return lesson


def comment_problem(step: str, comment: str | None) -> str | None:
    """What is wrong with a step's comment, if anything: a return must say what to change."""
    if step == "return" and comment is None:
        return "Say what should change before it can be approved."
    if comment is not None and len(comment) > MAX_COMMENT:
        return f"At most {MAX_COMMENT:,} characters."
    return None


def last_return(lesson: Lesson) -> Review | None:
    """The comment that sent the lesson back, while it is returned."""
    if lesson.status != "returned":
        return None
    return next((r for r in reversed(lesson.reviews) if r.event == "returned"), None)
