"""Passage vectors stored in the database: the truth the FAISS index is rebuilt from.

A passage is encoded again only when its text hash changes or the model does. A bulk
import stores each lesson's leading passage only, so the lessons are searchable at once,
and notes the rest in the backlog, which the queue works off (`SearchEngine.complete`).
"""

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session

from lessons.db import insert_or
from lessons.models import Change, Lesson, PassageBacklog, PassageVector, utcnow
from search.embedder import Embedder
from search.passages import Passage, lesson_passages

CLAIM_TRIES = 5  # workers racing for the same first rows: each loser looks again


def refresh_vectors(
    session: Session,
    embedder: Embedder,
    lessons: Sequence[Lesson],
    seqs: Mapping[int, int],
    leading_only: Collection[int] = (),
) -> dict[int, np.ndarray]:
    """Bring the stored vectors of `lessons` up to date; their vectors, by lesson id.

    Passages whose text hash is already stored for this model are reused; the
    rest are encoded in batches. Every row is stamped with the lesson's
    change-log position from `seqs` (read before the lessons were), so a later
    rebuild knows these vectors match the text up to there. A lesson in
    `leading_only` with no later passage stored gets its leading passage alone
    and goes to the backlog, when it has more; any other leaves it, whole. The
    caller commits.
    """
    stored = stored_rows(session, embedder.model_id, [lesson.id for lesson in lessons])
    wanted = {lesson.id: lesson_passages(lesson.content()) for lesson in lessons}
    # Never at the cost of later passages already stored (a lesson embedded whole before,
    # or a backlog completed since the caller looked).
    waiting = {lesson_id: seqs.get(lesson_id, 0) for lesson_id in leading_only
               if len(wanted.get(lesson_id, ())) > 1 and set(stored[lesson_id]) <= {0}}
    for lesson_id in waiting:
        wanted[lesson_id] = wanted[lesson_id][:1]
    missing = missing_passages(stored, wanted)
    # One call for all of them: sentence-transformers sorts the texts by length
    # before batching, so less padding is computed than with small separate calls.
    vectors = embedder.encode([passage.text for _, passage in missing])
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
        # The lesson got shorter; rows a newer change stored (say, a backlog completed since
        # this sync read it) are that change's to keep.
        shorter.extend(row.id for row in stored[lesson_id].values()
                       if row.seq <= seqs.get(lesson_id, 0))
        result[lesson_id] = np.vstack(matrix)
    upsert_vectors(session, rows)
    if shorter:
        session.execute(delete(PassageVector.__table__).where(PassageVector.id.in_(shorter)))
    set_backlog(session, embedder.model_id, list(wanted), waiting)
    return result


def missing_passages(stored: Mapping[int, Mapping[int, PassageVector]],
                     wanted: Mapping[int, list[Passage]]) -> list[tuple[int, Passage]]:
    """The wanted passages with no stored row of the same text, with their lesson ids."""
    return [(lesson_id, passage) for lesson_id, passages in wanted.items()
            for passage in passages
            if (row := stored[lesson_id].get(passage.position)) is None
            or row.text_hash != passage.text_hash]


def unstored_texts(session: Session, model: str, lessons: Sequence[Lesson]) -> list[str]:
    """The texts of these lessons' passages that have no stored vector for `model`."""
    stored = stored_rows(session, model, [lesson.id for lesson in lessons])
    wanted = {lesson.id: lesson_passages(lesson.content()) for lesson in lessons}
    return [passage.text for _, passage in missing_passages(stored, wanted)]


def set_backlog(session: Session, model: str, lesson_ids: list[int],
                waiting: Mapping[int, int]) -> None:
    """Make the backlog hold, of `lesson_ids`, exactly the lessons in `waiting` (at the
    change-log positions it gives). An upsert, as for the vectors: an import and a sync may
    store the same lesson at once."""
    table = PassageBacklog.__table__
    done = [lesson_id for lesson_id in lesson_ids if lesson_id not in waiting]
    for start in range(0, len(done), 500):
        session.execute(delete(table).where(table.c.model == model,
                                            table.c.lesson_id.in_(done[start:start + 500])))
    if waiting:
        statement = insert_or(session)(table)
        statement = statement.on_conflict_do_update(
            index_elements=["lesson_id", "model"], set_={"seq": statement.excluded.seq})
        session.execute(statement, [{"lesson_id": lesson_id, "model": model, "seq": seq}
                                    for lesson_id, seq in sorted(waiting.items())])


def claim_backlog(session: Session, model: str, limit: int, until: datetime) -> list[int]:
    """Claim, until `until`, the first `limit` lessons of the backlog that no live worker
    holds; their ids. Only the rows this transaction changed are returned, so two workers
    never take the same lesson; one that lost every row to another tries the next ones.
    The caller commits."""
    free = or_(PassageBacklog.claimed_until.is_(None), PassageBacklog.claimed_until < utcnow())
    first = (select(PassageBacklog.lesson_id).where(PassageBacklog.model == model, free)
             .order_by(PassageBacklog.lesson_id).limit(limit))
    for _ in range(CLAIM_TRIES):
        candidates = list(session.scalars(first))
        if not candidates:
            break
        claimed = list(session.scalars(
            update(PassageBacklog).where(PassageBacklog.model == model, free,
                                         PassageBacklog.lesson_id.in_(candidates))
            .values(claimed_until=until).returning(PassageBacklog.lesson_id)))
        if claimed:
            return sorted(claimed)
    return []


def release_backlog(session: Session, model: str, lesson_ids: list[int]) -> None:
    """Give up the claim on these lessons (a worker stopped before completing them)."""
    session.execute(update(PassageBacklog).where(PassageBacklog.model == model,
                                                 PassageBacklog.lesson_id.in_(lesson_ids))
                    .values(claimed_until=None))


def backlog_growing(session: Session, model: str, since: datetime) -> bool:
    """Whether lessons joined the backlog since `since`: an import is under way, and
    encoding their later passages now would slow it."""
    return session.scalar(select(PassageBacklog.lesson_id).where(
        PassageBacklog.model == model, PassageBacklog.added_at >= since).limit(1)) is not None


def backlog_size(session: Session, model: str) -> int:
    return session.scalar(select(func.count()).select_from(PassageBacklog)
                          .where(PassageBacklog.model == model)) or 0


def waiting_in_backlog(session: Session, model: str, seqs: Mapping[int, int]) -> set[int]:
    """Of the lessons in `seqs` (their latest change-log positions), those whose leading
    passage alone is stored for their current text: a sync indexes them as they are."""
    ids = list(seqs)
    waiting: set[int] = set()
    for start in range(0, len(ids), 500):
        query = select(PassageBacklog.lesson_id, PassageBacklog.seq).where(
            PassageBacklog.model == model, PassageBacklog.lesson_id.in_(ids[start:start + 500]))
        waiting.update(lesson_id for lesson_id, seq in session.execute(query)
                       if seq == seqs[lesson_id])
    return waiting


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
    statement = insert_or(session)(table)
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

