"""Action pages: the list of open and overdue actions, adding, closing and editing.

Who may change an action is web.auth's rule (`changeable_action`), the same the API asks;
each change is audited by web.audit."""

from datetime import date

from flask import Blueprint, Response, abort, flash, request, url_for

from lessons import services
from lessons.errors import ValidationError
from lessons.fields import ACTION_FIELDS
from lessons.queries import ACTION_FILTERS, ACTION_SORTS, parse_query
from lessons.services.briefings import decision_counts, lesson_decisions
from web.auth import changeable_action, check_action_move
from web.database import db
from web.htmx import local_url, is_htmx, redirect_after_post, render
from web.identity import current_actor
from web.views.forms import field_value, form_values

bp = Blueprint("actions", __name__, url_prefix="/actions")


@bp.get("/")
def index() -> Response:
    """Actions across lessons; open ones by due date unless the URL says otherwise."""
    errors = {}
    args = request.args if request.args else {"status": "open"}
    try:
        query = parse_query(ACTION_FILTERS, args)
    except ValidationError as error:
        errors = error.fields
        query = parse_query(ACTION_FILTERS, {"status": "open"})
    page = services.list_actions(db.session, query, date.today())
    return render(
        "actions/index.html",
        "actions/_results.html",
        status=400 if errors else 200,
        page=page,
        query=query,
        args=request.args,
        errors=errors,
        sorts=ACTION_SORTS,
        today=date.today(),
    )


@bp.post("/")
def create() -> Response:
    """Add an action to a lesson, from the form on the lesson's page."""
    values = form_values(ACTION_FIELDS)
    try:
        action = services.create_action(db.session, values, actor=current_actor())
        db.session.commit()
    except ValidationError as error:
        lesson_id = values.get("lesson_id", "")
        if not lesson_id.isdecimal() or len(lesson_id) > 12:
            abort(400, "The form does not name a lesson.")
        return lesson_actions(int(lesson_id), errors=error.fields, values=values, status=422)
    if is_htmx():
        return lesson_actions(action.lesson_id)
    flash("Action added.")
    return redirect_after_post(url_for("lessons.show", lesson_id=action.lesson_id))


@bp.post("/<int:action_id>/status")
def set_status(action_id: int) -> Response:
    """Mark an action done, dropped or open again."""
    changeable_action(action_id)
    action = services.update_action(db.session, action_id, {"status": request.form.get("status")})
    db.session.commit()
    if is_htmx():
        return lesson_actions(action.lesson_id)
    return redirect_after_post(
        local_url(request.form.get("next")) or url_for("lessons.show", lesson_id=action.lesson_id)
    )


@bp.route("/<int:action_id>/edit", methods=["GET", "POST"])
def edit(action_id: int) -> Response:
    """Edit an action's text, owner, due date or status."""
    action = changeable_action(action_id)
    if request.method == "POST":
        values = form_values(ACTION_FIELDS)
        from_lesson_id = action.lesson_id
        try:
            services.update_action(db.session, action_id, values, partial=False)
            check_action_move(action, from_lesson_id)
            db.session.commit()
        except ValidationError as error:
            db.session.rollback()
            return render("actions/edit.html", status=422, action=action, values=values,
                          errors=error.fields)
        flash("Action saved.")
        return redirect_after_post(url_for("lessons.show", lesson_id=action.lesson_id))
    values = {f.name: field_value(getattr(action, f.name)) for f in ACTION_FIELDS}
    return render("actions/edit.html", action=action, values=values, errors={})


@bp.post("/<int:action_id>/delete")
def delete(action_id: int) -> Response:
    """Soft-delete an action; the lesson page lists it under deleted, with a restore."""
    action = services.delete_action(db.session, changeable_action(action_id).id)
    db.session.commit()
    return redirect_after_post(url_for("lessons.show", lesson_id=action.lesson_id))


@bp.post("/<int:action_id>/restore")
def restore(action_id: int) -> Response:
    """Bring a deleted action back."""
    action = services.restore_action(db.session, changeable_action(action_id).id)
    db.session.commit()
    return redirect_after_post(url_for("lessons.show", lesson_id=action.lesson_id))


def lesson_actions(lesson_id: int, errors: dict | None = None, values: dict | None = None,
                   status: int = 200) -> Response:
    """The actions section of a lesson's page (the whole page without htmx)."""
    db.session.rollback()
    lesson = services.get_lesson(db.session, lesson_id)
    decisions = lesson_decisions(db.session, lesson_id)
    return render("lessons/show.html", "lessons/_actions.html", status=status, lesson=lesson,
                  today=date.today(), action_errors=errors or {}, action_values=values or {},
                  decisions=decisions, decision_counts=decision_counts(decisions))

