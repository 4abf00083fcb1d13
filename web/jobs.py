"""Long work off the request, on the queue: theme recomputes (one at a time) and imports from
the web.

A request records the run (its row, lifecycle and progress are
`lessons.services.runs`) and enqueues it; the worker (`lessons worker`, which
`make run` starts beside the server) computes it with its own search engine,
and every process polls the run's row for the progress bar. These are the
task bodies `web.queue` registers, and the two starts the views call.
"""

import logging
from pathlib import Path

from flask import Flask
from sqlalchemy.orm import Session

from lessons.actor import Actor
from lessons.models import ImportRun, ThemeRun
from lessons.services.runs import begin_run, claim_import, finish_import, import_run_file
from search.engine import SearchEngine
from search.theme_runs import run_recompute

log = logging.getLogger(__name__)


def start_recompute(app: Flask, session: Session, themes: int | None, actor: str) -> ThemeRun:
    """Record a new run and queue it, or `Conflict` while another is running."""
    run = begin_run(session, themes, actor)
    app.extensions["lessons.queue"][1]["recompute"](run.id, themes)
    return run


def import_file(app: Flask, run: ImportRun) -> Path:
    """Where a web import keeps its uploaded file until the import is done."""
    return Path(app.instance_path) / "imports" / run.stored_name


def start_import(app: Flask, session: Session, run: ImportRun, actor: Actor) -> None:
    """Queue (or resume) an import, audited as `actor`'s; `Conflict` if it is running
    already."""
    claim_import(session, run, actor)
    app.extensions["lessons.queue"][1]["import"](run.id)


def recompute_job(app: Flask, engine: SearchEngine, run_id: int, themes: int | None) -> None:
    """The queued recompute: progress and outcome in its run."""
    run_recompute(app.extensions["lessons.db"][1], engine, run_id, themes)


def import_job(app: Flask, engine: SearchEngine, run_id: int) -> None:
    """The queued import: the run's file with its mapping, embedding each batch, then the
    index brought up to date with what came in."""
    sessions = app.extensions["lessons.db"][1]
    with sessions() as session:
        path = import_file(app, session.get_one(ImportRun, run_id))
    report = import_run_file(sessions, run_id, path, app.config["CATEGORIES"], engine.embed)
    if report is not None:
        index_imported(engine)
        finish_import(sessions, run_id, report, path)


def index_imported(engine: SearchEngine) -> None:
    """Embed what is still unembedded (a killed run's last batch too) and bring this process's
    index up to date. Only logged if it fails: the lessons are in, the next search catches up."""
    try:
        engine.embed_missing()
        engine.ready()
    except Exception:  # derived data: the import's own outcome stands
        log.exception("Indexing after an import failed")
