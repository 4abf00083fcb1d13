"""The home page: what was logged lately, the signed-in person's actions overdue or due this
week, and, for the PMO and visitors, everyone's overdue actions."""

from datetime import date

from flask import Blueprint, Response

from lessons import services
from lessons.queries import ACTION_FILTERS, LESSON_FILTERS, parse_query
from lessons.services.reminders import DUE_THIS_WEEK, owner_reminder
from web.auth import current_user, is_reviewer
from web.database import db
from web.htmx import render

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> Response:
    """Recent lessons, one's own actions that need one, and the overdue ones of everyone."""
    today = date.today()
    recent = services.list_lessons(
        db.session, parse_query(LESSON_FILTERS, {"sort": "-created_at", "per_page": 10})
    )
    user = current_user()
    account_id = user.id if user is not None else 0  # 0: a visitor reading anonymously
    mine = owner_reminder(db.session, account_id, today, DUE_THIS_WEEK) if account_id else None
    # A contributor reads their own list; the PMO keeps the whole team's overdue ones.
    overdue = services.list_actions(
        db.session, parse_query(ACTION_FILTERS, {"overdue": "true", "per_page": 10}), today
    ) if is_reviewer() or not account_id else None
    return render("home.html", recent=recent, mine=mine, overdue=overdue, today=today,
                  due_soon_days=DUE_THIS_WEEK)
