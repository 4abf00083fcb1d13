"""What the PMO reads from the themes: reach, impact, trend per window, and repeated mistakes.

Everything is computed from the live lessons at read time, so a lesson
captured a minute ago (which joined its nearest theme at capture) counts,
and a deleted one never does.
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from lessons.errors import ValidationError
from lessons.models import Action, Lesson, LessonTheme, Occurrence, Project, Theme
from search.theme_store import lesson_vectors


def today() -> date:
    """Today in UTC: lesson, action and decision times are stored in UTC, so windows are too."""
    return datetime.now(UTC).date()


def midnight(day: date) -> datetime:
    """The start of `day` in UTC, as stored times are."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def utc_day(moment: datetime) -> date:
    """The UTC day of a stored time, whatever time zone the database connection speaks."""
    return moment.astimezone(UTC).date()


WINDOW_DAYS = 90
WINDOWS = 8  # two years of quarters on the chart
SEVERE = ("high", "critical")
REPEAT_PROJECTS = 3  # a mistake met on this many projects was identified, not learned
# Lessons this alike may tell the same mistake in other words. On the demo data, pairs of
# one recurring mistake score 0.45-0.7 and unrelated pairs up to 0.5: no cut is clean.
NEAR_IDENTICAL = 0.5  # occurrences recorded by people ("the same lesson") add the rest
NEIGHBOURS = 10  # links kept per lesson when grouping: repeats are small groups
BLOCK = 1024  # lessons compared at once: memory is BLOCK x the theme's size


@dataclass
class LessonFacts:
    """The columns of a lesson the PMO view needs (no text)."""

    id: int
    external_id: str | None
    title: str
    project_id: int | None
    severity: str
    impact_cost: Decimal | None
    impact_days: int | None
    day: date  # when it happened, or when it was logged

    def as_ref(self) -> dict[str, Any]:
        return {"id": self.id, "external_id": self.external_id, "title": self.title}


@dataclass
class ThemeView:
    theme: Theme
    lessons: list[LessonFacts]
    projects: dict[int, str]  # id -> name, the projects its lessons (and occurrences) come from
    occurrences: dict[int, list[tuple[int | None, date]]]  # its lessons' repeats
    done: dict[int, date]  # when the first action on each of its lessons was done
    counts: list[int] = field(default_factory=list)  # lessons per window, oldest first
    latest: date | None = None  # where the latest window starts

    def met(self, lessons: list[LessonFacts]) -> list[tuple[int | None, date]]:
        """(project id, day) of each of `lessons` and of each of their occurrences."""
        return [(lesson.project_id, lesson.day) for lesson in lessons] + [
            occurrence for lesson in lessons for occurrence in self.occurrences.get(lesson.id, [])]

    @property
    def back_after_actions(self) -> int:
        """Its lessons whose action was done before the theme was last met."""
        last = max(day for _, day in self.met(self.lessons))
        return sum(1 for lesson in self.lessons
                   if lesson.id in self.done and last > self.done[lesson.id])

    @property
    def severe_share(self) -> float:
        severe = sum(1 for lesson in self.lessons if lesson.severity in SEVERE)
        return severe / max(len(self.lessons), 1)

    @property
    def cost(self) -> Decimal:
        return sum((lesson.impact_cost or Decimal(0) for lesson in self.lessons), Decimal(0))

    @property
    def days(self) -> int:
        return sum(lesson.impact_days or 0 for lesson in self.lessons)

    @property
    def change(self) -> int:
        """Lessons in the latest window minus the one before: above 0 rising, below falling."""
        return self.counts[-1] - self.counts[-2] if len(self.counts) >= 2 else 0

    @property
    def reasons(self) -> list[str]:
        """Why the theme counts as identified but not learned (none: it does not, nor does a
        theme of what went well)."""
        reasons: list[str] = []
        if self.theme.works:
            return reasons
        # Every large theme was met on many projects over the years: what says "not learned"
        # is meeting it on several projects again lately, after it was first identified.
        met = self.met(self.lessons)
        if self.latest and any(day < self.latest for _, day in met):
            lately = {i for i, day in met if i is not None and day >= self.latest}
            if len(lately) >= REPEAT_PROJECTS:
                reasons.append(f"met on {len(lately)} projects in the latest window, after "
                               f"it was identified")
        if self.back_after_actions:
            reasons.append(f"met again after the actions on {self.back_after_actions} of its "
                           f"lessons were done")
        return reasons

    @property
    def repeated(self) -> bool:
        return bool(self.reasons)

    def as_dict(self) -> dict[str, Any]:
        central = self.theme.central_lesson
        return {
            "id": self.theme.id, "label": self.theme.label, "name": self.theme.name,
            "works": self.theme.works, "keywords": self.theme.keywords,
            "central_lesson": ({"id": central.id, "title": central.title}
                               if central is not None and not central.is_deleted else None),
            "size": len(self.lessons),
            "projects": [{"id": i, "name": n} for i, n in sorted(self.projects.items())],
            "severe_share": round(self.severe_share, 4),
            "impact_cost": str(self.cost), "impact_days": self.days,
            "counts": self.counts, "change": self.change, "repeated": self.repeated,
            "reasons": self.reasons,
            "lessons": [lesson.as_ref() for lesson in self.lessons],
        }


@dataclass
class Windows:
    """Consecutive periods of `days` days, the last one ending `today`, oldest first."""

    today: date
    days: int = WINDOW_DAYS
    count: int = WINDOWS

    @property
    def starts(self) -> list[date]:
        return [self.today - timedelta(days=self.days * (self.count - i) - 1)
                for i in range(self.count)]

    def index(self, day: date) -> int | None:
        """Which window `day` falls in, or None before the first or after today."""
        back = (self.today - day).days // self.days
        return self.count - 1 - back if 0 <= back < self.count and day <= self.today else None

    @classmethod
    def parse(cls, args: Mapping[str, str], today: date) -> "Windows":
        """`window_days` (7 to 366) and `windows` (2 to 24) from a query string."""
        days, count = args.get("window_days", str(WINDOW_DAYS)), args.get("windows", str(WINDOWS))
        errors = {}
        if not (days.isdecimal() and len(days) <= 3 and 7 <= int(days) <= 366):
            errors["window_days"] = "A whole number of days from 7 to 366."
        if not (count.isdecimal() and len(count) <= 2 and 2 <= int(count) <= 24):
            errors["windows"] = "A whole number from 2 to 24."
        if errors:
            raise ValidationError(errors, "The trend windows are not valid.")
        return cls(today, int(days), int(count))

    @property
    def spans(self) -> list[tuple[date, date]]:
        """Each window's first and last day, oldest first."""
        return [(start, start + timedelta(days=self.days - 1)) for start in self.starts]

    def as_list(self) -> list[dict[str, str]]:
        return [{"start": start.isoformat(), "end": end.isoformat()} for start, end in self.spans]


@dataclass(frozen=True)
class Scope:
    """The lessons a PMO view covers: a business unit, a date range, a category, or all."""

    business_unit: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    category: str | None = None

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> "Scope":
        """The scope in a query string (`business_unit`, `from`, `to`, `category`)."""
        dates, errors = {}, {}
        for name in ("from", "to"):
            raw = (args.get(name) or "").strip()
            try:
                dates[name] = date.fromisoformat(raw) if raw else None
            except ValueError:
                errors[name] = "A date as YYYY-MM-DD."
        if not errors and dates["from"] and dates["to"] and dates["from"] > dates["to"]:
            errors["to"] = "On or after the start date."
        if errors:
            raise ValidationError(errors, "The date range is not valid.")
        return cls((args.get("business_unit") or "").strip() or None, dates["from"], dates["to"],
                   (args.get("category") or "").strip() or None)

    def as_args(self) -> dict[str, str]:
        """The scope as query-string arguments (for links and exports)."""
        values = {"business_unit": self.business_unit, "category": self.category,
                  "from": self.date_from and self.date_from.isoformat(),
                  "to": self.date_to and self.date_to.isoformat()}
        return {name: value for name, value in values.items() if value}

    def covers(self, lesson: LessonFacts) -> bool:
        return ((self.date_from is None or lesson.day >= self.date_from)
                and (self.date_to is None or lesson.day <= self.date_to))

    def conditions(self) -> list[ColumnElement[bool]]:
        """WHERE conditions on Lesson for the business unit and category (dates: `covers`)."""
        found = []
        if self.business_unit:
            found.append(Lesson.project.has(Project.business_unit == self.business_unit))
        if self.category:
            found.append(Lesson.category == self.category)
        return found

    def lesson_ids(self) -> Select[int]:
        """The ids of the live lessons in scope, as a subquery: `covers` in SQL too."""
        return select(Lesson.id).where(Lesson.deleted_at.is_(None), *self.conditions(),
                                       *self.date_conditions())

    def date_conditions(self) -> list[ColumnElement[bool]]:
        """WHERE conditions on Lesson for the date range: the day it happened, or the UTC day
        it was logged when that is unknown."""
        found = []
        if self.date_from:
            found.append(or_(Lesson.occurred_on >= self.date_from, and_(
                Lesson.occurred_on.is_(None), Lesson.created_at >= midnight(self.date_from))))
        if self.date_to:
            after = midnight(self.date_to + timedelta(days=1))
            found.append(or_(Lesson.occurred_on <= self.date_to, and_(
                Lesson.occurred_on.is_(None), Lesson.created_at < after)))
        return found


def theme_views(session: Session, windows: Windows, scope: Scope = Scope()) -> list[ThemeView]:
    """Every live theme with its live lessons in `scope`, largest first."""
    facts = live_lessons(session, scope)
    names = dict(session.execute(select(Project.id, Project.name)).all())
    members: dict[int, list[LessonFacts]] = defaultdict(list)
    for lesson_id, theme_id in session.execute(select(LessonTheme.lesson_id, LessonTheme.theme_id)):
        if lesson_id in facts:
            members[theme_id].append(facts[lesson_id])
    occurred = occurrences_by_lesson(session)
    done = done_actions(session)
    views = []
    for theme in session.scalars(select(Theme).where(Theme.retired_at.is_(None))):
        lessons = sorted(members.get(theme.id, []), key=lambda lesson: lesson.id)
        if not lessons:
            continue
        view = ThemeView(theme, lessons, projects={},
                         occurrences={lesson.id: occurred[lesson.id]
                                      for lesson in lessons if lesson.id in occurred},
                         done={lesson.id: done[lesson.id]
                               for lesson in lessons if lesson.id in done})
        view.projects = {i: names[i] for i, _ in view.met(lessons) if i in names}
        view.counts = per_window([lesson.day for lesson in lessons], windows)
        view.latest = windows.starts[-1]
        views.append(view)
    return sorted(views, key=lambda v: (-len(v.lessons), v.theme.id))


def rising_and_falling(views: list[ThemeView]) -> tuple[list[ThemeView], list[ThemeView]]:
    """The themes that grew in the latest window, most first, and those that shrank."""
    by_change = sorted(views, key=lambda view: view.change)
    return ([v for v in reversed(by_change) if v.change > 0],
            [v for v in by_change if v.change < 0])


def live_lessons(session: Session, scope: Scope = Scope()) -> dict[int, LessonFacts]:
    """The facts of every live lesson in `scope`, by id."""
    rows = session.execute(select(
        Lesson.id, Lesson.external_id, Lesson.title, Lesson.project_id, Lesson.severity,
        Lesson.impact_cost, Lesson.impact_days, Lesson.occurred_on, Lesson.created_at,
    ).where(Lesson.deleted_at.is_(None), *scope.conditions()))
    facts = (LessonFacts(*row[:7], row.occurred_on or utc_day(row.created_at)) for row in rows)
    return {lesson.id: lesson for lesson in facts if scope.covers(lesson)}


def occurrences_by_lesson(session: Session) -> dict[int, list[tuple[int | None, date]]]:
    """Each lesson's occurrences as (project id, day)."""
    found: dict[int, list[tuple[int | None, date]]] = defaultdict(list)
    for lesson_id, project_id, occurred_on, created_at in session.execute(select(
            Occurrence.lesson_id, Occurrence.project_id, Occurrence.occurred_on,
            Occurrence.created_at)):
        found[lesson_id].append((project_id, occurred_on or utc_day(created_at)))
    return found


def per_window(days: list[date], windows: Windows) -> list[int]:
    """How many of `days` fall in each window, oldest first."""
    counts = [0] * windows.count
    for day in days:
        index = windows.index(day)
        if index is not None:
            counts[index] += 1
    return counts


@dataclass
class Repeat:
    """A mistake made again: near-identical lessons and occurrences, and why it is flagged."""

    lessons: list[LessonFacts]
    projects: dict[int, str]
    reasons: list[str]
    theme_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"lessons": [lesson.as_ref() for lesson in self.lessons],
                "projects": [{"id": i, "name": n} for i, n in sorted(self.projects.items())],
                "reasons": self.reasons, "theme_id": self.theme_id}


def repeated_mistakes(session: Session, views: list[ThemeView]) -> list[Repeat]:
    """Groups of near-identical lessons that span REPEAT_PROJECTS projects, or came back
    after an action on them was done: "identified, not learned"."""
    if not views:
        return []
    theme = views[0].theme  # every live theme comes from one model's vectors
    lesson_ids, vectors = lesson_vectors(session, theme.model, len(theme.centroid) // 4)
    row_of = {int(lesson_id): row for row, lesson_id in enumerate(lesson_ids)}
    repeats = []
    for view in (view for view in views if not view.theme.works):  # mistakes only
        members = [lesson for lesson in view.lessons if lesson.id in row_of]
        rows = [row_of[lesson.id] for lesson in members]
        for group in near_identical_groups(members, vectors[rows]):
            if len(group) == 1 and group[0].id not in view.occurrences:
                continue  # one lesson, never met again: nothing repeated
            met = view.met(group)
            # A group's projects are among its theme's, which carry their names.
            projects = {i: view.projects[i] for i, _ in met if i in view.projects}
            reasons = []
            if len(projects) >= REPEAT_PROJECTS:
                reasons.append(f"met on {len(projects)} projects")
            reasons += came_back(group, met, view.done)
            if reasons:
                repeats.append(Repeat(group, projects, reasons, view.theme.id))
    return sorted(repeats, key=lambda r: (-len(r.projects), -len(r.lessons), r.lessons[0].id))


def near_identical_groups(lessons: list[LessonFacts],
                          vectors: np.ndarray) -> list[list[LessonFacts]]:
    """Lessons linked by similarity >= NEAR_IDENTICAL (transitively); a lone lesson is a group.

    Compared within one theme only, BLOCK rows at a time, keeping each lesson's
    NEIGHBOURS closest links: near-identical lessons share a theme, and memory
    stays bounded however large a theme is.
    """
    count = len(lessons)
    if count < 2:
        return [lessons] if lessons else []
    keep = min(NEIGHBOURS, count - 1)
    rows, columns = [], []
    for start in range(0, count, BLOCK):
        similarity = vectors[start:start + BLOCK] @ vectors.T
        block = np.arange(len(similarity))
        similarity[block, start + block] = -1.0  # not linked to itself
        closest = np.argpartition(-similarity, keep - 1, axis=1)[:, :keep]
        linked = np.take_along_axis(similarity, closest, axis=1) >= NEAR_IDENTICAL
        rows.append(np.repeat(start + block, keep)[linked.ravel()])
        columns.append(closest[linked])
    from scipy import sparse  # here, not at the top: scipy would slow every command's start
    from scipy.sparse.csgraph import connected_components

    rows_, columns_ = np.concatenate(rows), np.concatenate(columns)
    graph = sparse.csr_matrix((np.ones(len(rows_)), (rows_, columns_)), shape=(count, count))
    _, component = connected_components(graph, directed=False)
    groups: dict[int, list[LessonFacts]] = defaultdict(list)
    for lesson, group in zip(lessons, component, strict=True):
        groups[int(group)].append(lesson)
    return [sorted(group, key=lambda lesson: lesson.day) for group in groups.values()]


def done_actions(session: Session) -> dict[int, date]:
    """When the first action on each lesson was marked done."""
    closed: dict[int, date] = {}
    for lesson_id, closed_at in session.execute(
            select(Action.lesson_id, Action.closed_at)
            .where(Action.status == "done", Action.deleted_at.is_(None),
                   Action.closed_at.is_not(None))):
        assert closed_at is not None  # the query asks for closed actions only
        day = utc_day(closed_at)
        closed[lesson_id] = min(day, closed.get(lesson_id, day))
    return closed


def came_back(group: list[LessonFacts], met: list[tuple[int | None, date]],
              done: dict[int, date]) -> list[str]:
    """Why the mistake counts as back: met again (a lesson or an occurrence) after an action
    on one of its lessons was done."""
    reasons = []
    for lesson in group:
        if lesson.id in done:
            later = sum(1 for _, day in met if day > done[lesson.id])
            if later:
                reasons.append(f"back {later} time{'s' if later > 1 else ''} after the action on "
                               f"“{lesson.title}” was done on {done[lesson.id].isoformat()}")
    return reasons
