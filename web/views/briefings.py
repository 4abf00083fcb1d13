"""Kickoff briefings: the page, the team's decisions, print, Markdown, CSV and PDF."""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    render_template,
    request,
    url_for,
)

from lessons import services
from lessons.errors import ValidationError
from lessons.exports.cells import csv_text
from lessons.exports.markdown import lesson_markdown, markdown_text
from lessons.fields import ACTION_STATUSES, DECISIONS
from lessons.models import Action, Briefing, Lesson, Project
from lessons.services.briefings import (
    BriefingChanges,
    briefing_changes,
    decision_actions,
    project_decisions,
)
from lessons.wording import plural
from search.briefing import Row, briefing_rows, new_since_kickoff, project_aspects
from web.auth import check_project_team
from web.database import db
from web.engine import engine, feeds, project_briefing, stored_briefing
from web.htmx import is_htmx, local_url, redirect_after_post, render
from web.identity import current_actor
from web.links import absolute_url
from web.pdf import pdf_download

bp = Blueprint("briefings", __name__)
BASE = "/projects/<int:project_id>/briefing"


def briefing_counts(rows: list[Row]) -> dict[str, int]:
    """What the count line says, counted from the rows a page shows and nothing else."""
    return {"total": len(rows), "kept": sum(1 for row in rows if row.kept),
            "decided": sum(1 for row in rows if row.decision)}


@dataclass
class Shown:
    """The briefing as a page shows it: every row, or one category's, ranks untouched."""

    briefing: Briefing | None
    rows: list[Row]  # every row, for the counts
    shown: list[Row]  # the rows of the chosen category, in rank order
    category: str | None
    categories: list[tuple[str, int]]  # (category, rows in it), most first
    fresh: list[tuple[Lesson, float | None, str]]  # None: the charter is not shown

    @property
    def counts(self) -> dict[str, int]:
        return briefing_counts(self.rows)


def shown_briefing(project: Project, category: str | None) -> Shown:
    """The project's briefing for a page, filtered to `category` if it has lessons in it.

    Filtering hides rows and never renumbers or regroups them: the ranks a team
    quotes ("number 3 is ours") stay the same in every view.
    """
    briefing = project_briefing(project)
    rows = briefing_rows(project, briefing)
    counts = Counter(row.category for row in rows)
    category = category if category in counts else None
    shown = [row for row in rows if category is None or row.category == category]
    fresh = new_since_kickoff(engine(), db.session, project, briefing, feeds()) if briefing else []
    return Shown(briefing, rows, shown, category, counts.most_common(), fresh)


def load(project_id: int) -> tuple[Project, Briefing | None]:
    project = services.get_project(db.session, project_id)
    return project, project_briefing(project)


@bp.get(BASE)
def show(project_id: int) -> Response:
    """The briefing on its own page (for print and links): the project page's briefing, alone."""
    project = services.get_project(db.session, project_id)
    view = shown_briefing(project, request.args.get("category"))
    return render("briefings/show.html", project=project, view=view, here="briefings.show")


@bp.get(f"{BASE}.pdf")
def as_pdf(project_id: int) -> Response:
    """The briefing page printed as PDF (A4, or Letter with `?size=letter`)."""
    project = services.get_project(db.session, project_id)
    view = shown_briefing(project, request.args.get("category"))
    html = render_template("briefings/show.html", project=project, view=view,
                           here="briefings.show")
    return pdf_download(html, f"briefing-{project.id}.pdf")


@bp.post(f"{BASE}/decisions")
def decide(project_id: int) -> Response:
    """Record the team's decision on one lesson; htmx swaps just that lesson's form, which
    shows the action a risk opened (and, once the decision moves away from risk, that the
    action stays until someone closes it)."""
    data = {name: request.form.get(name, "")
            for name in ("lesson_id", "decision", "note", "owner", "title", "due_on")}
    back = local_url(request.form.get("next"))  # the page it was decided on, without htmx
    project = services.get_project(db.session, project_id)
    check_project_team(project_id, "decide on its briefing")
    try:
        decision = services.decide(db.session, project_id, data, actor=current_actor())
        db.session.commit()
    except ValidationError as error:
        db.session.rollback()
        if not is_htmx():
            flash(" ".join(error.fields.values()) or error.message)
            return redirect_after_post(back or url_for(".show", project_id=project_id))
        return decision_form(project, data["lesson_id"], errors=error.fields, values=data,
                             back=back, status=422)
    if not is_htmx():
        return redirect_after_post(back or url_for(".show", project_id=project_id))
    # The count line ("decided on 3 of 15") is outside the swapped form: refreshed out of band.
    counts = briefing_counts(briefing_rows(project, stored_briefing(project)))
    return decision_form(project, decision.lesson_id, back=back, counts=counts)


def decision_form(project: Project, lesson_id: int | str, *,
                  errors: dict[str, str] | None = None, values: dict[str, Any] | None = None,
                  back: str | None = None, counts: dict[str, int] | None = None,
                  status: int = 200) -> Response:
    """One lesson's decision form as stored now, with the project's action on it."""
    known = str(lesson_id).isdecimal() and len(str(lesson_id)) <= 12
    decision = project_decisions(db.session, project.id).get(int(lesson_id)) if known else None
    action = decision_actions(db.session, project.id).get(int(lesson_id)) if known else None
    return render("briefings/_decision.html", status=status, project=project,
                  lesson_id=lesson_id, decision=decision, risk_action=action,
                  errors=errors or {}, values=values or {}, back=back, counts=counts)


def regenerable(project_id: int) -> Project:
    """The project whose briefing the signed-in team member or PMO may regenerate: a 403 for
    anyone else, a 409 for a deleted project."""
    project = services.get_project(db.session, project_id)
    check_project_team(project_id, "regenerate its briefing")
    if project.is_deleted:
        abort(409, "The project is deleted; restore it first.")
    return project


@bp.get(f"{BASE}/regenerate")
def confirm_regenerate(project_id: int) -> Response:
    """Ask before regenerating: say what it does and that decisions stay."""
    project = regenerable(project_id)
    decided = briefing_counts(briefing_rows(project, stored_briefing(project)))["decided"]
    return render("briefings/regenerate.html", project=project, decided=decided,
                  back=local_url(request.args.get("next")) or url_for("projects.show",
                                                                       project_id=project_id))


@bp.post(f"{BASE}/regenerate")
def regenerate(project_id: int) -> Response:
    """Compute the briefing again now, keeping every decided lesson, and say what changed."""
    project = regenerable(project_id)
    if not project_aspects(project):
        flash("There is nothing to rank yet: add a description to the project first.")
    else:
        changes = recompute(project, before_change(project), force=True)
        flash(f"Briefing regenerated. {changes.summary()}" if changes else "Briefing regenerated.")
    back = local_url(request.form.get("next")) or url_for("projects.show", project_id=project_id)
    return redirect_after_post(back)


@dataclass
class Before:
    """The briefing's lessons before something may compute it again, as this viewer sees them."""

    lessons: list[Lesson]
    generated_at: datetime | None


def before_change(project: Project) -> Before:
    """Note the briefing as the team last saw it, to say later what a regeneration changed.

    Read as stored: computing it first (its text may have changed outside these pages)
    would make that computation the "before" and hide what it changed.
    """
    briefing = stored_briefing(project)
    rows = briefing_rows(project, briefing)
    return Before([row.lesson for row in rows], briefing.generated_at if briefing else None)


def recompute(project: Project, before: Before, *, force: bool = False) -> BriefingChanges | None:
    """Compute the briefing again (always with `force`, else only if its text changed) and
    say what that changed since `before`; None when it was not computed again."""
    briefing = project_briefing(project, regenerate=force)
    if briefing is None or briefing.generated_at == before.generated_at:
        return None
    rows = briefing_rows(project, briefing)
    decided = [row.lesson.id for row in rows if row.decision]
    return briefing_changes(before.lessons, [row.lesson for row in rows], decided)


@bp.get(f"{BASE}.md")
def as_markdown(project_id: int) -> Response:
    """The briefing as Markdown, for a wiki or an e-mail."""
    project, briefing = load(project_id)
    rows = briefing_rows(project, briefing)
    lines = [f"# Kickoff briefing: {markdown_text(project.name)}", ""]
    if briefing:
        lines += [f"Generated {briefing.generated_at:%Y-%m-%d %H:%M} UTC from the project "
                  f"description; {plural(len(rows), 'lesson')}.", ""]
    currency = current_app.config["CURRENCY"]
    for row in rows:
        link = absolute_url("lessons.show", lesson_id=row.lesson.id)
        lines += lesson_markdown(row.lesson, link, currency, rank=row.rank,
                                 notes=briefing_notes(row))
    disposition = f'attachment; filename="briefing-{project.id}.md"'
    return Response("\n".join(lines), mimetype="text/markdown",
                    headers={"Content-Disposition": disposition})


def briefing_notes(row: Row) -> list[str]:
    """What the briefing adds to a lesson in Markdown: why it is there, how often it was met,
    what the team decided, and the risk it raised."""
    md = markdown_text
    if row.kept:
        notes = ["Kept because the team decided on it; no longer ranked for the description"]
    else:
        notes = [f"Matched: {md(', '.join(row.why))}" + (
            f" (shared words: {md(', '.join(row.words))})" if row.words else "")]
    notes.append(f"Seen on {plural(row.projects_hit, 'project')}")
    if row.decision is None:
        notes.append("Team decision: not decided yet")
    else:
        note = f" — {md(row.decision.note)}" if row.decision.note else ""
        notes.append(f"Team decision: {DECISIONS[row.decision.decision]}{note}")
    if row.risk_action:
        title, owner, due, status = risk_cells(row.risk_action)
        notes.append(f"Risk: {md(title)} — owner {md(owner or 'none')}, "
                     f"{f'due {due}' if due else 'no due date'}, {status.lower()}")
    return notes


def risk_cells(action: Action | None) -> list[str]:
    """The risk a lesson raised, as the exports show it: title, owner, due date, status."""
    if action is None:
        return ["", "", "", ""]
    return [action.title or action.description, action.owner_label or "",
            action.due_on.isoformat() if action.due_on else "", ACTION_STATUSES[action.status]]


@bp.get(f"{BASE}.csv")
def as_csv(project_id: int) -> Response:
    """The briefing as CSV, cells neutralised against formula injection."""
    project, briefing = load(project_id)
    header = ["rank", "lesson_id", "link", "external_id", "title", "project", "category",
              "severity", "matched", "shared_terms", "projects_hit", "what_happened",
              "recommendation", "decision", "note", "kept", "risk_title", "risk_owner",
              "risk_due_on", "risk_status"]
    rows = [[row.rank, row.lesson.id, absolute_url("lessons.show", lesson_id=row.lesson.id),
             row.lesson.external_id, row.lesson.title,
             row.lesson.project.name if row.lesson.project else "",
             row.lesson.category, row.lesson.severity, "; ".join(row.aspects), ", ".join(row.terms),
             row.projects_hit, row.lesson.what_happened, row.lesson.recommendation,
             row.decision.decision if row.decision else "",
             row.decision.note if row.decision else "", "yes" if row.kept else "",
             *risk_cells(row.risk_action)]
            for row in briefing_rows(project, briefing)]
    disposition = f'attachment; filename="briefing-{project.id}.csv"'
    return Response(csv_text(header, rows), mimetype="text/csv",
                    headers={"Content-Disposition": disposition})
