"""The review of lessons (lessons.services.reviews) in the browser.

The review page shows each person what waits for them: their own lessons
not yet approved (drafts, returned ones with the PMO's comment, submitted
ones), and for the PMO every lesson awaiting review, to approve or return
with a comment. The same steps are buttons on the lesson's own page.
"""

from typing import Any

from flask import Blueprint, Response, current_app, flash, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from lessons.models import Lesson
from lessons.services.reviews import (
    MAX_COMMENT,
    STEPS,
    is_own,
    last_return,
    own_in_review,
    review_queue,
    review_step,
    submitted_by,
    waiting,
)
from lessons.wording import days_waiting
from web.auth import can_change, changeable_lesson, current_user, is_reviewer, signed_in_account
from web.database import db
from web.htmx import local_url, redirect_after_post, render
from web.identity import current_actor

bp = Blueprint("reviews", __name__)

QUEUE_LIMIT = 200  # the longest waiting first: more is a backlog to work down, not to scroll


@bp.get("/review")
def index() -> Response:
    """What waits for the signed-in account: its own lessons in review, and the PMO's queue."""
    return render("reviews/index.html", mine=own_in_review(db.session, signed_in_account().id),
                  queue=review_queue(db.session, QUEUE_LIMIT) if is_reviewer() else [],
                  waiting=waiting_count(), limit=QUEUE_LIMIT)


@bp.post("/lessons/<int:lesson_id>/submit")
def submit(lesson_id: int) -> Response:
    """Send a draft or a returned lesson to the PMO: its author or the PMO may; a returned one
    with a reply saying what changed."""
    review_step(db.session, changeable_lesson(lesson_id).id, "submit", actor=current_actor(),
                data={"comment": request.form.get("comment")})
    return done(lesson_id, "Submitted for review.")


@bp.post("/lessons/<int:lesson_id>/approve")
def approve(lesson_id: int) -> Response:
    """Approve a submitted lesson: from now on it feeds briefings and themes."""
    review_step(db.session, lesson_id, "approve", actor=current_actor(),
                data={"comment": request.form.get("comment")},
                allow_self_approval=self_approval_allowed())
    return done(lesson_id, "Approved.")


@bp.post("/lessons/<int:lesson_id>/return")
def send_back(lesson_id: int) -> Response:
    """Return a submitted lesson to its author, with a comment on what to change."""
    review_step(db.session, lesson_id, "return", actor=current_actor(),
                data={"comment": request.form.get("comment")})
    return done(lesson_id, "Returned to its author with your comment.")


@bp.app_context_processor
def review_helpers() -> dict[str, Any]:
    """For every template: the steps a viewer may take on a lesson, and the nav's count."""
    return {"review_steps": review_steps, "waiting_count": waiting_count,
            "MAX_COMMENT": MAX_COMMENT, "submitted_by": submitted_by, "days_waiting": days_waiting,
            "last_return": last_return}


def review_steps(lesson: Lesson) -> set[str]:
    """The review steps the signed-in account may take on `lesson` now."""
    user = current_user()
    if user is None or lesson.is_deleted:
        return set()
    allowed = {"submit"} if can_change(lesson) else set()
    if is_reviewer():
        own = is_own(db.session, lesson, current_actor().name)
        allowed |= {"return"} if own and not self_approval_allowed() else {"approve", "return"}
    return {step for step in allowed if lesson.status in STEPS[step][0]}


def self_approval_allowed() -> bool:
    """Whether a reviewer may approve their own lesson (a single-PMO organisation's setting)."""
    return bool(current_app.config["ALLOW_SELF_APPROVAL"])


def waiting_count() -> int:
    """How many lessons wait for the signed-in account: the PMO's queue, or one's own
    drafts and returned lessons."""
    user = current_user()
    if user is None or not user.id:
        return 0
    try:
        if is_reviewer():
            return waiting(db.session)["submitted"]
        own = waiting(db.session, Lesson.owner_id == user.id)
        return own["draft"] + own["returned"]
    except SQLAlchemyError:  # every page shows the count, error pages during an outage too
        db.session.rollback()
        current_app.logger.exception("Counting the lessons in review failed")
        return 0


def done(lesson_id: int, message: str) -> Response:
    """Commit the step and go back where the form came from (the review page), else the lesson."""
    db.session.commit()
    flash(message)
    back = local_url(request.form.get("next")) or url_for("lessons.show", lesson_id=lesson_id)
    return redirect_after_post(back)
