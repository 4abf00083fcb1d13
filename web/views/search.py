"""Search pages: live search with facets, similar-while-typing, and "this is the same lesson"."""

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, abort, flash, request, url_for

from lessons import services
from lessons.errors import ValidationError
from lessons.queries import LESSON_FILTERS, Page, last_page, parse_query
from lessons.services.lessons import category_choices
from search.engine import IndexNotReady
from search.retrieve import Hit, Results, search, similar_lessons
from web.auth import can_change
from web.database import db
from web.engine import engine, log_search
from web.htmx import is_htmx, redirect_after_post, render
from web.identity import current_actor
from web.views.forms import categories

bp = Blueprint("search", __name__)

SIMILAR_CHARS = 2_000  # enough of what is being typed to find its neighbours


@bp.get("/search")
def index() -> Response:
    """Results as you type; the same URL serves the page, the fragment and plain GET forms."""
    text = request.args.get("q", "")
    errors: dict[str, str] = {}
    results = None
    try:
        filters = parse_query(LESSON_FILTERS, request.args, category_choices(categories()))
    except ValidationError as error:
        errors.update(error.fields)
        filters = parse_query(LESSON_FILTERS, {})
    page = None
    if text.strip() and not errors:
        try:
            results, page = search_page(text, filters)
        except ValidationError as error:
            errors.update(error.fields)
    response = render(
        "search/index.html",
        "search/_results.html",
        status=400 if errors else 200,
        q=text,
        results=results,
        page=page,
        asked=filters["page"],
        errors=errors,
        filters=filters,
        args=request.args,
        projects=dict(services.project_choices(db.session)),
        categories=categories(),
    )
    if results is not None and filters["page"] == 1:  # a later page is the same query again
        log_search(text, results, filters)
    return response


def search_page(text: str, filters: dict[str, Any]) -> tuple[Results, Page[Hit]]:
    """One page of results, paged like the lesson list (`page`, `per_page`); past the end,
    the last page. The ranking is asked for every hit up to the page's end and sliced."""
    number, per_page = filters["page"], filters["per_page"]
    results = search(engine(), db.session, text, filters, limit=number * per_page)
    number = min(number, last_page(results.candidates, per_page))
    hits = results.hits[(number - 1) * per_page:number * per_page]
    return results, Page(items=hits, total=results.candidates, page=number, per_page=per_page)


@bp.get("/lessons/similar")
def similar_to_draft() -> Response:
    """Lessons like the one being typed into the capture form."""
    title = request.args.get("title", "")
    body = request.args.get("what_happened", "")
    text = f"{title}\n{body}".strip()[:SIMILAR_CHARS]
    results: Results | None = None
    if len(text) >= 12:  # a word or two is not enough to judge
        try:
            results = search(engine(), db.session, text, limit=5)
        except (ValidationError, IndexNotReady):
            results = None  # suggestions are a help, never an obstacle
    return render("search/_similar.html", results=results, draft=request.args)


@bp.get("/lessons/<int:lesson_id>/similar")
def similar(lesson_id: int) -> Response:
    """Lessons like this one."""
    lesson = services.get_lesson(db.session, lesson_id)
    results = similar_lessons(engine(), db.session, lesson, limit=10)
    return render("search/similar.html", lesson=lesson, results=results)


@bp.get("/lessons/<int:lesson_id>/occurrences/new")
def confirm_occurrence(lesson_id: int) -> Response:
    """The one-line confirmation of "This is the same lesson": what would be recorded, and on
    which lesson, before anything is."""
    try:
        lesson, values, project = services.check_occurrence(db.session, lesson_id,
                                                            occurrence_data(request.args))
    except ValidationError as error:
        return occurrence_error(error)
    return render("search/_occurrence_confirm.html", "search/_occurrence_confirm.html",
                  lesson=lesson, values=values, project=project)


@bp.post("/lessons/<int:lesson_id>/occurrences")
def add_occurrence(lesson_id: int) -> Response:
    """Record that this lesson happened again, instead of logging a duplicate."""
    try:
        occurrence = services.record_occurrence(db.session, lesson_id,
                                                occurrence_data(request.form),
                                                actor=current_actor())
        db.session.commit()
    except ValidationError as error:
        return occurrence_error(error)
    if is_htmx():
        # The capture form stays as typed, beside the result and its Undo.
        return render("search/_occurrence_recorded.html", occurrence=occurrence,
                      lesson=occurrence.lesson)
    flash("Recorded as another occurrence of this lesson; nothing was duplicated.")
    return redirect_after_post(url_for("lessons.show", lesson_id=lesson_id))


@bp.post("/occurrences/<int:occurrence_id>/delete")
def remove_occurrence(occurrence_id: int) -> Response:
    """Undo an occurrence: whoever recorded it, or whoever may change its lesson."""
    occurrence = services.get_occurrence(db.session, occurrence_id)
    lesson = occurrence.lesson
    if occurrence.actor != current_actor().name and not can_change(lesson):
        abort(403, "Only whoever recorded an occurrence, the lesson's author or the PMO can "
                   "remove it.")
    services.remove_occurrence(db.session, occurrence_id, actor=current_actor())
    db.session.commit()
    if is_htmx():
        return render("search/_occurrence_removed.html", lesson=lesson)
    flash("The occurrence was removed.")
    return redirect_after_post(url_for("lessons.show", lesson_id=lesson.id))


def occurrence_data(form: Mapping[str, str]) -> dict[str, str]:
    """The occurrence a capture form describes: its project, its date, and as its note what was
    typed (the title alone is enough: the suggestions show up before "what happened" is
    filled in); a confirmed step sends its `note` as shown."""
    data = {name: form.get(name, "") for name in ("project_id", "occurred_on")}
    typed = (form.get(name, "").strip() for name in ("title", "what_happened"))
    data["note"] = form.get("note") or "\n\n".join(text for text in typed if text)
    return data


def occurrence_error(error: ValidationError) -> Response:
    """What to fix, in the panel; the capture form keeps everything as typed."""
    db.session.rollback()
    return render("search/_occurrence_error.html", "search/_occurrence_error.html",
                  status=422, errors=error.fields)
