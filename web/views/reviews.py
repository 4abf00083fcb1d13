"""The review of lessons (lessons.services.reviews) in the browser.

The review page shows each person what waits for them: their own lessons
not yet approved (drafts, returned ones with the PMO's comment, submitted
ones), and for the PMO every lesson awaiting review, to approve or return
with a comment. The same steps are buttons on the lesson's own page.
"""

from flask import Blueprint, Response, flash, request, url_for
from sqlalchemy import func, select

from lessons.models import Lesson
from lessons.policy import SEES_EVERYTHING
from lessons.services.reviews import review_step
from web.auth import changeable_lesson, current_user
from web.database import db
from web.htmx import local_url, redirect_after_post, render
from web.identity import current_actor

bp = Blueprint("reviews", __name__)

QUEUE_LIMIT = 200  # oldest first: more than this is a backlog to work down, not to scroll


@bp.get("/review")
def index() -> Response:
    """What waits for the signed-in account: its own lessons in review, and the PMO's queue."""
    user = current_user()
    mine = db.session.scalars(
        select(Lesson).where(Lesson.owner_id == user.id, Lesson.status != "approved",
                             Lesson.deleted_at.is_(None)).order_by(Lesson.updated_at.desc()))
    queue = []
    if user.role in SEES_EVERYTHING:
        queue = db.session.scalars(
            select(Lesson).where(Lesson.status == "submitted", Lesson.deleted_at.is_(None))
            .order_by(Lesson.updated_at, Lesson.id).limit(QUEUE_LIMIT))
    return render("reviews/index.html", mine=list(mine), queue=list(queue),
                  waiting=waiting_count(), limit=QUEUE_LIMIT)


@bp.post("/lessons/<int:lesson_id>/submit")
def submit(lesson_id: int) -> Response:
    """Send a draft or a returned lesson to the PMO: its author or the PMO may."""
    review_step(db.session, changeable_lesson(lesson_id).id, "submit", actor=current_actor())
    return done(lesson_id, "Submitted for review.")


@bp.post("/lessons/<int:lesson_id>/approve")
def approve(lesson_id: int) -> Response:
    """Approve a submitted lesson: from now on it feeds briefings and themes."""
    review_step(db.session, lesson_id, "approve", actor=current_actor(),
                comment=request.form.get("comment"))
    return done(lesson_id, "Approved.")


@bp.post("/lessons/<int:lesson_id>/return")
def send_back(lesson_id: int) -> Response:
    """Return a submitted lesson to its author, with a comment on what to change."""
    review_step(db.session, lesson_id, "return", actor=current_actor(),
                comment=request.form.get("comment"))
    return done(lesson_id, "Returned to its author with your comment.")


@bp.app_context_processor
def review_links() -> dict:
    """The count beside "Review" in the navigation, counted only when a page shows it."""
    return {"waiting_count": waiting_count}


def done(lesson_id: int, message: str) -> Response:
    db.session.commit()
    flash(message)
    return redirect_after_post(back_to(lesson_id))


def back_to(lesson_id: int) -> str:
    """Where the form came from (the review page), else the lesson."""
    return local_url(request.form.get("next")) or url_for("lessons.show", lesson_id=lesson_id)


def waiting_count() -> int:
    """How many lessons wait for the signed-in account: the PMO's queue, or one's own
    drafts and returned lessons."""
    user = current_user()
    if user is None or not user.id:
        return 0
    if user.role in SEES_EVERYTHING:
        waiting = Lesson.status == "submitted"
    else:
        waiting = (Lesson.owner_id == user.id) & Lesson.status.in_(("draft", "returned"))
    return db.session.scalar(select(func.count()).select_from(Lesson).where(
        waiting, Lesson.deleted_at.is_(None))) or 0
