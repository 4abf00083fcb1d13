"""The home page: what was logged lately and which actions are overdue."""

from datetime import date

from flask import Blueprint, Response

from lessons import services
from lessons.queries import ACTION_FILTERS, LESSON_FILTERS, parse_query
from web.database import db
from web.htmx import render

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> Response:
    """Recent lessons and overdue actions."""
    recent = services.list_lessons(
        db.session, parse_query(LESSON_FILTERS, {"sort": "-created_at", "per_page": 10})
    )
    overdue = services.list_actions(
        db.session, parse_query(ACTION_FILTERS, {"overdue": "true", "per_page": 10}), date.today()
    )
    return render("home.html", recent=recent, overdue=overdue, today=date.today())
