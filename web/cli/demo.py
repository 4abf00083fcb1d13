"""The demo data: projects, lessons and actions to try the app on, with their themes."""

import click
from flask.cli import AppGroup

from lessons.demo import load_demo
from web.cli.themes import recompute_themes
from web.database import db


@click.group("demo", cls=AppGroup)
def demo_group() -> None:
    """Demo data."""


@demo_group.command("load")
def demo_load_command() -> None:
    """Load the demo projects and lessons (projects already present are skipped), then
    embed them and compute the themes, so the PMO pages have something to show."""
    result = load_demo(db.session)
    db.session.commit()
    if result.projects == 0:
        click.echo("Demo data already loaded; nothing added.")
        return
    click.echo(f"Loaded {result.projects} projects, {result.lessons} lessons and "
               f"{result.actions} actions.")
    run = recompute_themes(None)
    click.echo(f"Grouped the lessons into {run.themes} themes.")
