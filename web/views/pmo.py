"""The PMO dashboard and the one-page executive report (HTML to print, PDF, Markdown, CSV)."""

import calendar
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.datastructures import MultiDict

from insights.report import WEAK_MATCH, pmo_report
from insights.trends import Scope, Windows, today
from lessons.errors import ValidationError
from lessons.exports.cells import csv_text
from lessons.exports.markdown import markdown_text
from lessons.fields import DECISIONS
from lessons.services.projects import business_units
from lessons.wording import longest_wait, money, plural
from web.charts import Bar, bars, columns, sparkline
from web.database import db
from web.htmx import render
from web.links import absolute_url
from web.pdf import pdf_download
from web.views.forms import categories

bp = Blueprint("pmo", __name__)


def report_data() -> dict[str, Any]:
    """The report for the scope and windows in the URL (a download: bad ones are refused)."""
    return pmo_report(db.session, Scope.parse(request.args), Windows.parse(request.args, today()))


def page_context() -> dict[str, Any]:
    """What the dashboard and the report pages show, and the links that keep their scope.

    A date or window the page cannot use (a start after the end, say) is said beside the
    filters, which keep what was typed, and the page shows as if it had been left empty:
    the scope form stays on screen to be corrected.
    """
    args, errors = request.args, {}
    for parse in (Scope.parse, lambda given: Windows.parse(given, today())):
        try:
            parse(args)
        except ValidationError as error:
            errors.update(error.fields)
            args = MultiDict([(k, v) for k, v in args.items(multi=True) if k not in errors])
    windows = Windows.parse(args, today())
    data = pmo_report(db.session, Scope.parse(args), windows)
    return {"data": data, "business_units": business_units(db.session),
            "categories": categories(), "args": request.args, "errors": errors,
            "weak_match": WEAK_MATCH,
            "link_args": {**data["scope"], "window_days": data["window_days"]},
            "charts": charts(data, windows, current_app.config["CURRENCY"]),
            "longest_wait": longest_wait}


def charts(data: dict[str, Any], windows: Windows, currency: str) -> dict[str, Any]:
    """The dashboard's charts: each top theme's trend on one shared scale (small multiples),
    what the top themes cost in money and in days, lessons captured per month, lessons and
    actions per window, and what kickoff teams decided on their briefings' lessons."""
    spans = [f"{w['start']} to {w['end']}" for w in windows.as_list()]
    peak = max((max(t["counts"], default=0) for t in data["themes"]), default=0)
    trends, cards = {}, {}
    for t in data["themes"]:  # in the report's table, and larger on the dashboard's cards
        title = f"{t['label']}: lessons per {windows.days}-day window"
        trends[t["id"]] = sparkline(f"trend-{t['id']}", title, t["counts"], peak, spans)
        cards[t["id"]] = sparkline(f"card-{t['id']}", title, t["counts"], peak, spans,
                                   bar=14, height=40)
    cost = [Bar(t["label"], float(t["impact_cost"]), money(t["impact_cost"], currency, whole=True))
            for t in data["themes"]]
    days = [Bar(t["label"], t["impact_days"], plural(t["impact_days"], "day"))
            for t in data["themes"]]
    months = [Bar(calendar.month_abbr[int(m["month"][5:])], m["lessons"], str(m["lessons"]),
                  tip=m["month"]) for m in data["capture"]["by_month"]]
    labels = window_labels([w["end"] for w in data["windows"]])
    per_window = {key: [Bar(label, w[key], str(w[key]), tip=f"{w['start']} to {w['end']}")
                        for label, w in zip(labels, data["windows"], strict=True)]
                  for key in ("lessons", "severe", "actions_opened", "actions_closed")}
    decided = [Bar(DECISIONS[key], count, str(count))
               for key, count in data["reuse"]["decisions"].items()]
    return {"trends": trends, "cards": cards,
            "cost": bars("theme-cost", f"Cost impact by theme ({currency})", cost),
            "days": bars("theme-days", "Schedule impact by theme (days lost)", days),
            "months": columns("capture-months", "Lessons captured per month", months),
            "windows": columns("window-lessons", f"Lessons per {windows.days}-day window",
                               per_window["lessons"], per_window["severe"],
                               names=("lessons", "high or critical")),
            "actions": columns("window-actions", f"Actions per {windows.days}-day window",
                               per_window["actions_opened"], per_window["actions_closed"],
                               names=("opened", "closed")),
            "reuse": bars("kickoff-reuse", "Kickoff decisions on briefing lessons", decided)}


def window_labels(ends: list[str]) -> list[str]:
    """Each window as a column's label, by the month it ends in, with the year only where it
    changes ("Mar ’25", "Jun", …): eight of them fit side by side on a phone."""
    labels, year = [], ""
    for end in ends:
        month = calendar.month_abbr[int(end[5:7])]
        labels.append(month if end[:4] == year else f"{month} ’{end[2:4]}")
        year = end[:4]
    return labels


@bp.get("/pmo")
def dashboard() -> Response:
    """Themes, repeats, actions, capture, kickoff reuse and learning gaps, filterable."""
    context = page_context()
    return render("pmo/dashboard.html", status=422 if context["errors"] else 200, **context)


@bp.get("/pmo/report")
def report() -> Response:
    """One page for executives: where we keep failing, what it costs, whether it improves."""
    context = page_context()
    return render("pmo/report.html", status=422 if context["errors"] else 200, **context)


@bp.get("/pmo/report.pdf")
def report_pdf() -> Response:
    """The report page printed as PDF on one sheet of A4 (or Letter with `?size=letter`)."""
    context = page_context()
    if context["errors"]:  # a paper copy leaves out no filter silently: say what is wrong
        raise ValidationError(context["errors"], "The scope or the windows are not valid.")
    return pdf_download(render_template("pmo/report.html", **context), "pmo-report.pdf")


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
    currency = current_app.config["CURRENCY"]
    md = markdown_text

    def figure(period: dict[str, Any], key: str) -> Any:
        return money(period[key], currency, whole=True) if key == "impact_cost" else period[key]

    scope = ", ".join(f"{k} {md(v)}" for k, v in data["scope"].items()) or "all lessons"
    lines = ["# Lessons learned: executive report", "",
             f"Scope: {scope}. This {data['window_days']}-day window ({current['start']} to "
             f"{current['end']}) against the one before.", "",
             "| | this window | previous |", "| --- | --- | --- |"]
    lines += [f"| {label} | {figure(current, key)} | {figure(previous, key)} |"
              for key, label in PERIOD_MEASURES]
    lines += ["", "## Where we keep failing", ""]
    lines += [theme_line(theme, currency) for theme in data["themes"]] or ["- No themes yet."]
    lines += ["", "## Identified, not learned", ""]
    lines += [repeat_line(repeat) for repeat in data["repeats"]] or ["- None."]
    actions, reuse, review = data["actions"], data["reuse"], data["review"]
    wait = longest_wait(review["oldest_waiting_days"])
    decisions = reuse["decisions"]
    lines += ["", "## Actions", "",
              f"{actions['done']} done, {actions['open']} open, {actions['overdue']} overdue.", "",
              "## Review", "",
              f"{review['approved']} approved, {review['awaiting']} awaiting review"
              f"{f' ({wait})' if wait else ''}, {review['returned']} returned to "
              f"{'its author' if review['returned'] == 1 else 'their authors'}; "
              f"drafts: {review['drafts']}.", "",
              "## Reuse at kickoff", "",
              f"{plural(reuse['briefings'], 'kickoff briefing')}; lessons applied "
              f"{plural(decisions['applied'], 'time')}, judged not applicable "
              f"{plural(decisions['not_applicable'], 'time')}, raised as risks "
              f"{plural(decisions['risk'], 'time')}.", ""]
    return lines


def theme_line(theme: dict[str, Any], currency: str) -> str:
    """A recurring theme as a Markdown list item, linked to its page."""
    link = absolute_url("themes.show", theme_id=theme["id"])
    return (f"- **{markdown_text(theme['label'])}** ([theme {theme['id']}]({link})): "
            f"{plural(theme['size'], 'lesson')} on {plural(theme['projects'], 'project')}, "
            f"{theme['severe_share']:.0%} high or critical, cost "
            f"{money(theme['impact_cost'], currency, whole=True)}, "
            f"{plural(theme['impact_days'], 'day')} lost")


def repeat_line(repeat: dict[str, Any]) -> str:
    """A mistake made again as a Markdown list item: its first lesson's id, link and title."""
    first = repeat["lessons"][0]
    link = absolute_url("lessons.show", lesson_id=first["id"])
    # The reasons quote lesson titles ("back after the action on “…”"): user text too.
    return (f"- [#{first['id']}]({link}) {markdown_text(first['title'])}: "
            f"{markdown_text('; '.join(repeat['reasons']))}")


def csv_rows(data: dict[str, Any]) -> list[list[Any]]:
    """The report as (section, item, measure, value) rows; amounts stay numbers, and the
    measure names their currency."""
    currency = current_app.config["CURRENCY"]
    rows: list[list[Any]] = []
    for name in ("current", "previous"):
        period = data["periods"][name]
        rows += [["period", f"{name} ({period['start']} to {period['end']})",
                  f"{label} ({currency})" if key == "impact_cost" else label,
                  Decimal(period[key]) if key == "impact_cost" else period[key]]
                 for key, label in PERIOD_MEASURES]
    for theme in data["themes"]:
        rows += [["theme", theme["label"],
                  f"{measure} ({currency})" if measure == "impact_cost" else measure,
                  Decimal(theme[measure]) if measure == "impact_cost" else theme[measure]]
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
