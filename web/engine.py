"""The app's search engine: one per app, started on first use, caught up after every write."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, request
from sqlalchemy import select

from lessons.models import Briefing, Project
from lessons.services.lessons import lesson_conditions
from lessons.services.reviews import Feeds, feeds_insights
from lessons.services.search_log import record_search
from search import theme_store
from search.briefing import ensure_briefing, generate
from search.engine import IndexNotReady, SearchEngine
from search.retrieve import Results
from web.database import db
from web.identity import current_actor


def init_app(app: Flask) -> None:
    """Create the engine (nothing loads until it is first needed) and the write hook."""
    sessions = app.extensions["lessons.db"][1]
    folder = Path(app.instance_path) / "index"
    search_engine = SearchEngine(sessions, folder, app.config["EMBEDDING_MODEL"],
                                 wait_while_building=False,
                                 vector_index=app.config["VECTOR_INDEX"])
    # A new lesson joins a theme.
    search_engine.on_vectors_changed(theme_store.placer(feeds(app)))
    app.extensions["lessons.search"] = search_engine
    app.after_request(index_after_write)


def engine() -> SearchEngine:
    """This app's search engine."""
    return current_app.extensions["lessons.search"]


def feeds(app: Flask | None = None) -> Feeds:
    """What may feed briefings and themes in this app (`LESSONS_APPROVED_ONLY`)."""
    return feeds_insights((app or current_app).config["APPROVED_ONLY"])


def project_briefing(project: Project, regenerate: bool = False) -> Briefing | None:
    """The project's briefing, computed in a session that sees every lesson, then read back
    through the request's session, which shows each viewer only what they may see
    (`lessons.policy`): the briefing is the same for everyone, its display is not."""
    with current_app.extensions["lessons.db"][1]() as system:
        everything = system.get(Project, project.id)
        if regenerate:
            generate(engine(), system, everything, feeds())
            system.commit()
        else:
            ensure_briefing(engine(), system, everything, feeds())
    return stored_briefing(project)


def stored_briefing(project: Project) -> Briefing | None:
    """The project's briefing as stored (what the team last saw), never computed again here."""
    return db.session.scalar(select(Briefing).where(Briefing.project_id == project.id)
                             .execution_options(populate_existing=True))


def log_search(text: str, results: Results, filters: Mapping[str, Any]) -> None:
    """Keep the query and how well its best lesson matched, for the PMO's learning gaps.

    A filtered search is not logged: a weak best match inside one project or
    category says nothing about what the organisation has learned.
    """
    if len(lesson_conditions(filters)) > 1:  # more than "not deleted"
        return
    try:
        best = max((hit.similarity for hit in results.hits), default=0.0)
        record_search(db.session, "search", text, best, current_actor().name)
        db.session.commit()
    except Exception:  # the search itself has been answered; losing one log line is fine
        db.session.rollback()
        current_app.logger.exception("Logging a search failed")


def index_after_write(response: Response) -> Response:
    """Make what this request wrote searchable before the response leaves."""
    if request.method in ("POST", "PATCH", "PUT", "DELETE") and response.status_code < 400:
        try:
            db.session.close()  # release this request's connection before indexing
            engine().sync()
        except IndexNotReady:
            pass  # the build in progress replays this write from the change log
        except Exception:  # the next search catches up; the write itself stands
            current_app.logger.exception("Indexing after a write failed")
    return response
