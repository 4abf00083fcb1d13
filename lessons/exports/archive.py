"""Exports: the lossless JSON archive of everything, and the lessons as CSV.

The archive holds every project, lesson (with its tags, revisions, actions,
occurrences and reviews) and kickoff decision, deleted ones too, with their
ids and timestamps: loaded into an empty instance, it exports the same again.
Derived data (vectors, themes, briefings) and the search log are left out;
the new instance recomputes what it needs.

Both exports are written a chunk of lessons at a time, one entry or row per
line, so memory stays bounded however many lessons there are; the pieces
are generators, so the web streams them as they come.
"""

import io
import json
from collections.abc import Generator, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from lessons.db import head_revision
from lessons.errors import ValidationError
from lessons.exports.cells import CsvWriter
from lessons.exports.entries import (
    DECISIONS,
    PROJECTS,
    chunks,
    entry,
    lesson_chunks,
    lesson_entries,
    lesson_tags,
    missing_keys,
    project_entries,
)
from lessons.fields import LESSON_FIELDS
from lessons.imports.tables import load_json
from lessons.models import Project, iso, utcnow
from lessons.policy import Viewer, visible
from lessons.services.lessons import lesson_conditions

FORMAT = "lessons-archive"
VERSION = 1  # of the document's layout; the schema revision says which columns it has
SECTIONS = ("projects", "lessons", "decisions")
CSV_COLUMNS = ("id", *("project" if f.name == "project_id" else f.name for f in LESSON_FIELDS),
               "status", "created_at", "updated_at")
Pieces = Generator[str, None, int]  # text to write, then how many lessons it held


def write_archive(session: Session, out: TextIO) -> int:
    """Write the whole archive as JSON to `out`; how many lessons it holds."""
    return drain(archive_pieces(session), out)


def write_lessons_csv(session: Session, out: TextIO, query: Mapping[str, Any]) -> int:
    """Write the lessons matching the parsed list `query` as CSV to `out`; how many."""
    return drain(csv_pieces(session, query), out)


def archive_pieces(session: Session) -> Pieces:
    """The archive document, piece by piece: the header, then one entry per line."""
    header = {"format": FORMAT, "version": VERSION, "schema": head_revision(),
              "exported_at": utcnow().isoformat()}
    yield json.dumps(header)[:-1]  # the object stays open for the sections
    yield from json_list("projects", (e for rows in chunks(session, PROJECTS)
                                      for e in project_entries(session, rows)))
    lessons = yield from json_list("lessons", (e for rows in lesson_chunks(session)
                                               for e in lesson_entries(session, rows)))
    yield from json_list("decisions", (entry(row) for rows in chunks(session, DECISIONS)
                                       for row in rows))
    yield "}\n"
    return lessons


def json_list(key: str, entries: Iterable[dict[str, Any]]) -> Pieces:
    """`, "key": [` and the entries, one per line, then `]`; returns how many."""
    yield f',\n"{key}": ['
    count = 0
    for count, item in enumerate(entries, start=1):
        yield ("\n" if count == 1 else ",\n") + json.dumps(item, ensure_ascii=False)
    yield "\n]"
    return count


def csv_pieces(session: Session, query: Mapping[str, Any], viewer: Viewer | None = None) -> Pieces:
    """The CSV of what `viewer` may see (None: everything), a chunk of lessons at a time;
    every cell neutralised against formulas and quoted."""
    buffer = io.StringIO()
    writer = CsvWriter(buffer)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for rows in lesson_chunks(session, [*lesson_conditions(query), visible(viewer)]):
        tags = lesson_tags(session, [row.id for row in rows])
        names = dict(session.execute(select(Project.id, Project.name).where(
            Project.id.in_({row.project_id for row in rows}))).all())
        for row in rows:
            cells = {**row._mapping, "project": names.get(row.project_id),
                     "tags": ", ".join(tags[row.id]),
                     "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}
            writer.writerow(cells[column] for column in CSV_COLUMNS)
        count += len(rows)
        yield take(buffer)
    yield take(buffer)  # the header, when no lesson matched
    return count


def take(buffer: io.StringIO) -> str:
    """What `buffer` holds, emptying it."""
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def drain(pieces: Pieces, out: TextIO) -> int:
    """Write every piece to `out`; what the generator returns (its count of lessons)."""
    while True:
        try:
            out.write(next(pieces))
        except StopIteration as end:
            return end.value


def read_archive(path: Path) -> dict[str, Any] | None:
    """The archive in the JSON file at `path`, checked; None when the file holds other JSON."""
    return archive_in(load_json(path))


def archive_in(document: Any) -> dict[str, Any] | None:
    """`document`, checked, when it is an archive; None when it is other JSON."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None
    check_archive(document)
    return document


def check_archive(document: dict[str, Any]) -> None:
    """Refuse an archive this code cannot load whole: another layout, a newer schema, missing
    keys."""
    def refuse(key: str, problem: str, message: str) -> None:
        raise ValidationError({key: problem}, message)

    if document.get("version") != VERSION:
        refuse("version",
               f"Version {document.get('version')!r}; this Lessons reads version {VERSION}.",
               "This archive's layout is not one this version of Lessons reads.")
    schema = document.get("schema")
    if not isinstance(schema, str) or schema > head_revision():
        refuse("schema", f"Schema {schema!r}; this Lessons is at {head_revision()}.",
               "This archive comes from a newer version of Lessons; upgrade Lessons first.")
    for section in SECTIONS:
        if not isinstance(document.get(section), list):
            refuse(section, "Missing, or not a list.", f"This archive has no {section} list.")
        for position, item in enumerate(document[section], start=1):
            if missing := missing_keys(section, item):
                refuse(section, f"Entry {position} lacks {', '.join(missing)}.",
                       f"This archive is incomplete: {section} entry {position} "
                       f"lacks {', '.join(missing)}.")
