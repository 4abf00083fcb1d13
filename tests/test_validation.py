"""Input cleaning: every field type, limits, and one error per bad field."""

from datetime import date
from decimal import Decimal

import pytest

from lessons.errors import ValidationError
from lessons.fields import LESSON_FIELDS, PROJECT_FIELDS
from lessons.validation import clean


def lesson(**values):
    return clean(LESSON_FIELDS, {"title": "A title", "what_happened": "Text", **values})


def errors_of(**values):
    with pytest.raises(ValidationError) as caught:
        lesson(**values)
    return caught.value.fields


def test_defaults_fill_fields_left_out():
    values = lesson()
    assert values["kind"] == "went_wrong" and values["severity"] == "medium"
    assert values["tags"] == [] and values["impact_cost"] is None


def test_every_bad_field_is_reported_at_once():
    fields = errors_of(title="  ", impact_days="ten", occurred_on="2020-13-01", nope=1)
    assert set(fields) == {"title", "impact_days", "occurred_on", "nope"}
    assert fields["nope"] == "Unknown field."


def test_text_is_kept_as_typed_but_single_lines_are_trimmed():
    values = lesson(title="  Padded  ", what_happened="  two\r\nlines  ")
    assert values["title"] == "Padded"
    assert values["what_happened"] == "  two\nlines  "


@pytest.mark.parametrize("value, expected", [
    ("1,234.567", Decimal("1234.57")), (10, Decimal("10.00")), ("0", Decimal("0.00")),
])
def test_money_is_rounded_to_cents(value, expected):
    assert lesson(impact_cost=value)["impact_cost"] == expected


@pytest.mark.parametrize("value", ["abc", -1, "NaN", "Infinity", True, [1], 10**13])
def test_bad_money_is_refused(value):
    assert "impact_cost" in errors_of(impact_cost=value)


@pytest.mark.parametrize("value", ["1.5", 1.5, True, "-3", 10**6, {"a": 1}])
def test_bad_day_counts_are_refused(value):
    assert "impact_days" in errors_of(impact_days=value)


@pytest.mark.parametrize("value", ["1899-12-31", "2101-01-01", "yesterday", 20200101, "2020-02-30"])
def test_bad_dates_are_refused(value):
    assert "occurred_on" in errors_of(occurred_on=value)


def test_dates_parse():
    assert lesson(occurred_on="2024-02-29")["occurred_on"] == date(2024, 2, 29)


def test_choices_accept_labels_and_any_case():
    values = lesson(kind="Went Well", severity="HIGH", phase="Monitoring & control")
    assert ((values["kind"], values["severity"], values["phase"])
            == ("went_well", "high", "monitoring"))
    assert "kind" in errors_of(kind="great")


def test_a_field_with_a_default_cannot_be_emptied():
    assert errors_of(kind="")["kind"] == "This field is required."


def test_tags_are_normalised_from_a_string_or_a_list():
    assert lesson(tags=" Vendor ,vendor, Lock-in ,, ")["tags"] == ["vendor", "lock-in"]
    assert lesson(tags=["A  B", "a b"])["tags"] == ["a b"]
    assert "tags" in errors_of(tags=[1, 2])
    assert "tags" in errors_of(tags=["x" * 51])
    assert "tags" in errors_of(tags=[f"t{i}" for i in range(31)])


@pytest.mark.parametrize("value", ["bad\x00text", "lone \ud800 surrogate"])
def test_text_that_no_database_can_store_is_refused(value):
    assert "what_happened" in errors_of(what_happened=value)


def test_long_text_limit():
    assert "what_happened" in errors_of(what_happened="x" * 100_001)
    assert len(lesson(what_happened="x" * 100_000)["what_happened"]) == 100_000


@pytest.mark.parametrize("value", [0, -1, "abc", 2**31, True, 1.0])
def test_references_must_be_positive_ids(value):
    assert "project_id" in errors_of(project_id=value)


def test_partial_checks_only_what_is_given():
    assert clean(PROJECT_FIELDS, {"sponsor": "Ann"}, partial=True) == {"sponsor": "Ann"}


def test_input_must_be_a_mapping():
    with pytest.raises(ValidationError):
        clean(LESSON_FIELDS, ["title"])  # type: ignore[arg-type]
