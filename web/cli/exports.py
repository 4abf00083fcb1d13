"""Exporting the lessons: the whole lossless archive, or a spreadsheet."""

import os
from pathlib import Path

import click
from flask.cli import with_appcontext

from lessons.exports.archive import write_archive, write_lessons_csv
from lessons.queries import LESSON_FILTERS, parse_query
from lessons.services import audit
from web.cli.common import OPERATOR
from web.database import db


@click.command("export")
@click.option("--format", "file_format", type=click.Choice(["json", "csv"]), required=True,
              help="json: everything, deleted rows too, to load elsewhere with `lessons import`; "
                   "csv: the live lessons, for spreadsheets.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@with_appcontext
def export_command(file_format: str, output: Path, force: bool) -> None:
    """Export the lessons to OUTPUT: the whole lossless archive (json) or a spreadsheet (csv)."""
    if output.exists() and not force:
        raise click.ClickException(f"{output} exists already; choose another file or add --force.")
    output.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed at the end: an interrupted export leaves no half file.
    part = output.with_name(f".{output.name}.part")
    try:
        with open(part, "w", encoding="utf-8", newline="") as out:
            if file_format == "json":
                count = write_archive(db.session, out)
            else:
                count = write_lessons_csv(db.session, out, parse_query(LESSON_FILTERS, {}))
            out.flush()
            os.fsync(out.fileno())
        part.replace(output)
    finally:
        part.unlink(missing_ok=True)
    audit.record(db.session, OPERATOR, "export", str(output), format=file_format, lessons=count)
    db.session.commit()
    click.echo(f"Exported {count} lessons to {output}")
