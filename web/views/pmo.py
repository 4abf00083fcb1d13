"""The PMO dashboard and the one-page executive report (HTML to print, Markdown, CSV)."""

from typing import Any

from flask import Blueprint, Response, request

from lessons.exports import csv_text, markdown_text
from lessons.services.projects import business_units
from search.report import WEAK_MATCH, pmo_report
from search.trends import Scope, Windows, today
from web.database import db
from web.htmx import render
from web.views.forms import categories

bp = Blueprint("pmo", __name__)


def report_data() -> dict[str, Any]:
    """The report for the scope and windows in the URL."""
    return pmo_report(db.session, Scope.parse(request.args),
                      Windows.parse(request.args, today()))


def page_context() -> dict[str, Any]:
    """What the dashboard and the report pages show, and the links that keep their scope."""
    data = report_data()
    return {"data": data, "business_units": business_units(db.session),
            "categories": categories(), "args": request.args, "weak_match": WEAK_MATCH,
            "link_args": {**data["scope"], "window_days": data["window_days"]}}


@bp.get("/pmo")
def dashboard() -> Response:
    """Themes, repeats, actions, capture, kickoff reuse and learning gaps, filterable."""
    return render("pmo/dashboard.html", **page_context())


@bp.get("/pmo/report")
def report() -> Response:
    """One page for executives: where we keep failing, what it costs, whether it improves."""
    return render("pmo/report.html", **page_context())


@bp.get("/pmo/report.md")
def report_markdown() -> Response:
    """The executive report as Markdown, for an e-mail or a wiki."""
    data = report_data()
    return Response("\n".join(markdown_lines(data)), mimetype="text/markdown",
                    headers={"Content-Disposition": 'attachment; filename="pmo-report.md"'})


@bp.get("/pmo/report.csv")
def report_csv() -> Response:
    """The executive report as CSV: one row per figure, cells neutralised against formulas."""
    return Response(csv_text(["section", "item", "measure", "value"], csv_rows(report_data())),
                    mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="pmo-report.csv"'})


PERIOD_MEASURES = (("lessons", "Lessons captured"), ("severe", "High or critical"),
                   ("impact_cost", "Cost impact"), ("impact_days", "Schedule impact (days)"),
                   ("actions_opened", "Actions opened"), ("actions_closed", "Actions closed"),
                   ("applied_at_kickoff", "Lessons applied at kickoffs"))


def markdown_lines(data: dict[str, Any]) -> list[str]:
    """The report as Markdown lines."""
    current, previous = data["periods"]["current"], data["periods"]["previous"]
    md = markdown_text
    scope = ", ".join(f"{k} {md(v)}" for k, v in data["scope"].items()) or "all lessons"
    lines = ["# Lessons learned: executive report", "",
             f"Scope: {scope}. This {data['window_days']}-day window ({current['start']} to "
             f"{current['end']}) against the one before.", "",
             "| | this window | previous |", "| --- | --- | --- |"]
    lines += [f"| {label} | {current[key]} | {previous[key]} |" for key, label in PERIOD_MEASURES]
    lines += ["", "## Where we keep failing", ""]
    lines += [f"- **{md(t['label'])}**: {t['size']} lessons on {t['projects']} projects, "
              f"{t['severe_share']:.0%} severe, cost {float(t['impact_cost']):,.0f}, "
              f"{t['impact_days']} days lost" for t in data["themes"]] or ["- No themes yet."]
    lines += ["", "## Identified, not learned", ""]
    # The reasons quote lesson titles ("back after the action on “…”"): user text too.
    lines += [f"- {md(r['lessons'][0]['title'])}: {md('; '.join(r['reasons']))}"
              for r in data["repeats"]] or ["- None."]
    actions, reuse, review = data["actions"], data["reuse"], data["review"]
    lines += ["", "## Actions", "",
              f"{actions['done']} done, {actions['open']} open, {actions['overdue']} overdue.", "",
              "## Review", "",
              f"{review['approved']} approved, {review['awaiting']} awaiting review, "
              f"{review['returned']} returned to their authors; drafts: {review['drafts']}.", "",
              "## Reuse at kickoff", "",
              f"{reuse['briefings']} briefings; lessons applied {reuse['decisions']['applied']} "
              f"times, not applicable {reuse['decisions']['not_applicable']}, raised as risks "
              f"{reuse['decisions']['risk']}.", ""]
    return lines


def csv_rows(data: dict[str, Any]) -> list[list[Any]]:
    """The report as (section, item, measure, value) rows."""
    rows: list[list[Any]] = []
    for name in ("current", "previous"):
        period = data["periods"][name]
        rows += [["period", f"{name} ({period['start']} to {period['end']})", label, period[key]]
                 for key, label in PERIOD_MEASURES]
    for theme in data["themes"]:
        rows += [["theme", theme["label"], measure, theme[measure]]
                 for measure in ("size", "projects", "severe_share", "impact_cost", "impact_days",
                                 "change")]
    rows += [["repeat", repeat["lessons"][0]["title"], "reasons", "; ".join(repeat["reasons"])]
             for repeat in data["repeats"]]
    rows += [["actions", "all", measure, data["actions"][measure]]
             for measure in ("open", "overdue", "done")]
    rows += [["review", "lessons", measure, data["review"][measure]]
             for measure in ("approved", "awaiting", "returned", "drafts", "oldest_waiting_days")]
    rows += [["reuse", "kickoffs", "briefings", data["reuse"]["briefings"]]]
    rows += [["reuse", "kickoffs", decision, count]
             for decision, count in data["reuse"]["decisions"].items()]
    return rows
