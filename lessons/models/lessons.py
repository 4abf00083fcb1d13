"""Lessons and what hangs off one lesson: its tags, review steps, revisions and occurrences."""

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lessons.models.base import Base, Timestamps, iso, utcnow
from lessons.models.projects import Project

if TYPE_CHECKING:
    from lessons.models.actions import Action


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
    # The one-time key of the capture form that saved it: the same form sent twice (a
    # double-click, or Save again on the form Back restored) finds this lesson instead.
    form_key: Mapped[str | None] = mapped_column(String(32), index=True, unique=True)
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
