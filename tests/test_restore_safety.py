"""A restore never harms the live database, and no index snapshot outlives the database it
was made for: bad backups are refused in one line with nothing touched, and a snapshot made
before a restore is rebuilt even when the restore was cut short before its own rebuild."""

import sqlite3
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from conftest import signed_in
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url
from test_backup import fresh_url  # noqa: F401 - a fixture: an empty database of the backend's kind
from test_index_robustness import count_rebuilds

import lessons.backup
from lessons.backup import backup, restore
from lessons.db import head_revision, make_engine, upgrade
from lessons.models import Lesson
from search.engine import SearchEngine
from search.retrieve import search
from web.database import db
from web.engine import engine

TOPICS = [
    ("Vendor lock-in on the billing platform", "We could not export our own invoices."),
    ("Testing squeezed before go-live", "UAT lost four of its six weeks to late builds."),
    ("Key engineer left mid-project", "Nobody else knew the deployment scripts."),
]
OTHER = [
    ("Crane licence applied for too late", "The permit took nine weeks, not two."),
    ("Nurses rejected the ward layout", "They saw the design only at handover."),
    ("Interpreters not booked", "Residents could not follow the public meeting."),
    ("Budget cut halfway", "Finance removed a third of the money in month four."),
    ("Scaffold moved in a storm", "Nobody inspected it before the high winds."),
    ("Data migration ran over", "Legacy records had three date formats."),
]


def live_state(app) -> tuple[list[str], str, list[str]]:
    """What a restore must leave alone when it refuses: the rows, the schema version, the tables."""
    with app.app_context():
        titles = sorted(db.session.scalars(select(Lesson.title)))
        version = db.session.scalar(text("SELECT version_num FROM alembic_version"))
        tables = sorted(inspect(db.engine).get_table_names())
        db.session.close()
    return titles, version, tables


def sqlite_file(path: Path, *statements: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as connection:
        for statement in statements:
            connection.execute(statement)
        connection.commit()
    return path


def stub_backup(url: str, version: str, target: Path) -> Path:
    """A backup (the backend's own kind) of the empty database at `url` given only a schema
    version: what the migrations keep, and no table of the app."""
    stub = make_engine(url)
    with stub.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        connection.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": version})
    stub.dispose()
    backup(url, target)
    return target


def bad_backup(kind: str, good: Path, folder: Path, empty_url: str) -> Path:
    """A file someone might hand to `lessons restore` that must be refused."""
    if kind == "schema-version-but-no-tables":
        return stub_backup(empty_url, "0001", folder / "stub.backup")
    if kind == "at-head-but-no-tables":
        return stub_backup(empty_url, head_revision(), folder / "stub.backup")
    if kind == "not-a-backup":
        (folder / "notes.txt").write_text("Minutes of the kickoff: nothing to restore here.\n")
        return folder / "notes.txt"
    if kind == "hash-in-its-path":
        # "file:{path}" would end at the "#": the good backup beside it would be checked instead.
        return sqlite_file(Path(f"{good}#old"), "CREATE TABLE notes (body TEXT)")
    if kind == "bit-flipped-version":
        flipped = folder / "flipped.db"
        flipped.write_bytes(good.read_bytes())
        # The top bit of the version's first digit: "0" (0x30) becomes 0xB0, not UTF-8.
        return sqlite_file(flipped, "UPDATE alembic_version SET version_num = "
                                    "CAST(X'B0' || substr(version_num, 2) AS TEXT)")
    data = good.read_bytes()  # truncated mid-way
    (folder / "cut.db").write_bytes(data[: len(data) // 2])
    return folder / "cut.db"


def log_topics(client) -> None:
    """The lessons a backup will hold."""
    for title, body in TOPICS:
        client.post("/api/v1/lessons", json={"title": title, "what_happened": body})


@pytest.fixture
def scratch_databases(monkeypatch) -> list[str]:
    """The names of the scratch databases a PostgreSQL restore staged its backup in."""
    made: list[str] = []
    staged_in = lessons.backup.scratch_database

    @contextmanager
    def recorded(engine):
        with staged_in(engine) as url:
            made.append(make_url(url).database)
            yield url

    monkeypatch.setattr(lessons.backup, "scratch_database", recorded)
    return made


def leftovers(backend, app, scratch: list[str]) -> list[str]:
    """What a restore left behind: temp folders beside a SQLite file, scratch databases."""
    if backend.name == "sqlite":
        folder = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///")).parent
        return [path.name for path in folder.glob(".restore-*")]
    assert len(scratch) == 1  # the backup was loaded into a scratch database first
    with backend.engine.connect() as connection:
        return list(connection.scalars(text("SELECT datname FROM pg_database WHERE datname = "
                                            "ANY(:names)"), {"names": scratch}))


@pytest.mark.parametrize("kind", ["schema-version-but-no-tables", "at-head-but-no-tables",
                                  "not-a-backup", "truncated", "hash-in-its-path",
                                  "bit-flipped-version"])
def test_a_bad_backup_is_refused_in_one_line_and_the_live_database_is_untouched(
        backend, app, client, runner, tmp_path, fresh_url, scratch_databases, kind):  # noqa: F811
    if backend.name != "sqlite" and kind in ("hash-in-its-path", "bit-flipped-version"):
        pytest.skip("SQLite files: pg_restore reads its file itself and checks its own format")
    log_topics(client)
    good = tmp_path / "backups" / "lessons.backup"
    assert runner.invoke(args=["backup", "--output", str(good)]).exit_code == 0
    before = live_state(app)
    source = bad_backup(kind, good, tmp_path / "backups", fresh_url)

    result = runner.invoke(args=["restore", str(source), "--yes"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and str(source) in lines[0], lines
    assert live_state(app) == before
    assert leftovers(backend, app, scratch_databases) == []


def test_a_good_backup_whose_path_holds_a_hash_is_restored(backend, app, client, runner,
                                                           tmp_path, scratch_databases):
    log_topics(client)
    source = tmp_path / "backups #2" / "lessons?.backup"
    assert runner.invoke(args=["backup", "--output", str(source)]).exit_code == 0
    client.post("/api/v1/lessons", json={"title": "Written after the backup",
                                         "what_happened": "Gone once the backup is back."})
    result = runner.invoke(args=["restore", str(source), "--yes"])
    assert result.exit_code == 0, result.output
    assert live_state(app)[0] == sorted(title for title, _ in TOPICS)
    assert leftovers(backend, app, scratch_databases) == []


def test_a_restore_cut_short_before_its_rebuild_leaves_no_snapshot_trusted(
        app, client, make_app, fresh_url, tmp_path, monkeypatch):  # noqa: F811
    # The backup: other lessons, and a longer change log than the live database's.
    for title, body in OTHER:
        client.post("/api/v1/lessons", json={"title": title, "what_happened": body})
    target = tmp_path / "other.backup"
    backup(app.config["DATABASE_URL"], target)

    # The live instance: its own lessons, its index snapshotted.
    migrate = make_engine(fresh_url)
    upgrade(migrate)
    migrate.dispose()
    monkeypatch.setenv("LESSONS_INSTANCE_PATH", str(tmp_path / "live-instance"))
    live = make_app(DATABASE_URL=fresh_url)
    live_client = signed_in(live)
    for title, body in TOPICS:
        live_client.post("/api/v1/lessons", json={"title": title, "what_happened": body})
    with live.app_context():
        old = engine().ready()
        old.snapshot()
        restore(fresh_url, target, db.engine)  # copied in; the process dies before the rebuild

    rebuilds = count_rebuilds(monkeypatch)
    restarted = SearchEngine(old.sessions, old.folder, old.model).ready()  # the next start
    assert rebuilds == [1]
    with live.app_context():
        hits = search(restarted, db.session, "the permit came late", limit=1).hits
        assert hits[0].lesson.title == OTHER[0][0]
