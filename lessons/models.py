"""Typed SQLAlchemy models: projects, lessons, their actions, revisions and the change log.

Rows are only written through `lessons.services`. Nothing is hard-deleted:
`deleted_at` marks a soft delete, which a restore clears.
"""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no zone, PostgreSQL does; this makes both answer alike.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given for a UTC column")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, str: String(200)}


class Timestamps:
    """Created, updated and soft-deleted times."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Project(Timestamps, Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    sponsor: Mapped[str | None]
    business_unit: Mapped[str | None]
    phase: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    objectives: Mapped[str | None] = mapped_column(Text)
    vendors: Mapped[str | None] = mapped_column(Text)
    technologies: Mapped[str | None] = mapped_column(Text)
    constraints: Mapped[str | None] = mapped_column(Text)
    budget_range: Mapped[str | None] = mapped_column(String(100))
    team_size: Mapped[int | None] = mapped_column(Integer)

    tag_rows: Mapped[list["ProjectTag"]] = relationship(
        cascade="all, delete-orphan", order_by="ProjectTag.tag", lazy="selectin"
    )
    lessons: Mapped[list["Lesson"]] = relationship(back_populates="project")

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    def as_dict(self) -> dict[str, Any]:
        """The project as the API shows it."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "sponsor": self.sponsor,
            "business_unit": self.business_unit,
            "phase": self.phase,
            "status": self.status,
            "start_date": iso(self.start_date),
            "end_date": iso(self.end_date),
            "objectives": self.objectives,
            "vendors": self.vendors,
            "technologies": self.technologies,
            "constraints": self.constraints,
            "budget_range": self.budget_range,
            "team_size": self.team_size,
            "tags": self.tags,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "deleted_at": iso(self.deleted_at),
        }


class ProjectMember(Base):
    """An account on a project's team: it sees the project's team-only lessons."""

    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)


class ProjectTag(Base):
    __tablename__ = "project_tags"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)


class Lesson(Timestamps, Base):
    __tablename__ = "lessons"
    __table_args__ = (Index("ix_lessons_occurred_on", "occurred_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), index=True)
    what_happened: Mapped[str] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    impact: Mapped[str | None] = mapped_column(Text)
    impact_cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    impact_days: Mapped[int | None] = mapped_column(Integer)
    recommendation: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    phase: Mapped[str | None] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(20))
    author: Mapped[str | None]
    occurred_on: Mapped[date | None]
    external_id: Mapped[str | None] = mapped_column(unique=True)
    # A hash of the imported row this lesson came from: how a file without ids is
    # recognised when it is imported again.
    source_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # The account that logged it: a contributor may edit their own lessons. No foreign
    # key: SQLite adds one only by rebuilding the table; accounts are disabled, never deleted.
    owner_id: Mapped[int | None] = mapped_column(index=True)
    visibility: Mapped[str] = mapped_column(String(20), default="organisation",
                                            server_default="organisation")
    # Where it is in review (lessons.services.reviews): draft, submitted, returned, approved.
    # Rows from before review existed were made approved by the server default; a row written
    # now without a status is a draft, so a path that forgets review hides, not shows.
    status: Mapped[str] = mapped_column(String(20), default="draft", server_default="approved",
                                        index=True)
    status_since: Mapped[datetime | None]  # when it entered that status (None: before review)

    project: Mapped[Project | None] = relationship(back_populates="lessons", lazy="joined")
    tag_rows: Mapped[list["LessonTag"]] = relationship(
        cascade="all, delete-orphan", order_by="LessonTag.tag", lazy="selectin"
    )
    actions: Mapped[list["Action"]] = relationship(
        back_populates="lesson", order_by="Action.id", lazy="selectin"
    )
    revisions: Mapped[list["Revision"]] = relationship(
        back_populates="lesson", order_by="Revision.number"
    )
    occurrences: Mapped[list["Occurrence"]] = relationship(
        back_populates="lesson", order_by="Occurrence.id"
    )
    reviews: Mapped[list["Review"]] = relationship(
        back_populates="lesson", order_by="Review.id"
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @property
    def open_actions(self) -> list["Action"]:
        return [a for a in self.actions if a.status == "open" and not a.is_deleted]

    def as_dict(self) -> dict[str, Any]:
        """The lesson as the API and exports show it."""
        return {
            "id": self.id,
            **self.content(),
            "impact_cost": float(self.impact_cost) if self.impact_cost is not None else None,
            "occurred_on": iso(self.occurred_on),
            "project_name": self.project.name if self.project else None,
            "status": self.status,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "deleted_at": iso(self.deleted_at),
        }

    def content(self) -> dict[str, Any]:
        """The user-editable fields, as a revision records them."""
        return {
            "title": self.title,
            "project_id": self.project_id,
            "what_happened": self.what_happened,
            "root_cause": self.root_cause,
            "impact": self.impact,
            "impact_cost": str(self.impact_cost) if self.impact_cost is not None else None,
            "impact_days": self.impact_days,
            "recommendation": self.recommendation,
            "category": self.category,
            "phase": self.phase,
            "kind": self.kind,
            "severity": self.severity,
            "tags": self.tags,
            "author": self.author,
            "occurred_on": iso(self.occurred_on),
            "external_id": self.external_id,
            "visibility": self.visibility,
        }


class LessonTag(Base):
    __tablename__ = "lesson_tags"

    lesson_id: Mapped[int] = mapped_column(
        ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)


class Review(Base):
    """One step of a lesson's review: submitted, approved, or returned with a comment."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    event: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str]
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    lesson: Mapped[Lesson] = relationship(back_populates="reviews")

    def as_dict(self) -> dict[str, Any]:
        """The step as the API shows it."""
        return {"event": self.event, "actor": self.actor, "comment": self.comment,
                "created_at": iso(self.created_at)}


class Revision(Base):
    """The full content of a lesson after one create or edit, with who and when."""

    __tablename__ = "revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    number: Mapped[int]
    actor: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)

    lesson: Mapped[Lesson] = relationship(back_populates="revisions")


class Action(Timestamps, Base):
    """Something someone will do because of a lesson."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    # The owner's account email when `owner_id` is set; else a name typed before owners
    # were accounts (or imported), which names nobody who signs in.
    owner: Mapped[str | None]
    # The owning account. No foreign key, as for Lesson.owner_id (accounts are never deleted).
    owner_id: Mapped[int | None] = mapped_column(index=True)
    # The project whose team raised it (a lesson "raised as a risk" at kickoff); None for an
    # action added to the lesson itself.
    project_id: Mapped[int | None] = mapped_column(index=True)
    due_on: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(20), index=True)
    closed_at: Mapped[datetime | None]

    lesson: Mapped[Lesson] = relationship(back_populates="actions")
    owner_account: Mapped["User | None"] = relationship(
        primaryjoin="foreign(Action.owner_id) == User.id", lazy="joined", viewonly=True)
    project: Mapped[Project | None] = relationship(
        primaryjoin="foreign(Action.project_id) == Project.id", lazy="joined", viewonly=True)

    @property
    def owner_label(self) -> str | None:
        """Who owns it, as people read it: the account's name (or email), else the text."""
        return self.owner_account.label if self.owner_account else self.owner

    def is_overdue(self, today: date) -> bool:
        return self.status == "open" and self.due_on is not None and self.due_on < today

    def as_dict(self, today: date | None = None) -> dict[str, Any]:
        """The action as the API shows it."""
        return {
            "id": self.id,
            "lesson_id": self.lesson_id,
            "description": self.description,
            "owner": self.owner,
            "owner_id": self.owner_id,
            "owner_name": self.owner_label,
            "project_id": self.project_id,
            "due_on": iso(self.due_on),
            "status": self.status,
            "overdue": self.is_overdue(today or date.today()),
            "closed_at": iso(self.closed_at),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "deleted_at": iso(self.deleted_at),
        }


class Occurrence(Base):
    """The same lesson hit again, on another project or another day: a repeated mistake."""

    __tablename__ = "occurrences"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), index=True)
    occurred_on: Mapped[date | None]
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    lesson: Mapped[Lesson] = relationship(back_populates="occurrences")
    project: Mapped[Project | None] = relationship(lazy="joined")

    def as_dict(self) -> dict[str, Any]:
        """The occurrence as the API shows it."""
        return {
            "id": self.id,
            "lesson_id": self.lesson_id,
            "project_id": self.project_id,
            "project_name": self.project.name if self.project else None,
            "occurred_on": iso(self.occurred_on),
            "note": self.note,
            "actor": self.actor,
            "created_at": iso(self.created_at),
        }


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


class Briefing(Base):
    """The past lessons a project's team should read at kickoff, computed from its description."""

    __tablename__ = "briefings"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), unique=True)
    text_hash: Mapped[str] = mapped_column(String(64))  # of the kickoff text it was made from
    model: Mapped[str] = mapped_column(String(500))
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # the project's meaning, for feedback
    aspects: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    generated_at: Mapped[datetime] = mapped_column(default=utcnow)

    items: Mapped[list["BriefingItem"]] = relationship(
        cascade="all, delete-orphan", order_by="BriefingItem.rank", lazy="selectin"
    )


class BriefingItem(Base):
    """One lesson in a briefing: its rank, and which part of the description it matched."""

    __tablename__ = "briefing_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    briefing_id: Mapped[int] = mapped_column(
        ForeignKey("briefings.id", ondelete="CASCADE"), index=True
    )
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"))
    rank: Mapped[int]
    score: Mapped[float]
    aspects: Mapped[list[str]] = mapped_column(JSON)  # labels of every aspect it matched
    aspect_text: Mapped[str] = mapped_column(Text)  # the aspect it matched best
    terms: Mapped[list[str]] = mapped_column(JSON)
    # Not in the latest ranking, pinned because the team decided on it (its why is empty).
    kept: Mapped[bool] = mapped_column(default=False, server_default=false())

    lesson: Mapped[Lesson] = relationship(lazy="joined")


class KickoffDecision(Base):
    """A team's verdict on a surfaced lesson: applied, not applicable, or raised as a risk."""

    __tablename__ = "kickoff_decisions"
    __table_args__ = (UniqueConstraint("project_id", "lesson_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    decision: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str]
    decided_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    project: Mapped[Project] = relationship(lazy="joined")

    def as_dict(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "lesson_id": self.lesson_id,
            "decision": self.decision,
            "note": self.note,
            "actor": self.actor,
            "decided_at": iso(self.decided_at),
        }


class Theme(Base):
    """A recurring theme: lessons alike in meaning, as the last recompute grouped them.

    A recompute gives each new cluster the id of the old theme it matches, so
    trends and links survive; a theme no longer found is retired, not deleted.
    """

    __tablename__ = "themes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    model: Mapped[str] = mapped_column(String(500))
    name: Mapped[str | None] = mapped_column(String(200))  # given by the PMO; kept on recompute
    works: Mapped[bool] = mapped_column(default=False)  # lessons that went well: what works
    keywords: Mapped[list[str]] = mapped_column(JSON)  # most distinctive first (c-TF-IDF)
    central_lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id"))
    centroid: Mapped[bytes] = mapped_column(LargeBinary)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]
    central_lesson: Mapped[Lesson | None] = relationship(lazy="joined")

    @property
    def label(self) -> str:
        """The PMO's name for it, else its most distinctive words."""
        return self.name or self.words_label

    @property
    def words_label(self) -> str:
        """Its name from its words, what it is called until the PMO names it."""
        return keyword_label(self.keywords) or f"Theme {self.id}"


def keyword_label(keywords: list[str], terms: int = 3, among: int = 8) -> str:
    """A theme's name from its distinctive words, most distinctive first: a two-word phrase
    stands for the words it holds ("data export" for "data" and "export")."""
    top = keywords[:among]
    covered = {word for phrase in top if " " in phrase for word in phrase.split()}
    chosen = sorted((term for term in top if " " in term or term not in covered),
                    key=lambda term: " " not in term)[:terms]  # phrases read best: first
    label = ", ".join(chosen)
    return label[:1].upper() + label[1:]


class ThemeVector(Base):
    """A lesson's vector for themes: its title, lessons learned and recommendation read whole,
    which cluster closer to how things went wrong than its passages do (bench/README.md)."""

    __tablename__ = "theme_vectors"

    lesson_id: Mapped[int] = mapped_column(
        ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(500), primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64))  # of the text it was encoded from
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class LessonTheme(Base):
    """The theme a lesson belongs to: set by a recompute, or at capture between recomputes."""

    __tablename__ = "lesson_themes"

    lesson_id: Mapped[int] = mapped_column(
        ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True)
    theme_id: Mapped[int] = mapped_column(ForeignKey("themes.id"), index=True)
    assigned: Mapped[str] = mapped_column(String(20))  # "recompute" or "capture"


class ThemeRun(Base):
    """One theme recompute: its progress (for the polled bar) and how it ended."""

    __tablename__ = "theme_runs"
    __table_args__ = (  # at most one running at a time, across every process
        Index("uq_theme_runs_running", "status", unique=True,
              sqlite_where=text("status = 'running'"),
              postgresql_where=text("status = 'running'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20))  # running, done, failed
    requested_themes: Mapped[int | None]
    stage: Mapped[str] = mapped_column(String(100), default="Starting")
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    themes: Mapped[int | None]  # how many it found
    message: Mapped[str | None] = mapped_column(Text)  # why it failed
    actor: Mapped[str]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "stage": self.stage, "done": self.done,
                "total": self.total, "themes": self.themes, "message": self.message,
                "started_at": iso(self.started_at), "finished_at": iso(self.finished_at)}


class ImportRun(Base):
    """One file imported from the web: the file kept for the run, its mapping, progress, report."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20))  # preview, running, done, failed
    file_name: Mapped[str] = mapped_column(String(500))  # as uploaded, for people
    stored_name: Mapped[str] = mapped_column(String(100))  # in <instance>/imports
    file_format: Mapped[str] = mapped_column(String(10))
    encoding: Mapped[str | None] = mapped_column(String(50))
    sheet: Mapped[str | None] = mapped_column(String(200))
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON)
    stage: Mapped[str] = mapped_column(String(100), default="Waiting to start")
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)  # why it failed
    actor: Mapped[str]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]


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


class User(Base):
    """A person who signs in: contributor, PMO or admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lowercased
    name: Mapped[str | None]
    role: Mapped[str] = mapped_column(String(20))
    business_unit: Mapped[str | None]
    password_hash: Mapped[str] = mapped_column(String(500))
    must_change_password: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]

    @property
    def label(self) -> str:
        return self.name or self.email


class UserSession(Base):
    """A signed-in browser. Its cookie holds a secret whose hash is kept here, so signing
    out (or a password change) ends the session on the server, not just in the browser."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


class ApiToken(Base):
    """A bearer token for the API, kept as a hash; read scope, or read and write."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str | None]
    scope: Mapped[str] = mapped_column(String(10))  # read or write
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class AuditEvent(Base):
    """Who did what, when, from where: sign-ins (failed ones too), edits, deletes, exports."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(254))  # an email, or what a failed sign-in typed
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str | None] = mapped_column(String(500))
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


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


def iso(value: date | datetime | None) -> str | None:
    """ISO 8601 text for a date or time, None stays None."""
    return value.isoformat() if value is not None else None
