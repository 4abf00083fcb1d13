"""Kickoff: the briefing of past lessons a project's team reads, and the team's decisions."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lessons.models.base import Base, iso, utcnow
from lessons.models.lessons import Lesson
from lessons.models.projects import Project


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
