"""Action pages: the list of open and overdue actions, "My actions", adding, closing,
reassigning and editing.

Who may change an action is web.auth's rule (`changeable_action`), the same the API asks;
each change is audited by the service that makes it (a reassignment with from and to).
An owner is picked from the active accounts (the template global `owner_accounts`, a
datalist beside each owner field); a name that is not an account is refused inline, unless
typed as someone without an account (`outside_owner`)."""

from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from lessons import services
from lessons.errors import ValidationError
from lessons.fields import ACTION_FIELDS, ACTION_STATUSES
from lessons.models import Action, User
from lessons.queries import ACTION_FILTERS, ACTION_SORTS, parse_query
from lessons.services.actions import (
    open_action_counts,
    owner_choices,
    reassign_action,
    set_action_status,
)
from lessons.services.briefings import decision_counts, lesson_decisions
from lessons.services.users import Account
from web.auth import changeable_action, check_action_move, current_user, sign_in_first
from web.database import db
from web.htmx import is_htmx, local_url, redirect_after_post, render
from web.identity import current_actor
from web.views.briefings import decision_form
from web.views.forms import field_value, form_values

bp = Blueprint("actions", __name__, url_prefix="/actions")


@bp.get("/")
def index() -> Response:
    """Actions across lessons; open ones by due date unless the URL says otherwise."""
    return action_list(None)


@bp.get("/mine")
def mine() -> Response:
    """The signed-in person's actions: the Actions page narrowed to their account, open ones
    by due date unless the URL says otherwise, overdue ones marked."""
    user = current_user()
    if user is None or not user.id:
        return sign_in_first()
    return action_list(user)


def action_list(owner: Account | None) -> Response:
    """The Actions page, of everyone's actions or of `owner`'s alone."""
    errors = {}
    args = request.args if request.args else {"status": "open"}
    try:
        query = parse_query(ACTION_FILTERS, args)
    except ValidationError as error:
        errors = error.fields
        query = parse_query(ACTION_FILTERS, {"status": "open"})
    if owner is not None:
        query = {**query, "owner": None, "owner_id": owner.id}
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
        here="actions.mine" if owner else "actions.index",
    )


@bp.app_template_global()
def current_date() -> date:
    """Today, for templates that mark overdue actions outside the action views."""
    return date.today()


@bp.app_template_global()
def my_open_actions() -> tuple[int, int]:
    """The navigation's count: the signed-in account's open actions, and how many are overdue
    (none for a visitor)."""
    user = current_user()
    if user is None or not user.id:
        return 0, 0
    try:
        return open_action_counts(db.session, user.id, date.today())
    except SQLAlchemyError:  # every page shows the count, error pages during an outage too
        db.session.rollback()
        current_app.logger.exception("Counting the signed-in account's actions failed")
        return 0, 0


@bp.app_template_global()
def owner_accounts() -> list[User]:
    """The accounts an owner field offers: for someone signed in only (a visitor reading
    anonymously changes nothing, and gets no list of who works here)."""
    user = current_user()
    return owner_choices(db.session) if user is not None and user.id else []


@bp.post("/")
def create() -> Response:
    """Add an action to a lesson, from the form on the lesson's page."""
    values = form_values(ACTION_FIELDS)
    try:
        action = services.create_action(db.session, values, actor=current_actor(),
                                        accounts_only=True)
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
    action = set_action_status(db.session, action_id, request.form.get("status"),
                               actor=current_actor())
    db.session.commit()
    if is_htmx() and request.form.get("view") == "row":  # from the Actions page
        return action_row(action, f"{ACTION_STATUSES[action.status]}: {action.description}")
    if is_htmx() and request.form.get("view") == "decision" and action.project_id:
        # From a kickoff decision that is no longer a risk: that decision's form again.
        return decision_form(services.get_project(db.session, action.project_id),
                             action.lesson_id, back=local_url(request.form.get("next")))
    if is_htmx():
        return lesson_actions(action.lesson_id)
    return redirect_after_post(
        local_url(request.form.get("next")) or url_for("lessons.show", lesson_id=action.lesson_id)
    )


@bp.post("/<int:action_id>/owner")
def reassign(action_id: int) -> Response:
    """Give the action to someone else, from its row on the Actions page."""
    action = changeable_action(action_id)
    back = local_url(request.form.get("next")) or url_for(".index")
    try:
        action = reassign_action(db.session, action_id, request.form.get("owner", ""),
                                 actor=current_actor())
        db.session.commit()
    except ValidationError as error:
        db.session.rollback()
        if not is_htmx():
            flash(error.fields.get("owner", error.message))
            return redirect_after_post(back)
        return action_row(action, None, error=error.fields.get("owner"), status=422,
                          typed=request.form.get("owner", ""))
    if is_htmx():
        return action_row(action, f"{action.description}: now {action.owner_label}'s.")
    flash(f"The action is now {action.owner_label}'s.")
    return redirect_after_post(back)


def action_row(action: Action, message: str | None, *, error: str | None = None, status: int = 200,
               typed: str = "") -> Response:
    """One row of the Actions page after a change, and the page's status line (out of band)."""
    return render("actions/_row.html", status=status, action=action, today=date.today(),
                  message=message, error=error, typed=typed, back=request.form.get("next"))


@bp.route("/<int:action_id>/edit", methods=["GET", "POST"])
def edit(action_id: int) -> Response:
    """Edit an action's text, owner, due date or status."""
    action = changeable_action(action_id)
    if request.method == "POST":
        values = form_values(ACTION_FIELDS)
        from_lesson_id = action.lesson_id
        try:
            services.update_action(db.session, action_id, values, partial=False,
                                   accounts_only=True, actor=current_actor())
            check_action_move(action, from_lesson_id)
            db.session.commit()
        except ValidationError as error:
            db.session.rollback()
            return render("actions/edit.html", status=422, action=action, values=values,
                          errors=error.fields)
        flash("Action saved.")
        return redirect_after_post(url_for("lessons.show", lesson_id=action.lesson_id))
    values = {f.name: field_value(getattr(action, f.name)) for f in ACTION_FIELDS}
    if action.outside_owner:  # shown once, in its own field
        values["owner"] = ""
    return render("actions/edit.html", action=action, values=values, errors={})


@bp.post("/<int:action_id>/delete")
def delete(action_id: int) -> Response:
    """Soft-delete an action; the lesson page lists it under deleted, with a restore."""
    action = services.delete_action(db.session, changeable_action(action_id).id,
                                    actor=current_actor())
    db.session.commit()
    return redirect_after_post(url_for("lessons.show", lesson_id=action.lesson_id))


@bp.post("/<int:action_id>/restore")
def restore(action_id: int) -> Response:
    """Bring a deleted action back."""
    action = services.restore_action(db.session, changeable_action(action_id).id,
                                     actor=current_actor())
    db.session.commit()
    return redirect_after_post(url_for("lessons.show", lesson_id=action.lesson_id))


def lesson_actions(lesson_id: int, errors: dict[str, str] | None = None,
                   values: dict[str, Any] | None = None,
                   status: int = 200) -> Response:
    """The actions section of a lesson's page (the whole page without htmx)."""
    db.session.rollback()
    lesson = services.get_lesson(db.session, lesson_id)
    decisions = lesson_decisions(db.session, lesson_id)
    return render("lessons/show.html", "lessons/_actions.html", status=status, lesson=lesson,
                  today=date.today(), action_errors=errors or {}, action_values=values or {},
                  decisions=decisions, decision_counts=decision_counts(decisions))

