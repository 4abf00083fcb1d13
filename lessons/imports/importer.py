"""Import a table of lessons: check every row first, then write in all-or-nothing batches.

The check pass reads the whole file and decides each row: create, skip
(already imported, or a repeat of an earlier row) or reject (with the reason
per field). A dry run stops there. A real import then writes the rows to
create, BATCH lessons per transaction: a batch commits whole or not at all,
so after an interruption or a database error the report names exactly the
rows taken, and running the same import again resumes, because rows already
taken are recognised by their external id, or by a hash of their content
when the file has no ids.
"""

import hashlib
import itertools
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import false, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from lessons.actor import Actor
from lessons.errors import ValidationError
from lessons.fields import DEFAULT_CATEGORIES, LESSON_FIELDS, MAX_TAG_LENGTH, MAX_TAGS
from lessons.imports.mappings import ColumnMap, allowed_values, allowed_word
from lessons.imports.tables import OVERFLOW, Table
from lessons.models import ImportRun, Lesson, Project
from lessons.services import audit, create_lesson, create_project
from lessons.services.lessons import category_choices
from lessons.validation import clean

log = logging.getLogger(__name__)

BATCH = 500  # lessons per transaction, and per embedding call
NAME_LENGTH = 200  # of a project or business unit name
MAX_WORDS = 50  # distinct words of one choice column offered for mapping
VALUE_SHOWN = 80  # characters of a refused value shown with the reason
IMPORT_LOCK = 0x4C4E_494D  # PostgreSQL advisory lock key held while a batch is written
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class ImportReport:
    """What an import did, or would do in a dry run, row by row."""

    dry_run: bool = False
    rows: int = 0  # filled rows read
    created: list[int] = field(default_factory=list)  # row numbers taken
    lesson_ids: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    adjusted: list[tuple[int, str]] = field(default_factory=list)
    new_projects: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the import ended early
    refused: dict[int, dict[str, str]] = field(default_factory=dict)  # a rejected row's values
    # Words in choice columns that are not allowed values, mapped or not:
    # target → casefolded word → [the first spelling seen, rows].
    words: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    def taken(self) -> str:
        """The rows taken, as ranges: "2-501, 503-900"."""
        return ranges(self.created)

    def summary(self) -> str:
        """One line for people."""
        verb = "Would create" if self.dry_run else "Created"
        text = (f"{verb} {plural(len(self.created), 'lesson')} and "
                f"{plural(len(self.new_projects), 'project')} from {plural(self.rows, 'row')}; "
                f"skipped {len(self.skipped)} already here; rejected {len(self.rejected)}.")
        return text + (f" Stopped: {self.stopped}" if self.stopped else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run, "rows": self.rows, "created": len(self.created),
            "rows_taken": self.taken(), "lesson_ids": self.lesson_ids,
            "skipped": [{"row": row, "reason": why} for row, why in self.skipped],
            "rejected": [{"row": row, "fields": fields, "values": self.refused.get(row, {})}
                         for row, fields in self.rejected],
            "adjusted": [{"row": row, "note": note} for row, note in self.adjusted],
            "new_projects": self.new_projects, "stopped": self.stopped,
            "words": {target: dict(found.values()) for target, found in self.words.items()},
        }

    def note_words(self, data: dict[str, Any], allowed: Mapping[str, Mapping[str, str]]) -> None:
        """Count the row's words in choice fields that are not allowed values as they stand."""
        for target, choices in allowed.items():
            value = data.get(target)
            if not isinstance(value, str) or not value.strip() or allowed_word(value, choices):
                continue
            found = self.words.setdefault(target, {})
            key = value.strip().casefold()
            if key in found:
                found[key][1] += 1
            elif len(found) < MAX_WORDS:  # past that it is free text, not a choice column
                found[key] = [value.strip(), 1]


@dataclass
class Planned:
    """A row ready to write: its lesson input, the same cleaned, its project, its identity."""

    number: int
    data: dict[str, Any]  # as the mapping read it: what `create_lesson` takes
    values: dict[str, Any]  # cleaned: what its content hash is made of
    project: str | None
    business_unit: str | None
    key: str  # external id, or a hash of the content


def check_import(session: Session, table: Table, mapping: ColumnMap, *,
                 categories: Sequence[str] = DEFAULT_CATEGORIES,
                 on_progress: Progress | None = None) -> ImportReport:
    """What importing `table` would do, row by row; writes nothing."""
    report = ImportReport(dry_run=True)
    projects = ProjectNames(session)
    for row in plan_rows(session, table, mapping, report, categories, on_progress):
        report.created.append(row.number)
        projects.note_new(row.project, report)
    return report


def run_import(session: Session, table: Table, mapping: ColumnMap, *, actor: Actor | str,
               categories: Sequence[str] = DEFAULT_CATEGORIES,
               on_progress: Progress | None = None,
               on_batch: Callable[[list[int]], None] | None = None,
               audited_as: tuple[Actor, str] | None = None) -> ImportReport:
    """Check the whole file, then create its new lessons, BATCH per transaction.

    `audited_as` (who, which file) audits the import in its first transaction (its first
    batch's, or the empty one that ends a file with nothing new), so an import stopped
    before it commits anything leaves no row; a web import has none here, being audited by
    the request that starts it (`lessons.services.runs.claim_import`).

    `on_batch` gets the ids of each committed batch (the CLI and the web embed
    them there). An interruption or a database error rolls the current batch
    back and ends the import; the report's `stopped` says why.
    """
    plan = check_import(session, table, mapping, categories=categories, on_progress=on_progress)
    if audited_as is not None:
        audit.record(session, audited_as[0], "import", audited_as[1], mapping=mapping.name)
    report = ImportReport()
    batch: list[tuple[int, int]] = []  # (row, lesson id) not committed yet
    projects = ProjectNames(session)
    try:
        for row in plan_rows(session, table, mapping, report, categories):
            if not batch:
                lock_imports(session)
            if taken := key_owner(session, row.key):  # by an import running beside this one
                report.skipped.append((row.number, already_here(row, *taken)))
                continue
            lesson = create_lesson(session, {**row.data, "project_id": projects.id_for(
                row.project, row.business_unit, report)}, actor=actor, categories=categories,
                status="approved", historical=True)  # past records, not drafts to review
            lesson.source_hash = content_hash(row)
            batch.append((row.number, lesson.id))
            if len(batch) == BATCH:
                commit(session, batch, report, on_batch)
                if on_progress:
                    on_progress("Importing", len(report.created), len(plan.created))
        commit(session, batch, report, on_batch)
    except (KeyboardInterrupt, Exception) as error:  # the report says what was taken
        if not isinstance(error, KeyboardInterrupt):
            log.exception("Import stopped")
        session.rollback()
        report.new_projects = [name for name in report.new_projects if projects.committed(name)]
        report.stopped = stop_reason(error, batch, report)
    return report


def commit(session: Session, batch: list[tuple[int, int]], report: ImportReport,
           on_batch: Callable[[list[int]], None] | None) -> None:
    """Commit a batch and count its rows as taken."""
    session.commit()
    report.created.extend(row for row, _ in batch)
    report.lesson_ids.extend(lesson_id for _, lesson_id in batch)
    ids = [lesson_id for _, lesson_id in batch]
    batch.clear()
    if on_batch and ids:
        on_batch(ids)


def lock_imports(session: Session) -> None:
    """Wait until no other import is writing a batch, and hold them off until this commits.

    The lock belongs to the transaction, so a killed import cannot leave it held.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(IMPORT_LOCK)))
    else:  # SQLite has one writer: a write, even of no row, holds the database until commit
        session.execute(update(ImportRun.__table__).where(false()).values(id=ImportRun.id))


def key_owner(session: Session, key: str) -> tuple[int, str | None] | None:
    """(lesson id, its content hash) of the lesson whose external id or content hash is `key`."""
    found = session.execute(select(Lesson.id, Lesson.source_hash).where(
        or_(Lesson.external_id == key, Lesson.source_hash == key)).limit(1)).first()
    return (found.id, found.source_hash) if found else None


def stop_reason(error: BaseException, batch: list[tuple[int, int]], report: ImportReport) -> str:
    """Why the import ended, and what to do about it."""
    what = "Interrupted" if isinstance(error, KeyboardInterrupt) else explain(error).rstrip(".")
    lost = f"rows {ranges([row for row, _ in batch])} were rolled back; " if batch else ""
    return (f"{what}; {lost}rows taken: {report.taken() or 'none'}. "
            "Run the same import again to take the rest.")


def explain(error: BaseException) -> str:
    """An error as people should read it: a driver's message (SQL, table names) is logged only."""
    if isinstance(error, SQLAlchemyError):
        return "A database error stopped the import (the server log has the details)"
    return getattr(error, "message", None) or str(error)


def plan_rows(session: Session, table: Table, mapping: ColumnMap, report: ImportReport,
              categories: Sequence[str], on_progress: Progress | None = None
              ) -> Iterator[Planned]:
    """Decide each row; yield the ones to create (recording the others in `report`)."""
    missing = mapping.missing(table.headers)
    if missing:
        raise ValidationError({"mapping": "Reads columns the file lacks."},
                              "The file has no column " + ", ".join(repr(c) for c in missing)
                              + f", which the {mapping.name} mapping reads.")
    if "what_happened" not in mapping.fields:
        raise ValidationError({"what_happened": "No column chosen."},
                              "Choose the column that says what happened: it is required.")
    known = known_keys(session)
    seen: dict[str, int] = {}
    for number, cells in table.rows():
        report.rows += 1
        if on_progress and report.rows % 1000 == 0:
            on_progress("Checking", report.rows, 0)
        row = plan_row(number, cells, mapping, categories, report)
        if row is None:
            continue
        if row.key in known:
            report.skipped.append((number, already_here(row, *known[row.key])))
        elif row.key in seen:
            report.skipped.append((number, f"repeats row {seen[row.key]}"))
        else:
            seen[row.key] = number
            yield row


def plan_row(number: int, cells: dict[str, Any], mapping: ColumnMap,
             categories: Sequence[str], report: ImportReport) -> Planned | None:
    """The row's clean values, or None with the reasons recorded as a rejection."""
    if OVERFLOW in cells:
        report.rejected.append((number, {"row": (
            f"Has {len(cells) - 1 + len(cells[OVERFLOW])} cells but the header has "
            f"{len(cells) - 1}: a quote or a delimiter is probably out of place.")}))
        return None
    read = mapping.read_row(cells)
    report.note_words(read, allowed_values(categories))
    data = mapping.finish(read)
    project, business_unit = data.pop("project", None), data.pop("business_unit", None)
    fit_tags(number, data, report)
    errors = {}
    project = fit_name(number, "project", project, report)
    business_unit = fit_name(number, "business unit", business_unit, report)
    try:
        values = clean(LESSON_FIELDS, data, choices=category_choices(categories))
    except ValidationError as error:
        errors.update(error.fields)
    if errors:
        report.rejected.append((number, errors))
        report.refused[number] = {name: shown(data[name])
                                  for name in errors if data.get(name) not in (None, "")}
        return None
    row = Planned(number, data, values, project, business_unit, "")
    row.key = values["external_id"] or content_hash(row)
    return row


def fit_tags(number: int, data: dict[str, Any], report: ImportReport) -> None:
    """Cut tags to the allowed length and count, noting it, rather than refuse the row."""
    if not isinstance(data.get("tags"), str):
        return
    tags = [" ".join(tag.split()) for tag in data["tags"].split(",") if tag.strip()]
    long = sum(len(tag) > MAX_TAG_LENGTH for tag in tags)
    if long:
        report.adjusted.append((number, f"{long} tags longer than {MAX_TAG_LENGTH} "
                                        "characters shortened"))
    if len(tags) > MAX_TAGS:
        report.adjusted.append((number, f"only the first {MAX_TAGS} of {len(tags)} tags kept"))
    data["tags"] = list(dict.fromkeys(shorten(tag, MAX_TAG_LENGTH) for tag in tags))[:MAX_TAGS]


def fit_name(number: int, what: str, name: str | None, report: ImportReport) -> str | None:
    """A project or business unit name cut to the 200 characters a name may have, noted."""
    if name is None or len(name) <= NAME_LENGTH:
        return name
    report.adjusted.append((number, f"{what} name shortened to {NAME_LENGTH} characters"))
    return shorten(name, NAME_LENGTH)


def shorten(text: str, limit: int) -> str:
    """`text` cut at the last space within `limit` characters."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[:cut if cut > limit // 2 else limit].rstrip(" ,;&-")


def shown(value: Any) -> str:
    """A refused value as the reason quotes it: one line, cut short."""
    text = " ".join(str(value).split())
    return text if len(text) <= VALUE_SHOWN else shorten(text, VALUE_SHOWN) + "…"


def content_hash(row: Planned) -> str:
    """A row's identity when the file gives none: its cleaned content and project."""
    content = {**row.values, "project": row.project}
    text = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def known_keys(session: Session) -> dict[str, tuple[int, str | None]]:
    """External ids and content hashes of the lessons here: (lesson id, its content hash)."""
    keys: dict[str, tuple[int, str | None]] = {}
    rows = session.execute(select(Lesson.id, Lesson.external_id, Lesson.source_hash)
                           .execution_options(yield_per=10_000))
    for lesson_id, external_id, source_hash in rows:
        for key in (external_id, source_hash):
            if key:
                keys[key] = (lesson_id, source_hash)
    return keys


def already_here(row: Planned, lesson_id: int, source_hash: str | None) -> str:
    """Why a row whose identity is known is skipped; a differing one is said to differ,
    since an id reused by another system looks the same as a re-import."""
    if source_hash is None or source_hash == content_hash(row):
        return f"already imported as lesson {lesson_id}"
    return (f"its external id {row.key!r} is already lesson {lesson_id}, whose content "
            "differs; left unchanged")


class ProjectNames:
    """Projects by name, case-insensitively: found, or created on first sight."""

    def __init__(self, session: Session):
        self.session = session
        self.ids: dict[str, int | None] = {}

    def lookup(self, name: str) -> int | None:
        key = name.casefold()
        if key not in self.ids:
            self.ids[key] = self.session.scalar(
                select(Project.id).where(func.lower(Project.name) == name.lower()))
        return self.ids[key]

    def note_new(self, name: str | None, report: ImportReport) -> None:
        """Count a project the import would create."""
        if name and self.lookup(name) is None and name not in report.new_projects:
            if name.casefold() not in {n.casefold() for n in report.new_projects}:
                report.new_projects.append(name)

    def id_for(self, name: str | None, business_unit: str | None,
               report: ImportReport) -> int | None:
        """The project's id, creating it (completed: imports are history) when new."""
        if not name:
            return None
        project_id = self.lookup(name)
        if project_id is None:
            project = create_project(self.session, {"name": name, "business_unit": business_unit,
                                                    "status": "completed", "phase": "closure"})
            project_id = self.ids[name.casefold()] = project.id
            report.new_projects.append(name)
        return project_id

    def committed(self, name: str) -> bool:
        """Whether a project this import created survived a rollback."""
        self.ids.pop(name.casefold(), None)
        return self.lookup(name) is not None


def ranges(numbers: list[int]) -> str:
    """Row numbers as ranges: [2, 3, 4, 7] → "2-4, 7"."""
    runs = [[number for _, number in run] for _, run in
            itertools.groupby(enumerate(sorted(numbers)), lambda pair: pair[1] - pair[0])]
    return ", ".join(f"{run[0]}" if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)

def plural(count: int, word: str) -> str:
    """"1 lesson", "2 lessons"."""
    return f"{count} {word}{'' if count == 1 else 's'}"
