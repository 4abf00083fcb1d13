"""Fixtures: every test runs once on SQLite and once on PostgreSQL.

Each backend gets one freshly migrated database per test session (PostgreSQL:
a throwaway database created and dropped around the run); every table is
emptied after each test, so tests never see each other's rows.
"""

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import waitress
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from lessons.db import make_engine, upgrade
from lessons.models import Base, User
from lessons.services.users import create_token, create_user, start_session
from web import create_app
from web.database import db as app_db

POSTGRES_ADMIN_URL = os.environ.get(
    "LESSONS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI") == "true"


@dataclass
class Backend:
    name: str
    url: str
    engine: Engine


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_database(request, tmp_path_factory) -> Iterator[Backend]:
    """A migrated database of each kind, for the whole session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'lessons.db'}"
        engine = make_engine(url)
        upgrade(engine)
        yield Backend("sqlite", url, engine)
        engine.dispose()
        return
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except OperationalError as error:
        admin.dispose()
        message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    name = f"lessons_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield Backend("postgresql", url, engine)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def empty_tables(backend: Backend) -> None:
    """Delete every row, so the next test starts from an empty database."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with backend.engine.begin() as connection:
        if backend.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def backend(migrated_database) -> Iterator[Backend]:
    """The session's database of one kind, emptied after the test."""
    yield migrated_database
    empty_tables(migrated_database)


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    """Build apps with extra config; their connections are closed after the test."""
    monkeypatch.setenv("LESSONS_INSTANCE_PATH", str(tmp_path / "instance"))
    apps = []

    def make(**config):
        apps.append(create_app({"TESTING": True, **config}))
        return apps[-1]

    yield make
    for app in apps:
        with app.app_context():
            app_db.engine.dispose()


@pytest.fixture
def app(backend, make_app):
    """An app on the backend's database, with its own instance folder."""
    return make_app(DATABASE_URL=backend.url)


TEST_PASSWORD = "correct horse battery"


def make_user(app, role: str = "admin", email: str | None = None, **fields) -> int:
    """An account in the app's database; its id."""
    with app.app_context():
        user = create_user(app_db.session, email or f"{role}-{uuid.uuid4().hex[:8]}@example.org",
                           role, TEST_PASSWORD, **fields)
        app_db.session.commit()
        return user.id


def signed_in(app, role: str = "admin", email: str | None = None, **fields):
    """A test client signed in as a new account of `role`, sending its CSRF token as the
    pages do (in the X-CSRF-Token header), so tests read like a signed-in browser."""
    client = app.test_client()
    user_id = make_user(app, role, email, **fields)
    with app.app_context():
        secret = start_session(app_db.session, app_db.session.get(User, user_id))
        app_db.session.commit()
    token = uuid.uuid4().hex
    with client.session_transaction() as cookie:
        cookie["sid"], cookie["csrf"] = secret, token
    client.environ_base["HTTP_X_CSRF_TOKEN"] = token
    client.user_id = user_id
    return client


def api_token(app, role: str = "admin", scope: str = "write") -> str:
    """The secret of a new API token of a new account of `role`."""
    user_id = make_user(app, role)
    with app.app_context():
        _, secret = create_token(app_db.session, app_db.session.get(User, user_id), scope)
        app_db.session.commit()
    return secret


@contextmanager
def served(app, threads: int = 4) -> Iterator[str]:
    """The app served for real by waitress on a free port: its base URL, until the block ends."""
    # poll(), not select(): closing the server while its loop waits in select() fails that
    # thread with EBADF, and pytest then fails whichever test runs next.
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads,
                                    asyncore_use_poll=True)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Handler threads first: a response's last step writes to the trigger close() closes.
        server.task_dispatcher.shutdown()
        server.close()
        # The loop ends once its clients' connections are gone.
        thread.join(timeout=30)
    assert not thread.is_alive(), "the waitress thread did not stop"


@pytest.fixture
def client(app):
    """A client signed in as an admin (tests of roles and signing in make their own)."""
    return signed_in(app)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    """The app's database session, inside an app context."""
    with app.app_context():
        yield app_db.session


SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, the real public data sets (never copied into the repo)."""
    if not SHARED_DATA.is_dir():
        message = f"{SHARED_DATA} is missing"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DATA
