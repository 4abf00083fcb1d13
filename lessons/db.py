"""Database engines and migrations, the same way for the app, the CLI and the tests."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

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


def _sqlite_pragmas(dbapi_connection, _record) -> None:
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


def include_object(_object, name, _type, _reflected, _compare_to) -> bool:
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
    return ScriptDirectory.from_config(config).get_current_head()


def schema_state(engine: Engine) -> tuple[str | None, str | None]:
    """The revision the database is at, and the newest one there is."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, head_revision()
