"""Backup and restore: a consistent copy of a live database, restored into a fresh instance."""

import uuid
from collections.abc import Iterator

import pytest
from conftest import POSTGRES_ADMIN_URL, signed_in
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from lessons.backup import backup
from lessons.db import make_engine, schema_state, upgrade
from lessons.models import Base

LESSONS = [
    ("Road closure permit requested too late", "The council needed eight weeks."),
    ("User acceptance testing squeezed", "UAT shrank from six weeks to five days."),
    ("Only one engineer knew the deployment", "She left and releases stalled."),
]


@pytest.fixture
def fresh_url(backend, tmp_path) -> Iterator[str]:
    """An empty database of the backend's kind, for the restored instance."""
    if backend.name == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"lessons_fresh_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(backend.url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_backup_restored_into_a_fresh_instance_finds_every_lesson(
        app, client, runner, make_app, fresh_url, tmp_path, monkeypatch):
    ids = [client.post("/api/v1/lessons", json={"title": t, "what_happened": w}).get_json()["id"]
           for t, w in LESSONS]
    target = tmp_path / "backups" / "lessons.backup"
    made = runner.invoke(args=["backup", "--output", str(target)])
    assert made.exit_code == 0, made.output
    again = runner.invoke(args=["backup", "--output", str(target)])
    assert again.exit_code != 0 and "exists already" in again.output

    monkeypatch.setenv("LESSONS_INSTANCE_PATH", str(tmp_path / "fresh-instance"))
    fresh = make_app(DATABASE_URL=fresh_url)
    restored = fresh.test_cli_runner().invoke(args=["restore", str(target), "--yes"])
    assert restored.exit_code == 0, restored.output
    assert "index rebuilt" in restored.output
    fresh_client = signed_in(fresh)
    for lesson_id, (title, _) in zip(ids, LESSONS, strict=True):
        hits = fresh_client.get("/api/v1/search", query_string={"q": title}).get_json()["items"]
        assert hits[0]["id"] == lesson_id


def test_restore_refuses_what_is_not_a_lessons_backup(client, runner, tmp_path):
    client.post("/api/v1/lessons", json={"title": "Kept", "what_happened": "Still here."})
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database")
    result = runner.invoke(args=["restore", str(junk), "--yes"])
    assert result.exit_code != 0 and "not a Lessons backup" in result.output
    assert client.get("/api/v1/lessons").get_json()["total"] == 1  # nothing touched


def test_a_backup_from_an_older_schema_replaces_a_newer_database_and_is_migrated_to_head(
        backend, app, client, runner, fresh_url, tmp_path):
    if backend.name != "postgresql":
        pytest.skip("a SQLite restore replaces the whole file; pg_restore only its own tables")
    # The backup: a database at 0008, before theme_vectors (whose foreign key points at
    # lessons) and database_identity existed.
    old = make_engine(fresh_url)
    upgrade(old, "0008")
    with old.begin() as connection:
        connection.execute(text(
            "INSERT INTO lessons (title, what_happened, kind, severity, created_at, updated_at) "
            "VALUES ('Permit asked for too late', 'Eight weeks, not two.', 'went_wrong', "
            "'high', now(), now())"))
    old.dispose()
    source = tmp_path / "old.backup"
    backup(fresh_url, source)
    client.post("/api/v1/lessons", json={"title": "Written at head", "what_happened": "Gone."})

    result = runner.invoke(args=["restore", str(source), "--yes"])
    assert result.exit_code == 0, result.output
    lessons = signed_in(app).get("/api/v1/lessons").get_json()["items"]  # accounts replaced too
    assert [lesson["title"] for lesson in lessons] == ["Permit asked for too late"]
    current, head = schema_state(backend.engine)
    assert current == head
    assert set(Base.metadata.tables) <= set(inspect(backend.engine).get_table_names())
