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
    keywords: Mapped[list[str]] = mapped_column(JSON)  # naming phrase, then most distinctive
    central_lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id"))
    centroid: Mapped[bytes] = mapped_column(LargeBinary)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]
    central_lesson: Mapped[Lesson | None] = relationship(lazy="joined")

    @property
    def label(self) -> str:
        """The PMO's name for it, else its automatic name."""
        return self.name or self.automatic_label

    @property
    def automatic_label(self) -> str:
        """Its name until the PMO names it: its distinctive phrase and its most central lesson's
        title, when everyone may read that lesson (the name is shown to everyone)."""
        central = self.central_lesson
        title = (central.title if central is not None and not central.is_deleted
                 and central.visibility == "organisation" and central.status != "draft" else "")
        return theme_name(self.keywords, title) or f"Theme {self.id}"

    @property
    def example(self) -> str | None:
        """Its central lesson's title, to show under its name unless the name quotes it whole
        (None too when the viewer may not see that lesson: it is then not loaded)."""
        central = self.central_lesson
        if central is None or central.is_deleted or central.title in self.label:
            return None
        return central.title


NAME_LENGTH = 60  # a name must fit a table cell and a notification's subject line
TRAILING = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the",
            "to", "with"}  # words a cut name must not end on


def theme_name(keywords: list[str], title: str) -> str:
    """A theme's automatic name, as "Data export — Supplier kept the design rights": its
    naming phrase (the first in `keywords`: search.themes.naming_phrase) and its central
    lesson's title, cut on a word boundary to NAME_LENGTH; the title alone when it already
    holds the phrase, or when no phrase was said twice (a lone word such as "Week" before
    it named nothing); the top word only when there is no title either."""
    title = " ".join(title.split())
    phrase = next((term for term in keywords if " " in term),
                  "" if title or not keywords else keywords[0])
    if phrase and f" {phrase.lower()} " in f" {title.lower()} ":
        phrase = ""
    name = " — ".join(part for part in (phrase[:1].upper() + phrase[1:], title) if part)
    return shortened(name, NAME_LENGTH)


def shortened(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters on a word boundary, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]  # room for the ellipsis
    words = (cut if text[limit - 1] == " " else cut.rsplit(" ", 1)[0]).split()
    while len(words) > 1 and (words[-1].lower() in TRAILING or words[-1] in ("—", "-")):
        words.pop()
    return " ".join(words).rstrip(",;:.") + "…"


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
