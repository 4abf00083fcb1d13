"""Importing lessons from a CSV, Excel or JSON file, or restoring a whole export."""

import json
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from tqdm import tqdm

from lessons.errors import ValidationError
from lessons.exports.archive import archive_in
from lessons.exports.restore import load_archive
from lessons.imports.importer import ImportReport, check_import, run_import
from lessons.imports.mappings import guess, load_mapping, ready_mappings
from lessons.imports.tables import FORMATS, guess_format, json_table, load_json, open_table
from lessons.services import audit
from web.cli.common import OPERATOR, problem, progress_bar
from web.database import db
from web.engine import engine

FORMAT_NAMES = sorted(set(FORMATS.values()))


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mapping", default=None, metavar="NAME|FILE",
              help="A ready mapping (" + ", ".join(ready_mappings()) + ") or a mapping file; "
                   "default: guessed from the headers.")
@click.option("--format", "file_format", type=click.Choice(FORMAT_NAMES), default=None,
              help="The file's format (default: from its name).")
@click.option("--encoding", default=None, help="A CSV's text encoding (default: UTF-8).")
@click.option("--sheet", default=None, help="The Excel sheet to read (default: the first).")
@click.option("--dry-run", is_flag=True, help="Report what would be created and every row "
                                              "that would be rejected; write nothing.")
@click.option("--show-mapping", is_flag=True,
              help="Print the mapping as JSON (to save and edit as a mapping file) and stop.")
@with_appcontext
def import_command(file: Path, mapping: str | None, file_format: str | None,
                   encoding: str | None, sheet: str | None, dry_run: bool,
                   show_mapping: bool) -> None:
    """Import lessons from a CSV, Excel or JSON FILE; rows already imported are skipped.

    A JSON file written by `lessons export --format json` is restored whole,
    with its ids, revisions, actions and decisions.
    """
    try:
        if (file_format or guess_format(file)) == "json":  # read once: an archive, or records
            document = load_json(file)
            if archive := archive_in(document):
                return import_archive(archive, dry_run, file)
            table = json_table(document)
        else:
            table = open_table(file, file_format, encoding, sheet)
        columns = (load_mapping(mapping) if mapping else
                   guess(table.headers, table.sample(), current_app.config["CATEGORIES"]))
    except ValidationError as error:
        raise click.ClickException(problem(error)) from None
    if show_mapping:
        click.echo(json.dumps(columns.as_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(f"Mapping ({columns.name}): " + "; ".join(
        f"{target} <- {source}" for target, source in columns.fields.items()))
    categories = current_app.config["CATEGORIES"]
    search = engine()
    with tqdm(unit="row", desc="Checking") as bar:
        def on_progress(stage: str, done: int, total: int) -> None:
            bar.set_description(stage)
            bar.total, bar.n = total or None, done
            bar.refresh()

        try:
            if dry_run:
                report = check_import(db.session, table, columns, categories=categories,
                                      on_progress=on_progress)
            else:
                report = run_import(db.session, table, columns, actor="import",
                                    audited_as=(OPERATOR, str(file)),
                                    categories=categories, on_progress=on_progress,
                                    on_batch=search.embed_leading)
        except ValidationError as error:
            raise click.ClickException(problem(error)) from None
    print_report(report)
    if not dry_run:
        # Also what a killed run committed but never embedded: a rerun leaves nothing to embed.
        with progress_bar("Embedding") as on_embed:
            missing = search.embed_missing(on_progress=on_embed)
        if report.created or missing:
            with progress_bar("Indexing") as on_index:
                search.ready(on_progress=on_index)
            click.echo("Searchable now; encoding the rest of each lesson (Ctrl+C leaves it "
                       "to `lessons worker`).")
            with progress_bar("Encoding") as on_encode:
                search.complete(on_progress=on_encode)
    if report.stopped:
        raise click.exceptions.Exit(1)


def import_archive(archive: dict[str, Any], dry_run: bool, file: Path) -> None:
    """Restore an export of Lessons, then bring the search index up to date."""
    if dry_run:
        raise click.ClickException("--dry-run is for tables; an export is restored whole.")
    # Pending until the first batch commits: audited with it, or not at all.
    audit.record(db.session, OPERATOR, "import", str(file), archive=True)
    with progress_bar("Restoring") as on_progress:
        report = load_archive(db.session, archive, actor="import", on_progress=on_progress)
    click.echo(report.summary())
    for what, why in report.rejected:
        click.echo(f"  {what}: {why}")
    with progress_bar("Indexing") as on_progress:
        engine().ready(on_progress=on_progress)


def print_report(report: ImportReport) -> None:
    """The import's outcome, with every rejected row and why."""
    click.echo(report.summary())
    if report.created and not report.dry_run:
        click.echo(f"Rows taken: {report.taken()}")
    for row, fields in report.rejected:
        click.echo(f"  row {row} rejected: " + " ".join(f"{k}: {v}" for k, v in fields.items()))
    for row, note in report.adjusted:
        click.echo(f"  row {row}: {note}")
    if report.skipped:
        click.echo(f"  {len(report.skipped)} rows skipped, e.g. row {report.skipped[0][0]}: "
                   f"{report.skipped[0][1]}")
