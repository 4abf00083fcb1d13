"""Fixtures: every test runs once on SQLite and once on PostgreSQL.

Each backend gets one freshly migrated database per test session (PostgreSQL:
a throwaway database created and dropped around the run); every table is
emptied after each test, so tests never see each other's rows.
"""

import contextlib
import functools
import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import waitress
from jinja2.bccache import Bucket, BytecodeCache
from sqlalchemy import Engine, create_engine, delete, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from waitress import wasyncore
from werkzeug.routing import Rule
from werkzeug.security import check_password_hash, generate_password_hash

import web.database
from lessons.actor import Actor
from lessons.db import make_engine, upgrade
from lessons.models import AuditEvent, Base, User
from lessons.services import users as users_service
from lessons.services.users import create_token, create_user, start_session
from search.embedder import (
    BATCH,
    SentenceTransformerEmbedder,
    compute_on_request_threads,
    freeze_heap,
)
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
        # A throwaway database need not survive a crash: a commit then waits for no disk
        # flush (6 ms to 1 ms here), and the suite commits tens of thousands of times.
        connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
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
    """Delete every row, so the next test starts from an empty database.

    On PostgreSQL only the tables holding rows are emptied and only the sequences that
    handed out a number are restarted, as TRUNCATE ... RESTART IDENTITY would: truncating
    all 25 tables after every test cost half a second (a new file per table, synced).
    """
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with backend.engine.begin() as connection:
        if backend.name != "postgresql":
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
            return
        filled = set(connection.scalars(text(" UNION ALL ".join(
            f"SELECT '{table}' WHERE EXISTS (SELECT 1 FROM {table})" for table in tables))))
        for table in tables:  # children before parents
            if table in filled:
                connection.execute(text(f"DELETE FROM {table}"))
        for sequence in connection.scalars(text(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() "
                "AND last_value IS NOT NULL AND sequencename = ANY(:owned)"),
                {"owned": owned_sequences(connection, tuple(tables))}):
            connection.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))


_owned_sequences: dict[tuple[str, ...], list[str]] = {}


def owned_sequences(connection, tables: tuple[str, ...]) -> list[str]:
    """The sequences owned by these tables' columns (ids), which RESTART IDENTITY restarts."""
    if tables not in _owned_sequences:
        _owned_sequences[tables] = list(connection.scalars(text(
            "SELECT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid "
            "JOIN pg_class t ON d.refobjid = t.oid WHERE s.relkind = 'S' "
            "AND d.deptype IN ('a', 'i') AND t.relname = ANY(:tables)"), {"tables": list(tables)}))
    return _owned_sequences[tables]


@pytest.fixture
def backend(migrated_database) -> Iterator[Backend]:
    """The session's database of one kind, emptied after the test."""
    yield migrated_database
    empty_tables(migrated_database)


@pytest.fixture(scope="session", autouse=True)
def remembered_vectors(tmp_path_factory, worker_id) -> Iterator[None]:
    """Each text is encoded once per test run, on one thread.

    The suite encodes the same few texts thousands of times; the model gives a text the
    same vector every time, so the vectors are kept, keyed by model and text: in memory,
    and in a folder the run's test processes share (each encoded about the same 3,600
    texts, 50 s of work apiece). Patched on the class, so a test that wraps
    `type(embedder).encode` still sees every text asked for. Torch computes on the calling
    thread, as a server does (`compute_on_request_threads`): on two cores shared by two
    test processes, torch's default of a thread per core made one encode 7-10 times slower.
    """
    original = SentenceTransformerEmbedder.encode
    vectors: dict[tuple[str, str], np.ndarray] = {}
    # With xdist, the workers' temporary folders sit side by side in this run's own.
    shared = tmp_path_factory.getbasetemp().parent / "vectors" if worker_id != "master" else None
    if shared is not None:
        shared.mkdir(exist_ok=True)

    def remembered(model_id: str, text_: str) -> bool:
        if (model_id, text_) in vectors:
            return True
        if shared is not None:
            with contextlib.suppress(FileNotFoundError):
                vectors[model_id, text_] = np.load(shared / vector_file(model_id, text_))
                return True
        return False

    def remember(model_id: str, text_: str, vector: np.ndarray) -> None:
        vectors[model_id, text_] = vector
        if shared is not None:
            path = shared / vector_file(model_id, text_)
            # A name of its own: two threads of one process may store the same text at once.
            partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.npy")
            np.save(partial, vector)
            os.replace(partial, path)  # whole or absent, for the other process

    def encode(self, texts: Sequence[str], batch_size: int = BATCH) -> np.ndarray:
        new = list(dict.fromkeys(t for t in texts if not remembered(self.model_id, t)))
        if new:
            compute_on_request_threads()
            for text_, vector in zip(new, original(self, new, batch_size), strict=True):
                remember(self.model_id, text_, vector)
        if not texts:
            return original(self, texts, batch_size)
        return np.stack([vectors[self.model_id, t] for t in texts])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SentenceTransformerEmbedder, "encode", encode)
        yield


def vector_file(model_id: str, text_: str) -> str:
    return hashlib.sha256(f"{model_id}\0{text_}".encode()).hexdigest() + ".npy"


@pytest.fixture(scope="session", autouse=True)
def frozen_model() -> Iterator[None]:
    """Once the model is loaded in a test process, what is alive is frozen (`freeze_heap`), as
    `lessons run` does: full collections walked the model's half a million objects, 250 ms
    each, 8% of a typical file's time."""
    original = SentenceTransformerEmbedder.__init__

    def load_then_freeze(self: SentenceTransformerEmbedder, name: str) -> None:
        original(self, name)
        freeze_heap()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SentenceTransformerEmbedder, "__init__", load_then_freeze)
        yield


@pytest.fixture(scope="session", autouse=True)
def remembered_password_hashes() -> Iterator[None]:
    """Each password is hashed once per test process, and each (hash, password) checked once.

    Every signed-in client is a new account with TEST_PASSWORD, and scrypt takes a quarter
    to half a second on purpose. The hashes are still real scrypt hashes (one salt per
    password instead of one per account), and a check gives the answer the real one gave.
    """
    hashes: dict[str, str] = {}

    def generate(password: str, *args, **kwargs) -> str:
        if args or kwargs:  # a caller that picks its own method gets its own hash
            return generate_password_hash(password, *args, **kwargs)
        if password not in hashes:
            hashes[password] = generate_password_hash(password)
        return hashes[password]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users_service, "generate_password_hash", generate)
        patch.setattr(users_service, "check_password_hash",
                      functools.lru_cache(maxsize=None)(check_password_hash))
        yield


@pytest.fixture(scope="session", autouse=True)
def compiled_url_builders() -> Iterator[None]:
    """Each URL rule's builder is compiled once per test process.

    Werkzeug writes Python source for every rule's URL builder and compiles it, twice a
    rule, for every new app: 27 of the 45 ms an app took to build here, and the suite
    builds one per test. A builder depends only on the rule's parts and defaults (it
    reads its converters from the rule it is bound to), so the same rule in the next app
    gets the same function. A Werkzeug that renames the method only loses the speed.
    """
    original = Rule._compile_builder
    builders: dict[tuple[object, ...], Callable[..., tuple[str, str]]] = {}

    def compile_builder(self: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        key = (self.rule, tuple(self._trace), repr(sorted((self.defaults or {}).items())),
               append_unknown)
        if key not in builders:
            builders[key] = original(self, append_unknown)
        return builders[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Rule, "_compile_builder", compile_builder, raising=False)
        yield


@pytest.fixture(scope="session", autouse=True)
def shared_engines() -> Iterator[None]:
    """The apps of one test process share one engine per database URL.

    SQLAlchemy caches each statement's compiled SQL per engine, and the suite builds an app,
    so an engine, per test: compiling every statement again took a quarter of a typical
    test's time. Each app still disposes of the engine's connections when its test ends.
    """
    engines: dict[str, Engine] = {}

    def shared(url: str) -> Engine:
        if url not in engines:
            engines[url] = make_engine(url)
        return engines[url]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(web.database, "make_engine", shared)
        yield
    for engine in engines.values():
        engine.dispose()


class CompiledTemplates(BytecodeCache):
    """Templates compiled once per test process and shared by every app built in it (Jinja
    checks each template's source against its checksum, so an edited one compiles again):
    compiling them again for every test's new app cost about as much as the app itself."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    """Build apps with extra config; their connections are closed after the test."""
    monkeypatch.setenv("LESSONS_INSTANCE_PATH", str(tmp_path / "instance"))
    apps = []

    def make(**config):
        apps.append(create_app({"TESTING": True, **config}))
        apps[-1].jinja_env.bytecode_cache = COMPILED_TEMPLATES
        return apps[-1]

    yield make
    for app in apps:
        with app.app_context():
            app_db.engine.dispose()


@pytest.fixture
def app(backend, make_app):
    """An app on the backend's database, with its own instance folder."""
    return make_app(DATABASE_URL=backend.url)


@contextmanager
def working(app) -> Iterator[None]:
    """The app's queue worked by a thread until the block ends, as `lessons worker` works it
    in production: what a request queued (an import, a theme recompute, a dispatch) runs."""
    queue = app.extensions["lessons.queue"][0]
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            task = queue.dequeue()
            if task is None:
                stop.wait(0.05)
            else:
                queue.execute(task)

    thread = threading.Thread(target=work, name="queue-worker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not thread.is_alive(), "the queue's task did not finish"


@pytest.fixture
def queue_worker(app) -> Iterator[None]:
    """The app's queue worked by a thread for the test (`working`)."""
    with working(app):
        yield


TEST_PASSWORD = "correct horse battery"
# Accounts and tokens a test starts from are set-up, not events: their audit rows are removed,
# so a test that reads the log sees only what it did.
SET_UP = Actor("test set-up")


def forget_set_up(session) -> None:
    session.execute(delete(AuditEvent).where(AuditEvent.actor == SET_UP.name))


def make_user(app, role: str = "admin", email: str | None = None, **fields) -> int:
    """An account in the app's database; its id."""
    with app.app_context():
        user = create_user(app_db.session, email or f"{role}-{uuid.uuid4().hex[:8]}@example.org",
                           role, TEST_PASSWORD, actor=SET_UP, **fields)
        forget_set_up(app_db.session)
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
        _, secret = create_token(app_db.session, app_db.session.get(User, user_id), scope,
                                 actor=SET_UP)
        forget_set_up(app_db.session)
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
        # Then every socket, connections included: a request read after the handler threads
        # stopped waits for one for ever, and the loop runs while its connection is open.
        wasyncore.close_all(server._map)
        thread.join(timeout=30)
    assert not thread.is_alive(), "the waitress thread did not stop"


@pytest.fixture
def client(app):
    """A client signed in as an admin (tests of roles and signing in make their own)."""
    return signed_in(app)


class Api:
    """Set-up through the JSON API as `client`: every call checks that it created something."""

    def __init__(self, client):
        self.client = client

    def post(self, path: str, **body) -> dict:
        """POST `body` to /api/v1/`path`; the record created (a refusal fails, saying why)."""
        response = self.client.post(f"/api/v1/{path}", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def project(self, name: str, **values) -> dict:
        """A new project."""
        return self.post("projects", name=name, **values)

    def lesson(self, title: str, what_happened: str, **values) -> dict:
        """A new lesson (submitted, unless `status` says otherwise)."""
        return self.post("lessons", title=title, what_happened=what_happened, **values)


@pytest.fixture
def api(client) -> Api:
    """Set-up through the API as the admin `client` (other clients: `Api(their_client)`)."""
    return Api(client)


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
    from playwright.sync_api import expect, sync_playwright

    # A page's answer waits behind the other test process on two shared cores (a worker
    # loading the model, say): assertions wait up to 15 s, not Playwright's 5.
    expect.set_options(timeout=15_000)
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


def page_signed_in(browser, url: str, viewport, email: str, path: str, heading: str):
    """A page in a browser context of its own (a person's own browser) at `viewport` on the
    app served at `url`, signed in as `email` and opened at `path` (whose h1 is `heading`).
    Close its context (`page.context.close()`) before the server stops."""
    page = browser.new_context(base_url=url, viewport=viewport).new_page()
    page.goto(path)  # signing in first: the form comes back here afterwards
    sign_in(page, email, heading)
    return page


@contextmanager
def signed_in_page(browser, app, viewport, path: str, heading: str, **fields) -> Iterator:
    """A page at `viewport`, signed in as a PMO (pat@example.org, with `fields` such as a
    name) on the app served for this block only, opened at `path` (whose h1 is `heading`);
    the context closes its connections before the server stops."""
    make_user(app, "pmo", "pat@example.org", **fields)
    with served(app) as url:
        page = page_signed_in(browser, url, viewport, "pat@example.org", path, heading)
        yield page
        page.context.close()


def console_errors(page) -> list[str]:
    """A list that fills with every console error (htmx logs its errors there) and uncaught
    page error of `page` from now on."""
    errors: list[str] = []
    page.on("console", lambda m: (m.type == "error" or "htmx:" in m.text) and errors.append(
        f"console {m.type}: {m.text} ({m.location['url']})"))
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors
