"""Turn untrusted input (form strings or JSON values) into clean field values.

`clean(FIELDS, data)` checks every field at once and raises one
`ValidationError` naming each bad field, so a form can show every message
next to its field and an API client can fix everything in one go.
`parse_json` reads the JSON text of a request body or an imported file.
"""

import json
import math
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from lessons.errors import ValidationError
from lessons.fields import EARLIEST_DATE, LATEST_DATE, MAX_ID, MAX_TAG_LENGTH, MAX_TAGS, Field

REQUIRED = "This field is required."
# Deeper than any export Lessons reads (Jira's nests about five levels), far shallower than
# Python's recursion limit, which the readers of nested records would otherwise hit.
MAX_JSON_NESTING = 100


class Invalid(ValueError):
    """One field's value is wrong; the message is shown to the user."""


def parse_json(text: str) -> Any:
    """`text` parsed as JSON, or `Invalid` saying why not, in words for the user."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise Invalid(f"{error.msg} at line {error.lineno}, column {error.colno}") from None
    except RecursionError:
        raise Invalid(f"it nests deeper than {MAX_JSON_NESTING} levels") from None
    except ValueError:  # Python refuses to read an integer of more than 4,300 digits
        raise Invalid("it holds a number with more digits than any field takes") from None
    if too_deep(document):
        raise Invalid(f"it nests deeper than {MAX_JSON_NESTING} levels")
    return document


def too_deep(document: Any) -> bool:
    """Whether lists and objects nest in `document` deeper than MAX_JSON_NESTING (looked at
    without recursion, so any depth is safe to check)."""
    stack = [(document, 1)] if isinstance(document, (dict, list)) else []
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_NESTING:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def clean(
    fields: tuple[Field, ...],
    data: Mapping[str, Any],
    *,
    partial: bool = False,
    choices: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Validate `data` against `fields`; `partial` checks only the keys given (PATCH)."""
    if not isinstance(data, Mapping):
        raise ValidationError({}, "The input must be an object of field names and values.")
    by_name = {f.name: f for f in fields}
    errors = {key: "Unknown field." for key in data if key not in by_name}
    values: dict[str, Any] = {}
    for field in fields:
        if partial and field.name not in data:
            continue
        try:
            values[field.name] = clean_value(
                field, data.get(field.name, field.default), (choices or {}).get(field.name)
            )
        except Invalid as error:
            errors[field.name] = str(error)
    if errors:
        raise ValidationError(errors)
    return values


def clean_value(field: Field, value: Any, choices: Mapping[str, str] | None = None) -> Any:
    """One field's clean value, or `Invalid` with a message for the user."""
    if isinstance(value, str):
        check_text(value)
        if not value.strip():
            value = None
    if value is None or value == []:
        # A field with a default may be left out, but not emptied.
        if field.required or field.default is not None:
            raise Invalid(REQUIRED)
        return [] if field.type == "tags" else None
    return CLEANERS[field.type](field, value, choices)


def check_text(value: str) -> None:
    """Refuse characters no database can store as text."""
    if "\x00" in value:
        raise Invalid("Contains a NUL character, which cannot be stored.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("Contains characters that are not valid Unicode.") from None


def clean_string(field: Field, value: Any, _choices: object) -> str:
    """A single line of text: surrounding spaces go, the rest is kept as typed."""
    return clean_text(field, value.strip() if isinstance(value, str) else value, None)


def clean_text(field: Field, value: Any, _choices: object) -> str:
    """Free text, kept exactly as typed (browsers send CRLF; it is stored as LF)."""
    if not isinstance(value, str):
        raise Invalid("Must be text.")
    value = value.replace("\r\n", "\n")
    if field.max_length and len(value) > field.max_length:
        raise Invalid(f"At most {field.max_length:,} characters (this has {len(value):,}).")
    return value


def clean_date(_field: Field, value: Any, _choices: object) -> date:
    """A calendar date given as YYYY-MM-DD, within a plausible range."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise Invalid("Must be a date as YYYY-MM-DD.")
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid("Must be a date as YYYY-MM-DD.") from None
    if not EARLIEST_DATE <= parsed <= LATEST_DATE:
        raise Invalid(f"Must be between {EARLIEST_DATE} and {LATEST_DATE}.")
    return parsed


def clean_integer(field: Field, value: Any, _choices: object) -> int:
    """A whole number from 0 up to the field's maximum."""
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,18}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("Must be a whole number.")
    return check_range(field, value)


def clean_money(field: Field, value: Any, _choices: object) -> Decimal:
    """An amount of money, rounded to cents."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Invalid("Must be a number.")
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid("Must be a finite number.")
    try:
        amount = Decimal(value.strip().replace(",", "") if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise Invalid("Must be a number.") from None
    if not amount.is_finite():
        raise Invalid("Must be a finite number.")
    # The range comes first: rounding a huge number to cents overflows the context. The
    # maximum is a whole number, so what passes still passes once rounded.
    return check_range(field, amount).quantize(Decimal("0.01"))


def check_range(field: Field, number: Any) -> Any:
    """`number` when it lies between 0 and the field's maximum."""
    if number < 0:
        raise Invalid("Must not be negative.")
    if field.maximum is not None and number > field.maximum:
        raise Invalid(f"Must be at most {field.maximum:,}.")
    return number


def clean_choice(field: Field, value: Any, choices: Mapping[str, str] | None) -> str:
    """One of the allowed values; a label or another letter case finds its value."""
    allowed = choices if choices is not None else field.choices or {}
    if not isinstance(value, str):
        raise Invalid("Must be text.")
    wanted = value.strip().casefold()
    for key, label in allowed.items():
        if wanted in (key.casefold(), label.casefold()):
            return key
    raise Invalid("Must be one of: " + ", ".join(allowed) + ".")


def clean_tags(_field: Field, value: Any, _choices: object) -> list[str]:
    """A list of short lowercase tags, from a list or a comma-separated string."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise Invalid("Must be a list of tags or a comma-separated string.")
    tags: list[str] = []
    for raw in value:
        check_text(raw)
        tag = " ".join(raw.split()).lower()
        if len(tag) > MAX_TAG_LENGTH:
            raise Invalid(f"Each tag has at most {MAX_TAG_LENGTH} characters.")
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise Invalid(f"At most {MAX_TAGS} tags.")
    return tags


def clean_ref(_field: Field, value: Any, _choices: object) -> int:
    """The id of another row (whether it exists is the service's check)."""
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,12}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise Invalid("Must be the id of an existing record.")
    return value


CLEANERS = {
    "string": clean_string,
    "text": clean_text,
    "date": clean_date,
    "integer": clean_integer,
    "money": clean_money,
    "choice": clean_choice,
    "tags": clean_tags,
    "ref": clean_ref,
}
