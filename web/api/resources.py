"""Projects, lessons and actions: list, create, get, update, delete and restore, and their paths
and schemas in the OpenAPI document.

Each resource answers the same calls, so they are registered and described
from one table instead of written out three times.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Response, current_app, jsonify, request, url_for

from lessons import services
from lessons.errors import ValidationError
from lessons.fields import ACTION_FIELDS, LESSON_FIELDS, LESSON_STATUSES, PROJECT_FIELDS, Field
from lessons.policy import shown_project
from lessons.queries import ACTION_FILTERS, LESSON_FILTERS, PROJECT_FILTERS, Page, parse_query
from lessons.services.lessons import category_choices
from lessons.services.reviews import NEW_STATUSES, check_initial_status
from web.api.blueprint import api, json_body
from web.api.schema import (
    BODY_ERRORS,
    ID_PARAMETER,
    TIMESTAMP,
    error,
    filter_parameter,
    input_schema,
    json_content,
    nullable,
    ref,
    value_schema,
)
from web.api.serializers import page_json, page_schema
from web.auth import (
    VISITOR,
    changeable_action,
    changeable_lesson,
    check_action_move,
    check_project_manager,
    current_user,
    is_reviewer,
)
from web.database import db
from web.engine import project_briefing
from web.identity import current_actor, current_user_id
from web.views.forms import categories


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
    choices: Callable[[], dict[str, dict[str, str]]] = dict
    show: Callable[[Any], dict[str, Any]] = lambda row: row.as_dict()  # a row as the caller sees it
    # Derived work, once the write is committed.
    after_write: Callable[[Any], Any] = lambda row: None


RESOURCES = (
    Resource(
        "projects", "project", PROJECT_FIELDS, PROJECT_FILTERS,
        create=lambda data: services.create_project(db.session, data,
                                                    creator_id=current_user_id()),
        update=lambda id_, data: update_managed_project(id_, data),
        delete=lambda id_: services.delete_project(db.session, id_, actor=current_actor()),
        restore=lambda id_: services.restore_project(db.session, id_, actor=current_actor()),
        get=lambda id_: services.get_project(db.session, id_),
        list=lambda query: services.list_projects(db.session, query),
        after_write=lambda project: refresh_briefing(project),
        show=lambda project: shown_project(db.session, current_user() or VISITOR, project),
    ),
    Resource(
        "lessons", "lesson", LESSON_FIELDS, LESSON_FILTERS,
        create=lambda data: create_lesson(data),
        update=lambda id_, data: update_lesson(id_, data),
        delete=lambda id_: services.delete_lesson(db.session, changeable_lesson(id_).id,
                                                  actor=current_actor()),
        restore=lambda id_: services.restore_lesson(db.session, changeable_lesson(id_).id,
                                                    actor=current_actor()),
        get=lambda id_: services.get_lesson(db.session, id_),
        list=lambda query: services.list_lessons(db.session, query),
        choices=lambda: category_choices(categories()),
    ),
    Resource(
        "actions", "action", ACTION_FIELDS, ACTION_FILTERS,
        create=lambda data: services.create_action(db.session, data, actor=current_actor(),
                                                   accounts_only=True),
        update=lambda id_, data: update_action(id_, data),
        delete=lambda id_: services.delete_action(db.session, changeable_action(id_).id,
                                                  actor=current_actor()),
        restore=lambda id_: services.restore_action(db.session, changeable_action(id_).id,
                                                    actor=current_actor()),
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
                                         f"/api/v1/lessons/{lesson_id}/submit, /approve or "
                                         "/return."})
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
    return services.update_project(db.session, project_id, data, actor=current_actor())


def refresh_briefing(project: Any) -> None:
    """Compute the kickoff briefing of a new or changed project; a failure waits for the next
    read."""
    try:
        project_briefing(project)
    except Exception:
        db.session.rollback()
        current_app.logger.exception("Briefing of project %s failed", project.id)


def register(resource: Resource) -> None:
    """Add the list, create, get, update, delete and restore routes of `resource`."""
    base = f"/{resource.name}"

    def list_rows() -> Response:
        query = parse_query(resource.filters, request.args, resource.choices())
        return jsonify(page_json(resource.list(query), resource.show))

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


# What a row says beyond its input fields (its `as_dict()` in lessons.models).
EXTRA_OUTPUT: dict[str, dict[str, Any]] = {
    "projects": {},
    "lessons": {"project_name": {"type": ["string", "null"]},
                "status": {"enum": list(LESSON_STATUSES)}},
    "actions": {"overdue": {"type": "boolean"}, "closed_at": TIMESTAMP,
                "owner_id": {"type": ["integer", "null"],
                             "description": "The owner's account; null for someone without "
                                            "one (`outside_owner`), or a name from before "
                                            "owners were accounts (kept in `owner`)."},
                "owner_name": {"type": ["string", "null"],
                               "description": "The owner as people read it: the account's name "
                                              "or email, else the old text."},
                "project_id": {"type": ["integer", "null"],
                               "description": "The project that raised it as a kickoff risk."}},
}
# Create-only fields beside the editable ones.
EXTRA_INPUT: dict[str, dict[str, Any]] = {
    "lessons": {"status": {
        "enum": list(NEW_STATUSES),
        "description": "Where its review starts: submitted (the default), a draft only its "
                       "author and the PMO see, or, from the PMO, an approved record."}},
}


def output_schema(resource: Resource, choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A row as the API returns it."""
    properties: dict[str, Any] = {"id": {"type": "integer"}}
    for f in resource.fields:
        schema = value_schema(f, choices)
        schema.pop("maxLength", None)
        never_null = f.required or f.default is not None or f.type == "tags"
        properties[f.name] = schema if never_null else nullable(schema)
    properties.update(EXTRA_OUTPUT[resource.name])
    properties.update(created_at=TIMESTAMP, updated_at=TIMESTAMP, deleted_at=TIMESTAMP)
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def openapi_schemas(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Each resource's row, create body (…Input) and update body (…Patch)."""
    schemas: dict[str, Any] = {}
    for resource in RESOURCES:
        title = resource.singular.capitalize()
        schemas[title] = output_schema(resource, choices)
        schemas[f"{title}Input"] = input_schema(resource.fields, choices, patch=False)
        schemas[f"{title}Input"]["properties"].update(EXTRA_INPUT.get(resource.name, {}))
        schemas[f"{title}Patch"] = input_schema(resource.fields, choices, patch=True)
    return schemas


def openapi_paths(choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The paths of every resource."""
    paths: dict[str, Any] = {}
    for resource in RESOURCES:
        paths.update(resource_paths(resource, choices))
    return paths


def resource_paths(resource: Resource, choices: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The three paths of one resource."""
    title = resource.singular.capitalize()
    one = {"description": f"The {resource.singular}.", **json_content(ref(title))}
    missing = error(f"No {resource.singular} with this id.")
    parameters = [filter_parameter(f, choices) for f in resource.filters]
    return {
        f"/{resource.name}": {
            "get": {
                "summary": f"List {resource.name}",
                "operationId": f"list_{resource.name}",
                "parameters": parameters,
                "responses": {
                    "200": {"description": "One page.", **json_content(page_schema(ref(title)))},
                    "422": error("A filter is invalid."),
                },
            },
            "post": {
                "summary": f"Create a {resource.singular}",
                "operationId": f"create_{resource.singular}",
                "requestBody": {"required": True, **json_content(ref(f"{title}Input"))},
                "responses": {"201": one, **BODY_ERRORS, "409": error(
                    "It clashes with a row saved at the same moment; try again.")},
            },
        },
        f"/{resource.name}/{{row_id}}": {
            "parameters": [ID_PARAMETER],
            "get": {
                "summary": f"Get a {resource.singular}",
                "operationId": f"get_{resource.singular}",
                "responses": {"200": one, "404": missing},
            },
            "patch": {
                "summary": f"Change some fields of a {resource.singular}",
                "operationId": f"update_{resource.singular}",
                "requestBody": {"required": True, **json_content(ref(f"{title}Patch"))},
                "responses": {
                    "200": one, "404": missing, **BODY_ERRORS,
                    "409": error("The row is deleted; restore it first."),
                },
            },
            "delete": {
                "summary": f"Soft-delete a {resource.singular} (it can be restored)",
                "operationId": f"delete_{resource.singular}",
                "responses": {"200": one, "404": missing},
            },
        },
        f"/{resource.name}/{{row_id}}/restore": {
            "parameters": [ID_PARAMETER],
            "post": {
                "summary": f"Restore a deleted {resource.singular}",
                "operationId": f"restore_{resource.singular}",
                "responses": {"200": one, "404": missing},
            },
        },
    }
