"""Backups and restores of the whole database, consistent while the app keeps running.

SQLite is copied page by page through its online backup API, never as a
file (a copy of a live file can catch a write half-way). PostgreSQL goes
through pg_dump's custom format and pg_restore. A restore checks the file
before it touches anything, and migrates it up if it is older than the code.
"""

import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from lessons.db import head_revision, normalise_url, upgrade
from lessons.errors import LessonsError


class BackupError(LessonsError):
    """A backup or a restore that cannot be done; `message` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def backup(url: str, target: Path) -> None:
    """Write a consistent copy of the database at `url` to `target` (a new file)."""
    if target.exists():
        raise BackupError(f"{target} exists already; choose another file.")
    target.parent.mkdir(parents=True, exist_ok=True)
    if is_sqlite(url):
        copy_sqlite(sqlite_path(url), str(target))
        return
    run_tool("pg_dump", "--format=custom", "--no-owner", f"--file={target}", libpq_url(url))


def restore(url: str, source: Path, engine: Engine) -> None:
    """Replace the database at `url` by the backup in `source`, then migrate it to the head."""
    if not source.is_file():
        raise BackupError(f"{source} is not a file.")
    if is_sqlite(url):
        check_sqlite_backup(source)
    engine.dispose()  # no pooled connection may hold the old tables open
    if is_sqlite(url):
        copy_sqlite(str(source), sqlite_path(url))
    else:
        run_tool("pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
                 f"--dbname={libpq_url(url)}", str(source))
    upgrade(engine)


def copy_sqlite(source: str, target: str) -> None:
    """Copy one SQLite database into another, page by page, through the backup API."""
    with closing(sqlite3.connect(source)) as origin, closing(sqlite3.connect(target)) as copy:
        origin.backup(copy)


def check_sqlite_backup(source: Path) -> None:
    """Refuse anything but an intact Lessons database no newer than this code."""
    try:
        with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as connection:
            if connection.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{source} is damaged (SQLite's integrity check failed).")
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{source} is not a Lessons backup: {error}.") from None
    if row is None:
        raise BackupError(f"{source} is not a Lessons backup: it has no schema version.")
    if row[0] > head_revision():
        raise BackupError(f"{source} comes from a newer version of Lessons (schema {row[0]}); "
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
        raise BackupError(f"{name} failed: {result.stderr.strip()}")
