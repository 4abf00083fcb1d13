"""List queries: filters, sorting and paging, parsed from URL arguments.

The web pages and the API read the same arguments, so every filter lives in
the URL and a link or a bookmark shows the same list again.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from lessons.fields import (
    ACTION_STATUSES,
    CATEGORY_CHOICES,
    KINDS,
    LESSON_STATUSES,
    MAX_TAG_LENGTH,
    PHASES,
    PROJECT_STATUSES,
    SEVERITIES,
    Field,
)
from lessons.validation import clean

T = TypeVar("T")

MAX_PER_PAGE = 200
# Every list shows live rows by default; `state` reaches the soft-deleted ones.
ROW_STATES = {"active": "Active", "deleted": "Deleted", "all": "All"}


def sort_choices(keys: Sequence[str]) -> dict[str, str]:
    """Each sort key ascending and, with a leading minus, descending."""
    return {prefix + key: key for key in keys for prefix in ("", "-")}


LESSON_SORTS = ("occurred_on", "created_at", "updated_at", "title", "severity",
                "impact_cost", "impact_days")
PROJECT_SORTS = ("name", "start_date", "created_at", "updated_at")
ACTION_SORTS = ("due_on", "created_at", "updated_at", "owner")

PAGING = (
    Field("page", "Page", "integer", default=1, maximum=10**9),
    Field("per_page", "Per page", "integer", default=25, maximum=MAX_PER_PAGE),
    Field("state", "State", "choice", choices=ROW_STATES, default="active"),
)

LESSON_FILTERS = PAGING + (
    Field("project_id", "Project", "ref"),
    Field("category", "Category", "choice", choices=CATEGORY_CHOICES),
    Field("kind", "Kind", "choice", choices=KINDS),
    Field("severity", "Severity", "choice", choices=SEVERITIES),
    Field("phase", "Phase", "choice", choices=PHASES),
    Field("status", "Review status", "choice", choices=LESSON_STATUSES),
    Field("tag", "Tag", "string", max_length=MAX_TAG_LENGTH),
    Field("occurred_from", "Happened from", "date"),
    Field("occurred_to", "Happened until", "date"),
    Field("sort", "Sort", "choice", choices=sort_choices(LESSON_SORTS), default="-occurred_on"),
)

PROJECT_FILTERS = PAGING + (
    Field("status", "Status", "choice", choices=PROJECT_STATUSES),
    Field("phase", "Phase", "choice", choices=PHASES),
    Field("business_unit", "Business unit", "string", max_length=200),
    Field("tag", "Tag", "string", max_length=MAX_TAG_LENGTH),
    Field("sort", "Sort", "choice", choices=sort_choices(PROJECT_SORTS), default="name"),
)

ACTION_FILTERS = PAGING + (
    Field("lesson_id", "Lesson", "ref"),
    Field("project_id", "Project", "ref",
          help="The project whose team raised them as kickoff risks."),
    Field("status", "Status", "choice", choices=ACTION_STATUSES),
    Field("owner", "Owner", "string", max_length=200),
    Field("overdue", "Overdue only", "choice", choices={"true": "Yes", "false": "No"}),
    Field("sort", "Sort", "choice", choices=sort_choices(ACTION_SORTS), default="due_on"),
)


def parse_query(
    filters: tuple[Field, ...],
    args: Mapping[str, Any],
    choices: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """The filters in `args`, cleaned; blank ones and arguments that are not filters are ignored."""
    known = {f.name for f in filters}
    given = {k: v for k, v in args.items() if k in known and str(v).strip()}
    query = clean(filters, given, choices=choices)
    query["page"] = max(query["page"], 1)
    query["per_page"] = max(query["per_page"], 1)
    return query


@dataclass
class Page(Generic[T]):
    """One page of a list, with what is needed to link to the others."""

    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return last_page(self.total, self.per_page)


def last_page(total: int, per_page: int) -> int:
    """The number of the last page of `total` rows (1 when there are none)."""
    return max(1, -(-total // per_page))
