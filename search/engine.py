"""The search engine of one process: a replica of the vector index kept in step with the database.

Every process holds its own index (`search.index`: FAISS unless
`vector_index` names another). Before answering, it reads the change log from
the last change it applied and re-indexes the lessons changed since, so a
lesson written through any process is found through all of them. Vectors come
from the database (encoded only when their text changed); the index is
snapshotted to the instance folder (`search.snapshot`) and rebuilt from stored
vectors whenever the snapshot cannot be trusted.
"""

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lessons.db import database_identity
from lessons.models import Change, Lesson, utcnow
from lessons.services.common import record_change
from search import vectors
from search.embedder import Embedder, Precomputed, get_embedder
from search.index import (
    DEFAULT_VECTOR_INDEX,
    AllowedIds,
    SnapshotError,
    VectorIndex,
    vector_index_type,
)
from search.snapshot import (
    check_origin,
    load_snapshot,
    read_manifest,
    remove_stale_temp_files,
    save_snapshot,
)
from search.tags import TagVectors

log = logging.getLogger(__name__)

SNAPSHOT_EVERY = 500  # changes applied since the last snapshot
SYNC_BATCH = 256  # lessons re-embedded per transaction while catching up
COMPLETE_BATCH = 32  # backlog lessons completed per transaction: a short change-log lock
COMPLETE_CLAIM = timedelta(minutes=10)  # a dead worker's batch is taken up again after this
Progress = Callable[[int, int], None]  # (done, total)
# Told, in the transaction that stores them, which lessons' vectors changed (themes listen).
VectorsChanged = Callable[[Session, "SearchEngine", list[int]], None]


class IndexNotReady(Exception):
    """Another thread is building the index; try again shortly."""

    def __init__(self, done: int, total: int):
        progress = f" ({done} of {total} lessons embedded)" if total else ""
        super().__init__(f"The search index is being built{progress}. Try again in a minute.")
        self.message = str(self)


class SearchEngine:
    """Owns the index of one process; all its methods are safe to call from many threads."""

    def __init__(self, sessions: sessionmaker[Session], folder: Path, model: str,
                 wait_while_building: bool = True,
                 vector_index: str = DEFAULT_VECTOR_INDEX):
        self.sessions = sessions
        self.folder = folder
        self.model = model
        # Resolved now, so an unknown name stops the app at start-up, not at its first search.
        self.vector_index = vector_index
        self.index_type = vector_index_type(vector_index)
        self.index: VectorIndex | None = None
        self.last_seq = 0
        self.database = ""  # the identity of the database the index reflects
        self.changes_since_snapshot = 0
        self.lock = threading.RLock()
        # A web request should not queue for minutes behind a first build: it is told instead.
        self.wait_while_building = wait_while_building
        self.progress: tuple[int, int] = (0, 0)
        self.tags = TagVectors()
        self.listeners: list[VectorsChanged] = []
        self.completing = threading.Lock()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The engine's lock, or `IndexNotReady` while another thread builds the index."""
        if not self.lock.acquire(blocking=self.wait_while_building or self.index is not None):
            raise IndexNotReady(*self.progress)
        try:
            yield
        finally:
            self.lock.release()

    def on_vectors_changed(self, listener: VectorsChanged) -> None:
        """Call `listener(session, engine, lesson_ids)` whenever lessons' vectors change, in the
        transaction that stores them: the engine knows nothing of who listens."""
        self.listeners.append(listener)

    @property
    def embedder(self) -> Embedder:
        return get_embedder(self.model)

    def ready(self, on_progress: Progress | None = None) -> "SearchEngine":
        """Load the snapshot (or rebuild) on first use, then catch up with the change log."""
        with self.locked():
            if self.index is None:
                self.start(on_progress)
            self.sync(on_progress)
        return self

    def start(self, on_progress: Progress | None = None) -> None:
        """Trust the snapshot if it fits this model and database, else rebuild."""
        with self.lock:
            remove_stale_temp_files(self.folder)
            with self.sessions() as session:
                newest = latest_seq(session)
                self.database = database_identity(session)
                session.commit()
            try:
                index, manifest = load_snapshot(self.folder, self.model, self.embedder.dim,
                                                self.vector_index)
                check_origin(manifest, self.database, newest)
            except SnapshotError as reason:
                log.info("Rebuilding the search index: %s", reason)
                self.rebuild(on_progress)
                return
            self.index, self.last_seq = index, manifest.last_seq
            self.sync(on_progress)
            self.index_missing()

    def rebuild(self, on_progress: Progress | None = None) -> None:
        """Embed what has no vector yet (resumable), then build the index from stored vectors."""
        with self.lock:
            with self.sessions() as session:
                # Read the position first: changes made during the rebuild are replayed.
                position = latest_seq(session)
                self.database = database_identity(session)
                session.commit()
                stale = vectors.stale_lessons(session, self.model)
            self.embed(stale, on_progress)
            with self.sessions() as session:
                ids, matrix = vectors.all_vectors(session, self.model, self.embedder.dim)
            self.index = self.index_type.build(self.embedder.dim, ids, matrix)
            self.last_seq = position
            self.snapshot()

    def embed(self, lesson_ids: list[int], on_progress: Progress | None = None,
              leading_only: bool = False) -> None:
        """Store vectors for these lessons, a batch per transaction, so an interruption loses
        little; with `leading_only`, only each one's leading passage (see `complete`)."""
        done = 0
        for start in range(0, len(lesson_ids), SYNC_BATCH):
            batch = lesson_ids[start:start + SYNC_BATCH]
            with self.sessions() as session:
                seqs = vectors.latest_changes(session, batch)  # before reading the texts
                lessons = session.scalars(select(Lesson).where(Lesson.id.in_(batch))).all()
                vectors.refresh_vectors(session, self.embedder, lessons, seqs,
                                        leading_only=batch if leading_only else ())
                session.commit()
            done += len(batch)
            self.progress = (done, len(lesson_ids))
            if on_progress:
                on_progress(done, len(lesson_ids))

    def embed_leading(self, lesson_ids: list[int]) -> None:
        """Store the leading passage of each of these lessons: enough to find them, at a
        bulk import's pace (a NASA lesson has six passages); `complete` encodes the rest."""
        self.embed(lesson_ids, leading_only=True)

    def embed_missing(self, on_progress: Progress | None = None) -> int:
        """Embed the live lessons whose vectors are missing or stale (say, committed by an
        import killed before it embedded them; by their leading passage if they have no
        vectors yet); how many."""
        with self.sessions() as session:
            stale = vectors.stale_lessons(session, self.model)
        self.embed(stale, on_progress, leading_only=True)
        return len(stale)

    def complete(self, on_progress: Progress | None = None) -> int:
        """Encode the passages after the first of every lesson in the backlog; how many
        lessons. Each batch is claimed (so workers side by side share the backlog), encoded
        before its transaction begins, then stored with a change-log entry, which brings it
        whole into every process's index. One run at a time in a process (a second returns
        0 at once), so a worker's other threads stay free for notices; it stops when an
        import starts adding to the backlog, which finishes it when it ends."""
        if not self.completing.acquire(blocking=False):
            return 0
        try:
            started = utcnow()
            with self.sessions() as session:
                total = vectors.backlog_size(session, self.model)
            done = 0
            while not self.backlog_growing(started) and (batch := self.complete_batch()):
                done += batch
                if on_progress:
                    on_progress(min(done, total), total)
            return done
        finally:
            self.completing.release()

    def backlog_growing(self, since: datetime) -> bool:
        """Whether lessons joined the backlog since `since` (an import is under way)."""
        with self.sessions() as session:
            return vectors.backlog_growing(session, self.model, since)

    def complete_batch(self) -> int:
        """Complete the first lessons of the backlog no one else holds; how many."""
        with self.sessions() as session:
            lesson_ids = vectors.claim_backlog(session, self.model, COMPLETE_BATCH,
                                               utcnow() + COMPLETE_CLAIM)
            session.commit()
            if not lesson_ids:
                return 0
            texts = vectors.unstored_texts(session, self.model, live_lessons(session, lesson_ids))
        try:
            self.store_completed(lesson_ids, Precomputed(self.embedder, texts))
        except BaseException:  # Ctrl+C too: the next worker need not wait out the claim
            with self.sessions() as session:
                vectors.release_backlog(session, self.model, lesson_ids)
                session.commit()
            raise
        return len(lesson_ids)

    def store_completed(self, lesson_ids: list[int], encoded: Precomputed) -> None:
        """Store every passage of these claimed lessons, `encoded` before this transaction
        began, and take them out of the backlog."""
        with self.sessions() as session:
            live = list(session.scalars(select(Lesson.id).where(
                Lesson.id.in_(lesson_ids), Lesson.deleted_at.is_(None))))
            # Logged before the texts are read: on PostgreSQL this locks the change log (on
            # SQLite the database), so no edit commits between the read and the write; one
            # made since the encoding is encoded here, as it now reads.
            for lesson_id in live:
                record_change(session, "lesson", lesson_id, "embedded")
            session.flush()
            vectors.refresh_vectors(session, encoded, live_lessons(session, live),
                                    vectors.latest_changes(session, live))
            # refresh_vectors took the live ones out of the backlog; the deleted go too.
            deleted = sorted(set(lesson_ids) - set(live))
            vectors.set_backlog(session, self.model, deleted, {})
            session.commit()

    def index_missing(self) -> None:
        """Embed and index the live lessons a trusted snapshot holds without stored vectors:
        their changes are behind the snapshot's position, so no sync would bring them."""
        with self.lock, self.sessions() as session:
            stale = vectors.stale_lessons(session, self.model)
            seqs = vectors.latest_changes(session, stale)
        for start in range(0, len(stale), SYNC_BATCH):
            self.reindex_lessons(stale[start:start + SYNC_BATCH], seqs)

    def sync(self, on_progress: Progress | None = None) -> int:
        """Apply every lesson change logged since the last one applied; how many lessons changed."""
        with self.locked():
            if self.index is None:
                self.start(on_progress)
                return 0
            with self.sessions() as session:
                changes = session.execute(
                    select(Change.seq, Change.entity_id)
                    .where(Change.seq > self.last_seq, Change.entity == "lesson")
                    .order_by(Change.seq)
                ).all()
            if not changes:
                return 0
            seqs = {lesson_id: seq for seq, lesson_id in changes}  # the last change of each
            changed = list(seqs)
            for start in range(0, len(changed), SYNC_BATCH):
                self.reindex_lessons(changed[start:start + SYNC_BATCH], seqs)
                if on_progress:
                    on_progress(min(start + SYNC_BATCH, len(changed)), len(changed))
            self.last_seq = changes[-1][0]
            self.changes_since_snapshot += len(changed)
            if self.changes_since_snapshot >= SNAPSHOT_EVERY:
                self.snapshot()
            return len(changed)

    def reindex_lessons(self, lesson_ids: list[int], seqs: dict[int, int]) -> None:
        """Replace these lessons' vectors in the index; deleted ones leave, new ones join a
        theme (or leave it, when they no longer feed themes)."""
        with self.sessions() as session:
            live = live_lessons(session, lesson_ids)
            # A lesson whose leading passage alone is stored stays so: `complete` encodes it.
            waiting = vectors.waiting_in_backlog(session, self.model,
                                                 {i: seqs[i] for i in lesson_ids if i in seqs})
            fresh = vectors.refresh_vectors(session, self.embedder, live, seqs, waiting)
            for listener in self.listeners:
                listener(session, self, list(fresh))
            session.commit()
        index = self.index
        assert index is not None  # called by sync() and index_missing(), once there is one
        index.remove(lesson_ids)
        for lesson_id, matrix in fresh.items():
            index.add(np.full(len(matrix), lesson_id, dtype=np.int64), matrix)

    def snapshot(self) -> None:
        """Write the index and its manifest to the instance folder."""
        with self.lock:
            if self.index is not None:
                save_snapshot(self.index, self.folder, self.model, self.last_seq, self.database,
                              self.vector_index)
                self.changes_since_snapshot = 0

    def dense(self, vector: np.ndarray, k: int, allowed: AllowedIds | None
              ) -> list[tuple[int, float]]:
        """The `k` nearest lessons to `vector` (within `allowed`, if given)."""
        with self.locked():
            return self.loaded_index().search(vector, k, allowed)

    def passage_scores(self, vector: np.ndarray, lesson_ids: list[int]) -> dict[int, list[float]]:
        """The cosine of every passage of these lessons with `vector`, by lesson id."""
        with self.locked():
            return self.loaded_index().passage_scores(vector, lesson_ids)

    def loaded_index(self) -> VectorIndex:
        """The index, loaded or built first if this process has none yet (under the lock)."""
        if self.index is None:
            self.ready()
        assert self.index is not None  # ready() loads or builds one, or raises
        return self.index

    def tag_scores(self, session: Session, vector: np.ndarray) -> dict[str, float]:
        """The cosine of every tag in use with `vector` (see `search.tags`)."""
        return self.tags.scores(session, self.embedder, vector, self.last_seq)

    def status(self) -> str:
        """The state of the snapshot on disk, for `lessons status` (loads no model)."""
        try:
            manifest = read_manifest(self.folder)
        except SnapshotError as reason:
            return f"not built ({reason})"
        if manifest.model != self.model:
            return f"stale: built for model {manifest.model}; the next start re-embeds"
        kind = "exact" if manifest.index_type == "flat" else "approximate"
        return (f"{manifest.index_type} ({kind}), "
                f"{manifest.count} passage vectors, {manifest.dim} dimensions, "
                f"up to change {manifest.last_seq}, in {self.folder}")


def live_lessons(session: Session, lesson_ids: list[int]) -> list[Lesson]:
    """These lessons, but those deleted."""
    return list(session.scalars(select(Lesson).where(Lesson.id.in_(lesson_ids),
                                                     Lesson.deleted_at.is_(None))))


def latest_seq(session: Session) -> int:
    """The newest position in the change log."""
    return session.scalar(select(func.max(Change.seq))) or 0
