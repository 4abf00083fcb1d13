"""Every amount says its currency (LESSONS_CURRENCY): the lesson page, its history, themes,
the PMO dashboard and report, and their exports; and counts agree with their nouns."""

import csv
import io
import re
from decimal import Decimal

import pytest
from conftest import Api, signed_in

from lessons.wording import money, plural


def test_money_puts_the_code_before_the_amount_and_cents_only_when_there_are_some():
    assert money(Decimal("18500.00"), "EUR") == "EUR\u00a018,500"
    assert money("1200.5", "USD") == "USD\u00a01,200.50"
    assert money(Decimal("1200.50"), "USD", whole=True) == "USD\u00a01,200"
    assert money(None, "EUR") == "" and money(0, "GBP") == "GBP\u00a00"


def test_plural_agrees_with_the_count():
    assert plural(1, "kickoff briefing") == "1 kickoff briefing"
    assert plural(0, "kickoff briefing") == "0 kickoff briefings"
    assert plural(2, "day") == "2 days" and plural(1200, "lesson") == "1,200 lessons"
    assert plural(3, "child", "children") == "3 children"


def test_the_currency_setting_is_an_iso_code(make_app):
    assert make_app().config["CURRENCY"] == "EUR"  # the demo's organisation works in euros
    assert make_app(CURRENCY=" gbp ").config["CURRENCY"] == "GBP"
    with pytest.raises(ValueError, match="ISO 4217"):
        make_app(CURRENCY="pounds")
    with pytest.raises(ValueError, match="BASE_URL"):
        make_app(BASE_URL="javascript:alert(1)")


@pytest.fixture
def pounds(backend, make_app):
    """A client of an instance whose costs are in pounds sterling."""
    return signed_in(make_app(DATABASE_URL=backend.url, CURRENCY="GBP"))


def test_the_lesson_page_and_its_history_show_the_currency(pounds):
    lesson = Api(pounds).post("lessons", **{
        "title": "Crane hire overran", "what_happened": "The crane stayed two weeks longer.",
        "impact_cost": "12000.50"})["id"]
    changed = pounds.patch(f"/api/v1/lessons/{lesson}", json={"impact_cost": "15000"})
    assert changed.status_code == 200, changed.get_json()
    page = pounds.get(f"/lessons/{lesson}").get_data(as_text=True)
    assert "GBP\u00a015,000</strong> extra cost" in page
    history = pounds.get(f"/lessons/{lesson}/history").get_data(as_text=True)
    assert "<del>GBP\u00a012,000.50</del> <ins>GBP\u00a015,000</ins>" in history


def test_the_pmo_pages_and_exports_show_the_currency(pounds):
    project = Api(pounds).project("Depot")["id"]
    for title in ("Crane hire overran", "Crane booked too late"):
        Api(pounds).post("lessons", **{
            "title": title, "what_happened": "The crane stayed two weeks longer on site.",
            "impact_cost": "12000", "project_id": project, "status": "approved"})
    runner = pounds.application.test_cli_runner()
    assert runner.invoke(args=["themes", "--themes", "2"]).exit_code == 0
    dashboard = pounds.get("/pmo").get_data(as_text=True)
    assert theme_costs(dashboard) == ["GBP\u00a012,000"] * 2  # the themes table's cost column
    assert "Cost impact by theme (GBP)" in dashboard  # the chart's title
    report = pounds.get("/pmo/report").get_data(as_text=True)
    markdown = pounds.get("/pmo/report.md").get_data(as_text=True)
    assert "| Cost impact | GBP\u00a024,000 |" in markdown
    assert theme_costs(report) == ["GBP\u00a012,000"] * 2
    rows = list(csv.reader(io.StringIO(pounds.get("/pmo/report.csv").get_data(as_text=True))))
    assert ["Cost impact (GBP)", "24000.00"] in [row[2:] for row in rows if row[0] == "period"]
    assert any(row[2] == "impact_cost (GBP)" for row in rows if row[0] == "theme")
    themes = pounds.get("/themes").get_data(as_text=True)
    assert theme_costs(themes) == ["GBP\u00a012,000"] * 2


def theme_costs(page: str) -> list[str]:
    """The text of the Cost column (the fifth) in each row of the page's themes table."""
    table = re.search(r'<table class="list themes">.*?</table>', page, re.S).group()
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[4] for row in rows]
