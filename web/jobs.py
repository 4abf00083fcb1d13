"""Long work in the background: theme recomputes (one at a time) and imports from the web.

The process that starts a run computes it in a thread; the run's row, its
lifecycle and progress are `lessons.services.runs`. This is only the start-up:
the app's sessions, its instance folder and its search engine, handed to a thread.
"""

import logging
import threading
from pathlib import Path

from flask import Flask
from sqlalchemy.orm import Session

from lessons.actor import Actor
from lessons.models import ImportRun, ThemeRun
from lessons.services.runs import begin_run, claim_import, finish_import, import_run_file
from search.engine import SearchEngine
from search.theme_runs import run_recompute

log = logging.getLogger(__name__)


def start_recompute(app: Flask, session: Session, engine: SearchEngine,
                    themes: int | None, actor: str) -> ThemeRun:
    """Record a new run and start it in a thread, or `Conflict` while another is running."""
    run = begin_run(session, themes, actor)
    sessions = app.extensions["lessons.db"][1]
    threading.Thread(target=run_recompute, args=(sessions, engine, run.id, themes),
                     name=f"themes-{run.id}", daemon=True).start()
    return run


def import_file(app: Flask, run: ImportRun) -> Path:
    """Where a web import keeps its uploaded file until the import is done."""
    return Path(app.instance_path) / "imports" / run.stored_name


def start_import(app: Flask, session: Session, engine: SearchEngine, run: ImportRun,
                 actor: Actor) -> None:
    """Start (or resume) an import in a thread, audited as `actor`'s; `Conflict` if it is
    running already."""
    path = import_file(app, run)
    claim_import(session, run, actor)
    threading.Thread(target=run_import_job, args=(app, engine, run.id, path),
                     name=f"import-{run.id}", daemon=True).start()


def run_import_job(app: Flask, engine: SearchEngine, run_id: int, path: Path) -> None:
    """Import the run's file with its mapping, embedding each batch, then index what came in."""
    sessions = app.extensions["lessons.db"][1]
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
