"""Writing lessons out: CSV cells that spreadsheets will not run as formulas, and user text
in Markdown that wikis and mail clients will not run as HTML or as a script link.

Every CSV export writes through `csv_text` or `CsvWriter`, and every Markdown export puts
user text through `markdown_text`, so each rule is kept in one place. A lesson in a Markdown
document is written by `lesson_markdown`, so it reads the same in every export.
"""

import csv
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, TextIO

import nh3

from lessons.fields import KINDS, PHASES, SEVERITIES
from lessons.models import Lesson
from lessons.wording import money, plural

# Where a spreadsheet may read the start of a cell inside one of ours: its start (= + - @
# even after spaces or line breaks, which spreadsheets trim; a leading tab or CR alone),
# and after each ";" or line break. Excel in the many locales whose list separator is ";"
# splits our comma-separated lines there, and the quotes around each cell do not line up
# with those splits, so quoting alone cannot keep `x;=cmd|' /C calc'!A0` in one cell.
FORMULA_START = re.compile(r"^(?=[\t\r])|(?:^|(?<=[;\r\n]))(?=[\s\"]*[=+\-@])")

# Where user text could open a link: `](target)` (inline links and images) and
# `]: target` (a reference definition). Only http(s) targets are left as they are.
UNSAFE_LINK = re.compile(r"\]([(:])(?!\s*https?://)", re.IGNORECASE)


def csv_cell(value: Any) -> str:
    """`value` as CSV text, with a quote before anything a spreadsheet could take for the
    start of a formula (numbers stay numbers: -3 is not a formula)."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    return FORMULA_START.sub("'", "" if value is None else str(value))


class CsvWriter:
    """Rows written to `out` with every cell neutralised (`csv_cell`) and quoted, so a
    separator or line break inside a cell never ends it in a program that honours quotes."""

    def __init__(self, out: TextIO):
        self._writer = csv.writer(out, quoting=csv.QUOTE_ALL)

    def writerow(self, cells: Iterable[Any]) -> None:
        self._writer.writerow([csv_cell(cell) for cell in cells])


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A whole CSV document, every cell neutralised and quoted."""
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def markdown_text(value: Any, inline: bool = True) -> str:
    """User text for a Markdown document, with every HTML tag stripped (nh3): most Markdown
    renderers pass HTML through, so a title like `<img onerror=…>` would run in a wiki.
    A link whose target is not http(s) (`[x](javascript:…)`) is broken with a backslash, so
    it shows as the text typed. Inline text is also kept on one line, so it cannot open a
    heading or a list of its own."""
    text = nh3.clean("" if value is None else str(value), tags=set())
    # After nh3, which has decoded entities such as `&#58;`: the target is read as a renderer will.
    text = UNSAFE_LINK.sub(r"]\\\1", text)
    return " ".join(text.split()) if inline else text.strip()


def lesson_markdown(lesson: Lesson, link: str, currency: str, rank: int | None = None,
                    notes: Sequence[str] = ()) -> list[str]:
    """One lesson as a Markdown section, readable away from the app: its id and `link` (an
    absolute http(s) address of its page), its project, severity, category and impact, what
    happened and the recommendation. `notes` (Markdown already made safe, such as a
    briefing's match and decision) are listed after the facts."""
    md = markdown_text
    title = md(lesson.title)
    lines = [f"## {rank}. {title}" if rank is not None else f"## {title}", "",
             f"- Lesson [#{lesson.id}]({link})"
             + (f" · external id {md(lesson.external_id)}" if lesson.external_id else ""),
             f"- Project: {source_project(lesson)}",
             "- " + " · ".join(lesson_facts(lesson))]
    impact = [money(lesson.impact_cost, currency)] if lesson.impact_cost is not None else []
    if lesson.impact_days is not None:
        impact.append(f"{plural(lesson.impact_days, 'day')} of slip")
    if impact:
        lines.append(f"- Impact: {' · '.join(impact)}")
    lines += [f"- {note}" for note in notes]
    lines += ["", f"**What happened:** {md(lesson.what_happened, inline=False)}"]
    if lesson.recommendation:
        lines += ["", f"**Recommendation:** {md(lesson.recommendation, inline=False)}"]
    return lines + [""]


def source_project(lesson: Lesson) -> str:
    """The project a lesson was learned on, as Markdown."""
    if lesson.project is None:
        return "none"
    deleted = " (deleted project)" if lesson.project.is_deleted else ""
    return markdown_text(lesson.project.name) + deleted


def lesson_facts(lesson: Lesson) -> list[str]:
    """Severity, category, kind and phase, the way the lesson page labels them."""
    facts = [f"Severity: {SEVERITIES.get(lesson.severity, lesson.severity)}"]
    if lesson.category:
        facts.append(f"Category: {markdown_text(lesson.category)}")
    facts.append(f"Kind: {KINDS.get(lesson.kind, lesson.kind)}")
    if lesson.phase:
        facts.append(f"Phase: {PHASES.get(lesson.phase, lesson.phase)}")
    return facts
