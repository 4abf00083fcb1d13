"""Backups and restores of the whole database, consistent while the app keeps running.

SQLite is copied page by page through its online backup API, never as a
file (a copy of a live file can catch a write half-way). PostgreSQL goes
through pg_dump's custom format.

A restore is staged: the backup is loaded somewhere else first (SQLite: a
temp file beside the live database; PostgreSQL: a scratch database on the
same server, dropped afterwards whatever happened), checked, migrated up to
this code and given its new identity there (`prepare_staged`), and only then
put in place of the live data in one transaction, so a bad backup is refused
in one line with the live database untouched. SQLite copies the staged file
over the live one; PostgreSQL dumps the scratch database and psql loads that
dump in one transaction after dropping every table of the app, so no table
the staged schema lacks stays behind. Every restore gives the database a new
identity (`DatabaseIdentity`): no index snapshot made before it is trusted.
"""

import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from lessons.db import head_revision, make_engine, normalise_url, renew_identity, upgrade
from lessons.errors import LessonsError
from lessons.models import Base


class BackupError(LessonsError):
    """A backup or a restore that cannot be done; `message` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ToolFailed(BackupError):
    """A PostgreSQL client tool ran and refused; `message` holds its own words."""


def backup(url: str, target: Path) -> None:
    """Write a consistent copy of the database at `url` to `target` (a new file)."""
    if target.exists():
        raise BackupError(f"{target} exists already; choose another file.")
    target.parent.mkdir(parents=True, exist_ok=True)
    if is_sqlite(url):
        copy_sqlite(sqlite3.connect(sqlite_path(url)), str(target))
        return
    run_tool("pg_dump", "--format=custom", "--no-owner", f"--file={target}", libpq_url(url))


def restore(url: str, source: Path, engine: Engine) -> None:
    """Replace the database at `url` by the backup in `source`, migrated up to this code."""
    if not source.is_file():
        raise BackupError(f"{source} is not a file.")
    if is_sqlite(url):
        restore_sqlite(sqlite_path(url), source, engine)
    else:
        restore_postgresql(url, source, engine)


@contextmanager
def judged(source: Path) -> Iterator[None]:
    """Turn whatever a staged backup fails with into one line naming it: it is not sound."""
    try:
        yield
    except ToolFailed as error:
        raise BackupError(f"{source} is not a Lessons backup, or is damaged: "
                          f"{error.message}") from None
    except BackupError:
        raise
    except Exception as error:  # a damaged backup can fail anywhere
        reason = str(getattr(error, "orig", None) or error)  # the driver's words, no SQL
        reason = (reason.strip().splitlines() or [type(error).__name__])[0]
        raise BackupError(f"{source} is not a Lessons backup, or is damaged: "
                          f"{reason}") from None


def prepare_staged(engine: Engine, source: Path) -> None:
    """Migrate the staged backup up to this code, check that it holds every table the app
    needs, and give it a new identity."""
    upgrade(engine)
    missing = sorted(set(Base.metadata.tables) - set(inspect(engine).get_table_names()))
    if missing:
        raise BackupError(f"{source} is not a Lessons backup: it lacks {len(missing)} of "
                          f"its tables ({', '.join(missing[:3])}{', …' * (len(missing) > 3)}).")
    with engine.begin() as connection:
        renew_identity(connection)


def restore_postgresql(url: str, source: Path, engine: Engine) -> None:
    """Stage the backup in a scratch database, then load it over the live one in one
    transaction."""
    with tempfile.TemporaryDirectory(prefix="lessons-restore-") as temp:
        checked = Path(temp) / "checked.backup"
        with scratch_database(engine) as scratch:
            with judged(source):
                stage_postgresql(source, scratch)
            run_tool("pg_dump", "--format=custom", "--no-owner", f"--file={checked}",
                     libpq_url(scratch))
        engine.dispose()  # no pooled connection may hold the old tables open
        load_postgresql(url, checked)


def stage_postgresql(source: Path, scratch: str) -> None:
    """Load the backup into the empty database at `scratch`, check it and prepare it."""
    run_tool("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={libpq_url(scratch)}",
             str(source))
    staged = make_engine(scratch)
    try:
        with staged.connect() as connection:
            version = connection.scalar(text("SELECT version_num FROM alembic_version"))
        check_schema_version(source, version)
        prepare_staged(staged, source)
    finally:
        staged.dispose()


@contextmanager
def scratch_database(engine: Engine) -> Iterator[str]:
    """The URL of a new empty database beside `engine`'s, dropped when done whatever happens."""
    name = f"lessons_restore_{uuid.uuid4().hex[:12]}"
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except DBAPIError as error:  # e.g. a role without CREATEDB
        reason = (str(error.orig).strip().splitlines() or ["no reason given"])[0]
        raise BackupError(f"Could not create a scratch database to check the backup in: "
                          f"{reason}") from None
    try:
        yield engine.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def load_postgresql(url: str, checked: Path) -> None:
    """Drop the app's tables and load a checked dump in their place, in one transaction."""
    with tempfile.TemporaryDirectory(prefix="lessons-restore-") as temp:
        script = Path(temp) / "backup.sql"
        # pg_restore --clean drops only what the dump holds: a table added by a later
        # migration would stay, and its foreign keys would block dropping the old ones.
        # A file, not a pipe: a damaged dump must fail here, before psql could commit
        # the part of it that was read.
        run_tool("pg_restore", "--clean", "--if-exists", "--no-owner", f"--file={script}",
                 str(checked))
        run_tool("psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1",
                 "--single-transaction", f"--command={drop_app_tables()}", f"--file={script}",
                 f"--dbname={libpq_url(url)}")


def drop_app_tables() -> str:
    """SQL that drops every table the app owns, and whatever depends on them."""
    tables = ", ".join(f'"{name}"' for name in [*Base.metadata.tables, "alembic_version"])
    return f"DROP TABLE IF EXISTS {tables} CASCADE"


def restore_sqlite(live: str, source: Path, engine: Engine) -> None:
    """Stage the backup beside the live database, then copy it over in one transaction."""
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=Path(live).resolve().parent) as temp:
        staged = Path(temp) / "staged.db"
        with judged(source):
            stage_sqlite(source, staged)
        engine.dispose()  # no pooled connection may hold the old tables open
        # Not a rename: the live database's WAL file would then be replayed over the new one.
        # The backup API writes the whole copy in one transaction through the live database's
        # own journal: a reader, or a crash, sees the old database or the new, never a mix.
        copy_sqlite(sqlite3.connect(staged), live)


def stage_sqlite(source: Path, staged: Path) -> None:
    """Copy the backup to `staged`, check it, migrate it and give it a new identity."""
    # Opened read-only through a file: URI with its path quoted: a "#" or "?" in the path
    # would otherwise end it, and the check would open some other file.
    copy_sqlite(sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True), str(staged))
    check_sqlite_backup(source, staged)
    engine = make_engine(URL.create("sqlite", database=str(staged)).render_as_string())
    try:
        prepare_staged(engine, source)
    finally:
        engine.dispose()


def copy_sqlite(origin: sqlite3.Connection, target: str) -> None:
    """Copy an open SQLite database into another, page by page, through the backup API."""
    with closing(origin), closing(sqlite3.connect(target)) as copy:
        origin.backup(copy)


def check_sqlite_backup(source: Path, staged: Path) -> None:
    """Refuse anything but an intact Lessons database no newer than this code."""
    try:
        with closing(sqlite3.connect(staged)) as connection:
            if connection.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{source} is damaged (SQLite's integrity check failed).")
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{source} is not a Lessons backup: {error}.") from None
    check_schema_version(source, None if row is None else row[0])


def check_schema_version(source: Path, version: str | None) -> None:
    """Refuse a backup with no schema version, or one newer than this code."""
    if version is None:
        raise BackupError(f"{source} is not a Lessons backup: it has no schema version.")
    if version > head_revision():
        raise BackupError(f"{source} comes from a newer version of Lessons (schema {version}); "
                          "upgrade Lessons first.")


def is_sqlite(url: str) -> bool:
    """Whether `url` names a SQLite database."""
    return normalise_url(url).startswith("sqlite")


def sqlite_path(url: str) -> str:
    """The file behind a sqlite:/// URL."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("An in-memory database cannot be backed up or restored.")
    return database


def libpq_url(url: str) -> str:
    """The URL as pg_dump and pg_restore read it (no SQLAlchemy driver name)."""
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(
        hide_password=False)


def run_tool(name: str, *args: str) -> None:
    """Run a PostgreSQL client tool, or say clearly why it could not run."""
    if shutil.which(name) is None:
        raise BackupError(f"{name} is not installed; install PostgreSQL's client tools "
                          "(Debian: postgresql-client).")
    result = subprocess.run([name, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolFailed(f"{name} failed: {tool_error(result.stderr)}")


def tool_error(stderr: str) -> str:
    """The line of a tool's output that says what went wrong (its first, if none says)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()] or ["no reason given"]
    return next((line for line in lines if "error:" in line.lower()), lines[0])
