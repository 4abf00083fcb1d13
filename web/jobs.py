"""Theme recomputes in the background, one at a time, their progress kept in `theme_runs`.

The process that starts a run computes it in a thread; every process reads
its progress from the database, so the polled bar works behind any number of
app nodes. A run whose progress has not moved for STALE_AFTER died with its
process and no longer blocks a new one.
"""

import logging
import threading
from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from lessons.errors import Conflict, ValidationError
from lessons.models import ThemeRun, utcnow
from search.engine import SearchEngine
from search.theme_store import recompute
from search.themes import K_MAX, K_MIN

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=10)
_starting = threading.Lock()  # one check-then-insert at a time in this process


def parse_theme_count(raw: object) -> int | None:
    """The number of themes asked for: None (choose by size) or K_MIN..K_MAX."""
    if raw in (None, ""):
        return None
    if isinstance(raw, bool) or not str(raw).strip().isdecimal() or not K_MIN <= int(raw) <= K_MAX:
        raise ValidationError({"themes": f"A whole number from {K_MIN} to {K_MAX}, or empty."},
                              "The number of themes is not valid.")
    return int(raw)


def start_recompute(app: Flask, session: Session, engine: SearchEngine,
                    themes: int | None, actor: str) -> ThemeRun:
    """Record a new run and start it in a thread, or `Conflict` while another is running."""
    with _starting:
        running = latest_run(session)
        if running is not None and running.status == "running":
            if utcnow() - running.updated_at < STALE_AFTER:
                raise Conflict(f"Themes are being recomputed (run {running.id}, "
                               f"{running.stage.lower()}). Wait for it to finish.")
            running.status, running.message = "failed", "Interrupted: its process stopped."
        run = ThemeRun(status="running", requested_themes=themes, actor=actor,
                       stage="Waiting to start")
        session.add(run)
        session.commit()
    sessions = app.extensions["lessons.db"][1]
    threading.Thread(target=run_recompute, args=(sessions, engine, run.id, themes),
                     name=f"themes-{run.id}", daemon=True).start()
    return run


def latest_run(session: Session) -> ThemeRun | None:
    return session.scalar(select(ThemeRun).order_by(ThemeRun.id.desc()).limit(1))


def run_recompute(sessions: sessionmaker[Session], engine: SearchEngine, run_id: int,
                  themes: int | None) -> None:
    """The thread's work: recompute, reporting progress, and record how it ended."""

    def record(**values) -> None:
        with sessions() as session:
            session.execute(update(ThemeRun).where(ThemeRun.id == run_id)
                            .values(updated_at=utcnow(), **values))
            session.commit()

    try:
        found = recompute(engine, themes, lambda stage, done, total: record(
            stage=stage, done=done, total=total))
        record(status="done", themes=found, finished_at=utcnow())
    except Exception as error:  # the run says why; the app goes on
        log.exception("Theme recompute %s failed", run_id)
        record(status="failed", message=getattr(error, "message", None) or str(error),
               finished_at=utcnow())
