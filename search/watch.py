"""Which followed searches and live projects a newly approved lesson matches, on meaning.

A followed search keeps its words' vector and a project's briefing keeps the
project's; a lesson matches when one of its stored passage vectors is close
enough. Everything is read from the database (vectors are the truth, not the
index), in one matrix product per batch: every followed search against every
passage of the new lessons, so a thousand accounts following five thousand
searches cost one multiplication, not five thousand searches.
"""

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from lessons.models import Briefing, PassageVector, Project, Subscription
from search.briefing import WATCH_SIMILARITY

# all-MiniLM-L6-v2: a few words against a passage score lower than a paragraph does;
# 0.45 keeps "vendor lock-in" on lock-in lessons and off the ones that only say "lock".
SEARCH_SIMILARITY = 0.45


@dataclass(frozen=True)
class Match:
    """A lesson's match with a followed search (`subscription`) or a live project."""

    lesson_id: int
    similarity: float
    subscription: Subscription | None = None
    project: Project | None = None


def passages(session: Session, model: str, lesson_ids: list[int]) -> dict[int, np.ndarray]:
    """Each lesson's stored passage vectors under `model`, one row per passage."""
    rows: dict[int, list[bytes]] = defaultdict(list)
    for lesson_id, vector in session.execute(
            select(PassageVector.lesson_id, PassageVector.vector)
            .where(PassageVector.lesson_id.in_(lesson_ids), PassageVector.model == model)):
        rows[lesson_id].append(vector)
    return {i: np.frombuffer(b"".join(v), dtype=np.float32).reshape(len(v), -1)
            for i, v in rows.items()}


def best_per_lesson(targets: np.ndarray, lessons: dict[int, np.ndarray]
                    ) -> dict[int, np.ndarray]:
    """For each lesson, every target's best cosine with any of its passages."""
    if not len(targets) or not lessons:
        return {}
    ids = list(lessons)
    stacked = np.vstack([lessons[i] for i in ids])
    scores = targets @ stacked.T  # targets x passages
    best: dict[int, np.ndarray] = {}
    start = 0
    for lesson_id in ids:
        end = start + len(lessons[lesson_id])
        best[lesson_id] = scores[:, start:end].max(axis=1)
        start = end
    return best


def matching_searches(session: Session, model: str, lesson_ids: list[int]) -> list[Match]:
    """Followed searches each lesson matches (searches encoded by another model are skipped:
    `lessons reindex` encodes them again)."""
    followed = list(session.scalars(select(Subscription).where(
        Subscription.kind == "search", Subscription.model == model,
        Subscription.vector.is_not(None))))
    if not followed:
        return []
    targets = np.vstack([np.frombuffer(s.vector or b"", dtype=np.float32) for s in followed])
    return [Match(lesson_id, float(scores[row]), subscription=followed[row])
            for lesson_id, scores in best_per_lesson(targets, passages(
                session, model, lesson_ids)).items()
            for row in np.flatnonzero(scores >= SEARCH_SIMILARITY)]


def matching_projects(session: Session, model: str, lesson_ids: list[int],
                      lesson_projects: dict[int, int | None]) -> list[Match]:
    """Live projects (proposed or active, with a kickoff briefing) each lesson matches, its
    own project apart: what the project page lists as new since kickoff."""
    live = list(session.execute(
        select(Project, Briefing.vector).join(Briefing, Briefing.project_id == Project.id)
        .where(Project.deleted_at.is_(None), Project.status.in_(("proposed", "active")),
               Briefing.model == model)).tuples())
    if not live:
        return []
    targets = np.vstack([np.frombuffer(vector, dtype=np.float32) for _, vector in live])
    return [Match(lesson_id, float(scores[row]), project=live[row][0])
            for lesson_id, scores in best_per_lesson(targets, passages(
                session, model, lesson_ids)).items()
            for row in np.flatnonzero(scores >= WATCH_SIMILARITY)
            if live[row][0].id != lesson_projects.get(lesson_id)]
