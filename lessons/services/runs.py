"""The rows of long work: theme recomputes and web imports, from start to how they ended.

Every process reads a run's progress from its row (`theme_runs`,
`import_runs`), so the polled bar works behind any number of app nodes. A
run whose progress has not moved for STALE_AFTER died with its process: it is
marked failed, so a recompute no longer blocks the next one and an import can
be resumed. Progress is written in its own transaction, for others to poll.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lessons.actor import Actor
from lessons.errors import Conflict
from lessons.imports.importer import ImportReport, explain, run_import
from lessons.imports.mappings import ColumnMap, parse_mapping
from lessons.imports.tables import open_table
from lessons.models import ImportRun, ThemeRun, utcnow
from lessons.services import audit

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=10)
WAITING = "Waiting for the worker"  # queued: `lessons worker` takes it from here


def begin_run(session: Session, themes: int | None, actor: str) -> ThemeRun:
    """A new running theme run, committed, or `Conflict` while another runs in any process.

    A partial unique index lets one row at a time be "running", so two app
    nodes (or the CLI beside the web) cannot both win the check below.
    """
    running = session.scalar(select(ThemeRun).where(ThemeRun.status == "running"))
    if running is not None and not expire_if_stale(session, running):
        raise Conflict(f"Themes are being recomputed (run {running.id}, "
                       f"{running.stage.lower()}). Wait for it to finish.")
    run = ThemeRun(status="running", requested_themes=themes, actor=actor,
                   stage=WAITING)
    session.add(run)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("Another recompute of the themes has just started.") from None
    return run


def expire_if_stale(session: Session, run: ThemeRun | ImportRun) -> bool:
    """Mark a running run whose progress stopped moving as failed; whether it was. A run
    still waiting for the worker is not stale: it starts when a worker takes it."""
    if (run.status != "running" or run.stage == WAITING
            or utcnow() - run.updated_at < STALE_AFTER):
        return False
    run.status, run.message = "failed", "Interrupted: its process stopped."
    run.finished_at = utcnow()
    session.commit()
    return True


def take_queued(sessions: sessionmaker[Session], model: type[ThemeRun | ImportRun],
                run_id: int) -> bool:
    """The worker takes a run it was handed, once: False if the run is no longer waiting
    (taken already, or given up), and the task must do nothing."""
    with sessions() as session:
        taken = cast(CursorResult[Any], session.execute(
            update(model).where(model.id == run_id, model.status == "running",
                                model.stage == WAITING)
            .values(stage="Starting", updated_at=utcnow())))
        session.commit()
        return taken.rowcount == 1


def give_up_queued(sessions: sessionmaker[Session], model: type[ThemeRun | ImportRun],
                   run_id: int, message: str) -> None:
    """A run that never reached the queue: failed, saying why, so it blocks nothing."""
    record_run(sessions, model, run_id, status="failed", message=message,
               finished_at=utcnow())


def latest_run(session: Session) -> ThemeRun | None:
    """The newest theme run, its state brought up to date."""
    run = session.scalar(select(ThemeRun).order_by(ThemeRun.id.desc()).limit(1))
    if run is not None:
        expire_if_stale(session, run)
    return run


def record_run(sessions: sessionmaker[Session], model: type[ThemeRun | ImportRun], run_id: int,
               **values: Any) -> None:
    """Write a run's progress or outcome in its own transaction, for every process to poll."""
    with sessions() as session:
        session.execute(update(model).where(model.id == run_id)
                        .values(updated_at=utcnow(), **values))
        session.commit()


def create_import(session: Session, **values: Any) -> ImportRun:
    """A new import run in preview: its file kept, its mapping chosen, nothing imported."""
    run = ImportRun(status="preview", **values)
    session.add(run)
    session.flush()
    return run


def change_import_mapping(session: Session, run: ImportRun, mapping: ColumnMap) -> None:
    """Keep the mapping chosen on the preview."""
    run.mapping = mapping.as_dict()
    session.flush()


def recent_imports(session: Session, limit: int = 10) -> list[ImportRun]:
    """The latest import runs, newest first."""
    return list(session.scalars(select(ImportRun).order_by(ImportRun.id.desc()).limit(limit)))


def claim_import(session: Session, run: ImportRun, actor: Actor | str) -> None:
    """Mark a previewed or failed import as running, audited as `actor`'s import, committed;
    `Conflict` if it is running or finished already (another request or process claimed it
    first)."""
    # An UPDATE's result is a CursorResult, which has its row count; execute() is typed wider.
    claimed = cast(CursorResult[Any], session.execute(
        update(ImportRun).where(ImportRun.id == run.id,
                                ImportRun.status.in_(("preview", "failed")))
        .values(status="running", stage=WAITING, message=None, updated_at=utcnow())))
    if claimed.rowcount != 1:
        session.commit()
        raise Conflict(f"Import {run.id} is running or finished already.")
    audit.record(session, actor, "import", f"import {run.id}")
    session.commit()


def import_run_file(sessions: sessionmaker[Session], run_id: int, path: Path,
                    categories: list[str], on_batch: Callable[..., Any]) -> ImportReport | None:
    """Import the run's file with its mapping, recording progress; None if it failed (the run
    says why)."""

    def progress(stage: str, done: int, total: int) -> None:
        record_run(sessions, ImportRun, run_id, stage=stage, done=done, total=total)

    with sessions() as session:
        try:
            run = session.get_one(ImportRun, run_id)
            table = open_table(path, run.file_format, run.encoding, run.sheet)
            return run_import(session, table, parse_mapping(run.mapping, "chosen"),
                              actor=run.actor, categories=categories,
                              on_progress=progress, on_batch=on_batch)
        except Exception as error:  # the run says why; the app goes on
            log.exception("Import %s failed", run_id)
            record_run(sessions, ImportRun, run_id, status="failed", finished_at=utcnow(),
                       message=explain(error))
            return None


def finish_import(sessions: sessionmaker[Session], run_id: int, report: ImportReport,
                  path: Path) -> None:
    """Record how the import ended; its file goes once nothing is left to resume."""
    record_run(sessions, ImportRun, run_id, status="failed" if report.stopped else "done",
               message=report.stopped, report=report.as_dict(), finished_at=utcnow(),
               stage="Finished", done=len(report.created), total=len(report.created))
    if not report.stopped:
        path.unlink(missing_ok=True)
