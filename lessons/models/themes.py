"""Recurring themes: lessons grouped by meaning, their vectors, and each lesson's theme."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lessons.models.base import Base, utcnow
from lessons.models.lessons import Lesson


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
