"""Mapping a file's words to allowed values, and rejection reasons in the lesson form's words.

A spreadsheet says "Urgent" where Lessons allows Low, Medium, High or Critical.
The importer counts such words per choice field, maps them through the
mapping's `values` (the same JSON a mapping file gives the command line), and
says why a row is rejected as the form would: the field's label, the file's
column and the value, with a way to the control that fixes it. The page lists
the words with a choice of allowed values; a PMO maps Urgent to High and
imports, in a real Chromium on a desktop and a phone.
"""

import io
import json
import re
import time

import pytest
from conftest import console_errors, signed_in_page
from playwright.sync_api import expect
from sqlalchemy import select

from lessons.imports.importer import check_import, run_import
from lessons.imports.mappings import guess
from lessons.imports.reasons import reasons
from lessons.imports.tables import open_table
from lessons.models import ImportRun, Lesson

URGENT_CSV = (
    "Title,Description,Priority,Date\n"
    "Vendor patch broke billing,The vendor pushed a patch on a Friday.,Urgent,2026-03-02\n"
    "Late servers,The servers came six weeks late.,high,2026-03-09\n"
    "Login outage,Single sign-on failed for a day.,urgent,2026-04-01\n"
    "Unclear scope,Nobody wrote the reports down.,Meh,2026-04-03\n"
    "Crane booked badly,The crane came before the steel.,Urgent,next Tuesday\n"
    "Shared test rig,Two teams booked the same rig.,Low,2026-05-01\n"
    "Supplier went bust,The only supplier of the cards closed.,Critical,2026-05-02\n"
    "Weekly report ignored,Nobody read the status report.,Medium,2026-05-03\n"
    "Budget line missing,Licences were never budgeted.,High,2026-05-04\n"
)  # mostly allowed severities, so the column is read as severity, not as tags


def urgent_file(tmp_path):
    path = tmp_path / "urgent.csv"
    path.write_text(URGENT_CSV, encoding="utf-8")
    return path


# The importer

def test_the_check_counts_words_that_are_not_allowed_and_says_why_in_form_words(
        session, tmp_path):
    table = open_table(urgent_file(tmp_path))
    mapping = guess(table.headers, table.sample())
    report = check_import(session, table, mapping).as_dict()
    assert report["words"] == {"severity": {"Urgent": 3, "Meh": 1}}  # any letter case, counted
    assert [item["row"] for item in report["rejected"]] == [2, 4, 5, 6]
    urgent, date = [str(reason) for reason in reasons(report["rejected"][3], mapping)]
    assert urgent == ("Severity (column “Priority”: “Urgent”): must be one of "
                      "Low, Medium, High or Critical")
    assert date == "Date it happened (column “Date”: “next Tuesday”): must be a date as YYYY-MM-DD"
    assert [r.control for r in reasons(report["rejected"][3], mapping)] == ["values",
                                                                            "date_format"]


def test_the_importer_maps_words_through_the_mappings_values(session, tmp_path):
    table = open_table(urgent_file(tmp_path))
    mapping = guess(table.headers, table.sample())
    mapping.values = {"severity": {"Urgent": "high"}}
    report = run_import(session, table, mapping, actor="t")
    assert report.taken() == "2-4, 7-10" and [row for row, _ in report.rejected] == [5, 6]
    assert report.as_dict()["words"] == {"severity": {"Urgent": 3, "Meh": 1}}  # still offered
    severities = dict(session.execute(select(Lesson.title, Lesson.severity)).all())
    assert [severities[t] for t in ("Vendor patch broke billing", "Late servers",
                                    "Login outage")] == ["high", "high", "high"]

def test_a_mapping_file_maps_the_same_words_on_the_command_line(runner, session, tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({
        "fields": {"title": "Title", "what_happened": "Description", "severity": "Priority",
                   "occurred_on": "Date"},
        "values": {"severity": {"Urgent": "high", "Meh": "low"}}}), encoding="utf-8")
    result = runner.invoke(args=["import", str(urgent_file(tmp_path)), "--mapping", str(mapping)])
    assert result.exit_code == 0, result.output
    assert "Created 8 lessons" in result.output and "row 6 rejected" in result.output
    assert sorted(session.scalars(select(Lesson.severity))) == [
        "critical", "high", "high", "high", "high", "low", "low", "medium"]


# The mapping page

def upload(client, name, content):
    response = client.post("/import", data={"file": (io.BytesIO(content), name)},
                           content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def test_the_page_lists_the_words_to_map_and_applies_the_chosen_values(
        client, session, queue_worker):
    run_url = upload(client, "urgent.csv",
                     URGENT_CSV.encode() + b"Odd,Something odd.,<b>Soon</b>,2026-06-01\n")
    page = client.get(run_url).get_data(as_text=True)
    assert 'id="values-severity"' in page and "<legend>Severity</legend>" in page
    assert "“Urgent” <span class=\"meta\">(3 rows)</span>" in page
    assert '<option value="" selected>reject the row</option>' in page
    assert '<option value="high" >High</option>' in page
    assert "“&lt;b&gt;Soon&lt;/b&gt;”" in page and "<b>Soon</b>" not in page  # escaped
    assert ("Severity (column “Priority”: “Urgent”): must be one of Low, Medium, High or "
            'Critical. <a href="#values-severity">Choose what “Urgent” stands for above.</a>'
            ) in page
    assert ('Date it happened (column “Date”: “next Tuesday”): must be a date as YYYY-MM-DD. '
            '<a href="#map-date-format">Choose the date format above.</a>') in page
    assert 'id="map-date-format"' in page
    assert "Import 5 lessons" in page

    changed = client.post(f"{run_url}/mapping", data={
        "word-severity": ["Urgent", "Meh", "<b>Soon</b>"], "to-severity": ["high", "", "low"]})
    assert changed.status_code == 303
    page = client.get(run_url).get_data(as_text=True)
    assert "Import 8 lessons" in page  # rows 2, 4 and 11 now pass; 5 (Meh) and 6 do not
    assert '<option value="high" selected>High</option>' in page  # the choice is shown
    run = session.scalar(select(ImportRun))
    session.refresh(run)
    assert run.mapping["values"] == {"severity": {"Urgent": "high", "<b>Soon</b>": "low"}}

    # A value that is not allowed is refused, and the mapping kept.
    refused = client.post(f"{run_url}/mapping", data={"word-severity": "Meh",
                                                      "to-severity": "extreme"})
    assert refused.status_code == 422
    assert "<li>Severity: Not an allowed value.</li>" in refused.get_data(as_text=True)

    assert client.post(f"{run_url}/start").status_code == 303
    for _ in range(600):
        if "run-running" not in client.get(f"{run_url}/progress").get_data(as_text=True):
            break
        time.sleep(0.1)
    session.expire_all()
    assert session.scalar(select(Lesson.severity).where(Lesson.title == "Login outage")) == "high"
    report = client.get(run_url).get_data(as_text=True)
    assert "Lessons created</dt><dd>8" in report
    assert "Severity (column “Priority”: “Meh”): must be one of" in report
    assert "Choose what" not in report  # no mapping controls once imported


def test_choosing_reject_drops_a_ready_mappings_word_and_keeps_the_others(client, session):
    retro = ("Board,Column,Card,Action,Author,Created\n"
             "Q3,To improve,Nobody owned the vendor feed.,,Ana,2026-09-14\n"
             "Q3,Stop,Stop skipping the demo.,,Ben,2026-09-14\n")
    response = client.post("/import", data={"file": (io.BytesIO(retro.encode()), "retro.csv"),
                                            "mapping": "retro"},
                           content_type="multipart/form-data")
    run_url = response.headers["Location"]
    page = client.get(run_url).get_data(as_text=True)
    assert '<option value="went_wrong" selected>Went wrong</option>' in page  # as mapped
    client.post(f"{run_url}/mapping", data={"word-kind": ["To improve", "Stop"],
                                            "to-kind": ["went_wrong", ""]})
    run = session.scalar(select(ImportRun))
    session.refresh(run)
    kinds = run.mapping["values"]["kind"]
    assert "stop" not in kinds and kinds["to improve"] == "went_wrong" and kinds["keep"]
    assert "Kind (column “Column”: “Stop”): must be one of Went wrong, Went well or Risk" in \
        client.get(run_url).get_data(as_text=True)


# In a real browser

@pytest.fixture
def page(browser, app, viewport):
    """The import page at `viewport`, signed in as a PMO."""
    with signed_in_page(browser, app, viewport, "/import", "Import lessons") as page:
        yield page


@pytest.mark.browser
def test_a_pmo_reads_the_reasons_maps_urgent_to_high_and_imports(
        page, client, viewport, queue_worker):
    errors = console_errors(page)
    page.locator("#import-file").set_input_files(files=[{
        "name": "urgent.csv", "mimeType": "text/csv", "buffer": URGENT_CSV.encode()}])
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("h1")).to_have_text("Import urgent.csv")
    start = page.locator("#start-import")
    expect(start).to_have_text("Import 5 lessons")

    # The reasons read as the form does, and lead to the controls that fix them.
    rejected = page.get_by_role("region", name="Rejected rows")
    expect(rejected).to_contain_text("Severity (column “Priority”: “Urgent”): must be one of "
                                     "Low, Medium, High or Critical.")
    expect(rejected).to_contain_text("Date it happened (column “Date”: “next Tuesday”): "
                                     "must be a date as YYYY-MM-DD.")
    expect(rejected).not_to_contain_text("occurred_on")
    rejected.get_by_role("link", name="Choose the date format above.").click()
    expect(page).to_have_url(re.compile(r"#map-date-format$"))
    expect(page.locator("#map-date-format")).to_be_in_viewport()
    rejected.get_by_role("link", name="Choose what “Urgent” stands for above.").first.click()
    urgent = page.get_by_label("“Urgent” (3 rows)")
    expect(urgent).to_be_in_viewport()
    expect(urgent).to_have_value("")  # reject the row, until chosen
    width = viewport["width"]
    page.screenshot(path=f"/tmp/import-values-{width}.png", full_page=True)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{scroll_width} px wide in a {width} px window"

    # Urgent is High here; the preview follows, then the import runs.
    urgent.select_option(label="High")
    page.get_by_role("button", name="Apply the values").click()
    expect(start).to_have_text("Import 7 lessons")  # rows 2 and 4 too; 5 and 6 stay out
    expect(page.get_by_label("“Urgent” (3 rows)")).to_have_value("high")
    expect(rejected).not_to_contain_text("“Urgent”")
    start.click()
    expect(page.locator(".counts")).to_contain_text("Lessons created", timeout=60_000)
    expect(page.get_by_role("region", name="Rejected rows")).to_contain_text("“Meh”")

    found = client.get("/api/v1/lessons?per_page=50").get_json()["items"]
    assert len(found) == 7
    assert {item["title"]: item["severity"] for item in found}["Login outage"] == "high"
    assert errors == []


def test_a_file_of_one_lesson_offers_to_import_one_lesson(client):
    run_url = upload(client, "one.csv", b"Title,What happened\nCrane late,It came late.\n")
    page = client.get(run_url).get_data(as_text=True)
    assert ">Import 1 lesson</button>" in page


def test_an_impossible_date_in_the_chosen_format_is_said_in_that_format(client):
    run_url = upload(client, "days.csv", b"Title,What happened,Date\n"
                     b"Crane late,It came late.,05/03/2025\nPermit late,It came late.,31/02/2025\n")
    changed = client.post(f"{run_url}/mapping", data={"date_format": "%d/%m/%Y"})
    page = client.get(changed.headers.get("Location", run_url)).get_data(as_text=True)
    assert 'value="%d/%m/%Y"' in page
    assert ("Date it happened (column “Date”: “31/02/2025”): is no date in the format "
            "chosen, %d/%m/%Y.") in page
    assert "“31/02/2025”): must be a date as YYYY-MM-DD" not in page
