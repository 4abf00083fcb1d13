"""The fields of projects, lessons and actions: types, limits and allowed values.

One table per entity drives input validation (`lessons.validation`), the forms
and the OpenAPI document, so each rule is written once.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

KINDS = {"went_wrong": "Went wrong", "went_well": "Went well", "risk": "Risk"}
SEVERITIES = {"low": "Low", "medium": "Medium", "high": "High", "critical": "Critical"}
PHASES = {
    "initiation": "Initiation",
    "planning": "Planning",
    "execution": "Execution",
    "monitoring": "Monitoring & control",
    "closure": "Closure",
}
PROJECT_STATUSES = {
    "proposed": "Proposed",
    "active": "Active",
    "on_hold": "On hold",
    "completed": "Completed",
    "cancelled": "Cancelled",
}
ACTION_STATUSES = {"open": "Open", "done": "Done", "dropped": "Dropped"}
VISIBILITIES = {
    "organisation": "Everyone in the organisation",
    "business_unit": "The project's business unit",
    "project": "The project's team",
}
LESSON_STATUSES = {
    "draft": "Draft",
    "submitted": "Awaiting review",
    "returned": "Returned for changes",
    "approved": "Approved",
}
DECISIONS = {
    "applied": "Applied",
    "not_applicable": "Not applicable",
    "risk": "Raised as a risk",
}
DEFAULT_CATEGORIES = (
    "requirements",
    "scope",
    "schedule",
    "cost",
    "vendor & procurement",
    "resourcing",
    "communication",
    "stakeholders",
    "quality & testing",
    "technical",
    "risk",
    "governance",
    "change management",
)


def category_labels(names: Iterable[str]) -> dict[str, str]:
    """Each category name with the label people read for it."""
    return {name: name.capitalize() for name in names}


# The configured list (LESSONS_CATEGORIES) replaces these where it is passed in.
CATEGORY_CHOICES = category_labels(DEFAULT_CATEGORIES)

# Row ids are 32-bit integers on both databases; SQLite cannot even look up a larger one.
MAX_ID = 2**31 - 1
# Dates outside this range are typing mistakes, not history or plans.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2100, 12, 31)
LONG_TEXT = 100_000  # the longest NASA lesson field is about 31,000 characters
MAX_TAGS = 30
MAX_TAG_LENGTH = 50


@dataclass(frozen=True)
class Field:
    """One input field: its type, whether it is required, and its limits."""

    name: str
    label: str
    type: str  # string | text | date | integer | money | choice | tags | ref
    required: bool = False
    max_length: int | None = None
    choices: Mapping[str, str] | None = None
    maximum: int | None = None
    default: object = None
    help: str = ""


THEME_FIELDS = (Field("name", "Name", "string", max_length=200,
                      help="Empty: named by its most distinctive words."),)

PROJECT_FIELDS = (
    Field("name", "Name", "string", required=True, max_length=200),
    Field("description", "Description", "text", max_length=LONG_TEXT,
          help="The charter: goals, scope, vendors, technologies, constraints."),
    Field("sponsor", "Sponsor", "string", max_length=200),
    Field("business_unit", "Business unit", "string", max_length=200),
    Field("phase", "Phase", "choice", choices=PHASES, default="initiation"),
    Field("status", "Status", "choice", choices=PROJECT_STATUSES, default="active"),
    Field("start_date", "Start date", "date"),
    Field("end_date", "End date", "date"),
    Field("objectives", "Objectives", "text", max_length=LONG_TEXT),
    Field("vendors", "Vendors and suppliers", "text", max_length=10_000),
    Field("technologies", "Technologies", "text", max_length=10_000),
    Field("constraints", "Constraints", "text", max_length=LONG_TEXT,
          help="Deadlines, regulation, budget limits, dependencies."),
    Field("budget_range", "Budget range", "string", max_length=100),
    Field("team_size", "Team size", "integer", maximum=100_000),
    Field("tags", "Tags", "tags", help="Comma-separated."),
)

LESSON_FIELDS = (
    Field("title", "Title", "string", required=True, max_length=500),
    Field("project_id", "Project", "ref"),
    Field("what_happened", "What happened", "text", required=True, max_length=LONG_TEXT),
    Field("root_cause", "Root cause", "text", max_length=LONG_TEXT),
    Field("impact", "Impact", "text", max_length=LONG_TEXT),
    # Whole units: the column, Numeric(14, 2), holds 12 digits before the point, and any
    # amount up to this one still fits once rounded to cents.
    Field("impact_cost", "Cost impact", "money", maximum=10**12 - 1,
          help="Extra cost caused, in your currency."),
    Field("impact_days", "Schedule slip (days)", "integer", maximum=36_500),
    Field("recommendation", "Recommendation", "text", max_length=LONG_TEXT),
    Field("category", "Category", "choice", choices=CATEGORY_CHOICES),
    Field("phase", "Phase", "choice", choices=PHASES),
    Field("kind", "Kind", "choice", choices=KINDS, default="went_wrong"),
    Field("severity", "Severity", "choice", choices=SEVERITIES, default="medium"),
    Field("tags", "Tags", "tags", help="Comma-separated."),
    Field("author", "Author", "string", max_length=200),
    Field("occurred_on", "Date it happened", "date"),
    Field("external_id", "External id", "string", max_length=200,
          help="The id this lesson had in the system it came from."),
    Field("visibility", "Who may see it", "choice", choices=VISIBILITIES, default="organisation",
          help="Its author and the PMO always see it."),
)

# The free-text fields of a lesson, in form order: what search embeds and matches words in.
LESSON_TEXT_FIELDS = tuple(field.name for field in LESSON_FIELDS if field.type == "text")

ACTION_FIELDS = (
    Field("lesson_id", "Lesson", "ref", required=True),
    Field("title", "Title", "string", max_length=500,
          help="A short name; a kickoff risk's is its lesson's title unless the team chose one."),
    Field("description", "What", "text", required=True, max_length=10_000),
    Field("owner", "Owner", "string", max_length=200,
          help="The email of the active account that owns it (or a name only one account "
               "has); anything else is refused with 422. For someone without an account, "
               "leave it empty and give `outside_owner`."),
    Field("outside_owner", "Owner without an account", "string", max_length=200,
          help="Instead of `owner`: the name of someone who does not sign in to Lessons (a "
               "supplier's contact, say), kept as text and shown as “(no account)”; they get "
               "no reminders. Refused when it names an active account, or with a different "
               "`owner`."),
    Field("due_on", "Due date", "date"),
    Field("status", "Status", "choice", choices=ACTION_STATUSES, default="open"),
)

