"""Themes in the database: recomputed from the live lessons, joined by new lessons in between.

A recompute clusters one vector per lesson (search.themes): its title,
lessons learned and recommendation read whole, which agree more with how
things went wrong than the mean of its search passages (bench/README.md).
Those vectors are stored, so a recompute encodes only lessons whose text
changed. It names each theme by its distinctive terms and central lesson
(the most central one everyone may read: the name is shown to everyone),
and keeps the id of the old theme each new one matches, so trends and links
survive a recompute; a name the PMO gave a theme stays with its id.
Between recomputes, and while one runs, a new lesson joins its nearest theme
as soon as its vectors are stored, so the PMO view is never behind the lessons.
Only lessons that feed insights (`feeds`, by default the approved ones:
lessons.services.reviews) are clustered or join a theme; a lesson joins once it is approved,
and leaves when its author's change sends it back for review.
"""

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import ColumnElement, delete, insert, select
from sqlalchemy.orm import Session

from lessons.db import insert_or
from lessons.fields import LESSON_TEXT_FIELDS
from lessons.models import Lesson, LessonTheme, Theme, ThemeVector, utcnow
from lessons.policy import seen_by_everyone
from lessons.services.reviews import Feeds
from search import themes
from search.embedder import Embedder
from search.vectors import all_vectors

if TYPE_CHECKING:  # the engine tells `placer`'s listener below when vectors change
    from search.engine import SearchEngine, VectorsChanged

# A recomputed theme keeps an old id when their centroids are at least this alike: distinct
# NASA themes reach 0.83, a theme and its recomputed self mostly 0.9 (bench/theme_quality.py).
MATCH_SIMILARITY = 0.85
LABEL_FIELDS = ("title", *LESSON_TEXT_FIELDS)
ENCODE_BATCH = 256  # lessons encoded between progress reports
WENT_WELL = Lesson.kind == "went_well"  # what works: themes of their own
Progress = Callable[[str, int, int], None]  # (stage, done, total)


def recompute(engine: "SearchEngine", feeds: Feeds, count: int | None = None,
              on_progress: Progress | None = None) -> int:
    """Cluster the live lessons under `feeds` into about `count` themes (None: chosen by
    size), store them; how many.

    Lessons that went well are clustered apart: a theme of what works never mixes with the
    mistakes of the same subject."""
    report = on_progress or (lambda stage, done, total: None)
    engine.ready(lambda done, total: report("Embedding lessons", done, total))
    with engine.sessions() as session:
        lesson_ids, vectors = theme_vectors(session, engine.embedder, engine.model, feeds, report)
        session.commit()  # a cache: kept even if clustering fails; frees SQLite for progress
        works = np.isin(lesson_ids, list(session.scalars(
            select(Lesson.id).where(WENT_WELL, Lesson.deleted_at.is_(None), *feeds))))
        groups = [works, ~works]
        found = [clustering(session, lesson_ids[group], vectors[group], share, bool(kind), report)
                 for group, share, kind in zip(groups, theme_counts(count, groups), (True, False),
                                               strict=True)]
        report("Saving", 0, 1)
        store(session, engine.model, found)
        join_unthemed(session, engine.embedder, engine.model, feeds)  # captured meanwhile
        session.commit()
    report("Done", 1, 1)
    return sum(len(group.centroids) for group in found)


def theme_counts(count: int | None, groups: Sequence[np.ndarray]) -> list[int | None]:
    """The themes asked of each group of lessons: `count` shared by size (None: each chooses)."""
    sizes = [int(group.sum()) for group in groups]
    if count is None:
        return [None] * len(groups)
    return [max(1, round(count * size / max(sum(sizes), 1))) for size in sizes]


@dataclass
class Clustering:
    lesson_ids: np.ndarray
    labels: np.ndarray  # each lesson's theme, 0..themes-1
    centroids: np.ndarray  # one unit row per theme
    keywords: list[list[str]]
    central: list[int]  # the lesson id nearest each centroid
    works: bool  # lessons that went well


def clustering(session: Session, lesson_ids: np.ndarray, vectors: np.ndarray,
               count: int | None, works: bool, report: Progress) -> Clustering:
    """The themes of these lessons, named."""
    if not len(lesson_ids):
        return Clustering(lesson_ids, np.zeros(0, np.int64),
                          np.zeros((0, vectors.shape[1]), np.float32), [], [], works)
    report("Clustering", 0, 1)
    labels = themes.cluster(vectors, count)
    centroids = themes.centroids(vectors, labels)
    report("Naming themes", 0, 1)
    texts = lesson_texts(session, lesson_ids)
    keywords = themes.distinctive_terms(texts, labels)
    nameable = np.array([bool(text) for text in texts])  # lesson_texts: only what all may see
    central = [int(lesson_ids[i])
               for i in themes.central_member(vectors, labels, centroids, nameable)]
    return Clustering(lesson_ids, labels, centroids, keywords, central, works)


def lesson_vectors(session: Session, model: str, dim: int,
                   *feeds: ColumnElement[bool]) -> tuple[np.ndarray, np.ndarray]:
    """(lesson ids, unit vectors) of the live lessons (under `feeds`): the normalised mean of
    each one's passages, all it says, which repeated mistakes are compared on (insights.trends).
    """
    passage_ids, matrix = all_vectors(session, model, dim, *feeds)  # sorted by lesson
    lesson_ids, first = np.unique(passage_ids, return_index=True)
    if not len(lesson_ids):
        return lesson_ids, np.zeros((0, dim), dtype=np.float32)
    sums = np.add.reduceat(matrix, first, axis=0)
    return lesson_ids, unit_rows(sums)


def theme_text(title: str | None, what_happened: str | None, root_cause: str | None,
               recommendation: str | None) -> str:
    """What a lesson teaches, as themes read it: its title, lessons learned and
    recommendation; a lesson with neither of the last two (a success told in what happened)
    by what happened instead. The model reads the first 256 word pieces."""
    body: list[str | None] = [text for text in (root_cause, recommendation)
                              if text and text.strip()]
    return "\n".join(text.strip() for text in (title, *(body or [what_happened])) if text)


def theme_vectors(session: Session, embedder: Embedder, model: str, conditions: Feeds,
                  report: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(lesson ids, unit vectors) of the live lessons under `conditions`, each its theme text
    encoded whole: stored vectors are reused, missing or outdated ones encoded and stored."""
    rows = session.execute(
        select(Lesson.id, Lesson.title, Lesson.what_happened, Lesson.root_cause,
               Lesson.recommendation, ThemeVector.text_hash, ThemeVector.vector)
        .outerjoin(ThemeVector, (ThemeVector.lesson_id == Lesson.id) & (ThemeVector.model == model))
        .where(Lesson.deleted_at.is_(None), *conditions).order_by(Lesson.id)).all()
    texts = {row.id: theme_text(*row[1:5]) for row in rows}
    hashes = {i: hashlib.sha256(text.encode("utf-8")).hexdigest() for i, text in texts.items()}
    vectors = {row.id: np.frombuffer(row.vector, dtype=np.float32) for row in rows
               if row.text_hash == hashes[row.id] and len(row.vector) == 4 * embedder.dim}
    missing = [i for i in texts if i not in vectors]
    for start in range(0, len(missing), ENCODE_BATCH):
        if report:
            report("Reading lessons for themes", start, len(missing))
        batch = missing[start:start + ENCODE_BATCH]
        vectors.update(zip(batch, embedder.encode([texts[i] for i in batch]), strict=True))
    store_theme_vectors(session, model, {i: (hashes[i], vectors[i]) for i in missing})
    lesson_ids = np.array([row.id for row in rows], dtype=np.int64)
    if not len(lesson_ids):
        return lesson_ids, np.zeros((0, embedder.dim), dtype=np.float32)
    return lesson_ids, unit_rows(np.stack([vectors[int(i)] for i in lesson_ids]))


def store_theme_vectors(session: Session, model: str,
                        encoded: Mapping[int, tuple[str, np.ndarray]]) -> None:
    """Insert or replace these lessons' theme vectors: another process may store the same."""
    if not encoded:
        return
    statement = insert_or(session)(ThemeVector)
    session.execute(statement.on_conflict_do_update(
        index_elements=[ThemeVector.lesson_id, ThemeVector.model],
        set_={"text_hash": statement.excluded.text_hash, "vector": statement.excluded.vector}),
        [{"lesson_id": i, "model": model, "text_hash": text_hash,
          "vector": np.asarray(vector, dtype=np.float32).tobytes()}
         for i, (text_hash, vector) in encoded.items()])


def lesson_texts(session: Session, lesson_ids: np.ndarray) -> list[str]:
    """The text of each lesson, in the order of `lesson_ids`, to name themes by.

    Only lessons everyone may see name a theme: everyone reads the names, so a
    word from a team-only lesson or a draft must never show up in one.
    """
    columns = [getattr(Lesson, name) for name in LABEL_FIELDS]
    texts = {row[0]: "\n".join(filter(None, row[1:])) for row in session.execute(
        select(Lesson.id, *columns).where(Lesson.deleted_at.is_(None), seen_by_everyone()))}
    return [texts.get(int(lesson_id), "") for lesson_id in lesson_ids]


def stable_ids(session: Session, model: str, found: Clustering, next_id: int) -> list[int]:
    """Each new theme's id: its old theme's (of the same kind) if one matches, else one never
    given before, from `next_id` on."""
    previous = {theme_id: np.frombuffer(centroid, dtype=np.float32)
                for theme_id, centroid in session.execute(select(Theme.id, Theme.centroid).where(
                    Theme.model == model, Theme.works == found.works))}
    return themes.match_to_previous(previous, found.centroids, MATCH_SIMILARITY, next_id)


def store(session: Session, model: str, groups: Sequence[Clustering]) -> None:
    """Write the themes and every lesson's theme; retire the themes no longer found."""
    now = utcnow()
    existing = {theme.id: theme for theme in session.scalars(select(Theme))}
    next_id = max(existing, default=0) + 1
    assigned, kept = [], set()
    for found in groups:
        ids = stable_ids(session, model, found, next_id)
        next_id = max([next_id - 1, *ids]) + 1
        for index, theme_id in enumerate(ids):
            theme = existing.get(theme_id) or Theme(id=theme_id)
            theme.model, theme.keywords, theme.works = model, found.keywords[index], found.works
            theme.central_lesson_id = found.central[index]
            theme.centroid = found.centroids[index].tobytes()
            theme.computed_at, theme.retired_at = now, None
            session.add(theme)
        kept.update(ids)
        assigned += [{"lesson_id": int(lesson_id), "theme_id": ids[label],
                      "assigned": "recompute"}
                     for lesson_id, label in zip(found.lesson_ids, found.labels, strict=True)]
    for theme in existing.values():
        if theme.id not in kept and theme.retired_at is None:
            theme.retired_at = now
    session.flush()
    session.execute(delete(LessonTheme))
    if assigned:
        session.execute(insert(LessonTheme), assigned)


def placer(feeds: Feeds) -> "VectorsChanged":
    """The engine's listener (web.engine registers it): lessons whose vectors just changed
    join a theme when they are under `feeds`, or leave theirs when they no longer are."""

    def place_changed(session: Session, engine: "SearchEngine", lesson_ids: list[int]) -> None:
        place_in_themes(session, engine.embedder, engine.model, lesson_ids, feeds)

    return place_changed


def place_in_themes(session: Session, embedder: Embedder, model: str,
                    lesson_ids: Sequence[int], feeds: Feeds) -> None:
    """Lessons under `feeds` not yet in a theme join the live theme nearest to them; the
    others leave theirs."""
    fed = set(lesson_ids)
    if feeds:  # only some lessons feed themes: which of these
        fed = set(session.scalars(select(Lesson.id).where(Lesson.id.in_(list(fed)), *feeds)))
    if unfed := set(lesson_ids) - fed:
        session.execute(delete(LessonTheme).where(LessonTheme.lesson_id.in_(list(unfed))))
    live = session.execute(select(Theme.id, Theme.centroid, Theme.works).where(
        Theme.model == model, Theme.retired_at.is_(None)).order_by(Theme.id)).all()
    if not fed or not live:
        return
    themed = select(LessonTheme.lesson_id).where(LessonTheme.lesson_id == Lesson.id).exists()
    ids, vectors = theme_vectors(session, embedder, model, [Lesson.id.in_(list(fed)), ~themed])
    works = set(session.scalars(select(Lesson.id).where(Lesson.id.in_(list(fed)), WENT_WELL)))
    # Each lesson joins a theme of its own kind, or any while there is none of its kind.
    kin = {kind: [t for t in live if t.works == kind] or live for kind in (True, False)}
    centroids = {kind: np.stack([np.frombuffer(t.centroid, dtype=np.float32) for t in group])
                 for kind, group in kin.items()}
    rows = []
    for lesson_id, vector in zip(ids, vectors, strict=True):
        kind = int(lesson_id) in works
        rows.append({"lesson_id": int(lesson_id), "assigned": "capture",
                     "theme_id": kin[kind][themes.nearest_theme(vector, centroids[kind])].id})
    if rows:
        # Another process catching up on the same change may have just assigned it.
        session.execute(insert_or(session)(LessonTheme).on_conflict_do_nothing(), rows)


def join_unthemed(session: Session, embedder: Embedder, model: str, feeds: Feeds) -> None:
    """Every live lesson under `feeds` but in no theme joins its nearest live theme."""
    themed = select(LessonTheme.lesson_id).where(LessonTheme.lesson_id == Lesson.id).exists()
    unthemed = list(session.scalars(select(Lesson.id).where(Lesson.deleted_at.is_(None),
                                                            ~themed, *feeds)))
    place_in_themes(session, embedder, model, unthemed, feeds)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
