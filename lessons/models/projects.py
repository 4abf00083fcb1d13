"""Projects, their tags, and the accounts on their teams."""

from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lessons.models.base import Base, Timestamps, iso

if TYPE_CHECKING:
    from lessons.models.lessons import Lesson


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
