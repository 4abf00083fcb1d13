"""PDF downloads: the executive report on one sheet of A4 and of Letter, a kickoff briefing,
each refused or narrowed exactly as its HTML page is, and a 503 where WeasyPrint cannot load.

Pages, paper and text are read back with pypdf: WeasyPrint packs its page objects into
compressed object streams, which a search of the raw bytes cannot see.
"""

import io
import sys
from datetime import date, timedelta

import pytest
from conftest import Api, signed_in
from pypdf import PdfReader
from test_visibility import PUBLIC, SECRET, world  # noqa: F401  (the same people and lessons)

# Points per sheet (1/72 inch): what the PDF's pages must measure.
SHEETS = {"a4": (595, 842), "letter": (612, 792)}


def read_pdf(response) -> PdfReader:
    """The PDF a download answered with, after checking that it is one."""
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    return PdfReader(io.BytesIO(response.data))


def text_of(pdf: PdfReader) -> str:
    """Every page's text, with line breaks and runs of spaces as single spaces."""
    return " ".join(" ".join(page.extract_text() or "" for page in pdf.pages).split())


@pytest.fixture
def full_report(client, runner):
    """A report with two themes and their costs, and mistakes made again on three and four
    projects, under long titles as people write them: printed without the app's stylesheets
    it takes two pages."""
    api = Api(client)
    today = date.today()
    projects = [api.project(f"Depot {n}", business_unit="Operations")["id"] for n in range(4)]
    for n, project in enumerate(projects[:3]):  # the same mistake on three projects
        api.lesson(f"Road closure permit requested far too late for the resurfacing works, "
                   f"so crews and plant stood idle for weeks (depot {n})",
                   "The council took eight weeks for the road closure permit.",
                   project_id=project, occurred_on=today.isoformat(), status="approved",
                   impact_cost="12000", impact_days=10, severity="high")
    for n, project in enumerate(projects):
        api.lesson(f"The caterer cancelled the opening event lunch the day before and the "
                   f"replacement arrived cold (event {n})", "Lunch arrived cold and late.",
                   project_id=project, status="approved", impact_cost="800",
                   occurred_on=(today - timedelta(days=100 + n)).isoformat())
    assert runner.invoke(args=["themes", "--themes", "2"]).exit_code == 0


@pytest.mark.usefixtures("full_report")
def test_the_report_pdf_is_one_sheet_of_a4_or_letter(client):
    page = client.get("/pmo/report").get_data(as_text=True)
    assert "/pmo/report.pdf" in page  # the page links to its PDF
    for size, args in (("a4", {}), ("letter", {"size": "letter"})):  # A4 unless asked
        pdf = read_pdf(client.get("/pmo/report.pdf", query_string=args))
        assert len(pdf.pages) == 1, size
        box = pdf.pages[0].mediabox
        assert (round(box.width), round(box.height)) == SHEETS[size]
        text = text_of(pdf)
        assert "Lessons learned: executive report" in text
        assert "EUR\u00a036,000" in page and "EUR 36,000" in text  # the permits' cost this window
        assert "Identified, not learned" in text and "Road closure permit" in text
        assert "Skip to main content" not in text  # the screen's skip link, printed once
    assert client.get("/pmo/report.pdf", query_string={"size": "a3"}).status_code == 422


def test_a_contributor_is_refused_the_report_pdf_as_the_report(app):
    contributor = signed_in(app, "contributor")
    page, pdf = contributor.get("/pmo/report"), contributor.get("/pmo/report.pdf")
    assert page.status_code == pdf.status_code == 403
    assert "This needs the PMO role." in pdf.get_data(as_text=True)
    assert pdf.get_data(as_text=True) == page.get_data(as_text=True)


def test_a_briefing_pdf_shows_each_reader_what_the_briefing_page_shows_them(
        app, world):  # noqa: F811
    briefing = f"/projects/{world['kickoff']}/briefing"
    for reader, sees_secret in ((world["member"], True), (world["outsider"], False)):
        page = reader.get(briefing).get_data(as_text=True)
        assert f"{briefing}.pdf" in page  # the page links to its PDF
        text = text_of(read_pdf(reader.get(f"{briefing}.pdf")))
        assert "Kickoff briefing: Ground station" in text
        assert PUBLIC["title"] in text
        assert (SECRET["title"] in page) is sees_secret
        assert (SECRET["title"] in text) is sees_secret
    # Signed out, the PDF sends to the sign-in page as the briefing page does.
    visitor = app.test_client()
    page, pdf = visitor.get(briefing), visitor.get(f"{briefing}.pdf")
    assert page.status_code == pdf.status_code == 303
    assert pdf.headers["Location"].split("?")[0] == page.headers["Location"].split("?")[0]
    assert pdf.headers["Location"].startswith("/sign-in?next=")


def test_without_weasyprint_a_pdf_is_a_503_and_the_pages_still_work(client, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # `import weasyprint` fails
    refused = client.get("/pmo/report.pdf")
    assert refused.status_code == 503
    assert "WeasyPrint" in refused.get_data(as_text=True)
    assert client.get("/pmo/report").status_code == 200


def test_weasyprint_reads_the_app_s_static_files_and_nothing_else(make_app):
    import weasyprint

    from web.pdf import static_fetcher

    app = make_app()
    with app.test_request_context("/pmo/report.pdf"):
        fetcher = static_fetcher(weasyprint)
        stylesheet = fetcher.fetch("http://localhost/static/pmo.css")
        assert stylesheet.content_type == "text/css" and b"@page" in stylesheet.read()
        for elsewhere in ("http://example.org/static/pmo.css", "file:///etc/passwd",
                          "http://localhost/static/../pdf.py", "http://localhost/lessons/1",
                          "http://localhost/static/missing.css"):
            with pytest.raises(ValueError):
                fetcher.fetch(elsewhere)
