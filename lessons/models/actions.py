"""Actions: what someone will do because of a lesson, with an owner and a due date."""

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lessons.models.base import Base, Timestamps, iso
from lessons.models.lessons import Lesson
from lessons.models.projects import Project

if TYPE_CHECKING:
    from lessons.models.accounts import User


class Action(Timestamps, Base):
    """Something someone will do because of a lesson."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    # A short name, which a kickoff risk has (its lesson's title unless the team chose one);
    # `description` says what to do.
    title: Mapped[str | None] = mapped_column(String(500))
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

    @property
    def outside_owner(self) -> str | None:
        """The name of an owner who has no account (chosen as such, or from before accounts)."""
        return self.owner if self.owner_id is None else None

    def is_overdue(self, today: date) -> bool:
        return self.status == "open" and self.due_on is not None and self.due_on < today

    def as_dict(self, today: date | None = None) -> dict[str, Any]:
        """The action as the API shows it."""
        return {
            "id": self.id,
            "lesson_id": self.lesson_id,
            "title": self.title,
            "description": self.description,
            "owner": self.owner,
            "owner_id": self.owner_id,
            "owner_name": self.owner_label,
            "outside_owner": self.outside_owner,
            "project_id": self.project_id,
            "due_on": iso(self.due_on),
            "status": self.status,
            "overdue": self.is_overdue(today or date.today()),
            "closed_at": iso(self.closed_at),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "deleted_at": iso(self.deleted_at),
        }
