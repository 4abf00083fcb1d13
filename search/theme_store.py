"""Themes in the database: recomputed from the live lessons, joined by new lessons in between.

A recompute clusters the lessons' vectors (search.themes), names each theme
by its distinctive terms and central lesson, and keeps the id of the old
theme each new one matches, so trends and links survive a recompute.
Between recomputes, and while one runs, a new lesson joins its nearest theme
as soon as its vectors are stored, so the PMO view is never behind the lessons.
Only lessons that feed insights (by default the approved ones: the engine's
`feeds`) are clustered or join a theme; a lesson joins once it is approved,
and leaves when its author's change sends it back for review.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lessons.models import Lesson, LessonTheme, Theme, utcnow
from lessons.policy import seen_by_everyone
from search import themes
from search.vectors import all_vectors, stored_rows

if TYPE_CHECKING:  # the engine stores vectors through place_in_themes below
    from search.engine import SearchEngine

# A recomputed theme keeps an old id when their centroids are at least this alike: distinct
# NASA themes reach 0.83, a theme and its recomputed self mostly 0.9 (bench/theme_quality.py).
MATCH_SIMILARITY = 0.85
LABEL_FIELDS = ("title", "what_happened", "root_cause", "impact", "recommendation")
Progress = Callable[[str, int, int], None]  # (stage, done, total)
Feeds = Sequence[ColumnElement[bool]]  # what may feed themes (lessons.services.reviews)


def recompute(engine: "SearchEngine", count: int | None = None,
              on_progress: Progress | None = None) -> int:
    """Cluster the live lessons that feed insights into `count` themes (None: chosen by size),
    store them; how many."""
    report = on_progress or (lambda stage, done, total: None)
    engine.ready(lambda done, total: report("Embedding lessons", done, total))
    with engine.sessions() as session:
        report("Reading vectors", 0, 1)
        lesson_ids, vectors = lesson_vectors(session, engine.model, engine.embedder.dim,
                                             *engine.feeds)
        found = clustering(session, lesson_ids, vectors, count, report)
        report("Saving", 0, 1)
        ids = stable_ids(session, engine.model, found.centroids)
        store(session, engine.model, ids, found, lesson_ids)
        join_unthemed(session, engine.model, engine.feeds)  # captured while the clustering ran
        session.commit()
    report("Done", 1, 1)
    return len(ids)


@dataclass
class Clustering:
    labels: np.ndarray  # each lesson's theme, 0..themes-1
    centroids: np.ndarray  # one unit row per theme
    keywords: list[list[str]]
    central: list[int]  # the lesson id nearest each centroid


def clustering(session: Session, lesson_ids: np.ndarray, vectors: np.ndarray,
               count: int | None, report: Progress) -> Clustering:
    """The themes of these lessons, named."""
    if not len(lesson_ids):
        return Clustering(np.zeros(0, np.int64), np.zeros((0, vectors.shape[1]), np.float32), [], [])
    report("Clustering", 0, 1)
    labels = themes.cluster(vectors, count)
    centroids = themes.centroids(vectors, labels)
    report("Naming themes", 0, 1)
    keywords = themes.distinctive_terms(lesson_texts(session, lesson_ids), labels)
    central = [int(lesson_ids[i]) for i in themes.central_member(vectors, labels, centroids)]
    return Clustering(labels, centroids, keywords, central)


def lesson_vectors(session: Session, model: str, dim: int,
                   *feeds: ColumnElement[bool]) -> tuple[np.ndarray, np.ndarray]:
    """(lesson ids, unit vectors) of the live lessons (under `feeds`): the normalised mean of
    each one's passages.

    The mean of all passages represents a lesson best for clustering; its title
    alone or its first passage agree less with the NASA failure patterns
    (bench/theme_quality.py --experiments).
    """
    passage_ids, matrix = all_vectors(session, model, dim, *feeds)  # sorted by lesson
    lesson_ids, first = np.unique(passage_ids, return_index=True)
    if not len(lesson_ids):
        return lesson_ids, np.zeros((0, dim), dtype=np.float32)
    sums = np.add.reduceat(matrix, first, axis=0)
    return lesson_ids, unit_rows(sums)


def lesson_texts(session: Session, lesson_ids: np.ndarray) -> list[str]:
    """The text of each lesson, in the order of `lesson_ids`, to name themes by.

    Only lessons everyone may see name a theme: everyone reads the names, so a
    word from a team-only lesson or a draft must never show up in one.
    """
    columns = [getattr(Lesson, name) for name in LABEL_FIELDS]
    texts = {row[0]: "\n".join(filter(None, row[1:])) for row in session.execute(
        select(Lesson.id, *columns).where(Lesson.deleted_at.is_(None), seen_by_everyone()))}
    return [texts.get(int(lesson_id), "") for lesson_id in lesson_ids]


def stable_ids(session: Session, model: str, centroids: np.ndarray) -> list[int]:
    """Each new theme's id: its old theme's if one matches, else one never given before."""
    previous = {theme_id: np.frombuffer(centroid, dtype=np.float32)
                for theme_id, centroid in session.execute(
                    select(Theme.id, Theme.centroid).where(Theme.model == model))}
    next_id = (session.scalar(select(func.max(Theme.id))) or 0) + 1
    return themes.match_to_previous(previous, centroids, MATCH_SIMILARITY, next_id)


def store(session: Session, model: str, ids: list[int], found: Clustering,
          lesson_ids: np.ndarray) -> None:
    """Write the themes and every lesson's theme; retire the themes no longer found."""
    now = utcnow()
    existing = {theme.id: theme for theme in session.scalars(select(Theme))}
    for index, theme_id in enumerate(ids):
        theme = existing.get(theme_id) or Theme(id=theme_id)
        theme.model, theme.keywords = model, found.keywords[index]
        theme.central_lesson_id, theme.centroid = found.central[index], found.centroids[index].tobytes()
        theme.computed_at, theme.retired_at = now, None
        session.add(theme)
    for theme in existing.values():
        if theme.id not in ids and theme.retired_at is None:
            theme.retired_at = now
    session.flush()
    session.execute(delete(LessonTheme))
    if len(lesson_ids):
        session.execute(insert(LessonTheme), [
            {"lesson_id": int(lesson_id), "theme_id": ids[label], "assigned": "recompute"}
            for lesson_id, label in zip(lesson_ids, found.labels)])


def place_in_themes(session: Session, model: str, vectors: Mapping[int, np.ndarray],
                    feeds: Feeds) -> None:
    """Lessons under `feeds` not yet in a theme join the live theme nearest to them (`vectors`:
    passages); the others leave theirs."""
    fed = set(vectors)
    if feeds:  # only some lessons feed themes: which of these
        fed = set(session.scalars(select(Lesson.id).where(Lesson.id.in_(list(fed)), *feeds)))
    if unfed := set(vectors) - fed:
        session.execute(delete(LessonTheme).where(LessonTheme.lesson_id.in_(list(unfed))))
    vectors = {lesson_id: passages for lesson_id, passages in vectors.items() if lesson_id in fed}
    if not vectors:
        return
    live = session.execute(select(Theme.id, Theme.centroid).where(
        Theme.model == model, Theme.retired_at.is_(None)).order_by(Theme.id)).all()
    if not live:
        return
    themed = set(session.scalars(
        select(LessonTheme.lesson_id).where(LessonTheme.lesson_id.in_(list(vectors)))))
    centroids = np.stack([np.frombuffer(centroid, dtype=np.float32) for _, centroid in live])
    rows = []
    for lesson_id, passages in vectors.items():
        if lesson_id not in themed and len(passages):
            nearest = themes.nearest_theme(unit_rows(passages.sum(axis=0, keepdims=True))[0],
                                           centroids)
            rows.append({"lesson_id": lesson_id, "theme_id": live[nearest][0],
                         "assigned": "capture"})
    if rows:
        # Another process catching up on the same change may have just assigned it.
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(dialect.insert(LessonTheme).on_conflict_do_nothing(), rows)


def join_unthemed(session: Session, model: str, feeds: Feeds) -> None:
    """Every live lesson under `feeds` with vectors but no theme joins its nearest live theme."""
    themed = select(LessonTheme.lesson_id).where(LessonTheme.lesson_id == Lesson.id).exists()
    unthemed = list(session.scalars(select(Lesson.id).where(Lesson.deleted_at.is_(None),
                                                            ~themed, *feeds)))
    rows = stored_rows(session, model, unthemed)
    place_in_themes(session, model, {
        lesson_id: np.stack([np.frombuffer(row.vector, dtype=np.float32)
                             for row in by_position.values()])
        for lesson_id, by_position in rows.items()}, feeds)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
