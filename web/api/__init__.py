"""The JSON API under /api/v1: projects, lessons and actions, and its OpenAPI document.

Each resource answers the same seven calls (list, create, get, update,
delete, restore, and its OpenAPI description), so they are registered from
one table instead of written out three times.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable

from flask import Blueprint, Response, abort, current_app, jsonify, request, url_for

from lessons import services
from lessons.errors import NotFound, ValidationError
from lessons.services import themes as themes_service
from lessons.fields import ACTION_FIELDS, LESSON_FIELDS, PROJECT_FIELDS, Field
from lessons.history import lesson_history
from lessons.models import ThemeRun
from lessons.policy import shown_project
from lessons.queries import ACTION_FILTERS, LESSON_FILTERS, PROJECT_FILTERS, Page, parse_query
from lessons.services.briefings import decision_actions
from lessons.services.common import find_row
from lessons.services.lessons import category_choices
from lessons.services.reviews import check_initial_status, review_step
from lessons.validation import Invalid, parse_json
from web.database import db
from search.briefing import new_since_kickoff
from search.retrieve import search, similar_lessons
from search.report import pmo_report
from search.trends import (
    Scope, Windows, repeated_mistakes, rising_and_falling, theme_views, today,
)
from web.auth import (
    VISITOR, changeable_action, changeable_lesson, check_action_move, check_project_manager,
    check_project_team, current_user, is_reviewer,
)
from web.identity import current_actor, current_user_id
from web.jobs import expire_if_stale, parse_theme_count, start_recompute
from web.search import engine, log_search, project_briefing
from web.views.briefings import briefing_rows
from web.views.forms import categories

api = Blueprint("api", __name__, url_prefix="/api/v1")

JSON_TYPES = ("application/json", "application/merge-patch+json")


@dataclass(frozen=True)
class Resource:
    """How the API reaches one kind of row through the services."""

    name: str
    singular: str
    fields: tuple[Field, ...]
    filters: tuple[Field, ...]
    create: Callable[[dict[str, Any]], Any]
    update: Callable[[int, dict[str, Any]], Any]
    delete: Callable[[int], Any]
    restore: Callable[[int], Any]
    get: Callable[[int], Any]
    list: Callable[[dict[str, Any]], Page[Any]]
    choices: Callable[[], dict[str, dict[str, str]]] = lambda: {}
    show: Callable[[Any], dict[str, Any]] = lambda row: row.as_dict()  # a row as the caller sees it
    after_write: Callable[[Any], Any] = lambda row: None  # derived work, once the write is committed


RESOURCES = (
    Resource(
        "projects", "project", PROJECT_FIELDS, PROJECT_FILTERS,
        create=lambda data: services.create_project(db.session, data,
                                                    creator_id=current_user_id()),
        update=lambda id_, data: update_managed_project(id_, data),
        delete=lambda id_: services.delete_project(db.session, id_),
        restore=lambda id_: services.restore_project(db.session, id_),
        get=lambda id_: services.get_project(db.session, id_),
        list=lambda query: services.list_projects(db.session, query),
        after_write=lambda project: refresh_briefing(project),
        show=lambda project: shown_project(db.session, current_user() or VISITOR, project),
    ),
    Resource(
        "lessons", "lesson", LESSON_FIELDS, LESSON_FILTERS,
        create=lambda data: create_lesson(data),
        update=lambda id_, data: update_lesson(id_, data),
        delete=lambda id_: services.delete_lesson(db.session, changeable_lesson(id_).id),
        restore=lambda id_: services.restore_lesson(db.session, changeable_lesson(id_).id),
        get=lambda id_: services.get_lesson(db.session, id_),
        list=lambda query: services.list_lessons(db.session, query),
        choices=lambda: category_choices(categories()),
    ),
    Resource(
        "actions", "action", ACTION_FIELDS, ACTION_FILTERS,
        create=lambda data: services.create_action(db.session, data, actor=current_actor(),
                                                   accounts_only=True),
        update=lambda id_, data: update_action(id_, data),
        delete=lambda id_: services.delete_action(db.session, changeable_action(id_).id),
        restore=lambda id_: services.restore_action(db.session, changeable_action(id_).id),
        get=lambda id_: services.get_action(db.session, id_),
        list=lambda query: services.list_actions(db.session, query, date.today()),
    ),
)


def create_lesson(data: dict[str, Any]) -> Any:
    """A new lesson, submitted for review unless `status` asks for a draft (or, from the PMO,
    an approved record)."""
    status = check_initial_status(data.pop("status", None), may_approve=is_reviewer())
    return services.create_lesson(db.session, data, actor=current_actor(data.get("author")),
                                  categories=categories(), owner_id=current_user_id(),
                                  status=status)


def update_lesson(lesson_id: int, data: dict[str, Any]) -> Any:
    """Change a lesson's fields; its status moves only by the review steps."""
    if "status" in data:
        raise ValidationError({"status": "The status changes by review steps: POST "
                                         f"/api/v1/lessons/{lesson_id}/submit, /approve or /return."})
    return services.update_lesson(db.session, changeable_lesson(lesson_id).id, data,
                                  actor=current_actor(), categories=categories(),
                                  by_reviewer=is_reviewer())


def update_action(action_id: int, data: dict[str, Any]) -> Any:
    """An action changes only by those web.auth allows, onto a lesson they may change too."""
    from_lesson_id = changeable_action(action_id).lesson_id
    action = services.update_action(db.session, action_id, data, accounts_only=True,
                                    actor=current_actor())
    check_action_move(action, from_lesson_id)
    return action


def update_managed_project(project_id: int, data: dict[str, Any]) -> Any:
    """A project changes only by its team or the PMO (web.auth.check_project_manager)."""
    check_project_manager(project_id)
    return services.update_project(db.session, project_id, data)


def refresh_briefing(project: Any) -> None:
    """Compute the kickoff briefing of a new or changed project; a failure waits for the next read."""
    try:
        project_briefing(project)
    except Exception:
        db.session.rollback()
        current_app.logger.exception("Briefing of project %s failed", project.id)


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 4xx that says what is wrong with it."""
    if request.mimetype not in JSON_TYPES:
        abort(415, "Send the body as JSON with Content-Type: application/json.")
    raw = request.get_data(cache=False)
    try:
        data = parse_json(raw.decode("utf-8"))
    except UnicodeDecodeError:
        abort(400, "The body is not valid UTF-8.")
    except Invalid as error:
        abort(400, f"The body is not valid JSON: {error}.")
    if not isinstance(data, dict):
        abort(400, "The body must be a JSON object of field names and values.")
    return data


def register(resource: Resource) -> None:
    """Add the list, create, get, update, delete and restore routes of `resource`."""
    base = f"/{resource.name}"

    def list_rows() -> Response:
        query = parse_query(resource.filters, request.args, resource.choices())
        page = resource.list(query)
        return jsonify({
            "items": [resource.show(row) for row in page.items],
            "total": page.total,
            "page": page.page,
            "per_page": page.per_page,
            "pages": page.pages,
        })

    def create() -> Response:
        row = resource.create(json_body())
        db.session.commit()
        resource.after_write(row)
        response = jsonify(resource.show(row))
        response.status_code = 201
        response.headers["Location"] = url_for(f"api.{resource.singular}", row_id=row.id)
        return response

    def get(row_id: int) -> Response:
        return jsonify(resource.show(resource.get(row_id)))

    def update(row_id: int) -> Response:
        data = json_body()
        row = resource.update(row_id, data)
        db.session.commit()
        resource.after_write(row)
        return jsonify(resource.show(row))

    def delete(row_id: int) -> Response:
        row = resource.delete(row_id)
        db.session.commit()
        return jsonify(row.as_dict())

    def restore(row_id: int) -> Response:
        row = resource.restore(row_id)
        db.session.commit()
        return jsonify(row.as_dict())

    name = resource.singular
    api.add_url_rule(base, f"{resource.name}", list_rows, methods=["GET"])
    api.add_url_rule(base, f"create_{name}", create, methods=["POST"])
    api.add_url_rule(f"{base}/<int:row_id>", name, get, methods=["GET"])
    api.add_url_rule(f"{base}/<int:row_id>", f"update_{name}", update, methods=["PATCH"])
    api.add_url_rule(f"{base}/<int:row_id>", f"delete_{name}", delete, methods=["DELETE"])
    api.add_url_rule(f"{base}/<int:row_id>/restore", f"restore_{name}", restore, methods=["POST"])


for _resource in RESOURCES:
    register(_resource)


@api.get("/lessons/<int:row_id>/revisions")
def lesson_revisions(row_id: int) -> Response:
    """Every revision of a lesson the caller may read (lessons.history), oldest first, each with
    what it changed since the one before it that they may read."""
    found = lesson_history(db.session, current_user() or VISITOR,
                           services.get_lesson(db.session, row_id))
    items = [{
        "number": entry.revision.number,
        "actor": entry.revision.actor,
        "created_at": entry.revision.created_at.isoformat(),
        "content": entry.revision.content,
        "changed_fields": [change.field for change in entry.changes],
    } for entry in found.entries]
    return jsonify({"items": items, "total": len(items)})


@api.get("/search")
def search_lessons() -> Response:
    """Lessons ranked by meaning and words for `q`, under the list filters."""
    filters = parse_query(LESSON_FILTERS, request.args, category_choices(categories()))
    limit = parse_limit()
    results = search(engine(), db.session, request.args.get("q", ""), filters, limit=limit)
    response = jsonify({
        "items": [hit.as_dict() for hit in results.hits],
        "total": len(results.hits),
        "candidates": results.candidates,
        "facets": {name: [{"value": value, "count": count} for value, count in counts]
                   for name, counts in results.facets.items()},
    })
    log_search(request.args["q"], results, filters)
    return response


@api.get("/lessons/<int:row_id>/reviews")
def lesson_reviews(row_id: int) -> Response:
    """Every review step of a lesson, oldest first: its author and the PMO read them; for
    anyone else the list is empty (lessons.policy)."""
    items = [review.as_dict() for review in services.get_lesson(db.session, row_id).reviews]
    return jsonify({"items": items, "total": len(items)})


@api.post("/lessons/<int:row_id>/submit")
def submit_lesson(row_id: int) -> Response:
    """Send a draft or returned lesson for review (its author or the PMO); a returned one
    needs a `comment` saying what changed."""
    return review(changeable_lesson(row_id).id, "submit")


@api.post("/lessons/<int:row_id>/approve")
def approve_lesson(row_id: int) -> Response:
    """Approve a submitted lesson (the PMO); an optional `comment`."""
    return review(row_id, "approve")


@api.post("/lessons/<int:row_id>/return")
def send_back_lesson(row_id: int) -> Response:
    """Return a submitted lesson to its author with a `comment` on what to change (the PMO)."""
    return review(row_id, "return")


def review(lesson_id: int, step: str) -> Response:
    """Take a review step, with the body's optional `comment`; the lesson as it is now."""
    data = json_body() if request.content_length else {}
    lesson = review_step(db.session, lesson_id, step, actor=current_actor(), data=data)
    db.session.commit()
    return jsonify(lesson.as_dict())


@api.get("/lessons/<int:row_id>/similar")
def similar(row_id: int) -> Response:
    """The lessons most like this one."""
    lesson = services.get_lesson(db.session, row_id)
    results = similar_lessons(engine(), db.session, lesson, limit=parse_limit())
    return jsonify({"items": [hit.as_dict() for hit in results.hits],
                    "total": len(results.hits)})


@api.get("/lessons/<int:row_id>/occurrences")
def occurrences(row_id: int) -> Response:
    """Every recorded repeat of this lesson."""
    lesson = services.get_lesson(db.session, row_id)
    items = [occurrence.as_dict() for occurrence in lesson.occurrences]
    return jsonify({"items": items, "total": len(items)})


@api.post("/lessons/<int:row_id>/occurrences")
def add_occurrence(row_id: int) -> Response:
    """Record that this lesson happened again (instead of logging a duplicate)."""
    data = json_body()
    occurrence = services.record_occurrence(db.session, row_id, data, actor=current_actor())
    db.session.commit()
    response = jsonify(occurrence.as_dict())
    response.status_code = 201
    return response


@api.get("/projects/<int:row_id>/briefing")
def briefing(row_id: int) -> Response:
    """The project's kickoff briefing (computed now if not ready), with decisions and new lessons."""
    project = services.get_project(db.session, row_id)
    current = project_briefing(project)
    rows = briefing_rows(project, current)
    fresh = new_since_kickoff(engine(), db.session, project, current) if current else []
    return jsonify({
        "project_id": project.id,
        "generated_at": current.generated_at.isoformat() if current else None,
        "aspects": current.aspects if current else [],
        "items": [{
            "id": row.lesson.id,
            "external_id": row.lesson.external_id,
            "title": row.lesson.title,
            "rank": row.rank,
            "score": round(row.score, 6),
            "aspect": row.aspects[0] if row.aspects else None,
            "kept": row.kept,
            "aspects": row.aspects,
            "aspect_text": row.aspect_text,
            "terms": row.terms,
            "category": row.lesson.category,
            "recommendation": row.lesson.recommendation,
            "projects_hit": row.projects_hit,
            "decision": row.decision.as_dict() if row.decision else None,
        } for row in rows],
        "new_since_kickoff": [
            {"id": lesson.id, "external_id": lesson.external_id, "title": lesson.title,
             "similarity": round(similarity, 4), "aspect": label}
            for lesson, similarity, label in fresh
        ],
    })


@api.post("/projects/<int:row_id>/briefing/decisions")
def decide(row_id: int) -> Response:
    """Record the team's decision on a surfaced lesson: applied, not_applicable or risk (the
    project's team or the PMO). A risk opens the project's action on the lesson (owned by
    `owner`, else the caller); `action` is that action, which another decision leaves open."""
    services.get_project(db.session, row_id)
    check_project_team(row_id, "decide on its briefing")
    decision = services.decide(db.session, row_id, json_body(), actor=current_actor())
    db.session.commit()
    action = decision_actions(db.session, row_id).get(decision.lesson_id)
    return jsonify({**decision.as_dict(), "action": action.as_dict() if action else None})


def parse_limit() -> int:
    """The `limit` argument: 1 to 100, 10 when absent."""
    raw = request.args.get("limit", "10")
    if not raw.isdecimal() or not 1 <= int(raw) <= 100:
        raise ValidationError({"limit": "Must be a whole number from 1 to 100."})
    return int(raw)


@api.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API."""
    from web.api.openapi import build_spec

    return jsonify(build_spec(RESOURCES, categories()))


@api.get("/themes")
def themes() -> Response:
    """Every live theme with its lessons, reach, impact and lessons per window."""
    windows = Windows.parse(request.args, today())
    views = theme_views(db.session, windows)
    return jsonify({"items": [view.as_dict() for view in views], "total": len(views),
                    "windows": windows.as_list()})


@api.get("/themes/trends")
def theme_trends() -> Response:
    """Lessons per theme per window, and which themes rise or fall in the latest window."""
    windows = Windows.parse(request.args, today())
    views = theme_views(db.session, windows)
    rising, falling = rising_and_falling(views)
    return jsonify({
        "window_days": windows.days, "windows": windows.as_list(),
        "items": [{"id": v.theme.id, "label": v.theme.label, "counts": v.counts,
                   "change": v.change} for v in views],
        "rising": [view.theme.id for view in rising],
        "falling": [view.theme.id for view in falling],
    })


@api.get("/themes/repeats")
def theme_repeats() -> Response:
    """Mistakes identified but not learned: met on several projects, or back after their action."""
    views = theme_views(db.session, Windows(today()))
    repeats = repeated_mistakes(db.session, views)
    return jsonify({"items": [repeat.as_dict() for repeat in repeats], "total": len(repeats)})


@api.post("/themes/recompute")
def recompute_themes() -> Response:
    """Start recomputing the themes in the background; poll the run it returns."""
    count = parse_theme_count((json_body() if request.content_length else {}).get("themes"))
    run = start_recompute(current_app._get_current_object(), db.session, engine(), count,
                          current_actor())
    response = jsonify(run.as_dict())
    response.status_code = 202
    response.headers["Location"] = url_for("api.theme_run", row_id=run.id)
    return response


@api.patch("/themes/<int:row_id>")
def rename_theme(row_id: int) -> Response:
    """Name a theme (null or empty: back to the name from its words); the PMO's."""
    theme = themes_service.rename_theme(db.session, row_id, json_body(), current_actor())
    db.session.commit()
    return jsonify({"id": theme.id, "name": theme.name, "label": theme.label,
                    "keywords": theme.keywords, "works": theme.works})


@api.get("/themes/runs/<int:row_id>")
def theme_run(row_id: int) -> Response:
    """The progress of one theme recompute."""
    run = find_row(db.session, ThemeRun, row_id)
    if run is None:
        raise NotFound("theme recompute", row_id)
    expire_if_stale(db.session, run)
    return jsonify(run.as_dict())


@api.get("/report")
def report() -> Response:
    """The PMO report's data for a scope: periods, themes, repeats, actions, reuse, gaps."""
    return jsonify(pmo_report(db.session, Scope.parse(request.args),
                              Windows.parse(request.args, today())))
