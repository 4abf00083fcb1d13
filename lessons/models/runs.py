"""Long runs started from the web, polled for progress: theme recomputes and file imports."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from lessons.models.base import Base, iso, utcnow


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
