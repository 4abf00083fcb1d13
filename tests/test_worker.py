"""`lessons worker` in a process of its own, on each queue storage: a commit that audits
something push handles is told within seconds, `lessons status` shows the queue, and a
worker killed with SIGKILL in the middle of a batch of emails leaves every email sent
exactly once after a restart."""

import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from conftest import IN_CI, Api, make_user, signed_in
from sqlalchemy import func, select

from lessons.models import Notification, ThemeRun, User, utcnow
from lessons.services.runs import begin_run, expire_if_stale, take_queued
from lessons.services.subscriptions import follow, set_cadence
from push import periodic
from web.database import db

LESSONS = Path(sys.executable).with_name("lessons")
REDIS = "redis://127.0.0.1:6379"


def redis_url() -> str:
    """A Redis database of this test process's own (xdist runs two), emptied first."""
    import redis

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    url = f"{REDIS}/{10 + int(worker or 0) % 5}"
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.ConnectionError:
        if IN_CI:
            raise
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return url


@pytest.fixture(params=["sqlite", "redis"])
def queue_url(request) -> str:
    """Each queue storage: SQLite in the instance folder (empty URL) and Redis."""
    return "" if request.param == "sqlite" else redis_url()


def start_worker(backend, queue_url: str, instance: Path, **settings: str) -> subprocess.Popen:
    """`lessons worker` on the test's database, queue and instance folder."""
    # One thread for torch, as the suite's own processes: the other test process shares the
    # machine's two cores.
    env = {**os.environ, "LESSONS_DATABASE_URL": backend.url, "LESSONS_QUEUE_URL": queue_url,
           "LESSONS_INSTANCE_PATH": str(instance), "OMP_NUM_THREADS": "1",
           **{f"LESSONS_{name}": value for name, value in settings.items()}}
    return subprocess.Popen([str(LESSONS), "worker", "--workers", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@contextmanager
def running(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """The worker until the block ends, stopped as systemd stops it (SIGTERM)."""
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stderr.close()


def wait_until(check, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_the_worker_tells_the_author_within_seconds(make_app, backend, queue_url, tmp_path,
                                                    monkeypatch):
    app = make_app(DATABASE_URL=backend.url, QUEUE_URL=queue_url)
    with running(start_worker(backend, queue_url, tmp_path / "instance")) as process:
        author, pmo = signed_in(app, "contributor"), signed_in(app, "pmo")
        lesson = Api(author).lesson("Badge readers failed on the first frosty morning",
                                    "The outdoor readers were rated to 0 °C only.")
        assert pmo.post(f"/api/v1/lessons/{lesson['id']}/approve").status_code == 200

        def told() -> bool:
            with app.app_context():
                return bool(db.session.scalar(select(func.count()).select_from(
                    Notification).where(Notification.user_id == author.user_id)))

        wait_until(told)
        assert process.poll() is None, process.stderr.read().decode()
    # The schedule's tasks as the worker runs them, the periodic one failing.
    tasks = app.extensions["lessons.queue"][1]
    monkeypatch.setattr(periodic, "run", lambda *args: 1 / 0)
    tasks["sweep"].call_local()
    tasks["periodic"].call_local()
    status = app.test_cli_runner().invoke(args=["status"])
    assert status.exit_code == 0, status.output
    assert "queue: " in status.output and " waiting" in status.output
    ran = r"last ran \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
    assert re.search(rf"^periodic periodic: {ran}, failed$", status.output, re.M), status.output
    assert re.search(rf"^periodic sweep: {ran}, ok$", status.output, re.M), status.output


class StallingInbox:
    """A real SMTP server that stalls on one message, so a test can kill the sender while
    that message is in flight; a message counts as received only once it was accepted
    with the sender still connected, as SMTP's "250 OK" promises."""

    def __init__(self, stall_at: int) -> None:
        self.stall_at, self.port = stall_at, free_port()
        self.recipients: list[str] = []
        self.stalled = threading.Event()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's)
        if len(self.recipients) == self.stall_at and not self.stalled.is_set():
            self.stalled.set()
            await asyncio.sleep(5)
        if server.transport is None or server.transport.is_closing():
            return "421 Connection lost"  # the sender died before we accepted it
        self.recipients.extend(envelope.rcpt_tos)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_worker_killed_mid_batch_delivers_every_email_exactly_once_after_restart(
        make_app, backend, queue_url, tmp_path):
    inbox = StallingInbox(stall_at=8)
    inbox.controller.start()
    settings = {"SMTP_URL": f"smtp://127.0.0.1:{inbox.port}", "SEND_TIMEOUT": "1",
                "RETRY_SECONDS": "0.2"}
    app = make_app(DATABASE_URL=backend.url, QUEUE_URL=queue_url, **settings)
    try:
        fans = [make_user(app, "contributor", f"fan{n}@example.org") for n in range(20)]
        with app.app_context():
            for user_id in fans:
                follow(db.session, db.session.get_one(User, user_id), "category", "technical")
                set_cadence(db.session, user_id, "email", "immediately")
            db.session.commit()
        pmo = signed_in(app, "pmo")
        lesson = Api(pmo).lesson("Sensors drifted after the firmware update",
                                 "Calibration was lost on every unit.", category="technical",
                                 status="approved")
        assert lesson["status"] == "approved"
        with running(start_worker(backend, queue_url, tmp_path / "instance", **settings)
                     ) as first:
            assert inbox.stalled.wait(60), "the worker never reached the ninth email"
            first.kill()  # SIGKILL: no clean-up, its claim on the ninth email stays behind
            first.wait(timeout=30)
        with running(start_worker(backend, queue_url, tmp_path / "instance", **settings)):
            wait_until(lambda: len(inbox.recipients) >= len(fans), seconds=60)
            time.sleep(2)  # anything sent twice would arrive now
        emails = [f"fan{n}@example.org" for n in range(20)]
        assert sorted(inbox.recipients) == sorted(emails)
    finally:
        inbox.controller.stop()


def test_a_queued_run_waits_without_expiring_and_is_taken_once(app):
    sessions = app.extensions["lessons.db"][1]
    with sessions() as session:
        run = begin_run(session, None, "pat@example.org")
        run.updated_at = utcnow() - timedelta(hours=1)  # no worker for an hour
        session.commit()
        assert not expire_if_stale(session, run)  # waiting is not dying
        run_id = run.id
    assert take_queued(sessions, ThemeRun, run_id)
    assert not take_queued(sessions, ThemeRun, run_id)  # a second task does nothing
