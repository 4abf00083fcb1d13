"""Project pages: list, create, view (with its lessons), edit, delete and restore."""

from typing import Any

from flask import Blueprint, Response, flash, request, url_for

from lessons import services
from lessons.errors import ValidationError
from lessons.fields import PROJECT_FIELDS
from lessons.policy import reads_charter
from lessons.queries import LESSON_FILTERS, PROJECT_FILTERS, PROJECT_SORTS, parse_query
from lessons.services.actions import project_actions
from lessons.services.projects import add_member, remove_member, team
from web.auth import VISITOR, check_project_manager, current_user
from web.database import db
from web.engine import project_briefing
from web.htmx import redirect_after_post, render
from web.identity import current_actor, current_user_id
from web.views.briefings import before_change, recompute, shown_briefing
from web.views.forms import field_value, form_defaults, form_values

bp = Blueprint("projects", __name__, url_prefix="/projects")


@bp.get("/")
def index() -> Response:
    """Every project, filtered, sorted and paged by the URL's arguments."""
    errors = {}
    try:
        query = parse_query(PROJECT_FILTERS, request.args)
    except ValidationError as error:
        errors = error.fields
        query = parse_query(PROJECT_FILTERS, {})
    page = services.list_projects(db.session, query)
    return render(
        "projects/index.html",
        "projects/_results.html",
        status=400 if errors else 200,
        page=page,
        query=query,
        args=request.args,
        errors=errors,
        sorts=PROJECT_SORTS,
    )


@bp.route("/new", methods=["GET", "POST"])
def new() -> Response:
    """Create a project."""
    if request.method == "POST":
        values = form_values(PROJECT_FIELDS)
        try:
            project = services.create_project(db.session, values, creator_id=current_user_id())
            db.session.commit()
        except ValidationError as error:
            return form_page("projects/new.html", values, error.fields)
        project_briefing(project)
        flash(f"Project “{project.name}” created.")
        return redirect_after_post(url_for(".show", project_id=project.id))
    return form_page("projects/new.html", form_defaults(PROJECT_FIELDS), {}, 200)


@bp.get("/<int:project_id>")
def show(project_id: int) -> Response:
    """One project: its kickoff briefing first (no extra click), then its charter and lessons
    (the charter and team to those who may read them: lessons.policy.reads_charter)."""
    project = services.get_project(db.session, project_id)
    query = parse_query(LESSON_FILTERS, {"project_id": project_id, "per_page": 50})
    lessons = services.list_lessons(db.session, query)
    view = shown_briefing(project, request.args.get("category"))
    charter = reads_charter(db.session, current_user() or VISITOR, project_id)
    return render("projects/show.html", project=project, lessons=lessons, view=view,
                  team=team(db.session, project_id) if charter else [], charter_shown=charter,
                  actions=project_actions(db.session, project_id))


@bp.post("/<int:project_id>/team")
def add_to_team(project_id: int) -> Response:
    """Put an account on the team: it then sees the project's team-only lessons."""
    check_project_manager(project_id)
    try:
        user = add_member(db.session, project_id, request.form.get("email", ""),
                          actor=current_actor())
    except ValidationError as error:
        db.session.rollback()
        flash(error.fields.get("email", error.message))
        return redirect_after_post(url_for(".show", project_id=project_id))
    db.session.commit()
    flash(f"{user.email} is on the team.")
    return redirect_after_post(url_for(".show", project_id=project_id))


@bp.post("/<int:project_id>/team/<int:user_id>/remove")
def remove_from_team(project_id: int, user_id: int) -> Response:
    check_project_manager(project_id)
    remove_member(db.session, project_id, user_id, actor=current_actor())
    db.session.commit()
    flash("Taken off the team.")
    return redirect_after_post(url_for(".show", project_id=project_id))


@bp.route("/<int:project_id>/edit", methods=["GET", "POST"])
def edit(project_id: int) -> Response:
    """Edit a project (its team, or the PMO)."""
    check_project_manager(project_id)
    project = services.get_project(db.session, project_id)
    if request.method == "POST":
        values = form_values(PROJECT_FIELDS)
        before = before_change(project)
        try:
            services.update_project(db.session, project_id, values, partial=False,
                                    actor=current_actor())
            db.session.commit()
        except ValidationError as error:
            return form_page("projects/edit.html", values, error.fields, project=project)
        changes = recompute(project, before)
        flash("Changes saved." + (f" The briefing was computed again from the new text. "
                                  f"{changes.summary()}" if changes else ""))
        return redirect_after_post(url_for(".show", project_id=project_id))
    values = {f.name: field_value(getattr(project, f.name)) for f in PROJECT_FIELDS}
    return form_page("projects/edit.html", values, {}, 200, project=project)


@bp.post("/<int:project_id>/delete")
def delete(project_id: int) -> Response:
    """Soft delete; its lessons stay."""
    services.delete_project(db.session, project_id, actor=current_actor())
    db.session.commit()
    flash("Project deleted. Its lessons stay; you can restore it from this page.")
    return redirect_after_post(url_for(".show", project_id=project_id))


@bp.post("/<int:project_id>/restore")
def restore(project_id: int) -> Response:
    """Bring a deleted project back."""
    services.restore_project(db.session, project_id, actor=current_actor())
    db.session.commit()
    flash("Project restored.")
    return redirect_after_post(url_for(".show", project_id=project_id))


def form_page(template: str, values: dict[str, Any], errors: dict[str, str], status: int = 422,
              **context: Any) -> Response:
    """The project form with what was typed and a message beside each bad field."""
    db.session.rollback()
    return render(
        template,
        "projects/_form.html",
        status=status,
        values=values,
        errors=errors,
        fields={f.name: f for f in PROJECT_FIELDS},
        **context,
    )

