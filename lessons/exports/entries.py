"""The archive's rows as entries: projects, lessons and kickoff decisions, read a chunk at a time.

An entry is one row as JSON holds it (times and dates as ISO text, money as
an exact decimal string), a lesson's tags, revisions, actions, occurrences
and reviews nested in it. Rows are read a chunk at a time as plain rows,
never as ORM objects, so an export of any size runs in bounded memory.
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, select
from sqlalchemy.orm import Session

from lessons.models import (
    Action,
    KickoffDecision,
    Lesson,
    LessonTag,
    Occurrence,
    Project,
    ProjectTag,
    Review,
    Revision,
)

CHUNK = 500  # rows read, or lessons restored and committed, at a time
PROJECTS = Project.__table__
LESSONS = Lesson.__table__
DECISIONS = KickoffDecision.__table__
# A lesson's children, nested in its entry under these keys (without their lesson_id).
CHILDREN: dict[str, Table] = {
    "revisions": Revision.__table__,
    "actions": Action.__table__,
    "occurrences": Occurrence.__table__,
    "reviews": Review.__table__,
}
OPTIONAL_CHILDREN = {"reviews"}  # archives made before review existed have none


def chunks(session: Session, table: Table,
           conditions: Sequence[ColumnElement[bool]] = ()) -> Iterator[Sequence[Row[Any]]]:
    """Rows of `table` matching `conditions`, CHUNK at a time in id order."""
    last = 0
    while rows := session.execute(select(table).where(table.c.id > last, *conditions)
                                  .order_by(table.c.id).limit(CHUNK)).all():
        yield rows
        last = rows[-1].id


def lesson_chunks(session: Session, conditions: Sequence[ColumnElement[bool]] = ()
                  ) -> Iterator[Sequence[Row[Any]]]:
    """Lesson rows matching `conditions`, CHUNK at a time in id order.

    Every export (the JSON archive and the CSV) reads its lessons here and
    nowhere else; the CSV passes the viewer's `lessons.policy.visible`, the
    archive (admins only) holds everything.
    """
    return chunks(session, LESSONS, conditions)


def project_entries(session: Session, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """Project rows as entries, with their tags."""
    tags = owned(session, ProjectTag.__table__, "project_id", [row.id for row in rows])
    return [{**entry(row), "tags": [tag.tag for tag in tags[row.id]]} for row in rows]


def lesson_entries(session: Session, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """Lesson rows as entries, with their tags, revisions, actions, occurrences and reviews."""
    ids = [row.id for row in rows]
    tags = lesson_tags(session, ids)
    children = {key: owned(session, table, "lesson_id", ids) for key, table in CHILDREN.items()}
    return [{**entry(row), "tags": tags[row.id],
             **{key: [entry(child, "lesson_id") for child in of[row.id]]
                for key, of in children.items()}}
            for row in rows]


def lesson_tags(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
    """The tags of these lessons, sorted, by lesson id."""
    rows = owned(session, LessonTag.__table__, "lesson_id", ids)
    return defaultdict(list, {key: [row.tag for row in found] for key, found in rows.items()})


def owned(session: Session, table: Any, owner: str,
          ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
    """The rows of `table` whose `owner` column is one of `ids`, by owner, in key order."""
    found: dict[int, list[Row[Any]]] = defaultdict(list)
    query = select(table).where(table.c[owner].in_(ids)).order_by(*table.primary_key.columns)
    for row in session.execute(query):
        found[row._mapping[owner]].append(row)
    return found


def entry(row: Row[Any], *leave_out: str) -> dict[str, Any]:
    """A row as JSON holds it."""
    return {key: plain(value) for key, value in row._mapping.items() if key not in leave_out}


def plain(value: Any) -> Any:
    """Dates and times as ISO text; money as a decimal string, which a float would round."""
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def missing_keys(section: str, item: Any) -> list[str]:
    """The keys an entry of `section` lacks (its children's too), for checking an archive.

    Columns that may be empty can be absent, and so can the children added
    later (OPTIONAL_CHILDREN): an archive made before they existed still
    loads, with the column empty or no such children.
    """
    if not isinstance(item, dict):
        return ["(not an object)"]
    table = {"projects": PROJECTS, "lessons": LESSONS, "decisions": DECISIONS}[section]
    missing = [key for key in required(table) | extra_keys(section) if key not in item]
    for key, child_table in CHILDREN.items() if section == "lessons" else ():
        for child in item.get(key) or []:
            missing += [f"{key}.{k}" for k in required(child_table) - {"lesson_id"}
                        if not isinstance(child, dict) or k not in child]
    return sorted(set(missing))


def required(table: Table) -> set[str]:
    """The columns an entry must have: those that may not be empty and have no default."""
    return {column.name for column in table.columns
            if not column.nullable and column.server_default is None}


def extra_keys(section: str) -> set[str]:
    """The keys an entry has besides its columns."""
    return {"projects": {"tags"}, "lessons": {"tags", *(set(CHILDREN) - OPTIONAL_CHILDREN)},
            "decisions": set()}[section]
