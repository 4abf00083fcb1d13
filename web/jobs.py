"""Long work in the background: theme recomputes (one at a time) and imports from the web.

The process that starts a run computes it in a thread; every process reads
its progress from its row (`theme_runs`, `import_runs`), so the polled bar
works behind any number of app nodes. A run whose progress has not moved for
STALE_AFTER died with its process: it is marked failed, so a recompute no
longer blocks the next one and an import can be resumed.
"""

import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lessons.errors import Conflict, ValidationError
from lessons.imports.importer import explain, run_import
from lessons.imports.mappings import parse_mapping
from lessons.imports.tables import open_table
from lessons.models import ImportRun, ThemeRun, utcnow
from search.engine import SearchEngine
from search.theme_store import Progress, recompute
from search.themes import K_MAX, K_MIN

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=10)


def parse_theme_count(raw: object) -> int | None:
    """The number of themes asked for: None (choose by size) or K_MIN..K_MAX."""
    if raw in (None, ""):
        return None
    text = str(raw).strip()
    if isinstance(raw, bool) or not (text.isdecimal() and len(text) <= 3
                                     and K_MIN <= int(text) <= K_MAX):
        raise ValidationError({"themes": f"A whole number from {K_MIN} to {K_MAX}, or empty."},
                              "The number of themes is not valid.")
    return int(raw)


def start_recompute(app: Flask, session: Session, engine: SearchEngine,
                    themes: int | None, actor: str) -> ThemeRun:
    """Record a new run and start it in a thread, or `Conflict` while another is running."""
    run = begin_run(session, themes, actor)
    sessions = app.extensions["lessons.db"][1]
    threading.Thread(target=run_recompute, args=(sessions, engine, run.id, themes),
                     name=f"themes-{run.id}", daemon=True).start()
    return run


def begin_run(session: Session, themes: int | None, actor: str) -> ThemeRun:
    """A new running run, or `Conflict` while another runs in any process.

    A partial unique index lets one row at a time be "running", so two app
    nodes (or the CLI beside the web) cannot both win the check below.
    """
    running = session.scalar(select(ThemeRun).where(ThemeRun.status == "running"))
    if running is not None and not expire_if_stale(session, running):
        raise Conflict(f"Themes are being recomputed (run {running.id}, "
                       f"{running.stage.lower()}). Wait for it to finish.")
    run = ThemeRun(status="running", requested_themes=themes, actor=actor,
                   stage="Waiting to start")
    session.add(run)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("Another recompute of the themes has just started.") from None
    return run


def expire_if_stale(session: Session, run: ThemeRun | ImportRun) -> bool:
    """Mark a running run whose progress stopped moving as failed; whether it was."""
    if run.status != "running" or utcnow() - run.updated_at < STALE_AFTER:
        return False
    run.status, run.message = "failed", "Interrupted: its process stopped."
    run.finished_at = utcnow()
    session.commit()
    return True


def latest_run(session: Session) -> ThemeRun | None:
    """The newest run, its state brought up to date."""
    run = session.scalar(select(ThemeRun).order_by(ThemeRun.id.desc()).limit(1))
    if run is not None:
        expire_if_stale(session, run)
    return run


def run_recompute(sessions: sessionmaker[Session], engine: SearchEngine, run_id: int,
                  themes: int | None, on_progress: Progress | None = None) -> ThemeRun:
    """Recompute, recording progress and how it ended in the run; the finished run."""

    def record(**values: Any) -> None:
        record_run(sessions, ThemeRun, run_id, **values)

    def progress(stage: str, done: int, total: int) -> None:
        record(stage=stage, done=done, total=total)
        if on_progress:
            on_progress(stage, done, total)

    try:
        found = recompute(engine, themes, progress)
        record(status="done", themes=found, finished_at=utcnow())
    except Exception as error:  # the run says why; the app goes on
        log.exception("Theme recompute %s failed", run_id)
        record(status="failed", message=getattr(error, "message", None) or str(error),
               finished_at=utcnow())
    with sessions() as session:
        return session.get(ThemeRun, run_id)


def record_run(sessions: sessionmaker[Session], model: type[ThemeRun | ImportRun], run_id: int,
               **values: Any) -> None:
    """Write a run's progress or outcome in its own transaction, for every process to poll."""
    with sessions() as session:
        session.execute(update(model).where(model.id == run_id)
                        .values(updated_at=utcnow(), **values))
        session.commit()


def import_file(app: Flask, run: ImportRun) -> Path:
    """Where a web import keeps its uploaded file until the import is done."""
    return Path(app.instance_path) / "imports" / run.stored_name


def start_import(app: Flask, session: Session, engine: SearchEngine, run: ImportRun) -> None:
    """Start (or resume) an import in a thread; `Conflict` if it is running already."""
    claimed = session.execute(
        update(ImportRun).where(ImportRun.id == run.id,
                                ImportRun.status.in_(("preview", "failed")))
        .values(status="running", stage="Waiting to start", message=None, updated_at=utcnow()))
    session.commit()
    if claimed.rowcount != 1:
        raise Conflict(f"Import {run.id} is running or finished already.")
    threading.Thread(target=run_import_job, args=(app, engine, run.id),
                     name=f"import-{run.id}", daemon=True).start()


def run_import_job(app: Flask, engine: SearchEngine, run_id: int) -> None:
    """Import the run's file with its mapping, embedding each batch, recording progress."""
    sessions = app.extensions["lessons.db"][1]

    def progress(stage: str, done: int, total: int) -> None:
        record_run(sessions, ImportRun, run_id, stage=stage, done=done, total=total)

    with sessions() as session:
        run = session.get(ImportRun, run_id)
        path = import_file(app, run)
        try:
            table = open_table(path, run.file_format, run.encoding, run.sheet)
            report = run_import(session, table, parse_mapping(run.mapping, "chosen"),
                                actor=run.actor, categories=app.config["CATEGORIES"],
                                on_progress=progress, on_batch=engine.embed)
        except Exception as error:  # the run says why; the app goes on
            log.exception("Import %s failed", run_id)
            record_run(sessions, ImportRun, run_id, status="failed", finished_at=utcnow(),
                       message=explain(error))
            return
    index_imported(engine)
    record_run(sessions, ImportRun, run_id, status="failed" if report.stopped else "done",
               message=report.stopped, report=report.as_dict(), finished_at=utcnow(),
               stage="Finished", done=len(report.created), total=len(report.created))
    if not report.stopped:
        path.unlink(missing_ok=True)


def index_imported(engine: SearchEngine) -> None:
    """Embed what is still unembedded (a killed run's last batch too) and bring this process's
    index up to date. Only logged if it fails: the lessons are in, the next search catches up."""
    try:
        engine.embed_missing()
        engine.ready()
    except Exception:  # derived data: the import's own outcome stands
        log.exception("Indexing after an import failed")
