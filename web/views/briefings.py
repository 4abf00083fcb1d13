"""Kickoff briefings: the page, the team's decisions, print, Markdown and CSV."""

from dataclasses import dataclass

from flask import Blueprint, Response, abort, flash, request, url_for

from lessons import services
from lessons.errors import ValidationError
from lessons.exports import csv_text, markdown_text
from lessons.fields import DECISIONS
from lessons.models import Briefing, KickoffDecision, Lesson, Project
from lessons.services.briefings import project_decisions
from search.briefing import new_since_kickoff
from web.database import db
from web.htmx import is_htmx, redirect_after_post, render
from web.identity import current_actor
from web.search import engine, project_briefing

bp = Blueprint("briefings", __name__)
BASE = "/projects/<int:project_id>/briefing"


@dataclass
class Row:
    """One briefing line as people read it."""

    rank: int
    score: float
    lesson: Lesson
    aspects: list[str]
    aspect_text: str
    terms: list[str]
    projects_hit: int
    decision: KickoffDecision | None


def briefing_rows(project: Project, briefing: Briefing | None) -> list[Row]:
    """The briefing's lessons with their decisions and how many projects hit each."""
    if briefing is None:
        return []
    decisions = project_decisions(db.session, project.id)
    rows = []
    for item in briefing.items:
        lesson = item.lesson  # None when the viewer may not see it (lessons.policy)
        if lesson is None or lesson.is_deleted:
            continue
        hit = {lesson.project_id} | {o.project_id for o in lesson.occurrences}
        # Ranked among what this viewer sees: a gap would hint at a lesson they may not.
        rows.append(Row(len(rows) + 1, item.score, lesson, item.aspects, item.aspect_text,
                        item.terms, len(hit - {None}), decisions.get(lesson.id)))
    return rows


def load(project_id: int) -> tuple[Project, Briefing | None]:
    project = services.get_project(db.session, project_id)
    return project, project_briefing(project)


@bp.get(BASE)
def show(project_id: int) -> Response:
    """The briefing, grouped by category, with a decision form on every lesson."""
    project, briefing = load(project_id)
    rows = briefing_rows(project, briefing)
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault((row.lesson.category or "other").capitalize(), []).append(row)
    fresh = new_since_kickoff(engine(), db.session, project, briefing) if briefing else []
    return render("briefings/show.html", project=project, briefing=briefing, groups=groups,
                  rows=rows, fresh=fresh, DECISIONS=DECISIONS)


@bp.post(f"{BASE}/decisions")
def decide(project_id: int) -> Response:
    """Record the team's decision on one lesson; htmx swaps just that lesson's form."""
    data = {name: request.form.get(name, "") for name in ("lesson_id", "decision", "note")}
    project = services.get_project(db.session, project_id)
    try:
        decision = services.decide(db.session, project_id, data, actor=current_actor())
        db.session.commit()
    except ValidationError as error:
        db.session.rollback()
        return render("briefings/_decision.html", status=422,
                      project=project, lesson_id=data["lesson_id"], decision=None,
                      errors=error.fields, values=data, DECISIONS=DECISIONS)
    if not is_htmx():
        return redirect_after_post(url_for(".show", project_id=project_id))
    return render("briefings/_decision.html", project=project, lesson_id=decision.lesson_id,
                  decision=decision, errors={}, values={}, DECISIONS=DECISIONS)


@bp.post(f"{BASE}/regenerate")
def regenerate(project_id: int) -> Response:
    """Compute the briefing again now (decisions are kept)."""
    project = services.get_project(db.session, project_id)
    if project.is_deleted:
        abort(409, "The project is deleted; restore it first.")
    project_briefing(project, regenerate=True)
    flash("Briefing regenerated; your earlier decisions are kept.")
    return redirect_after_post(url_for(".show", project_id=project_id))


@bp.get(f"{BASE}.md")
def as_markdown(project_id: int) -> Response:
    """The briefing as Markdown, for a wiki or an e-mail."""
    project, briefing = load(project_id)
    rows = briefing_rows(project, briefing)
    md = markdown_text
    lines = [f"# Kickoff briefing: {md(project.name)}", ""]
    if briefing:
        lines += [f"Generated {briefing.generated_at:%Y-%m-%d %H:%M} UTC from the project "
                  f"description; {len(rows)} lessons.", ""]
    for row in rows:
        lesson = row.lesson
        lines += [f"## {row.rank}. {md(lesson.title)}", ""]
        lines += [f"- Matched: {md(', '.join(row.aspects))}" + (
            f" (shared words: {md(', '.join(row.terms))})" if row.terms else "")]
        lines += [f"- Seen on {row.projects_hit} project(s)"
                  + (f"; source {md(lesson.external_id)}" if lesson.external_id else "")]
        if row.decision:
            lines += [f"- Decision: {DECISIONS[row.decision.decision]}"
                      + (f" — {md(row.decision.note)}" if row.decision.note else "")]
        if lesson.recommendation:
            lines += ["", f"**Recommendation:** {md(lesson.recommendation, inline=False)}"]
        lines += [""]
    return Response("\n".join(lines), mimetype="text/markdown",
                    headers={"Content-Disposition": f'attachment; filename="briefing-{project.id}.md"'})


@bp.get(f"{BASE}.csv")
def as_csv(project_id: int) -> Response:
    """The briefing as CSV, cells neutralised against formula injection."""
    project, briefing = load(project_id)
    header = ["rank", "lesson_id", "external_id", "title", "category", "severity", "matched",
              "shared_terms", "projects_hit", "recommendation", "decision", "note"]
    rows = [[row.rank, row.lesson.id, row.lesson.external_id, row.lesson.title,
             row.lesson.category, row.lesson.severity, "; ".join(row.aspects), ", ".join(row.terms),
             row.projects_hit, row.lesson.recommendation,
             row.decision.decision if row.decision else "", row.decision.note if row.decision else ""]
            for row in briefing_rows(project, briefing)]
    return Response(csv_text(header, rows), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="briefing-{project.id}.csv"'})
