"""Recurring themes: recompute them, recorded as a run as from the web, and list them."""

import click
from flask import current_app
from flask.cli import with_appcontext
from tqdm import tqdm

from insights.trends import Windows, theme_views, today
from lessons.errors import Conflict
from lessons.models import ThemeRun
from lessons.services.runs import begin_run
from search.theme_runs import run_recompute
from search.themes import K_MAX, K_MIN
from web.database import db
from web.engine import engine, feeds


@click.command("themes")
@click.option("--themes", "count", type=click.IntRange(K_MIN, K_MAX), default=None,
              help="How many themes (default: chosen from the number of lessons).")
@with_appcontext
def themes_command(count: int | None) -> None:
    """Recompute the recurring themes from every live lesson, keeping their ids."""
    recompute_themes(count)
    for view in theme_views(db.session, Windows(today())):
        click.echo(f"{view.theme.id:>5}  {len(view.lessons):>5} lessons  "
                   f"{len(view.projects):>3} projects  {view.theme.label}")


def recompute_themes(count: int | None) -> ThemeRun:
    """A theme recompute recorded as a run (one at a time, as from the web), with a tqdm bar."""
    try:
        run = begin_run(db.session, count, "cli")
    except Conflict as error:
        raise click.ClickException(error.message) from None
    with tqdm(unit="step") as bar:
        def on_progress(stage: str, done: int, total: int) -> None:
            bar.set_description(stage)
            bar.total, bar.n = total, done
            bar.refresh()

        run = run_recompute(current_app.extensions["lessons.db"][1], engine(), feeds(), run.id,
                            count, on_progress)
    if run.status != "done":
        raise click.ClickException(f"The recompute failed: {run.message}")
    return run
