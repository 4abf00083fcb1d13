"""Writing lessons out: CSV cells that spreadsheets will not run as formulas, and user text
in Markdown that wikis and mail clients will not run as HTML."""

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import nh3

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """`value` as CSV text; text with a leading = + - @ gets a quote so no spreadsheet
    evaluates it (numbers stay numbers: -3 is not a formula)."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def markdown_text(value: Any, inline: bool = True) -> str:
    """User text for a Markdown document, with every HTML tag stripped (nh3): most Markdown
    renderers pass HTML through, so a title like `<img onerror=…>` would run in a wiki.
    Inline text is also kept on one line, so it cannot open a heading or a list of its own."""
    text = nh3.clean("" if value is None else str(value), tags=set())
    return " ".join(text.split()) if inline else text.strip()


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A whole CSV document, every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return out.getvalue()
