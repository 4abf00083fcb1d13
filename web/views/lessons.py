"""Lesson pages: the list with filters, capture, view, edit, history, delete and restore."""

import re
import secrets
from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, flash, request, session, url_for
from sqlalchemy.exc import IntegrityError

from lessons import services
from lessons.errors import ValidationError
from lessons.fields import LESSON_FIELDS
from lessons.history import lesson_history
from lessons.models import Lesson
from lessons.queries import LESSON_FILTERS, LESSON_SORTS, parse_query
from lessons.services.briefings import decision_counts, lesson_decisions
from lessons.services.lessons import category_choices
from lessons.services.reviews import last_return
from web.auth import VISITOR, changeable_lesson, current_user, is_reviewer
from web.database import db
from web.htmx import redirect_after_post, render
from web.identity import current_actor, current_user_id, remember_actor
from web.views.forms import categories, field_value, form_defaults, form_values
from web.views.reviews import review_steps

bp = Blueprint("lessons", __name__, url_prefix="/lessons")


@bp.get("/")
def index() -> Response:
    """Every lesson, filtered, sorted and paged by the URL's arguments."""
    choices = category_choices(categories())
    errors = {}
    try:
        query = parse_query(LESSON_FILTERS, request.args, choices)
    except ValidationError as error:
        errors = error.fields
        query = parse_query(LESSON_FILTERS, {}, choices)
    page = services.list_lessons(db.session, query, last_if_past=True)
    return render(
        "lessons/index.html",
        "lessons/_results.html",
        status=400 if errors else 200,
        page=page,
        query=query,
        args=request.args,
        errors=errors,
        sorts=LESSON_SORTS,
        projects=services.project_choices(db.session),
        categories=categories(),
    )


def form_author() -> str:
    """Who a new lesson's form names: the account, or for the PMO, who logs records of others,
    the author they typed last."""
    typed = session.get("actor", "") if is_reviewer() else ""
    return typed or (user.label if (user := current_user()) else "")


@bp.route("/new", methods=["GET", "POST"])
def new() -> Response:
    """The capture form, its author the signed-in account; a project's page opens it with the
    project chosen."""
    if request.method == "POST":
        values = form_values(LESSON_FIELDS)
        draft = request.form.get("status") == "draft"
        key = form_key()
        if key and (saved := services.lesson_from_form(db.session, key)):
            return already_saved(saved)
        try:
            lesson = services.create_lesson(
                db.session, values, actor=current_actor(values.get("author")),
                categories=categories(), owner_id=current_user_id(),
                status="draft" if draft else "submitted", form_key=key,
            )
            db.session.commit()
        except ValidationError as error:
            return form_page("lessons/new.html", {**values, "form_key": key}, error.fields)
        except IntegrityError:  # the same form sent twice at once: the other request saved it
            db.session.rollback()
            if key and (saved := services.lesson_from_form(db.session, key)):
                return already_saved(saved)
            raise
        remember_actor(values.get("author"))
        flash(f"Lesson “{lesson.title}” saved as a draft: only you and the PMO see it until you "
              "submit it." if draft else f"Lesson “{lesson.title}” saved and sent for review.")
        return redirect_after_post(url_for(".show", lesson_id=lesson.id))
    values = {
        **form_defaults(LESSON_FIELDS),
        "project_id": request.args.get("project_id", ""),
        "author": form_author(),
        "occurred_on": date.today().isoformat(),
        "form_key": secrets.token_hex(16),
    }
    return form_page("lessons/new.html", values, {}, status=200)


def form_key() -> str | None:
    """The capture form's one-time key, as `new` wrote it into the form; None if it is not
    one (a form from before keys, or tampered with)."""
    key = request.form.get("form_key", "")
    return key if re.fullmatch(r"[0-9a-f]{32}", key) else None


def already_saved(lesson: Lesson) -> Response:
    """The answer to a capture form sent again (a double-click, or Save again on the form
    Back restored): the lesson it saved the first time, not a second copy."""
    flash(f"Lesson “{lesson.title}” was already saved from this form; nothing was added.")
    return redirect_after_post(url_for(".show", lesson_id=lesson.id))


@bp.get("/<int:lesson_id>")
def show(lesson_id: int) -> Response:
    """One lesson with its actions."""
    lesson = services.get_lesson(db.session, lesson_id)
    decisions = lesson_decisions(db.session, lesson_id)
    return render("lessons/show.html", lesson=lesson, today=date.today(), action_errors={},
                  action_values={}, decisions=decisions, decision_counts=decision_counts(decisions),
                  returned=last_return(lesson))


@bp.route("/<int:lesson_id>/edit", methods=["GET", "POST"])
def edit(lesson_id: int) -> Response:
    """Edit every field; a real change adds a revision. A draft or returned lesson can be
    submitted with the same click."""
    lesson = changeable_lesson(lesson_id)
    if request.method == "POST":
        values = form_values(LESSON_FIELDS)
        approved = lesson.status == "approved"
        submit = request.form.get("status") == "submitted" and "submit" in review_steps(lesson)
        try:
            # A returned lesson's submit needs the reply saying what changed.
            services.update_lesson(
                db.session, lesson_id, values, actor=current_actor(), partial=False,
                categories=categories(), by_reviewer=is_reviewer(),
                submit={"comment": request.form.get("comment")} if submit else None,
            )
            db.session.commit()
        except ValidationError as error:
            return form_page("lessons/edit.html", values, error.fields, lesson=lesson,
                             reply=request.form.get("comment", ""))
        reopened = approved and lesson.status == "submitted"
        flash("Changes saved and sent for review." if submit else "Changes saved; an approved "
              "lesson changed by its author goes back to the PMO for review." if reopened
              else "Changes saved.")
        return redirect_after_post(url_for(".show", lesson_id=lesson_id))
    values = {name: field_value(value) for name, value in lesson.content().items()}
    return form_page("lessons/edit.html", values, {}, status=200, lesson=lesson)


@bp.get("/<int:lesson_id>/history")
def history(lesson_id: int) -> Response:
    """Every revision the reader may see (lessons.history): who, when, and what changed."""
    lesson = services.get_lesson(db.session, lesson_id)
    found = lesson_history(db.session, current_user() or VISITOR, lesson,
                           current_app.config["CURRENCY"])
    return render("lessons/history.html", lesson=lesson, entries=reversed(found.entries),
                  hidden=found.hidden)


@bp.post("/<int:lesson_id>/delete")
def delete(lesson_id: int) -> Response:
    """Soft delete; the lesson page then offers a restore."""
    services.delete_lesson(db.session, changeable_lesson(lesson_id).id, actor=current_actor())
    db.session.commit()
    flash("Lesson deleted. You can restore it from this page.")
    return redirect_after_post(url_for(".show", lesson_id=lesson_id))


@bp.post("/<int:lesson_id>/restore")
def restore(lesson_id: int) -> Response:
    """Bring a deleted lesson back."""
    services.restore_lesson(db.session, changeable_lesson(lesson_id).id, actor=current_actor())
    db.session.commit()
    flash("Lesson restored.")
    return redirect_after_post(url_for(".show", lesson_id=lesson_id))


def form_page(template: str, values: dict[str, Any], errors: dict[str, str], status: int = 422,
              **context: Any) -> Response:
    """The lesson form with what was typed and a message beside each bad field."""
    db.session.rollback()
    return render(
        template,
        "lessons/_form.html",
        status=status,
        values=values,
        errors=errors,
        fields={f.name: f for f in LESSON_FIELDS},
        projects=services.project_choices(db.session),
        categories=categories(),
        **context,
    )
