"""The PMO pages in a real Chromium, with the demo data: the executive report prints on one
sheet of A4 and of Letter, and the dashboard's charts stay legible on a 390 px phone.

The demo (26 projects, ~190 lessons, embedded and grouped into themes) is loaded once for
the module, on SQLite only: what is measured here is layout, which no database changes,
and loading it costs ~20 s.
"""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import console_errors, make_user, served, sign_in
from test_every_page_layout import problems_on

from lessons.demo import load_demo
from search.theme_store import recompute
from web import create_app
from web.database import db
from web.engine import engine, feeds

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    """An app on a SQLite database holding the demo data and its themes, and a PMO account."""
    folder = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LESSONS_INSTANCE_PATH", str(folder / "instance"))
        app = create_app({"TESTING": True})
        result = app.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        with app.app_context():
            load_demo(db.session)
            db.session.commit()
            # What `lessons demo load` does next, without its run record: on a loaded
            # machine that record's progress writes can wait on the recompute's own
            # uncommitted theme vectors until SQLite gives up ("database is locked").
            assert recompute(engine(), feeds()) >= 5
        make_user(app, "pmo", "pat@example.org")
        yield app
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="module")
def demo_url(demo_app):
    with served(demo_app) as url:
        yield url


def open_signed_in(browser, url: str, path: str, heading: str, viewport: dict):
    """A new browser context at `viewport`, signed in as the PMO, showing `path`."""
    context = browser.new_context(base_url=url, viewport=viewport)
    page = context.new_page()
    page.goto(path)
    sign_in(page, "pat@example.org", heading)
    return context, page


def printed_pages(pdf: bytes) -> int:
    """How many pages a PDF has: one /Type /Page object each (/Pages is the tree)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


# The longest report the page can show: five repeats (the most it lists) with the longest
# titles and reasons, five themes with long names and examples, and a long scope line.
LONGEST = """() => {
  const list = document.querySelector('ul.repeats');
  while (list.children.length < 5) list.appendChild(list.children[0].cloneNode(true));
  for (const item of list.children) {
    item.querySelector('a').textContent = 'Supplier kept the design rights '.repeat(4);
    item.querySelector('.meta').textContent = 'back 3 times after the action on '.repeat(20);
  }
  for (const link of document.querySelectorAll('table.themes td:first-child a'))
    link.textContent = 'supplier, contract, exit, clause, licence, lock-in, data, format';
  for (const cell of document.querySelectorAll('table.themes td:first-child')) {
    // every theme with an example (a name that does not quote its central title whole)
    let example = cell.querySelector('.example');
    if (!example) cell.appendChild(example = document.createElement('div'));
    example.className = 'meta example';
    example.textContent = 'e.g. ' + 'a very long title of the most typical lesson '.repeat(12);
  }
  document.querySelector('.report .lead').textContent =
    'business unit Customer services and support, category vendor & procurement, '.repeat(3);
}"""


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_the_report_prints_on_one_sheet(browser, demo_url, paper):
    context, page = open_signed_in(browser, demo_url, "/pmo/report",
                                   "Lessons learned: executive report",
                                   {"width": 1280, "height": 800})
    try:
        # A full report, not an empty one that fits any page: five themes and repeats.
        assert page.locator("table.themes tbody tr").count() == 5
        assert page.locator("ul.repeats li").count() >= 1
        assert printed_pages(page.pdf(format=paper)) == 1
        page.evaluate(LONGEST)
        assert printed_pages(page.pdf(format=paper)) == 1
        assert "it fits one A4 or Letter sheet" in page.locator("main").inner_text()
    finally:
        context.close()


def test_the_dashboard_charts_are_legible_on_a_phone(browser, demo_url):
    context, page = open_signed_in(browser, demo_url, "/pmo", "PMO dashboard", PHONE)
    errors = console_errors(page)
    try:
        page.reload()
        charts = page.locator("svg.chart")
        assert charts.count() >= 8  # 5 trends, cost, days, months
        fit = page.evaluate("""() => [...document.querySelectorAll('svg.chart')].map(svg => {
            const box = svg.getBoundingClientRect();
            const sizes = [...svg.querySelectorAll('text')].map(
                t => parseFloat(getComputedStyle(t).fontSize));
            return {right: box.right, width: box.width, smallest: Math.min(99, ...sizes)};
        })""")
        assert all(c["right"] <= PHONE["width"] and c["width"] > 0 for c in fit), fit
        assert all(c["smallest"] >= 11 for c in fit), fit  # no text shrunk to fit the phone
        # In the bar charts, a theme's name and its figure share a line: they must not touch.
        overlaps = page.evaluate("""() => [...document.querySelectorAll('svg.bars g')]
            .filter(g => g.querySelector('text.label').getBoundingClientRect().right + 4
                         > g.querySelector('text.figure').getBoundingClientRect().left)
            .map(g => g.textContent)""")
        assert overlaps == []
        assert problems_on(page, Axe(), "pmo") == []
        assert errors == []
    finally:
        context.close()
