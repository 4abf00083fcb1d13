"""The `lessons` command line: serve, migrate, load the demo, report status."""

from datetime import date
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, routes_command, shell_command, with_appcontext

from lessons import db as database
from lessons.demo import load_demo
from lessons.services.status import counts
from web import create_app
from web.database import db


@click.command("run")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
def run_command(host: str, port: int, threads: int) -> None:
    """Serve the app with waitress (a production WSGI server)."""
    import waitress

    current, head = database.schema_state(db.engine)
    if current != head:
        raise click.ClickException("The database is not up to date: run `lessons db upgrade`.")
    click.echo(f"Serving Lessons on http://{host}:{port} (Ctrl+C to stop)")
    waitress.serve(current_app._get_current_object(), host=host, port=port, threads=threads)


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


@click.group("demo", cls=AppGroup)
def demo_group() -> None:
    """Demo data."""


@demo_group.command("load")
def demo_load_command() -> None:
    """Load the demo projects and lessons (projects already present are skipped)."""
    result = load_demo(db.session)
    db.session.commit()
    if result.projects == 0:
        click.echo("Demo data already loaded; nothing added.")
    else:
        click.echo(f"Loaded {result.projects} projects, {result.lessons} lessons and "
                   f"{result.actions} actions.")


@click.command("status")
@with_appcontext
def status_command() -> None:
    """Counts, the database, the schema, the embedding model and the index."""
    app = current_app
    current, head = database.schema_state(db.engine)
    click.echo(f"database: {database.safe_url(app.config['DATABASE_URL'])}")
    click.echo(f"schema: {current or 'empty'} (newest: {head})")
    if current == head:
        for name, number in counts(db.session, date.today()).items():
            click.echo(f"{name}: {number}")
    click.echo(f"embedding model: {app.config['EMBEDDING_MODEL']}")
    snapshot = Path(app.instance_path) / "index"
    click.echo(f"index: {'snapshot in ' + str(snapshot) if snapshot.exists() else 'not built'}")


def init_app(app: Flask) -> None:
    """Register the commands on the app, so `app.test_cli_runner()` reaches them."""
    for command in (run_command, db_group, demo_group, status_command):
        app.cli.add_command(command)


cli = FlaskGroup(
    create_app=create_app,
    add_default_commands=False,
    help="Lessons: a lessons-learned knowledge base with semantic search.",
)
cli.add_command(shell_command)
cli.add_command(routes_command)


def main() -> None:
    """Entry point of the `lessons` command."""
    cli.main(prog_name="lessons")
