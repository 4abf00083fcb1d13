"""The answers the API puts together itself, each function beside the schema of what it returns.

Rows that describe themselves (`as_dict()` on a model, a hit or a theme view)
have their schemas with the routes that return them. These schemas forbid
unknown properties wherever the API tests validate responses against them, so
a field added here and not to its schema fails a test.
"""

from collections.abc import Callable, Sequence
from typing import Any

from insights.trends import ThemeView, Windows
from lessons.fields import DECISIONS
from lessons.history import Entry
from lessons.models import Action, Briefing, KickoffDecision, Lesson, Project, Theme
from lessons.queries import Page
from search.briefing import Row, shown_aspects
from search.retrieve import Results
from web.api.schema import ref


def page_json(page: Page[Any], show: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """One page of a list, each row as `show` gives it."""
    return {
        "items": [show(row) for row in page.items],
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
        "pages": page.pages,
    }


def page_schema(item: dict[str, Any]) -> dict[str, Any]:
    """The schema of `page_json` whose rows are `item`."""
    return {
        "type": "object",
        "required": ["items", "total", "page", "per_page", "pages"],
        "properties": {
            "items": {"type": "array", "items": item},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "pages": {"type": "integer"},
        },
    }


def listing(items: Sequence[Any]) -> dict[str, Any]:
    """A whole list (never paged) and how long it is."""
    return {"items": list(items), "total": len(items)}


def listing_schema(item: dict[str, Any]) -> dict[str, Any]:
    """The schema of `listing` whose items are `item`."""
    return {"type": "object", "required": ["items", "total"], "properties": {
        "items": {"type": "array", "items": item},
        "total": {"type": "integer"},
    }}


def revision_json(entry: Entry) -> dict[str, Any]:
    """One revision of a lesson and the names of the fields it changed."""
    return {
        "number": entry.revision.number,
        "actor": entry.revision.actor,
        "created_at": entry.revision.created_at.isoformat(),
        "content": entry.revision.content,
        "changed_fields": [change.field for change in entry.changes],
    }


REVISION = {
    "type": "object",
    "required": ["number", "actor", "created_at", "content", "changed_fields"],
    "additionalProperties": False,
    "properties": {
        "number": {"type": "integer"},
        "actor": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "content": {"type": "object"},
        "changed_fields": {"type": "array", "items": {"type": "string"}},
    },
}


def hits_json(results: Results) -> dict[str, Any]:
    """Ranked lessons, each with why it matched (its schema: SearchHit)."""
    return listing([hit.as_dict() for hit in results.hits])


HITS = listing_schema(ref("SearchHit"))


def search_json(results: Results) -> dict[str, Any]:
    """A search's hits, how many candidates were ranked, what it looked for by meaning, and
    the counts of each facet."""
    return {
        **hits_json(results),
        "candidates": results.candidates,
        "searched_for": results.meant,
        "facets": {name: [{"value": value, "count": count} for value, count in counts]
                   for name, counts in results.facets.items()},
    }


SEARCH_RESULTS = {**HITS, "properties": {
    **HITS["properties"], "candidates": {"type": "integer"}, "facets": {"type": "object"},
    "searched_for": {"type": "string", "description": "The query as searched for by meaning: "
                     "its acronyms spelled out as the lessons define them, \"LOTO (lock out "
                     "tag out)\", or as typed."},
}}


def decision_json(decision: KickoffDecision, action: Action | None) -> dict[str, Any]:
    """A decision just recorded, with the project's action on its lesson (if any)."""
    return {**decision.as_dict(), "action": action.as_dict() if action else None}


DECISION = {
    "type": "object",
    "required": ["project_id", "lesson_id", "decision", "note", "actor", "decided_at"],
    "properties": {
        "project_id": {"type": "integer"}, "lesson_id": {"type": "integer"},
        "decision": {"enum": list(DECISIONS)},
        "note": {"type": ["string", "null"]}, "actor": {"type": "string"},
        "decided_at": {"type": "string", "format": "date-time"},
        "action": {"anyOf": [ref("Action"), {"type": "null"}],
                   "description": "After a decision: the project's action on the lesson, which "
                                  "a risk opens and a later decision leaves as it is."},
    },
    "additionalProperties": False,
}


def briefing_json(project: Project, current: Briefing | None, rows: Sequence[Row],
                  fresh: Sequence[tuple[Lesson, float | None, str]]) -> dict[str, Any]:
    """A project's kickoff briefing (none yet: `current` is None), and lessons new since."""
    return {
        "project_id": project.id,
        "generated_at": current.generated_at.isoformat() if current else None,
        "aspects": shown_aspects(current) if current else [],
        "items": [briefing_item_json(row) for row in rows],
        "new_since_kickoff": [
            {"id": lesson.id, "external_id": lesson.external_id, "title": lesson.title,
             "similarity": None if similarity is None else round(similarity, 4),
             "aspect": label}
            for lesson, similarity, label in fresh
        ],
    }


BRIEFING = {
    "type": "object",
    "required": ["project_id", "generated_at", "aspects", "items", "new_since_kickoff"],
    "properties": {
        "project_id": {"type": "integer"},
        "generated_at": {"type": ["string", "null"], "format": "date-time"},
        "aspects": {"type": "array", "items": {"type": "object"},
                    "description": "The parts of the charter it was computed from, each a "
                                   "label and a text; the text is blank for a caller who may not "
                                   "read the charter (some of the project's lessons are for its "
                                   "team only)."},
        "items": {"type": "array", "items": ref("BriefingItem")},
        "new_since_kickoff": {"type": "array", "items": {"type": "object"},
                              "description": "Lessons logged since, each with the part of the "
                                             "charter it matches and how closely (similarity "
                                             "is null for a caller who may not read the "
                                             "charter)."},
    },
}


def briefing_item_json(row: Row) -> dict[str, Any]:
    """One lesson of a briefing: why it was surfaced, the team's decision on it, and the
    risk (the project's action) it raised."""
    return {
        "id": row.lesson.id,
        "external_id": row.lesson.external_id,
        "title": row.lesson.title,
        "rank": row.rank,
        "score": None if row.score is None else round(row.score, 6),
        "aspect": row.aspects[0] if row.aspects else None,
        "kept": row.kept,
        "aspects": row.aspects,
        "aspect_text": row.aspect_text,
        "terms": row.terms,
        "category": row.lesson.category,
        "recommendation": row.lesson.recommendation,
        "projects_hit": row.projects_hit,
        "decision": row.decision.as_dict() if row.decision else None,
        "risk_action": row.risk_action.as_dict() if row.risk_action else None,
    }


BRIEFING_ITEM = {
    "type": "object",
    "required": ["id", "external_id", "title", "rank", "score", "aspect", "decision"],
    "properties": {
        "id": {"type": "integer"}, "external_id": {"type": ["string", "null"]},
        "title": {"type": "string"},
        "rank": {"type": "integer", "description": "Among the lessons the caller may see."},
        "score": {"type": ["number", "null"],
                  "description": "Null for a caller who does not see every lesson (anyone but "
                                 "the PMO and admins): it is computed over all of them."},
        "aspect": {"type": ["string", "null"],
                   "description": "The part of the description it matched best (null if kept)."},
        "kept": {"type": "boolean", "description": "No longer ranked for the description; kept "
                                                   "because the team decided on it."},
        "aspects": {"type": "array", "items": {"type": "string"}},
        "aspect_text": {"type": "string", "description": "The charter text it matched best; "
                                                       "blank for a caller who may not read the "
                                                       "charter."},
        "terms": {"type": "array", "items": {"type": "string"},
                  "description": "The words it shares with that text; empty when it is blank."},
        "category": {"type": ["string", "null"]}, "recommendation": {"type": ["string", "null"]},
        "projects_hit": {"type": "integer"},
        "decision": {"anyOf": [ref("Decision"), {"type": "null"}]},
        "risk_action": {"anyOf": [ref("Action"), {"type": "null"}],
                        "description": "The risk the team raised on it: the project's action on "
                                       "the lesson (title, owner, due_on, status), which a later "
                                       "decision leaves as it is; null if none."},
    },
    "additionalProperties": False,
}

WINDOW_LIST = {"type": "array", "items": {
    "type": "object", "required": ["start", "end"],
    "properties": {"start": {"type": "string", "format": "date"},
                   "end": {"type": "string", "format": "date"}}}}


def themes_json(views: Sequence[ThemeView], windows: Windows) -> dict[str, Any]:
    """Every theme (its schema: Theme) and the windows its counts are per."""
    return {**listing([view.as_dict() for view in views]), "windows": windows.as_list()}


THEMES = {"type": "object", "required": ["items", "total", "windows"], "properties": {
    **listing_schema(ref("Theme"))["properties"], "windows": WINDOW_LIST,
}}


def trends_json(windows: Windows, views: Sequence[ThemeView], rising: Sequence[ThemeView],
                falling: Sequence[ThemeView]) -> dict[str, Any]:
    """Lessons per theme per window, and the ids of the themes rising and falling."""
    return {
        "window_days": windows.days, "windows": windows.as_list(),
        "items": [{"id": v.theme.id, "label": v.theme.label, "counts": v.counts,
                   "change": v.change} for v in views],
        "rising": [view.theme.id for view in rising],
        "falling": [view.theme.id for view in falling],
    }


TRENDS = {
    "type": "object",
    "required": ["window_days", "windows", "items", "rising", "falling"],
    "properties": {
        "window_days": {"type": "integer"}, "windows": WINDOW_LIST,
        "items": {"type": "array", "items": {
            "type": "object", "required": ["id", "label", "counts", "change"]}},
        "rising": {"type": "array", "items": {"type": "integer"}},
        "falling": {"type": "array", "items": {"type": "integer"}},
    },
}


def theme_name_json(theme: Theme) -> dict[str, Any]:
    """A theme's name, and the label and words it is known by."""
    return {"id": theme.id, "name": theme.name, "label": theme.label,
            "keywords": theme.keywords, "works": theme.works}


THEME_NAME = {
    "type": "object", "required": ["id", "name", "label", "keywords", "works"],
    "properties": {"id": {"type": "integer"}, "name": {"type": ["string", "null"]},
                   "label": {"type": "string"},
                   "keywords": {"type": "array", "items": {"type": "string"}},
                   "works": {"type": "boolean",
                             "description": "A theme of lessons that went well."}},
    "additionalProperties": False,
}
