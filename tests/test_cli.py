"""The `lessons` command line, through the app's CLI runner and as the installed script."""

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from lessons.db import safe_url, schema_state

LESSONS = Path(sys.executable).with_name("lessons")


def test_db_upgrade_reports_the_revision(runner, backend):
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"is at revision {schema_state(backend.engine)[1]}." in result.output


def test_demo_loads_once(runner, client):
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("Loaded ")
    again = runner.invoke(args=["demo", "load"])
    assert again.output.strip() == "Demo data already loaded; nothing added."
    total = client.get("/api/v1/lessons?per_page=1").get_json()["total"]
    assert total >= 150
    # The PMO pages have themes at once: every demo lesson is in one.
    themes = client.get("/api/v1/themes").get_json()["items"]
    assert "Grouped the lessons into" in first.output and len(themes) >= 5
    assert sum(theme["size"] for theme in themes) == total


def test_status_counts_and_hides_the_password(backend, make_app):
    url = backend.url
    if backend.name == "postgresql":
        # Trust authentication ignores the password, so it can be shown to be hidden.
        url = make_url(url).set(password="s3cret-pw").render_as_string(hide_password=False)
    app = make_app(DATABASE_URL=url)
    with app.app_context():  # written without the web, so no index is built
        from lessons.services import create_lesson
        from web.database import db
        create_lesson(db.session, {"title": "t", "what_happened": "w"}, actor="t")
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["status"])
    assert result.exit_code == 0, result.output
    assert "s3cret-pw" not in result.output
    head = schema_state(backend.engine)[1]
    assert "lessons: 1\n" in result.output and f"schema: {head} (newest: {head})" in result.output
    assert "embedding model: all-MiniLM-L6-v2" in result.output
    assert "index: not built (no snapshot yet)" in result.output


def test_safe_url_hides_passwords():
    assert safe_url("postgres://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"


def test_run_refuses_an_unmigrated_database(make_app):
    app = make_app()  # the default database: a new SQLite file in the instance folder
    result = app.test_cli_runner().invoke(args=["run", "--port", "5999"])
    assert result.exit_code != 0
    assert "lessons db upgrade" in result.output


def test_the_installed_script_sets_up_a_fresh_instance(tmp_path):
    env = {**os.environ, "LESSONS_INSTANCE_PATH": str(tmp_path / "inst")}
    env.pop("LESSONS_DATABASE_URL", None)
    for args in (["db", "upgrade"], ["status"]):
        done = subprocess.run([str(LESSONS), *args], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "inst" / "lessons.db").exists()
    assert "lessons: 0" in done.stdout
    assert oct((tmp_path / "inst" / "secret_key").stat().st_mode)[-3:] == "600"


def test_a_command_starts_without_what_only_clustering_and_encoding_need():
    """scikit-learn, scipy and torch load in the commands that cluster or encode, not in every
    command: at the top of their modules they made `lessons --help` take 2.5 s (1.3 s now)."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, web.cli; print(*sorted(sys.modules))"],
        capture_output=True, text=True, timeout=120, check=True).stdout.split()
    heavy = {"sklearn", "scipy", "torch", "sentence_transformers", "onnxruntime"}
    assert sorted(heavy & set(loaded)) == []
