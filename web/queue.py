"""The task queue: Huey, stored in SQLite in the instance folder, or in Redis when
`LESSONS_QUEUE_URL=redis://…`; `lessons worker` consumes it and runs the schedule.

What goes on it: theme recomputes, web imports and the passages imports leave to encode
later (`web.jobs`), and push (`push`): dispatch the audit log into notifications and
deliveries, send deliveries, and, every few minutes, the periodic work (reminders, review
backlog, digests). Every task is idempotent, so a retried or repeated one tells nobody
twice; the database is the truth and the queue only says "look now". A commit that audits
something push handles enqueues a dispatch, so `make run` (which starts a worker beside the
server) tells people within seconds; a sweep each minute catches anything a lost enqueue
missed, and a backlog of passages a killed worker left.
"""

import logging
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from lessons.models import AuditEvent, TaskRun, utcnow
from push import periodic
from push.config import PushSettings
from push.dispatch import HANDLERS, dispatch
from push.send import seconds_to_next, send_due
from search.vectors import backlog_growing, backlog_size
from web import jobs

log = logging.getLogger(__name__)

SWEEP = crontab(minute="*")  # dispatch and send whatever a lost enqueue left
SWEEP_SECONDS = 60
PERIODIC = crontab(minute="*/15")  # reminders, review backlog, digests: idempotent per day


def init_app(app: Flask) -> None:
    """Make the app's queue and its tasks, and enqueue a dispatch after each commit that
    audited something push tells people about."""
    queue = make_queue(app)
    tasks = register_tasks(app, queue)
    app.extensions["lessons.queue"] = (queue, tasks)
    sessions = app.extensions["lessons.db"][1]
    watch_commits(sessions, lambda: tasks["dispatch"]())


def make_queue(app: Flask) -> Huey:
    url = str(app.config["QUEUE_URL"]).strip()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey("lessons", url=url)
    if url:
        raise ValueError("LESSONS_QUEUE_URL must be empty (a SQLite queue in the instance "
                         "folder) or a redis:// address.")
    return SqliteHuey("lessons", filename=str(Path(app.instance_path) / "queue.db"))


def push_settings(app: Flask) -> PushSettings:
    """The app's push settings, for the worker and the pages."""
    config = app.config
    return PushSettings(
        base_url=config["BASE_URL"] or "http://127.0.0.1:5000",
        secret_key=config["SECRET_KEY"], smtp_url=config["SMTP_URL"],
        mail_from=config["MAIL_FROM"], review_sla_days=int(config["REVIEW_SLA_DAYS"]),
        retry_seconds=float(config["RETRY_SECONDS"]),
        send_timeout=float(config["SEND_TIMEOUT"]),
        allow_private=_flag(config["WEBHOOK_ALLOW_PRIVATE"]),
        model=config["EMBEDDING_MODEL"])


def register_tasks(app: Flask, queue: Huey) -> dict[str, Any]:
    """The tasks, each with the app's sessions and settings."""
    sessions: sessionmaker[Session] = app.extensions["lessons.db"][1]
    settings = push_settings(app)
    search_engine = app.extensions["lessons.search"]

    def dispatch_now() -> None:
        # A lesson approved by a path that indexed nothing (or before the web did) is
        # embedded and placed in its theme here, so its followers are matched.
        try:
            with sessions() as session:
                while dispatch(session, settings, catch_up=search_engine.ready):
                    pass
        finally:  # what is queued goes out, whatever the dispatch met
            send_now()

    scheduled = 0.0  # when the send already scheduled runs (monotonic): one is enough

    def send_now() -> None:
        nonlocal scheduled
        send_due(sessions, settings)
        wait = seconds_to_next(sessions)
        if wait is None or wait >= SWEEP_SECONDS:  # the sweep comes first anyway
            return
        due = time.monotonic() + wait
        if scheduled <= time.monotonic() or due < scheduled:
            scheduled = due
            tasks["send"].schedule(delay=wait + 0.05)

    def sweep() -> None:
        recorded(sessions, "sweep", dispatch_now)
        # What a killed worker left half-encoded; an import under way (the backlog grew in
        # the last minute) completes its own when it ends, and should not share the cores
        # before its lessons are found.
        with sessions() as session:
            model = search_engine.model
            if (backlog_size(session, model) and not backlog_growing(
                    session, model, utcnow() - timedelta(seconds=SWEEP_SECONDS))):
                tasks["complete"]()

    def periodic_work() -> None:
        recorded(sessions, "periodic", lambda: periodic.run(sessions, settings, utcnow()))

    tasks = {
        "recompute": queue.task(name="recompute")(
            lambda run_id, themes: jobs.recompute_job(app, search_engine, run_id, themes)),
        "import": queue.task(name="import")(
            lambda run_id: jobs.import_job(app, search_engine, run_id)),
        "complete": queue.task(name="complete")(lambda: jobs.complete_job(search_engine)),
        "dispatch": queue.task(name="dispatch")(dispatch_now),
        "send": queue.task(name="send")(send_now),
        "sweep": queue.periodic_task(SWEEP, name="sweep")(sweep),
        "periodic": queue.periodic_task(PERIODIC, name="periodic")(periodic_work),
    }
    return tasks


def recorded(sessions: sessionmaker[Session], name: str, work: Callable[[], Any]) -> None:
    """Run periodic `work`, keeping when it started and ended, and its error, for
    `lessons status`."""
    started = utcnow()
    error = None
    try:
        work()
    except Exception:
        error = traceback.format_exc(limit=5)
        log.exception("Periodic task %s failed", name)
    with sessions() as session:
        session.merge(TaskRun(name=name, started_at=started, finished_at=utcnow(),
                              error=error))
        session.commit()


def last_runs(session: Session) -> list[TaskRun]:
    return list(session.scalars(select(TaskRun).order_by(TaskRun.name)))


# The key of the nudge in a session's `info` (`watch_commits`).
NUDGE = "lessons.queue.nudge"


def watch_commits(sessions: sessionmaker[Session], nudge: Callable[[], Any]) -> None:
    """Call `nudge` after a commit whose transaction audited something push handles.

    `nudge` travels in each session's `info`, not in the listeners: SQLAlchemy keeps a
    sessionmaker's listeners for as long as its session class lives, and a listener that
    held the app would keep both alive for ever (one app per test leaked that way)."""
    sessions.configure(info={**sessions.kw.get("info", {}), NUDGE: nudge})
    event.listen(sessions, "after_flush", _notice_push)
    event.listen(sessions, "after_commit", _nudge_after_commit)
    event.listen(sessions, "after_rollback", _forget_push)


def _notice_push(session: Session, _context: Any) -> None:
    if any(isinstance(row, AuditEvent) and row.action in HANDLERS for row in session.new):
        session.info["push"] = True


def _nudge_after_commit(session: Session) -> None:
    if session.info.pop("push", False):
        try:
            session.info[NUDGE]()
        except Exception:  # the queue is down: the change stands, the sweep catches up
            log.exception("Could not enqueue a dispatch")


def _forget_push(session: Session) -> None:
    session.info.pop("push", None)


def queue_of(app: Flask) -> Huey:
    queue: Huey = app.extensions["lessons.queue"][0]
    return queue


def _flag(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")
