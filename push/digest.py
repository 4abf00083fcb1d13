"""The PMO's weekly digest: rising themes, repeated mistakes, the review backlog and
overdue actions, each with a link. Told in the app and by email to the PMO and posted to
the organisation's Slack and Teams hooks (push.chat), so themes and lessons are named as
a visitor sees them (what everyone may read), and the rest is only counted."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from insights.report import review_summary
from insights.trends import (
    Repeat,
    Scope,
    ThemeView,
    Windows,
    repeated_mistakes,
    rising_and_falling,
    theme_views,
    utc_day,
)
from lessons.models import Action, Lesson
from lessons.policy import restrict
from lessons.services.users import Account
from lessons.wording import plural
from push.config import PushSettings

DIGEST_LINES = 5  # themes or repeats named per section
# Who the digest is written for: a visitor, who sees what everyone may see.
EVERYONE = Account(0, "", "visitor", None, None, False)


@dataclass(frozen=True)
class Line:
    """One thing the digest names, and where to open it."""

    text: str
    url: str


@dataclass(frozen=True)
class Section:
    """One part of the digest: its title, its lines, and what to say when it has none."""

    title: str
    lines: tuple[Line, ...]
    nothing: str


@dataclass(frozen=True)
class Digest:
    """The weekly PMO digest: a one-line headline, its sections, and the dashboard's link."""

    headline: str
    sections: tuple[Section, ...]
    link: str

    @property
    def text(self) -> str:
        """The digest as plain text with absolute links (in the app and by email)."""
        parts = [self.headline]
        for section in self.sections:
            lines = [f"- {line.text}: {line.url}" for line in section.lines] or [section.nothing]
            parts.append("\n".join([f"{section.title}:", *lines]))
        parts.append(f"The PMO dashboard: {self.link}")
        return "\n\n".join(parts)


def pmo_digest(session: Session, settings: PushSettings, now: datetime) -> Digest:
    """Rising themes, repeated mistakes, review backlog, overdue actions, each with links.

    Themes and lessons are named as a visitor sees them (the digest goes to the
    organisation's channels too); the backlog and overdue actions are counted whole.
    """
    today = utc_day(now)
    windows = Windows(today)
    with public_view(session) as public:
        views = theme_views(public, windows)
        rising = rising_and_falling(views)[0]
        repeats = repeated_mistakes(public, views)
        named = (rising_section(settings, rising, windows), repeats_section(settings, repeats))
    backlog = review_summary(session, Scope(), today)
    late = overdue_actions(session, today)
    headline = ", ".join([plural(len(rising), "rising theme"),
                          plural(len(repeats), "repeated mistake"),
                          f"{plural(backlog['awaiting'], 'lesson')} awaiting review",
                          plural(late, "overdue action")])
    return Digest(headline, (*named, backlog_section(settings, backlog),
                             overdue_section(settings, late)), settings.link("/pmo"))


@contextmanager
def public_view(session: Session) -> Iterator[Session]:
    """A session on the same database that sees only what everyone may see."""
    with Session(session.get_bind()) as public:
        restrict(public, EVERYONE)
        yield public


def rising_section(settings: PushSettings, rising: list[ThemeView], windows: Windows) -> Section:
    """The themes that grew in the latest window, each linked to its page."""
    return Section("Rising themes", tuple(Line(
        f"{view.theme.label}: {plural(view.counts[-1], 'lesson')} in the last {windows.days} "
        f"days, {view.change:+d} on the {windows.days} before",
        settings.link(f"/themes/{view.theme.id}")) for view in rising[:DIGEST_LINES]),
        "No theme grew.")


def repeats_section(settings: PushSettings, repeats: list[Repeat]) -> Section:
    """Mistakes made again, each linked to the first lesson that told it."""
    return Section("Mistakes made again", tuple(Line(
        f"{repeat.lessons[0].title} ({'; '.join(repeat.reasons)})",
        settings.link(f"/lessons/{repeat.lessons[0].id}")) for repeat in repeats[:DIGEST_LINES]),
        "None found.")


def backlog_section(settings: PushSettings, backlog: dict[str, Any]) -> Section:
    """How many lessons await review and the longest wait, linked to the review list."""
    waiting, oldest = backlog["awaiting"], backlog["oldest_waiting_days"]
    line = Line(f"{plural(waiting, 'lesson')} awaiting review, the oldest for "
                f"{plural(oldest or 0, 'day')}", settings.link("/reviews"))
    return Section("Review backlog", (line,) if waiting else (), "Nothing awaits review.")


def overdue_section(settings: PushSettings, late: int) -> Section:
    """How many actions are overdue, linked to the Actions page showing them."""
    line = Line(f"{plural(late, 'open action')} past the due date",
                settings.link("/actions?status=open&overdue=true"))
    return Section("Overdue actions", (line,) if late else (), "No action is overdue.")


def overdue_actions(session: Session, today: date) -> int:
    """Open actions on live lessons past their due date."""
    return session.scalar(select(func.count(Action.id)).where(
        Action.status == "open", Action.deleted_at.is_(None), Action.due_on < today,
        Action.lesson.has(Lesson.deleted_at.is_(None)))) or 0
