"""Passage vectors stored in the database: the truth the FAISS index is rebuilt from.

A passage is encoded again only when its text hash changes or the model does.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lessons.models import Lesson, PassageVector
from search.embedder import Embedder
from search.passages import lesson_passages

ENCODE_BATCH = 64


def refresh_vectors(
    session: Session,
    embedder: Embedder,
    lessons: Sequence[Lesson],
    on_progress: Callable[[int], None] | None = None,
) -> dict[int, np.ndarray]:
    """Bring the stored vectors of `lessons` up to date; their vectors, by lesson id.

    Passages whose text hash is already stored for this model are reused; the
    rest are encoded in batches. The caller commits.
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
    encoded = {}
    for start in range(0, len(missing), ENCODE_BATCH):
        batch = missing[start:start + ENCODE_BATCH]
        vectors = embedder.encode([passage.text for _, passage in batch], batch_size=ENCODE_BATCH)
        encoded.update({(lesson_id, p.position): v for (lesson_id, p), v in zip(batch, vectors)})
        if on_progress:
            on_progress(len(batch))
    result = {}
    for lesson_id, passages in wanted.items():
        rows = []
        for passage in passages:
            key = (lesson_id, passage.position)
            row = stored[lesson_id].pop(passage.position, None)
            if key in encoded:
                if row is None:
                    row = PassageVector(lesson_id=lesson_id, model=embedder.model_id,
                                        position=passage.position)
                    session.add(row)
                # Updated in place: a delete and insert of the same position would clash.
                row.dim, row.text_hash = embedder.dim, passage.text_hash
                row.vector = encoded[key].tobytes()
            rows.append(np.frombuffer(row.vector, dtype=np.float32))
        for leftover in stored[lesson_id].values():  # the lesson got shorter
            session.delete(leftover)
        result[lesson_id] = np.vstack(rows)
    session.flush()
    return result


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


def lessons_without_vectors(session: Session, model: str) -> list[int]:
    """Live lessons that have no stored vector for `model` yet."""
    has_vectors = select(PassageVector.lesson_id).where(PassageVector.model == model)
    query = select(Lesson.id).where(Lesson.deleted_at.is_(None), Lesson.id.not_in(has_vectors))
    return list(session.scalars(query.order_by(Lesson.id)))


def all_vectors(session: Session, model: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(lesson ids, vectors) of every passage of every live lesson, for a rebuild."""
    query = (
        select(PassageVector.lesson_id, PassageVector.vector)
        .join(Lesson, Lesson.id == PassageVector.lesson_id)
        .where(PassageVector.model == model, PassageVector.dim == dim,
               Lesson.deleted_at.is_(None))
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


def drop_other_models(session: Session, model: str) -> int:
    """Delete vectors of models no longer in use; how many rows went."""
    return session.execute(delete(PassageVector).where(PassageVector.model != model)).rowcount
