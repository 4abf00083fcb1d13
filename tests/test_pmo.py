"""The PMO dashboard and executive report: numbers per window and scope, reuse, learning gaps."""

import csv
import io
import re
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from conftest import Api, make_user
from jsonschema import Draft202012Validator

from lessons.exports.cells import csv_cell
from lessons.models import SearchLog


def make_project(client, name, unit, **values):
    return Api(client).project(name, business_unit=unit, **values)["id"]


def add(client, title, body, project_id, day, **values):
    return Api(client).lesson(title, body, **{  # reviewed: they count
        "project_id": project_id, "occurred_on": day.isoformat(), "status": "approved",
        **values})["id"]


def report(client, **args):
    response = client.get("/api/v1/report", query_string=args)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_report_compares_this_window_with_the_one_before(client, runner):
    today = date.today()
    finance = make_project(client, "Ledger", "Finance")
    ops = make_project(client, "Depot", "Operations")
    recent, earlier = today - timedelta(days=5), today - timedelta(days=100)
    first = add(client, "Permit requested too late", "The council took eight weeks.", finance,
                recent, severity="critical", impact_cost="12000", impact_days=10,
                category="schedule")
    add(client, "Road permit late again", "Eight weeks for the council permit.", ops, recent,
        impact_cost="3000", category="schedule")
    add(client, "Testing squeezed", "UAT cut to five days.", finance, earlier, severity="high",
        impact_days=4, category="quality & testing")
    ana, _ = (make_user(client.application, "contributor", f"{name.lower()}@example.org",
                        name=name)  # action owners are accounts, found by name or email
              for name in ("Ana", "Ben"))
    client.post("/api/v1/actions", json={"lesson_id": first, "description": "Permit checklist",
                                         "owner": "Ana", "due_on": "2020-01-01"})
    client.post("/api/v1/actions", json={"lesson_id": first, "description": "Book early",
                                         "owner": "Ben", "status": "done"})
    assert runner.invoke(args=["themes", "--themes", "2"]).exit_code == 0

    data = report(client)
    current, previous = data["periods"]["current"], data["periods"]["previous"]
    assert (current["lessons"], current["severe"], current["impact_days"]) == (2, 1, 10)
    assert current["impact_cost"] == "15000.00" and current["actions_closed"] == 1
    assert (previous["lessons"], previous["severe"], previous["impact_days"]) == (1, 1, 4)
    assert data["actions"]["open"] == 1 and data["actions"]["overdue"] == 1
    assert data["actions"]["by_owner"] == [{"owner": "Ana", "open": 1, "overdue": 1,
                                            "owner_id": ana, "filter": "ana@example.org"}]
    assert sum(theme["size"] for theme in data["themes"]) == 3
    assert sum(m["lessons"] for m in data["capture"]["by_month"]) == 3  # all in 12 months

    finance_only = report(client, business_unit="Finance")
    assert finance_only["periods"]["current"]["lessons"] == 1
    assert finance_only["scope"] == {"business_unit": "Finance"}
    testing = report(client, category="quality & testing")
    assert testing["periods"]["previous"]["lessons"] == 1
    assert testing["periods"]["current"]["lessons"] == 0
    dated = report(client, **{"from": recent.isoformat()})
    assert dated["periods"]["previous"]["lessons"] == 0
    bad = client.get("/api/v1/report", query_string={"from": "2026-13-01"})
    assert bad.status_code == 422 and "from" in bad.get_json()["fields"]
    backwards = client.get("/api/v1/report", query_string={"from": "2026-02-01",
                                                           "to": "2026-01-01"})
    assert backwards.status_code == 422 and "to" in backwards.get_json()["fields"]

    spec = client.get("/api/v1/openapi.json").get_json()
    Draft202012Validator({"$ref": "#/components/schemas/Report",
                          "components": spec["components"]}).validate(data)


def test_weak_searches_and_kickoffs_are_learning_gaps(client, session):
    add(client, "Permit requested too late", "The council took eight weeks for the road "
        "closure permit.", None, date.today())
    searched = client.get("/api/v1/search", query_string={"q": "council road permit"})
    assert searched.status_code == 200
    # Typed live, a query arrives once per pause: its prefixes collapse into one entry.
    for typed in ("sourdough", "sourdough starter", "sourdough starter hydration"):
        assert client.get("/search", query_string={"q": typed}).status_code == 200
    texts = [entry.text for entry in session.query(SearchLog).order_by(SearchLog.id)]
    assert texts == ["council road permit", "sourdough starter hydration"]
    gaps = report(client)["gaps"]
    assert [gap["text"] for gap in gaps] == ["sourdough starter hydration"]
    assert gaps[0]["source"] == "search" and gaps[0]["best_similarity"] < 0.45
    # A kickoff whose description matches nothing we know is a gap too.
    make_project(client, "Bakery", "Retail", description="Open an artisan bakery with "
                 "sourdough breads and a wood-fired oven.")
    sources = {gap["source"] for gap in report(client)["gaps"]}
    assert sources == {"search", "kickoff"}


def apply_a_lesson_at_a_kickoff(client) -> int:
    """A past project's lesson, applied at the kickoff of a new one like it: its id."""
    old = make_project(client, "Old works", "Operations")
    lesson = add(client, "Road closure permit requested too late", "The council needed eight "
                 "weeks for the street works permit; crews sat idle.", old, date.today())
    new = make_project(client, "New works", "Operations", description="Resurface the high "
                       "street; we need road closure permits from the council.")
    decided = client.post(f"/api/v1/projects/{new}/briefing/decisions",
                          json={"lesson_id": lesson, "decision": "applied"})
    assert decided.status_code == 200, decided.get_json()
    return lesson


def test_kickoff_reuse_counts_briefings_and_decisions(client):
    lesson = apply_a_lesson_at_a_kickoff(client)
    reuse = report(client)["reuse"]
    assert reuse["briefings"] == 1 and reuse["decisions"]["applied"] == 1
    assert reuse["top_lessons"] == [{"id": lesson, "external_id": None, "applied": 1,
                                     "title": "Road closure permit requested too late"}]
    assert report(client)["periods"]["current"]["applied_at_kickoff"] == 1


def test_the_dashboard_and_the_report_render_and_export(client, runner):
    projects = [make_project(client, f"Ledger {n}", "Finance") for n in range(3)]
    for project in projects:  # a repeat whose title would be a formula in a spreadsheet
        add(client, "=SUM(1+1) permit late", "The council took eight weeks for the "
            "road permit.", project, date.today())
    add(client, "Caterer cancelled", "Lunch arrived cold.", projects[0], date.today())
    assert runner.invoke(args=["themes", "--themes", "2"]).exit_code == 0
    dashboard = client.get("/pmo").get_data(as_text=True)
    for heading in ("This window against the one before", "Recurring themes",
                    "Identified, not learned", "Open actions by owner", "Kickoff reuse",
                    "Lessons captured", "Learning gaps"):
        assert heading in dashboard
    assert '<option selected>Finance</option>' in client.get(
        "/pmo", query_string={"business_unit": "Finance"}).get_data(as_text=True)
    page = client.get("/pmo/report").get_data(as_text=True)
    assert "Where we keep failing, and what it costs" in page and "/pmo/report.csv" in page
    markdown = client.get("/pmo/report.md")
    assert markdown.mimetype == "text/markdown"
    assert markdown.get_data(as_text=True).startswith("# Lessons learned: executive report")
    exported = client.get("/pmo/report.csv")
    assert exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0] == ["section", "item", "measure", "value"]
    assert any(row[0] == "period" and row[1].startswith("current") for row in rows)
    changes = [row[3] for row in rows if row[2] == "change"]
    assert changes and all(change.lstrip("-").isdigit() for change in changes)
    assert any(row[:2] == ["repeat", "'=SUM(1+1) permit late"] for row in rows)
    assert not any(cell.startswith("=") for row in rows for cell in row)
    assert client.get("/pmo", query_string={"from": "yesterday"}).status_code == 422


@pytest.mark.parametrize("path", ["/pmo", "/pmo/report"])
def test_a_backwards_date_range_is_said_beside_the_filters_as_typed(client, path):
    """Not a dead end: the page still shows, its filters hold what was typed, and the one
    that cannot be used is named and left out."""
    response = client.get(path, query_string={"from": "2026-06-01", "to": "2026-01-01",
                                               "window_days": "30"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert '<form method="get" class="filters' in page
    assert 'name="from" value="2026-06-01"' in page and 'name="to" value="2026-01-01"' in page
    assert "To: On or after the start date. Shown without it." in page
    assert 'name="window_days" min="7" max="366" value="30"' in page  # the rest still applies
    # Categories read as they do everywhere else, and filter by the value stored.
    assert '<option value="vendor &amp; procurement" >Vendor &amp; procurement</option>' in page
    pdf = client.get("/pmo/report.pdf", query_string={"from": "2026-06-01", "to": "2026-01-01"})
    assert pdf.status_code == 422


def test_csv_cells_neutralise_formulas_but_keep_numbers():
    assert csv_cell(-3) == "-3" and csv_cell(Decimal("-1.50")) == "-1.50"
    assert csv_cell("-3") == "'-3" and csv_cell("=1+1") == "'=1+1" and csv_cell(None) == ""


def test_the_dashboard_draws_its_charts_with_their_numbers(client, runner):
    projects = [make_project(client, f"Depot {n}", "Operations") for n in range(2)]
    permits = [add(client, f"Road permit late {n}", "The council took eight weeks for the road "
                   "closure permit.", project, date.today(), impact_cost="12000", impact_days=10,
                   severity=("high", "medium")[n]) for n, project in enumerate(projects)]
    caterer = add(client, "Caterer cancelled", "Lunch arrived cold.", projects[0],
                  date.today() - timedelta(days=100), impact_days=1)
    client.post("/api/v1/actions", json={"lesson_id": permits[0], "description": "Checklist"})
    client.post("/api/v1/actions", json={"lesson_id": permits[0], "description": "Book early",
                                         "status": "done"})
    kickoffs = [make_project(client, f"Kickoff {n}", "Operations") for n in range(2)]
    for project, lesson, decision in ((kickoffs[0], permits[0], "applied"),
                                      (kickoffs[0], permits[1], "applied"),
                                      (kickoffs[0], caterer, "risk"),  # opens a third action
                                      (kickoffs[1], permits[0], "not_applicable")):
        assert client.post(f"/api/v1/projects/{project}/briefing/decisions", json={
            "lesson_id": lesson, "decision": decision}).status_code == 200
    assert runner.invoke(args=["themes", "--themes", "2"]).exit_code == 0
    page = client.get("/pmo").get_data(as_text=True)
    charts = re.findall(r'<svg class="chart (\w+)"[^>]*role="img" aria-labelledby="([\w-]+)-title '
                        r'\2-desc"', page)
    kinds = Counter(kind for kind, _ in charts)
    assert kinds["bars"] == 3 and kinds["columns"] == 3 and kinds["sparkline"] >= 2
    # Per 90-day window, oldest first: the last holds today, the one before 100 days ago.
    last = f"{date.today() - timedelta(days=89)} to {date.today()}"
    before = f"{date.today() - timedelta(days=179)} to {date.today() - timedelta(days=90)}"
    lessons_desc = re.search(r'<desc id="window-lessons-desc">([^<]*)</desc>', page)[1]
    assert f"{last}: lessons 2, high or critical 1." in lessons_desc
    assert f"{before}: lessons 1, high or critical 0;" in lessons_desc
    assert re.search(rf'<desc id="window-actions-desc">[^<]*{last}: opened 3, closed 1\.</desc>',
                     page)
    assert (f"<tr><td>{last}</td><td>2</td><td>1</td><td>3</td><td>1</td></tr>" in page)
    assert re.search(r'<desc id="kickoff-reuse-desc">Applied: 2; Not applicable: 1; '
                     r'Raised as a risk: 1\.</desc>', page)
    assert "<tr><td>Applied</td><td>2</td></tr>" in page
    # Each chart's numbers are in its description, for those who cannot see it.
    assert re.search(r'<desc id="theme-cost-desc">[^<]*EUR\u00a024,000[^<]*</desc>', page)
    assert re.search(r'<desc id="theme-days-desc">[^<]*20 days[^<]*</desc>', page)
    month = date.today().strftime("%Y-%m")
    assert re.search(rf'<desc id="capture-months-desc">[^<]*{month}: 2[^<]*</desc>', page)
    assert "Oldest first: 0, 0, 0, 0, 0, 0, 0, 2." in page  # the road permits' trend
    assert "style=" not in "".join(re.findall(r"<svg.*?</svg>", page, re.S))  # CSP: no inline style


def test_the_pmo_wording_agrees_with_its_numbers(client):
    apply_a_lesson_at_a_kickoff(client)
    submitted = client.post("/api/v1/lessons", json={  # awaits review since today
        "title": "Skip hire", "what_happened": "The skip came late.", "status": "submitted"})
    assert submitted.status_code == 201, submitted.get_json()
    dashboard = client.get("/pmo").get_data(as_text=True)
    assert "1 kickoff briefing;" in dashboard and "lessons applied 1 time," in dashboard
    report = client.get("/pmo/report").get_data(as_text=True)
    markdown = client.get("/pmo/report.md").get_data(as_text=True)
    for text in (dashboard, report, markdown):
        assert "for 0 days" not in text and "(all submitted today)" in text
        assert not re.search(r"\b1 (kickoff )?briefings\b|\b1 times\b|\b1 projects\b|\b1 lessons\b",
                             text)
    assert "<strong>1 new project</strong> got a briefing" in report
    assert "teams applied 1 lesson," in report and "1 kickoff briefing;" in markdown
