"""Long work off the request, on the queue: theme recomputes (one at a time), imports from
the web, and the passages imports leave to encode later.

A request records the run (its row, lifecycle and progress are
`lessons.services.runs`) and enqueues it; the worker (`lessons worker`, which
`make run` starts beside the server) computes it with its own search engine,
and every process polls the run's row for the progress bar. A task takes its
run once (`take_queued`), so a run is never computed twice. A web import's
file waits in the instance folder, so a worker that runs imports shares it
with the web (the same machine, or a shared folder). These are the task
bodies `web.queue` registers, and the two starts the views call.
"""

import logging
from pathlib import Path

from flask import Flask
from sqlalchemy.orm import Session

from lessons.actor import Actor
from lessons.models import ImportRun, ThemeRun
from lessons.services.runs import (
    begin_run,
    claim_import,
    finish_import,
    give_up_queued,
    import_run_file,
    take_queued,
)
from search.engine import SearchEngine
from search.theme_runs import run_recompute
from web.engine import feeds

log = logging.getLogger(__name__)


QUEUE_DOWN = "The task queue could not be reached, so this never started; try again."


def start_recompute(app: Flask, session: Session, themes: int | None, actor: str) -> ThemeRun:
    """Record a new run and queue it, or `Conflict` while another is running."""
    run = begin_run(session, themes, actor)
    enqueue(app, ThemeRun, run.id, "recompute", run.id, themes)
    return run


def enqueue(app: Flask, model: type[ThemeRun | ImportRun], run_id: int, task: str,
            *args: object) -> None:
    """Hand the run to the worker; if the queue is down, the run fails saying so (it would
    otherwise hold its place until a worker that will never see it takes it)."""
    try:
        app.extensions["lessons.queue"][1][task](*args)
    except Exception:
        give_up_queued(app.extensions["lessons.db"][1], model, run_id, QUEUE_DOWN)
        raise


def import_file(app: Flask, run: ImportRun) -> Path:
    """Where a web import keeps its uploaded file until the import is done."""
    return Path(app.instance_path) / "imports" / run.stored_name


def start_import(app: Flask, session: Session, run: ImportRun, actor: Actor) -> None:
    """Queue (or resume) an import, audited as `actor`'s; `Conflict` if it is running
    already."""
    claim_import(session, run, actor)
    enqueue(app, ImportRun, run.id, "import", run.id)


def recompute_job(app: Flask, engine: SearchEngine, run_id: int, themes: int | None) -> None:
    """The queued recompute, once: progress and outcome in its run."""
    sessions = app.extensions["lessons.db"][1]
    if take_queued(sessions, ThemeRun, run_id):
        run_recompute(sessions, engine, feeds(app), run_id, themes)


def import_job(app: Flask, engine: SearchEngine, run_id: int) -> None:
    """The queued import: the run's file with its mapping, each batch embedded by its
    lessons' leading passages, then the index brought up to date with what came in (the
    lessons are searchable), then the rest of their passages."""
    sessions = app.extensions["lessons.db"][1]
    if not take_queued(sessions, ImportRun, run_id):
        return
    with sessions() as session:
        path = import_file(app, session.get_one(ImportRun, run_id))
    report = import_run_file(sessions, run_id, path, app.config["CATEGORIES"],
                             engine.embed_leading)
    if report is not None:
        index_imported(engine)
        finish_import(sessions, run_id, report, path)
        complete_job(engine)


def index_imported(engine: SearchEngine) -> None:
    """Embed what is still unembedded (a killed run's last batch too) and bring this process's
    index up to date. Only logged if it fails: the lessons are in, the next search catches up."""
    try:
        engine.embed_missing()
        engine.ready()
    except Exception:  # derived data: the import's own outcome stands
        log.exception("Indexing after an import failed")


def complete_job(engine: SearchEngine) -> None:
    """Encode the passages that imports left in the backlog (`SearchEngine.complete`). Only
    logged if it fails: the lessons are found by their leading passages, and the sweep
    tries again within a minute."""
    try:
        if done := engine.complete():
            log.info("Encoded the remaining passages of %d imported lessons", done)
    except Exception:  # derived data, like the index
        log.exception("Encoding the backlog of imported passages failed")
