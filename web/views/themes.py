"""Recurring themes for the PMO: the themes, their trend per window, repeated mistakes,
recompute."""

from flask import Blueprint, Response, abort, request, url_for

from insights.trends import REPEAT_PROJECTS, Windows, repeated_mistakes, theme_views, today
from lessons.errors import ValidationError
from lessons.models import Theme, ThemeRun
from lessons.services.common import find_row
from lessons.services.runs import expire_if_stale, latest_run
from lessons.services.themes import rename_theme
from search.theme_runs import parse_theme_count
from web import real_app
from web.database import db
from web.htmx import is_htmx, redirect_after_post, render
from web.identity import current_actor
from web.jobs import start_recompute

bp = Blueprint("themes", __name__)


@bp.get("/themes")
def index() -> Response:
    """Every live theme with its reach, impact and trend, and the mistakes made again."""
    windows = Windows.parse(request.args, today())
    views = theme_views(db.session, windows)
    return render("themes/index.html", views=views, windows=windows,
                  repeats=repeated_mistakes(db.session, views),
                  run=latest_run(db.session), repeat_projects=REPEAT_PROJECTS)


@bp.get("/themes/<int:theme_id>")
def show(theme_id: int) -> Response:
    """One theme: its lessons, its projects and its trend."""
    windows = Windows.parse(request.args, today())
    view = next((v for v in theme_views(db.session, windows) if v.theme.id == theme_id), None)
    if view is None:
        theme = find_row(db.session, Theme, theme_id)
        if theme is None:
            abort(404)
        return render("themes/retired.html", theme=theme, status=404)
    return render("themes/show.html", view=view, windows=windows)


@bp.post("/themes/<int:theme_id>/name")
def rename(theme_id: int) -> Response:
    """The PMO names the theme (an empty name gives back the one from its words)."""
    find_row(db.session, Theme, theme_id) or abort(404)
    try:
        rename_theme(db.session, theme_id, {"name": request.form.get("name")}, current_actor())
    except ValidationError as error:
        db.session.rollback()
        windows = Windows.parse(request.args, today())
        view = next((v for v in theme_views(db.session, windows) if v.theme.id == theme_id),
                    None) or abort(422, error.fields["name"])  # a retired theme has no page
        return render("themes/show.html", view=view, windows=windows, errors=error.fields,
                      typed=request.form.get("name"), status=422)
    db.session.commit()
    return redirect_after_post(url_for("themes.show", theme_id=theme_id))


@bp.post("/themes/recompute")
def recompute() -> Response:
    """Start a recompute in the background; the page polls its progress."""
    count = parse_theme_count(request.form.get("themes"))
    run = start_recompute(real_app(), db.session, count,
                          current_actor().name)
    if is_htmx():
        return render("themes/_run.html", run=run)
    return redirect_after_post(url_for("themes.index"))


@bp.get("/themes/runs/<int:run_id>")
def run_progress(run_id: int) -> Response:
    """The progress of one recompute (htmx polls this); a finished run reloads the page."""
    run = find_row(db.session, ThemeRun, run_id) or abort(404)
    expire_if_stale(db.session, run)
    response = render("themes/_run.html", run=run)
    if is_htmx() and run.status == "done":
        response.headers["HX-Refresh"] = "true"
    return response
