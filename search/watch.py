"""Which followed searches and live projects a newly approved lesson matches, on meaning.

A followed search keeps its words' vector and a project's briefing keeps the
project's; a lesson matches when one of its stored passage vectors is close
enough. Everything is read from the database (vectors are the truth, not the
index), and a dispatcher's batch of new lessons is matched in one matrix
product: every followed search against every passage of the new lessons, so
a thousand accounts following five thousand searches cost one multiplication,
not five thousand searches.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from lessons.models import Briefing, PassageVector, Project, Subscription
from search.briefing import WATCH_SIMILARITY

# all-MiniLM-L6-v2: a few words against a passage score lower than a paragraph does;
# 0.45 keeps "vendor lock-in" on lock-in lessons and off the ones that only say "lock".
SEARCH_SIMILARITY = 0.45
LIVE = ("proposed", "active")  # projects still to be delivered: new lessons matter to them


@dataclass
class Hits:
    """What one new lesson matches: followed searches (account, words) and live projects
    (id, name)."""

    searches: list[tuple[int, str]] = field(default_factory=list)
    projects: list[tuple[int, str]] = field(default_factory=list)


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


@dataclass(frozen=True)
class Watchlist:
    """Everything watched for new lessons, read once: followed searches and live projects
    (proposed or active, with a kickoff briefing), each a row of a matrix."""

    searches: list[tuple[int, str]]
    search_vectors: np.ndarray
    projects: list[tuple[int, str]]
    project_vectors: np.ndarray

    @classmethod
    def load(cls, session: Session, model: str) -> "Watchlist":
        """The watchlist for `model` (searches encoded by another model are skipped:
        following them again encodes them anew)."""
        searches = session.execute(select(Subscription.user_id, Subscription.target,
                                          Subscription.vector).where(
            Subscription.kind == "search", Subscription.model == model,
            Subscription.vector.is_not(None))).all()
        projects = session.execute(
            select(Project.id, Project.name, Briefing.vector)
            .join(Briefing, Briefing.project_id == Project.id)
            .where(Project.deleted_at.is_(None), Project.status.in_(LIVE),
                   Briefing.model == model)).all()
        return cls([(user, words) for user, words, _ in searches], _matrix(searches),
                   [(project, name) for project, name, _ in projects], _matrix(projects))

    def matches(self, session: Session, model: str, lesson_ids: list[int]) -> dict[int, Hits]:
        """For each lesson, the followed searches and live projects it matches."""
        lessons = passages(session, model, lesson_ids)
        hits: dict[int, Hits] = {lesson_id: Hits() for lesson_id in lesson_ids}
        for lesson_id, scores in best_per_lesson(self.search_vectors, lessons).items():
            hits[lesson_id].searches = [self.searches[row] for row in
                                        np.flatnonzero(scores >= SEARCH_SIMILARITY)]
        for lesson_id, scores in best_per_lesson(self.project_vectors, lessons).items():
            hits[lesson_id].projects = [self.projects[row] for row in
                                        np.flatnonzero(scores >= WATCH_SIMILARITY)]
        return hits


def _matrix(rows: Sequence[Any]) -> np.ndarray:
    """The vectors (each row's last column) stacked, one row each."""
    return (np.vstack([np.frombuffer(row[-1], dtype=np.float32) for row in rows])
            if rows else np.zeros((0, 0), dtype=np.float32))
