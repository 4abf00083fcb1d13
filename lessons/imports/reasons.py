"""Why a row was rejected, in the lesson form's words: the field's label, the file's column,
the value the row had, and which control of the mapping page can fix it.

The importer's report keeps the machine form (field name → rule broken); this
is what people read on the import page.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lessons.fields import DEFAULT_CATEGORIES, LESSON_FIELDS
from lessons.imports.mappings import ColumnMap, allowed_values

LABELS = {**{f.name: f.label for f in LESSON_FIELDS}, "row": "The row"}
LESSON_TYPES = {f.name: f.type for f in LESSON_FIELDS}


@dataclass
class Reason:
    """One refused field of a rejected row."""

    field: str
    label: str  # as the lesson form names the field
    columns: list[str]  # the file's columns it was read from
    value: str  # what the row had, shortened
    message: str  # a clause: "must be a date as YYYY-MM-DD"
    control: str | None = None  # what fixes it on the mapping page: "date_format" or "values"

    def __str__(self) -> str:
        where = ""
        if self.columns:
            names = ", ".join(f"“{column}”" for column in self.columns)
            where = f" (column{'s' if len(self.columns) > 1 else ''} {names}"
            where += f": “{self.value}”)" if self.value else ")"
        elif self.value:
            where = f" (“{self.value}”)"
        return f"{self.label}{where}: {self.message}"


def reasons(item: Mapping[str, Any], mapping: ColumnMap,
            categories: Sequence[str] = DEFAULT_CATEGORIES) -> list[Reason]:
    """A rejected row's reasons, one per refused field; `item` is one of the report's
    `as_dict()["rejected"]` (reports stored before values were kept have none)."""
    allowed = allowed_values(categories)
    values = item.get("values") or {}
    return [reason(name, message, values.get(name, ""), mapping, allowed)
            for name, message in item["fields"].items()]


def reason(name: str, message: str, value: str, mapping: ColumnMap,
           allowed: Mapping[str, Mapping[str, str]]) -> Reason:
    """One refused field, said as the form would say it."""
    found = Reason(name, LABELS.get(name, name), mapping.sources(name), value, clause(message))
    if name in allowed and message.startswith("Must be one of"):
        found.message = "must be one of " + either(list(allowed[name].values()))
        found.control = "values" if value else None
    elif LESSON_TYPES.get(name) == "date" and "YYYY-MM-DD" in message:
        found.control = "date_format"
        if mapping.date_format:  # read by the format chosen, yet no date (31/02, say)
            found.message = f"is no date in the format chosen, {mapping.date_format}"
    return found


def clause(message: str) -> str:
    """A validation message as the end of a sentence: 'Must be a number.' → 'must be a number'."""
    message = message.rstrip(".")
    return message[:1].lower() + message[1:]


def either(labels: list[str]) -> str:
    """'Low, Medium, High or Critical'."""
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]
