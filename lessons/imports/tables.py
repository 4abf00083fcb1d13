"""A file of records read as rows of named cells: CSV, Excel (.xlsx) or JSON.

Rows are streamed and can be read again (the check pass, then the writing
pass), so a 100k-row file is never held whole. Each row keeps its number as
the user sees it: the header is row 1, the first record row 2, as in a
spreadsheet. Anything unreadable raises `ValidationError` with a clear
message; the import reads the whole file once before writing, so that
happens before a single row is stored.
"""

import codecs
import csv
import itertools
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from lessons.errors import ValidationError
from lessons.validation import Invalid, parse_json

FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
           ".json": "json"}
DELIMITERS = ",;\t|"
CHECK_CHUNK = 1 << 20

Row = tuple[int, dict[str, Any]]  # (row number in the file, cells by header)


@dataclass
class Table:
    """The headers of a file and a way to read its rows, as often as needed."""

    file_format: str
    headers: list[str]
    read_rows: Callable[[], Iterator[Row]]
    encoding: str | None = None

    def sample(self, size: int = 200) -> list[dict[str, Any]]:
        """The first `size` filled rows, for guessing a mapping and previewing it."""
        return [cells for _, cells in itertools.islice(self.rows(), size)]

    def rows(self) -> Iterator[Row]:
        """Every row with at least one filled cell, numbered as in the file."""
        for number, cells in self.read_rows():
            if any(not blank(value) for value in cells.values()):
                yield number, cells


def unreadable(message: str) -> ValidationError:
    """The error for a file that cannot be imported at all."""
    return ValidationError({"file": message}, message)


def open_table(path: Path, file_format: str | None = None, encoding: str | None = None,
               sheet: str | None = None) -> Table:
    """The file as a table, or `ValidationError` saying why it cannot be read."""
    file_format = file_format or guess_format(path)
    if path.stat().st_size == 0:
        raise unreadable("The file is empty.")
    if file_format == "csv":
        return csv_table(path, encoding)
    if file_format == "xlsx":
        return xlsx_table(path, sheet)
    if file_format == "json":
        return json_table(load_json(path))
    raise unreadable(f"Unknown format {file_format!r}: use csv, xlsx or json.")


def guess_format(path: Path) -> str:
    """The format its name says, or an error naming the ones understood."""
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise unreadable("Old Excel .xls files cannot be read: save the sheet as .xlsx or CSV.")
    if suffix not in FORMATS:
        raise unreadable(f"Cannot tell the format of {path.name!r}: "
                         "name it .csv, .xlsx or .json, or give the format.")
    return FORMATS[suffix]


# CSV

def csv_table(path: Path, encoding: str | None) -> Table:
    """A CSV file: its encoding checked end to end, its delimiter taken from the header."""
    encoding = encoding or sniff_encoding(path)
    check_encoding(path, encoding)
    with open(path, encoding=encoding, newline="") as file:
        first_line = file.readline()
    delimiter = max(DELIMITERS, key=first_line.count)
    csv.field_size_limit(sys.maxsize)

    with open(path, encoding=encoding, newline="") as file:
        headers = unique_headers(next(csv.reader(file, delimiter=delimiter), []))
    if not any(headers):
        raise unreadable("The file has no header row.")

    def read_rows() -> Iterator[Row]:
        with open(path, encoding=encoding, newline="") as file:
            reader = csv.reader(file, delimiter=delimiter)
            number = 1
            try:
                next(reader, None)
                for number, cells in enumerate(reader, start=2):
                    # A short row leaves the last columns empty; a long one's extra cells
                    # go under OVERFLOW.
                    row: dict[str, Any] = dict(zip(headers, cells, strict=False))
                    if any(cell.strip() for cell in cells[len(headers):]):
                        row[OVERFLOW] = cells[len(headers):]
                    yield number, row
            except csv.Error as error:
                raise unreadable(f"Row {number + 1} cannot be read as CSV ({error}).") from None

    return Table("csv", headers, read_rows, encoding)


# A row with more cells than the header has shifted columns (usually a stray
# quote): its extra cells are kept under this name so the row is refused, not guessed.
OVERFLOW = "\x00overflow"


def sniff_encoding(path: Path) -> str:
    """UTF-16 when a byte-order mark says so, else UTF-8 (with or without its mark)."""
    with open(path, "rb") as file:
        start = file.read(4)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8-sig"


def check_encoding(path: Path, encoding: str) -> None:
    """Decode the whole file once, so a bad byte is reported before anything is imported."""
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
    except LookupError:
        raise unreadable(f"Unknown encoding {encoding!r}.") from None
    line = 1
    with open(path, "rb") as file:
        while chunk := file.read(CHECK_CHUNK):
            try:
                line += decoder.decode(chunk).count("\n")
            except UnicodeDecodeError as error:
                line += chunk[:error.start].count(b"\n")
                raise unreadable(
                    f"The file is not {encoding_name(encoding)}: line {line} has the byte "
                    f"0x{chunk[error.start]:02X}, which is not valid there. Save it as "
                    "'CSV UTF-8', or give its encoding (Excel on Windows often writes cp1252)."
                ) from None
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise unreadable(f"The file is not {encoding_name(encoding)}: "
                             "it ends in the middle of a character.") from None


def encoding_name(encoding: str) -> str:
    return "UTF-8" if encoding.lower().replace("_", "-") in ("utf-8", "utf-8-sig", "utf8") \
        else encoding


# Excel

def xlsx_table(path: Path, sheet: str | None) -> Table:
    """The first sheet (or the named one) of an .xlsx workbook; its first filled row is the
    header."""
    import openpyxl  # only imports need it
    from openpyxl.utils.exceptions import InvalidFileException

    def open_sheet() -> Any:
        try:
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError,
                ValueError) as error:
            raise unreadable(f"This is not a readable Excel .xlsx file ({error}).") from None
        if sheet is not None and sheet not in workbook.sheetnames:
            raise unreadable(f"The workbook has no sheet {sheet!r}; it has: "
                             + ", ".join(workbook.sheetnames) + ".")
        worksheet = workbook[sheet] if sheet else workbook.worksheets[0]
        # Read every row the sheet holds: read-only mode stops where the file's <dimension>
        # tag says, and tools that edit a workbook often leave that tag stale.
        worksheet.reset_dimensions()
        return workbook, worksheet

    def cells() -> Iterator[tuple[int, tuple[Any, ...]]]:
        workbook, worksheet = open_sheet()
        try:
            for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
                yield number, values
        except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as error:
            raise unreadable(f"The workbook is damaged at row {number + 1} ({error}).") from None
        finally:
            workbook.close()

    header_row, headers = 0, []
    for number, values in cells():
        if any(not blank(value) for value in values):
            header_row, headers = number, unique_headers(["" if v is None else str(v)
                                                          for v in values])
            break
    if not headers:
        raise unreadable("The sheet is empty.")

    def read_rows() -> Iterator[Row]:
        for number, values in cells():
            if number > header_row:
                # A row may end before the header does, or run past it: only the cells
                # under a header are read.
                yield number, {h: excel_value(v) for h, v in zip(headers, values, strict=False)}

    return Table("xlsx", headers, read_rows)


def excel_value(value: Any) -> Any:
    """A cell as the import reads it: dates as dates, whole numbers as ints."""
    if isinstance(value, datetime):
        return value.date() if value.time() == time(0) else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# JSON

def load_json(path: Path) -> Any:
    """The parsed document, or a clear error for a file that is not JSON."""
    try:
        with open(path, encoding="utf-8-sig") as file:
            return parse_json(file.read())
    except UnicodeDecodeError:
        raise unreadable("The file is not UTF-8, which JSON must be.") from None
    except Invalid as error:
        raise unreadable(f"The file is not valid JSON: {error}.") from None


def json_table(document: Any) -> Table:
    """A list of objects (or an object holding one), nested fields named with dots."""
    records = document
    if isinstance(document, dict):
        lists = [value for value in document.values() if isinstance(value, list)]
        records = lists[0] if len(lists) == 1 else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise unreadable("The JSON must be a list of records (objects), or an object "
                         "holding one such list.")
    flat = [flatten(record) for record in records]
    headers = list(dict.fromkeys(key for record in flat for key in record))
    if not headers:
        raise unreadable("The file has no records.")
    return Table("json", headers, lambda: enumerate(flat, start=1))


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"fields": {"summary": x}} as {"fields.summary": x}, as Jira exports nest them."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# Shared

def unique_headers(names: list[str]) -> list[str]:
    """Header names stripped, blanks named by position, repeats numbered."""
    headers: list[str] = []
    for position, name in enumerate(names, start=1):
        name = " ".join(str(name).split()) or f"Column {position}"
        base, copy = name, 2
        while name in headers:
            name, copy = f"{base} ({copy})", copy + 1
        headers.append(name)
    return headers


def blank(value: Any) -> bool:
    """An empty cell: nothing, or only spaces."""
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def cell_text(value: Any) -> str:
    """A cell as text: dates in ISO form, lists joined by commas."""
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(cell_text(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).strip()
