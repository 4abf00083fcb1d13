"""Importing a file from the browser: upload it, check the mapping on a preview, import it.

The preview is the CLI's dry run: the mapped first rows, what would be
created, and every row that would be rejected with the reason (in the form's
words, linked to the control that fixes it). Words of choice columns that are
not allowed values are offered for mapping to allowed ones, kept as the
mapping's `values`. Nothing is written until the user starts the import, which runs in the
background with a polled progress bar and can be resumed if its process stops.
"""

import secrets
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, request, url_for

from lessons.errors import ValidationError
from lessons.fields import LESSON_FIELDS
from lessons.imports.importer import MAX_WORDS, check_import
from lessons.imports.mappings import (
    TARGETS,
    ColumnMap,
    allowed_values,
    guess,
    parse_mapping,
    ready_mappings,
)
from lessons.imports.reasons import Reason, reasons
from lessons.imports.tables import Table, guess_format, open_table
from lessons.models import ImportRun
from lessons.services.common import find_row
from lessons.services.runs import (
    change_import_mapping,
    create_import,
    expire_if_stale,
    recent_imports,
)
from web import real_app
from web.database import db
from web.htmx import is_htmx, redirect_after_post, render
from web.identity import current_actor
from web.jobs import import_file, start_import
from web.security import accepts_upload
from web.views.forms import categories

bp = Blueprint("imports", __name__, url_prefix="/import")

ENCODINGS = {"": "UTF-8 (or UTF-16 with its mark)", "cp1252": "Windows-1252 (Excel on Windows)",
             "latin-1": "Latin-1 (ISO 8859-1)", "utf-16": "UTF-16"}
TARGET_LABELS = {**{f.name: f.label for f in LESSON_FIELDS},
                 "project": "Project (by name; created if new)",
                 "business_unit": "Business unit (of a new project)"}
PREVIEW_ROWS = 10
SHOWN_REJECTIONS = 200  # rejected rows listed on a page; the CLI's dry run lists them all
KEEP = "\x00keep"  # the form's value for "keep the mapping's own rule" (a template or a list)


@bp.get("")
def new() -> Response:
    """The upload form, with the latest imports."""
    return upload_page({})


@bp.post("")
@accepts_upload
def upload() -> Response:
    """Keep the uploaded file, read its headers and open its preview; nothing is imported yet."""
    upload = request.files.get("file")
    encoding = request.form.get("encoding") or None
    sheet = (request.form.get("sheet") or "").strip() or None
    if upload is None or not upload.filename:
        return upload_page({"file": "Choose a file."}, status=422)
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(exist_ok=True)
    try:
        if (encoding or "") not in ENCODINGS:
            raise ValidationError({"encoding": "Not an encoding offered."})
        file_format = guess_format(Path(upload.filename))
        stored = folder / f"{secrets.token_hex(16)}{Path(upload.filename).suffix.lower()}"
        upload.save(stored)
        try:
            table = open_table(stored, file_format, encoding, sheet)
            mapping = chosen_mapping(request.form.get("mapping", ""), table)
        except BaseException:
            stored.unlink(missing_ok=True)  # whatever went wrong, a file not taken is not kept
            raise
    except ValidationError as error:
        return upload_page(error.fields or {"file": error.message}, status=422)
    run = create_import(db.session, file_name=upload.filename[:500], stored_name=stored.name,
                        file_format=file_format, encoding=table.encoding, sheet=sheet,
                        mapping=mapping.as_dict(), actor=current_actor().name)
    db.session.commit()
    return redirect_after_post(url_for("imports.show", run_id=run.id))


def chosen_mapping(name: str, table: Table) -> ColumnMap:
    """A ready mapping by name, or one guessed from the file."""
    if not name:
        return guess(table.headers, table.sample(), categories())
    ready = ready_mappings()
    if name not in ready:
        raise ValidationError({"mapping": "Not a mapping offered."})
    return ready[name]


def upload_page(errors: dict[str, str], status: int = 200) -> Response:
    return render("imports/new.html", status=status, errors=errors,
                  runs=recent_imports(db.session), mappings=ready_mappings(), encodings=ENCODINGS,
                  limit_mb=current_app.config["IMPORT_MAX_LENGTH"] // 2**20)


@bp.get("/<int:run_id>")
def show(run_id: int) -> Response:
    """Before the import: the preview. During: the progress bar. After: the report."""
    run = get_run(run_id)
    if run.status != "preview":
        return render("imports/show.html", run=run, rejections=rejections(
            run.report or {}, parse_mapping(run.mapping, "chosen")))
    return render("imports/show.html", run=run, **preview(run))


def preview(run: ImportRun) -> dict[str, Any]:
    """The mapping, the first rows as lessons, and the dry run's report (or why it failed)."""
    mapping = parse_mapping(run.mapping, run.mapping.get("name", "chosen"))
    context: dict[str, Any] = {"mapping": mapping, "targets": TARGET_LABELS, "keep": KEEP,
                               "headers": [], "rows": [], "report": None, "problem": None,
                               "words": [], "rejections": [], "controls": True,
                               "max_words": MAX_WORDS}
    try:
        table = open_table(import_file(current_app, run), run.file_format, run.encoding,
                           run.sheet)
        context["headers"] = table.headers
        context["rows"] = [mapping.apply(cells) for cells in table.sample(PREVIEW_ROWS)]
        report = check_import(db.session, table, mapping, categories=categories()).as_dict()
        context["report"] = report
        context["words"] = words_to_map(report, mapping)
        context["rejections"] = rejections(report, mapping)
    except ValidationError as error:
        context["problem"] = error.message
    except FileNotFoundError:
        context["problem"] = "The uploaded file is gone; upload it again."
    return context


def words_to_map(report: dict[str, Any], mapping: ColumnMap) -> list[dict[str, Any]]:
    """Per choice field, the file's words that are not allowed values, each with its rows
    and the value the mapping now gives it ("" when its rows are rejected)."""
    allowed = allowed_values(categories())
    return [{"target": target, "label": TARGET_LABELS[target], "choices": allowed[target],
             "words": [(word, rows, mapping.translate(target, word) or "")
                       for word, rows in found.items()]}
            for target, found in report.get("words", {}).items()]


def rejections(report: dict[str, Any], mapping: ColumnMap) -> list[tuple[int, list[Reason]]]:
    """The first rejected rows of a report, with their reasons in the form's words."""
    return [(item["row"], reasons(item, mapping, categories()))
            for item in report.get("rejected", [])[:SHOWN_REJECTIONS]]


@bp.post("/<int:run_id>/mapping")
def change_mapping(run_id: int) -> Response:
    """Take the columns, date format and values chosen on the preview, and show it again."""
    run = get_run(run_id, status="preview")
    fields = dict(run.mapping.get("fields", {}))
    for target in TARGETS:
        chosen = request.form.get(target, KEEP)
        if chosen == "":
            fields.pop(target, None)
        elif chosen != KEEP:
            fields[target] = chosen
    date_format = (request.form.get("date_format") or "").strip() or None
    try:
        values = chosen_values(run.mapping.get("values", {}))
        mapping = parse_mapping({**run.mapping, "fields": fields, "date_format": date_format,
                                 "values": values}, run.mapping.get("name", "chosen"))
    except ValidationError as error:
        return render("imports/show.html", status=422, run=run, mapping_errors=error.fields,
                      **preview(run))
    mapping.name = "chosen"
    change_import_mapping(db.session, run, mapping)
    db.session.commit()
    return redirect_after_post(url_for("imports.show", run_id=run.id))


def chosen_values(current: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The mapping's `values` with the words chosen on the page: each `word-<field>` goes to
    the `to-<field>` beside it, or is dropped ("" rejects its rows); other words stay."""
    values = {target: dict(words) for target, words in current.items()}
    for target, choices in allowed_values(categories()).items():
        # Pairs up to the shorter list: a form that sends fewer of one is not an error.
        for word, to in zip(request.form.getlist(f"word-{target}"),
                            request.form.getlist(f"to-{target}"), strict=False):
            if to and to not in choices:
                raise ValidationError({f"values.{target}": "Not an allowed value."})
            key = word.strip().casefold()
            words = values.get(target, {})
            if to and any(k.strip().casefold() == key and v == to for k, v in words.items()):
                continue  # as mapped already: the mapping's own spelling stays
            words = {k: v for k, v in words.items() if k.strip().casefold() != key}
            values[target] = {**words, word: to} if to else words
    return {target: words for target, words in values.items() if words}


@bp.post("/<int:run_id>/start")
def start(run_id: int) -> Response:
    """Start the import (or resume a stopped one) in the background."""
    run = get_run(run_id)
    start_import(real_app(), db.session, run, current_actor())
    return redirect_after_post(url_for("imports.show", run_id=run.id))


@bp.get("/<int:run_id>/progress")
def progress(run_id: int) -> Response:
    """The progress bar (htmx polls it); a finished import reloads the page for its report."""
    run = get_run(run_id)
    response = render("imports/_run.html", run=run)
    if is_htmx() and run.status != "running":
        response.headers["HX-Refresh"] = "true"
    return response


def get_run(run_id: int, status: str | None = None) -> ImportRun:
    """The run, its state brought up to date, or 404 (409 when not in `status`)."""
    run = find_row(db.session, ImportRun, run_id)
    if run is None:
        abort(404)
    expire_if_stale(db.session, run)
    if status and run.status != status:
        abort(409, f"Import {run.id} is {run.status}; its mapping can no longer change.")
    return run
