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
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from lessons.db import make_engine, upgrade
from lessons.models import AuditEvent, Base, User
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


def audit_rows(app, action: str) -> list[AuditEvent]:
    """The audit log's rows of one kind of event, oldest first, detached from the session."""
    with app.app_context():
        rows = list(app_db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                           .order_by(AuditEvent.id)))
        app_db.session.expunge_all()
        return rows


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


# A real browser: Debian's Chromium, driven by Playwright (it cannot download its own here).

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    """Chromium, started once per test worker; skipped without it, except in CI."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing; install Debian's chromium package"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(params=[(1280, 800), (390, 844)], ids=["desktop", "phone"])
def viewport(request):
    """A desktop and a phone: each journey runs at both widths."""
    width, height = request.param
    return {"width": width, "height": height}


def sign_in(page, email: str, heading: str) -> None:
    """Sign in through the sign-in form the page shows, and wait for the page it returns to."""
    from playwright.sync_api import expect

    page.locator("#email").fill(email)
    page.locator("#password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text(heading)


@contextmanager
def signed_in_page(browser, app, viewport, path: str, heading: str) -> Iterator:
    """A page at `viewport`, signed in as a PMO on the app served for this block only, opened
    at `path` (whose h1 is `heading`); the context closes its connections before the server
    stops."""
    make_user(app, "pmo", "pat@example.org")
    with served(app) as url:
        context = browser.new_context(base_url=url, viewport=viewport)
        page = context.new_page()
        page.goto(path)  # signing in first: the form comes back here afterwards
        sign_in(page, "pat@example.org", heading)
        yield page
        context.close()


def console_errors(page) -> list[str]:
    """A list that fills with every console error (htmx logs its errors there) and uncaught
    page error of `page` from now on."""
    errors: list[str] = []
    page.on("console", lambda m: (m.type == "error" or "htmx:" in m.text) and errors.append(
        f"console {m.type}: {m.text} ({m.location['url']})"))
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors
