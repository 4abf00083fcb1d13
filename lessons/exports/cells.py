"""CSV cells that spreadsheets will not run as formulas.

Every CSV export writes through `csv_text` or `CsvWriter`, so the rule is kept
in one place.
"""

import csv
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, TextIO

# Where a spreadsheet may read the start of a cell inside one of ours: its start (= + - @
# even after spaces or line breaks, which spreadsheets trim; a leading tab or CR alone),
# and after each ";" or line break. Excel in the many locales whose list separator is ";"
# splits our comma-separated lines there, and the quotes around each cell do not line up
# with those splits, so quoting alone cannot keep `x;=cmd|' /C calc'!A0` in one cell.
FORMULA_START = re.compile(r"^(?=[\t\r])|(?:^|(?<=[;\r\n]))(?=[\s\"]*[=+\-@])")


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
