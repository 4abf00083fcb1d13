"""Importing CSV, Excel and JSON files: guessed and ready mappings, dry runs, bad files,
resuming."""

import csv
import io
import json
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import signed_in
from sqlalchemy import func, select

from lessons.errors import ValidationError
from lessons.imports import importer
from lessons.imports.importer import check_import, ranges, run_import
from lessons.imports.mappings import guess, load_mapping, parse_mapping
from lessons.imports.tables import open_table
from lessons.models import Lesson, Project
from search.retrieve import search
from web.engine import engine

# JSON no reader can take: nested a million deep, nested past the limit, a 5,000-digit number.
DEEP_JSON = b"[" * 1_000_000 + b"]" * 1_000_000
NESTED_JSON = b'[{"title": ' + b'{"a": ' * 150 + b'"t"' + b"}" * 150 + b"}]"
HUGE_NUMBER_JSON = b'[{"title": "t", "what_happened": "w", "impact_days": ' + b"9" * 5000 + b"}]"
TOO_DEEP = "not valid JSON: it nests deeper than 100 levels"
TOO_LONG = "not valid JSON: it holds a number with more digits than any field takes"


def write_csv(path, header, rows, encoding="utf-8", delimiter=","):
    with open(path, "w", encoding=encoding, newline="") as file:
        writer = csv.writer(file, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def shared_rows(shared_data, name, count):
    """The header and first `count` rows of a shared data file."""
    csv.field_size_limit(sys.maxsize)
    with open(shared_data / name, encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        header = next(reader)
        return header, [row for _, row in zip(range(count), reader, strict=False)]


def lesson_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Lesson))


RETRO = ("Board,Column,Card,Action,Author,Created\n"
         "Payments Q3,To improve,Nobody owned the vendor's API change notices. We found out in "
         "production.,Name an owner for every vendor feed,Ana,2026-09-14\n"
         "Payments Q3,Went well,Pairing testers with developers caught the rounding bug early.,"
         ",Ben,2026-09-14\n"
         "Payments Q3,Risks,The card network may retire the old settlement format next year.,"
         "Ask the network for dates,Ana,2026-09-15\n")


# Guessing and ready mappings

def test_guess_matches_the_nasa_export_like_its_ready_mapping(shared_data):
    header, rows = shared_rows(shared_data, "nasa_llis_2101.csv", 50)
    guessed = guess(header, [dict(zip(header, row, strict=True)) for row in rows])
    ready = load_mapping("nasa")
    assert guessed.fields["what_happened"] == ["Abstract", "Driving Event"]
    for target in ("title", "root_cause", "recommendation", "occurred_on", "tags", "project",
                   "business_unit"):
        assert guessed.fields[target] == ready.fields[target], target


def test_guess_turns_an_incident_list_summary_into_what_happened_and_its_words_into_tags(
        shared_data):
    header, rows = shared_rows(shared_data, "danluu_postmortems.csv", 50)
    guessed = guess(header, [dict(zip(header, row, strict=True)) for row in rows])
    assert guessed.fields["what_happened"] == "summary"
    assert "title" not in guessed.fields  # made from the first sentence
    assert guessed.fields["tags"] == "category"  # "Config Errors" is not a lesson category
    lesson = guessed.apply(dict(zip(header, rows[1], strict=True)))
    assert lesson["title"] == "A bad config (router rule) caused all of their edge routers to " \
                              "crash, taking down all of Cloudflare."


def test_guess_reads_jira_style_nested_json_and_day_first_dates(tmp_path):
    path = tmp_path / "jira.json"
    path.write_text(json.dumps({"issues": [
        {"key": "PAY-1", "fields": {"summary": "Vendor API changed without notice",
                                    "description": "The settlement feed changed its format.",
                                    "labels": ["vendor", "api"], "priority": "High",
                                    "created": "14/09/2026"}},
        {"key": "PAY-2", "fields": {"summary": "Test data was stale",
                                    "description": "UAT ran on last year's rates.",
                                    "labels": [], "priority": "Low", "created": "30/09/2026"}},
    ]}), encoding="utf-8")
    table = open_table(path)
    mapping = guess(table.headers, table.sample())
    assert mapping.fields["title"] == "fields.summary"
    assert mapping.fields["what_happened"] == "fields.description"
    assert mapping.fields["severity"] == "fields.priority"
    assert mapping.date_format == "%d/%m/%Y"
    first = mapping.apply(table.sample()[0])
    assert first["tags"] == "vendor, api" and first["occurred_on"] == "2026-09-14"


def test_ready_mappings_take_every_row_of_the_shared_data(session, shared_data):
    nasa = check_import(session, open_table(shared_data / "nasa_llis_2101.csv"),
                        load_mapping("nasa"))
    assert (nasa.rows, len(nasa.created), nasa.rejected) == (2101, 2101, [])
    assert len(nasa.new_projects) > 100
    # A few NASA rows list more topics than a lesson keeps: said, not hidden.
    assert any("tags kept" in note for _, note in nasa.adjusted)
    incidents = check_import(session, open_table(shared_data / "danluu_postmortems.csv"),
                             load_mapping("danluu"))
    assert (incidents.rows, len(incidents.created), incidents.rejected) == (190, 190, [])


def test_import_an_incident_list_then_search_it_and_import_it_again(runner, session, shared_data,
                                                                    tmp_path):
    header, rows = shared_rows(shared_data, "danluu_postmortems.csv", 40)
    path = write_csv(tmp_path / "incidents.csv", header, rows)
    first = runner.invoke(args=["import", str(path), "--mapping", "danluu"])
    assert first.exit_code == 0, first.output
    assert "Created 40 lessons" in first.output and "Rows taken: 2-41" in first.output
    lesson = session.scalar(select(Lesson).where(Lesson.external_id == f"postmortem-{rows[1][0]}"))
    assert lesson.title.startswith(f"{rows[1][1]}: ")
    assert lesson.what_happened.endswith(f"Source: {rows[1][2]}")
    assert lesson.project.name == rows[1][1] and lesson.category == "technical"

    hits = search(engine(), session, "an engineer's typo in the router configuration").hits
    assert any(hit.lesson.external_id.startswith("postmortem-") for hit in hits[:3])

    again = runner.invoke(args=["import", str(path), "--mapping", "danluu"])
    assert "Created 0 lessons" in again.output and "skipped 40" in again.output
    assert lesson_count(session) == 40


def test_a_retrospective_export_translates_its_columns_into_kinds(runner, session, tmp_path):
    path = tmp_path / "retro.csv"
    path.write_text(RETRO, encoding="utf-8")
    result = runner.invoke(args=["import", str(path), "--mapping", "retro"])
    assert result.exit_code == 0, result.output
    lessons = session.scalars(select(Lesson).order_by(Lesson.id)).all()
    assert [lesson.kind for lesson in lessons] == ["went_wrong", "went_well", "risk"]
    assert lessons[0].title == "Nobody owned the vendor's API change notices."
    assert lessons[0].recommendation == "Name an owner for every vendor feed"
    assert lessons[0].project.name == "Payments Q3" and lessons[0].author == "Ana"


def test_a_file_without_ids_is_recognised_by_its_content(runner, session, tmp_path):
    path = write_csv(tmp_path / "plain.csv", ["Title", "What happened"],
                     [["Late hardware", "The servers came six weeks late."],
                      ["Late hardware", "The servers came six weeks late."],
                      ["Scope creep", "Three reports were added in UAT."]])
    first = runner.invoke(args=["import", str(path)])
    assert "Created 2 lessons" in first.output and "repeats row 2" in first.output
    again = runner.invoke(args=["import", str(path)])
    assert "Created 0 lessons" in again.output and "skipped 3" in again.output
    assert lesson_count(session) == 2


def test_an_id_reused_with_other_content_is_skipped_and_said_to_differ(session, tmp_path):
    first = write_csv(tmp_path / "a.csv", ["Id", "Title", "Description"],
                      [["7", "Vendor lock-in", "The supplier held our data."]])
    run_import(session, open_table(first), guess(["Id", "Title", "Description"]), actor="t")
    other = write_csv(tmp_path / "b.csv", ["Id", "Title", "Description"],
                      [["7", "Office move", "The move took a week."]])
    report = check_import(session, open_table(other), guess(["Id", "Title", "Description"]))
    assert report.created == []
    assert "whose content differs" in report.skipped[0][1]


# Mapping files

def test_show_mapping_writes_a_file_the_import_reads_back(runner, session, tmp_path):
    path = tmp_path / "retro.csv"
    path.write_text(RETRO, encoding="utf-8")
    shown = runner.invoke(args=["import", str(path), "--show-mapping"])
    assert shown.exit_code == 0, shown.output
    mapping = json.loads(shown.output)
    mapping["fields"]["tags"] = "Column"  # an edit: keep the board column as a tag too
    mapping["defaults"] = {"severity": "high"}
    mapping_file = tmp_path / "mine.json"
    mapping_file.write_text(json.dumps(mapping), encoding="utf-8")
    result = runner.invoke(args=["import", str(path), "--mapping", str(mapping_file)])
    assert result.exit_code == 0, result.output
    lesson = session.scalars(select(Lesson).order_by(Lesson.id)).first()
    assert lesson.tags == ["to improve"] and lesson.severity == "high"


@pytest.mark.parametrize("document, message", [
    ("{not json", "not valid JSON"),
    ('{"fields": {"colour": "Title"}}', "Not a lesson field"),
    ('{"fields": {"title": 3}}', "column name, a template"),
    ('{"fields": {}, "date_format": "dd/mm"}', "strptime format"),
    ('{"fields": {"title": 1' + "0" * 5000 + "}}", "more digits than any field takes"),
])
def test_a_bad_mapping_file_is_refused_with_the_reason(runner, tmp_path, document, message):
    data = write_csv(tmp_path / "data.csv", ["Title", "Description"], [["A", "B"]])
    mapping = tmp_path / "mapping.json"
    mapping.write_text(document, encoding="utf-8")
    result = runner.invoke(args=["import", str(data), "--mapping", str(mapping)])
    assert result.exit_code != 0 and message in result.output


# Bad files: each gets a clear report and nothing half-imported

def test_a_file_that_is_not_utf8_names_the_line_and_imports_nothing(runner, session, tmp_path):
    path = write_csv(tmp_path / "excel.csv", ["Title", "Description"],
                     [["Kickoff", "Fine"], ["Café supplier", "Délais de livraison"]],
                     encoding="cp1252")
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code != 0
    assert "not UTF-8: line 3" in result.output and "cp1252" in result.output
    assert lesson_count(session) == 0
    fixed = runner.invoke(args=["import", str(path), "--encoding", "cp1252"])
    assert "Created 2 lessons" in fixed.output
    assert session.scalar(select(Lesson.title).where(Lesson.title.like("Caf%"))) == "Café supplier"


def test_semicolons_and_utf16_are_read(session, tmp_path):
    path = write_csv(tmp_path / "semi.csv", ["Title", "Description", "Cost"],
                     [["Late", "Six weeks; no notice", "12,5"]], encoding="utf-16",
                     delimiter=";")
    table = open_table(path)
    assert table.headers == ["Title", "Description", "Cost"]
    assert table.sample()[0]["Description"] == "Six weeks; no notice"


def test_missing_columns_are_named_before_anything_is_written(runner, session, tmp_path):
    path = write_csv(tmp_path / "other.csv", ["id", "summary"], [["1", "An outage"]])
    result = runner.invoke(args=["import", str(path), "--mapping", "nasa"])
    assert result.exit_code != 0
    assert "no column 'Abstract'" in result.output and "nasa mapping" in result.output
    no_text = write_csv(tmp_path / "numbers.csv", ["Id", "Cost"], [["1", "5"]])
    result = runner.invoke(args=["import", str(no_text)])
    assert "says what happened" in result.output
    assert lesson_count(session) == 0


@pytest.mark.parametrize("name, content, message", [
    ("empty.csv", b"", "The file is empty."),
    ("blank.csv", b"\n\n", "no header row"),
    ("broken.xlsx", b"PK\x03\x04 not really a workbook", "not a readable Excel .xlsx file"),
    ("old.xls", b"\xd0\xcf\x11\xe0", "save the sheet as .xlsx"),
    ("notes.docx", b"hello", "Cannot tell the format"),
    ("list.json", b'{"a": 1}', "list of records"),
    ("bad.json", b'[{"a": 1},', "not valid JSON"),
    ("deep.json", DEEP_JSON, TOO_DEEP),
    ("nested.json", NESTED_JSON, TOO_DEEP),
    ("huge.json", HUGE_NUMBER_JSON, TOO_LONG),
])
def test_unreadable_files_are_refused_with_the_reason(runner, session, tmp_path, name, content,
                                                      message):
    path = tmp_path / name
    path.write_bytes(content)
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert message in result.output and "Traceback" not in result.output
    assert lesson_count(session) == 0


def test_a_file_in_another_format_than_the_one_given_is_refused_in_one_line(runner, session,
                                                                           tmp_path):
    path = write_csv(tmp_path / "lessons.csv", ["Title", "Description"], [["A", "B"]])
    result = runner.invoke(args=["import", str(path), "--format", "xlsx"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.output.startswith("Error: This is not a readable Excel .xlsx file")
    assert len(result.output.splitlines()) == 1
    assert lesson_count(session) == 0


def test_an_excel_sheet_is_read_past_a_stale_dimension_tag(runner, session, tmp_path):
    """Read-only openpyxl stops where the sheet's <dimension> tag says; tools that edit a
    workbook often leave the tag as it was, and the rows past it must not be dropped."""
    workbook = openpyxl.Workbook()
    workbook.active.append(["Title", "What happened", "Severity"])
    for number in range(1, 101):
        workbook.active.append([f"Lesson {number}", f"Case {number} went wrong.", "high"])
    workbook.save(tmp_path / "fresh.xlsx")
    stale = tmp_path / "stale.xlsx"
    with zipfile.ZipFile(tmp_path / "fresh.xlsx") as source, \
            zipfile.ZipFile(stale, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert b'<dimension ref="A1:C101" />' in data
                data = data.replace(b'<dimension ref="A1:C101" />', b'<dimension ref="A1:B10" />')
            target.writestr(item, data)

    table = open_table(stale)
    assert table.headers == ["Title", "What happened", "Severity"]
    rows = list(table.rows())
    assert len(rows) == 100 and rows[-1] == (101, {"Title": "Lesson 100", "What happened":
                                                   "Case 100 went wrong.", "Severity": "high"})
    result = runner.invoke(args=["import", str(stale)])
    assert "Created 100 lessons" in result.output, result.output
    assert session.scalar(select(func.count()).select_from(Lesson)
                          .where(Lesson.severity == "high")) == 100


def test_a_header_only_file_would_create_nothing(session, tmp_path):
    path = write_csv(tmp_path / "header.csv", ["Title", "Description"], [])
    report = check_import(session, open_table(path), guess(["Title", "Description"]))
    assert (report.rows, report.created, report.rejected) == (0, [], [])


def test_bad_rows_are_rejected_with_every_reason_and_the_rest_imported(runner, session, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text(
        "Title,Description,Severity,Cost,Date\n"
        "Good one,It went fine,high,\"$1,200\",2026-01-05\n"
        "No text,,high,,2026-01-05\n"
        "Bad values,Something,extreme,lots,05/31/2026\n"
        "Shifted,Too,many,cells,here,and here\n"
        "Another good one,Also fine,low,,\n", encoding="utf-8")
    dry = runner.invoke(args=["import", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would create 2 lessons" in dry.output and "rejected 3" in dry.output
    assert "row 3 rejected: what_happened: This field is required." in dry.output
    row_4 = next(line for line in dry.output.splitlines() if line.startswith("  row 4 rejected"))
    assert "severity: Must be one of" in row_4 and "impact_cost: Must be a number" in row_4
    assert "occurred_on: Must be a date as YYYY-MM-DD" in row_4
    assert "row 5 rejected: row: Has 6 cells but the header has 5" in dry.output
    assert lesson_count(session) == 0  # a dry run writes nothing

    result = runner.invoke(args=["import", str(path)])
    assert "Created 2 lessons" in result.output and "Rows taken: 2, 6" in result.output
    assert lesson_count(session) == 2


def test_excel_cells_keep_their_dates_and_numbers(runner, session, tmp_path):
    from datetime import datetime

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append([])  # a blank first row: the header is the first filled one
    sheet.append(["Title", "What happened", "Schedule slip (days)", "Cost impact", "Date"])
    sheet.append(["Late servers", "The servers came late.", 42, 1250.5, datetime(2026, 3, 2)])
    sheet.append([None, None, None, None, None])
    sheet.append(["Scope creep", "Three reports were added.", None, None, "2026-04-01"])
    workbook.save(tmp_path / "lessons.xlsx")
    result = runner.invoke(args=["import", str(tmp_path / "lessons.xlsx")])
    assert result.exit_code == 0, result.output
    assert "Created 2 lessons" in result.output and "Rows taken: 3, 5" in result.output
    late = session.scalar(select(Lesson).where(Lesson.title == "Late servers"))
    assert (late.impact_days, str(late.impact_cost), late.occurred_on.isoformat()) == \
        (42, "1250.50", "2026-03-02")


def test_a_named_sheet_is_read_and_a_missing_one_named(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.title = "Summary"
    workbook.create_sheet("Lessons").append(["Title", "Description"])
    workbook.save(tmp_path / "book.xlsx")
    assert open_table(tmp_path / "book.xlsx", sheet="Lessons").headers == ["Title", "Description"]
    with pytest.raises(ValidationError, match="has no sheet 'Risks'; it has: Summary, Lessons"):
        open_table(tmp_path / "book.xlsx", sheet="Risks")


def test_a_100k_row_file_is_checked_in_one_streamed_pass(session, tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["Ref", "Title", "Description"])
        for number in range(100_000):
            writer.writerow([f"R{number}", f"Lesson {number}", f"What happened in case {number}."])
        writer.writerow(["R5", "Lesson 5", "What happened in case 5."])  # a repeat at the end
    report = check_import(session, open_table(path), guess(["Ref", "Title", "Description"]))
    assert (report.rows, len(report.created), len(report.skipped)) == (100_001, 100_000, 1)
    assert report.skipped[0] == (100_002, "repeats row 7")


# All or nothing per batch, and resuming

def test_an_interrupted_import_keeps_whole_batches_and_resumes(session, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH", 4)
    rows = [[f"L{n}", f"Lesson {n}", f"Case {n} went wrong."] for n in range(10)]
    path = write_csv(tmp_path / "ten.csv", ["Key", "Title", "Description"], rows)
    mapping = guess(["Key", "Title", "Description"])
    batches = []

    def stop_after_the_first(ids):
        batches.append(ids)
        if len(batches) == 1:
            return
        raise KeyboardInterrupt

    report = run_import(session, open_table(path), mapping, actor="t",
                        on_batch=stop_after_the_first)
    # The second batch committed before its embedding was interrupted: both are taken.
    assert report.taken() == "2-9" and "Interrupted" in report.stopped
    assert lesson_count(session) == 8

    again = run_import(session, open_table(path), mapping, actor="t")
    assert again.taken() == "10-11" and len(again.skipped) == 8 and again.stopped is None
    assert lesson_count(session) == 10


def test_a_database_error_rolls_its_batch_back_and_says_which_rows_were_taken(
        session, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH", 3)
    rows = [[f"Lesson {n}", f"Case {n}."] for n in range(8)]
    path = write_csv(tmp_path / "eight.csv", ["Title", "Description"], rows)
    real_create = importer.create_lesson

    def failing_create(session, data, **kwargs):
        if data["title"] == "Lesson 4":
            raise RuntimeError("disk full")
        return real_create(session, data, **kwargs)

    monkeypatch.setattr(importer, "create_lesson", failing_create)
    report = run_import(session, open_table(path), guess(["Title", "Description"]), actor="t")
    assert report.taken() == "2-4"
    assert "disk full" in report.stopped and "rows 5 were rolled back" in report.stopped
    assert sorted(session.scalars(select(Lesson.title))) == ["Lesson 0", "Lesson 1", "Lesson 2"]
    assert session.scalar(select(func.count()).select_from(Project)) == 0


def test_ranges_reads_like_a_person_would_write_it():
    assert ranges([2, 3, 4, 7, 9, 10]) == "2-4, 7, 9-10"
    assert ranges([]) == ""


def test_parse_mapping_refuses_unknown_keys():
    with pytest.raises(ValidationError) as error:
        parse_mapping({"fields": {"title": "T"}, "colour": "red"}, "x")
    assert error.value.fields == {"colour": "Unknown key."}


def test_a_template_with_every_column_empty_gives_nothing():
    mapping = load_mapping("nasa")
    data = mapping.apply({"Lesson ID": "", "Title": "T", "Abstract": "A", "Driving Event": "",
                          "Lesson(s) Learned": "", "Recommendation(s)": "", "Topics": "",
                          "Project / Program": "", "Organization": "",
                          "Date Lesson Occurred": ""})
    assert "external_id" not in data and data["what_happened"] == "A"
    fallback = mapping.apply({"Title": "T", "Lesson(s) Learned": "Check the torque."})
    assert fallback["what_happened"] == "Check the torque."


# The import page

def upload(client, name, content, **form):
    return client.post("/import", data={"file": (io.BytesIO(content), name), **form},
                       content_type="multipart/form-data")


def test_the_import_page_previews_then_imports_in_the_background(
        client, session, app, queue_worker):
    response = upload(client, "retro.csv", RETRO.encode() + b"Payments Q3,Went well,,,Ana,x\n",
                      mapping="retro")
    assert response.status_code == 303
    preview = client.get(response.headers["Location"])
    page = preview.get_data(as_text=True)
    assert "Nobody owned the vendor&#39;s API change notices." in page  # a mapped first row
    assert "Import 3 lessons" in page
    # Row 5, rejected, in the form's words, with the column and a way to the fix.
    assert "What happened (column “Card”): this field is required." in page
    assert ("Date it happened (column “Created”: “x”): must be a date as YYYY-MM-DD. "
            '<a href="#map-date-format">Choose the date format above.</a>') in page
    assert "what_happened:" not in page and "occurred_on:" not in page
    assert lesson_count(session) == 0  # nothing written by a preview

    run_url = response.headers["Location"]
    # Change the mapping: the author column no longer read.
    client.post(f"{run_url}/mapping", data={"author": ""})
    assert "Import 3 lessons" in client.get(run_url).get_data(as_text=True)

    started = client.post(f"{run_url}/start")
    assert started.status_code == 303
    wait_for_run(client, run_url)
    page = client.get(run_url).get_data(as_text=True)
    assert "Lessons created</dt><dd>3" in page and "Rows taken: 2-4" in page
    assert lesson_count(session) == 3
    assert session.scalar(select(Lesson.author).where(Lesson.kind == "risk")) is None
    assert client.post(f"{run_url}/start").status_code == 409  # done: not run twice


def wait_for_run(client, run_url, seconds=120):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fragment = client.get(f"{run_url}/progress").get_data(as_text=True)
        if "run-running" not in fragment:
            return fragment
        time.sleep(0.2)
    raise AssertionError("the import did not finish")


@pytest.mark.parametrize("name, content, message", [
    ("excel.csv", "Title,Description\nCafé,Délai\n".encode("cp1252"), "not UTF-8: line 2"),
    ("empty.csv", b"", "The file is empty."),
    ("old.xls", b"\xd0\xcf\x11\xe0", "save the sheet as .xlsx"),
    # 100,000 deep: a larger body is spooled by the test client to a file it never closes.
    ("deep.json", b"[" * 100_000 + b"]" * 100_000, TOO_DEEP),
    ("huge.json", HUGE_NUMBER_JSON, TOO_LONG),
])
def test_the_import_page_refuses_bad_files_with_the_reason(client, app, name, content, message):
    response = upload(client, name, content)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert not any((Path(app.instance_path) / "imports").glob("*"))  # nothing kept


def test_the_import_page_takes_files_larger_than_a_form_but_not_than_its_limit(make_app, backend):
    app = make_app(DATABASE_URL=backend.url, IMPORT_MAX_LENGTH=3 * 2**20)
    client = signed_in(app)
    rows = "".join(f"Lesson {n},{'x' * 100}\n" for n in range(25_000))  # about 2.9 MB

    def upload_raw(content: bytes):
        # Encoded here: the test client spools a large body to a file it never closes.
        boundary = "lessons-test-boundary"
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n').encode() \
            + content + f"\r\n--{boundary}--\r\n".encode()
        return client.post("/import", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")

    assert upload_raw(f"Title,Description\n{rows}".encode()).status_code == 303
    assert upload_raw(f"Title,Description\n{rows}{rows}".encode()).status_code == 413
    assert client.post("/lessons/new", data={"title": "x" * (3 * 2**20)}).status_code == 413
