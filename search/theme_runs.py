"""A theme recompute as a recorded run: the number of themes asked for, progress, outcome.

The run's row (`lessons.services.runs`) is what every process polls; this
module fills it in while `search.theme_store.recompute` works.
"""

import logging
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from lessons.errors import ValidationError
from lessons.models import ThemeRun, utcnow
from lessons.services import audit
from lessons.services.reviews import Feeds
from lessons.services.runs import record_run
from search.engine import SearchEngine
from search.theme_store import Progress, recompute
from search.themes import K_MAX, K_MIN

log = logging.getLogger(__name__)


def parse_theme_count(raw: object) -> int | None:
    """The number of themes asked for: None (choose by size) or K_MIN..K_MAX."""
    if raw in (None, ""):
        return None
    text = str(raw).strip()
    if isinstance(raw, bool) or not (text.isdecimal() and len(text) <= 3
                                     and K_MIN <= int(text) <= K_MAX):
        raise ValidationError({"themes": f"A whole number from {K_MIN} to {K_MAX}, or empty."},
                              "The number of themes is not valid.")
    return int(text)


def run_recompute(sessions: sessionmaker[Session], engine: SearchEngine, feeds: Feeds,
                  run_id: int, themes: int | None,
                  on_progress: Progress | None = None) -> ThemeRun:
    """Recompute the themes of the lessons under `feeds`, recording progress and how it
    ended in the run; the finished run."""

    def record(**values: Any) -> None:
        record_run(sessions, ThemeRun, run_id, **values)

    def progress(stage: str, done: int, total: int) -> None:
        record(stage=stage, done=done, total=total)
        if on_progress:
            on_progress(stage, done, total)

    try:
        found = recompute(engine, feeds, themes, progress)
        record(status="done", themes=found, finished_at=utcnow())
        with sessions() as session:  # webhooks hear of it (push.dispatch)
            run = session.get_one(ThemeRun, run_id)
            audit.record(session, run.actor, "themes_recompute", f"theme run {run_id}",
                         themes=found)
            session.commit()
    except Exception as error:  # the run says why; the app goes on
        log.exception("Theme recompute %s failed", run_id)
        record(status="failed", message=getattr(error, "message", None) or str(error),
               finished_at=utcnow())
    with sessions() as session:
        return session.get_one(ThemeRun, run_id)
