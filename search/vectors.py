"""Passage vectors stored in the database: the truth the FAISS index is rebuilt from.

A passage is encoded again only when its text hash changes or the model does.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lessons.models import Change, Lesson, PassageVector
from search.embedder import Embedder
from search.passages import lesson_passages

ENCODE_BATCH = 64


def refresh_vectors(
    session: Session,
    embedder: Embedder,
    lessons: Sequence[Lesson],
    seqs: Mapping[int, int],
) -> dict[int, np.ndarray]:
    """Bring the stored vectors of `lessons` up to date; their vectors, by lesson id.

    Passages whose text hash is already stored for this model are reused; the
    rest are encoded in batches. Every row is stamped with the lesson's
    change-log position from `seqs` (read before the lessons were), so a later
    rebuild knows these vectors match the text up to there. The caller commits.
    """
    stored = stored_rows(session, embedder.model_id, [lesson.id for lesson in lessons])
    wanted = {lesson.id: lesson_passages(lesson.content()) for lesson in lessons}
    missing = [
        (lesson_id, passage)
        for lesson_id, passages in wanted.items()
        for passage in passages
        if (row := stored[lesson_id].get(passage.position)) is None
        or row.text_hash != passage.text_hash
    ]
    # One call for all of them: sentence-transformers sorts the texts by length
    # before batching, so less padding is computed than with small separate calls.
    vectors = embedder.encode([passage.text for _, passage in missing], batch_size=ENCODE_BATCH)
    encoded = {(lesson_id, p.position): v
               for (lesson_id, p), v in zip(missing, vectors, strict=True)}
    result: dict[int, np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    shorter: list[int] = []
    for lesson_id, passages in wanted.items():
        matrix = []
        for passage in passages:
            key = (lesson_id, passage.position)
            row = stored[lesson_id].pop(passage.position, None)
            if key in encoded:
                vector = encoded[key]
            else:
                assert row is not None  # a passage with no stored row is among `missing`
                vector = np.frombuffer(row.vector, np.float32)
            rows.append({"lesson_id": lesson_id, "model": embedder.model_id,
                         "position": passage.position, "dim": embedder.dim,
                         "text_hash": passage.text_hash, "vector": vector.tobytes(),
                         "seq": seqs.get(lesson_id, 0)})
            matrix.append(vector)
        shorter.extend(row.id for row in stored[lesson_id].values())  # the lesson got shorter
        result[lesson_id] = np.vstack(matrix)
    upsert_vectors(session, rows)
    if shorter:
        session.execute(delete(PassageVector.__table__).where(PassageVector.id.in_(shorter)))
    return result


def upsert_vectors(session: Session, rows: list[dict[str, Any]]) -> None:
    """Store passage rows, updating those already there, however they got there.

    An import's embedding and a request's sync may embed the same new lesson at
    once, each having read "no vectors yet": a plain insert made the second fail
    on the unique key. The vector of the newer change wins. Rows go in key order,
    so two PostgreSQL transactions lock them in the same order and never deadlock.
    """
    if not rows:
        return
    table = PassageVector.__table__
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["lesson_id", "model", "position"],
        set_={name: statement.excluded[name] for name in ("dim", "text_hash", "vector", "seq")},
        where=table.c.seq <= statement.excluded.seq)
    session.execute(statement, sorted(rows, key=lambda row: (row["lesson_id"], row["position"])))


def stored_rows(
    session: Session, model: str, lesson_ids: Iterable[int]
) -> dict[int, dict[int, PassageVector]]:
    """The stored passage rows of these lessons for `model`, by lesson id and position."""
    rows: dict[int, dict[int, PassageVector]] = defaultdict(dict)
    ids = list(lesson_ids)
    for start in range(0, len(ids), 500):
        query = select(PassageVector).where(
            PassageVector.model == model, PassageVector.lesson_id.in_(ids[start:start + 500])
        )
        for row in session.scalars(query):
            rows[row.lesson_id][row.position] = row
    return rows


def latest_changes(session: Session, lesson_ids: Sequence[int]) -> dict[int, int]:
    """The newest change-log position of each of these lessons."""
    seqs: dict[int, int] = {}
    for start in range(0, len(lesson_ids), 500):
        query = (select(Change.entity_id, func.max(Change.seq))
                 .where(Change.entity == "lesson",
                        Change.entity_id.in_(lesson_ids[start:start + 500]))
                 .group_by(Change.entity_id))
        seqs.update(session.execute(query).all())
    return seqs


def is_current(session: Session, model: str, lesson_id: int) -> bool:
    """Whether the lesson's stored vectors for `model` reflect its latest change (a search
    engine has caught up with it, and placed it in its theme)."""
    oldest = session.scalar(select(func.min(PassageVector.seq)).where(
        PassageVector.lesson_id == lesson_id, PassageVector.model == model))
    return oldest is not None and oldest >= latest_changes(session, [lesson_id]).get(lesson_id, 0)


def stale_lessons(session: Session, model: str) -> list[int]:
    """Live lessons whose vectors for `model` are missing or older than their last change."""
    latest = (select(Change.entity_id.label("lesson_id"), func.max(Change.seq).label("seq"))
              .where(Change.entity == "lesson").group_by(Change.entity_id).subquery())
    embedded = (select(PassageVector.lesson_id, func.min(PassageVector.seq).label("seq"))
                .where(PassageVector.model == model).group_by(PassageVector.lesson_id).subquery())
    query = (
        select(Lesson.id)
        .outerjoin(latest, latest.c.lesson_id == Lesson.id)
        .outerjoin(embedded, embedded.c.lesson_id == Lesson.id)
        .where(Lesson.deleted_at.is_(None),
               embedded.c.seq.is_(None) | (embedded.c.seq < func.coalesce(latest.c.seq, 0)))
        .order_by(Lesson.id)
    )
    return list(session.scalars(query))


def all_vectors(session: Session, model: str, dim: int,
                *conditions: ColumnElement[bool]) -> tuple[np.ndarray, np.ndarray]:
    """(lesson ids, vectors) of every passage of every live lesson (under `conditions`, if
    given), for a rebuild or the themes."""
    query = (
        select(PassageVector.lesson_id, PassageVector.vector)
        .join(Lesson, Lesson.id == PassageVector.lesson_id)
        .where(PassageVector.model == model, PassageVector.dim == dim,
               Lesson.deleted_at.is_(None), *conditions)
        .order_by(PassageVector.lesson_id, PassageVector.position)
        .execution_options(yield_per=10_000)
    )
    ids, blobs = [], []
    for lesson_id, blob in session.execute(query):
        ids.append(lesson_id)
        blobs.append(blob)
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)
    matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), dim)
    return np.asarray(ids, dtype=np.int64), matrix

