"""Database engines, migrations and identity, the same way for the app, the CLI and the tests.

A database's identity (`DatabaseIdentity`) is a random value renewed by every restore:
the search engine reads it on every start and trusts no index snapshot made for another.
"""

import uuid
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, delete, event, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from lessons.models import DatabaseIdentity

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for a plain postgres:// or postgresql:// URL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets foreign keys, WAL and a busy timeout."""
    url = normalise_url(url)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def safe_url(url: str) -> str:
    """The URL with its password hidden, for logs and `lessons status`."""
    return make_url(normalise_url(url)).render_as_string(hide_password=True)


# Keyword search lives outside the models (FTS5 on SQLite, a tsvector column on
# PostgreSQL); comparing the models with the database leaves these out.
SEARCH_ONLY = ("lessons_fts", "search_vector", "ix_lessons_search_vector")


def include_object(_object: Any, name: str | None, _type: str, _reflected: bool,
                   _compare_to: Any) -> bool:
    """Alembic's filter: everything but the keyword-search objects."""
    return not (name or "").startswith(SEARCH_ONLY)


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that migrates through `engine`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision`."""
    command.upgrade(alembic_config(engine), revision)


def head_revision() -> str:
    """The newest migration revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:
        raise RuntimeError(f"No migration found in {MIGRATIONS}.")
    return head


def schema_state(engine: Engine) -> tuple[str | None, str | None]:
    """The revision the database is at, and the newest one there is."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, head_revision()


def renew_identity(connection: Connection) -> None:
    """Give the database a new random identity: what was made for it before is not trusted."""
    connection.execute(delete(DatabaseIdentity))
    connection.execute(insert(DatabaseIdentity).values(id=1, value=uuid.uuid4().hex))


def insert_or(session: Session) -> Any:
    """The `insert()` of the session's database dialect, which says what to do on a conflict
    (`on_conflict_do_nothing`, `on_conflict_do_update`): PostgreSQL's or SQLite's."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def database_identity(session: Session) -> str:
    """The database's identity, given one first if it has none (its row deleted by hand);
    the caller commits."""
    query = select(DatabaseIdentity.value).where(DatabaseIdentity.id == 1)
    if (value := session.scalar(query)) is None:
        session.execute(insert_or(session)(DatabaseIdentity).values(id=1, value=uuid.uuid4().hex)
                        .on_conflict_do_nothing())  # another process may give it one first
        value = session.scalar(query)
        assert value is not None  # inserted just now, by this session or another
    return value
