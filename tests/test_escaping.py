"""User text in exports: Markdown that no renderer turns into HTML or a script link, and CSV
that no spreadsheet turns into a formula, whatever separator it splits the lines on."""

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import Api
from markdown_it import MarkdownIt

from lessons.exports.archive import CSV_COLUMNS
from lessons.exports.cells import csv_text
from lessons.exports.markdown import markdown_text
from lessons.models import Action

SCRIPT_IMAGE = "<img src=x onerror=alert(1)>"
SCRIPT_LINK = "[x](javascript:alert(1))"


# --- Markdown ------------------------------------------------------------------


def rendered_links(text: str) -> list[str]:
    """Every link and image target a CommonMark renderer makes of `text`, and every piece of
    raw HTML it would pass through. The renderer is told to trust every target, as many wikis
    and mail tools do, so only the export's own escaping stands between the text and a script."""
    renderer = MarkdownIt("commonmark")
    renderer.validateLink = lambda url: True
    found = []
    for block in renderer.parse(text):
        if block.type == "html_block":
            found.append(block.content)
        for token in block.children or []:
            if token.type in ("link_open", "image"):
                found.append(str(token.attrs.get("href") or token.attrs.get("src")))
            elif token.type == "html_inline":
                found.append(token.content)
    return found


def assert_safe_markdown(text: str) -> None:
    unsafe = [target for target in rendered_links(text)
              if not re.match(r"https?://", target, re.IGNORECASE)]
    assert not unsafe, f"the Markdown renders {unsafe}:\n{text}"


HOSTILE_MARKDOWN = [
    SCRIPT_LINK,
    "![x](javascript:alert(1))",
    "[x]( JavaScript:alert(1))",
    "[x](java&#x73;cript:alert(1))",  # an entity the renderer would decode
    "[x](<javascript:alert(1)>)",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "see [x][r]\n\n[r]: javascript:alert(1)",  # a reference definition on a line of its own
    f"{SCRIPT_IMAGE} and <a href='javascript:alert(1)'>a link</a>",
]


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "block"])
@pytest.mark.parametrize("text", HOSTILE_MARKDOWN)
def test_markdown_text_leaves_no_html_and_no_link_but_http(text, inline):
    assert_safe_markdown(f"- {markdown_text(text, inline=inline)}\n")


def test_markdown_text_keeps_http_links_and_shows_a_broken_link_as_typed():
    kept = markdown_text("See [the guide](https://example.org/guide) first.")
    assert rendered_links(kept) == ["https://example.org/guide"]
    broken = markdown_text(SCRIPT_LINK)
    assert MarkdownIt("commonmark").renderInline(broken) == SCRIPT_LINK


def test_the_report_quotes_no_html_and_no_formula_from_the_titles(client, runner, session):
    """A mistake back after its action is listed with the reason, which quotes the title of
    the lesson whose action was done: that title is user text like any other."""
    projects = [Api(client).post("projects", **{"name": f"Site {n}"})["id"] for n in range(3)]
    first = Api(client).post("lessons", **{
        "title": f"{SCRIPT_IMAGE}Road permit requested too late {SCRIPT_LINK} x;=1+1",
        "what_happened": "The council needed eight weeks for the road closure permit and the "
                         "crews sat idle.", "project_id": projects[0],
        "occurred_on": "2024-01-10", "status": "approved"})["id"]
    action = Api(client).post("actions", **{"lesson_id": first, "description": "Checklist",
                                              "status": "done"})
    session.get(Action, action["id"]).closed_at = datetime(2024, 2, 1, tzinfo=UTC)
    session.commit()
    Api(client).post("lessons", **{
        "title": "Road closure permit applied for late", "what_happened": "Eight weeks for "
        "the council's road closure permit; the crews waited on site.",
        "project_id": projects[1], "status": "approved",
        "occurred_on": (date.today() - timedelta(days=1)).isoformat()})
    Api(client).post("lessons", **{"title": "The caterer cancelled", "status": "approved",
                                     "what_happened": "Lunch arrived cold.",
                                     "project_id": projects[2]})
    assert runner.invoke(args=["themes", "--themes", "2"]).exit_code == 0
    repeats = client.get("/api/v1/themes/repeats").get_json()["items"]
    assert any(SCRIPT_IMAGE in reason for reason in repeats[0]["reasons"])  # the case is met

    text = client.get("/pmo/report.md").get_data(as_text=True)
    assert "<" not in text and "onerror" not in text
    assert "after the action on “Road permit requested too late" in text
    assert_safe_markdown(text)
    # The CSV report has the title as a repeat's item, and quoted in its reason.
    text = client.get("/pmo/report.csv").get_data(as_text=True)
    assert text.count(f"{SCRIPT_LINK} x;'=1+1") == 2
    assert quoted_throughout(text) and formulas(text) == []


def test_the_briefing_markdown_has_no_script_link(client):
    Api(client).post("lessons", **{
        "title": f"{SCRIPT_LINK} Integrator lock-in", "status": "approved",
        "what_happened": "The integrator kept the design rights, so leaving them meant a "
                         "rebuild; the contract had no exit clause.",
        "recommendation": "Read [the clause](javascript:alert(2)) first.\n\n"
                          "[r]: javascript:alert(3)\n\nKeep [a copy](https://example.org/c)."})
    project = Api(client).post("projects", **{
        "name": "Cloud ERP [p](javascript:alert(4))",
        "description": "Replace the ERP with a cloud suite through a systems integrator; "
                       "we must own the design and be able to leave the integrator."})
    text = client.get(f"/projects/{project['id']}/briefing.md").get_data(as_text=True)
    assert "Integrator lock-in" in text and "**Recommendation:**" in text  # the lesson is in it
    assert_safe_markdown(text)
    assert "https://example.org/c" in rendered_links(text)


# --- CSV ---------------------------------------------------------------------------


HOSTILE_CELLS = [
    "=1+1",
    "x;=cmd|' /C calc'!A0",  # Excel where ";" separates lists reads a cell starting at "="
    "x; @SUM(1)",
    "   =1+1",
    "\n=1+1",
    "\r\n+1+1",
    "\t=1+1",
    " -1+1",
    "@SUM(1)",
    "note\n-2+3",
    'say "x";=cmd',
]


def spreadsheet_cells(text: str, delimiter: str) -> list[str]:
    """The cells a spreadsheet splitting lines on `delimiter` reads: a quote opens a quoted
    cell only at the start of one, as Excel and Python's reader both do."""
    return [cell for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            for cell in row]


def formulas(text: str) -> list[str]:
    """The cells that a spreadsheet, splitting on "," or on ";", would run as a formula:
    = + - @ first once spaces and quotes are trimmed, and not a plain number."""
    return [cell for delimiter in ",;" for cell in spreadsheet_cells(text, delimiter)
            if re.match(r"[=+\-@]", cell.lstrip(' \t\r\n"'))
            and not re.fullmatch(r"-?\d+(\.\d+)?", cell.strip())]


def test_csv_text_leaves_no_formula_whatever_the_separator():
    text = csv_text(["n", "cell"], [[n, cell] for n, cell in enumerate(HOSTILE_CELLS)])
    assert formulas(text) == []
    # Read as written, each cell is what was typed, after the quote that neutralises it.
    read = [row[1] for row in csv.reader(io.StringIO(text, newline=""))][1:]
    assert [cell.replace("'", "") for cell in read] == [cell.replace("'", "") for cell in
                                                         HOSTILE_CELLS]
    assert read[0] == "'=1+1" and read[1] == "x;'=cmd|' /C calc'!A0"


def test_csv_text_keeps_numbers_and_plain_text():
    text = csv_text(["a", "b", "c", "d"], [[-3, "Costs went up - a lot", "a;b", "-3"]])
    assert text.splitlines()[1] == '"-3","Costs went up - a lot","a;b","\'-3"'


def test_every_csv_export_quotes_every_cell_and_leaves_no_formula(client, runner, tmp_path):
    for cell in HOSTILE_CELLS:
        Api(client).post("lessons", **{"title": cell.strip() or "blank", "what_happened": cell,
                                         "author": cell.strip()})
    response = client.get("/lessons/export.csv")
    target = tmp_path / "lessons.csv"
    assert runner.invoke(args=["export", "--format", "csv", "--output", str(target)]).exit_code == 0
    assert target.read_bytes() == response.get_data()  # the CLI writes what the web sends
    downloaded = response.get_data(as_text=True)
    assert downloaded.splitlines()[0] == ",".join(f'"{column}"' for column in CSV_COLUMNS)
    assert formulas(downloaded) == []
    rows = list(csv.DictReader(io.StringIO(downloaded)))
    assert len(rows) == len(HOSTILE_CELLS)


def quoted_throughout(text: str) -> bool:
    """Whether every cell of a CSV document is between quotes (as `csv_text` writes them)."""
    return re.fullmatch(r'(?:"(?:[^"]|"")*"(?:,|\r\n))+', text) is not None


def test_the_briefing_csv_quotes_every_cell_and_leaves_no_formula(client):
    for cell in ("=cmd|' /C calc'!A0", "x;=1+1", *HOSTILE_CELLS):
        Api(client).post("lessons", **{
            "title": f"{cell} crane shipped late", "status": "approved", "recommendation": cell,
            "what_happened": "The crane vendor shipped the tower crane six weeks late."})
    project = Api(client).post("projects", **{
        "name": "=HYPERLINK(\"http://x\")", "description": "Tower crane delivery by a vendor."})
    text = client.get(f"/projects/{project['id']}/briefing.csv").get_data(as_text=True)
    assert "cmd|' /C calc'!A0 crane shipped late" in text  # the hostile lessons are in it
    assert quoted_throughout(text) and formulas(text) == []
