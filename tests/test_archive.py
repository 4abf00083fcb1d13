"""Exports: the lossless JSON archive round trip into a fresh instance, and the CSV of the list."""

import csv
import hashlib
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import POSTGRES_ADMIN_URL
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from lessons.db import head_revision
from lessons.errors import ValidationError
from lessons.exports.archive import read_archive
from lessons.exports.restore import load_archive
from lessons.models import Change, Lesson
from lessons.services import (
    create_action,
    create_lesson,
    create_project,
    decide,
    delete_lesson,
    delete_project,
    record_occurrence,
    update_action,
    update_lesson,
)
from search.retrieve import search
from web.database import db
from web.engine import engine

CRANE = "Crane operator licence lapsed in the middle of a heavy lift"


def build_content(session: Session) -> dict[str, int]:
    """Every kind of row an archive holds, written through the services."""
    harbour = create_project(session, {
        "name": "Harbour works", "tags": "civil, port", "start_date": "2023-01-09",
        "end_date": "2024-03-31", "status": "completed", "phase": "closure", "team_size": 12})
    ring = create_project(session, {"name": "Ring road", "sponsor": "Mobility office"})
    crane = create_lesson(session, {
        "title": CRANE, "project_id": harbour.id, "severity": "high", "category": "resourcing",
        "what_happened": "The lift stopped for nine days while a licensed operator was found.",
        "impact_cost": "12345.67", "impact_days": 9, "tags": "crane, licensing",
        "occurred_on": "2023-06-14", "author": "Ana", "external_id": "HW-7"}, actor="ana")
    update_lesson(session, crane.id, {"root_cause": "Nobody tracked licence expiry dates."},
                  actor="ben")
    create_action(session, {"lesson_id": crane.id, "description": "Track licence expiry dates",
                            "owner": "Ben", "due_on": "2024-01-31"})
    done = create_action(session, {"lesson_id": crane.id, "description": "Renew the licence"})
    update_action(session, done.id, {"status": "done"})
    record_occurrence(session, crane.id, {"project_id": ring.id, "occurred_on": "2024-02-02",
                                          "note": "Same gap on the bridge lift."}, actor="cara")
    decide(session, ring.id, {"lesson_id": crane.id, "decision": "applied",
                              "note": "Licences added to the site checklist."}, actor="cara")
    formula = create_lesson(session, {
        "title": "=1+1", "severity": "low",
        "what_happened": "Zürich façade — 東京 «naïve» ✓, and a cost cell that looked like a sum."},
        actor="dora")
    gone = create_lesson(session, {"title": "Written by mistake", "what_happened": "Twice."},
                         actor="dora")
    delete_lesson(session, gone.id)
    delete_project(session, ring.id)
    session.commit()
    return {"crane": crane.id, "formula": formula.id, "gone": gone.id}


def export(runner: FlaskCliRunner, path: Path, file_format: str = "json") -> str:
    """Export with the CLI; what it printed."""
    result = runner.invoke(args=["export", "--format", file_format, "--output", str(path)])
    assert result.exit_code == 0, result.output
    return result.output


def digest(path: Path) -> str:
    """A hash of an archive's content, leaving out when it was made."""
    document = json.loads(path.read_text(encoding="utf-8"))
    document.pop("exported_at")
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


@pytest.fixture
def fresh(app, backend, make_app, tmp_path, monkeypatch) -> Iterator[Flask]:
    """A second instance (made after `app`), with its own empty, migrated database."""
    admin, name = None, f"lessons_fresh_{uuid.uuid4().hex[:12]}"
    if backend.name == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(backend.url).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("LESSONS_INSTANCE_PATH", str(tmp_path / "fresh-instance"))
    fresh_app = make_app(DATABASE_URL=url)
    upgraded = fresh_app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    yield fresh_app
    if admin is not None:
        with fresh_app.app_context():
            db.engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_an_archive_loaded_into_an_empty_instance_exports_the_same(app, runner, fresh, tmp_path):
    with app.app_context():
        ids = build_content(db.session)
    first = tmp_path / "first.json"
    assert export(runner, first) == f"Exported 3 lessons to {first}\n"
    document = read_archive(first)
    crane = next(lesson for lesson in document["lessons"] if lesson["id"] == ids["crane"])
    assert crane["impact_cost"] == "12345.67" and len(crane["revisions"]) == 2
    assert [a["status"] for a in crane["actions"]] == ["open", "done"]
    assert crane["actions"][1]["closed_at"] and crane["occurrences"][0]["note"]

    with fresh.app_context():
        report = load_archive(db.session, document, actor="test")
    assert report.created == {"project": 2, "lesson": 3, "decision": 1}, report.rejected
    assert not report.rejected
    export(fresh.test_cli_runner(), tmp_path / "second.json")
    assert digest(tmp_path / "second.json") == digest(first)

    with fresh.app_context():
        again = load_archive(db.session, read_archive(first), actor="test")
        assert not again.created and not again.rejected and again.skipped == report.created
        # The loaded lessons are searchable, and later writes get ids of their own.
        hits = search(engine().ready(), db.session, "operator licence lapsed during a lift").hits
        assert hits[0].lesson.id == ids["crane"]
        assert ids["gone"] not in [hit.lesson.id for hit in hits]
        later = create_lesson(db.session, {"title": "Later", "what_happened": "After."}, actor="t")
        db.session.commit()
        assert later.id == max(ids.values()) + 1


def test_an_id_here_with_other_content_is_rejected_and_nothing_changes(app, runner, tmp_path):
    with app.app_context():
        ids = build_content(db.session)
    export(runner, tmp_path / "archive.json")
    document = read_archive(tmp_path / "archive.json")
    with app.app_context():
        update_lesson(db.session, ids["crane"], {"title": "Edited here since"}, actor="eve")
        db.session.commit()
    export(runner, tmp_path / "before.json")
    # A new project whose name is taken here, and a new lesson on it.
    document["projects"].append({**document["projects"][0], "id": 99})
    document["lessons"].append({**document["lessons"][-1], "id": 99, "project_id": 99,
                                "revisions": [], "actions": [], "occurrences": []})
    with app.app_context():
        changes = db.session.scalar(select(func.count()).select_from(Change))
        report = load_archive(db.session, document, actor="test")
        assert db.session.scalar(select(func.count()).select_from(Change)) == changes
    assert report.rejected == [("project 99", "project 1 here is named 'Harbour works'"),
                               ("lesson 1", "exists here with different content"),
                               ("lesson 99", "its project 99 was rejected")]
    assert not report.created and report.skipped == {"project": 2, "lesson": 2, "decision": 1}
    export(runner, tmp_path / "after.json")
    assert digest(tmp_path / "after.json") == digest(tmp_path / "before.json")


def test_the_csv_export_follows_the_list_filters_and_neutralises_formulas(
        app, client, runner, tmp_path):
    with app.app_context():
        build_content(db.session)
    page = client.get("/lessons/").get_data(as_text=True)
    assert 'formaction="/lessons/export.csv"' in page and 'href="/export/archive.json"' in page

    response = client.get("/lessons/export.csv")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="lessons.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["title"] for row in rows] == [CRANE, "'=1+1"]  # the deleted lesson is left out
    assert rows[0]["project"] == "Harbour works" and rows[0]["tags"] == "crane, licensing"
    assert rows[0]["impact_cost"] == "12345.67" and rows[0]["occurred_on"] == "2023-06-14"
    assert "東京" in rows[1]["what_happened"]

    for filters in ("severity=high", "tag=crane", "project_id=1&occurred_from=2023-01-01"):
        found = client.get(f"/lessons/export.csv?{filters}").get_data(as_text=True)
        assert [row["title"] for row in csv.DictReader(io.StringIO(found))] == [CRANE]
    deleted = client.get("/lessons/export.csv?state=deleted").get_data(as_text=True)
    assert [row["title"] for row in csv.DictReader(io.StringIO(deleted))] == ["Written by mistake"]
    assert client.get("/lessons/export.csv?severity=dreadful").status_code == 422
    # The filter form's button, through htmx: the browser is sent to download it itself.
    asked = client.get("/lessons/export.csv?severity=high", headers={"HX-Request": "true"})
    assert asked.status_code == 204 and asked.headers["HX-Redirect"].endswith("?severity=high")

    target = tmp_path / "lessons.csv"
    assert export(runner, target, "csv") == f"Exported 2 lessons to {target}\n"
    assert target.read_bytes() == response.get_data()
    refused = runner.invoke(args=["export", "--format", "csv", "--output", str(target)])
    assert refused.exit_code != 0 and "exists already" in refused.output
    forced = runner.invoke(args=["export", "--format", "json", "--output", str(target), "--force"])
    assert forced.exit_code == 0 and read_archive(target) is not None
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


ROUND_TRIP = [
    {"title": CRANE, "project": "Harbour works", "visibility": "project",
     "what_happened": "The lift stopped for nine days while a licensed operator was found.",
     "root_cause": "Nobody tracked licence expiry dates.", "impact": "Nine idle days.",
     "impact_cost": "12345.67", "impact_days": 9, "recommendation": "Track licence expiry.",
     "category": "resourcing", "phase": "execution", "kind": "went_wrong", "severity": "high",
     "tags": "crane, licensing", "author": "Ana", "occurred_on": "2023-06-14",
     "external_id": "HW-7"},
    {"title": "Tender documents reused from an older road", "project": "Ring road",
     "visibility": "business_unit", "what_happened": "Two bidders priced the wrong junctions.",
     "kind": "risk", "severity": "critical", "category": "vendor & procurement",
     "external_id": "RR-2"},
    {"title": "Weekly site walk with the council", "what_happened": "Permits came in days.",
     "kind": "went_well", "severity": "low"},
]


def test_a_csv_export_imported_with_a_guessed_mapping_keeps_every_field(app, runner, fresh,
                                                                        tmp_path):
    """Lessons' own column names are recognised before any synonym, so its export maps back
    field for field: the title stays the title, and a team-only lesson stays team-only."""
    with app.app_context():
        projects = {name: create_project(db.session, {"name": name, "business_unit": "Civil"}).id
                    for name in ("Harbour works", "Ring road")}
        for values in ROUND_TRIP:
            create_lesson(db.session, {**{k: v for k, v in values.items() if k != "project"},
                                       "project_id": projects.get(values.get("project"))},
                          actor="ana")
        db.session.commit()
        exported = [lesson.as_dict() for lesson in db.session.scalars(
            select(Lesson).order_by(Lesson.title))]
    export(runner, tmp_path / "lessons.csv", "csv")

    shown = fresh.test_cli_runner().invoke(args=["import", str(tmp_path / "lessons.csv"),
                                                 "--show-mapping"])
    fields = json.loads(shown.output)["fields"]
    assert {target: column for target, column in fields.items() if target != column} == {}
    imported = fresh.test_cli_runner().invoke(args=["import", str(tmp_path / "lessons.csv")])
    assert "Created 3 lessons" in imported.output, imported.output
    with fresh.app_context():
        again = [lesson.as_dict() for lesson in db.session.scalars(
            select(Lesson).order_by(Lesson.title))]
    # Ids and times are the new instance's own; the review status is not a field one imports.
    local = ("id", "project_id", "status", "created_at", "updated_at", "deleted_at")
    assert [{k: v for k, v in lesson.items() if k not in local} for lesson in again] == \
        [{k: v for k, v in lesson.items() if k not in local} for lesson in exported]
    assert [lesson["visibility"] for lesson in again] == ["project", "business_unit",
                                                          "organisation"]


def test_the_archive_downloads_as_the_cli_writes_it(app, client, runner, tmp_path):
    with app.app_context():
        build_content(db.session)
    response = client.get("/export/archive.json")
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="lessons-')
    downloaded = tmp_path / "downloaded.json"
    downloaded.write_bytes(response.get_data())
    export(runner, tmp_path / "written.json")
    assert digest(downloaded) == digest(tmp_path / "written.json")


def archive(**changes) -> dict:
    document = {"format": "lessons-archive", "version": 1, "schema": head_revision(),
                "exported_at": "2026-01-01T00:00:00+00:00", "projects": [], "lessons": [],
                "decisions": []}
    return {key: value for key, value in {**document, **changes}.items() if value is not None}


@pytest.mark.parametrize("document, message", [
    (archive(version=2), "not one this version of Lessons reads"),
    (archive(schema="9999"), "comes from a newer version of Lessons; upgrade Lessons first"),
    (archive(lessons=None), "This archive has no lessons list."),
    (archive(lessons=[{"id": 1, "what_happened": "No title."}]),
     "lessons entry 1 lacks actions, created_at, kind"),
])
def test_a_broken_archive_is_refused_with_a_clear_message(document, message, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ValidationError) as refused:
        read_archive(path)
    assert message in refused.value.message


def test_other_json_is_not_an_archive(tmp_path):
    path = tmp_path / "records.json"
    path.write_text(json.dumps([{"title": "A plain record"}]))
    assert read_archive(path) is None
    path.write_text(json.dumps({"format": "something else"}))
    assert read_archive(path) is None
    path.write_text("{not json")
    with pytest.raises(ValidationError, match="not valid JSON"):
        read_archive(path)
