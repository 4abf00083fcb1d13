"""Restoring an archive: its projects, lessons and kickoff decisions added to this instance.

Restoring is a service like the others: it keeps the ids and timestamps (so
an archive loaded into an empty instance exports the same again), logs every
project, lesson and decision it adds to the change log (so the search index
picks the lessons up), and never overwrites: a row whose id is taken here is
skipped when it is the same and rejected when it differs.
"""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, DefaultClause, Numeric, Row, Table, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from lessons.errors import ValidationError
from lessons.exports.entries import (
    CHILDREN,
    CHUNK,
    DECISIONS,
    LESSONS,
    PROJECTS,
    entry,
    lesson_entries,
    project_entries,
)
from lessons.models import KickoffDecision, Lesson, LessonTag, Project, ProjectTag, UTCDateTime
from lessons.services.common import record_change

KINDS = ("project", "lesson", "decision")
# What a value that does not parse back raises.
INVALID = (KeyError, ValueError, TypeError, ArithmeticError)


@dataclass
class ArchiveReport:
    """What a load did: rows created and skipped (already here) by kind, and rows refused, with
    why."""

    created: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # ("lesson 12", reason)

    def summary(self) -> str:
        """One line for people: "Created 2 projects, 40 lessons, 1 decision; skipped …"."""
        def counts(counter: Counter[str]) -> str:
            return ", ".join(f"{counter[k]} {k}{'' if counter[k] == 1 else 's'}" for k in KINDS)

        return (f"Created {counts(self.created)}; skipped {counts(self.skipped)} already here; "
                f"rejected {len(self.rejected)}.")


def load_archive(
    session: Session,
    document: dict[str, Any],
    *,
    actor: str,
    on_progress: Callable[[int, int], None] | None = None,
) -> ArchiveReport:
    """Restore the rows of an archive (as `lessons.exports.archive.read_archive` returns it),
    keeping their ids and timestamps; commits every CHUNK lessons, each batch all or nothing.

    `actor` names who loads it, as for other imports; the rows keep their own
    authors and actors, so it is written nowhere.
    """
    report = ArchiveReport()
    batch(session, "Projects", lambda: load_projects(session, document["projects"], report))
    lessons = document["lessons"]
    for start in range(0, len(lessons), CHUNK):
        part = lessons[start:start + CHUNK]
        batch(session, f"Lessons {start + 1}–{start + len(part)} of the archive",
              lambda: load_lessons(session, part, report))  # noqa: B023  (batch() calls it at once)
        if on_progress:
            on_progress(start + len(part), len(lessons))
    batch(session, "Decisions", lambda: load_decisions(session, document["decisions"], report))
    return report


def batch(session: Session, what: str, load: Callable[[], None]) -> None:
    """Run `load` and commit it, or roll all of it back and say what could not be stored."""
    try:
        load()
        move_sequences(session)
        session.commit()
    except SQLAlchemyError as error:
        session.rollback()
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        raise ValidationError({"archive": reason},
                              f"{what} could not be stored, so none of them was: {reason}"
                              ) from error


def load_projects(session: Session, items: list[dict[str, Any]], report: ArchiveReport) -> None:
    """Insert the projects not here yet (by id); a name taken by another project here is refused."""
    for part in parts(items):
        here = {e["id"]: e for e in project_entries(session, by_id(session, PROJECTS, part))}
        lowered = func.lower(Project.name)
        names: dict[str, int] = dict(session.execute(select(lowered, Project.id).where(
            lowered.in_([item["name"].lower() for item in part]))).all())
        rows, tags = [], []
        for item in (complete(PROJECTS, item) for item in part):
            if not is_new(report, "project", item, here):
                continue
            holder = names.get(item["name"].lower(), item["id"])
            if holder != item["id"]:
                reject(report, "project", item, f"project {holder} here is named {item['name']!r}")
                continue
            if (row := parsed(report, "project", item,
                              lambda: values(PROJECTS, item))) is None:  # noqa: B023  (called at once)
                continue
            rows.append(row)
            tags += [{"project_id": item["id"], "tag": tag} for tag in item["tags"]]
            names[item["name"].lower()] = item["id"]
            created(session, report, "project", item)
        insert_rows(session, PROJECTS, rows)
        insert_rows(session, ProjectTag.__table__, tags)


def load_lessons(session: Session, items: list[dict[str, Any]], report: ArchiveReport) -> None:
    """Insert the lessons not here yet (by id), with their children, unless a reference is off."""
    items = [complete_lesson(item) for item in items]
    here = {e["id"]: e for e in lesson_entries(session, by_id(session, LESSONS, items))}
    holders = dict(session.execute(select(Lesson.external_id, Lesson.id).where(
        Lesson.external_id.in_([i["external_id"] for i in items if i["external_id"]]))).all())
    taken = {key: present(session, table, [c["id"] for item in items for c in item[key]])
             for key, table in CHILDREN.items()}
    projects = present(session, PROJECTS, [p for item in items for p in project_ids(item)])
    refused = {label for label, _ in report.rejected}
    rows: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        if not is_new(report, "lesson", item, here):
            continue
        if reason := lesson_problem(item, refused, projects, taken, holders):
            reject(report, "lesson", item, reason)
            continue
        if (lesson_rows := parsed(report, "lesson", item,
                                  lambda: lesson_insert_rows(item))) is None:  # noqa: B023  (called at once)
            continue
        for table, row in lesson_rows:
            rows[table].append(row)
        if item["external_id"]:
            holders[item["external_id"]] = item["id"]
        created(session, report, "lesson", item)
    for table in (LESSONS, LessonTag.__table__, *CHILDREN.values()):
        insert_rows(session, table, rows[table])


def lesson_problem(item: dict[str, Any], refused: set[str], projects: set[int],
                   taken: dict[str, set[int]], holders: dict[str | None, int]) -> str | None:
    """Why a lesson new here cannot be added as it is, if it cannot."""
    for project_id in project_ids(item):
        if reason := reference("project", project_id, refused, projects):
            return reason
    for key in CHILDREN:
        if clash := [str(child["id"]) for child in item[key] if child["id"] in taken[key]]:
            return f"its {key} {', '.join(clash)} belong to other lessons here"
    holder = holders.get(item["external_id"], item["id"])
    if holder != item["id"]:
        return f"lesson {holder} here has the external id {item['external_id']!r}"
    return None


def lesson_insert_rows(item: dict[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
    """(table, values) of a lesson entry's rows and its children's, parsed back from JSON text."""
    rows: list[tuple[Any, dict[str, Any]]] = [(LESSONS, values(LESSONS, item))]
    rows += [(LessonTag.__table__, {"lesson_id": item["id"], "tag": tag}) for tag in item["tags"]]
    rows += [(table, values(table, child, lesson_id=item["id"]))
             for key, table in CHILDREN.items() for child in item[key]]
    return rows


def load_decisions(session: Session, items: list[dict[str, Any]], report: ArchiveReport) -> None:
    """Insert the kickoff decisions not here yet (by id) whose project and lesson are here."""
    for part in parts(items):
        here = {row.id: entry(row) for row in by_id(session, DECISIONS, part)}
        pairs = {(project_id, lesson_id) for project_id, lesson_id in session.execute(
            select(KickoffDecision.project_id, KickoffDecision.lesson_id)
            .where(KickoffDecision.lesson_id.in_([item["lesson_id"] for item in part])))}
        projects = present(session, PROJECTS, [item["project_id"] for item in part])
        lessons = present(session, LESSONS, [item["lesson_id"] for item in part])
        refused = {label for label, _ in report.rejected}
        rows = []
        for item in (complete(DECISIONS, item) for item in part):
            if not is_new(report, "decision", item, here):
                continue
            pair = (item["project_id"], item["lesson_id"])
            reason = (reference("project", pair[0], refused, projects)
                      or reference("lesson", pair[1], refused, lessons)
                      or (pair in pairs
                          and f"project {pair[0]} has a decision on lesson {pair[1]} here"))
            if reason:
                reject(report, "decision", item, reason)
                continue
            if (row := parsed(report, "decision", item,
                              lambda: values(DECISIONS, item))) is None:  # noqa: B023  (called at once)
                continue
            rows.append(row)
            pairs.add(pair)
            created(session, report, "decision", item)
        insert_rows(session, DECISIONS, rows)


def is_new(report: ArchiveReport, kind: str, item: dict[str, Any], here: dict[int, Any]) -> bool:
    """Whether `item`'s id is free here; if not, it is skipped when identical, else rejected."""
    if item["id"] not in here:
        return True
    if here[item["id"]] == item:
        report.skipped[kind] += 1
    else:
        reject(report, kind, item, "exists here with different content")
    return False


def parsed(report: ArchiveReport, kind: str, item: dict[str, Any], parse: Callable[[], Any]) -> Any:
    """What `parse` makes of `item`'s JSON values, or None once `item` is rejected because
    one of them does not parse back."""
    try:
        return parse()
    except INVALID as error:
        reject(report, kind, item, f"is not valid: {error!r}")
        return None


def reject(report: ArchiveReport, kind: str, item: dict[str, Any], reason: str) -> None:
    """Note that `item` was refused, and why."""
    report.rejected.append((f"{kind} {item['id']}", reason))


def created(session: Session, report: ArchiveReport, kind: str, item: dict[str, Any]) -> None:
    """Count `item` as created and log it (and its deletion, if it was deleted)."""
    report.created[kind] += 1
    record_change(session, kind, item["id"], "create")
    if item.get("deleted_at"):  # decisions have none
        record_change(session, kind, item["id"], "delete")


def reference(kind: str, row_id: int | None, refused: set[str], here: set[int]) -> str | None:
    """Why a reference to `kind` `row_id` cannot be kept, if it cannot."""
    if row_id is None:
        return None
    if f"{kind} {row_id}" in refused:
        return f"its {kind} {row_id} was rejected"
    if row_id not in here:
        return f"its {kind} {row_id} is neither in the archive nor here"
    return None


def project_ids(item: dict[str, Any]) -> set[int]:
    """The projects a lesson entry refers to: its own and its occurrences'."""
    return {item["project_id"], *(o.get("project_id") for o in item["occurrences"])} - {None}


def complete(table: Table, item: dict[str, Any]) -> dict[str, Any]:
    """`item` with the columns it may lack (see `missing_keys`) set to None or their default."""
    return {**{c.name: None for c in table.columns if c.nullable},
            **{c.name: c.server_default.arg for c in table.columns
               if isinstance(c.server_default, DefaultClause)}, **item}


def complete_lesson(item: dict[str, Any]) -> dict[str, Any]:
    """A lesson entry completed like `complete`, its children too."""
    return complete(LESSONS, item) | {key: [complete(table, child) for child in item.get(key) or []]
                                      for key, table in CHILDREN.items()}


def values(table: Table, item: dict[str, Any], **fixed: Any) -> dict[str, Any]:
    """An entry's values for an INSERT into `table`, parsed back from JSON text."""
    return {column.name: parse(column.type, item[column.name])
            for column in table.columns if column.name not in fixed} | fixed


def parse(kind: Any, value: Any) -> Any:
    """A JSON value back as the column type `kind` stores it."""
    if value is None:
        return None
    if isinstance(kind, UTCDateTime):
        return datetime.fromisoformat(value)
    if isinstance(kind, Date):
        return date.fromisoformat(value)
    if isinstance(kind, Numeric):
        return Decimal(value)
    return value


def by_id(session: Session, table: Table,
          items: Iterable[dict[str, Any]]) -> Sequence[Row[Any]]:
    """The rows here with the ids of `items`."""
    return session.execute(select(table).where(table.c.id.in_([i["id"] for i in items]))).all()


def present(session: Session, table: Table, ids: Iterable[int]) -> set[int]:
    """Which of `ids` are rows of `table` here."""
    ids = list(set(ids))
    found: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        found.update(session.scalars(select(table.c.id).where(table.c.id.in_(chunk))))
    return found


def parts(items: list[Any]) -> Iterator[list[Any]]:
    """`items`, CHUNK at a time."""
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def insert_rows(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` into `table` in one statement (none for no rows)."""
    if rows:
        session.execute(insert(table), rows)


def move_sequences(session: Session) -> None:
    """On PostgreSQL, move each id sequence past the ids restored, so later inserts do not collide.

    Only ever forward, and only when it is behind: a value another writer has drawn stays unused.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in (PROJECTS, LESSONS, *CHILDREN.values(), DECISIONS):
        sequence = f"pg_get_serial_sequence('{table.name}', 'id')"
        session.execute(text(f"SELECT setval({sequence}, MAX(id)) FROM {table.name} "
                             f"HAVING MAX(id) > COALESCE(pg_sequence_last_value({sequence}), 0)"))
