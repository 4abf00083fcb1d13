"""The search log: what people looked for and how well the best lesson matched.

A search typed live arrives once per pause; a query that continues the same
person's previous one within TYPING_PAUSE replaces it, so the log holds what
was finally asked, not every prefix.
"""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lessons.models import SearchLog, utcnow

TYPING_PAUSE = timedelta(seconds=60)
MAX_TEXT = 500


def record_search(session: Session, source: str, text: str, best_similarity: float,
                  actor: str, project_id: int | None = None) -> SearchLog:
    """Log one search or kickoff (the caller commits)."""
    text = " ".join(text.split())[:MAX_TEXT]
    now = utcnow()
    last = session.scalar(select(SearchLog).where(
        SearchLog.actor == actor, SearchLog.source == source, SearchLog.project_id.is_(None)
    ).order_by(SearchLog.id.desc()).limit(1)) if project_id is None else None
    if last is not None and now - last.at < TYPING_PAUSE and (
            text.startswith(last.text) or last.text.startswith(text)):
        entry = last
    else:
        entry = SearchLog(source=source, actor=actor, project_id=project_id)
        session.add(entry)
    entry.text, entry.best_similarity, entry.at = text, best_similarity, now
    session.flush()
    return entry
