"""What search follows and records: passage vectors and the backlog of passages still to
encode, the change log, the database's identity (which an index snapshot must match), and the
log of searches and kickoffs."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lessons.models.base import Base, utcnow


class PassageVector(Base):
    """One embedded passage of a lesson, for one model: the search index is rebuilt from these."""

    __tablename__ = "passage_vectors"
    __table_args__ = (UniqueConstraint("lesson_id", "model", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(500), index=True)
    position: Mapped[int]
    dim: Mapped[int]
    text_hash: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    # The change-log position of the lesson text this vector was checked against:
    # a lesson changed after its vectors' position needs a fresh look.
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))


class PassageBacklog(Base):
    """A lesson embedded by its leading passage only (a bulk import makes it searchable at
    once), whose later passages wait for the queue to encode them (`SearchEngine.complete`)."""

    __tablename__ = "passage_backlog"

    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"),
                                           primary_key=True)
    model: Mapped[str] = mapped_column(String(500), primary_key=True)
    # The change-log position of the text whose leading passage was stored: a lesson
    # changed since is embedded whole by the sync that sees its change.
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    # When it joined: a backlog still growing means an import is under way.
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    # While a worker encodes it: when that worker's claim lapses, if it died.
    claimed_until: Mapped[datetime | None]


class SearchLog(Base):
    """A search or a kickoff and how well the best lesson matched: weak ones are learning gaps."""

    __tablename__ = "search_log"
    __table_args__ = (Index("ix_search_log_actor", "actor", "id"),)  # one's latest search

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # "search" or "kickoff"
    text: Mapped[str] = mapped_column(String(500))
    best_similarity: Mapped[float]  # cosine of the closest passage, 0 when nothing was found
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    actor: Mapped[str]
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Change(Base):
    """One row per write, in commit order: what other processes and the index follow."""

    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_entity_seq", "entity", "seq"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int]
    op: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class DatabaseIdentity(Base):
    """One row: a random id given to the database when it is created and again at every
    restore. An index snapshot keeps the id it was built for, so a snapshot made for another
    database, or for this one before a restore, is never trusted."""

    __tablename__ = "database_identity"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1: there is one row
    value: Mapped[str] = mapped_column(String(32))
