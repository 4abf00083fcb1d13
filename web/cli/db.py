"""The database: upgrade its schema, back it up, restore a backup."""

from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from lessons import db as database
from lessons.backup import BackupError, backup, is_sqlite, restore
from web.cli.common import progress_bar
from web.database import db
from web.engine import engine


@click.group("db", cls=AppGroup)
def db_group() -> None:
    """Database schema commands."""


@db_group.command("upgrade")
def upgrade_command() -> None:
    """Apply every migration not yet applied."""
    database.upgrade(db.engine)
    current, _ = database.schema_state(db.engine)
    click.echo(f"Database {database.safe_url(current_app.config['DATABASE_URL'])} "
               f"is at revision {current}.")


@click.command("backup")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write it (default: <instance>/backups/lessons-<time>.<ext>).")
@with_appcontext
def backup_command(output: Path | None) -> None:
    """Back the database up while the app keeps running (SQLite's backup API, or pg_dump)."""
    url = current_app.config["DATABASE_URL"]
    if output is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        suffix = "db" if is_sqlite(url) else "dump"
        output = Path(current_app.instance_path) / "backups" / f"lessons-{stamp}.{suffix}"
    try:
        backup(url, output)
    except BackupError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Backed up {database.safe_url(url)} to {output}")


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def restore_command(source: Path, yes: bool) -> None:
    """Replace the whole database by a backup, then rebuild the search index.

    Stop the app first: a running process would keep serving its old index.
    """
    url = current_app.config["DATABASE_URL"]
    if not yes:
        click.confirm(f"Replace everything in {database.safe_url(url)} by {source}?",
                      abort=True)
    db.session.close()
    try:
        restore(url, source, db.engine)
    except BackupError as error:
        raise click.ClickException(error.message) from None
    search = engine()
    with progress_bar("Embedding") as on_progress:
        search.rebuild(on_progress)
    click.echo(f"Restored {source}; index rebuilt: {search.status()}")
