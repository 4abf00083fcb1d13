"""The PMO's numbers in value language: the dashboard and the one-page executive report.

Everything is computed at read time for a scope (business unit, date range,
category). The scope picks lessons; the actions on them, the kickoff
decisions about them and their themes follow. Search gaps (searches and
kickoffs whose best lesson matched weakly) follow the date range only: an
unanswered question belongs to no business unit.
"""

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from insights.trends import (
    SEVERE,
    LessonFacts,
    Scope,
    ThemeView,
    Windows,
    live_lessons,
    midnight,
    repeated_mistakes,
    rising_and_falling,
    theme_views,
    utc_day,
)
from lessons.models import Action, Briefing, KickoffDecision, Project, SearchLog
from lessons.services.reviews import waiting

WEAK_MATCH = 0.45  # all-MiniLM-L6-v2: a best passage below this barely touches the question
TOP = 5  # themes, repeats and reused lessons on the one-page report
GAPS = 10
MONTHS = 12


def pmo_report(session: Session, scope: Scope, windows: Windows) -> dict[str, Any]:
    """Every number of the dashboard and the report, JSON-ready."""
    lessons = live_lessons(session, scope)
    views = theme_views(session, windows, scope)
    rising, falling = rising_and_falling(views)
    # A subquery, not an IN list of ids: a scope can hold more lessons than a query has
    # parameters (32,766 on SQLite, 65,535 on PostgreSQL).
    in_scope = scope.lesson_ids()
    actions = list(session.scalars(select(Action).where(
        Action.deleted_at.is_(None), Action.lesson_id.in_(in_scope)).order_by(Action.id)))
    decisions = list(session.scalars(select(KickoffDecision).where(
        KickoffDecision.lesson_id.in_(in_scope)).order_by(KickoffDecision.id)))
    current = (windows.starts[-1], windows.today)
    previous = (windows.starts[-1] - timedelta(days=windows.days),
                windows.starts[-1] - timedelta(days=1))
    return {
        "scope": scope.as_args(),
        "window_days": windows.days,
        "periods": {name: period(lessons, actions, decisions, *span)
                    for name, span in (("current", current), ("previous", previous))},
        # The same figures for each trend window, oldest first: the dashboard's charts.
        "windows": [period(lessons, actions, decisions, *span) for span in windows.spans],
        "themes": [theme_summary(view) for view in views[:TOP]],
        "rising": [theme_summary(view) for view in rising[:3]],
        "falling": [theme_summary(view) for view in falling[:3]],
        "themes_total": len(views),
        "repeats": [repeat.as_dict() for repeat in repeated_mistakes(session, views)[:TOP]],
        "actions": action_summary(actions, windows.today),
        "review": review_summary(session, scope, windows.today),
        "reuse": reuse(session, decisions, lessons),
        "capture": capture(session, lessons, windows.today),
        "gaps": gaps(session, scope),
    }


def period(lessons: dict[int, LessonFacts], actions: list[Action],
           decisions: list[KickoffDecision], start: date, end: date) -> dict[str, Any]:
    """What one window brought: lessons and their cost, actions closed, lessons reused."""
    inside = [lesson for lesson in lessons.values() if start <= lesson.day <= end]
    return {
        "start": start.isoformat(), "end": end.isoformat(),
        "lessons": len(inside),
        "severe": sum(1 for lesson in inside if lesson.severity in SEVERE),
        "impact_cost": str(sum((lesson.impact_cost or Decimal(0) for lesson in inside),
                                Decimal(0))),
        "impact_days": sum(lesson.impact_days or 0 for lesson in inside),
        "actions_opened": sum(1 for a in actions if start <= utc_day(a.created_at) <= end),
        "actions_closed": sum(1 for a in actions if a.status == "done" and a.closed_at
                              and start <= utc_day(a.closed_at) <= end),
        "applied_at_kickoff": sum(1 for d in decisions if d.decision == "applied"
                                  and start <= utc_day(d.decided_at) <= end),
    }


def theme_summary(view: ThemeView) -> dict[str, Any]:
    """A theme without its lesson list, for the report."""
    summary = view.as_dict()
    summary["projects"] = len(summary.pop("projects"))
    summary.pop("lessons")
    return summary


def action_summary(actions: list[Action], today: date) -> dict[str, Any]:
    """Open, overdue and done actions, and who holds the open ones: one row per owner account
    (two people may share a name), per old free-text owner, and one for the unowned."""
    open_actions = [a for a in actions if a.status == "open"]
    by_owner: dict[Any, dict[str, Any]] = {}
    for action in open_actions:
        row = by_owner.setdefault(owner_key(action), {
            "owner": action.owner_label or "(no owner)",  # an account's name, not its email
            "owner_id": action.owner_id,
            # What the Actions page's owner filter lists them by (an email names one account);
            # none lists the unowned.
            "filter": action.owner, "open": 0, "overdue": 0})
        row["open"] += 1
        row["overdue"] += action.is_overdue(today)
    return {
        "open": len(open_actions),
        "overdue": sum(1 for a in open_actions if a.is_overdue(today)),
        "done": sum(1 for a in actions if a.status == "done"),
        "by_owner": sorted(by_owner.values(), key=lambda o: (
            -o["overdue"], -o["open"], o["owner"], o["filter"] or "")),
    }


def owner_key(action: Action) -> tuple[str, Any]:
    """Whose an action is: its owner account, else its old owner's text (as the owner filter
    matches it, whatever the case), else nobody's."""
    if action.owner_id is not None:
        return ("account", action.owner_id)
    return ("text", action.owner.casefold()) if action.owner else ("nobody", None)


def review_summary(session: Session, scope: Scope, today: date) -> dict[str, Any]:
    """The review backlog as it stands today (the scope's dates do not apply): lessons
    awaiting the PMO and how long the longest has waited, returned to their authors, still
    drafts, and approved."""
    found = waiting(session, *scope.conditions())
    return {"awaiting": found["submitted"], "returned": found["returned"],
            "drafts": found["draft"], "approved": found["approved"],
            "oldest_waiting_days": (today - utc_day(found["oldest"])).days if found["oldest"]
            else None}


def reuse(session: Session, decisions: list[KickoffDecision],
          lessons: dict[int, LessonFacts]) -> dict[str, Any]:
    """Kickoff briefings and what their teams did with the lessons: the proof of reuse."""
    counts = Counter(d.decision for d in decisions)
    applied = Counter(d.lesson_id for d in decisions if d.decision == "applied")
    generated = session.scalar(select(func.count(Briefing.id)).join(
        Project, Project.id == Briefing.project_id).where(Project.deleted_at.is_(None)))
    return {
        "briefings": generated,
        "decisions": {name: counts.get(name, 0) for name in ("applied", "not_applicable", "risk")},
        "lessons_applied": len(applied),
        "top_lessons": [{**lessons[lesson_id].as_ref(), "applied": times}
                        for lesson_id, times in applied.most_common(TOP) if lesson_id in lessons],
    }


def capture(session: Session, lessons: dict[int, LessonFacts], today: date) -> dict[str, Any]:
    """Lessons captured per project and per month: who feeds the knowledge base."""
    # Lessons without a project count under None, which has no name.
    names: dict[int | None, str] = dict(session.execute(select(Project.id, Project.name)).all())
    per_project = Counter(lesson.project_id for lesson in lessons.values())
    months = [month_start(today, back) for back in range(MONTHS - 1, -1, -1)]
    per_month = Counter(lesson.day.strftime("%Y-%m") for lesson in lessons.values())
    return {
        "by_project": [{"project_id": project_id, "name": names.get(project_id, "(no project)"),
                        "lessons": count} for project_id, count in per_project.most_common(10)],
        "by_month": [{"month": m, "lessons": per_month.get(m, 0)} for m in months],
    }


def month_start(today: date, back: int) -> str:
    """The month `back` months before today's, as YYYY-MM."""
    index = today.year * 12 + today.month - 1 - back
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def gaps(session: Session, scope: Scope) -> list[dict[str, Any]]:
    """Searches and kickoffs whose best lesson matched weakly: what we have not learned yet."""
    query = select(SearchLog).where(SearchLog.best_similarity < WEAK_MATCH)
    if scope.date_from:
        query = query.where(SearchLog.at >= midnight(scope.date_from))
    if scope.date_to:
        query = query.where(SearchLog.at < midnight(scope.date_to + timedelta(days=1)))
    seen, found = set(), []
    for entry in session.scalars(query.order_by(SearchLog.best_similarity, SearchLog.id.desc())):
        if entry.text.lower() not in seen:
            seen.add(entry.text.lower())
            found.append({"source": entry.source, "text": entry.text,
                          "best_similarity": round(entry.best_similarity, 4),
                          "at": entry.at.isoformat(), "project_id": entry.project_id})
        if len(found) == GAPS:
            break
    return found
