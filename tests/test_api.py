"""The JSON API: CRUD for each resource, its errors, and an OpenAPI document that tells the
truth."""

import pytest
from conftest import signed_in
from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from lessons.models import Change, Lesson


@pytest.fixture
def spec(client):
    return client.get("/api/v1/openapi.json").get_json()


@pytest.fixture
def check(spec):
    """Validate a response body against a schema of the OpenAPI document."""

    def check(body, schema_name):
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
        Draft202012Validator(schema).validate(body)
        return body

    return check


def post(client, url, body, **headers):
    return client.post(url, json=body, headers=headers)


def test_project_lesson_and_action_round_trip(client, check):
    project = post(client, "/api/v1/projects", {"name": "ERP", "start_date": "2025-01-01",
                                                "tags": ["erp"]})
    assert project.status_code == 201
    check(project.get_json(), "Project")
    assert project.headers["Location"].endswith(f"/api/v1/projects/{project.get_json()['id']}")

    body = {"title": "Lock-in", "project_id": project.get_json()["id"], "what_happened": "Stuck",
            "impact_cost": "1,500.50", "impact_days": 12, "tags": "vendor, contract",
            "occurred_on": "2025-03-04", "category": "vendor & procurement", "kind": "risk"}
    created = post(client, "/api/v1/lessons", body)
    assert created.status_code == 201, created.get_json()
    lesson = check(created.get_json(), "Lesson")
    assert lesson["impact_cost"] == 1500.5 and lesson["project_name"] == "ERP"
    assert lesson["tags"] == ["contract", "vendor"]

    action = post(client, "/api/v1/actions", {"lesson_id": lesson["id"], "description": "Exit",
                                              "due_on": "2020-01-01"})
    assert action.status_code == 201
    assert check(action.get_json(), "Action")["overdue"] is True

    fetched = client.get(f"/api/v1/lessons/{lesson['id']}")
    assert check(fetched.get_json(), "Lesson") == lesson


def test_patch_changes_only_the_fields_given_and_records_who(app, client, check):
    lesson = post(client, "/api/v1/lessons", {"title": "T", "what_happened": "W",
                                              "root_cause": "R"}).get_json()
    pmo = signed_in(app, "pmo", "pat@example.org")
    response = pmo.patch(f"/api/v1/lessons/{lesson['id']}",
                         json={"title": "T2", "root_cause": None})
    assert response.status_code == 200
    patched = check(response.get_json(), "Lesson")
    assert (patched["title"], patched["root_cause"], patched["what_happened"]) == ("T2", None, "W")
    revisions = client.get(f"/api/v1/lessons/{lesson['id']}/revisions").get_json()
    assert [r["actor"] for r in revisions["items"]][-1] == "pat@example.org"
    assert revisions["items"][-1]["changed_fields"] == ["title", "root_cause"]


def test_delete_is_soft_and_restore_brings_it_back(client, check):
    lesson = post(client, "/api/v1/lessons", {"title": "T", "what_happened": "W"}).get_json()
    deleted = client.delete(f"/api/v1/lessons/{lesson['id']}")
    assert deleted.status_code == 200 and check(deleted.get_json(), "Lesson")["deleted_at"]
    assert client.get("/api/v1/lessons").get_json()["total"] == 0
    assert client.get("/api/v1/lessons?state=deleted").get_json()["total"] == 1
    assert client.patch(f"/api/v1/lessons/{lesson['id']}", json={"title": "x"}).status_code == 409
    restored = client.post(f"/api/v1/lessons/{lesson['id']}/restore")
    assert restored.status_code == 200 and restored.get_json()["deleted_at"] is None
    assert client.get("/api/v1/lessons").get_json()["total"] == 1


@pytest.mark.parametrize("resource", ["projects", "lessons", "actions"])
def test_unknown_ids_answer_404_in_json(client, resource):
    for method, url in [("get", f"/api/v1/{resource}/999"), ("delete", f"/api/v1/{resource}/999"),
                        ("post", f"/api/v1/{resource}/999/restore")]:
        response = getattr(client, method)(url)
        assert response.status_code == 404
        assert response.get_json()["error"]
    assert client.patch(f"/api/v1/{resource}/999", json={}).status_code == 404


def test_list_filters_and_paging(client, check):
    project = post(client, "/api/v1/projects", {"name": "P"}).get_json()
    for i in range(7):
        post(client, "/api/v1/lessons", {"title": f"L{i}", "what_happened": "w",
                                         "severity": "high" if i < 3 else "low",
                                         "project_id": project["id"] if i % 2 else None})
    page = client.get("/api/v1/lessons?severity=high&per_page=2&page=2&sort=title").get_json()
    check(page["items"][0], "Lesson")
    assert (page["total"], page["pages"], page["page"], page["per_page"]) == (3, 2, 2, 2)
    assert [item["title"] for item in page["items"]] == ["L2"]
    by_project = client.get(f"/api/v1/lessons?project_id={project['id']}").get_json()
    assert by_project["total"] == 3
    bad = client.get("/api/v1/lessons?severity=enormous&occurred_to=never")
    assert bad.status_code == 422
    assert set(bad.get_json()["fields"]) == {"severity", "occurred_to"}


def test_an_invalid_request_writes_nothing(client, app):
    def counts():
        with app.app_context():
            from web.database import db
            return (db.session.scalar(select(func.count()).select_from(Lesson)),
                    db.session.scalar(select(func.count()).select_from(Change)))

    before = counts()
    response = post(client, "/api/v1/lessons", {"title": "", "what_happened": "x", "extra": 1})
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"title": "This field is required.",
                                             "extra": "Unknown field."}
    assert post(client, "/api/v1/lessons", {"title": "t", "what_happened": "w",
                                            "project_id": 12345}).status_code == 422
    assert counts() == before


def test_request_format_errors(client):
    assert client.post("/api/v1/lessons", data="title=x",
                       content_type="application/x-www-form-urlencoded").status_code == 415
    assert client.post("/api/v1/lessons", data="{not json",
                       content_type="application/json").status_code == 400
    listed = client.post("/api/v1/lessons", data="[]", content_type="application/json")
    assert listed.status_code == 400
    too_big = client.post("/api/v1/lessons", data=b"x" * (3 * 1024 * 1024),
                          content_type="application/json")
    assert too_big.status_code == 413 and too_big.get_json()["error"]


def test_openapi_lists_exactly_the_routes_the_api_serves(app, spec):
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = rule.rule.removeprefix("/api/v1").replace("<int:row_id>", "{row_id}")
            served |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in spec["paths"].items()
                  for method in item if method != "parameters"}
    assert served == documented
    Draft202012Validator.check_schema(spec["components"]["schemas"]["Lesson"])


def test_openapi_follows_the_configured_categories(backend, make_app, monkeypatch):
    monkeypatch.setenv("LESSONS_CATEGORIES", '["safety", "security"]')
    app = make_app(DATABASE_URL=backend.url)
    client = signed_in(app)
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["LessonInput"]
    assert schema["properties"]["category"]["anyOf"][0]["enum"] == ["safety", "security"]
    refused = post(client, "/api/v1/lessons", {"title": "t", "what_happened": "w",
                                               "category": "cost"})
    assert refused.status_code == 422 and "category" in refused.get_json()["fields"]


def test_a_repeated_project_name_with_non_ascii_capitals_is_invalid_not_a_clash(client):
    assert post(client, "/api/v1/projects", {"name": "Ärger"}).status_code == 201
    again = post(client, "/api/v1/projects", {"name": "Ärger"})
    assert again.status_code == 422 and "name" in again.get_json()["fields"]


@pytest.mark.parametrize("path", ["/api/v1/themes/runs/{}", "/themes/{}", "/themes/runs/{}",
                                  "/api/v1/lessons/{}", "/import/{}"])
def test_an_id_too_large_for_the_database_is_404(client, path):
    assert client.get(path.format(2**63)).status_code == 404
